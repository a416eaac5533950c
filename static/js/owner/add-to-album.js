// "Add to album…": photos of the album on screen (the person's own, or one shared with them) added
// to another album they can add to, by reference (the default) or as their own copy (issue 13,
// "Organize what others shared"; docs/api.md, POST /api/owner/albums/<album_id>/references).
//
// A reference is the same file in another album: the same file id (the blobs' AD binds it, so only
// that id decrypts them: docs/format.md, "Blobs"), the same file key, wrapped here under the target
// album's current key with AD target album id ‖ file id, and the file's metadata opened and sealed
// again under that key for the target album. Nothing is copied and nothing counts against anyone's
// storage until the original is deleted; a copy has its blobs copied by the server and counts against
// the target album owner's storage at once. The server sees which files two albums share, never a
// key or a name (docs/design.md, "Sharing with people").

import * as C from "../core/crypto.js";
import { formatBytes, formatCount } from "../core/present.js";
import { ApiError, account, call, owner, sharing } from "./owner-api.js";
import { openAlbum } from "./keys.js";
import { $, describe, hide, setBusy, showError } from "./ui.js";

const BATCH = 100; // files per request: the server takes 1..100

/** Bytes a file's blobs take in the store (what a copy costs). */
function sizeOf(file) {
  return Object.values(file.entry.blobs || {}).reduce((sum, n) => sum + n, 0);
}

const quoted = (title) => `“${title || "Untitled album"}”`;

/** The one sentence of a finished run: "3 photos added to “Trip”. 1 was already there." */
export function resultSentence(added, already, title) {
  if (added === 0) {
    const which = already === 1 ? "it was" : `all ${already} were`;
    return `Nothing added: ${which} already in ${quoted(title)}.`;
  }
  let text = `${formatCount(added, "photo", "photos")} added to ${quoted(title)}.`;
  if (already) text += ` ${already} ${already === 1 ? "was" : "were"} already there.`;
  return text;
}

/**
 * Wire the selection and "Add to album…" of one album page. `decorate(li, file)` is called for each
 * tile the page makes; the rest is wired here.
 * @param {{album: any, mk: Uint8Array, identity: any, section: HTMLElement, status: HTMLElement, errorLine: HTMLElement,
 *   files: () => Array<{id: string, key: Uint8Array, entry: any, tile?: HTMLElement}>}} context
 */
export function addToAlbum({ album, mk, identity, section, status, errorLine, files }) {
  const selected = new Set(); // file ids
  let selecting = false;
  const bar = $("[data-slot=selection-bar]", section);
  const toggle = $("[data-action=select]", section);
  const count = $("[data-slot=selected-count]", section);
  const addButton = $("[data-action=add-to-album]", section);
  const dialog = $("#add-to-album-dialog");
  const field = (name) => dialog.querySelector(`[name=${name}]`);

  const chosen = () => files().filter((file) => selected.has(file.id));

  function refresh() {
    const n = chosen().length;
    count.textContent = n ? `${formatCount(n, "photo", "photos")} selected` : "Nothing selected";
    addButton.disabled = n === 0;
    toggle.hidden = !selecting && files().length === 0; // nothing to select in an empty album
    for (const file of files()) {
      if (!file.tile) continue;
      const box = $("[data-slot=pick]", file.tile);
      box.checked = selected.has(file.id);
      box.closest("label").hidden = !selecting;
      file.tile.classList.toggle("selected", selecting && selected.has(file.id));
    }
  }

  function setSelecting(on) {
    selecting = on;
    if (!on) selected.clear();
    toggle.setAttribute("aria-pressed", String(on));
    toggle.textContent = on ? "Done selecting" : "Select";
    bar.hidden = !on;
    refresh();
  }

  toggle.addEventListener("click", () => {
    setSelecting(!selecting);
    if (selecting) {
      const first = files().find((file) => file.tile && file.tile.isConnected);
      if (first) $("[data-slot=pick]", first.tile).focus();
    }
  });
  $("[data-action=select-all]", section).addEventListener("click", () => {
    // What the grid shows now (with "Only my favorites", only those).
    for (const li of $("[data-slot=files]", section).children) selected.add(/** @type {HTMLElement} */ (li).dataset.fileId);
    refresh();
  });
  $("[data-action=select-none]", section).addEventListener("click", () => {
    selected.clear();
    refresh();
  });
  section.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && selecting && !dialog.open) setSelecting(false);
  });

  /** @param {HTMLElement} li @param {{id: string, info: any}} file */
  function decorate(li, file) {
    const box = $("[data-slot=pick]", li);
    box.setAttribute("aria-label", `Select ${file.info.name || "this photo"}`);
    box.checked = selected.has(file.id);
    box.closest("label").hidden = !selecting;
    box.addEventListener("change", () => {
      if (box.checked) selected.add(file.id);
      else selected.delete(file.id);
      refresh();
    });
  }

  // --- the dialog -----------------------------------------------------------------------

  let targets = []; // opened albums this person can add to, but this one
  let running = false;

  /** Their own albums, and those shared with them as collaborator or admin, opened (the key of each). */
  async function loadTargets() {
    const own = (await owner.albums()).albums.map((entry) => openAlbum(entry, mk));
    const shared = (await sharing.shared()).albums
      .filter((entry) => entry.role === "collaborator" || entry.role === "admin")
      .map((entry) => openAlbum(entry, mk, identity));
    return [...own, ...shared]
      .filter((each) => each.key && each.id !== album.id)
      .sort((a, b) => (a.meta.title || "").localeCompare(b.meta.title || ""));
  }

  const target = () => targets.find((each) => each.id === field("target").value);

  function showCost() {
    const size = chosen().reduce((sum, file) => sum + sizeOf(file), 0);
    const into = target();
    const whose = !into || into.role === "owner" ? "your" : `${into.entry.owner.email}’s`;
    $("[data-slot=copy-label]", dialog).textContent = `Make my own copy (uses ${formatBytes(size)} of ${whose} storage)`;
  }

  function finish(text, into) {
    running = false;
    setBusy($("[data-slot=status]", dialog), text);
    const open = $("[data-slot=open]", dialog);
    if (into) {
      open.href = `/app/albums/${encodeURIComponent(into.id)}`;
      open.textContent = `Open ${quoted(into.meta.title)}`;
    }
    open.hidden = !into;
    $("[data-slot=ok]", dialog).hidden = true;
    $("[data-slot=cancel]", dialog).textContent = "Close";
  }

  addButton.addEventListener("click", async () => {
    if (running) {
      dialog.showModal();
      return;
    }
    const picked = chosen();
    const what = `${formatCount(picked.length, "photo", "photos")} from ${quoted(album.meta.title)}.`;
    $("[data-slot=what]", dialog).textContent = what;
    hide($("[data-slot=error]", dialog));
    setBusy($("[data-slot=status]", dialog), "");
    $("[data-slot=open]", dialog).hidden = true;
    $("[data-slot=progress]", dialog).hidden = true;
    $("[data-slot=ok]", dialog).hidden = false;
    $("[data-slot=ok]", dialog).disabled = true;
    $("[data-slot=cancel]", dialog).textContent = "Cancel";
    dialog.querySelector("[name=how][value=reference]").checked = true;
    dialog.returnValue = "";
    const select = field("target");
    // The albums are read again on every open: until then the list cannot be chosen from (a choice
    // made in the old list would be lost when it is replaced).
    const before = select.value;
    select.disabled = true;
    dialog.showModal();
    try {
      targets = await loadTargets();
    } catch (error) {
      showError($("[data-slot=error]", dialog), describe(error));
      return;
    } finally {
      select.disabled = false;
    }
    select.replaceChildren(
      ...targets.map((each) => {
        const option = document.createElement("option");
        option.value = each.id;
        const title = each.meta.title || "Untitled album";
        option.textContent = each.role === "owner" ? title : `${title} (shared by ${each.entry.owner.email})`;
        return option;
      }),
    );
    if (targets.some((each) => each.id === before)) select.value = before;
    const none = targets.length === 0;
    $("[data-slot=no-targets]", dialog).hidden = !none;
    $("[data-slot=target-field]", dialog).hidden = none;
    $("[data-slot=ok]", dialog).disabled = none;
    showCost();
  });
  field("target").addEventListener("change", showCost);

  $("form", dialog).addEventListener("submit", async (event) => {
    if (event.submitter && /** @type {HTMLButtonElement} */ (event.submitter).value === "cancel") return;
    event.preventDefault();
    const into = target();
    if (!into || running) return;
    const copy = dialog.querySelector("[name=how]:checked").value === "copy";
    // Held files (a guest's, waiting for approval) are not added: the server refuses them.
    const picked = chosen();
    const ready = picked.filter((file) => !file.entry.held);
    const held = picked.length - ready.length;
    running = true;
    $("[data-slot=ok]", dialog).disabled = true;
    hide($("[data-slot=error]", dialog));
    const progress = $("[data-slot=progress]", dialog);
    progress.value = 0;
    progress.hidden = ready.length <= BATCH; // one request: nothing to follow
    const dialogStatus = $("[data-slot=status]", dialog);
    const result = { added: 0, already: 0 };
    try {
      for (let at = 0; at < ready.length; at += BATCH) {
        setBusy(dialogStatus, `Adding ${at + 1}–${Math.min(at + BATCH, ready.length)} of ${ready.length}…`);
        const answer = await send(into, ready.slice(at, at + BATCH), copy);
        result.added += answer.added.length;
        result.already += answer.already.length;
        progress.value = Math.min(at + BATCH, ready.length) / ready.length;
      }
    } catch (error) {
      const done = result.added ? `${resultSentence(result.added, result.already, into.meta.title)} Then: ` : "";
      running = false;
      setBusy(dialogStatus, "");
      showError($("[data-slot=error]", dialog), done + failure(error, into));
      if (!dialog.open) showError(errorLine, done + failure(error, into)); // closed while it ran
      $("[data-slot=ok]", dialog).disabled = false;
      return;
    }
    let text = ready.length ? resultSentence(result.added, result.already, into.meta.title) : "";
    if (held) {
      text += ` ${formatCount(held, "photo waits", "photos wait")} for approval and ${held === 1 ? "was" : "were"} left out.`;
    }
    if (copy && result.added && into.role === "owner") {
      // The copy counts at once: say how much storage is used now (what the account page shows).
      try {
        const fresh = (await account.me()).account;
        text += ` You now use ${formatBytes(fresh.bytes_used)} of ${formatBytes(fresh.quota_bytes)}.`;
      } catch {
        // The sentence above is the result; the storage line is only a courtesy.
      }
    }
    finish(text.trim(), into);
    setBusy(status, text.trim());
    setSelecting(false);
  });

  /**
   * One request of at most BATCH files. A 409 stale_key (the target album got a new key since it was
   * read) reads its keys again and wraps once more, once.
   */
  async function send(into, batch, copy) {
    for (let attempt = 0; ; attempt++) {
      const body = {
        source_album: album.id,
        key_epoch: into.epoch,
        copy,
        files: batch.map((file) => {
          // The metadata as whoever added the file sealed it, opened and sealed again for the target album.
          const meta = C.openFileMeta(file.key, album.id, file.id, C.b64d(file.entry.meta));
          return {
            id: file.id,
            wrapped_key: C.b64e(C.wrapFileKey(into.key, file.key, into.id, file.id)),
            meta: C.b64e(C.sealFileMeta(file.key, into.id, file.id, meta)),
          };
        }),
      };
      try {
        return await call("POST", `/api/owner/albums/${encodeURIComponent(into.id)}/references`, body);
      } catch (error) {
        if (attempt > 0 || !(error instanceof ApiError && error.status === 409 && error.code === "stale_key")) throw error;
        const fresh = openAlbum(await owner.album(into.id), mk, identity);
        if (!fresh.key) throw Object.assign(new Error("Your key does not open that album any more."), { name: "Refused" });
        Object.assign(into, { key: fresh.key, keys: fresh.keys, epoch: fresh.epoch, entry: fresh.entry });
      }
    }
  }

  /** One sentence for what went wrong. */
  function failure(error, into) {
    if (error instanceof ApiError) {
      if (error.status === 404) {
        return "Some of these photos are no longer in this album, or that album is gone: reload the page and try again.";
      }
      if (error.status === 409 && error.code === "stale_key") {
        return `${quoted(into.meta.title)} got a new key twice while adding: try again.`;
      }
      // 413 quota (the server says how much is needed and how much is free), 403 role: the server's sentence.
    }
    return describe(error);
  }

  refresh();
  return { decorate, refresh };
}
