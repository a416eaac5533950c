// The album page: read the key, unlock the link, show the album.
//
// Order of work (docs/api.md, "Public link API"):
//   1. the key is read from the fragment, here and nowhere else, and checked
//      strictly before any request (docs/format.md, "The link"; format.js, no libsodium);
//   2. the album Worker's `open`: GET info while libsodium loads: a dead link gets its
//      page at once; a password link gets a form, unless its Argon2 parameters are below
//      the floor (refused before anything is hashed: docs/format.md, "Argon2id floor");
//   3. the album Worker's `unlock`, one call: POST challenge *before* Argon2 (a client
//      that must wait is refused there, 429 with Retry-After, before it spends seconds on
//      the password hash), sign it with the link key, the password key and this
//      browser's device key (device.js), POST unlock, unwrap the album key and open the
//      metadata;
//   4. the grid fills in page by page while thumbnails near the screen are decrypted.
//
// The page itself holds no key and no access token: the link secret, the album key, the
// file keys and the token live in album-worker.js, which makes every API call. This
// module only orchestrates and shows (Send keeps orchestration apart from keys and from
// fetch calls in the same way). The one exception is the link's own text, which stays in
// the address bar (readKey) and which the Share button gives on (share.js).

import { forgetDeviceKey } from "../core/device.js";
import { decodeLinkSecret } from "../core/format.js";
import { wireDownloadAll } from "../download/download-all.js";
import { countLabel, countText } from "./comments.js";
import { Grid } from "./grid.js";
import { wireJoin } from "./join.js";
import { askGuestName } from "./guest-name.js";
import { linkComments } from "./link-comments.js";
import { createLightbox } from "./lightbox.js";
import { Media } from "./media.js";
import { wireShare } from "./share.js";
import { albumOrder, coverOf, dateHeadings, monthly } from "./order.js";
import { albumInfo, fileInfo, formatCount, formatDayRange, formatMinutes, safeFileName } from "../core/present.js";
import { WorkerClient } from "../core/rpc.js";
import { ServiceWorkerBridge } from "../download/sw-client.js";
import { videoFacts } from "../upload/poster.js";
import { wireUploads } from "../upload/upload-ui.js";
import { UploadQueue, linkCalls } from "../upload/uploads.js";

const app = document.getElementById("album-app");
const linkId = app.dataset.linkId;
const PREFIX = `fragment:${linkId}:`;
const FIRST_PAGE = 200; // a small first page paints the first screen sooner
const PAGE = 1000; // the API's largest page

let worker = null;
let media = null;
let grid = null;
let lightbox = null;
let bridge = null;
let downloadAll = null;
let uploader = null; // {queue, ui, worker} where the link allows uploads
let notes = null; // the link's comments and reactions (link-comments.js), where the link has them on
let albumThread = null; // {thread, stop}: the album's own comments, below the header
// The album's files in the order the page shows them (order.js), each with its `index` there.
const files = [];
const listedIds = new Set();
let order = albumOrder(null);
let coverId = null; // the album's cover, once its file is listed
let coverShown = false;
let seq = 0; // the order files arrived in: the server lists in upload order
const OWN_SEQ = 2 ** 40;
let headings = { monthly: false, of: null };
let shareLink = ""; // the whole link, `<server>/a/<id>#<key>`, once its key is known to be well-formed

// --- what the page shows --------------------------------------------------------

/**
 * The first element under root that matches; any, as the template's elements are of many kinds.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {any}
 */
function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Show one of the template's states (and only that one); `detail` fills its detail line. */
function show(state, detail) {
  const sections = /** @type {NodeListOf<HTMLElement>} */ (app.querySelectorAll("[data-state]"));
  for (const section of sections) section.hidden = section.dataset.state !== state;
  const section = $(`[data-state="${state}"]`, app);
  const slot = section && $("[data-slot=detail]", section);
  if (slot) {
    slot.textContent = detail || "";
    slot.hidden = !detail;
  }
  const heading = section && $("h1", section);
  if (heading && state !== "loading" && state !== "album") heading.focus({ preventScroll: true });
  return section;
}

/** The page for an error that ends the visit; never a stack trace. */
function fail(error) {
  stopAlbum();
  const name = error && error.name;
  if (name === "NetworkError") return show("network");
  if (name === "WorkerFailed") return show("unsupported");
  if (name === "DeviceKeyUnavailable") return show("unsupported", error.message);
  if (name === "WeakPasswordParams") return show("weakpassword");
  if (name === "ApiError") {
    const byCode = {
      not_found: "notfound",
      bad_id: "notfound",
      expired: "expired",
      revoked: "revoked",
      device_limit: "devicelimit",
      upload_only: "uploadonly",
      bad_proof: "badproof",
      bad_link_key: "badproof",
    };
    if (error.code === "expired") return show("expired", expiredWhen(error));
    if (byCode[error.code]) return show(byCode[error.code], error.message);
    if (error.status === 429) return show("toomany", tooMany(error));
    return show("error", error.message);
  }
  if (name === "DecryptionError" || name === "FormatError") return show("undecryptable");
  // A file drop whose key did not open with the link's key: said as it is, and nothing is sent (album-worker.js).
  if (name === "DropKeyRefused") return show("error", error.message);
  // For whoever debugs it; the visitor gets a sentence, never a stack trace.
  console.warn("Fragment viewer:", error);
  return show("error", "The page ran into a problem it did not expect.");
}

/** "It stopped working on Tuesday, December 1, 2026 at 11:32 PM.": in the visitor's language and time zone. */
function expiredWhen(error) {
  const when = new Date(error.body && error.body.expired_at);
  if (Number.isNaN(when.getTime())) return error.message;
  const words = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" }).format(when);
  return `It stopped working on ${words}.`;
}

/** "Too many wrong passwords. Try again in 2 minutes.", from the server's Retry-After (RFC 9110 section 10.2.3). */
function tooMany(error) {
  if (!Number.isSafeInteger(error.retryAfter) || error.retryAfter < 0) return error.message;
  return `Too many wrong passwords. Try again in ${formatWait(error.retryAfter)}.`;
}

/** A wait in words: seconds under a minute, else whole minutes rounded up. */
function formatWait(seconds) {
  if (seconds < 60) {
    const n = Math.max(1, seconds);
    return n === 1 ? "1 second" : `${n} seconds`;
  }
  return formatMinutes(seconds);
}

// --- the key, from the fragment ---------------------------------------------------

/**
 * The link secret's text. This is the one place that reads the fragment. A valid key is
 * kept in sessionStorage (this tab only) and stays in the address bar: the address is then
 * the whole link, which a visitor can bookmark, copy or send on, as Ente's and PrivateBin's
 * links do. Taking it out (as this page once did) left every copied, bookmarked or
 * sent-on address broken ("This link is missing its key"), for a small gain: the link is
 * still in the message it came in, and a browser may record the address it opened before
 * a script replaces it. What keeping it means for history, bookmarks and screens:
 * docs/design.md, "The address bar keeps the key". The fragment still never leaves the
 * browser (docs/format.md, "The link").
 */
function readKey() {
  const fromUrl = location.hash.slice(1);
  if (fromUrl) {
    return {
      text: fromUrl,
      keep() {
        sessionStorage.setItem(`${PREFIX}key`, fromUrl);
      },
    };
  }
  const saved = sessionStorage.getItem(`${PREFIX}key`);
  if (!saved) return null;
  return {
    text: saved,
    // A tab opened before the address kept its key: put it back, so the address is a link again.
    // replaceState fires no hashchange, so this does not reload the page.
    keep() {
      history.replaceState(history.state, "", `${location.pathname}${location.search}#${saved}`);
    },
  };
}

// --- unlocking --------------------------------------------------------------------

/** Reload the page; what was waiting for an answer waits for ever (the page goes away). */
function reload() {
  location.reload();
  return new Promise(() => {});
}

/**
 * An album Worker call, and if the link died meanwhile (revoked, expired), its page instead
 * of the album. The Worker renews a refused access token itself (album-worker.js).
 */
async function withToken(method, args) {
  try {
    return await worker.call(method, args);
  } catch (error) {
    // One file gone (the owner deleted it meanwhile) is that file's problem, not the album's.
    if (isFatal(error) && !(method === "blob" && error.status === 404)) fail(error);
    throw error;
  }
}

/** Errors that end the visit whatever was being done (the link died meanwhile). */
function isFatal(error) {
  return error && error.name === "ApiError" && [403, 404, 410].includes(error.status) && error.code !== "downloads_off";
}

/** What the album Worker says unasked, when it had to renew the access token. */
function wireWorkerEvents() {
  // The owner changed the link (downloads, password...): start over with what it is now,
  // unless that would stop uploads; they learn what changed from their next answer.
  worker.addEventListener("stale", () => {
    if (!(uploader && uploader.queue.busy)) reload();
  });
  // The password was changed: start over, and the form will ask for the new one.
  worker.addEventListener("locked", () => reload());
}

/**
 * The album Worker's unlock answer: the album's metadata and the link's settings. A file drop
 * (`drop`) holds no album key, so not even the title: the page says what the link is for instead.
 */
async function enter({ album, drop, info }) {
  if (drop) return showDrop(info);
  await showAlbum(albumInfo(album), info, album);
}

/** A file drop's page: the guest's own uploads of this visit, nothing of the album. */
function showDrop(info) {
  $("#album-title").textContent = "Add photos and videos";
  $("#album-description").hidden = true;
  $("#upload-only-note").hidden = false;
  $("#album-stats").hidden = true;
  $("#uploads").hidden = false;
  show("album");
  startUploads(info).catch(fail);
}

/** What a device that is not admitted yet reads about the link's devices, or null when none is left. */
function devicesText(info) {
  const allowed = formatCount(info.device_limit, "device", "devices");
  const free = info.devices_free;
  if (free === 0) return null;
  const left = Number.isSafeInteger(free) && free < info.device_limit ? ` (${free} still free)` : "";
  return `This link can be opened on ${allowed}${left}. Opening it here uses one of them; this browser will remember it.`;
}

/** The device-limit page, said once: the sentence the server also gives when a slot is refused. */
function noDeviceLeft(info) {
  const limit = info.device_limit;
  const taken = limit === 1 ? "1 device, and it is taken" : `${limit} devices, and all are taken`;
  return show("devicelimit", `This link can be opened on ${taken}.`);
}

/** A device-limited link is opened by a click, never by loading the page (a preview bot). */
function confirmDevice(info) {
  const section = show("confirm", devicesText(info));
  return new Promise((resolve) => {
    $("[data-action=open]", section).addEventListener("click", resolve, { once: true });
  });
}

function askPassword(info, admitted) {
  const section = show("password");
  const form = $("form", section);
  const input = $("input[type=password]", form);
  const message = $("[data-slot=message]", form);
  const progress = $("[data-slot=progress]", form);
  const button = $("button[type=submit]", form);
  const devices = $("[data-slot=devices]", form);
  if (info.device_limit && !admitted) {
    devices.textContent = devicesText(info);
    devices.hidden = false;
  }
  input.focus();

  const say = (text) => {
    message.textContent = text;
    message.hidden = !text;
  };
  const busy = (on) => {
    progress.hidden = !on;
    button.disabled = on;
    input.readOnly = on;
    form.setAttribute("aria-busy", on ? "true" : "false");
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    const password = input.value;
    if (!password) {
      say("Type the password you were given with the link.");
      return;
    }
    say("");
    busy(true);
    let answer;
    try {
      // One call: the challenge first (a client that must wait stops there, before Argon2 runs).
      answer = await worker.call("unlock", { password });
    } catch (error) {
      busy(false);
      if (error.code === "wrong_password") {
        say("That password is not right. Check it and try again.");
        input.select();
      } else if (error.name === "ApiError" && error.status === 429) {
        say(tooMany(error));
      } else if (error.name === "NetworkError") {
        say("Could not reach the server. Check your connection, then try again.");
      } else {
        fail(error);
      }
      return;
    }
    busy(false);
    enter(answer).catch(fail);
  });
}

// --- the album ------------------------------------------------------------------

/**
 * Files join in their place in the album's order, wherever that is, then the grid and an
 * open lightbox are told. Array.prototype.sort is stable and fast on an array that is
 * already sorted but for a page appended (V8's TimSort), and the order is total (`seq`).
 */
function addFiles(entries, { own = false } = {}) {
  const added = [];
  for (const entry of entries) {
    // A guest's own upload is shown at once, and may come again with a later page of the listing.
    if (entry.id && listedIds.has(entry.id)) continue;
    if (entry.id) listedIds.add(entry.id);
    const info = entry.meta ? fileInfo(entry.meta) : null;
    const file = {
      index: files.length,
      // A guest's own upload, shown before the listing reaches it, is the album's newest.
      seq: own ? OWN_SEQ + seq++ : seq++,
      id: entry.id,
      info,
      broken: entry.broken || !info,
      guest: entry.guest === true, // the server's flag: added through a link, not by the owner
      thumb: { state: "idle", url: null },
      get alt() {
        if (this.info && this.info.name) return this.info.name;
        const kind = this.info && this.info.kind === "video" ? "Video" : "Photo";
        return `${kind} ${this.index + 1} of ${files.length}`;
      },
    };
    files.push(file);
    added.push(file);
  }
  if (!added.length) return;
  files.sort(order.compare);
  files.forEach((file, index) => {
    file.index = index;
  });
  for (const file of added) if (coverId && file.id === coverId) showCover(file);
  if (grid) {
    if (order.headings && (!headings.of || headings.monthly !== monthly(files.length))) {
      headings = { monthly: monthly(files.length), of: null };
      headings.of = dateHeadings(headings.monthly);
    }
    grid.headingOf = order.headings ? headings.of : null;
    grid.relayout();
  }
  if (lightbox) lightbox.update();
}

/** The cover's thumbnail beside the title, once its file is listed; a cover that fails shows nothing. */
function showCover(file) {
  if (coverShown || file.broken || !media) return;
  coverShown = true;
  const img = $("#album-cover");
  media.thumb(file).then(
    (url) => {
      img.src = url;
      img.hidden = false;
    },
    () => {},
  );
}

function tileLabel(file) {
  if (file.broken) return `File ${file.index + 1}: this file could not be decrypted`;
  if (file.info.kind === "video") return `Video: ${file.alt}`;
  return file.alt;
}

function updateStats(done) {
  let photos = 0;
  let videos = 0;
  let first = null;
  let last = null;
  for (const file of files) {
    if (!file.info) continue;
    if (file.info.kind === "video") videos += 1;
    else photos += 1;
    const taken = file.info.takenAt;
    if (taken) {
      if (!first || taken.wall < first.wall) first = taken;
      if (!last || taken.wall > last.wall) last = taken;
    }
  }
  const parts = [];
  if (photos || !videos) parts.push(formatCount(photos, "photo", "photos"));
  if (videos) parts.push(formatCount(videos, "video", "videos"));
  const broken = files.length - photos - videos;
  if (broken) parts.push(formatCount(broken, "damaged file", "damaged files"));
  let text = parts.join(", ");
  if (first) text += ` · ${formatDayRange(first, last)}`;
  if (!done) text += " · loading…";
  $("#album-stats").textContent = text;
  $("#album-empty").hidden = !(done && files.length === 0);
}

async function showAlbum(album, info, meta) {
  // Not in document.title: browsers keep titles in their history, which may sync to a
  // third party; the album's title is content, and stays on the page.
  $("#album-title").textContent = album.title;
  const description = $("#album-description");
  description.textContent = album.description || "";
  description.hidden = !album.description;
  if (info.uploads) startUploads(info).catch(fail);
  if (info.upload_only) {
    // A file drop: the album's title and the guest's own uploads, nothing else.
    $("#upload-only-note").hidden = false;
    $("#album-stats").hidden = true;
    $("#uploads").hidden = false;
    show("album");
    return;
  }
  const downloads = info.downloads !== false;
  $("#downloads-off").hidden = downloads;
  // Originals (videos streamed, "download all") only where the owner allows downloads;
  // with downloads off there is no Service Worker and no button at all.
  $("#download-all").hidden = !downloads;
  // A viewing link only: a file drop's guest was given a link to add photos, not one to pass on.
  wireShare({ link: shareLink, password: Boolean(info.password) });
  show("album");
  // "Add to my albums", for a visitor signed in here (join.js); nothing at all for anyone else.
  wireJoin(worker, info).catch(() => {});

  let listingDone;
  const listed = new Promise((resolve) => {
    listingDone = resolve;
  });
  if (downloads) {
    bridge = new ServiceWorkerBridge({ linkId, call: (method, args, transfer) => worker.call(method, args, transfer) });
    bridge.ready(); // register early, so the first video starts at once
    downloadAll = wireDownloadAll({
      button: $("#download-all"),
      status: $("#download-all-status"),
      files,
      listed: () => listed,
      title: () => safeFileName(album.title, "album"),
      bridge,
      call: withToken,
    });
  }
  media = new Media(withToken, bridge);
  startComments(info);
  // The owner's order and cover (docs/format.md, "Album metadata"), checked: anything odd is the default.
  order = albumOrder(meta);
  coverId = coverOf(meta);
  grid = new Grid($("#grid"), {
    files,
    fetchThumb: (file) => media.thumb(file),
    onOpen: (index) => lightbox.open(index),
    label: tileLabel,
    notesOf: notes ? tileNotes : null,
  });
  lightbox = createLightbox({ files, media, downloads: info.downloads !== false, grid, comments: notes });
  if (notes) albumThread.thread.refresh(); // one load: the album's thread, the tiles and the lightbox

  let after = null;
  let first = true;
  updateStats(false);
  do {
    const page = await listPage(after, first ? FIRST_PAGE : PAGE);
    first = false;
    addFiles(page.files);
    updateStats(!page.next);
    after = page.next;
  } while (after);
  listingDone();
}

// --- comments and reactions ------------------------------------------------------------

/**
 * Comments and reactions where the link's owner turned them on ('on', or 'held': each waits for the
 * owner's approval); with 'off' there is no thread, no button and no count anywhere on the page.
 */
function startComments(info) {
  if (info.comments !== "on" && info.comments !== "held") return;
  const nameKey = `${PREFIX}guest-name`;
  notes = linkComments({
    // Not withToken: a refusal here (comments turned off meanwhile, too many) is said in the thread,
    // it does not end the visit.
    call: (method, args) => worker.call(method, args),
    mode: info.comments,
    storage: localStorage,
    prefix: PREFIX,
    askName: () => askGuestName($("#guest-dialog"), localStorage, nameKey, "comments"),
  });
  const section = $("#album-comments");
  section.hidden = false;
  albumThread = notes.thread($("[data-slot=thread]", section), null);
  notes.subscribe(() => {
    if (grid) grid.refreshTiles();
  });
}

/** A tile's count of reactions and comments, or null for none. */
function tileNotes(file) {
  const counts = notes.counts(file.id);
  const label = countLabel(counts);
  return label ? { text: countText(counts), label } : null;
}

// --- guest uploads ------------------------------------------------------------------

/**
 * The upload Worker, given the album key by the album Worker over a channel of their
 * own. One: a second one made no difference on two cores (bench/upload_throughput.py).
 */
async function startUploads(info) {
  const uploadWorker = new WorkerClient(new URL("../upload/upload-worker.js", import.meta.url));
  let renewing = null;
  /** The album Worker's keys to the upload Worker, on a channel of their own (again after they changed). */
  const grant = async () => {
    const channel = new MessageChannel();
    await Promise.all([
      worker.call("grantUpload", { port: channel.port1 }, [channel.port1]),
      uploadWorker.call("connect", { port: channel.port2 }, [channel.port2]),
    ]);
  };
  const queue = new UploadQueue({
    // Through the album Worker, which renews any refused token, even a stale one (a reload
    // would stop the uploads: wireWorkerEvents).
    api: linkCalls((method, args, transfer) => worker.call(method, args, transfer)),
    worker: uploadWorker,
    videoFacts,
    uploader: () => localStorage.getItem(`${PREFIX}guest-name`) || "",
    storage: localStorage,
    prefix: PREFIX,
    // A file refused as stale_key (the owner gave the album a new key meanwhile): unlock again for
    // the link's keys as they are now, and hand them to the upload Worker.
    renewKeys: () => {
      // One renewal for the files refused together.
      renewing ||= (async () => {
        await worker.call("renewKeys");
        await grant();
      })().finally(() => {
        renewing = null;
      });
      return renewing;
    },
  });
  uploader = { queue, worker: uploadWorker, ui: null };
  queue.addEventListener("done", (event) => showUploaded(/** @type {CustomEvent} */ (event).detail, info).catch(() => {}));
  uploader.ui = wireUploads({ queue, storage: localStorage, prefix: PREFIX });
  // Held for the owner's approval (the link's hold_uploads): say so before the guest wonders where their files went.
  const held = /** @type {HTMLElement | null} */ (document.querySelector("#uploads [data-slot=held]"));
  if (held) held.hidden = !info.hold_uploads;
  await grant();
}

/** A file this guest just added joins the grid at once, with the thumb made on this device. */
async function showUploaded({ entry, thumb }, info) {
  if (info.upload_only || !grid) return;
  const opened = await worker.call("adopt", { entry });
  if (thumb && opened.id) media.adopt(opened.id, thumb);
  addFiles([opened], { own: true });
  updateStats(true);
}

/** One page of the listing; a dropped connection is retried a few times before the page gives up. */
async function listPage(after, limit) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await withToken("page", { after, limit });
    } catch (error) {
      if (error.name !== "NetworkError" || attempt === 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** attempt));
    }
  }
}

/** Stop showing the album; its object URLs are revoked once nothing displays them. */
function stopAlbum() {
  if (downloadAll) downloadAll.stop();
  downloadAll = null;
  const closed = lightbox ? lightbox.destroy() : Promise.resolve();
  if (grid) grid.destroy();
  if (albumThread) albumThread.stop();
  albumThread = notes = null;
  const cache = media;
  lightbox = grid = media = null;
  return closed.then(() => {
    if (cache) cache.forget();
  });
}

// --- forget -----------------------------------------------------------------------

/** Remove everything this page keeps about this link on this device, then reload. */
async function forget() {
  for (const store of [localStorage, sessionStorage]) {
    for (const key of Object.keys(store)) if (key.startsWith(PREFIX)) store.removeItem(key);
  }
  await stopAlbum();
  // This browser's device key for the link: opening it here again is a new device.
  await forgetDeviceKey(linkId).catch(() => {});
  // The Service Worker drops this link's keys and tokens, and is unregistered.
  await (bridge || new ServiceWorkerBridge({ linkId })).forget().catch(() => {});
  bridge = null;
  if (uploader) {
    await uploader.queue.cancelAll().catch(() => {});
    uploader.ui.forget();
    uploader.worker.terminate();
    uploader = null;
  }
  if (worker) {
    await worker.call("forget").catch(() => {});
    worker.terminate();
    worker = null;
  }
  if ("caches" in window) {
    for (const name of await caches.keys()) if (name.includes(linkId)) await caches.delete(name);
  }
  // history.state survives the reload; it is how the next page knows why the key is gone.
  history.replaceState({ forgotten: linkId }, "", location.pathname);
  location.reload();
}

function wireForget() {
  const dialog = $("#forget-dialog");
  $("#forget").addEventListener("click", () => dialog.showModal());
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "forget") forget();
  });
}

// --- start ------------------------------------------------------------------------

async function main() {
  wireForget();
  for (const button of app.querySelectorAll("[data-action=reload]")) button.addEventListener("click", () => location.reload());
  // A link pasted over this one differs only after "#", which loads no new page: start over.
  window.addEventListener("hashchange", () => location.reload());
  if (!("Worker" in window) || !("WebAssembly" in window)) return show("unsupported");
  const key = readKey();
  if (!key) return show(history.state && history.state.forgotten === linkId ? "forgotten" : "nokey");

  try {
    decodeLinkSecret(key.text); // strictly, before any request (format.js: no libsodium to wait for)
  } catch {
    return show("badkey");
  }
  key.keep();
  shareLink = `${location.origin}${location.pathname}#${key.text}`;

  worker = new WorkerClient(new URL("./album-worker.js", import.meta.url));
  wireWorkerEvents();
  // The key is known to be well-formed: the first request goes while libsodium loads. Below
  // the Argon2 floor the Worker refuses the link here, so the form is never shown.
  const { info, admitted } = await worker.call("open", { linkId, fragment: key.text });
  if (info.upload_only && !info.uploads) return show("uploadonly", "Its owner has turned off adding photos for now.");
  // No slot left for a new device: said before asking anything (a password, a click).
  if (info.device_limit && !admitted && info.devices_free === 0) return noDeviceLeft(info);
  if (info.password) return askPassword(info, admitted);
  if (info.device_limit && !admitted) await confirmDevice(info);
  show("loading");
  await enter(await worker.call("unlock", {}));
}

main().catch(fail);
