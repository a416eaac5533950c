// The owner's account keys in the browser (docs/format.md, "Accounts"): the password's kek and
// login key, the recovery key's, the master key (MK) sealed under each, the recovery key and the
// identity sealed under MK, the identity's two key pairs and their fingerprint, the owner's copies
// of album keys and link secrets, and the 24 recovery words; and sharing (docs/format.md, "Sharing"):
// a member's sealed album key, the album key chain, invitations, contacts and the owner's link wrap keys.
//
// The JavaScript twin of viewer/crypto.py's account functions, tested against the same
// "account" vectors in docs/vectors.json (tests/test_browser_crypto.py). Bytes in, bytes out,
// like crypto.js: no DOM, no fetch, no storage, so the owner's pages and Workers share it.
// Every primitive is crypto.js's (libsodium); the recovery words are @scure/bip39's
// entropyToMnemonic and mnemonicToEntropy with its English list, the same list and checksum as
// the reference implementation that the Python side uses (BIP-0039). Its mnemonicToSeed (PBKDF2)
// is not used: the words *are* the recovery key.
//
// accountKeys, newAccount and changePassword run Argon2id (64 MiB by default): one long
// synchronous call, for a Worker. Await crypto.js's ready() once before calling anything here.
// kek, MK, the recovery key and the identity stay in memory (docs/format.md, "What the server
// stores"): nothing here keeps them.
//
// Errors, as crypto.js: FormatError for input that is not well-formed (RecoveryWordsError, one
// of them, for words that are not a recovery key, written for the person who typed them),
// DecryptionError for a wrong password, wrong words, or a value that was moved or changed, and
// WeakPasswordParams for account parameters below the floor.
//
// @scure/bip39 is imported by its served URL, as crypto.js imports libsodium: Workers have no
// import map, and the server rewrites its bare imports of @noble/hashes (viewer/server/assets.py).
import { entropyToMnemonic, mnemonicToEntropy } from "../../../vendor/@scure/bip39/index.js";
import { wordlist } from "../../../vendor/@scure/bip39/wordlists/english.js";
import {
  MAX_EPOCH,
  albumKeys,
  boxSeal,
  boxSealOpen,
  boxSeedKeypair,
  hash32,
  kdf,
  openAlbumKeyChain,
  openSealed,
  paddedJson,
  parsePaddedJson,
  passwordFactor,
  seal,
  sealAlbumKeyChain,
  signSeedKeypair,
} from "./crypto.js";
import {
  DecryptionError,
  FormatError,
  ID_BYTES,
  KEY_BYTES,
  WeakPasswordParams,
  ascii,
  b64d,
  b64e,
  bytes,
  checkPasswordFloor,
  concat,
  idBytes,
  isId,
  newId,
  newPasswordParams,
  randomKey,
  sized,
} from "./format.js";

// The album key chain is the album's format (crypto.js), which the viewer's Worker uses too; it is
// re-exported here with the rest of the sharing values.
export { MAX_EPOCH, albumKeys, openAlbumKeyChain, sealAlbumKeyChain };

// Subkeys of the password's root, of the recovery key and of the identity (docs/format.md,
// "Derivations"): ids 1 and 2 of each 8-byte context.
const KDF_CONTEXT_ACCOUNT = "fragacct";
const KDF_CONTEXT_RECOVERY = "fragrcvr";
const KDF_CONTEXT_IDENTITY = "fragidty";
const SUBKEY_KEK = 1;
const SUBKEY_LOGIN = 2;
const SUBKEY_BOX = 1;
const SUBKEY_SIGN = 2;

// Each label ends with 0x00, so no label followed by an id reads as another label; the label
// binds a value to its role and the id to its account, album or link (docs/format.md, "Sealed
// account values").
const AD_MASTER_KEY = ascii("fragment/v1/master-key\0");
const AD_MASTER_KEY_RECOVERY = ascii("fragment/v1/master-key-recovery\0");
const AD_RECOVERY_KEY = ascii("fragment/v1/recovery-key\0");
const AD_IDENTITY = ascii("fragment/v1/identity\0");
const AD_OWNER_ALBUM_KEY = ascii("fragment/v1/owner-album-key\0");
const AD_OWNER_LINK_SECRET = ascii("fragment/v1/owner-link-secret\0");
const AD_OWNER_LINK_LABEL = ascii("fragment/v1/owner-link-label\0");
export const MAX_LINK_LABEL = 200; // characters, as crypto.py

// Sharing (docs/format.md, "Sharing"): new labels and one new KDF context inside v1.
const MEMBER_ALBUM_KEY_LABEL = ascii("fragment/v1/member-album-key\0"); // inside the sealed box, not AD
const AD_INVITE_ALBUM_KEY = ascii("fragment/v1/invite-album-key\0");
const AD_CONTACTS = ascii("fragment/v1/contacts\0");
const AD_FAVORITES = ascii("fragment/v1/favorites\0");
const AD_OWNER_LINK_WRAP_KEY = ascii("fragment/v1/owner-link-wrap-key\0");
const KDF_CONTEXT_INVITE = "fraginvt";
const SUBKEY_INVITE = 1;
const SUBKEY_CLAIM = 2;
const BOX_SEAL_BYTES = 48; // crypto_box_SEALBYTES: the ephemeral public key (32) and the MAC (16)
/** A member's sealed album key: 48 + 29 + 16 + 32 = 125 bytes. */
export const MEMBER_KEY_BYTES = BOX_SEAL_BYTES + MEMBER_ALBUM_KEY_LABEL.length + ID_BYTES + KEY_BYTES;
const OWNER_INVITE_SECRET_LABEL = ascii("fragment/v1/owner-invite-secret\0"); // inside the sealed box, not AD
export const OWNER_INVITE_SECRET_BYTES = BOX_SEAL_BYTES + OWNER_INVITE_SECRET_LABEL.length + ID_BYTES + KEY_BYTES;

// BIP39: 256 bits of entropy and 8 checksum bits, 24 words of 11 bits.
export const RECOVERY_WORD_COUNT = 24;
// 12 groups of 5 digits, as Signal's safety numbers ("Safety number updates").
const FINGERPRINT_GROUPS = 12;
const FINGERPRINT_GROUP_DIGITS = 5;

const WEAK_ACCOUNT_MESSAGE =
  "This account's password settings are weaker than Fragment allows, so the password could be guessed offline. " +
  "Your password was not used.";

/** Words that are not a recovery key; the message is meant for the person who typed them. */
export class RecoveryWordsError extends FormatError {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "RecoveryWordsError";
  }
}

/**
 * The API's shape of Argon2id parameters (docs/format.md, "Password factor").
 * @typedef {{alg: string, salt: string, opslimit: number, memlimit: number}} PasswordParamsJson
 */

/**
 * Of the password: kek seals MK and never leaves the client; loginKey is sent at sign-in and
 * the server keeps only a hash of it. Of the recovery key: rk_kek and recovery_login_key.
 * @typedef {{kek: Uint8Array, loginKey: Uint8Array}} AccountKeys
 */

/**
 * The two key pairs of one identity seed: X25519 (sharing) and Ed25519 (comments); the secret
 * keys are libsodium's (the Ed25519 one is 64 bytes, seed ‖ public key).
 * @typedef {{seed: Uint8Array, boxPublicKey: Uint8Array, boxSecretKey: Uint8Array,
 *   signPublicKey: Uint8Array, signSecretKey: Uint8Array, fingerprint: string}} Identity
 */

// --- parameters and derivations (docs/format.md, "Derivations") ------------------

/**
 * The account's parameters if they are at least the Argon2id floor, as PasswordParams.from_json:
 * call it on what the server sent before asking for the password. WeakPasswordParams below the
 * floor (a server that offers a cheap hash would get a login key that is cheap to guess
 * offline: docs/format.md, "Argon2id floor"), FormatError if they are not parameters at all.
 * @param {unknown} params
 * @returns {{salt: Uint8Array, opslimit: number, memlimit: number}}
 */
export function checkAccountParams(params) {
  try {
    return checkPasswordFloor(params);
  } catch (error) {
    if (error instanceof WeakPasswordParams) throw new WeakPasswordParams(WEAK_ACCOUNT_MESSAGE);
    throw error;
  }
}

function subkeys(root, context) {
  return { kek: kdf(root, SUBKEY_KEK, context), loginKey: kdf(root, SUBKEY_LOGIN, context) };
}

/**
 * kek and loginKey of a password: subkeys 1 and 2 ("fragacct") of root = Argon2id(NFC(password),
 * salt, cost), computed as crypto.js's passwordFactor. No floor here, so that the test vectors
 * stay cheap: parameters from the server go through checkAccountParams first.
 * @param {string} password
 * @param {PasswordParamsJson} params
 * @returns {AccountKeys}
 */
export function accountKeys(password, params) {
  const root = passwordFactor(password, params);
  const keys = subkeys(root, KDF_CONTEXT_ACCOUNT);
  root.fill(0);
  return keys;
}

/**
 * rk_kek and recovery_login_key of the recovery key, as {kek, loginKey}: subkeys 1 and 2
 * ("fragrcvr"). The key is 256 random bits, so no Argon2id.
 * @param {Uint8Array} recoveryKey
 * @returns {AccountKeys}
 */
export function recoveryKeys(recoveryKey) {
  return subkeys(sized(recoveryKey, KEY_BYTES, "recovery key"), KDF_CONTEXT_RECOVERY);
}

/**
 * The identity's key pairs: crypto_box_seed_keypair of subkey 1 ("fragidty") and
 * crypto_sign_seed_keypair of subkey 2, with their fingerprint.
 * @param {Uint8Array} seed  the 32-byte identity seed
 * @returns {Identity}
 */
export function identityKeypairs(seed) {
  sized(seed, KEY_BYTES, "identity seed");
  const boxSeed = kdf(seed, SUBKEY_BOX, KDF_CONTEXT_IDENTITY);
  const signSeed = kdf(seed, SUBKEY_SIGN, KDF_CONTEXT_IDENTITY);
  const box = boxSeedKeypair(boxSeed);
  const sign = signSeedKeypair(signSeed);
  boxSeed.fill(0);
  signSeed.fill(0);
  return {
    seed,
    boxPublicKey: box.publicKey,
    boxSecretKey: box.privateKey,
    signPublicKey: sign.publicKey,
    signSecretKey: sign.privateKey,
    fingerprint: fingerprint(box.publicKey, sign.publicKey),
  };
}

/**
 * The identity if its public keys are the ones the server publishes for the account; FormatError
 * otherwise. Clients check this after opening sealed_identity: a server that swapped the public
 * keys would otherwise receive what others seal to them (docs/format.md, "What the server stores").
 * @param {Identity} identity  from identityKeypairs
 * @param {Uint8Array} boxPublicKey  as the server sent it
 * @param {Uint8Array} signPublicKey  as the server sent it
 * @returns {Identity}
 */
export function checkIdentity(identity, boxPublicKey, signPublicKey) {
  // Public keys: an ordinary comparison leaks nothing secret.
  const same = (a, b) => sized(b, KEY_BYTES, "public key").every((byte, i) => byte === a[i]);
  if (!same(identity.boxPublicKey, boxPublicKey) || !same(identity.signPublicKey, signPublicKey)) {
    throw new FormatError("the server's public keys for this account are not the account's own");
  }
  return identity;
}

/**
 * H32(box_pk ‖ sign_pk): both keys are 32 bytes, so the concatenation is unambiguous.
 * @param {Uint8Array} boxPublicKey
 * @param {Uint8Array} signPublicKey
 * @returns {Uint8Array}
 */
export function fingerprintHash(boxPublicKey, signPublicKey) {
  sized(boxPublicKey, KEY_BYTES, "X25519 public key");
  sized(signPublicKey, KEY_BYTES, "Ed25519 public key");
  return hash32(concat(boxPublicKey, signPublicKey));
}

/**
 * What two people compare to know they hold the same public keys: the hash as a big-endian
 * integer mod 10^60 (a bias of about 10^-17), 60 digits with leading zeros, in 12 groups of 5
 * separated by single spaces (docs/format.md, "Derivations", "Fingerprint").
 * @param {Uint8Array} boxPublicKey
 * @param {Uint8Array} signPublicKey
 * @returns {string}
 */
export function fingerprint(boxPublicKey, signPublicKey) {
  const hash = fingerprintHash(boxPublicKey, signPublicKey);
  const number = BigInt("0x" + Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join(""));
  const digits = FINGERPRINT_GROUPS * FINGERPRINT_GROUP_DIGITS;
  const text = (number % 10n ** BigInt(digits)).toString().padStart(digits, "0");
  const groups = [];
  for (let at = 0; at < digits; at += FINGERPRINT_GROUP_DIGITS) groups.push(text.slice(at, at + FINGERPRINT_GROUP_DIGITS));
  return groups.join(" ");
}

// --- sealed account values (docs/format.md, "Sealed account values") --------------

const adOf = (prefix, id, what) => concat(prefix, idBytes(id, what));

// Every sealed account value is a 32-byte key, so 72 bytes, like a wrapped album key.
function sealKey(key, value, ad, nonce) {
  return seal(key, sized(value, KEY_BYTES, "the sealed value"), ad, nonce);
}

function openKey(key, sealed, ad) {
  const value = openSealed(key, sealed, ad);
  // Only a key holder could have sealed it, but say so plainly.
  if (value.length !== KEY_BYTES) throw new FormatError("the sealed value is not a 32-byte key");
  return value;
}

/**
 * sealed_mk: MK under the password's kek, bound to the account.
 * @param {Uint8Array} kek
 * @param {Uint8Array} masterKey
 * @param {string} accountId
 * @param {Uint8Array | null} [nonce]  for the test vectors only
 * @returns {Uint8Array}
 */
export function sealMasterKey(kek, masterKey, accountId, nonce) {
  return sealKey(kek, masterKey, adOf(AD_MASTER_KEY, accountId, "account id"), nonce);
}

/**
 * MK from sealed_mk; DecryptionError for a wrong password (or another account's copy).
 * @param {Uint8Array} kek
 * @param {Uint8Array} sealed
 * @param {string} accountId
 * @returns {Uint8Array}
 */
export function openMasterKey(kek, sealed, accountId) {
  return openKey(kek, sealed, adOf(AD_MASTER_KEY, accountId, "account id"));
}

/**
 * sealed_mk_rk: MK under the recovery key's rk_kek.
 * @param {Uint8Array} rkKek
 * @param {Uint8Array} masterKey
 * @param {string} accountId
 * @param {Uint8Array | null} [nonce]
 * @returns {Uint8Array}
 */
export function sealMasterKeyRecovery(rkKek, masterKey, accountId, nonce) {
  return sealKey(rkKek, masterKey, adOf(AD_MASTER_KEY_RECOVERY, accountId, "account id"), nonce);
}

/**
 * MK from sealed_mk_rk; DecryptionError for a wrong recovery key.
 * @param {Uint8Array} rkKek
 * @param {Uint8Array} sealed
 * @param {string} accountId
 * @returns {Uint8Array}
 */
export function openMasterKeyRecovery(rkKek, sealed, accountId) {
  return openKey(rkKek, sealed, adOf(AD_MASTER_KEY_RECOVERY, accountId, "account id"));
}

/**
 * sealed_rk: the recovery key under MK, so the account page can show the words again after
 * the password is typed again.
 * @param {Uint8Array} masterKey
 * @param {Uint8Array} recoveryKey
 * @param {string} accountId
 * @param {Uint8Array | null} [nonce]
 * @returns {Uint8Array}
 */
export function sealRecoveryKey(masterKey, recoveryKey, accountId, nonce) {
  return sealKey(masterKey, recoveryKey, adOf(AD_RECOVERY_KEY, accountId, "account id"), nonce);
}

/**
 * The recovery key from sealed_rk.
 * @param {Uint8Array} masterKey
 * @param {Uint8Array} sealed
 * @param {string} accountId
 * @returns {Uint8Array}
 */
export function openRecoveryKey(masterKey, sealed, accountId) {
  return openKey(masterKey, sealed, adOf(AD_RECOVERY_KEY, accountId, "account id"));
}

/**
 * sealed_identity: the identity seed (both secret keys) under MK.
 * @param {Uint8Array} masterKey
 * @param {Uint8Array} seed
 * @param {string} accountId
 * @param {Uint8Array | null} [nonce]
 * @returns {Uint8Array}
 */
export function sealIdentity(masterKey, seed, accountId, nonce) {
  return sealKey(masterKey, seed, adOf(AD_IDENTITY, accountId, "account id"), nonce);
}

/**
 * The identity seed from sealed_identity (then identityKeypairs and checkIdentity).
 * @param {Uint8Array} masterKey
 * @param {Uint8Array} sealed
 * @param {string} accountId
 * @returns {Uint8Array}
 */
export function openIdentity(masterKey, sealed, accountId) {
  return openKey(masterKey, sealed, adOf(AD_IDENTITY, accountId, "account id"));
}

/**
 * The owner's copy of an album key on the server, under MK and bound to the album.
 * @param {Uint8Array} masterKey
 * @param {Uint8Array} albumKey
 * @param {string} albumId
 * @param {Uint8Array | null} [nonce]
 * @returns {Uint8Array}
 */
export function sealOwnerAlbumKey(masterKey, albumKey, albumId, nonce) {
  return sealKey(masterKey, albumKey, adOf(AD_OWNER_ALBUM_KEY, albumId, "album id"), nonce);
}

/**
 * The album key from the owner's copy.
 * @param {Uint8Array} masterKey
 * @param {Uint8Array} sealed
 * @param {string} albumId
 * @returns {Uint8Array}
 */
export function openOwnerAlbumKey(masterKey, sealed, albumId) {
  return openKey(masterKey, sealed, adOf(AD_OWNER_ALBUM_KEY, albumId, "album id"));
}

/**
 * The owner's copy of a link secret on the server, under MK and bound to the link.
 * @param {Uint8Array} masterKey
 * @param {Uint8Array} linkSecret
 * @param {string} linkId
 * @param {Uint8Array | null} [nonce]
 * @returns {Uint8Array}
 */
export function sealOwnerLinkSecret(masterKey, linkSecret, linkId, nonce) {
  return sealKey(masterKey, linkSecret, adOf(AD_OWNER_LINK_SECRET, linkId, "link id"), nonce);
}

/**
 * A link secret from the owner's copy.
 * @param {Uint8Array} masterKey
 * @param {Uint8Array} sealed
 * @param {string} linkId
 * @returns {Uint8Array}
 */
export function openOwnerLinkSecret(masterKey, sealed, linkId) {
  return openKey(masterKey, sealed, adOf(AD_OWNER_LINK_SECRET, linkId, "link id"));
}

/**
 * The owner's label for a link ("Family"), NFC, under MK and bound to the link.
 * @param {Uint8Array} masterKey
 * @param {string} label
 * @param {string} linkId
 * @param {Uint8Array | null} [nonce]
 * @returns {Uint8Array}
 */
export function sealOwnerLinkLabel(masterKey, label, linkId, nonce) {
  const text = String(label).normalize("NFC");
  if (!text.length || [...text].length > MAX_LINK_LABEL) {
    throw new FormatError(`a link label is 1 to ${MAX_LINK_LABEL} characters`);
  }
  return seal(masterKey, new TextEncoder().encode(text), adOf(AD_OWNER_LINK_LABEL, linkId, "link id"), nonce);
}

/**
 * The owner's label of a link.
 * @param {Uint8Array} masterKey
 * @param {Uint8Array} sealed
 * @param {string} linkId
 * @returns {string}
 */
export function openOwnerLinkLabel(masterKey, sealed, linkId) {
  const plain = openSealed(masterKey, sealed, adOf(AD_OWNER_LINK_LABEL, linkId, "link id"));
  return new TextDecoder("utf-8", { fatal: true }).decode(plain);
}

// --- sharing (docs/format.md, "Sharing") ------------------------------------------

/**
 * AK for one member: crypto_box_seal of "fragment/v1/member-album-key" 0x00 ‖ album_id ‖ AK to the
 * member's box_pk, MEMBER_KEY_BYTES (125) bytes. A sealed box has no associated data, so the label
 * and the album id are inside it, and openMemberAlbumKey checks them. Check boxPk against the
 * contact remembered for that person first (contactStatus): a sealed box to a public key the server
 * chose would give the server AK. FormatError for a key that is not a usable X25519 public key.
 * @param {Uint8Array} albumKey
 * @param {string} albumId
 * @param {Uint8Array} boxPk
 * @returns {Uint8Array}
 */
export function sealMemberAlbumKey(albumKey, albumId, boxPk) {
  const plaintext = concat(MEMBER_ALBUM_KEY_LABEL, idBytes(albumId, "album id"), sized(albumKey, KEY_BYTES, "album key"));
  return boxSeal(plaintext, boxPk);
}

/**
 * AK from a member's sealed copy; DecryptionError if it does not open with this key pair or is
 * for another album or another role (anyone can seal to a public key: the label and id bind it).
 * @param {Uint8Array} sealed
 * @param {string} albumId
 * @param {Uint8Array} boxPk  the member's own X25519 public key
 * @param {Uint8Array} boxSk  the member's X25519 secret key (identityKeypairs(...).boxSecretKey)
 * @returns {Uint8Array}
 */
export function openMemberAlbumKey(sealed, albumId, boxPk, boxSk) {
  const expected = concat(MEMBER_ALBUM_KEY_LABEL, idBytes(albumId, "album id"));
  sized(boxPk, KEY_BYTES, "X25519 public key");
  sized(boxSk, KEY_BYTES, "X25519 secret key");
  if (bytes(sealed, "sealed album key").length !== MEMBER_KEY_BYTES) throw new DecryptionError();
  const plaintext = boxSealOpen(sealed, boxPk, boxSk);
  let differ = plaintext.length ^ (MEMBER_KEY_BYTES - BOX_SEAL_BYTES);
  for (let i = 0; i < expected.length; i++) differ |= plaintext[i] ^ expected[i];
  if (differ) throw new DecryptionError();
  return plaintext.slice(expected.length);
}

/**
 * An invitation's secret for the album's owner: crypto_box_seal of "fragment/v1/owner-invite-secret"
 * 0x00 ‖ invite_id ‖ secret to the owner's box_pk (OWNER_INVITE_SECRET_BYTES, 128), so that the owner
 * can re-seal an invitation (an admin's too) under a new album key.
 * @param {Uint8Array} secret
 * @param {string} inviteId
 * @param {Uint8Array} ownerBoxPk
 * @returns {Uint8Array}
 */
export function sealOwnerInviteSecret(secret, inviteId, ownerBoxPk) {
  const id = idBytes(inviteId, "invitation id");
  const plaintext = concat(OWNER_INVITE_SECRET_LABEL, id, sized(secret, KEY_BYTES, "invitation secret"));
  return boxSeal(plaintext, ownerBoxPk);
}

/**
 * The invitation secret from the owner's sealed copy; DecryptionError if it does not open or names another invitation.
 * @param {Uint8Array} sealed
 * @param {string} inviteId
 * @param {Uint8Array} boxPk  the owner's own X25519 public key
 * @param {Uint8Array} boxSk
 * @returns {Uint8Array}
 */
export function openOwnerInviteSecret(sealed, inviteId, boxPk, boxSk) {
  const expected = concat(OWNER_INVITE_SECRET_LABEL, idBytes(inviteId, "invitation id"));
  sized(boxPk, KEY_BYTES, "X25519 public key");
  sized(boxSk, KEY_BYTES, "X25519 secret key");
  if (bytes(sealed, "sealed invitation secret").length !== OWNER_INVITE_SECRET_BYTES) throw new DecryptionError();
  const plaintext = boxSealOpen(sealed, boxPk, boxSk);
  let differ = plaintext.length ^ (OWNER_INVITE_SECRET_BYTES - BOX_SEAL_BYTES);
  for (let i = 0; i < expected.length; i++) differ |= plaintext[i] ^ expected[i];
  if (differ) throw new DecryptionError();
  return plaintext.slice(expected.length);
}

/**
 * The two subkeys of an invitation secret: inviteKey = KDF(secret, 1, "fraginvt") seals AK;
 * claimKey = KDF(secret, 2, "fraginvt") is what the invitee shows, and the server keeps only its
 * SHA-256.
 * @param {Uint8Array} secret  32 random bytes (randomKey()), carried in the invitation link's fragment
 * @returns {{inviteKey: Uint8Array, claimKey: Uint8Array}}
 */
export function invitationKeys(secret) {
  sized(secret, KEY_BYTES, "invitation secret");
  return {
    inviteKey: kdf(secret, SUBKEY_INVITE, KDF_CONTEXT_INVITE),
    claimKey: kdf(secret, SUBKEY_CLAIM, KDF_CONTEXT_INVITE),
  };
}

/**
 * The invitation link's fragment: b64(secret), 43 characters, like a link secret.
 * @param {Uint8Array} secret
 * @returns {string}
 */
export function encodeInviteSecret(secret) {
  return b64e(sized(secret, KEY_BYTES, "invitation secret"));
}

/**
 * The invitation secret from the link's fragment (with or without its "#").
 * @param {string} fragment
 * @returns {Uint8Array}
 */
export function decodeInviteSecret(fragment) {
  const text = typeof fragment === "string" && fragment.startsWith("#") ? fragment.slice(1) : fragment;
  try {
    return b64d(text, KEY_BYTES);
  } catch {
    throw new FormatError("the invitation link is incomplete: the part after # must be 43 characters of base64url");
  }
}

const inviteAd = (inviteId, albumId) =>
  concat(AD_INVITE_ALBUM_KEY, idBytes(inviteId, "invitation id"), idBytes(albumId, "album id"));

/**
 * AK under inviteKey, bound to the invitation and the album: 72 bytes.
 * @param {Uint8Array} inviteKey
 * @param {Uint8Array} albumKey
 * @param {string} inviteId
 * @param {string} albumId
 * @param {Uint8Array | null} [nonce]  for the test vectors only
 * @returns {Uint8Array}
 */
export function sealInvitationAlbumKey(inviteKey, albumKey, inviteId, albumId, nonce) {
  return sealKey(inviteKey, albumKey, inviteAd(inviteId, albumId), nonce);
}

/**
 * AK from an invitation's sealed copy.
 * @param {Uint8Array} inviteKey
 * @param {Uint8Array} sealed
 * @param {string} inviteId
 * @param {string} albumId
 * @returns {Uint8Array}
 */
export function openInvitationAlbumKey(inviteKey, sealed, inviteId, albumId) {
  return openKey(inviteKey, sealed, inviteAd(inviteId, albumId));
}

/**
 * One remembered person: their e-mail, the public keys seen first (b64), when (unix seconds), and
 * whether the fingerprint was compared.
 * @typedef {{email: string, box_pk: string, sign_pk: string, first_seen: number, verified: boolean}} Contact
 */

const CONTACT_FIELDS = { email: "string", box_pk: "string", sign_pk: "string", first_seen: "number", verified: "boolean" };

// The documented shape, as crypto.py's _check_contacts; extra fields in an entry are kept.
function checkContacts(contacts) {
  if (contacts === null || typeof contacts !== "object" || Array.isArray(contacts)) {
    throw new FormatError("contacts are an object of account id to contact");
  }
  for (const [accountId, entry] of Object.entries(contacts)) {
    if (!isId(accountId)) throw new FormatError("a contact's key is an account id");
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw new FormatError("a contact is an object");
    for (const [field, kind] of Object.entries(CONTACT_FIELDS)) {
      if (typeof entry[field] !== kind) throw new FormatError(`a contact's ${field} is missing or not a ${kind}`);
    }
    b64d(entry.box_pk, KEY_BYTES);
    b64d(entry.sign_pk, KEY_BYTES);
    if (!Number.isSafeInteger(entry.first_seen) || entry.first_seen < 0) {
      throw new FormatError("a contact's first_seen is unix seconds");
    }
  }
  return contacts;
}

/**
 * sealed_contacts: {"v": 1, "contacts": contacts} as padded canonical JSON under MK, bound to the
 * account, byte for byte crypto.py's seal_contacts.
 * @param {Uint8Array} mk
 * @param {string} accountId  the account whose contacts these are
 * @param {Record<string, Contact>} contacts  keyed by account id
 * @param {Uint8Array | null} [nonce]  for the test vectors only
 * @returns {Uint8Array}
 */
export function sealContacts(mk, accountId, contacts, nonce) {
  const data = paddedJson({ contacts: checkContacts(contacts) });
  return seal(mk, data, adOf(AD_CONTACTS, accountId, "account id"), nonce);
}

/**
 * The contacts from sealed_contacts. Their e-mails are untrusted strings: escape before display.
 * @param {Uint8Array} mk
 * @param {Uint8Array} sealed
 * @param {string} accountId
 * @returns {Record<string, Contact>}
 */
export function openContacts(mk, sealed, accountId) {
  const meta = parsePaddedJson(openSealed(mk, sealed, adOf(AD_CONTACTS, accountId, "account id")));
  return checkContacts(meta.contacts);
}

function checkFavorites(favorites) {
  if (favorites === null || typeof favorites !== "object" || Array.isArray(favorites)) {
    throw new FormatError("favorites are an object of album id to a list of file ids");
  }
  for (const [albumId, files] of Object.entries(favorites)) {
    if (!isId(albumId) || !Array.isArray(files) || !files.every((id) => isId(id))) {
      throw new FormatError("favorites map an album id to a list of file ids");
    }
  }
  return favorites;
}

/**
 * One person's favorite photos {albumId: [fileId, ...]} as padded canonical JSON under MK, bound to
 * the account, byte for byte crypto.py's seal_favorites: the server sees only a padded size.
 * @param {Uint8Array} mk
 * @param {string} accountId
 * @param {Record<string, string[]>} favorites
 * @param {Uint8Array | null} [nonce]  for the tests only
 * @returns {Uint8Array}
 */
export function sealFavorites(mk, accountId, favorites, nonce) {
  return seal(mk, paddedJson({ favorites: checkFavorites(favorites) }), adOf(AD_FAVORITES, accountId, "account id"), nonce);
}

/**
 * The favorites from their sealed value.
 * @param {Uint8Array} mk
 * @param {Uint8Array} sealed
 * @param {string} accountId
 * @returns {Record<string, string[]>}
 */
export function openFavorites(mk, sealed, accountId) {
  return checkFavorites(parsePaddedJson(openSealed(mk, sealed, adOf(AD_FAVORITES, accountId, "account id"))).favorites);
}

/**
 * Trust on first use: "new" if the person was never seen, "same" if these are the keys seen first,
 * "changed" otherwise (warn loudly, and do not seal anything to the new key unasked).
 * @param {Record<string, Contact>} contacts
 * @param {string} accountId
 * @param {Uint8Array} boxPk
 * @param {Uint8Array} signPk
 * @returns {"new" | "same" | "changed"}
 */
export function contactStatus(contacts, accountId, boxPk, signPk) {
  const entry = Object.hasOwn(contacts, accountId) ? contacts[accountId] : undefined;
  if (!entry) return "new";
  return entry.box_pk === b64e(boxPk) && entry.sign_pk === b64e(signPk) ? "same" : "changed";
}

/**
 * The owner's copy of a link's wrapKey (crypto.js linkKeys(...).wrapKey) under MK, bound to the link,
 * so that a new album key can be wrapped for a password link without the password.
 * @param {Uint8Array} mk
 * @param {Uint8Array} wrapKey
 * @param {string} linkId
 * @param {Uint8Array | null} [nonce]  for the test vectors only
 * @returns {Uint8Array}
 */
export function sealOwnerLinkWrapKey(mk, wrapKey, linkId, nonce) {
  return sealKey(mk, wrapKey, adOf(AD_OWNER_LINK_WRAP_KEY, linkId, "link id"), nonce);
}

/**
 * A link's wrapKey from the owner's copy.
 * @param {Uint8Array} mk
 * @param {Uint8Array} sealed
 * @param {string} linkId
 * @returns {Uint8Array}
 */
export function openOwnerLinkWrapKey(mk, sealed, linkId) {
  return openKey(mk, sealed, adOf(AD_OWNER_LINK_WRAP_KEY, linkId, "link id"));
}

// --- recovery words (docs/format.md, "Recovery words") ----------------------------

const LISTED = new Set(wordlist);

/**
 * The 24 BIP39 English words of a 32-byte recovery key, separated by single spaces.
 * @param {Uint8Array} recoveryKey
 * @returns {string}
 */
export function recoveryWords(recoveryKey) {
  // BIP39 also takes 16 to 28 bytes; a recovery key is always 32.
  return entropyToMnemonic(sized(recoveryKey, KEY_BYTES, "recovery key"), wordlist);
}

/**
 * The recovery key of 24 words, as crypto.recovery_key: any case and any whitespace before,
 * between and after them, but exactly 24 words, each on the list, and the checksum right; no
 * guessing of a misspelt word. RecoveryWordsError otherwise, with Python's messages.
 * @param {string} words
 * @returns {Uint8Array}
 */
export function recoveryKey(words) {
  const typed = typeof words === "string" ? words.toLowerCase().split(/\s+/).filter(Boolean) : [];
  if (typed.length !== RECOVERY_WORD_COUNT) {
    throw new RecoveryWordsError(
      `This is not a recovery key: it has ${typed.length} words, a recovery key has ${RECOVERY_WORD_COUNT}`,
    );
  }
  const unlisted = typed.findIndex((word) => !LISTED.has(word));
  if (unlisted >= 0) throw new RecoveryWordsError(`This is not a recovery key: word ${unlisted + 1} is not in the list`);
  try {
    // 24 listed words: all that can still fail is the 8 checksum bits (SHA-256 of the key).
    return sized(mnemonicToEntropy(typed.join(" "), wordlist), KEY_BYTES, "recovery key");
  } catch {
    throw new RecoveryWordsError("The words do not match: check for a typo");
  }
}

// --- sign-up and password change (docs/format.md, "Sign-up, sign-in, password change and recovery")

/**
 * A fresh account: a random id, salt, MK, recovery key and identity, each sealed as the format
 * says. The server gets accountId, params, the four sealed values, the two public keys, and
 * keys.loginKey and recovery.loginKey (which it hashes and forgets); recoveryWords is shown once.
 * Runs Argon2id: call it in a Worker.
 * @param {string} password
 * @param {PasswordParamsJson} [params]  new parameters (newPasswordParams) unless given
 */
export function newAccount(password, params = newPasswordParams()) {
  const accountId = newId();
  const masterKey = randomKey();
  const recoveryKey = randomKey();
  const identity = identityKeypairs(randomKey());
  const keys = accountKeys(password, params);
  const recovery = recoveryKeys(recoveryKey);
  return {
    accountId,
    params,
    keys,
    recovery,
    masterKey,
    recoveryKey,
    identity,
    recoveryWords: recoveryWords(recoveryKey),
    sealedMasterKey: sealMasterKey(keys.kek, masterKey, accountId),
    sealedMasterKeyRecovery: sealMasterKeyRecovery(recovery.kek, masterKey, accountId),
    sealedRecoveryKey: sealRecoveryKey(masterKey, recoveryKey, accountId),
    sealedIdentity: sealIdentity(masterKey, identity.seed, accountId),
  };
}

/**
 * A new password for an open MK: new parameters (a new salt), their keys and a new sealed_mk,
 * which is all the server replaces; nothing else changes. Also the end of a recovery.
 * Runs Argon2id: call it in a Worker.
 * @param {Uint8Array} masterKey
 * @param {string} accountId
 * @param {string} password
 * @param {PasswordParamsJson} [params]  new parameters (newPasswordParams) unless given
 * @returns {{params: PasswordParamsJson, keys: AccountKeys, sealedMasterKey: Uint8Array}}
 */
export function changePassword(masterKey, accountId, password, params = newPasswordParams()) {
  idBytes(accountId, "account id"); // before Argon2id, not after
  const keys = accountKeys(password, params);
  return { params, keys, sealedMasterKey: sealMasterKey(keys.kek, masterKey, accountId) };
}
