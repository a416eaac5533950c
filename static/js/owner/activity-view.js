// The activity page (issue 14): what happened in the account's albums and those shared with it,
// newest first, a page at a time, and how often each of the owner's links was opened.
//
// The server's feed carries ids, who acted and when, plus the sealed values it already held: a
// file's metadata, a note's ciphertext and signature (docs/design.md, "Activity and digests").
// Album titles, file names, a guest's name and whether a note is a comment or a reaction are
// opened here, with the album keys this device holds; what does not open is said in one line.

import { formatCount } from "../core/present.js";
import { call, owner, sharing } from "./owner-api.js";
import { openListed } from "./comments-data.js";
import { linkLabel, openAlbum, openFile, openIdentity } from "./keys.js";
import { loadContacts } from "./sharing.js";
import { $, describe, show, showError } from "./ui.js";

const PAGE = 50; // the server's default page (api_activity.DEFAULT_LIMIT)
const QUOTE = 80; // characters of a comment shown in the feed

/** A time for people: the date and the hour, in the page's language. */
function when(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  return at.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
}

const albumHref = (albumId) => `/app/albums/${encodeURIComponent(albumId)}`;

/** Who acted, in words: "you", a member's address, or a guest (with the name they gave, when known). */
function actorWords(entry, guestName = "") {
  const actor = entry.actor;
  if (entry.mine) return "You";
  if (actor && actor.kind === "guest") return guestName ? `A guest, ${guestName},` : "A guest";
  if (actor && typeof actor.email === "string" && actor.email) return actor.email;
  if (actor) return "Someone who no longer has an account";
  return "Someone with an owner token";
}

/** "a photo", "2 videos", "3 photos and videos". */
function whatFiles(files) {
  const kinds = new Set(files.map((file) => (file ? file.info.kind : "unknown")));
  if (files.length === 1) return kinds.has("video") ? "a video" : kinds.has("photo") ? "a photo" : "a photo or video";
  if (kinds.size === 1 && kinds.has("photo")) return formatCount(files.length, "photo", "photos");
  if (kinds.size === 1 && kinds.has("video")) return formatCount(files.length, "video", "videos");
  return formatCount(files.length, "photo or video", "photos and videos");
}

/** The words of a run of files added by one person (or one guest's name through one link) in one album. */
function filesText(group) {
  const { first, files } = group;
  const opened = files.filter(Boolean);
  if (opened.length === 0) {
    return `${actorWords(first)} added ${whatFiles(files)}, which this device could not open.`;
  }
  const guest = first.actor && first.actor.kind === "guest";
  const text = `${actorWords(first, group.guestName)} added ${whatFiles(files)}${guest ? " through a link" : ""}`;
  const unopened = files.length - opened.length;
  return unopened ? `${text} (${unopened} of them this device could not open).` : `${text}.`;
}

/** The words of a note: "commented: “…”", "reacted ♥", or that it could not be verified. */
function noteText(entry, shown) {
  if (!shown.genuine || !shown.note) {
    return `${actorWords(entry)} wrote a comment or reaction that could not be verified, so it is not shown.`;
  }
  const name = shown.guest && shown.note.name ? shown.note.name : "";
  const where = shown.note.on ? " on a photo" : "";
  if (shown.note.kind === "reaction") {
    return `${actorWords(entry, name)} reacted${shown.note.emoji ? ` ${shown.note.emoji}` : ""}${where}.`;
  }
  const said = String(shown.note.text || "");
  const quote = said.length > QUOTE ? `${said.slice(0, QUOTE - 1)}…` : said;
  return `${actorWords(entry, name)} commented${where}: “${quote}”`;
}

/** A member joined: added by someone (by address), or from an invitation link (no adder). */
function joinText(entry, me) {
  const who = actorWords(entry);
  const by = entry.added_by;
  if (!by) return `${who} joined from an invitation link.`;
  if (by.account_id === (entry.actor && entry.actor.account_id)) return `${who} joined.`;
  const adder = by.account_id === me.account_id ? "you" : by.email || "someone who no longer has an account";
  return `${who} joined, added by ${adder}.`;
}

export async function start({ me, mk }) {
  const section = $("#activity");
  const list = $("[data-slot=list]", section);
  const more = $("[data-action=more]", section);
  const errorLine = $("[data-slot=error]", section);
  const template = $("#activity-row");
  const identity = openIdentity(me, mk);

  // The albums this account can open, by id: the own ones under the master key, shared ones under its identity.
  const [own, shared, book] = await Promise.all([
    owner.albums(),
    sharing.shared(),
    loadContacts(me, mk).catch(() => ({ contacts: {} })),
  ]);
  const albums = new Map();
  for (const entry of own.albums) albums.set(entry.album_id, openAlbum(entry, mk));
  for (const entry of shared.albums) albums.set(entry.album_id, openAlbum(entry, mk, identity));
  const who = { me, identity, contacts: book.contacts || {} };

  function albumTitle(albumId) {
    const album = albums.get(albumId);
    if (!album) return "An album you no longer have";
    return album.key ? album.meta.title || "Untitled album" : "An album this key does not open";
  }

  function row(entry) {
    const li = /** @type {HTMLElement} */ (template.content.firstElementChild.cloneNode(true));
    const link = $("[data-slot=album]", li);
    link.textContent = albumTitle(entry.album_id);
    link.href = albumHref(entry.album_id);
    const at = $("[data-slot=at]", li);
    at.textContent = when(entry.at);
    at.dateTime = entry.at || "";
    list.append(li);
    return li;
  }

  /** One entry in words; never throws: what cannot be read says so. */
  function describeEntry(entry) {
    const album = albums.get(entry.album_id);
    try {
      if (entry.kind === "note") {
        if (!album || !album.key) return `${actorWords(entry)} wrote a comment or reaction this device cannot open.`;
        return noteText(entry, openListed(album, entry.note, { ...who, ownerId: null }));
      }
      if (entry.kind === "joined") return joinText(entry, me);
      if (entry.kind === "left") return `${actorWords(entry)} left the album.`;
      return "Something happened that this page does not know how to show.";
    } catch {
      return "An event that this device could not read.";
    }
  }

  let group = null; // the run of files the last row shows: more of the same person's files join it

  function openedFile(entry) {
    const album = albums.get(entry.album_id);
    if (!album || !album.key || !entry.file) return null;
    return openFile(album, entry.file);
  }

  function add(entry) {
    if (entry.kind !== "file") {
      group = null;
      $("[data-slot=text]", row(entry)).textContent = describeEntry(entry);
      return;
    }
    const file = openedFile(entry);
    const guestName = file && file.info.uploader ? file.info.uploader : "";
    const actor = entry.actor || {};
    const same =
      group &&
      group.first.album_id === entry.album_id &&
      (group.first.actor || {}).account_id === actor.account_id &&
      (group.first.actor || {}).link_id === actor.link_id &&
      group.guestName === guestName;
    if (!same) group = { first: entry, files: [], guestName, li: row(entry) };
    group.files.push(file);
    $("[data-slot=text]", group.li).textContent = filesText(group);
  }

  let before = null;
  async function loadPage() {
    more.disabled = true;
    errorLine.hidden = true;
    try {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (before) query.set("before", before);
      const page = await call("GET", `/api/owner/activity?${query}`);
      for (const entry of page.activity || []) add(entry);
      before = typeof page.next === "string" && page.next ? page.next : null;
      more.hidden = !before;
      $("[data-slot=empty]", section).hidden = list.children.length > 0;
    } catch (error) {
      showError(errorLine, `The activity could not be loaded: ${describe(error)}`);
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", () => loadPage());
  await loadPage();
  show(section);
  await showLinks();

  /** For each album of the owner's with links: how often each link was opened, and when last. */
  async function showLinks() {
    const linksList = $("[data-slot=links]", section);
    const linksError = $("[data-slot=links-error]", section);
    const rows = [];
    for (const album of albums.values()) {
      if (album.role !== "owner" || !album.entry.links) continue;
      let answer;
      try {
        answer = await call("GET", `/api/owner/albums/${encodeURIComponent(album.id)}/activity?limit=1`);
      } catch (error) {
        const title = albumTitle(album.id);
        showError(linksError, `How often the links of “${title}” were opened could not be loaded: ${describe(error)}`);
        continue;
      }
      for (const link of answer.links || []) {
        const li = document.createElement("li");
        li.className = "activity-link";
        const label = linkLabel(link, mk) || "A link without a label";
        const opens = Number.isSafeInteger(link.opens) ? link.opens : 0;
        const facts = [opens ? `opened ${formatCount(opens, "time", "times")}` : "not opened yet"];
        if (link.last_opened_at) facts.push(`last ${when(link.last_opened_at)}`);
        if (Number.isSafeInteger(link.devices)) {
          facts.push(`${formatCount(link.devices, "device", "devices")} of ${link.device_limit}`);
        }
        if (link.revoked) facts.push("revoked");
        const strong = document.createElement("strong");
        strong.textContent = label;
        const a = document.createElement("a");
        a.href = albumHref(album.id);
        a.textContent = albumTitle(album.id);
        li.append(strong, " in ", a, `: ${facts.join(" · ")}`);
        rows.push(li);
      }
    }
    linksList.replaceChildren(...rows);
    $("[data-slot=links-section]", section).hidden = rows.length === 0 && linksError.hidden;
  }
}
