// Everything secret about one album, kept off the page's main thread.
//
// This Worker holds the link secret, the link keys, the album key and every file
// key; the page holds none of them. It signs the unlock proof, opens the album and
// file metadata, and fetches and decrypts blobs. The page gets back only what it
// shows: metadata objects and decrypted bytes (transferred, not copied), so a grid
// of thousands of thumbnails never blocks scrolling (MDN, "Using Web Workers").

import * as C from "./crypto.js";
import { linkApi } from "./api.js";
import { serve, transfer } from "./rpc.js";
import { safeBlob } from "./mediatypes.js";

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

  /** Derive the link keys (with the password factor, if any) and sign a challenge. */
  async prove({ challenge, pwFactor }) {
    need(secret, "The link key");
    keys = C.linkKeys(secret, pwFactor ? new Uint8Array(pwFactor) : undefined);
    return C.signProof(keys, linkId, challenge);
  },

  /** Sign a new challenge with the keys already derived (a token refresh). */
  async sign({ challenge }) {
    return C.signProof(need(keys, "The link keys"), linkId, challenge);
  },

  /** Take the unlock answer: keep the token, unwrap the album key, open the album metadata. */
  async unlocked({ token, albumId: album, wrappedAlbumKey, albumMeta }) {
    need(keys, "The link keys");
    api.token = token;
    albumId = album;
    albumKey = C.unwrapAlbumKey(keys.wrapKey, C.b64d(wrappedAlbumKey), linkId);
    return C.openAlbumMeta(albumKey, albumId, C.b64d(albumMeta));
  },

  async setToken({ token }) {
    need(api, "The link").token = token;
    return true;
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
