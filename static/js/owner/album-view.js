// One album in the owner's web app: its files (add, remove, reorder, cover), its title and
// description, its links (create with every setting, copy, change, revoke), and delete.
//
// Changes to the title, description, cover and order are a new sealed album metadata
// (docs/format.md, "Album metadata"), which recipients read when they reload. Files are
// added with the guests' upload pipeline (upload/uploads.js and upload-worker.js), here
// with the owner's API and the account's storage.

import { generate } from "lean-qr";
import { albumOrder, coverOf, sortOf } from "../album/order.js";
import { formatBytes, formatCount } from "../core/present.js";
import { WorkerClient } from "../core/rpc.js";
import { videoFacts } from "../upload/poster.js";
import { wireUploads } from "../upload/upload-ui.js";
import { UploadQueue } from "../upload/uploads.js";
import { ApiError, account, call, owner, sharing, uploadCalls } from "./owner-api.js";
import {
  changeLink,
  createLink,
  fileImage,
  isDrop,
  linkAddress,
  linkLabel,
  openAlbum,
  openFile,
  openIdentity,
  saveMeta,
} from "./keys.js";
import { addToAlbum } from "./add-to-album.js";
import { wireComments } from "./comments-view.js";
import { wirePeople } from "./people-view.js";
import { loadFavorites, rekey, setFavorite } from "./sharing.js";
import { $, confirmAction, describe, formatDate, hide, refused, setBusy, show, showError } from "./ui.js";

const PART_SIZE = 4 * 1024 * 1024; // under the server's UPLOAD_PART_BYTES default (8 MiB) and most proxies' limits

/** Files in the order the album's metadata asks for: exactly the recipients' order (album/order.js). */
function ordered(files, meta) {
  return [...files].sort(albumOrder(meta).compare);
}

/** A link's settings in a few words. */
function linkFacts(link) {
  const facts = [];
  facts.push(link.password ? "Password" : "No password");
  if (link.expires_at) facts.push(`expires ${formatDate(link.expires_at)}`);
  facts.push(
    link.device_limit
      ? `${link.devices_used} of ${formatCount(link.device_limit, "device", "devices")}`
      : `${formatCount(link.devices_used, "device", "devices")} so far`,
  );
  facts.push(link.downloads ? "downloads on" : "downloads off");
  if (link.upload_only) facts.push(isDrop(link) ? "add only, holds no album key" : "add only");
  else if (link.uploads) facts.push(`guests add (${link.files_used} files, ${formatBytes(link.bytes_used)})`);
  if (link.uploads && link.hold_uploads) facts.push("you approve what they add");
  // Visitors' comments (issue 14): off unless the owner turned them on; a drop shows nothing to comment on.
  if (!link.upload_only && link.comments === "on") facts.push("comments on");
  if (!link.upload_only && link.comments === "held") facts.push("comments need approval");
  return facts.join(" · ");
}

function linkState(link) {
  if (link.revoked_at) return "Revoked";
  if (link.expires_at && new Date(link.expires_at) <= new Date()) return "Expired";
  return "Active";
}

/** A local datetime-local value from an ISO time, and back. */
function localInput(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
  return `${day}T${pad(when.getHours())}:${pad(when.getMinutes())}`;
}

/** What each role may do on this page (the server enforces the same: docs/design.md, "Sharing with people"). */
function abilities(role) {
  const owner = role === "owner";
  const manage = owner || role === "admin";
  return { owner, manage, add: manage || role === "collaborator" };
}

export async function start({ me, mk, root }) {
  const section = $("#album");
  const albumId = root.dataset.albumId;
  const errorLine = $("[data-slot=error]", section);
  const status = $("[data-slot=status]", section);
  let entry;
  try {
    entry = await owner.album(albumId);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      throw refused("This album does not exist, or it is not shared with you.");
    }
    throw error;
  }
  // Opening the album is seeing what is new in it: its unread badge goes (issue 14); only a marker, so no error shown.
  call("POST", `/api/owner/albums/${encodeURIComponent(albumId)}/seen`, {}).catch(() => {});
  const identity = openIdentity(me, mk);
  if (entry.role === "owner" && entry.rekey_pending) {
    // Someone lost access and the owner's client has not made a new key yet: make it now, so what
    // is added from here on is under a key they never had.
    setBusy($("#busy [data-slot=text]"), "Someone no longer has this album: making it a new key…");
    try {
      entry = await rekey(albumId, me, mk, identity);
    } catch (error) {
      showError(errorLine, `The album could not get a new key yet: ${describe(error)}`);
    }
  }
  const album = openAlbum(entry, mk, identity);
  if (!album.key) {
    throw refused("Your key does not open this album: it was changed on the server.");
  }
  const can = abilities(album.role);
  /** @type {Array<{id: string, key: Uint8Array, info: any, entry: any, seq: number, tile?: HTMLElement}>} */
  let files = [];
  let seq = 0;
  /** @type {{decorate: (li: HTMLElement, file: any) => void} | null} */
  let comments = null; // comments-view.js, once wired
  const thumbs = new Map(); // file id -> object URL
  // Select photos and add them to another album, by reference or as a copy (add-to-album.js).
  const library = addToAlbum({ album, mk, identity, section, status, errorLine, files: () => files });

  // --- header ------------------------------------------------------------------------

  function showHeader() {
    $("[data-slot=title]", section).textContent = album.meta.title || "Untitled album";
    document.title = `${album.meta.title || "Album"} · Fragment`;
    $("[data-slot=description]", section).textContent = album.meta.description || "";
    const sizeOf = (file) => Object.values(file.entry.blobs || {}).reduce((a, b) => a + b, 0);
    const size = files.reduce((sum, file) => sum + sizeOf(file), 0);
    const count = formatCount(files.length, "photo or video", "photos and videos");
    $("[data-slot=facts]", section).textContent = `${count} · ${formatBytes(size)} · made ${formatDate(album.entry.created_at)}`;
  }

  async function save(changes, done) {
    hide(errorLine);
    try {
      await saveMeta(album, { ...album.meta, ...changes });
      setBusy(status, done);
    } catch (error) {
      showError(errorLine, describe(error));
    }
  }

  // --- files --------------------------------------------------------------------------

  const grid = $("[data-slot=files]", section);
  const tileTemplate = $("#file-tile");
  const sortSelect = $("[data-slot=sort]", section);

  let loading = Promise.resolve();
  function loadThumb(file, img) {
    // A few at a time, in order: the first tiles first.
    loading = loading.then(async () => {
      if (thumbs.has(file.id)) {
        img.src = thumbs.get(file.id);
      } else {
        try {
          const url = URL.createObjectURL(await fileImage(album, file));
          thumbs.set(file.id, url);
          img.src = url;
        } catch {
          return;
        }
      }
      img.alt = file.info.name || "";
      img.hidden = false;
    });
  }

  function tile(file) {
    if (file.tile) return file.tile;
    const li = tileTemplate.content.firstElementChild.cloneNode(true);
    li.dataset.fileId = file.id;
    $("[data-slot=name]", li).textContent = file.info.name || "Untitled";
    const addedBy = file.entry.added_by;
    const byOther = Boolean(addedBy && addedBy.account_id !== me.account_id);
    $("[data-slot=guest-badge]", li).hidden = !file.entry.guest && !byOther;
    if (file.entry.guest) {
      // What each guest added and when: their name is what they typed (checked text), the date the server's.
      const who = file.info.uploader ? `Added by ${file.info.uploader}` : "Added by a guest";
      $("[data-slot=guest-badge]", li).textContent = `${who} · ${formatDate(file.entry.created_at)}`;
    } else if (byOther) {
      // Who added it is the server's word (the account that sent it), not what the file says.
      const who = addedBy.email ? `Added by ${addedBy.email}` : "Added by someone who left";
      $("[data-slot=guest-badge]", li).textContent = `${who} · ${formatDate(file.entry.created_at)}`;
    }
    const mine = Boolean(addedBy && addedBy.account_id === me.account_id);
    $("[data-action=remove]", li).hidden = !(can.manage || (can.add && mine));
    for (const action of ["earlier", "later", "cover"]) $(`[data-action=${action}]`, li).hidden = !can.manage;
    li.draggable = can.manage;
    $("[data-action=cover]", li).addEventListener("click", () => setCover(file));
    $("[data-action=favorite]", li).addEventListener("click", () => toggleFavorite(file));
    $("[data-action=approve]", li).addEventListener("click", () => approve(file));
    $("[data-action=remove]", li).addEventListener("click", () => removeFile(file));
    $("[data-action=earlier]", li).addEventListener("click", () => move(file, -1));
    $("[data-action=later]", li).addEventListener("click", () => move(file, 1));
    li.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("application/x-fragment-file", file.id);
      event.dataTransfer.effectAllowed = "move";
      li.classList.add("dragging");
    });
    li.addEventListener("dragend", () => li.classList.remove("dragging"));
    li.addEventListener("dragover", (event) => {
      if ([...event.dataTransfer.types].includes("application/x-fragment-file")) event.preventDefault();
    });
    li.addEventListener("drop", (event) => {
      const moved = event.dataTransfer.getData("application/x-fragment-file");
      if (!moved) return;
      event.preventDefault();
      event.stopPropagation();
      dropBefore(moved, file.id);
    });
    file.tile = li;
    library.decorate(li, file);
    loadThumb(file, $("img", li));
    return li;
  }

  function render() {
    const onlyFavorites = $("[data-slot=only-favorites]", section).checked;
    const shown = ordered(files, album.meta).filter((file) => !onlyFavorites || favorites.has(file.id));
    const cover = coverOf(album.meta);
    for (const file of shown) {
      const li = tile(file);
      if (comments) comments.decorate(li, file); // once wired (tiles made before it get theirs here)
      const star = $("[data-action=favorite]", li);
      const favorite = favorites.has(file.id);
      star.setAttribute("aria-pressed", String(favorite));
      star.textContent = favorite ? "★" : "☆";
      $("[data-slot=held-badge]", li).hidden = !file.entry.held;
      $("[data-action=approve]", li).hidden = !file.entry.held;
      $("[data-slot=cover-badge]", li).hidden = file.id !== cover;
      $("[data-action=cover]", li).hidden = file.id === cover || !can.manage;
    }
    grid.replaceChildren(...shown.map((file) => file.tile));
    const custom = sortOf(album.meta) === "custom";
    sortSelect.value = sortOf(album.meta);
    $("[data-slot=order-hint]", section).hidden = !can.manage || (!custom && files.length < 2);
    $("[data-slot=no-files]", section).hidden = files.length > 0;
    library.refresh();
    showHeader();
  }

  function currentOrder() {
    return ordered(files, album.meta).map((file) => file.id);
  }

  async function saveOrder(order) {
    album.meta = { ...album.meta, sort: "custom", order };
    render();
    await save({ sort: "custom", order }, "The new order is saved. Visitors see it when they reload.");
  }

  function move(file, step) {
    const order = currentOrder();
    const at = order.indexOf(file.id);
    const to = at + step;
    if (to < 0 || to >= order.length) return;
    [order[at], order[to]] = [order[to], order[at]];
    saveOrder(order).then(() => $(`[data-action=${step < 0 ? "earlier" : "later"}]`, file.tile).focus());
  }

  function dropBefore(movedId, targetId) {
    if (movedId === targetId) return;
    const order = currentOrder().filter((id) => id !== movedId);
    order.splice(order.indexOf(targetId), 0, movedId);
    saveOrder(order);
  }

  async function approve(file) {
    hide(errorLine);
    try {
      file.entry = await owner.approveFile(album.id, file.id);
    } catch (error) {
      showError(errorLine, describe(error));
      return;
    }
    render();
    setBusy(status, `${file.info.name || "The file"} is approved: every visitor sees it now.`);
  }

  // Favorites are this person's own, sealed under their MK: the server sees a padded size only.
  let favorites = new Set();
  try {
    const { favorites: all } = await loadFavorites(me, mk);
    favorites = new Set(all[album.id] || []);
  } catch (error) {
    showError(errorLine, `Your favorites could not be read: ${describe(error)}`);
  }
  $("[data-slot=only-favorites]", section).addEventListener("change", render);

  async function toggleFavorite(file) {
    hide(errorLine);
    const on = !favorites.has(file.id);
    try {
      favorites = await setFavorite(me, mk, album.id, file.id, on);
    } catch (error) {
      showError(errorLine, describe(error));
      return;
    }
    render();
    const name = file.info.name || "The photo";
    setBusy(status, on ? `${name} is a favorite.` : `${name} is no longer a favorite.`);
  }

  async function setCover(file) {
    album.meta = { ...album.meta, cover: file.id };
    render();
    await save({ cover: file.id }, `${file.info.name || "This file"} is now the album's cover.`);
  }

  async function removeFile(file) {
    const name = file.info.name || "this file";
    const text = "It is deleted from the album and from the server, for everyone who has a link.";
    if (!(await confirmAction(`Remove ${name}?`, text, "Remove"))) return;
    try {
      await owner.deleteFile(album.id, file.id);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) {
        showError(errorLine, describe(error));
        return;
      }
    }
    files = files.filter((each) => each.id !== file.id);
    const changes = {};
    if (album.meta.cover === file.id) Object.assign(changes, { cover: undefined });
    if (Array.isArray(album.meta.order) && album.meta.order.includes(file.id)) {
      Object.assign(changes, { order: album.meta.order.filter((id) => id !== file.id) });
    }
    if (Object.keys(changes).length) {
      const meta = { ...album.meta, ...changes };
      if (meta.cover === undefined) delete meta.cover;
      album.meta = meta;
      await save({}, "");
    }
    render();
    setBusy(status, `${name} was removed.`);
  }

  sortSelect.addEventListener("change", () => {
    const sort = sortSelect.value;
    const changes = sort === "custom" ? { sort, order: currentOrder() } : { sort };
    album.meta = { ...album.meta, ...changes };
    render();
    save(changes, "The new order is saved. Visitors see it when they reload.");
  });

  function addEntry(fileEntry) {
    const file = openFile(album, fileEntry);
    if (!file || files.some((each) => each.id === file.id)) return;
    files.push({ ...file, seq: seq++ });
  }

  for (const fileEntry of await owner.files(album.id)) addEntry(fileEntry);
  render();

  // --- edit and delete ---------------------------------------------------------------

  const editDialog = $("#edit-album-dialog");
  $("[data-action=edit]", section).addEventListener("click", () => {
    editDialog.querySelector("[name=title]").value = album.meta.title || "";
    editDialog.querySelector("[name=description]").value = album.meta.description || "";
    editDialog.returnValue = "";
    editDialog.showModal();
  });
  $("form", editDialog).addEventListener("submit", async (event) => {
    if (event.submitter && /** @type {HTMLButtonElement} */ (event.submitter).value === "cancel") return;
    const title = editDialog.querySelector("[name=title]").value.trim();
    if (!title) {
      event.preventDefault();
      return;
    }
    const description = editDialog.querySelector("[name=description]").value.trim();
    const changes = { title, description };
    album.meta = { ...album.meta, ...changes };
    showHeader();
    await save(changes, "Saved. Visitors see the change when they reload.");
  });

  $("[data-action=delete]", section).addEventListener("click", async () => {
    const ok = await confirmAction(
      `Delete ${album.meta.title || "this album"}?`,
      `Its ${formatCount(files.length, "photo and video", "photos and videos")} and every link to it are deleted` +
        " from the server. This cannot be undone.",
      "Delete album",
    );
    if (!ok) return;
    try {
      await owner.deleteAlbum(album.id);
      location.assign("/app");
    } catch (error) {
      showError(errorLine, describe(error));
    }
  });

  // --- uploads -------------------------------------------------------------------------

  wireRoles();
  if (can.add) await wireAdding();
  if (can.owner) await wireLinks();
  await wirePeople({ album, me, mk, identity, section, status, errorLine, files: () => files, can });
  // Comments and reactions (issue 14): every role that sees the album reads and writes them.
  const ownerId = album.role === "owner" ? me.account_id : (await sharing.members(album.id)).owner.account_id;
  comments = wireComments({ album, me, mk, identity, section, can, ownerId });
  render();
  // Shown once everything is wired: a file chosen or dropped earlier would be lost.
  show(section);

  /** Hide what the role does not allow: the server refuses it anyway, with its own sentence. */
  function wireRoles() {
    $("[data-action=add-photos]", section).hidden = !can.add;
    $("[data-action=edit]", section).hidden = !can.manage;
    $("[data-action=delete]", section).hidden = !can.owner;
    $("[data-slot=links-section]", section).hidden = !can.owner;
    sortSelect.disabled = !can.manage;
  }

  async function wireAdding() {
    const uploadWorker = new WorkerClient(new URL("../upload/upload-worker.js", import.meta.url));
    const channel = new MessageChannel();
    channel.port1.postMessage({ albumId: album.id, albumKey: album.key, keyEpoch: album.epoch });
    await uploadWorker.call("connect", { port: channel.port2 }, [channel.port2]);
    const limits = async () => {
      const fresh = (await account.me()).account;
      const free = Math.max(0, fresh.quota_bytes - fresh.bytes_used);
      const huge = Number.MAX_SAFE_INTEGER;
      // The server has the last word (413 account_full, with its own sentence); the page only shows the room left.
      return { max_file_size: huge, files_left: huge, bytes_left: huge, part_size: PART_SIZE, free, account_left: free };
    };
    const queue = new UploadQueue({
      api: uploadCalls(album.id, limits),
      worker: uploadWorker,
      videoFacts,
      uploader: () => "",
      storage: localStorage,
      prefix: `fragment:owner:${album.id}:`,
    });
    queue.addEventListener("done", (event) => {
      const { entry: fileEntry } = /** @type {CustomEvent} */ (event).detail;
      addEntry(fileEntry);
      render();
    });
    wireUploads({ queue, storage: localStorage, prefix: `fragment:owner:${album.id}:`, owner: true });
  }

  // --- links ----------------------------------------------------------------------------

  async function wireLinks() {
    const linkList = $("[data-slot=links]", section);
    const linkTemplate = $("#link-row");
    const linkDialog = $("#link-dialog");
    let links = [];

    function linkRow(link) {
      const li = linkTemplate.content.firstElementChild.cloneNode(true);
      li.dataset.linkId = link.link_id;
      const state = linkState(link);
      $("[data-slot=summary]", li).textContent = linkLabel(link, mk) || (link.password ? "Link with a password" : "Link");
      $("[data-slot=state]", li).textContent = state;
      const opened = link.last_opened_at ? `last opened ${formatDate(link.last_opened_at)}` : "never opened yet";
      $("[data-slot=facts]", li).textContent = `${linkFacts(link)} · made ${formatDate(link.created_at)} · ${opened}`;
      const address = linkAddress(link, mk);
      const url = $("[data-slot=url]", li);
      const unshown = link.revoked_at ? "Revoked: this link no longer opens." : "This link cannot be shown again on this device.";
      url.value = address || unshown;
      const copied = $("[data-slot=copied]", li);
      const copy = $("[data-action=copy]", li);
      copy.hidden = !address;
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(address);
          copied.textContent = link.password ? "Copied. Send the password another way." : "Copied.";
        } catch {
          url.select();
          copied.textContent = "Select the link and copy it yourself: this browser did not let the page copy.";
        }
      });
      const qr = $("[data-action=qr]", li);
      qr.hidden = !address;
      qr.addEventListener("click", () => {
        const dialog = $("#qr-dialog");
        // Black on opaque white with the standard four-module quiet zone, so it scans on any background.
        generate(address).toCanvas($("[data-slot=qr]", dialog), { on: [0, 0, 0, 255], off: [255, 255, 255, 255], pad: 4 });
        dialog.showModal();
      });
      $("[data-action=change]", li).hidden = Boolean(link.revoked_at);
      $("[data-action=change]", li).addEventListener("click", () => openLinkDialog(link));
      $("[data-action=revoke]", li).hidden = Boolean(link.revoked_at);
      $("[data-action=revoke]", li).addEventListener("click", async () => {
        const text = "Nobody can open the album with it any more, even people who opened it before.";
        const ok = await confirmAction("Revoke this link?", text, "Revoke");
        if (!ok) return;
        try {
          await owner.revokeLink(link.link_id);
          await showLinks();
          setBusy(status, "The link is revoked.");
        } catch (error) {
          showError(errorLine, describe(error));
        }
      });
      return li;
    }

    async function showLinks() {
      links = (await owner.links(album.id)).links;
      const live = [...links].reverse().sort((a, b) => Number(Boolean(a.revoked_at)) - Number(Boolean(b.revoked_at)));
      linkList.replaceChildren(...live.map(linkRow));
      $("[data-slot=no-links]", section).hidden = links.length > 0;
    }

    const field = (name) => linkDialog.querySelector(`[name=${name}]`);
    function syncPasswordFields() {
      const on = field("use_password").checked;
      for (const element of linkDialog.querySelectorAll("[data-when=use_password]")) element.hidden = !on;
    }
    field("use_password").addEventListener("change", syncPasswordFields);
    // How many an hour matters only once comments are on; an add-only link shows nothing to comment on.
    function syncCommentFields() {
      const addOnly = field("upload_only").checked;
      field("comments").disabled = addOnly;
      const on = !addOnly && field("comments").value !== "off";
      for (const element of linkDialog.querySelectorAll("[data-when=comments]")) element.hidden = !on;
    }
    field("comments").addEventListener("change", syncCommentFields);
    field("upload_only").addEventListener("change", syncCommentFields);
    // What "Only add" means since links became file drops (keys.js createLink), in one line under it.
    const dropNote = document.createElement("p");
    dropNote.className = "hint";
    dropNote.id = "link-drop-hint";
    dropNote.textContent = "Guests can add photos but cannot see any, not even with the link's key.";
    field("upload_only").closest("label").after(dropNote);
    field("upload_only").setAttribute("aria-describedby", dropNote.id);

    let editing = null; // the link being changed, or null for a new one
    function openLinkDialog(link) {
      editing = link;
      $("[data-slot=title]", linkDialog).textContent = link ? "Change the link" : "New link";
      $("[data-slot=ok]", linkDialog).textContent = link ? "Save" : "Create link";
      field("label").value = link ? linkLabel(link, mk) : "";
      field("use_password").checked = Boolean(link && link.password);
      field("password").value = "";
      $("[data-slot=password-hint]", linkDialog).hidden = !(link && link.password);
      field("expires_at").value = localInput(link && link.expires_at);
      field("device_limit").value = link && link.device_limit ? String(link.device_limit) : "";
      field("downloads").checked = link ? link.downloads : true;
      field("uploads").checked = link ? link.uploads : false;
      field("upload_only").checked = link ? link.upload_only : false;
      // A file drop holds no album key to show the album with: it stays a link for adding only.
      field("upload_only").disabled = isDrop(link);
      field("hold_uploads").checked = link ? link.hold_uploads : false;
      field("quota_files").value = link ? String(link.quota_files) : "";
      field("quota_mb").value = link ? String(Math.round(link.quota_bytes / 1e6)) : "";
      field("comments").value = link && ["on", "held"].includes(link.comments) ? link.comments : "off";
      field("notes_per_hour").value = link && link.notes_per_hour ? String(link.notes_per_hour) : "";
      hide($("[data-slot=error]", linkDialog));
      setBusy($("[data-slot=status]", linkDialog), "");
      syncPasswordFields();
      syncCommentFields();
      linkDialog.returnValue = "";
      linkDialog.showModal();
    }
    $("[data-action=new-link]", section).addEventListener("click", () => openLinkDialog(null));

    /** The dialog's settings in the API's words; a Refused error for what cannot be sent. */
    function dialogSettings() {
      const number = (name, what) => {
        const text = field(name).value.trim();
        if (!text) return null;
        const value = Number(text);
        if (!Number.isSafeInteger(value) || value < 0) {
          throw refused(`${what} must be a whole number.`);
        }
        return value;
      };
      const expiry = field("expires_at").value;
      const expiresAt = expiry ? new Date(expiry) : null;
      if (expiresAt && (Number.isNaN(expiresAt.getTime()) || expiresAt <= new Date())) {
        throw refused("Choose an expiry in the future, or none.");
      }
      const uploads = field("uploads").checked || field("upload_only").checked;
      const devices = number("device_limit", "The number of devices");
      if (devices === 0) {
        throw refused("Allow at least one device, or leave it empty for any number.");
      }
      const quotaMb = number("quota_mb", "The upload limit");
      const comments = field("upload_only").checked ? "off" : field("comments").value;
      const perHour = comments === "off" ? null : number("notes_per_hour", "The number of comments an hour");
      if (perHour !== null && (perHour < 1 || perHour > 1000)) {
        throw refused("Allow from 1 to 1000 comments an hour, or leave it empty for 30.");
      }
      return {
        expires_at: expiresAt ? expiresAt.toISOString().replace(/\.\d{3}Z$/, "Z") : null,
        device_limit: devices,
        downloads: field("downloads").checked,
        uploads,
        upload_only: field("upload_only").checked,
        hold_uploads: field("hold_uploads").checked,
        quota_files: number("quota_files", "The number of guest files"),
        quota_bytes: quotaMb === null ? null : quotaMb * 1_000_000,
        comments,
        // Left empty: the server's 30 for a new link, and what it was for a link changed.
        ...(perHour === null ? {} : { notes_per_hour: perHour }),
      };
    }

    $("form", linkDialog).addEventListener("submit", async (event) => {
      if (event.submitter && /** @type {HTMLButtonElement} */ (event.submitter).value === "cancel") return;
      event.preventDefault();
      const error = $("[data-slot=error]", linkDialog);
      const dialogStatus = $("[data-slot=status]", linkDialog);
      hide(error);
      try {
        const settings = dialogSettings();
        const usePassword = field("use_password").checked;
        const password = field("password").value;
        const label = field("label").value.trim();
        if (usePassword && !password && !(editing && editing.password)) {
          throw refused("Type the password visitors will need, or untick the box.");
        }
        if (password || usePassword) setBusy(dialogStatus, "Making the link's keys…");
        if (editing) {
          // A new password (or none) changes the keys; keeping the old one sends no password at all.
          const newPassword = !usePassword ? (editing.password ? "" : undefined) : password ? password : undefined;
          await changeLink(album, editing, mk, settings, newPassword, label);
        } else {
          const { address } = await createLink(album, mk, settings, usePassword ? password : null, label);
          if (address) {
            try {
              await navigator.clipboard.writeText(address);
              setBusy(status, "The link is made and copied.");
            } catch {
              setBusy(status, "The link is made. Copy it from the list below.");
            }
          }
        }
        linkDialog.close("ok");
        await showLinks();
      } catch (failure) {
        setBusy(dialogStatus, "");
        showError(error, describe(failure));
      }
    });

    await showLinks();
  }
}
