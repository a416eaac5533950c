// What a guest sees of their uploads: the Add photos button, drag and drop anywhere,
// the name they add as, a row per file with its progress, and the overall progress.
//
// The queue (uploads.js) does the work; this module only turns its events into the
// page's words. Every message is a sentence a person can act on; rows are built
// from templates/album.html's <template id="upload-row"> and filled as text.

import { askGuestName } from "../album/guest-name.js";
import { formatBytes, formatCount } from "../core/present.js";

/**
 * The first element under root that matches; any, as the template's elements are of many kinds.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {any}
 */
function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Files under a dropped folder, read through the File and Directory Entries API (MDN, "FileSystemDirectoryEntry"). */
async function filesOf(entry) {
  if (entry.isFile) return [await new Promise((resolve, reject) => entry.file(resolve, reject))];
  if (!entry.isDirectory) return [];
  const reader = entry.createReader();
  const out = [];
  // readEntries answers in batches (of 100 in Chromium) until it answers none.
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    for (const child of batch) if (!child.name.startsWith(".")) out.push(...(await filesOf(child)));
  }
  return out;
}

async function droppedFiles(dataTransfer) {
  const entries = [...dataTransfer.items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
  if (!entries.length) return [...dataTransfer.files];
  const out = [];
  for (const entry of entries) out.push(...(await filesOf(entry)));
  return out;
}

function statusText(item) {
  switch (item.state) {
    case "waiting":
      return "Waiting…";
    case "preparing":
      return item.note || "Preparing and encrypting…";
    case "uploading":
      return item.note || `Uploading · ${formatBytes(item.sent)} of ${formatBytes(item.total)}`;
    case "done":
      return "Added to the album";
    case "failed":
      return item.error ? item.error.message : "This file could not be added.";
    case "cancelled":
      return "Cancelled: nothing of it was kept.";
    default:
      return "";
  }
}

/**
 * The upload panel; the page listens to the queue's "done" event to show a file that was added.
 * @param {object} options
 * @param {import("./uploads.js").UploadQueue} options.queue
 * @param {Storage} options.storage  with prefix: where the guest's name is kept
 * @param {string} options.prefix
 * @param {boolean} [options.owner]  the album's owner adds (the owner's web app): no guest name, the account's storage
 */
export function wireUploads({ queue, storage, prefix, owner = false }) {
  const section = $("#uploads");
  const list = $("[data-slot=list]", section);
  const rowTemplate = $("#upload-row");
  const overall = $("[data-slot=overall]", section);
  const summary = $("[data-slot=summary]", section);
  const byteLine = $("[data-slot=bytes]", section);
  const limitsLine = $("[data-slot=limits]", section);
  const retryAll = $("[data-action=retry-all]", section);
  const cancelAll = $("[data-action=cancel-all]", section);
  const unfinished = $("[data-slot=unfinished]", section);
  const guestName = $("[data-slot=guest]", section);
  const fileInput = $("#file-input");
  const folderInput = $("#folder-input");
  const overlay = $("#drop-overlay");
  const dialog = $("#guest-dialog");
  const nameKey = `${prefix}guest-name`;
  const rows = new Map();
  const removed = new Set(); // rows the guest took off the list: later events must not bring them back
  const urls = new Set();

  const name = () => storage.getItem(nameKey) || "";

  function showName() {
    if (guestName) guestName.textContent = name();
  }

  /** Ask for the guest's name (once per link on this device); false if they closed the dialog. */
  async function askName() {
    const given = await askGuestName(dialog, storage, nameKey);
    showName();
    return given;
  }

  async function addFiles(files) {
    files = [...files];
    if (!files.length) return;
    if (!owner && !name() && !(await askName())) return;
    section.hidden = false;
    queue.add(files);
    showUnfinished();
  }

  // --- rows -----------------------------------------------------------------------

  function row(item) {
    let li = rows.get(item.id);
    if (!li) {
      li = rowTemplate.content.firstElementChild.cloneNode(true);
      $("[data-slot=name]", li).textContent = item.name;
      $("[data-action=cancel]", li).addEventListener("click", () => queue.cancel(item));
      $("[data-action=retry]", li).addEventListener("click", () => queue.retry(item));
      $("[data-action=remove]", li).addEventListener("click", async () => {
        removed.add(item.id);
        li.remove();
        rows.delete(item.id);
        await queue.cancel(item); // a failed file may still hold a reservation
        renderOverall();
      });
      rows.set(item.id, li);
      list.append(li);
    }
    return li;
  }

  function render(item) {
    if (removed.has(item.id)) return;
    const li = row(item);
    li.dataset.state = item.state;
    const status = $("[data-slot=status]", li);
    status.textContent = statusText(item);
    // A failure is announced; progress is not (the overall counts are, once a file ends).
    if (item.state === "failed") status.setAttribute("role", "alert");
    else status.removeAttribute("role");
    const bar = $("progress", li);
    bar.hidden = !["preparing", "uploading"].includes(item.state);
    if (item.state === "uploading" && item.total) bar.value = item.sent / item.total;
    else bar.removeAttribute("value"); // indeterminate while preparing
    $("[data-action=cancel]", li).hidden = !["waiting", "preparing", "uploading"].includes(item.state);
    // Retry only where it can help: not for a file too large for the link, or one that is not a photo.
    $("[data-action=retry]", li).hidden = !(item.state === "failed" && item.error?.retryable !== false);
    $("[data-action=remove]", li).hidden = !["failed", "cancelled"].includes(item.state);
    const img = $("img", li);
    if (item.thumb && !img.src) {
      const url = URL.createObjectURL(item.thumb);
      urls.add(url);
      img.src = url;
      img.alt = item.name;
      img.hidden = false;
    }
  }

  function renderOverall() {
    const t = queue.totals();
    overall.max = 1;
    // Only what is sent or still can be: with some files refused, a finished batch shows a full bar.
    overall.value = t.total ? Math.min(1, t.sent / t.total) : t.done ? 1 : 0;
    let text = `${t.done} of ${formatCount(t.files, "file", "files")} added`;
    if (t.failed) text += ` · ${formatCount(t.failed, "file", "files")} not added`;
    if (summary.textContent !== text) summary.textContent = text;
    byteLine.textContent = t.active ? ` · ${formatBytes(t.sent)} of ${formatBytes(t.total)}` : "";
    retryAll.hidden = t.retryable === 0;
    cancelAll.hidden = t.active === 0;
    overall.hidden = t.active === 0 && t.done + t.failed === 0;
  }

  function showLimits(limits) {
    if (!limits) return;
    const files = Math.max(0, limits.files_left);
    const bytes = Math.max(0, limits.bytes_left);
    if (owner) {
      limitsLine.textContent = `${formatBytes(Math.max(0, limits.account_left ?? bytes))} of storage left in your account.`;
      return;
    }
    limitsLine.textContent =
      files === 0 || bytes === 0
        ? "This link's upload space is full: no more files can be added."
        : `Room for ${formatCount(files, "more file", "more files")} (${formatBytes(bytes)}),` +
          ` each up to ${formatBytes(limits.max_file_size)}.`;
  }

  function showUnfinished() {
    const left = queue.unfinished();
    unfinished.hidden = left.length === 0;
    if (!left.length) return;
    section.hidden = false;
    const names = left.map((entry) => entry.name).join(", ");
    $("[data-slot=text]", unfinished).textContent =
      `${formatCount(left.length, "upload", "uploads")} did not finish last time (${names}).` +
      " Choose the same files again to continue where they stopped.";
  }

  let scheduled = new Set();
  queue.addEventListener("change", (event) => {
    // Progress events come fast: draw at most once a frame.
    if (!scheduled.size) {
      requestAnimationFrame(() => {
        for (const item of scheduled) render(item);
        scheduled = new Set();
        renderOverall();
      });
    }
    scheduled.add(/** @type {CustomEvent} */ (event).detail);
  });
  queue.addEventListener("limits", (event) => showLimits(/** @type {CustomEvent} */ (event).detail));

  // --- adding files -----------------------------------------------------------------

  for (const button of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-action=add-photos]"))) {
    button.hidden = false;
    button.addEventListener("click", () => fileInput.click());
  }
  const addFolder = $("#add-folder");
  // webkitdirectory: Chromium, Firefox and Safari on computers; phones pick files only.
  if ("webkitdirectory" in folderInput && !/Android|iPhone|iPad/.test(navigator.userAgent)) {
    addFolder.hidden = false;
    addFolder.addEventListener("click", () => folderInput.click());
  }
  for (const input of [fileInput, folderInput]) {
    input.addEventListener("change", () => {
      addFiles(input.files);
      input.value = "";
    });
  }

  const dragsFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  let depth = 0;
  document.addEventListener("dragenter", (event) => {
    if (!dragsFiles(event)) return;
    depth += 1;
    overlay.hidden = false;
  });
  document.addEventListener("dragleave", (event) => {
    if (!dragsFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  document.addEventListener("dragover", (event) => {
    if (!dragsFiles(event)) return;
    event.preventDefault(); // allow the drop
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", async (event) => {
    if (!dragsFiles(event)) return;
    event.preventDefault();
    depth = 0;
    overlay.hidden = true;
    addFiles(await droppedFiles(event.dataTransfer));
  });

  if (!owner) $("[data-action=rename]", section).addEventListener("click", () => askName());
  retryAll.addEventListener("click", () => queue.retryFailed());
  cancelAll.addEventListener("click", () => queue.cancelAll());
  $("[data-action=discard]", unfinished).addEventListener("click", async () => {
    await queue.discardUnfinished();
    showUnfinished();
  });

  // Leaving the page stops uploads (they can resume later): say so first.
  window.addEventListener("beforeunload", (event) => {
    if (queue.busy) event.preventDefault();
  });

  showName();
  showUnfinished();
  queue.refreshLimits().catch(() => {});

  return {
    /** Revoke the rows' thumbnails (Forget this album). */
    forget() {
      for (const url of urls) URL.revokeObjectURL(url);
      urls.clear();
    },
  };
}
