// Format v1 in the browser: link keys, wrapped keys, sealed metadata, notes (comments and reactions)
// and STREAM blobs, and the sealing, hashing and key-pair primitives that account.js (the owner's
// account keys) builds on.
//
// This is the JavaScript half of the byte-level contract in docs/format.md; the
// Python half is viewer/crypto.py, and both are tested against docs/vectors.json
// (tests/test_browser_crypto.py runs this file in Chromium under the real CSP).
// Bytes in, bytes out: no DOM, no fetch, no storage, so the same module runs on a
// page, in a Worker and in a (module) Service Worker. What needs no libsodium (constants,
// base64url, ids, sizes and chunk arithmetic) is in format.js, which this module
// re-exports, so that code which encrypts or decrypts imports this one module.
//
// Every primitive is libsodium's, through libsodium.js (libsodium compiled to
// WebAssembly), so the browser runs the very code PyNaCl wraps; nothing here is
// hand-rolled cryptography (docs/format.md, "Primitives").
//
// Errors: input that is not well-formed v1 (bad base64, lengths, header, JSON)
// throws FormatError; anything that fails to authenticate (a wrong key, a changed,
// truncated, reordered or extended ciphertext) throws DecryptionError. No function
// returns bytes that did not authenticate.
//
// libsodium is imported by a relative URL, not by its bare name: import maps do not
// apply in workers (MDN, <script type="importmap">), and the server rewrites the one
// bare import inside libsodium-wrappers for the same reason (viewer/server/assets.py). On
// a page this URL is the one the import map gives, so its integrity is checked there.
import sodium from "../../../vendor/libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs";
import {
  BLOB_HEADER_BYTES,
  DecryptionError,
  FORMAT_VERSION,
  FormatError,
  ID_BYTES,
  KEY_BYTES,
  KINDS,
  NONCE_BYTES,
  SIGNATURE_BYTES,
  TAG_BYTES,
  ascii,
  b64d,
  b64e,
  blobHeader,
  bytes,
  chunkCount,
  ciphertextSize,
  concat,
  encoder,
  idBytes,
  isId,
  join,
  paddedMetaLength,
  parseBlobHeader,
  passwordParams,
  randomBytes,
  sized,
} from "./format.js";

export {
  BLOB_HEADER_BYTES,
  BLOB_PREFIX_BYTES,
  DEFAULT_CHUNK_SIZE,
  DecryptionError,
  FORMAT_VERSION,
  FormatError,
  ID_BYTES,
  KEY_BYTES,
  KINDS,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  NONCE_BYTES,
  PW_MEMLIMIT,
  PW_MEMLIMIT_FLOOR,
  PW_OPSLIMIT,
  PW_OPSLIMIT_FLOOR,
  SALT_BYTES,
  SIGNATURE_BYTES,
  TAG_BYTES,
  WeakPasswordParams,
  b64d,
  b64e,
  blobHeader,
  checkPasswordFloor,
  chunkCount,
  chunkSpan,
  cipherRange,
  ciphertextSize,
  decodeLinkSecret,
  encodeLinkSecret,
  isId,
  newId,
  newPasswordParams,
  padme,
  paddedMetaLength,
  parseBlobHeader,
  partEnd,
  passwordParams,
  plaintextSize,
  randomKey,
  spanChunks,
} from "./format.js";

// Labels end with 0x00 so that no label followed by ids reads as another label
// (docs/format.md, "Sealed values").
const AD_ALBUM_KEY = ascii("fragment/v1/album-key\0");
const AD_FILE_KEY = ascii("fragment/v1/file-key\0");
const AD_ALBUM_META = ascii("fragment/v1/album-meta\0");
const AD_FILE_META = ascii("fragment/v1/file-meta\0");
const PROOF_PREFIX = ascii("fragment/v1/unlock\0");
const LINK_PROOF_PREFIX = ascii("fragment/v1/unlock-link\0");
const DEVICE_PROOF_PREFIX = ascii("fragment/v1/device\0");
const KDF_CONTEXT_LINK = "fraglink";
const SUBKEY_WRAP = 1;
const SUBKEY_ACCESS = 2;
const SUBKEY_LINK = 3; // of master0 = BLAKE2b-256(link_secret), password or not
const DEVICE_ID_BYTES = 16;

let isReady = false;

/** Load libsodium (compile its WebAssembly); await it once before anything else. */
export async function ready() {
  await sodium.ready;
  isReady = true;
}

function need() {
  if (!isReady) throw new Error("crypto.js: await ready() before using it");
  return sodium;
}

// --- links (docs/format.md, "Password factor", "Link keys", "Unlock proof") -----

/**
 * pw_factor = Argon2id13(UTF-8(NFC(password)), salt, opslimit, memlimit), 32 bytes.
 * One long synchronous call (64 MiB by default): run it in a Worker.
 */
export function passwordFactor(password, params) {
  if (typeof password !== "string") throw new TypeError("password must be a string");
  const { salt, opslimit, memlimit } = passwordParams(params);
  // NFC so that the same password typed on any device gives the same bytes
  // (UAX #15; macOS and iOS keyboards may produce decomposed accents).
  const normalized = encoder.encode(password.normalize("NFC"));
  const s = need();
  return s.crypto_pwhash(KEY_BYTES, normalized, salt, opslimit, memlimit, s.crypto_pwhash_ALG_ARGON2ID13);
}

/** libsodium crypto_kdf_derive_from_key (BLAKE2b with salt and personalisation). */
export function kdf(master, subkeyId, context) {
  sized(master, KEY_BYTES, "kdf master key");
  if (typeof context !== "string" || ascii(context).length !== 8) throw new FormatError("kdf context must be 8 ASCII bytes");
  return need().crypto_kdf_derive_from_key(KEY_BYTES, subkeyId, context, master);
}

/**
 * The link's subkeys from link_secret ‖ pw_factor (docs/format.md, "Link keys"):
 * {wrapKey, accessSeed, verifier, signingKey}, and from link_secret alone the link
 * proof's key pair {linkSeed, linkVerifier, linkSigningKey}. pwFactor is empty
 * without a password.
 */
export function linkKeys(linkSecret, pwFactor = new Uint8Array()) {
  sized(linkSecret, KEY_BYTES, "link secret");
  if (bytes(pwFactor, "password factor").length !== 0 && pwFactor.length !== KEY_BYTES) {
    throw new FormatError("password factor must be empty or 32 bytes");
  }
  const s = need();
  const master = s.crypto_generichash(KEY_BYTES, concat(linkSecret, pwFactor), null);
  const wrapKey = kdf(master, SUBKEY_WRAP, KDF_CONTEXT_LINK);
  const accessSeed = kdf(master, SUBKEY_ACCESS, KDF_CONTEXT_LINK);
  s.memzero(master);
  const { publicKey, privateKey } = s.crypto_sign_seed_keypair(accessSeed);
  // The link proof's key comes from the link secret alone, so that the server can tell
  // "has the link secret" from "has only the link id" before it counts a password
  // attempt (docs/format.md, "Link proof").
  const master0 = s.crypto_generichash(KEY_BYTES, linkSecret, null);
  const linkSeed = kdf(master0, SUBKEY_LINK, KDF_CONTEXT_LINK);
  s.memzero(master0);
  const link = s.crypto_sign_seed_keypair(linkSeed);
  return {
    wrapKey,
    accessSeed,
    verifier: publicKey,
    signingKey: privateKey,
    linkSeed,
    linkVerifier: link.publicKey,
    linkSigningKey: link.privateKey,
  };
}

// prefix ‖ link_id (16 bytes) ‖ ASCII(challenge): every unlock signature signs this shape.
function challengeMessage(prefix, linkId, challenge) {
  // The challenge is opaque ASCII (docs/format.md, "Unlock proof"); anything else
  // cannot be what the server sent.
  if (typeof challenge !== "string" || !/^\p{ASCII}*$/u.test(challenge)) throw new FormatError("challenge is not ASCII");
  return concat(prefix, idBytes(linkId, "link id"), ascii(challenge));
}

function verifyDetached(publicKey, message, signature) {
  try {
    const sig = b64d(signature, SIGNATURE_BYTES);
    return need().crypto_sign_verify_detached(sig, message, sized(publicKey, 32, "public key"));
  } catch (error) {
    if (error instanceof FormatError) return false;
    throw error;
  }
}

/** What the client signs to unlock: "fragment/v1/unlock" 0x00 ‖ link_id (16 bytes) ‖ ASCII(challenge). */
export function proofMessage(linkId, challenge) {
  return challengeMessage(PROOF_PREFIX, linkId, challenge);
}

/** The link proof's message: "fragment/v1/unlock-link" 0x00 ‖ link_id ‖ ASCII(challenge). */
export function linkProofMessage(linkId, challenge) {
  return challengeMessage(LINK_PROOF_PREFIX, linkId, challenge);
}

/** The device proof's message: "fragment/v1/device" 0x00 ‖ link_id ‖ ASCII(challenge). */
export function deviceProofMessage(linkId, challenge) {
  return challengeMessage(DEVICE_PROOF_PREFIX, linkId, challenge);
}

/** The unlock proof: a detached Ed25519 signature, base64url (86 characters). */
export function signProof(keys, linkId, challenge) {
  const signature = need().crypto_sign_detached(proofMessage(linkId, challenge), sized(keys.signingKey, 64, "signing key"));
  return b64e(signature);
}

/** Check an unlock proof against a verifier (what the server does); true or false. */
export function verifyProof(verifier, linkId, challenge, signature) {
  return verifyDetached(verifier, proofMessage(linkId, challenge), signature);
}

/** The link proof: signed with the key from the link secret alone, base64url (86 characters). */
export function signLinkProof(keys, linkId, challenge) {
  const message = linkProofMessage(linkId, challenge);
  return b64e(need().crypto_sign_detached(message, sized(keys.linkSigningKey, 64, "link signing key")));
}

/** Check a link proof against a link verifier (what the server does); true or false. */
export function verifyLinkProof(linkVerifier, linkId, challenge, signature) {
  return verifyDetached(linkVerifier, linkProofMessage(linkId, challenge), signature);
}

/** Check a device proof against a device's raw Ed25519 public key (what the server does); true or false. */
export function verifyDeviceProof(devicePublicKey, linkId, challenge, signature) {
  return verifyDetached(devicePublicKey, deviceProofMessage(linkId, challenge), signature);
}

/** device_id = b64(BLAKE2b-128(device public key)): 22 characters, like every id. */
export function deviceId(devicePublicKey) {
  return b64e(need().crypto_generichash(DEVICE_ID_BYTES, sized(devicePublicKey, 32, "device public key"), null));
}

// --- key pairs and hashing (docs/format.md, "Primitives") ------------------------

/**
 * H32(m): unkeyed BLAKE2b-256, crypto_generichash(32, m, null).
 * @param {Uint8Array} data
 * @returns {Uint8Array}
 */
export function hash32(data) {
  return need().crypto_generichash(KEY_BYTES, bytes(data, "data"), null);
}

/**
 * The X25519 key pair of a 32-byte seed, libsodium's crypto_box_seed_keypair (secret key = the
 * first 32 bytes of SHA-512(seed)): {publicKey, privateKey}, 32 bytes each.
 * @param {Uint8Array} seed
 * @returns {{publicKey: Uint8Array, privateKey: Uint8Array}}
 */
export function boxSeedKeypair(seed) {
  const { publicKey, privateKey } = need().crypto_box_seed_keypair(sized(seed, KEY_BYTES, "X25519 seed"));
  return { publicKey, privateKey };
}

/**
 * The Ed25519 key pair of a 32-byte seed, crypto_sign_seed_keypair: {publicKey} of 32 bytes and
 * {privateKey} of 64 (libsodium's seed ‖ public key).
 * @param {Uint8Array} seed
 * @returns {{publicKey: Uint8Array, privateKey: Uint8Array}}
 */
export function signSeedKeypair(seed) {
  const { publicKey, privateKey } = need().crypto_sign_seed_keypair(sized(seed, KEY_BYTES, "Ed25519 seed"));
  return { publicKey, privateKey };
}

/**
 * libsodium's anonymous sealed box, crypto_box_seal: ephemeral public key (32) ‖ crypto_box of the
 * message to publicKey under a fresh ephemeral key pair, with nonce = BLAKE2b-192(epk ‖ pk); 48 bytes
 * longer than the message (libsodium docs, "Sealed boxes"). It has no associated data: callers put
 * what binds the value inside the message (account.js, sealMemberAlbumKey). FormatError for a public
 * key that is not 32 bytes or is a low-order point, which libsodium refuses.
 * @param {Uint8Array} message
 * @param {Uint8Array} publicKey  X25519
 * @returns {Uint8Array}
 */
export function boxSeal(message, publicKey) {
  sized(publicKey, KEY_BYTES, "X25519 public key");
  try {
    return need().crypto_box_seal(bytes(message, "message"), publicKey);
  } catch {
    throw new FormatError("not a usable X25519 public key");
  }
}

/**
 * The message of a sealed box, crypto_box_seal_open; DecryptionError if it does not open for this
 * key pair (the one error for a wrong key and a changed, cut or extended box).
 * @param {Uint8Array} sealed
 * @param {Uint8Array} publicKey  the recipient's X25519 public key
 * @param {Uint8Array} secretKey  the recipient's X25519 secret key
 * @returns {Uint8Array}
 */
export function boxSealOpen(sealed, publicKey, secretKey) {
  sized(publicKey, KEY_BYTES, "X25519 public key");
  sized(secretKey, KEY_BYTES, "X25519 secret key");
  if (bytes(sealed, "sealed box").length < need().crypto_box_SEALBYTES) throw new DecryptionError();
  try {
    return need().crypto_box_seal_open(sealed, publicKey, secretKey);
  } catch {
    throw new DecryptionError();
  }
}

// --- sealed values (docs/format.md, "Sealed values") ---------------------------

/**
 * seal(key, plaintext, ad) = nonce ‖ XChaCha20-Poly1305(plaintext, ad): 24 + len + 16 bytes,
 * with a fresh random nonce unless one is given (the test vectors only).
 * @param {Uint8Array} key
 * @param {Uint8Array} plaintext
 * @param {Uint8Array} ad
 * @param {Uint8Array | null} [nonce]
 * @returns {Uint8Array}
 */
export function seal(key, plaintext, ad, nonce) {
  sized(key, KEY_BYTES, "key");
  // A random 192-bit nonce needs no counter (libsodium docs, "XChaCha20-Poly1305
  // construction"); a fixed one is for the test vectors only.
  nonce = nonce === undefined || nonce === null ? randomBytes(NONCE_BYTES) : sized(nonce, NONCE_BYTES, "nonce");
  return concat(nonce, need().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key));
}

/**
 * The plaintext of seal(key, plaintext, ad); DecryptionError for a wrong key, a changed value
 * or another ad, and for anything shorter than 40 bytes.
 * @param {Uint8Array} key
 * @param {Uint8Array} sealed
 * @param {Uint8Array} ad
 * @returns {Uint8Array}
 */
export function openSealed(key, sealed, ad) {
  sized(key, KEY_BYTES, "key");
  // One error for everything, too short included: "wrong key, or the data was changed".
  if (bytes(sealed, "sealed value").length < NONCE_BYTES + TAG_BYTES) throw new DecryptionError();
  const s = need();
  try {
    const nonce = sealed.subarray(0, NONCE_BYTES);
    return s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed.subarray(NONCE_BYTES), ad, nonce, key);
  } catch {
    throw new DecryptionError();
  }
}

/** AK sealed for one link (72 bytes): the copy a revocation deletes. */
export function wrapAlbumKey(wrapKey, albumKey, linkId, nonce) {
  return seal(wrapKey, sized(albumKey, KEY_BYTES, "album key"), concat(AD_ALBUM_KEY, idBytes(linkId, "link id")), nonce);
}

/** AK from a link's wrapped copy. */
export function unwrapAlbumKey(wrapKey, wrapped, linkId) {
  return openSealed(wrapKey, wrapped, concat(AD_ALBUM_KEY, idBytes(linkId, "link id")));
}

const fileKeyAd = (albumId, fileId) => concat(AD_FILE_KEY, idBytes(albumId, "album id"), idBytes(fileId, "file id"));

/** FK sealed under AK, bound to its album and file. */
export function wrapFileKey(albumKey, fileKey, albumId, fileId, nonce) {
  return seal(albumKey, sized(fileKey, KEY_BYTES, "file key"), fileKeyAd(albumId, fileId), nonce);
}

/** FK from its wrapped copy. */
export function unwrapFileKey(albumKey, wrapped, albumId, fileId) {
  return openSealed(albumKey, wrapped, fileKeyAd(albumId, fileId));
}

// --- the album key chain (docs/format.md, "Sharing") -----------------------------
// When an album gets a new key (someone lost access), the new key seals the previous one, so
// whoever holds the newest key opens every older one; each file names the epoch of its key.

const AD_ALBUM_KEY_CHAIN = ascii("fragment/v1/album-key-chain\0");
export const MAX_EPOCH = 2 ** 31 - 1; // epochs 0 .. 2^31 - 1, as crypto.py

function epochOf(epoch, lowest) {
  if (!Number.isInteger(epoch) || epoch < lowest || epoch > MAX_EPOCH) {
    throw new FormatError(`an album key epoch is an integer from ${lowest} to ${MAX_EPOCH}`);
  }
  return epoch;
}

/** u32be(n): 4 bytes, big-endian, as Python's struct.pack(">I", n). */
function u32be(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

function chainAd(albumId, epoch) {
  return concat(AD_ALBUM_KEY_CHAIN, idBytes(albumId, "album id"), u32be(epochOf(epoch, 1)));
}

/**
 * chain_e: AK_{e-1} sealed under AK_e (e ≥ 1), 72 bytes, so whoever has the newest key opens every
 * older one.
 * @param {Uint8Array} newKey  AK_e
 * @param {Uint8Array} oldKey  AK_{e-1}
 * @param {string} albumId
 * @param {number} epoch  e, 1 to 2^31 - 1
 * @param {Uint8Array | null} [nonce]  for the test vectors only
 * @returns {Uint8Array}
 */
export function sealAlbumKeyChain(newKey, oldKey, albumId, epoch, nonce) {
  return seal(newKey, sized(oldKey, KEY_BYTES, "album key"), chainAd(albumId, epoch), nonce);
}

/**
 * AK_{e-1} from chain_e and AK_e.
 * @param {Uint8Array} newKey
 * @param {Uint8Array} sealed
 * @param {string} albumId
 * @param {number} epoch
 * @returns {Uint8Array}
 */
export function openAlbumKeyChain(newKey, sealed, albumId, epoch) {
  const key = openSealed(newKey, sealed, chainAd(albumId, epoch));
  if (key.length !== KEY_BYTES) throw new FormatError("the sealed value is not a 32-byte key");
  return key;
}

/**
 * Every album key from the current one down to epoch 0. chain is {[epoch]: chain_e} (or a Map) for
 * 1..currentEpoch; other entries are not used. A missing entry is a FormatError, one that does not
 * open a DecryptionError, each naming the epoch.
 * @param {Uint8Array} currentKey
 * @param {number} currentEpoch
 * @param {string} albumId
 * @param {Record<number, Uint8Array> | Map<number, Uint8Array>} chain
 * @returns {Map<number, Uint8Array>}
 */
export function albumKeys(currentKey, currentEpoch, albumId, chain) {
  const top = epochOf(currentEpoch, 0);
  const keys = new Map([[top, sized(currentKey, KEY_BYTES, "album key")]]);
  for (let e = top; e > 0; e--) {
    const sealed = chain instanceof Map ? chain.get(e) : Object.hasOwn(chain, e) ? chain[e] : undefined;
    if (!sealed) throw new FormatError(`the album key chain has no entry for epoch ${e}`);
    try {
      keys.set(e - 1, openAlbumKeyChain(keys.get(e), sealed, albumId, e));
    } catch (error) {
      if (error instanceof DecryptionError) {
        throw new DecryptionError(`the album key chain entry for epoch ${e} does not open`);
      }
      throw error;
    }
  }
  return keys;
}

// --- file drop (docs/format.md, "File drop") --------------------------------------
// An upload-only link can hold no album key: its guests seal each file key to the album's X25519 drop
// key of the epoch, whose secret only album-key holders open. The public key reaches a guest sealed
// under the link's wrap key, which the server never has, so it cannot hand out a key of its own.

const AD_ALBUM_DROP_KEY = ascii("fragment/v1/album-drop-key\0");
const AD_LINK_DROP_KEY = ascii("fragment/v1/link-drop-key\0");
const DROP_FILE_KEY_LABEL = ascii("fragment/v1/drop-file-key\0"); // inside the sealed box, not AD
/** A guest's file key sealed to the drop key: label ‖ album_id ‖ file_id ‖ FK in a sealed box, 138 bytes. */
export const DROP_FILE_KEY_BYTES = 48 + DROP_FILE_KEY_LABEL.length + 2 * ID_BYTES + KEY_BYTES;

function dropAd(prefix, ids, epoch) {
  return concat(prefix, ...ids.map(([id, what]) => idBytes(id, what)), u32be(epochOf(epoch, 0)));
}

const albumDropAd = (albumId, epoch) => dropAd(AD_ALBUM_DROP_KEY, [[albumId, "album id"]], epoch);
const linkDropAd = (linkId, albumId, epoch) =>
  dropAd(
    AD_LINK_DROP_KEY,
    [
      [linkId, "link id"],
      [albumId, "album id"],
    ],
    epoch,
  );

function openKey(key, sealed, ad) {
  const value = openSealed(key, sealed, ad);
  if (value.length !== KEY_BYTES) throw new FormatError("the sealed value is not a 32-byte key");
  return value;
}

/**
 * A fresh drop key pair for the album's epoch, its secret sealed under that epoch's album key (72
 * bytes): {publicKey, secretKey, sealedSecret}. A seed and a nonce are for the test vectors only.
 * @param {Uint8Array} albumKey
 * @param {string} albumId
 * @param {number} epoch
 * @param {Uint8Array | null} [seed]
 * @param {Uint8Array | null} [nonce]
 * @returns {{publicKey: Uint8Array, secretKey: Uint8Array, sealedSecret: Uint8Array}}
 */
export function newDropKey(albumKey, albumId, epoch, seed, nonce) {
  sized(albumKey, KEY_BYTES, "album key");
  const s = need();
  const pair = seed ? s.crypto_box_seed_keypair(sized(seed, KEY_BYTES, "X25519 seed")) : s.crypto_box_keypair();
  const sealedSecret = seal(albumKey, pair.privateKey, albumDropAd(albumId, epoch), nonce);
  return { publicKey: pair.publicKey, secretKey: pair.privateKey, sealedSecret };
}

/**
 * The drop secret key of an epoch from its sealed copy and that epoch's album key.
 * @param {Uint8Array} albumKey
 * @param {string} albumId
 * @param {number} epoch
 * @param {Uint8Array} sealedSecret
 * @returns {Uint8Array}
 */
export function openDropSecret(albumKey, albumId, epoch, sealedSecret) {
  return openKey(albumKey, sealedSecret, albumDropAd(albumId, epoch));
}

/**
 * The X25519 public key of a drop secret key (crypto_scalarmult_base): what the listed one must equal.
 * @param {Uint8Array} secretKey
 * @returns {Uint8Array}
 */
export function dropPublicKey(secretKey) {
  return need().crypto_scalarmult_base(sized(secretKey, KEY_BYTES, "X25519 secret key"));
}

/**
 * The album's drop public key of an epoch for one link, under the link's wrap key: 72 bytes.
 * @param {Uint8Array} wrapKey
 * @param {Uint8Array} publicKey
 * @param {string} linkId
 * @param {string} albumId
 * @param {number} epoch
 * @param {Uint8Array | null} [nonce]  for the test vectors only
 * @returns {Uint8Array}
 */
export function sealLinkDropKey(wrapKey, publicKey, linkId, albumId, epoch, nonce) {
  return seal(wrapKey, sized(publicKey, KEY_BYTES, "X25519 public key"), linkDropAd(linkId, albumId, epoch), nonce);
}

/**
 * The drop public key from a link's sealed copy; DecryptionError if it was changed.
 * @param {Uint8Array} wrapKey
 * @param {Uint8Array} sealed
 * @param {string} linkId
 * @param {string} albumId
 * @param {number} epoch
 * @returns {Uint8Array}
 */
export function openLinkDropKey(wrapKey, sealed, linkId, albumId, epoch) {
  return openKey(wrapKey, sealed, linkDropAd(linkId, albumId, epoch));
}

const dropFilePrefix = (albumId, fileId) =>
  concat(DROP_FILE_KEY_LABEL, idBytes(albumId, "album id"), idBytes(fileId, "file id"));

/**
 * FK sealed to the album's drop key (crypto_box_seal), 138 bytes: the label and both ids are inside
 * the box, which has no associated data, so it cannot be moved to another file or album.
 * @param {Uint8Array} fileKey
 * @param {string} albumId
 * @param {string} fileId
 * @param {Uint8Array} publicKey
 * @returns {Uint8Array}
 */
export function sealDropFileKey(fileKey, albumId, fileId, publicKey) {
  return boxSeal(concat(dropFilePrefix(albumId, fileId), sized(fileKey, KEY_BYTES, "file key")), publicKey);
}

/**
 * FK from a dropped file's sealed key; DecryptionError if it does not open or is for another file.
 * @param {Uint8Array} sealed
 * @param {string} albumId
 * @param {string} fileId
 * @param {Uint8Array} publicKey
 * @param {Uint8Array} secretKey
 * @returns {Uint8Array}
 */
export function openDropFileKey(sealed, albumId, fileId, publicKey, secretKey) {
  const expected = dropFilePrefix(albumId, fileId);
  if (bytes(sealed, "sealed box").length !== DROP_FILE_KEY_BYTES) throw new DecryptionError();
  const plain = boxSealOpen(sealed, publicKey, secretKey);
  // Anyone can seal to a public key: the label and the ids are what bind it.
  if (plain.length !== expected.length + KEY_BYTES || expected.some((b, i) => plain[i] !== b)) {
    throw new DecryptionError();
  }
  return plain.slice(expected.length);
}

// --- metadata (docs/format.md, "Metadata") ---------------------------------------

// Code point order, as Python's sort_keys (UTF-16 order differs above U+FFFF).
function byCodePoint(a, b) {
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

function canonical(value) {
  if (typeof value === "number" && !Number.isFinite(value)) throw new FormatError("NaN and infinities are not JSON");
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort(byCodePoint)) out[key] = canonical(value[key]);
    return out;
  }
  return value;
}

// Writers: UTF-8 JSON, keys sorted at every level, no whitespace, non-ASCII as
// itself, "v": 1 added: byte for byte Python's json.dumps(..., ensure_ascii=False,
// separators=(",", ":"), sort_keys=True); then ASCII spaces up to padme(max(L, 256))
// bytes, so that the sealed length does not give away the length of names and titles.
// JSON allows trailing whitespace (RFC 8259 section 2): every reader, old or new,
// reads padded and unpadded metadata alike.
function dump(meta) {
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) throw new TypeError("metadata must be an object");
  const json = encoder.encode(JSON.stringify(canonical({ v: FORMAT_VERSION, ...meta })));
  const out = new Uint8Array(paddedMetaLength(json.length)).fill(0x20);
  out.set(json);
  return out;
}

// Readers accept any UTF-8 JSON object whose v is 1, and nothing else.
function load(data) {
  let meta;
  try {
    meta = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(data));
  } catch {
    throw new FormatError("metadata is not UTF-8 JSON");
  }
  if (meta === null || typeof meta !== "object" || Array.isArray(meta) || meta.v !== FORMAT_VERSION) {
    throw new FormatError("metadata is not a v1 object");
  }
  return meta;
}

/**
 * The bytes sealed metadata carries, for other sealed JSON (account.js's contacts): canonical JSON
 * with "v": 1 added, padded with spaces as in docs/format.md, "Padding"; Python's pad_meta(_dump(...)).
 * @param {object} meta
 * @returns {Uint8Array}
 */
export function paddedJson(meta) {
  return dump(meta);
}

/**
 * The object of paddedJson's bytes (padded or not); FormatError unless it is a v1 object.
 * @param {Uint8Array} data
 * @returns {any}
 */
export function parsePaddedJson(data) {
  return load(data);
}

const albumMetaAd = (albumId) => concat(AD_ALBUM_META, idBytes(albumId, "album id"));
const fileMetaAd = (albumId, fileId) => concat(AD_FILE_META, idBytes(albumId, "album id"), idBytes(fileId, "file id"));

/** Album metadata (title, description...) sealed under AK. */
export function sealAlbumMeta(albumKey, albumId, meta, nonce) {
  return seal(albumKey, dump(meta), albumMetaAd(albumId), nonce);
}

/** Decrypt and parse album metadata. Its strings are untrusted: escape before display. */
export function openAlbumMeta(albumKey, albumId, sealed) {
  return load(openSealed(albumKey, sealed, albumMetaAd(albumId)));
}

/** File metadata (name, mime, size, dates, uploader...) sealed under FK. */
export function sealFileMeta(fileKey, albumId, fileId, meta, nonce) {
  return seal(fileKey, dump(meta), fileMetaAd(albumId, fileId), nonce);
}

/** Decrypt and parse file metadata. Its strings are untrusted: escape before display. */
export function openFileMeta(fileKey, albumId, fileId, sealed) {
  return load(openSealed(fileKey, sealed, fileMetaAd(albumId, fileId)));
}

// --- comments and reactions (docs/format.md, "Comments and reactions") ------------------
// A note is padded JSON sealed under a key derived from the album key of its epoch, signed by its
// author (a member's account key, or a link visitor's key made in the browser). The author's public
// key is in the associated data and in the signed message, so the server, which has no album key,
// can neither write a note nor move one to another author, album, note or version.

const KDF_CONTEXT_COMMENTS = "fragcmnt";
const SUBKEY_COMMENTS = 1;
const AD_NOTE = ascii("fragment/v1/note\0");
const NOTE_SIGNATURE_PREFIX = ascii("fragment/v1/note-sig\0");
const NOTE_KINDS = ["comment", "reaction"];
/** The six reactions, in the order format.md lists them: ❤️ 👍 😂 😮 😢 🎉 (the heart with U+FE0F). */
export const NOTE_EMOJI = Object.freeze(["\u2764\ufe0f", "\u{1f44d}", "\u{1f602}", "\u{1f62e}", "\u{1f622}", "\u{1f389}"]);
export const MAX_NOTE_TEXT = 4000; // code points
export const MAX_GUEST_NAME = 80; // code points
const MAX_NOTE_VERSION = 2 ** 31 - 1;

/**
 * A note whose signature does not verify, or that does not open under the comment key: not shown as
 * genuine (docs/format.md, "Comments and reactions"). A kind of DecryptionError, as crypto.py's BadNote.
 */
export class BadNote extends DecryptionError {
  /** @param {string} [message] */
  constructor(message = "the note could not be verified") {
    super(message);
    this.name = "BadNote";
  }
}

/**
 * @typedef {object} Note
 * @property {"comment" | "reaction"} kind
 * @property {string | null} on  the file id it is about; null for the album
 * @property {string | null} [reply_to]  comments: the note id it answers
 * @property {string} [text]  comments: 1 to 4000 code points
 * @property {string} [emoji]  reactions: one of NOTE_EMOJI
 * @property {string | null} name  a guest's display name, 1 to 80 code points
 * @property {number} at  Unix seconds, by the author's clock
 */

/**
 * CK_e = KDF(AK_e, 1, "fragcmnt"): the key that seals the notes of the album key's epoch.
 * @param {Uint8Array} albumKey
 * @returns {Uint8Array}
 */
export function commentKey(albumKey) {
  return kdf(sized(albumKey, KEY_BYTES, "album key"), SUBKEY_COMMENTS, KDF_CONTEXT_COMMENTS);
}

/**
 * A link visitor's Ed25519 key pair from the 32-byte seed their browser keeps for the link:
 * {publicKey} of 32 bytes and {privateKey} of 64 (libsodium's seed ‖ public key).
 * @param {Uint8Array} seed
 * @returns {{publicKey: Uint8Array, privateKey: Uint8Array}}
 */
export function guestNoteKeys(seed) {
  return signSeedKeypair(sized(seed, KEY_BYTES, "guest seed"));
}

// album_id ‖ note_id ‖ u32be(e) ‖ u32be(version) ‖ author_pk: in the AD and in the signed message.
function noteBinding(albumId, noteId, epoch, version, authorPk) {
  if (!Number.isInteger(version) || version < 1 || version > MAX_NOTE_VERSION) {
    throw new FormatError(`a note version is an integer from 1 to ${MAX_NOTE_VERSION}`);
  }
  return concat(
    idBytes(albumId, "album id"),
    idBytes(noteId, "note id"),
    u32be(epochOf(epoch, 0)),
    u32be(version),
    sized(authorPk, KEY_BYTES, "author's public key"),
  );
}

// Lengths in code points, as Python's len() and format.md ("in JS, [...text].length").
const codePoints = (text) => [...text].length;

// The note's fields as format.md lists them, or FormatError; unknown keys are kept. A missing key
// reads as null (docs/format.md, "Metadata": readers treat a missing optional key as null).
function checkNote(note) {
  if (note === null || typeof note !== "object" || Array.isArray(note)) throw new FormatError("a note is a JSON object");
  const get = (key) => (Object.hasOwn(note, key) ? note[key] : null);
  const kind = get("kind");
  if (!NOTE_KINDS.includes(kind)) throw new FormatError("a note's kind is comment or reaction");
  if (get("on") !== null && !isId(get("on"))) throw new FormatError("a note's `on` is a file id or null");
  const name = get("name");
  if (name !== null && (typeof name !== "string" || codePoints(name) < 1 || codePoints(name) > MAX_GUEST_NAME)) {
    throw new FormatError(`a note's name is 1 to ${MAX_GUEST_NAME} characters or null`);
  }
  const at = get("at");
  if (!Number.isInteger(at) || at < 0) throw new FormatError("a note's `at` is Unix seconds");
  if (kind === "comment") {
    const text = get("text");
    if (typeof text !== "string" || codePoints(text) < 1 || codePoints(text) > MAX_NOTE_TEXT) {
      throw new FormatError(`a comment's text is 1 to ${MAX_NOTE_TEXT} characters`);
    }
    if (get("reply_to") !== null && !isId(get("reply_to"))) {
      throw new FormatError("a comment's `reply_to` is a note id or null");
    }
  } else if (!NOTE_EMOJI.includes(get("emoji"))) {
    throw new FormatError(`a reaction's emoji is one of ${NOTE_EMOJI.join(" ")}`);
  }
  return note;
}

/**
 * A note as padded JSON under CK_e, then signed by its author: {sealed, signature (64 bytes)}.
 * FormatError for a malformed note, id, epoch, version or key.
 * @param {Uint8Array} albumKey  AK_e
 * @param {string} albumId
 * @param {string} noteId
 * @param {number} epoch  e
 * @param {number} version  1 for a new note, the next one for each edit
 * @param {Uint8Array} authorPk  the author's Ed25519 public key (32 bytes)
 * @param {Uint8Array} authorSk  its libsodium secret key (64 bytes)
 * @param {Note} note
 * @param {Uint8Array | null} [nonce]  for the test vectors only
 * @returns {{sealed: Uint8Array, signature: Uint8Array}}
 */
export function sealNote(albumKey, albumId, noteId, epoch, version, authorPk, authorSk, note, nonce) {
  const binding = noteBinding(albumId, noteId, epoch, version, authorPk);
  const data = dump({ ...checkNote(note), v: FORMAT_VERSION });
  const sealed = seal(commentKey(albumKey), data, concat(AD_NOTE, binding), nonce);
  const message = concat(NOTE_SIGNATURE_PREFIX, binding, sealed);
  const signature = need().crypto_sign_detached(message, sized(authorSk, 64, "author's secret key"));
  return { sealed, signature };
}

/**
 * The note, once its signature verifies with the author's key and it opens under CK_e; BadNote
 * otherwise, FormatError for a malformed one. Checked in format.md's order: signature, AEAD, JSON.
 * Its strings are untrusted: escape before display.
 * @param {Uint8Array} albumKey  AK_e of the note's epoch
 * @param {string} albumId
 * @param {string} noteId
 * @param {number} epoch
 * @param {number} version
 * @param {Uint8Array} authorPk
 * @param {Uint8Array} sealed
 * @param {Uint8Array} signature
 * @returns {Note & {v: number}}
 */
export function openNote(albumKey, albumId, noteId, epoch, version, authorPk, sealed, signature) {
  const binding = noteBinding(albumId, noteId, epoch, version, authorPk);
  const message = concat(NOTE_SIGNATURE_PREFIX, binding, bytes(sealed, "sealed note"));
  let genuine = false;
  if (bytes(signature, "signature").length === SIGNATURE_BYTES) {
    try {
      genuine = need().crypto_sign_verify_detached(signature, message, authorPk);
    } catch {
      genuine = false;
    }
  }
  if (!genuine) throw new BadNote("the note's signature does not verify");
  let data;
  try {
    data = openSealed(commentKey(albumKey), sealed, concat(AD_NOTE, binding));
  } catch (error) {
    if (error instanceof DecryptionError) throw new BadNote("the note does not open with the album key");
    throw error;
  }
  return checkNote(load(data));
}

/**
 * The fields of an opened note that a page shows, as plain data (strings stay strings, set as
 * text, never HTML). A member's name comes from their account, never from the note.
 * @param {Note & {v: number}} note  as openNote returns it
 * @param {boolean} guest  written by a link's visitor
 */
export function shownNote(note, guest) {
  return {
    kind: note.kind,
    on: note.on ?? null,
    reply_to: note.reply_to ?? null,
    text: note.text ?? null,
    emoji: note.emoji ?? null,
    name: guest ? (note.name ?? null) : null,
    at: note.at,
  };
}

const NOTE_DELETE_PREFIX = ascii("fragment/v1/note-delete\0");

/**
 * A link visitor's proof that they delete their own note, its current version (docs/format.md,
 * "Comments and reactions": delete_sig), as crypto.py's sign_note_delete: 64 bytes, signed with the
 * guest key the note was written with. FormatError for a malformed id or version.
 * @param {string} albumId
 * @param {string} noteId
 * @param {number} version  the note's current version
 * @param {Uint8Array} guestSk  the guest's libsodium secret key (64 bytes, guestNoteKeys)
 * @returns {Uint8Array}
 */
export function signNoteDelete(albumId, noteId, version, guestSk) {
  if (!Number.isInteger(version) || version < 1 || version > MAX_NOTE_VERSION) {
    throw new FormatError(`a note version is an integer from 1 to ${MAX_NOTE_VERSION}`);
  }
  const message = concat(NOTE_DELETE_PREFIX, idBytes(albumId, "album id"), idBytes(noteId, "note id"), u32be(version));
  return need().crypto_sign_detached(message, sized(guestSk, 64, "guest's secret key"));
}

// --- blobs: STREAM (docs/format.md, "Blobs"; sizes and ranges are in format.js) --

function kindByte(kind) {
  if (!Object.hasOwn(KINDS, kind)) throw new FormatError(`unknown blob kind ${JSON.stringify(kind)}`);
  return KINDS[kind];
}

// The per-blob part of every chunk's nonce and associated data, built once:
//   nonce_i = prefix ‖ u64be(i)
//   ad_i    = header (24) ‖ file_id (16) ‖ kind byte ‖ last_i (0x01 on the last chunk)
// The index in the nonce stops reordering; the header, file id and kind in the AD
// stop chunks moving between blobs; the last flag stops truncation.
function chunkContext(fileKey, fileId, kind, header) {
  sized(fileKey, KEY_BYTES, "file key");
  if (!header || !(header.bytes instanceof Uint8Array)) {
    throw new TypeError("header must come from parseBlobHeader or blobHeader");
  }
  const head = parseBlobHeader(header.bytes);
  const ad = concat(head.bytes, idBytes(fileId, "file id"), [kindByte(kind), 0]);
  return { fileKey, ad, prefix: head.prefix, chunkSize: head.chunkSize };
}

function chunkNonce(ctx, index) {
  if (!Number.isSafeInteger(index) || index < 0) throw new FormatError("bad chunk index");
  const nonce = new Uint8Array(NONCE_BYTES);
  nonce.set(ctx.prefix);
  const view = new DataView(nonce.buffer);
  view.setUint32(16, Math.floor(index / 2 ** 32), false);
  view.setUint32(20, index >>> 0, false);
  return nonce;
}

function encryptWith(ctx, index, chunk, last) {
  ctx.ad[ctx.ad.length - 1] = last ? 1 : 0;
  const nonce = chunkNonce(ctx, index);
  return need().crypto_aead_xchacha20poly1305_ietf_encrypt(bytes(chunk, "chunk"), ctx.ad, null, nonce, ctx.fileKey);
}

function decryptWith(ctx, index, chunk, last) {
  ctx.ad[ctx.ad.length - 1] = last ? 1 : 0;
  const nonce = chunkNonce(ctx, index);
  const s = need();
  bytes(chunk, "chunk");
  // A piece shorter than its tag is a truncation, not a malformed call.
  if (chunk.length < TAG_BYTES) throw new DecryptionError(`chunk ${index} is truncated`);
  try {
    return s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, chunk, ctx.ad, nonce, ctx.fileKey);
  } catch {
    throw new DecryptionError(`chunk ${index} failed to authenticate`);
  }
}

/** Encrypt one chunk of a blob (index counts from 0; last on the final chunk only). */
export function encryptChunk(fileKey, fileId, kind, header, index, chunk, last) {
  return encryptWith(chunkContext(fileKey, fileId, kind, header), index, chunk, last);
}

/** Decrypt one chunk on its own, the basis of random access; DecryptionError if it does not authenticate. */
export function decryptChunk(fileKey, fileId, kind, header, index, chunk, last) {
  return decryptWith(chunkContext(fileKey, fileId, kind, header), index, chunk, last);
}

/** Encrypt a whole plaintext into a blob. Options: {chunkSize, prefix} (prefix for test vectors). */
export function encryptBlob(fileKey, fileId, kind, data, options = {}) {
  bytes(data, "plaintext");
  const header = blobHeader(options);
  const ctx = chunkContext(fileKey, fileId, kind, header);
  const { chunkSize } = header;
  const n = chunkCount(data.length, chunkSize);
  const out = new Uint8Array(ciphertextSize(data.length, chunkSize));
  out.set(header.bytes);
  let at = BLOB_HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    // Every chunk is full but the last; an empty plaintext is one empty chunk.
    const sealed = encryptWith(ctx, i, data.subarray(i * chunkSize, (i + 1) * chunkSize), i === n - 1);
    out.set(sealed, at);
    at += sealed.length;
  }
  return out;
}

/** Decrypt a whole blob held in memory; DecryptionError on any change, truncation or trailing data. */
export function decryptBlob(fileKey, fileId, kind, blob) {
  bytes(blob, "blob");
  if (blob.length < BLOB_HEADER_BYTES) throw new DecryptionError("blob is truncated");
  const ctx = chunkContext(fileKey, fileId, kind, { bytes: blob.subarray(0, BLOB_HEADER_BYTES) });
  const stride = ctx.chunkSize + TAG_BYTES;
  if (blob.length - BLOB_HEADER_BYTES < TAG_BYTES) throw new DecryptionError("blob is truncated (no chunks)");
  const parts = [];
  for (let at = BLOB_HEADER_BYTES, i = 0; at < blob.length; at += stride, i++) {
    // A chunk is the last one when it is short or nothing follows it; trailing bytes
    // make the real last chunk "not last", and its flag then fails to authenticate.
    const chunk = blob.subarray(at, at + stride);
    parts.push(decryptWith(ctx, i, chunk, at + chunk.length === blob.length));
  }
  return join(parts);
}

// A FIFO of byte arrays from which whole pieces can be taken.
class ByteQueue {
  constructor() {
    this.parts = [];
    this.length = 0;
  }

  push(part) {
    if (part.length) {
      this.parts.push(part);
      this.length += part.length;
    }
  }

  take(count) {
    const out = new Uint8Array(count);
    let at = 0;
    while (at < count) {
      const part = this.parts[0];
      const n = Math.min(part.length, count - at);
      out.set(part.subarray(0, n), at);
      at += n;
      if (n === part.length) this.parts.shift();
      else this.parts[0] = part.subarray(n);
    }
    this.length -= count;
    return out;
  }
}

/**
 * A TransformStream from blob bytes (split anywhere) to plaintext chunks, for files
 * too large for memory: fetch(...).body.pipeThrough(decryptBlobStream(...)).
 * Each chunk is handed out as soon as it verifies and one more byte has arrived
 * (which tells it is not the last); the stream errors with DecryptionError on a
 * change, a truncation or trailing data, and its consumer must then discard what it
 * already got (docs/format.md, "Decrypting a whole blob").
 */
export function decryptBlobStream(fileKey, fileId, kind) {
  sized(fileKey, KEY_BYTES, "file key");
  idBytes(fileId, "file id");
  kindByte(kind);
  const queue = new ByteQueue();
  let ctx = null;
  let index = 0;
  return new TransformStream({
    transform(piece, controller) {
      queue.push(bytes(piece, "stream chunk"));
      if (ctx === null) {
        if (queue.length < BLOB_HEADER_BYTES) return;
        ctx = chunkContext(fileKey, fileId, kind, { bytes: queue.take(BLOB_HEADER_BYTES) });
      }
      const stride = ctx.chunkSize + TAG_BYTES;
      while (queue.length > stride) controller.enqueue(decryptWith(ctx, index++, queue.take(stride), false));
    },
    flush(controller) {
      if (ctx === null) throw new DecryptionError("blob is truncated");
      // What is left (at most one stride) is the last chunk; nothing left means the
      // blob ended right after the header, or after a chunk sealed as not last.
      if (queue.length === 0 && index > 0) throw new DecryptionError(`blob is truncated after chunk ${index - 1}`);
      controller.enqueue(decryptWith(ctx, index++, queue.take(queue.length), true));
    },
  });
}

/**
 * A TransformStream from plaintext bytes (split anywhere) to a blob: the header,
 * then each encrypted chunk. A chunk is held back until one more byte arrives, so
 * that the last one is known (as encrypt_blob in viewer/crypto.py reads ahead).
 */
export function encryptBlobStream(fileKey, fileId, kind, options = {}) {
  const header = blobHeader(options);
  const ctx = chunkContext(fileKey, fileId, kind, header);
  const queue = new ByteQueue();
  let index = 0;
  return new TransformStream({
    start(controller) {
      controller.enqueue(header.bytes.slice());
    },
    transform(piece, controller) {
      queue.push(bytes(piece, "stream chunk"));
      while (queue.length > ctx.chunkSize) controller.enqueue(encryptWith(ctx, index++, queue.take(ctx.chunkSize), false));
    },
    flush(controller) {
      controller.enqueue(encryptWith(ctx, index++, queue.take(queue.length), true));
    },
  });
}
