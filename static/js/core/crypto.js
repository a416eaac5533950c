// Format v1 in the browser: link keys, wrapped keys, sealed metadata and STREAM blobs.
//
// This is the JavaScript half of the byte-level contract in docs/format.md; the
// Python half is viewer/crypto.py, and both are tested against docs/vectors.json
// (tests/test_browser_crypto.py runs this file in Chromium under the real CSP).
// Bytes in, bytes out: no DOM, no fetch, no storage, so the same module runs on a
// page, in a Worker and in a (module) Service Worker.
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

export const FORMAT_VERSION = 1;
/** Blob kinds and their kind byte (docs/format.md, "Blobs"). */
export const KINDS = Object.freeze({ thumb: 1, preview: 2, original: 3 });

export const ID_BYTES = 16; // 128-bit ids (docs/design.md, "Key hierarchy": ids of 128 bits)
export const KEY_BYTES = 32;
export const NONCE_BYTES = 24; // crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
export const TAG_BYTES = 16; // crypto_aead_xchacha20poly1305_ietf_ABYTES
export const SALT_BYTES = 16; // crypto_pwhash_SALTBYTES
export const SIGNATURE_BYTES = 64;
export const BLOB_HEADER_BYTES = 24; // "FRB1" | u32be(chunk size) | prefix(16)
export const BLOB_PREFIX_BYTES = 16;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const MIN_CHUNK_SIZE = 1024;
export const MAX_CHUNK_SIZE = 4 * 1024 * 1024;

// Password parameter bounds, as PasswordParams.from_json (docs/format.md, "Password
// factor"): the minimums are libsodium's Argon2id minimums, the ceilings keep a link
// from exhausting a visitor's memory.
const PW_OPSLIMIT_MIN = 1;
const PW_OPSLIMIT_MAX = 10;
const PW_MEMLIMIT_MIN = 8 * 1024;
const PW_MEMLIMIT_MAX = 1024 * 1024 * 1024;
// The floor a client accepts from a server before it hashes a password: OWASP Password
// Storage Cheat Sheet, "Argon2id: m=19456 (19 MiB), t=2, p=1" as the minimum. Below it a
// malicious server could collect proofs that are cheap to brute-force offline
// (docs/format.md, "Argon2id floor"). The factor function itself keeps libsodium's
// minimums, so that the test vectors stay cheap.
export const PW_OPSLIMIT_FLOOR = 2;
export const PW_MEMLIMIT_FLOOR = 19 * 1024 * 1024;

const encoder = new TextEncoder();
const ascii = (text) => encoder.encode(text);

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
// Sealed metadata is padded to at least this many bytes (docs/format.md, "Padding").
const META_MIN_PADDED = 256;
const BLOB_MAGIC = ascii("FRB1");

/** Input that is not well-formed format v1 (encoding, length, header, JSON). */
export class FormatError extends Error {
  constructor(message) {
    super(message);
    this.name = "FormatError";
  }
}

/** Authentication failed: a wrong key, or changed, truncated or reordered data. */
export class DecryptionError extends Error {
  constructor(message = "wrong key, or the data was changed") {
    super(message);
    this.name = "DecryptionError";
  }
}

/** The server sent Argon2 parameters below the floor: refused before anything is computed. */
export class WeakPasswordParams extends Error {
  constructor() {
    super(
      "This link's password settings are weaker than Fragment allows, so the password could be guessed offline. " +
        "Ask the owner for a new link.",
    );
    this.name = "WeakPasswordParams";
  }
}

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

// --- bytes -------------------------------------------------------------------

function bytes(value, what) {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  return value;
}

function sized(value, length, what) {
  if (bytes(value, what).length !== length) throw new FormatError(`${what} must be ${length} bytes, not ${value.length}`);
  return value;
}

function concat(...parts) {
  return join(parts);
}

function join(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function randomBytes(length) {
  // The same source libsodium.js itself draws from (its getRandomValue hook).
  return crypto.getRandomValues(new Uint8Array(length));
}

// --- encodings (docs/format.md, "Conventions") ---------------------------------

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Base64url without padding (RFC 4648 section 5). */
export function b64e(data) {
  bytes(data, "data");
  // Plain JS rather than sodium.to_base64, so that the fragment can be parsed (and
  // removed from the address bar) before libsodium has loaded.
  let binary = "";
  for (let i = 0; i < data.length; i += 0x8000) binary += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decode canonical unpadded base64url, optionally of an exact length; FormatError otherwise. */
export function b64d(text, length) {
  // Rules 1 and 2: only the URL-safe alphabet, no padding, no impossible length.
  if (typeof text !== "string" || !B64URL.test(text) || text.length % 4 === 1) throw new FormatError("not base64url");
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice(0, (4 - (text.length % 4)) % 4));
  const data = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  // Rule 3: one spelling per value (no non-zero trailing bits), so ids compare as strings.
  if (b64e(data) !== text) throw new FormatError("not canonical base64url");
  // Rule 4.
  if (length !== undefined && length !== null && data.length !== length) {
    throw new FormatError(`expected ${length} bytes, got ${data.length}`);
  }
  return data;
}

/** True if text is a well-formed v1 id (16 bytes, 22 characters). */
export function isId(text) {
  try {
    b64d(text, ID_BYTES);
    return true;
  } catch {
    return false;
  }
}

/** A fresh random 128-bit id. */
export function newId() {
  return b64e(randomBytes(ID_BYTES));
}

/** 32 random bytes for an album key, a file key or a link secret. */
export function randomKey() {
  return randomBytes(KEY_BYTES);
}

const idBytes = (id, what = "id") => {
  try {
    return b64d(id, ID_BYTES);
  } catch (error) {
    throw new FormatError(`${what} is not a v1 id: ${error.message}`);
  }
};

// --- links (docs/format.md, "The link", "Password factor", "Link keys") ----------

/** The 32-byte link secret from a URL fragment (with or without its leading "#"). */
export function decodeLinkSecret(fragment) {
  const text = typeof fragment === "string" && fragment.startsWith("#") ? fragment.slice(1) : fragment;
  try {
    return b64d(text, KEY_BYTES);
  } catch {
    throw new FormatError("the link is incomplete: the part after # must be 43 characters of base64url");
  }
}

/** The URL fragment for a link secret. */
export function encodeLinkSecret(secret) {
  return b64e(sized(secret, KEY_BYTES, "link secret"));
}

function integer(value, what) {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw new FormatError(`password ${what} must be an integer`);
  return value;
}

/** Parse and bound-check the API's password parameters, as PasswordParams.from_json. */
export function passwordParams(params) {
  if (params === null || typeof params !== "object") throw new FormatError("bad password parameters");
  if ((params.alg ?? "argon2id13") !== "argon2id13") throw new FormatError("unknown password algorithm");
  const salt = b64d(params.salt, SALT_BYTES);
  const opslimit = integer(params.opslimit, "opslimit");
  const memlimit = integer(params.memlimit, "memlimit");
  if (opslimit < PW_OPSLIMIT_MIN || opslimit > PW_OPSLIMIT_MAX) throw new FormatError("password opslimit out of range");
  if (memlimit < PW_MEMLIMIT_MIN || memlimit > PW_MEMLIMIT_MAX) throw new FormatError("password memlimit out of range");
  return { salt, opslimit, memlimit };
}

/**
 * The parameters if they are at least the floor (PW_OPSLIMIT_FLOOR, PW_MEMLIMIT_FLOOR);
 * WeakPasswordParams otherwise, FormatError if they are not parameters at all. Clients
 * call it on what the server sent before they run Argon2.
 */
export function checkPasswordFloor(params) {
  const checked = passwordParams(params);
  if (checked.opslimit < PW_OPSLIMIT_FLOOR || checked.memlimit < PW_MEMLIMIT_FLOOR) throw new WeakPasswordParams();
  return checked;
}

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

// --- sealed values (docs/format.md, "Sealed values") ---------------------------

function seal(key, plaintext, ad, nonce) {
  sized(key, KEY_BYTES, "key");
  // A random 192-bit nonce needs no counter (libsodium docs, "XChaCha20-Poly1305
  // construction"); a fixed one is for the test vectors only.
  nonce = nonce === undefined || nonce === null ? randomBytes(NONCE_BYTES) : sized(nonce, NONCE_BYTES, "nonce");
  return concat(nonce, need().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key));
}

function openSealed(key, sealed, ad) {
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

/**
 * Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
 * Communication with PURBs", PETS 2019, section 4): the padded length for L > 0,
 * at most about 12% more, and it leaks O(log log L) bits of L.
 */
export function padme(length) {
  if (!Number.isSafeInteger(length) || length < 1) throw new FormatError("padme needs a positive length");
  if (length < 2) return length; // E = 0 has no log2: nothing to round
  const e = floorLog2(length);
  const z = e - (floorLog2(e) + 1);
  // (L + m) & ~m with m = 2^z - 1, in arithmetic that does not stop at 32 bits.
  const step = 2 ** z;
  return Math.ceil(length / step) * step;
}

/** The length sealed metadata of `length` JSON bytes is padded to: padme(max(L, 256)). */
export function paddedMetaLength(length) {
  return padme(Math.max(length, META_MIN_PADDED));
}

// floor(log2 n) for a positive integer, exactly (Math.log2 rounds near powers of two).
function floorLog2(n) {
  let e = 0;
  while (2 ** (e + 1) <= n) e += 1;
  return e;
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

// --- blobs: STREAM (docs/format.md, "Blobs", "Sizes", "Random access") ----------

function size(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) throw new FormatError(`${what} must be a non-negative integer`);
  return value;
}

function checkChunkSize(chunkSize) {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new FormatError("blob chunk size out of range");
  }
  return chunkSize;
}

/** Chunks for a plaintext: at least one, so an empty blob still has a last chunk. */
export function chunkCount(plainSize, chunkSize = DEFAULT_CHUNK_SIZE) {
  return Math.max(1, Math.ceil(size(plainSize, "plaintext size") / checkChunkSize(chunkSize)));
}

/** Blob length for a plaintext length: 24 + P + 16·n. */
export function ciphertextSize(plainSize, chunkSize = DEFAULT_CHUNK_SIZE) {
  return BLOB_HEADER_BYTES + plainSize + TAG_BYTES * chunkCount(plainSize, chunkSize);
}

/** Plaintext length for a blob length; FormatError if no plaintext has that blob length. */
export function plaintextSize(blobSize, chunkSize = DEFAULT_CHUNK_SIZE) {
  const body = size(blobSize, "blob size") - BLOB_HEADER_BYTES;
  checkChunkSize(chunkSize);
  if (body < TAG_BYTES) throw new FormatError("blob is too short");
  const plain = body - TAG_BYTES * Math.ceil(body / (chunkSize + TAG_BYTES));
  // Refuses a last chunk shorter than its tag and an empty chunk after full ones.
  if (plain < 0 || ciphertextSize(plain, chunkSize) !== blobSize) {
    throw new FormatError("blob length is impossible for its chunk size");
  }
  return plain;
}

/**
 * A blob header for encryption: {chunkSize, prefix, bytes}; the prefix is random unless given.
 * @param {{chunkSize?: number, prefix?: Uint8Array | null}} [options]
 */
export function blobHeader({ chunkSize = DEFAULT_CHUNK_SIZE, prefix } = {}) {
  checkChunkSize(chunkSize);
  prefix = prefix === undefined || prefix === null ? randomBytes(BLOB_PREFIX_BYTES) : sized(prefix, BLOB_PREFIX_BYTES, "prefix");
  const out = concat(BLOB_MAGIC, new Uint8Array(4), prefix);
  new DataView(out.buffer).setUint32(4, chunkSize, false);
  return { chunkSize, prefix: out.slice(8), bytes: out };
}

/** Parse the first 24 bytes of a blob: {chunkSize, prefix, bytes}; FormatError if not v1. */
export function parseBlobHeader(data) {
  bytes(data, "blob header");
  if (data.length < BLOB_HEADER_BYTES || BLOB_MAGIC.some((b, i) => data[i] !== b)) {
    throw new FormatError("not a v1 blob (bad magic)");
  }
  const chunkSize = new DataView(data.buffer, data.byteOffset, 8).getUint32(4, false);
  checkChunkSize(chunkSize);
  const head = data.slice(0, BLOB_HEADER_BYTES);
  return { chunkSize, prefix: head.slice(8), bytes: head };
}

/**
 * Which ciphertext bytes hold the plaintext range [start, end) (end exclusive; HTTP
 * Range "bytes=a-b" is start = a, end = b + 1): {first, last, ctStart, ctEnd, skip}.
 * Fetch [ctStart, ctEnd), decrypt piece k as chunk first + k, keep end - start bytes
 * from skip. The last flag comes from the blob's chunk count, never from "the last
 * piece fetched" (docs/format.md, "Random access").
 */
export function chunkSpan(start, end, blobSize, chunkSize = DEFAULT_CHUNK_SIZE) {
  const plain = plaintextSize(blobSize, chunkSize);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || !(start >= 0 && start < end && end <= plain)) {
    throw new FormatError("range outside the plaintext");
  }
  const first = Math.floor(start / chunkSize);
  const last = Math.floor((end - 1) / chunkSize);
  const stride = chunkSize + TAG_BYTES;
  return {
    first,
    last,
    ctStart: BLOB_HEADER_BYTES + first * stride,
    ctEnd: Math.min(BLOB_HEADER_BYTES + (last + 1) * stride, blobSize),
    skip: start - first * chunkSize,
  };
}

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
