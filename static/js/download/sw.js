// The album's Service Worker: decrypts video Range requests and streams "download all".
//
// A Service Worker sees every request its pages make inside its scope (MDN,
// "Service Worker API", "FetchEvent.respondWith"), so it can stand between a
// <video> and the blob store:
//
// * /a/stream/<id>/<name>: the <video> element's Range requests (RFC 9110 section 14,
//   "Range Requests"). The plaintext range maps to whole chunks (docs/format.md,
//   "Random access": chunkSpan); only those ciphertext bytes are fetched, with a
//   Range request of their own, then decrypted, sliced and answered as 206 Partial
//   Content. Each answer is at most WINDOW bytes: a "bytes=0-" (what a player sends
//   first) gets the start of the file, and the player asks again from where it
//   ended, as RFC 9110 section 15.3.7 lets a server answer less than was asked.
// * /a/zip/<id>/<name>.zip: "download all", a zip (client-zip) produced here as the
//   browser writes it to disk, each original fetched and decrypted as a stream
//   when the zip reaches it: constant memory however large the album.
//
// No key ever appears in a URL. The page registers each stream or zip under a
// random id and hands over, by postMessage, MessagePorts: one from the album
// Worker, which posts the file keys, blob sizes and access token on it and answers
// there when this worker asks for a fresh token (the page's main thread holds neither),
// and one to the page, for errors and progress. API addresses and errors are api.js's,
// the chunk arithmetic format.js's (through crypto.js). State lives in memory only: nothing is stored, and a browser that
// stops this worker when idle drops it; a request for a stream it no longer knows
// asks the page to register it again.
//
// Every answer made here is data, never a page: it carries a policy that runs nothing and
// sandboxes the response if it is ever rendered (W3C CSP Level 3, "sandbox"), and nosniff
// (WHATWG Fetch, "X-Content-Type-Options"), as the server's own API answers do
// (viewer/server/headers.py). A stream's type is the file's declared one only if the allowlist
// and the file's first bytes agree (mediatypes.js: a guest chooses that type). And the
// stream and zip addresses answer only what they are for: a <video>'s requests, and the
// hidden frame "download all" loads; a top-level navigation (a visitor choosing "Open
// video in new tab", a link pasted in the address bar) gets a short page that says why
// (Fetch, "request.destination"; OWASP "Unrestricted File Upload": serve user files
// with Content-Disposition and nosniff, never as pages).
//
// Served from /static/js/download/ with "Service-Worker-Allowed: <root>/a/" (viewer/server/pages.py),
// so that relative imports resolve as everywhere else; import maps do not apply
// to workers (viewer/server/assets.py), hence the relative URLs.

import * as C from "../core/crypto.js";
import { bearer, blobUrl, request } from "../core/api.js";
import { downloadZip } from "../../../vendor/client-zip/index.js";
import { zipEntries } from "./zip.js";
import { OCTET_STREAM, SNIFF_BYTES, safeType } from "../core/mediatypes.js";
import { safeFileName } from "../core/present.js";

/** The most plaintext one Range answer carries (2 MiB, 32 chunks of 64 KiB). */
const WINDOW = 2 * 1024 * 1024;
/** How long a request for a forgotten stream waits for the page to register it again. */
const REREGISTER_MS = 10_000;
/** On every answer (see the top of this file). */
const SAFE_HEADERS = {
  "Content-Security-Policy": "default-src 'none'; sandbox",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-store",
};
/** Request destinations each address answers: a media element's, or fetch() (""); the download frame's. */
const STREAM_DESTINATIONS = new Set(["video", "audio", ""]);
const ZIP_DESTINATIONS = new Set(["iframe"]);
const NOT_A_PAGE = {
  stream: "This video can only be played on the album page: go back to the album and play it there.",
  zip: 'This download can only be started from the album page: go back to the album and use "Download all".',
};

// lib.webworker types `self` as any Worker's scope; this file runs only as a Service Worker.
const worker = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

const sodium = C.ready();
const streams = new Map(); // id -> Stream
const zips = new Map(); // id -> Zip
const waiting = new Map(); // id -> [resolve] for streams the page is registering again

// Take control at once, so the page that registered this worker can use it without
// a reload (MDN, "Clients.claim()", "ServiceWorkerGlobalScope.skipWaiting()").
worker.addEventListener("install", (event) => event.waitUntil(worker.skipWaiting()));
worker.addEventListener("activate", (event) => event.waitUntil(worker.clients.claim()));

/** The app's script root, from this worker's scope (<root>/a/): the API is at <root>/api/. */
function appRoot() {
  return new URL(worker.registration.scope).pathname.replace(/\/a\/$/, "");
}

/**
 * What one page granted: its link, the keys, blob sizes and access token (from the album
 * Worker, on `keys`, which stays open for fresh tokens) and a port back to the page.
 */
class Grant {
  constructor({ linkId, keys, control }) {
    this.linkId = linkId;
    this.port = keys;
    this.control = control;
    this.asks = new Map();
    this.next = 1;
    this.token = null;
    this.keys = new Promise((resolve) => {
      keys.onmessage = (event) => {
        const message = event.data || {};
        if (message.keys) {
          this.token = message.token;
          resolve(message);
          return;
        }
        const answer = this.asks.get(message.reply);
        if (answer) {
          this.asks.delete(message.reply);
          answer(message);
        }
      };
    });
  }

  /** A fresh access token from the album Worker, for one the server refused. */
  renew(code) {
    return new Promise((resolve) => {
      const ask = this.next++;
      this.asks.set(ask, resolve);
      this.port.postMessage({ ask, failed: this.token, code });
    });
  }

  tell(message) {
    this.control.postMessage(message);
  }

  close() {
    this.port.close();
  }

  /**
   * GET an original (or a range of it) with the access token (api.js request: ApiError,
   * NetworkError); a token the server refused is renewed once by the album Worker.
   */
  async fetch(fileId, range, signal) {
    await this.keys;
    const url = blobUrl(this.linkId, fileId, "original", appRoot());
    for (let attempt = 0; ; attempt += 1) {
      const headers = { ...bearer(this.token), ...(range ? { Range: range } : {}) };
      try {
        return await request(url, { headers, signal });
      } catch (error) {
        if (error.name !== "ApiError" || error.status !== 401 || attempt > 0) throw error;
        const answer = await this.renew(error.code);
        if (!answer.token) throw error;
        this.token = answer.token;
      }
    }
  }
}

worker.addEventListener("message", (event) => {
  const message = event.data || {};
  if (message.type === "stream") {
    streams.set(message.id, {
      grant: new Grant(message),
      fileId: message.fileId,
      mime: message.mime || OCTET_STREAM,
      header: null,
      type: null, // safeType of the declared mime and the first decrypted bytes, once known
    });
    for (const resolve of waiting.get(message.id) || []) resolve();
    waiting.delete(message.id);
    message.control.postMessage({ type: "registered" });
  } else if (message.type === "zip") {
    zips.set(message.id, { grant: new Grant(message), files: message.files, name: message.name, abort: new AbortController() });
    message.control.postMessage({ type: "registered" });
  } else if (message.type === "cancel") {
    const zip = zips.get(message.id);
    if (zip) zip.abort.abort(new DOMException("The download was cancelled.", "AbortError"));
    zips.delete(message.id);
  } else if (message.type === "forget") {
    // Forget this album: drop every key and token this worker holds for the link.
    for (const [id, stream] of streams) {
      if (stream.grant.linkId !== message.linkId) continue;
      stream.grant.close();
      streams.delete(id);
    }
    for (const [id, zip] of zips) {
      if (zip.grant.linkId !== message.linkId) continue;
      zip.grant.close();
      zip.abort.abort(new DOMException("The album was forgotten.", "AbortError"));
      zips.delete(id);
    }
    if (event.ports[0]) event.ports[0].postMessage({ forgotten: true });
  }
});

worker.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const scope = new URL(worker.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  const [kind, id] = url.pathname.slice(scope.pathname.length).split("/");
  const destination = event.request.destination;
  if (kind === "stream" && id) {
    if (STREAM_DESTINATIONS.has(destination)) event.respondWith(answerStream(event.request, id, event.clientId));
    else event.respondWith(refused(NOT_A_PAGE.stream));
  } else if (kind === "zip" && id) {
    // Checked before the zip is looked up, so a refused request never uses up the one download.
    if (ZIP_DESTINATIONS.has(destination)) event.respondWith(answerZip(id));
    else event.respondWith(refused(NOT_A_PAGE.zip));
  }
  // Anything else (the album page itself) goes to the network untouched.
});

/** An answer of this worker: always with SAFE_HEADERS, whatever else it has. */
function respond(body, status, headers) {
  return new Response(body, { status, headers: { ...headers, ...SAFE_HEADERS } });
}

function text(status, body, headers = {}) {
  return respond(body, status, { "Content-Type": "text/plain; charset=utf-8", ...headers });
}

/** A navigation to an address that is not a page (403, RFC 9110 section 15.5.4: understood, and refused). */
function refused(message) {
  return Promise.resolve(text(403, `${message}\n`));
}

/** The stream, registered again by its page if this worker was restarted since. */
async function findStream(id, clientId) {
  if (streams.has(id)) return streams.get(id);
  const client = clientId ? await worker.clients.get(clientId) : null;
  if (!client) return null;
  const registered = new Promise((resolve) => {
    waiting.set(id, [...(waiting.get(id) || []), resolve]);
    setTimeout(resolve, REREGISTER_MS);
  });
  client.postMessage({ type: "fragment-stream-lost", id });
  await registered;
  return streams.get(id) || null;
}

/**
 * One Range (RFC 9110 section 14.1.2) as [start, end) of a size: "bytes=a-b",
 * "bytes=a-" or "bytes=-n". null: no usable Range (answer the whole file, as
 * section 14.2 says a server may ignore one it does not understand); "unsatisfiable": 416.
 */
function parseRange(value, size) {
  const match = /^bytes=(\d*)-(\d*)$/.exec((value || "").trim());
  if (!match || (match[1] === "" && match[2] === "")) return null;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return [Math.max(0, size - suffix), size];
  }
  const start = Number(match[1]);
  if (match[2] !== "" && Number(match[2]) < start) return null;
  if (start >= size) return "unsatisfiable";
  return [start, match[2] === "" ? size : Math.min(Number(match[2]) + 1, size)];
}

async function header(stream) {
  if (!stream.header) {
    stream.header = stream.grant
      .fetch(stream.fileId, `bytes=0-${C.BLOB_HEADER_BYTES - 1}`)
      .then(async (response) => C.parseBlobHeader(new Uint8Array(await response.arrayBuffer())))
      .catch((error) => {
        stream.header = null;
        throw error;
      });
  }
  return stream.header;
}

/** The type this stream is answered with: mediatypes.js safeType of its declared mime and first bytes. */
async function streamType(stream, fileKey, blobSize, head) {
  if (!stream.type) {
    const size = C.plaintextSize(blobSize, head.chunkSize);
    if (size === 0) return (stream.type = OCTET_STREAM);
    const span = C.chunkSpan(0, Math.min(size, SNIFF_BYTES), blobSize, head.chunkSize);
    const response = await stream.grant.fetch(stream.fileId, `bytes=${span.ctStart}-${span.ctEnd - 1}`);
    const cipher = new Uint8Array(await response.arrayBuffer());
    const [chunk] = C.spanChunks(span, blobSize, head.chunkSize);
    const piece = cipher.subarray(chunk.start, chunk.end);
    const first = C.decryptChunk(fileKey, stream.fileId, "original", head, 0, piece, chunk.last);
    stream.type = safeType(stream.mime, first);
  }
  return stream.type;
}

async function answerStream(request, id, clientId) {
  const stream = await findStream(id, clientId);
  if (!stream) return text(404, "This video is no longer available here: reload the page.");
  try {
    await sodium;
    const granted = await stream.grant.keys;
    const fileKey = granted.keys[stream.fileId];
    const blobSize = granted.blobSizes[stream.fileId];
    if (!fileKey) return text(403, "This file has no key.");
    const head = await header(stream);
    const size = C.plaintextSize(blobSize, head.chunkSize);
    const range = parseRange(request.headers.get("Range"), size);
    if (range === "unsatisfiable") return text(416, "Range Not Satisfiable", { "Content-Range": `bytes */${size}` });
    // A player's first request ("bytes=0-") decrypts the first chunk anyway, and sets the
    // type below; any other first request (a seek after this worker restarted) asks for it.
    const known = range && range[0] === 0 ? null : await streamType(stream, fileKey, blobSize, head);
    const common = () => ({ "Content-Type": known || stream.type, "Accept-Ranges": "bytes" });
    if (range === null) {
      // No Range: the whole file as a stream, decrypted as it goes (a download, a "save video as").
      const response = await stream.grant.fetch(stream.fileId, null);
      const body = response.body.pipeThrough(C.decryptBlobStream(fileKey, stream.fileId, "original"));
      // Saved, never shown: a media element ignores the disposition (a player sends a Range anyway).
      let name = new URL(request.url).pathname.split("/").pop() || "";
      try {
        name = decodeURIComponent(name);
      } catch {
        // not the name the page put there: kept as it is, and made safe by attachment()
      }
      const disposition = attachment(name, "video");
      return respond(body, 200, { ...common(), "Content-Length": String(size), "Content-Disposition": disposition });
    }
    const [start, end] = [range[0], Math.min(range[1], range[0] + WINDOW)];
    const span = C.chunkSpan(start, end, blobSize, head.chunkSize);
    const response = await stream.grant.fetch(stream.fileId, `bytes=${span.ctStart}-${span.ctEnd - 1}`);
    const cipher = new Uint8Array(await response.arrayBuffer());
    if (cipher.length !== span.ctEnd - span.ctStart) throw new C.DecryptionError("the server sent a different length");
    const plain = new Uint8Array((span.last - span.first + 1) * head.chunkSize);
    let at = 0;
    // Each chunk's place in the fetched bytes, and its last flag from the blob's chunk count,
    // never from the last piece fetched (format.js spanChunks).
    for (const { index, start: from, end: to, last } of C.spanChunks(span, blobSize, head.chunkSize)) {
      const chunk = C.decryptChunk(fileKey, stream.fileId, "original", head, index, cipher.subarray(from, to), last);
      plain.set(chunk, at);
      at += chunk.length;
    }
    const body = plain.slice(span.skip, span.skip + (end - start));
    if (!known) stream.type = safeType(stream.mime, plain.subarray(0, Math.min(at, SNIFF_BYTES)));
    const range206 = { "Content-Length": String(body.length), "Content-Range": `bytes ${start}-${end - 1}/${size}` };
    return respond(body, 206, { ...common(), ...range206 });
  } catch (error) {
    // api.js names what went wrong on the way (ApiError, NetworkError); anything else is the bytes'.
    const name = error && ["ApiError", "NetworkError"].includes(error.name) ? error.name : "DecryptionError";
    stream.grant.tell({ type: "error", id, name, message: String((error && error.message) || error) });
    return text(name === "ApiError" ? error.status || 502 : 502, "This video could not be decrypted.");
  }
}

/** The entries, then done() however they end: all read, failed, or cancelled (client-zip throws into them). */
async function* settled(entries, done) {
  try {
    yield* entries;
  } finally {
    done();
  }
}

/** Content-Disposition for a UTF-8 name (RFC 6266 section 4.3, RFC 8187), made safe first (present.js). */
function attachment(unsafe, fallback) {
  const name = safeFileName(unsafe, fallback);
  const ascii = name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

async function answerZip(id) {
  const zip = zips.get(id);
  // A zip URL is good for one download: the page registers a new one each time.
  // The zip stays in `zips` while it is written, and leaves once its entries end
  // (read, failed or cancelled): Cancel and Forget look it up there. It used to be
  // deleted here, so a Cancel found nothing to abort and the zip was written on to
  // the end while the page said "Download cancelled."
  if (!zip || zip.started) return text(404, "This download is no longer available: start it again from the album page.");
  zip.started = true;
  const { grant, abort } = zip;
  await sodium;
  const { keys } = await grant.keys;
  const entries = zipEntries(zip.files, {
    signal: abort.signal,
    async open(file, signal) {
      const key = keys[file.fileId];
      if (!key) throw new C.DecryptionError("no key");
      const response = await grant.fetch(file.fileId, null, signal);
      return response.body.pipeThrough(C.decryptBlobStream(key, file.fileId, "original"));
    },
    report: (progress) => grant.tell({ type: "progress", id, ...progress }),
  });
  // The end (or a failure) is reported once the browser has read the whole zip.
  const body = downloadZip(settled(entries, () => zips.delete(id))).body.pipeThrough(
    new TransformStream({
      flush: () => grant.tell({ type: "finished", id }),
    }),
  );
  return respond(body, 200, { "Content-Type": "application/zip", "Content-Disposition": attachment(zip.name, "album.zip") });
}
