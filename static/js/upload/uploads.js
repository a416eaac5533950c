// A guest's upload queue: prepare, reserve, send in parts, complete. No DOM.
//
// Each file goes through the three steps of docs/api.md ("Uploads"), a few files at
// a time. The server has the last word on limits, but what the page already knows
// (the largest file, the space left) is checked first, so that no bytes are
// prepared or sent for a file that cannot fit. Parts are retried after network
// errors; a part the server already has is skipped (409 offset_mismatch carries
// where it stands). A reload loses nothing sent: each reservation is remembered on
// this device (its file key wrapped under the album key, never in the clear), and
// choosing the same file again continues where the server stopped, because the same
// key and header encrypt the same file to the same bytes. "The same file" is checked
// by a keyed hash of its bytes (upload-worker.js), not by its name, size and date: a
// different file would reuse the keystream, so it starts over under a new key.
//
// The queue reports every change as a "change" event whose detail is the item, and
// a finished file as a "done" event; upload-ui.js shows them.

// format.js, not crypto.js: only the chunk arithmetic, without loading libsodium on the page.
import { partEnd } from "../core/format.js";
import { mediaType } from "./prepare.js";

const PARALLEL = 3; // files in flight at once: enough to fill the link, few enough to keep memory low
const PART_TARGET = 4 * 1024 * 1024; // smaller than the server's limit, so a lost part costs less
const RETRIES = 4; // automatic attempts after a network error, 1, 2, 4 and 8 s apart
const TRANSPORT = new Set([408, 429, 500, 502, 503, 504]);
// Answers that end the upload of every file, not only this one (the link changed).
// Not not_found: a reservation that expired is one file's problem.
const LINK_GONE = new Set(["uploads_off", "expired", "revoked", "device_limit"]);
// 507: the server's disk or bucket is full. Sending again, or sending other files, cannot
// help until its operator makes room (RFC 4918 section 11.5), so the queue stops at once.
const STORAGE_FULL = "storage_full";

// The server's answers that trying the same file again cannot change: it is too large for the link.
const FOR_GOOD = new Set(["file_too_large"]);

/**
 * A failure the queue explains; `code` is the server's, when it decided. `retryable` is false when
 * sending the same file again cannot help (not a photo, larger than the link takes), so no Retry is offered.
 */
class UploadFailed extends Error {
  constructor(message, code = null, retryable = !FOR_GOOD.has(code)) {
    super(message);
    this.name = "UploadFailed";
    this.code = code;
    this.retryable = retryable;
  }
}

function mb(bytes) {
  return bytes < 1e9 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e9).toFixed(2)} GB`;
}

function wait(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("The upload was cancelled.", "AbortError"));
    });
  });
}

/** What a person should read for an error of a step. */
function explain(error) {
  if (error.name === "UploadFailed") return error;
  if (error.name === "NetworkError") return new UploadFailed("The connection was lost. Check it, then try again.");
  if (error.name === "NotMedia") return new UploadFailed("Only photos and videos can be added.", null, false);
  if (error.name === "ApiError") {
    const message = {
      uploads_off: "The owner has turned off adding photos to this album. Nothing of this file was kept.",
      expired: "This link has expired, so no more photos can be added.",
      revoked: "This link has been revoked, so no more photos can be added.",
      not_found: "This upload is no longer on the server; try again to send it anew.",
      stale_key: "The album's key changed while this file was sent. Try again to send it under the new one.",
    }[error.code];
    return new UploadFailed(message || error.message, error.code);
  }
  if (error.name === "WorkerFailed") {
    return new UploadFailed("This browser stopped preparing the file. Reload the page and try again.");
  }
  console.warn("Fragment uploads:", error);
  return new UploadFailed("This file could not be prepared for upload.");
}

/** A failed file that sending again may help (the link may change, the connection come back). */
function retryable(item) {
  return item.state === "failed" && !(item.error && item.error.retryable === false);
}

export class UploadQueue extends EventTarget {
  /**
   * @param {object} options
   * @param {ReturnType<typeof linkCalls>} options.api  the link's API, through the album Worker
   * @param {import("../core/rpc.js").WorkerClient} options.worker  the upload Worker
   * @param {(file: File) => Promise<{poster, width, height, duration}>} options.videoFacts  from the page
   * @param {() => string} options.uploader  the guest's name
   * @param {Storage} options.storage  localStorage
   * @param {string} options.prefix  its key prefix
   * @param {() => Promise<void>} [options.renewKeys]  after a 409 stale_key (the album got a new key
   *   meanwhile): get the album's keys as they are now to the upload Worker, so the file key is wrapped again
   */
  constructor({ api, worker, videoFacts, uploader, storage, prefix, renewKeys = null }) {
    super();
    this.renewKeys = renewKeys;
    this.api = api;
    this.worker = worker;
    this.videoFacts = videoFacts;
    this.uploader = uploader;
    this.storage = storage;
    this.prefix = `${prefix}upload:`;
    this.items = [];
    this.limits = null;
    this.stopped = null; // a link-wide failure: nothing more is started until a retry
    this.next = 1;
  }

  // --- what the page asks -------------------------------------------------------

  /** Fetch the link's limits (the largest file, the room left). */
  async refreshLimits() {
    this.limits = await this.api.uploadLimits();
    this.emit("limits", this.limits);
    return this.limits;
  }

  /** Queue files (a FileList or an array); each is checked against the limits first. */
  add(files) {
    // Choosing files again is trying again: the link may have changed since a stop.
    if (this.stopped) this.stopped = this.limits = null;
    for (const file of files) {
      // A file chosen again that failed takes its own row again, with the link's limits read anew
      // (the way to send a file that was too large, once the owner allows more).
      const again = this.items.find((item) => item.state === "failed" && this.recordKey(item.file) === this.recordKey(file));
      if (again) {
        this.limits = null;
        this.set(again, { state: "waiting", error: null, file });
        continue;
      }
      const item = {
        id: this.next++,
        file,
        name: file.name,
        size: file.size,
        state: "waiting",
        sent: 0,
        total: 0,
        error: null,
        fileId: null,
        controller: null,
        thumb: null,
        info: null,
      };
      this.items.push(item);
      this.emit("change", item);
    }
    this.pump();
  }

  retry(item) {
    if (!retryable(item)) return;
    // The owner may have changed the link meanwhile (more space, uploads back on).
    this.stopped = this.limits = null;
    this.set(item, { state: "waiting", error: null });
    this.pump();
  }

  retryFailed() {
    this.stopped = this.limits = null;
    for (const item of this.items) if (retryable(item)) this.set(item, { state: "waiting", error: null });
    this.pump();
  }

  /** Stop one file and give back what the server held for it. */
  async cancel(item) {
    if (["done", "cancelled"].includes(item.state)) return;
    const wasRunning = item.controller !== null;
    if (item.controller) item.controller.abort();
    this.set(item, { state: "cancelled", error: null });
    if (!wasRunning) await this.discard(item);
    this.pump();
  }

  async cancelAll() {
    await Promise.all(this.items.map((item) => this.cancel(item)));
  }

  /** True while any file is being prepared or sent (the page warns before unloading). */
  get busy() {
    return this.items.some((item) => ["waiting", "preparing", "uploading"].includes(item.state));
  }

  /** Counts and bytes for the overall progress bar. */
  totals() {
    const live = this.items.filter((item) => item.state !== "cancelled");
    const count = (state) => live.filter((item) => item.state === state).length;
    // The bar measures what is sent and what can still be: a refused file is not waited for.
    const sending = live.filter((item) => item.state !== "failed");
    return {
      files: live.length,
      done: count("done"),
      failed: count("failed"),
      retryable: live.filter(retryable).length,
      active: live.filter((item) => ["waiting", "preparing", "uploading"].includes(item.state)).length,
      // Before a file is prepared its size stands in for its ciphertext (within a percent).
      total: sending.reduce((sum, item) => sum + (item.total || item.size), 0),
      sent: sending.reduce((sum, item) => sum + (item.state === "done" ? item.total : item.sent), 0),
    };
  }

  /** Uploads begun on this device that did not finish: [{name, size}], to choose again. */
  unfinished() {
    const waiting = new Set(this.items.map((item) => this.recordKey(item.file)));
    const out = [];
    for (let i = 0; i < this.storage.length; i += 1) {
      const key = this.storage.key(i);
      if (!key.startsWith(this.prefix) || waiting.has(key)) continue;
      try {
        const record = JSON.parse(this.storage.getItem(key));
        out.push({ key, name: record.name, size: record.size });
      } catch {
        this.storage.removeItem(key);
      }
    }
    return out;
  }

  /** Give up uploads begun before a reload: the server drops their parts and quota. */
  async discardUnfinished() {
    for (const { key } of this.unfinished()) {
      const record = JSON.parse(this.storage.getItem(key));
      this.storage.removeItem(key);
      await this.api.cancel(record.fileId).catch(() => {});
    }
    await this.refreshLimits().catch(() => {});
  }

  // --- the queue ------------------------------------------------------------------

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  set(item, changes) {
    Object.assign(item, changes);
    this.emit("change", item);
  }

  pump() {
    if (this.stopped) return;
    let running = this.items.filter((item) => item.controller !== null).length;
    for (const item of this.items) {
      if (running >= PARALLEL) break;
      if (item.state !== "waiting") continue;
      running += 1;
      this.run(item);
    }
  }

  async run(item) {
    const controller = new AbortController();
    item.controller = controller;
    try {
      await this.upload(item, controller.signal);
    } catch (error) {
      if (controller.signal.aborted) {
        // Cancelled, or stopped with the rest by stopAll (which already said why).
        await this.discard(item);
      } else {
        const failed = explain(error);
        // A failure the server decided (quota, size, a refused blob) leaves nothing
        // worth resuming: drop the reservation now so its quota comes back at once.
        if (failed.code && !LINK_GONE.has(failed.code)) await this.discard(item);
        if (LINK_GONE.has(failed.code) || failed.code === STORAGE_FULL) this.stopAll(failed);
        this.set(item, { state: "failed", error: failed });
      }
    } finally {
      item.controller = null;
      this.pump();
    }
  }

  /** The link stopped taking files: every file not yet sent fails with the same message. */
  stopAll(failed) {
    this.stopped = failed;
    for (const item of this.items) {
      if (item.state !== "waiting" && !item.controller) continue;
      this.set(item, { state: "failed", error: failed });
      if (item.controller) item.controller.abort();
    }
  }

  recordKey(file) {
    return `${this.prefix}${file.name}:${file.size}:${file.lastModified}`;
  }

  async discard(item) {
    const key = this.recordKey(item.file);
    const record = this.storage.getItem(key);
    this.storage.removeItem(key);
    const fileId = item.fileId || (record && JSON.parse(record).fileId);
    if (fileId) {
      await this.api.cancel(fileId).catch(() => {});
      await this.worker.call("drop", { fileId }).catch(() => {});
    }
    item.fileId = null;
    if (this.limits) this.refreshLimits().catch(() => {});
  }

  /** A step against the server, with network retries (the album Worker renews a refused token). */
  async attempt(item, signal, step) {
    for (let tries = 0; ; tries += 1) {
      try {
        return await step();
      } catch (error) {
        if (signal.aborted) throw error;
        const transport = error.name === "NetworkError" || (error.name === "ApiError" && TRANSPORT.has(error.status));
        if (!transport || tries >= RETRIES) throw error;
        const seconds = error.retryAfter || 2 ** tries;
        this.set(item, { note: `Connection lost, trying again in ${seconds} s…` });
        await wait(seconds * 1000, signal);
        this.set(item, { note: null });
      }
    }
  }

  checkLimits(item) {
    const limits = this.limits;
    if (!limits) return;
    if (item.size > limits.max_file_size) {
      const message = `This file is ${mb(item.size)}; the largest file this link takes is ${mb(limits.max_file_size)}.`;
      throw new UploadFailed(message, null, false);
    }
    if (limits.files_left < 1) throw new UploadFailed("This link's upload space is full: it takes no more files.");
    if (item.size > limits.bytes_left) {
      throw new UploadFailed(
        `This file is ${mb(item.size)}, and this link has only ${mb(limits.bytes_left)} of upload space left.`,
      );
    }
  }

  async upload(item, signal) {
    this.set(item, { state: "preparing", sent: 0, note: null });
    if (!mediaType(item.name, item.file.type)) throw new UploadFailed("Only photos and videos can be added.", null, false);
    if (!this.limits) await this.attempt(item, signal, () => this.refreshLimits());
    this.checkLimits(item);
    const key = this.recordKey(item.file);
    let job = await this.resume(item, key, signal);
    if (!job) job = await this.prepare(item, key, signal);
    item.fileId = job.fileId;
    const total = job.sizes.thumb + job.sizes.preview + job.sizes.original;
    this.set(item, { state: "uploading", total });

    let received = job.received;
    const sentSoFar = () => received.thumb + received.preview + received.original;
    this.set(item, { sent: sentSoFar() });
    for (const kind of ["thumb", "preview", "original"]) {
      const size = job.sizes[kind];
      while (received[kind] < size) {
        const start = received[kind];
        // Whole chunks a part, the header with the first (format.js partEnd).
        const end = partEnd(start, size, Math.min(job.partSize, PART_TARGET), job.chunkSize);
        // A Blob either way: XMLHttpRequest sends it without the main thread copying it.
        const part =
          kind === "original"
            ? await this.worker.call("part", { fileId: job.fileId, start, end })
            : new Blob([job.blobs[kind].subarray(start, end)]);
        if (signal.aborted) throw new DOMException("The upload was cancelled.", "AbortError");
        try {
          const answer = await this.attempt(item, signal, () =>
            this.api.putPart(job.fileId, kind, start, part, {
              signal,
              onProgress: (loaded) => this.set(item, { sent: sentSoFar() + loaded }),
            }),
          );
          received = receivedOf(answer);
        } catch (error) {
          // The server already had this part (a retry after a lost answer): go on from where it is.
          if (error.name !== "ApiError" || error.code !== "offset_mismatch" || !error.body || !error.body.upload) throw error;
          received = receivedOf(error.body.upload);
        }
        this.set(item, { sent: sentSoFar() });
      }
    }
    const entry = await this.attempt(item, signal, () => this.api.complete(job.fileId));
    this.storage.removeItem(key);
    await this.worker.call("drop", { fileId: job.fileId }).catch(() => {});
    this.set(item, { state: "done", sent: total, note: null });
    this.emit("done", { item, entry, thumb: job.thumbPlain ? new Blob([job.thumbPlain], { type: job.thumbType }) : null });
  }

  /** A fresh reservation: prepare in the Worker, reserve, remember it on this device. */
  async prepare(item, key, signal) {
    const file = item.file;
    const video = mediaType(file.name, file.type).startsWith("video/") ? await this.videoFacts(file) : null;
    const buffers = video && video.poster ? [video.poster] : [];
    const prepared = await this.worker.call("prepare", { file, uploader: this.uploader(), video }, buffers);
    if (signal.aborted) {
      await this.worker.call("drop", { fileId: prepared.fileId }).catch(() => {});
      throw new DOMException("The upload was cancelled.", "AbortError");
    }
    this.set(item, { info: prepared.info, thumb: new Blob([prepared.thumbPlain], { type: prepared.info.thumb_type }) });
    const body = {
      file_id: prepared.fileId,
      wrapped_key: prepared.wrappedKey,
      key_epoch: prepared.keyEpoch,
      meta: prepared.meta,
      blobs: prepared.sizes,
    };
    let upload;
    try {
      try {
        upload = await this.attempt(item, signal, () => this.api.reserve(body));
      } catch (error) {
        // The album got a new key while this file was prepared (someone lost access): its key is
        // wrapped again for the new one, once; nothing else of the file changes.
        if (!(this.renewKeys && error.name === "ApiError" && error.code === "stale_key")) throw error;
        await this.renewKeys();
        const again = await this.worker.call("rewrap", { fileId: prepared.fileId });
        body.wrapped_key = again.wrappedKey;
        body.key_epoch = again.keyEpoch;
        upload = await this.attempt(item, signal, () => this.api.reserve(body));
      }
    } catch (error) {
      await this.worker.call("drop", { fileId: prepared.fileId }).catch(() => {});
      throw error;
    }
    item.fileId = prepared.fileId; // reserved: from now on a cancel must tell the server
    if (this.limits) {
      this.limits.files_left -= 1;
      this.limits.bytes_left -= prepared.sizes.thumb + prepared.sizes.preview + prepared.sizes.original;
      this.emit("limits", this.limits);
    }
    const record = {
      fileId: prepared.fileId,
      // This device's copy of the file key: the server's, or for a file drop one under the link's own key.
      wrappedKey: prepared.keptKey || prepared.wrappedKey,
      meta: prepared.meta,
      header: prepared.header,
      plainTag: prepared.plainTag,
      chunkSize: prepared.chunkSize,
      sizes: prepared.sizes,
      name: file.name,
      size: file.size,
    };
    try {
      this.storage.setItem(key, JSON.stringify(record));
    } catch {
      // Storage full or off (private mode): the upload still works, it just cannot resume after a reload.
    }
    return {
      fileId: prepared.fileId,
      sizes: prepared.sizes,
      blobs: { thumb: new Uint8Array(prepared.blobs.thumb), preview: new Uint8Array(prepared.blobs.preview) },
      received: receivedOf(upload),
      partSize: upload.part_size,
      chunkSize: prepared.chunkSize,
      thumbPlain: prepared.thumbPlain,
      thumbType: prepared.info.thumb_type,
    };
  }

  /**
   * Continue an upload begun before a reload, if the server still holds it and has
   * its thumb and preview (those are not kept on this device, the original is
   * re-encrypted from the file). Otherwise drop it and start over.
   */
  async resume(item, key, signal) {
    let record;
    try {
      record = JSON.parse(this.storage.getItem(key));
    } catch {
      record = null;
    }
    if (!record || !record.fileId) return null;
    let upload = null;
    try {
      upload = await this.attempt(item, signal, () => this.api.uploadStatus(record.fileId));
    } catch (error) {
      if (error.name !== "ApiError" || error.status !== 404) throw error;
    }
    const received = upload ? receivedOf(upload) : null;
    const usable =
      upload && upload.state === "pending" && received.thumb === record.sizes.thumb && received.preview === record.sizes.preview;
    if (!usable) {
      this.storage.removeItem(key);
      if (upload && upload.state === "pending") await this.api.cancel(record.fileId).catch(() => {});
      return null;
    }
    const same = await this.worker.call("resume", {
      file: item.file,
      fileId: record.fileId,
      wrappedKey: record.wrappedKey,
      header: record.header,
      plainTag: record.plainTag,
    });
    if (!same) {
      // Same name, size and date, other bytes: never encrypt them under the old key and nonces.
      this.storage.removeItem(key);
      await this.api.cancel(record.fileId).catch(() => {});
      this.set(item, { note: "This is not the file the last upload began with, so it is sent anew." });
      return null;
    }
    this.set(item, { note: "Continuing where the last upload stopped." });
    return {
      fileId: record.fileId,
      sizes: record.sizes,
      blobs: {},
      received,
      partSize: upload.part_size,
      chunkSize: record.chunkSize,
      thumbPlain: null,
    };
  }
}

function receivedOf(upload) {
  const blobs = upload.blobs || {};
  const of = (kind) => (blobs[kind] && Number.isSafeInteger(blobs[kind].received) ? blobs[kind].received : 0);
  return { thumb: of("thumb"), preview: of("preview"), original: of("original") };
}

/**
 * The link API calls of a guest's upload, made by the album Worker, which holds the access
 * token and renews it when the server refuses it (album-worker.js): the same methods as
 * api.js linkApi's, for what uploads need. A part's progress and its cancelling cross on
 * a MessageChannel of its own.
 * @param {(method: string, args?: object, transfer?: Transferable[]) => Promise<any>} call  the album Worker's
 */
export function linkCalls(call) {
  const via = (method) => (...args) => call("call", { method, args });
  return {
    uploadLimits: via("uploadLimits"),
    reserve: via("reserve"),
    uploadStatus: via("uploadStatus"),
    complete: via("complete"),
    cancel: via("cancel"),
    /**
     * @param {string} fileId
     * @param {string} kind
     * @param {number} offset
     * @param {Blob} body
     * @param {{onProgress?: (loaded: number) => void, signal?: AbortSignal | null}} [options]
     */
    async putPart(fileId, kind, offset, body, { onProgress = () => {}, signal = null } = {}) {
      if (signal && signal.aborted) throw new DOMException("The upload was cancelled.", "AbortError");
      const channel = new MessageChannel();
      channel.port1.onmessage = (event) => onProgress(event.data);
      const abort = () => channel.port1.postMessage("abort");
      if (signal) signal.addEventListener("abort", abort, { once: true });
      try {
        return await call("putPart", { fileId, kind, offset, body, port: channel.port2 }, [channel.port2]);
      } finally {
        if (signal) signal.removeEventListener("abort", abort);
        channel.port1.close();
      }
    },
  };
}
