// Everything secret about one album, kept off the page's main thread.
//
// This Worker holds the link secret, the link keys, the album key and every file
// key; the page holds none of them. It unlocks the link (the link proof, the password
// proof and this browser's device proof over one challenge), opens the album and
// file metadata, and fetches and decrypts blobs. The page gets back only what it
// shows: metadata objects and decrypted bytes (transferred, not copied), so a grid
// of thousands of thumbnails never blocks scrolling (MDN, "Using Web Workers").

import * as C from "../core/crypto.js";
import { linkApi } from "../core/api.js";
import { DeviceKeyUnavailable, markAdmitted, signWithDeviceKey } from "../core/device.js";
import { serve, transfer } from "../core/rpc.js";
import { safeBlob } from "../core/mediatypes.js";

let linkId = null;
let secret = null;
let keys = null;
let api = null;
let albumId = null;
let albumKey = null;
const fileKeys = new Map();
const blobSizes = new Map(); // file id -> the original's ciphertext length, from the listing

function need(value, what) {
  if (!value) throw new Error(`${what} is not ready yet.`);
  return value;
}

/** One file record of the listing, opened; a file that does not open is marked broken. */
function openEntry(entry) {
  const id = entry && entry.file_id;
  const blobs = (entry && entry.blobs) || {};
  const guest = Boolean(entry && entry.guest === true); // the server's flag, never the metadata's name
  if (!C.isId(id)) return { id: null, blobs, meta: null, broken: true, guest };
  try {
    const fileKey = C.unwrapFileKey(albumKey, C.b64d(entry.wrapped_key), albumId, id);
    const meta = C.openFileMeta(fileKey, albumId, id, C.b64d(entry.meta));
    fileKeys.set(id, fileKey);
    if (Number.isSafeInteger(blobs.original)) blobSizes.set(id, blobs.original);
    return { id, blobs, meta, broken: false, guest };
  } catch {
    return { id, blobs, meta: null, broken: true, guest };
  }
}

/**
 * This browser's device proof for a challenge: {device_key, device_proof}, or nothing
 * (and the reason kept) where the browser cannot make a device key. Links without a
 * device limit open without one; a link with one answers device_key_required, and the
 * visitor then reads why this browser cannot.
 */
async function deviceFields(challenge) {
  try {
    const { publicKey, signature } = await signWithDeviceKey(linkId, C.deviceProofMessage(linkId, challenge));
    return { fields: { deviceKey: C.b64e(publicKey), deviceProof: C.b64e(signature) }, problem: null };
  } catch (error) {
    if (error instanceof DeviceKeyUnavailable) return { fields: {}, problem: error };
    throw error;
  }
}

/** POST unlock for one challenge, signed three ways (docs/format.md, "Unlock"). */
async function unlockWith(challenge) {
  const { fields, problem } = await deviceFields(challenge);
  try {
    return await api.unlock({
      challenge,
      linkProof: C.signLinkProof(keys, linkId, challenge),
      proof: C.signProof(keys, linkId, challenge),
      ...fields,
    });
  } catch (error) {
    if (problem && error.code === "device_key_required") throw problem;
    throw error;
  }
}

function plainBuffer(bytes) {
  // Transfer only a buffer that holds exactly these bytes.
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer;
  return bytes.slice().buffer;
}

serve({
  /** Check the fragment (strictly, before any request) and keep it for this link. */
  async open({ linkId: id, fragment }) {
    secret = C.decodeLinkSecret(fragment); // plain base64url: no libsodium needed
    linkId = id;
    api = linkApi(id);
    return true;
  },

  /** Load libsodium (compiling its WebAssembly takes a while: the page asks for the link's info meanwhile). */
  async ready() {
    await C.ready();
    return true;
  },

  /**
   * Refuse a server's Argon2 parameters below the floor, before anything is computed
   * (WeakPasswordParams; docs/format.md, "Argon2id floor").
   */
  async checkPassword({ params }) {
    C.checkPasswordFloor(params);
    return true;
  },

  /**
   * Unlock: derive the link keys first if `derive` (with the password factor, if any),
   * sign `challenge` (or a fresh one: a token refresh) with the link key, the password
   * key and this browser's device key, and POST it. A challenge that expired or was
   * used meanwhile (a slow phone, two tabs) is replaced once. Keeps the access token;
   * answers what the server answered.
   */
  async unlock({ challenge = null, derive = false, pwFactor = null }) {
    need(secret, "The link key");
    if (derive) keys = C.linkKeys(secret, pwFactor ? new Uint8Array(pwFactor) : undefined);
    need(keys, "The link keys");
    let answer;
    try {
      answer = await unlockWith(challenge || (await api.challenge()).challenge);
    } catch (error) {
      if (error.code !== "bad_challenge") throw error;
      answer = await unlockWith((await api.challenge()).challenge);
    }
    api.token = answer.access_token;
    // The next visit then opens at once instead of asking to take a slot (viewer.js).
    await markAdmitted(linkId).catch(() => {});
    return answer;
  },

  /** Take the unlock answer: unwrap the album key, open the album metadata. */
  async unlocked({ albumId: album, wrappedAlbumKey, albumMeta }) {
    need(keys, "The link keys");
    albumId = album;
    albumKey = C.unwrapAlbumKey(keys.wrapKey, C.b64d(wrappedAlbumKey), linkId);
    return C.openAlbumMeta(albumKey, albumId, C.b64d(albumMeta));
  },

  /** One page of the listing, every entry opened. */
  async page({ after, limit }) {
    need(albumKey, "The album key");
    const page = await api.files(after, limit);
    const files = Array.isArray(page.files) ? page.files.map(openEntry) : [];
    return { files, next: typeof page.next === "string" ? page.next : null };
  },

  /**
   * One blob, fetched and decrypted. Thumbs and previews come back as a transferred
   * ArrayBuffer; originals are decrypted as a stream into a Blob, which the browser
   * may keep on disk, so a large video never sits in this Worker's memory whole.
   */
  async blob({ fileId, kind, type }) {
    const fileKey = fileKeys.get(fileId);
    if (!fileKey) throw new Error("This file has no key.");
    const response = await api.blob(fileId, kind);
    if (kind === "original") {
      const plain = response.body.pipeThrough(C.decryptBlobStream(fileKey, fileId, kind));
      const blob = await new Response(plain).blob();
      // Typed only as the allowlist and the file's first bytes allow (mediatypes.js): a guest chose `type`.
      return safeBlob(blob, type);
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    const plain = plainBuffer(C.decryptBlob(fileKey, fileId, kind, bytes));
    return transfer(plain, [plain]);
  },

  /**
   * An original as a decrypted stream, transferred to the page (MDN, "Transferable
   * objects": ReadableStream): "download all" with the File System Access API.
   */
  async originalStream({ fileId }) {
    const fileKey = fileKeys.get(fileId);
    if (!fileKey) throw new Error("This file has no key.");
    const response = await api.blob(fileId, "original");
    const plain = response.body.pipeThrough(C.decryptBlobStream(fileKey, fileId, "original"));
    return transfer(plain, [plain]);
  },

  /**
   * Post one file's key and blob size on a port whose other end goes to the
   * Service Worker (static/js/sw.js), so that it never crosses the page.
   */
  async grantFile({ fileId, port }) {
    port.postMessage({ fileKey: fileKeys.get(fileId) || null, blobSize: blobSizes.get(fileId) ?? null });
    port.close();
    return true;
  },

  /** The keys of many files on such a port ("download all"). */
  async grantFiles({ fileIds, port }) {
    const granted = {};
    for (const id of fileIds) if (fileKeys.has(id)) granted[id] = fileKeys.get(id);
    port.postMessage({ keys: granted });
    port.close();
    return true;
  },

  /**
   * Post the album id and key on a port whose other end goes to the upload Worker
   * (static/js/upload-worker.js), so that the key never crosses the page.
   */
  async grantUpload({ port }) {
    port.postMessage({ albumId: need(albumId, "The album"), albumKey: need(albumKey, "The album key") });
    port.close();
    return true;
  },

  /** A file this visitor just uploaded, opened like a listed one (its thumb then decrypts as usual). */
  async adopt({ entry }) {
    need(albumKey, "The album key");
    return openEntry(entry);
  },

  /** Drop every key (Forget this album). */
  async forget() {
    secret = keys = albumKey = null;
    fileKeys.clear();
    blobSizes.clear();
    return true;
  },
});
