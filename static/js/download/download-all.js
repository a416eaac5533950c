// "Download all": the album's originals as one zip, streamed to disk.
//
// Two ways, both in constant memory however large the album (client-zip builds the
// zip as it is read, and each original is decrypted as a stream when the zip
// reaches it):
//   1. the File System Access API where there is one (MDN, "Window.showSaveFilePicker()"):
//      the visitor picks a file, and the zip is piped into its writable stream here;
//   2. otherwise the album's Service Worker (static/js/download/sw.js) produces the zip as the
//      response to a download of a URL it answers, and reports progress back.
// Progress shows files done and bytes written; Cancel stops it. Files that fail to
// decrypt are skipped and named at the end, and in a note file in the zip.

import { downloadZip } from "client-zip";
import { formatBytes, formatCount } from "../core/present.js";
import { zipEntries } from "./zip.js";

/**
 * @param {object} options
 * @param {HTMLButtonElement} options.button
 * @param {HTMLElement} options.status  the #download-all-status element
 * @param {Array<any>} options.files  live: the album's files as the page lists them
 * @param {() => Promise<unknown>} options.listed  resolves once the whole listing is loaded
 * @param {() => string} options.title
 * @param {import("./sw-client.js").ServiceWorkerBridge | null} options.bridge
 * @param {(method: string, args: object) => Promise<any>} options.call  the album Worker, with token
 */
export function wireDownloadAll({ button, status, files, listed, title, bridge, call }) {
  const bar = status.querySelector("progress");
  const line = status.querySelector("[data-slot=text]");
  const cancelButton = /** @type {HTMLButtonElement} */ (status.querySelector("[data-action=cancel]"));
  let cancel = null;
  let frame = null; // the hidden frame of the last zip downloaded through the Service Worker

  const say = (text) => {
    line.textContent = text;
    status.hidden = !text;
  };

  function progress({ done, total, bytes }) {
    bar.max = Math.max(total, 1);
    bar.value = done;
    say(`Downloading: ${done} of ${formatCount(total, "file", "files")}, ${formatBytes(bytes)}…`);
  }

  function finished({ done, bytes, failed }) {
    cancel = null;
    button.disabled = false;
    cancelButton.hidden = true;
    bar.hidden = true;
    let text = `Downloaded ${formatCount(done - failed.length, "file", "files")} (${formatBytes(bytes)}) as a zip.`;
    if (failed.length) {
      text +=
        ` ${formatCount(failed.length, "file", "files")} could not be decrypted` +
        ` and ${failed.length === 1 ? "is" : "are"} missing or incomplete` +
        ` (the zip lists them in a note): ${failed.join("; ")}`;
    }
    say(text);
  }

  function stopped(text) {
    cancel = null;
    button.disabled = false;
    cancelButton.hidden = true;
    bar.hidden = true;
    say(text);
  }

  function entriesOf() {
    return files.map((file) => ({
      fileId: file.broken ? null : file.id,
      name: file.info ? file.info.name : null,
      kind: file.info ? file.info.kind : "photo",
      size: file.info ? file.info.size : null,
      lastModified: file.info && file.info.takenAt ? file.info.takenAt.wall : null,
    }));
  }

  /** The File System Access API: null if it is not there or not allowed, false if the visitor cancelled. */
  async function pickFile(name) {
    // Not in TypeScript's DOM library yet (Chromium only; WICG File System Access).
    const page = /** @type {any} */ (window);
    if (typeof page.showSaveFilePicker !== "function") return null;
    try {
      return await page.showSaveFilePicker({
        suggestedName: name,
        types: [{ description: "Zip archive", accept: { "application/zip": [".zip"] } }],
      });
    } catch (error) {
      return error && error.name === "AbortError" ? false : null;
    }
  }

  async function toFile(handle, entries) {
    const writable = await handle.createWritable();
    const abort = new AbortController();
    let last = { done: 0, total: entries.length, bytes: 0, failed: [] };
    // Cancel is said at once, not when pipeTo settles: pipeTo waits for the zip to be
    // cancelled, and client-zip cancels by throwing into the entries generator, which
    // takes it only at its next yield, i.e. once the original it is reading (up to
    // BUFFER_LIMIT, or a request the server has not answered yet) has arrived. Until
    // then Cancel seemed to do nothing. The cancelled run's late end must not touch the
    // status any more (a new download may be running by then).
    cancel = () => {
      abort.abort(new DOMException("The download was cancelled.", "AbortError"));
      stopped("Download cancelled.");
    };
    const zip = downloadZip(
      zipEntries(entries, {
        signal: abort.signal,
        open: (file) => call("originalStream", { fileId: file.fileId }),
        report: (p) => {
          last = p;
          progress(p);
        },
      }),
    );
    try {
      // pipeTo closes the file when the zip ends, and aborts it (nothing is kept) on cancel.
      await zip.body.pipeTo(writable, { signal: abort.signal });
      if (!abort.signal.aborted) finished(last);
    } catch {
      if (!abort.signal.aborted) stopped("The download stopped: the zip could not be written.");
    }
  }

  async function throughServiceWorker(entries, zipName) {
    let last = { done: 0, total: entries.length, bytes: 0, failed: [] };
    const started = await bridge.zip({
      files: entries,
      name: zipName,
      on: {
        progress: (p) => {
          last = p;
          progress(p);
        },
        finished: () => finished(last),
      },
    });
    if (!started) return false;
    cancel = () => {
      started.cancel();
      stopped("Download cancelled.");
    };
    // A navigation inside the worker's scope goes to the worker (an <a download> does
    // not, in Chromium); answered with "Content-Disposition: attachment", it becomes a
    // download (HTML Standard, "navigate": a download response). It is a hidden frame's
    // navigation, not this page's: the worker refuses to answer a zip address to a
    // top-level one (request.destination "document"), so that no zip address ever
    // works as a page (sw.js). A download loads no document in the frame; a frame that
    // loads one got the worker's refusal (the zip was lost, say), which is said here.
    if (frame) frame.remove();
    frame = document.createElement("iframe");
    frame.hidden = true;
    frame.title = "Download";
    frame.addEventListener("load", () => {
      if (cancel) stopped("The download could not start. Try again.");
    });
    frame.src = started.url;
    document.body.append(frame);
    return true;
  }

  /** Why there is no zip through the Service Worker, for a person. */
  function noServiceWorker(problem) {
    if (problem === "timeout" || problem === "failed") {
      return (
        "The download could not start: this browser did not start the album's download helper (a Service Worker). " +
        "Reload the page to try again, or download the files one by one from the photo viewer."
      );
    }
    return "This browser cannot save a whole album at once. Download the files one by one from the photo viewer.";
  }

  button.addEventListener("click", async () => {
    if (button.disabled) return;
    button.disabled = true;
    bar.hidden = false;
    bar.removeAttribute("value");
    cancelButton.hidden = true;
    say("Preparing the download…");
    try {
      await listed();
      const entries = entriesOf();
      const zipName = title();
      const handle = await pickFile(`${zipName}.zip`);
      if (handle === false) return stopped("");
      cancelButton.hidden = false;
      progress({ done: 0, total: entries.length, bytes: 0 });
      if (handle) return await toFile(handle, entries);
      if (!(await throughServiceWorker(entries, zipName))) stopped(noServiceWorker(bridge && bridge.problem));
    } catch (error) {
      stopped(`The download could not start: ${(error && error.message) || error}`);
    }
  });
  cancelButton.addEventListener("click", () => {
    if (cancel) cancel();
  });

  return {
    /** Stop a download in progress (Forget this album). */
    stop() {
      if (cancel) cancel();
      if (frame) frame.remove();
      frame = null;
    },
  };
}
