// A guest's files, prepared and encrypted off the page's main thread.
//
// For each file: exifr reads the EXIF date, camera and GPS; createImageBitmap decodes
// the photo upright (its EXIF orientation applied, HTML Standard "ImageOrientation"),
// or libheif for HEIC, which only Safari draws; draw.js renders the thumb and preview;
// the metadata is sealed and every blob encrypted under a new file key
// (docs/format.md). What cannot be drawn still uploads, with a placeholder. The original is
// encrypted part by part as it is sent, straight from the File, so a large video
// never sits in memory whole.
//
// Keys: the album key comes from the album Worker over a MessageChannel and the
// file keys are made here; neither ever reaches the page, which gets back only the
// ciphertext to send, the file key wrapped under the album key, and what it shows.
// A file drop's guest has no album key: the album Worker sends the album's drop public key
// instead, and each file key is sealed to it (crypto_box_seal; docs/format.md, "File drop"),
// so that not even this browser can open it again; this device keeps its own copy of each file
// key, under a key of the link, only to resume an upload after a reload.

import * as C from "../core/crypto.js";
// The same module crypto.js loads (one instance per worker), for the streaming BLAKE2b below.
import sodium from "../../../vendor/libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs";
// By relative URL: import maps do not apply in workers (see crypto.js).
import exifr from "../../../vendor/exifr/dist/lite.esm.mjs";
import { placeholders, thumbAndPreview } from "./draw.js";
import { EXIF_OPTIONS, fileMeta, mediaType } from "./prepare.js";
import { serve, transfer } from "../core/rpc.js";

let granted;
// {albumId, albumKey, keyEpoch}, or for a drop {albumId, dropPublicKey, keyEpoch, keepKey}, once the
// album Worker (or the owner's page) has sent them; a later grant (the album's keys changed) replaces it.
let album = new Promise((resolve) => {
  granted = resolve;
});
const jobs = new Map(); // file id -> {file, fileKey, header, size}

// A resumed upload re-encrypts the original under the same key and nonce prefix, so it
// must be the same plaintext: a different file with the same name, size and date would
// reuse the keystream (XChaCha20-Poly1305 "must never reuse a nonce with the same key",
// libsodium docs, "AEAD constructions"). The check is a BLAKE2b of the whole file, keyed
// with a subkey of the file key (libsodium crypto_generichash with a key is a MAC), so
// the tag kept in localStorage says nothing about the file to anyone without the album key.
const RESUME_CONTEXT = "fgresume"; // crypto_kdf context: 8 bytes, only used here
const RESUME_TAG_BYTES = 32;
const HASH_SLICE = 4 * 1024 * 1024;

async function plaintextTag(file, fileKey) {
  const state = sodium.crypto_generichash_init(C.kdf(fileKey, 1, RESUME_CONTEXT), RESUME_TAG_BYTES);
  for (let at = 0; at < file.size; at += HASH_SLICE) {
    sodium.crypto_generichash_update(state, new Uint8Array(await file.slice(at, at + HASH_SLICE).arrayBuffer()));
  }
  return C.b64e(sodium.crypto_generichash_final(state, RESUME_TAG_BYTES));
}

function sized(value) {
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

/**
 * A HEIC/HEIF photo decoded by libheif (WebAssembly), upright (libheif applies the
 * file's rotation and mirroring, ISO/IEC 23008-12 "irot"/"imir"); loaded on first use.
 */
async function decodeHeif(file) {
  // By relative URL, as every import in a worker (see crypto.js).
  const { default: libheif } = await import("../../../vendor/libheif-js/libheif-wasm/libheif-bundle.mjs");
  const lib = await libheif();
  const images = new lib.HeifDecoder().decode(new Uint8Array(await file.arrayBuffer()));
  const image = images[0];
  if (!image) throw new Error("no image in this HEIF file");
  try {
    const width = image.get_width();
    const height = image.get_height();
    const target = { data: new Uint8ClampedArray(width * height * 4), width, height };
    const shown = await new Promise((resolve, reject) => {
      image.display(target, (result) => (result ? resolve(result) : reject(new Error("libheif could not decode this file"))));
    });
    return createImageBitmap(new ImageData(shown.data, width, height));
  } finally {
    for (const each of images) if (each.free) each.free();
  }
}

/** The file key as the server keeps it: under the album key, or sealed to the album's drop key. */
function wrapped({ albumId, albumKey, dropPublicKey }, fileKey, fileId) {
  if (dropPublicKey) return C.sealDropFileKey(fileKey, albumId, fileId, dropPublicKey);
  return C.wrapFileKey(albumKey, fileKey, albumId, fileId);
}

/** The file key as this device keeps it to resume after a reload: the server's copy, or for a drop this device's own. */
function kept({ albumId, keepKey }, fileKey, fileId, serverCopy) {
  return keepKey ? C.wrapFileKey(keepKey, fileKey, albumId, fileId) : serverCopy;
}

async function bytesOf(blob) {
  return new Uint8Array(await blob.arrayBuffer());
}

serve({
  /** Take the album id and key from the album Worker's end of a MessageChannel. */
  async connect({ port }) {
    const grant = await new Promise((resolve) => {
      port.onmessage = (event) => resolve(event.data);
    });
    port.close();
    await C.ready();
    const keyEpoch = Number.isSafeInteger(grant.keyEpoch) ? grant.keyEpoch : 0;
    const keys = grant.dropPublicKey
      ? {
          albumId: grant.albumId,
          albumKey: null,
          dropPublicKey: new Uint8Array(grant.dropPublicKey),
          keepKey: new Uint8Array(grant.keepKey),
          keyEpoch,
        }
      : { albumId: grant.albumId, albumKey: new Uint8Array(grant.albumKey), dropPublicKey: null, keepKey: null, keyEpoch };
    if (granted) {
      granted(keys);
      granted = null;
    } else {
      album = Promise.resolve(keys);
    }
    return true;
  },

  /**
   * A prepared file's key for the album's keys as they are now (the server refused the first as
   * stale_key: the owner gave the album a new key meanwhile, and the page granted the new one).
   * The metadata and blobs are sealed under the file key, which does not change.
   */
  async rewrap({ fileId }) {
    const job = jobs.get(fileId);
    if (!job) throw new Error("This upload was not prepared.");
    const keys = await album;
    return { wrappedKey: C.b64e(wrapped(keys, job.fileKey, fileId)), keyEpoch: keys.keyEpoch };
  },

  /**
   * Read, render and encrypt one file's metadata, thumb and preview; make its file
   * key and the original's blob header. `video` ({poster, width, height, duration})
   * comes from the page, where a <video> element can seek (workers have none).
   */
  async prepare({ file, uploader, video }) {
    const keys = await album;
    const { albumId, keyEpoch } = keys;
    const mime = mediaType(file.name, file.type);
    if (!mime) throw Object.assign(new Error("Only photos and videos can be added."), { name: "NotMedia" });
    const kind = mime.startsWith("video/") ? "video" : "photo";
    let tags = null;
    let width;
    let height;
    let images;
    if (kind === "video") {
      width = sized(video && video.width);
      height = sized(video && video.height);
      images = video && video.poster ? await thumbAndPreview(video.poster, true) : await placeholders("Video", file.name);
    } else {
      tags = await exifr.parse(file, EXIF_OPTIONS).catch(() => null);
      let bitmap = null;
      try {
        bitmap = await createImageBitmap(file);
      } catch {
        // Not decodable here: HEIC outside Safari goes to libheif; RAW gets a placeholder.
        if (mime === "image/heic" || mime === "image/heif") bitmap = await decodeHeif(file).catch(() => null);
      }
      if (bitmap) {
        width = bitmap.width;
        height = bitmap.height;
        // JPEG and phones' HEIC photos have no transparency: the faster JPEG encoder (draw.js).
        images = await thumbAndPreview(bitmap, ["image/jpeg", "image/heic", "image/heif"].includes(mime));
      } else {
        const upright = tags && [5, 6, 7, 8].includes(tags.Orientation);
        const w = sized(tags && (tags.ExifImageWidth || tags.ImageWidth));
        const h = sized(tags && (tags.ExifImageHeight || tags.ImageHeight));
        [width, height] = upright ? [h, w] : [w, h];
        const label = mime === "image/heic" || mime === "image/heif" ? "HEIC photo" : "Photo";
        images = await placeholders(label, file.name);
      }
    }
    const fileId = C.newId();
    const fileKey = C.randomKey();
    const thumbPlain = await bytesOf(images.thumb);
    const thumb = C.encryptBlob(fileKey, fileId, "thumb", thumbPlain);
    const preview = C.encryptBlob(fileKey, fileId, "preview", await bytesOf(images.preview));
    const meta = fileMeta({
      name: file.name,
      mime,
      size: file.size,
      kind,
      width,
      height,
      duration: video && video.duration,
      tags,
      thumbType: images.thumb.type || "image/webp",
      previewType: images.preview.type || "image/webp",
      uploader,
    });
    const header = C.blobHeader();
    const size = C.ciphertextSize(file.size);
    jobs.set(fileId, { file, fileKey, header, size });
    const serverCopy = wrapped(keys, fileKey, fileId);
    const result = {
      fileId,
      plainTag: await plaintextTag(file, fileKey),
      wrappedKey: C.b64e(serverCopy),
      keptKey: C.b64e(kept(keys, fileKey, fileId, serverCopy)),
      keyEpoch, // the server refuses a file wrapped under a key the album no longer uses
      meta: C.b64e(C.sealFileMeta(fileKey, albumId, fileId, meta)),
      header: C.b64e(header.bytes),
      chunkSize: header.chunkSize,
      sizes: { thumb: thumb.length, preview: preview.length, original: size },
      blobs: { thumb: thumb.buffer, preview: preview.buffer },
      thumbPlain: thumbPlain.buffer,
      drawn: images.drawn,
      info: meta,
    };
    return transfer(result, [thumb.buffer, preview.buffer, thumbPlain.buffer]);
  },

  /**
   * Pick up an upload begun before a reload, from what the page kept: the wrapped
   * file key (keptKey), the original's blob header and the plaintext's keyed hash. The same key,
   * header and file give the same ciphertext, chunk for chunk, so the rest continues
   * where the server stopped. False, and nothing is encrypted, when the file is not
   * byte for byte the one the upload began with (or the record predates the hash).
   */
  async resume({ file, fileId, wrappedKey, header, plainTag }) {
    const { albumId, albumKey, keepKey } = await album;
    // A drop's file key is sealed to a key this browser cannot open: its own copy is under keepKey.
    let fileKey;
    try {
      fileKey = C.unwrapFileKey(keepKey || albumKey, C.b64d(wrappedKey), albumId, fileId);
    } catch {
      return false; // kept under another key (the link's password changed since): start over
    }
    if (typeof plainTag !== "string" || !C.b64d(plainTag).length) return false;
    const expected = C.b64d(plainTag);
    const actual = C.b64d(await plaintextTag(file, fileKey));
    if (expected.length !== actual.length || !sodium.memcmp(expected, actual)) return false;
    jobs.set(fileId, { file, fileKey, header: C.parseBlobHeader(C.b64d(header)), size: C.ciphertextSize(file.size) });
    return true;
  },

  /** Ciphertext bytes [start, end) of a file's original blob, encrypted from the File now. */
  async part({ fileId, start, end }) {
    const job = jobs.get(fileId);
    if (!job) throw new Error("This upload was not prepared.");
    const { file, fileKey, header, size } = job;
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start < end && end <= size)) {
      throw new RangeError("part outside the blob");
    }
    const { chunkSize } = header;
    // The chunks that overlap [start, end) (format.js), after the header when the part begins in it.
    const { first, last, base } = C.cipherRange(start, end, file.size, chunkSize);
    const count = C.chunkCount(file.size, chunkSize);
    const out = new Uint8Array(C.BLOB_HEADER_BYTES + (last - first + 1) * (chunkSize + C.TAG_BYTES));
    let at = 0;
    if (base === 0) {
      out.set(header.bytes);
      at = C.BLOB_HEADER_BYTES;
    }
    if (last >= first) {
      const slice = file.slice(first * chunkSize, Math.min(file.size, (last + 1) * chunkSize));
      const plain = new Uint8Array(await slice.arrayBuffer());
      for (let i = first; i <= last; i += 1) {
        const chunk = plain.subarray((i - first) * chunkSize, (i - first + 1) * chunkSize);
        const sealed = C.encryptChunk(fileKey, fileId, "original", header, i, chunk, i === count - 1);
        out.set(sealed, at);
        at += sealed.length;
      }
    }
    // A Blob, not bytes: it crosses to the page as a handle, and XMLHttpRequest sends it
    // from the browser's blob store, so the page's main thread never copies the part
    // (a Chromium trace of bench/upload_throughput.py showed those copies on it).
    return new Blob([out.subarray(start - base, end - base)]);
  },

  /** Forget one file's key (sent, cancelled or failed for good). */
  async drop({ fileId }) {
    jobs.delete(fileId);
    return true;
  },

  /** Drop every key (Forget this album). */
  async forget() {
    album = new Promise(() => {}); // nothing more is prepared
    jobs.clear();
    return true;
  },
});
