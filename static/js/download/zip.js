// "Download all": the entries of a zip, decrypted one file at a time as the zip asks.
//
// client-zip (https://github.com/Touffy/client-zip) reads an async iterable of
// entries and pulls the next one only once the previous one is written, so an
// album of any size goes through in constant memory when each entry's input is a
// stream. The same generator runs on the page (File System Access API) and in the
// Service Worker (a streamed download); each passes its own `open`.
//
// A file that fails to decrypt never becomes a silently corrupt entry:
//   * files up to BUFFER_LIMIT are decrypted whole before they are handed over, so a
//     failure skips the file cleanly;
//   * a larger file is streamed, and every chunk it hands out has already
//     authenticated (decryptBlobStream); if a later chunk fails, the entry ends
//     there and is listed as cut short.
// Either way the zip ends with a note file naming what is missing or cut, and the
// page says so when the download ends.

import { safeFileName } from "../core/present.js";

/** Decrypted whole, and so skipped cleanly on failure, up to this size. */
export const BUFFER_LIMIT = 16 * 1024 * 1024;
export const NOTE_NAME = "FILES THAT COULD NOT BE DECRYPTED.txt";

/** Zip entry names: safe (present.js safeFileName) and unique, ignoring case as Windows and macOS do. */
export class UniqueNames {
  constructor() {
    this.taken = new Set();
  }

  take(name, fallback = "file") {
    const clean = safeFileName(name, fallback);
    const dot = clean.lastIndexOf(".");
    const [stem, ext] = dot > 0 ? [clean.slice(0, dot), clean.slice(dot)] : [clean, ""];
    let candidate = clean;
    for (let n = 2; this.taken.has(candidate.toLowerCase()); n += 1) candidate = `${stem} (${n})${ext}`;
    this.taken.add(candidate.toLowerCase());
    return candidate;
  }
}

function aborted(signal) {
  return signal && signal.aborted;
}

/**
 * Entries for client-zip's downloadZip.
 * @param {Array<{fileId, name, size, lastModified, kind}>} files  what to put in, in album order
 * @param {object} options
 * @param {(file, signal: AbortSignal | null) => Promise<ReadableStream<Uint8Array>>} options.open  the decrypted original
 * @param {(progress: {done, total, bytes, failed}) => void} [options.report]
 * @param {AbortSignal | null} [options.signal]  aborts the walk between files and the reads
 */
export async function* zipEntries(files, { open, report = () => {}, signal = null }) {
  const names = new UniqueNames();
  const failed = [];
  let done = 0;
  let bytes = 0;
  const tell = () => report({ done, total: files.length, bytes, failed: failed.slice() });
  tell();
  for (const file of files) {
    if (aborted(signal)) throw signal.reason;
    const label = safeFileName(file.name, file.kind === "video" ? "video" : "photo");
    const lastModified = file.lastModified ? new Date(file.lastModified) : undefined;
    if (!file.fileId) {
      failed.push(`${label}: its key or description did not decrypt`);
    } else if (file.size !== null && file.size !== undefined && file.size <= BUFFER_LIMIT) {
      let data = null;
      try {
        data = await readAll(await open(file, signal));
      } catch (error) {
        if (aborted(signal)) throw signal.reason;
        failed.push(`${label}: ${reason(error)}`);
      }
      if (data) {
        yield { name: names.take(file.name, label), input: data, lastModified };
        bytes += data.length;
      }
    } else {
      let stream = null;
      try {
        stream = await open(file, signal);
      } catch (error) {
        if (aborted(signal)) throw signal.reason;
        failed.push(`${label}: ${reason(error)}`);
      }
      if (stream) {
        const name = names.take(file.name, label);
        const input = guarded(stream, {
          signal,
          onBytes: (n) => {
            bytes += n;
          },
          onError: (error) =>
            failed.push(`${name}: cut short, ${reason(error)}; the part in the zip is authentic but incomplete`),
        });
        yield { name, input, lastModified };
      }
    }
    done += 1;
    tell();
  }
  if (failed.length) {
    const text = [
      "These files of the album are not in this zip, or are incomplete, because they",
      "could not be downloaded or decrypted (they may be damaged or tampered with):",
      "",
      ...failed.map((line) => `- ${line}`),
      "",
    ].join("\r\n");
    yield { name: names.take(NOTE_NAME), input: text, lastModified: new Date() };
  }
}

/** A whole stream in memory; its own error (a DecryptionError) comes through as it is. */
async function readAll(stream) {
  const parts = [];
  let length = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    length += value.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function reason(error) {
  if (error && error.name === "DecryptionError") return "it failed to decrypt";
  if (error && error.name === "ApiError") return `the server refused it (${error.message})`;
  return "it could not be downloaded";
}

/**
 * A stream that passes bytes through and counts them, and that ends (rather than
 * fails the whole zip) where its source fails to decrypt; cancelling still fails.
 */
function guarded(stream, { signal, onBytes, onError }) {
  const reader = stream.getReader();
  return new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        onBytes(value.length);
        controller.enqueue(value);
      } catch (error) {
        if (aborted(signal)) {
          controller.error(signal.reason);
          return;
        }
        onError(error);
        controller.close();
      }
    },
    cancel(why) {
      return reader.cancel(why);
    },
  });
}
