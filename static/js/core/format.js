// Format v1 without libsodium: constants, base64url, ids, the link's fragment, password
// parameters, padding and the blob arithmetic (sizes, headers, which chunks hold a range).
//
// Everything here is arithmetic and byte layout from docs/format.md; nothing needs
// libsodium, so page code that only needs a constant or a chunk boundary (uploads.js)
// imports this module without loading libsodium's WebAssembly, and every such computation
// is written once, here, and tested against docs/vectors.json and viewer/crypto.py
// (tests/test_browser_crypto.py). crypto.js imports it and re-exports its public names,
// so that code which encrypts or decrypts has one module to import.
//
// Errors: input that is not well-formed v1 throws FormatError. DecryptionError lives here
// too, so that code which never decrypts (the Service Worker's checks) can name it.

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
// The cost of new parameters, as PasswordParams.new: libsodium's "interactive" memory with
// one more pass (docs/format.md, "Password factor"; 64 MiB stays usable on phones).
export const PW_OPSLIMIT = 3;
export const PW_MEMLIMIT = 64 * 1024 * 1024;

export const encoder = new TextEncoder();
export const ascii = (text) => encoder.encode(text);

// Sealed metadata is padded to at least this many bytes (docs/format.md, "Padding").
const META_MIN_PADDED = 256;
export const BLOB_MAGIC = ascii("FRB1");

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

/**
 * The server sent Argon2 parameters below the floor: refused before anything is computed. The
 * message is a link's unless given (account.js gives an account's).
 */
export class WeakPasswordParams extends Error {
  /** @param {string} [message] */
  constructor(
    message = "This link's password settings are weaker than Fragment allows, so the password could be guessed offline. " +
      "Ask the owner for a new link.",
  ) {
    super(message);
    this.name = "WeakPasswordParams";
  }
}

// --- bytes -------------------------------------------------------------------

export function bytes(value, what) {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  return value;
}

export function sized(value, length, what) {
  if (bytes(value, what).length !== length) throw new FormatError(`${what} must be ${length} bytes, not ${value.length}`);
  return value;
}

export function concat(...parts) {
  return join(parts);
}

export function join(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function randomBytes(length) {
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
  // Never beginning with '-', which a command line would read as an option (docs/format.md, Ids).
  for (;;) {
    const text = b64e(randomBytes(ID_BYTES));
    if (!text.startsWith("-")) return text;
  }
}

/** 32 random bytes for an album key, a file key or a link secret. */
export function randomKey() {
  return randomBytes(KEY_BYTES);
}

export const idBytes = (id, what = "id") => {
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
 * Fresh parameters in the API's shape, with a random salt (PasswordParams.new): for a new
 * account or a new password. The default cost passes the floor.
 * @param {number} [opslimit]
 * @param {number} [memlimit]
 * @returns {{alg: string, salt: string, opslimit: number, memlimit: number}}
 */
export function newPasswordParams(opslimit = PW_OPSLIMIT, memlimit = PW_MEMLIMIT) {
  const params = { alg: "argon2id13", salt: b64e(randomBytes(SALT_BYTES)), opslimit, memlimit };
  passwordParams(params); // a cost out of bounds is the caller's mistake: say so now, not at sign-in
  return params;
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


// --- blobs: STREAM (docs/format.md, "Blobs", "Sizes", "Random access") ----------

function size(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) throw new FormatError(`${what} must be a non-negative integer`);
  return value;
}

export function checkChunkSize(chunkSize) {
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

/**
 * The chunks of a span (from chunkSpan) as they lie in the fetched bytes [ctStart, ctEnd):
 * [{index, start, end, last}], start and end counted from ctStart. Piece k is chunk
 * first + k, cut every C + 16 bytes (the final piece shorter when it is the blob's last
 * chunk), and `last` is true only for the blob's last chunk, n - 1, whatever was fetched
 * (docs/format.md, "Random access").
 * @param {{first: number, last: number, ctStart: number, ctEnd: number}} span
 * @param {number} blobSize
 * @param {number} [chunkSize]
 */
export function spanChunks(span, blobSize, chunkSize = DEFAULT_CHUNK_SIZE) {
  const n = chunkCount(plaintextSize(blobSize, chunkSize), chunkSize);
  const stride = chunkSize + TAG_BYTES;
  const length = span.ctEnd - span.ctStart;
  const out = [];
  for (let index = span.first; index <= span.last; index += 1) {
    const start = (index - span.first) * stride;
    out.push({ index, start, end: Math.min(start + stride, length), last: index === n - 1 });
  }
  return out;
}

/**
 * Which chunks a ciphertext byte range [start, end) of a blob overlaps, for encrypting
 * just that part of it (an upload sent in parts): {first, last, base}. Chunks first..last
 * (none when last < first: the range lies inside the header) encrypted one after the
 * other, after the header when base is 0, cover the blob from byte `base`; keep
 * [start - base, end - base) of them.
 * @param {number} start
 * @param {number} end
 * @param {number} plainSize
 * @param {number} [chunkSize]
 */
export function cipherRange(start, end, plainSize, chunkSize = DEFAULT_CHUNK_SIZE) {
  const blobSize = ciphertextSize(plainSize, chunkSize);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || !(start >= 0 && start < end && end <= blobSize)) {
    throw new FormatError("range outside the blob");
  }
  const stride = chunkSize + TAG_BYTES;
  const n = chunkCount(plainSize, chunkSize);
  const first = Math.max(0, Math.floor((start - BLOB_HEADER_BYTES) / stride));
  const last = Math.min(n - 1, Math.floor((end - 1 - BLOB_HEADER_BYTES) / stride));
  return { first, last, base: start < BLOB_HEADER_BYTES ? 0 : BLOB_HEADER_BYTES + first * stride };
}

/**
 * Where the upload part of a blob that begins at `start` ends: whole chunks only (the first
 * part also carries the header), so that a part the server keeps is never half a chunk;
 * at most `maxPart` bytes, but at least one chunk however small maxPart is.
 * @param {number} start  0, or where the previous part ended
 * @param {number} blobSize
 * @param {number} maxPart
 * @param {number} [chunkSize]
 */
export function partEnd(start, blobSize, maxPart, chunkSize = DEFAULT_CHUNK_SIZE) {
  checkChunkSize(chunkSize);
  const stride = chunkSize + TAG_BYTES;
  const perPart = Math.max(1, Math.floor((maxPart - BLOB_HEADER_BYTES) / stride)) * stride;
  return Math.min(blobSize, start === 0 ? BLOB_HEADER_BYTES + perPart : start + perPart);
}
