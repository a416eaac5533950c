// The owner's albums: a grid with decrypted titles and covers, counts and dates, and New album.

import { formatBytes, formatCount } from "../core/present.js";
import { call, owner, sharing } from "./owner-api.js";
import { createAlbum, fileImage, openAlbum, openFile, openIdentity } from "./keys.js";
import { $, describe, formatDate, show, showError } from "./ui.js";

/** The cover's thumb: the file the owner chose, else the first one; nothing when the album is empty. */
async function showCover(album, img) {
  const entries = await owner.files(album.id);
  const chosen = entries.find((entry) => entry.file_id === album.meta.cover) || entries[0];
  const file = chosen && openFile(album, chosen);
  if (!file) return;
  img.src = URL.createObjectURL(await fileImage(album, file));
  img.alt = "";
  img.hidden = false;
}

const ROLE_NAMES = { viewer: "a viewer", collaborator: "a collaborator", admin: "an admin" };

/** The card's badge of what others did since this account last opened the album (issue 14). */
function showUnread(badge, count) {
  if (!Number.isSafeInteger(count) || count <= 0) return;
  badge.textContent = `${count} new`;
  badge.setAttribute("aria-label", `${formatCount(count, "new event", "new events")} since you last opened it`);
  badge.hidden = false;
}

function card(album, template, unread = {}) {
  const li = template.content.firstElementChild.cloneNode(true);
  const link = $("[data-slot=link]", li);
  link.href = `/app/albums/${encodeURIComponent(album.id)}`;
  $("[data-slot=title]", li).textContent = album.key ? album.meta.title || "Untitled album" : "An album this key does not open";
  const { files, bytes, links, created_at: created } = album.entry;
  const facts = [formatCount(files, "photo or video", "photos and videos"), formatBytes(bytes)];
  if (album.role === "owner") facts.push(formatCount(links, "link", "links"), formatDate(created));
  else facts.push(`shared by ${album.entry.owner.email}`, `you are ${ROLE_NAMES[album.role] || "a member"}`);
  $("[data-slot=facts]", li).textContent = facts.join(" · ");
  // Own albums carry their count in the listing; shared ones take it from the unread answer.
  showUnread($("[data-slot=unread]", li), album.entry.unread ?? unread[album.id] ?? 0);
  if (album.key) showCover(album, $("img", li)).catch(() => {});
  return li;
}

/** Unread counts by album id; none when they cannot be had (only badges: the page works without them). */
async function unreadByAlbum() {
  try {
    const answer = await call("GET", "/api/owner/activity/unread");
    return answer && typeof answer.albums === "object" && answer.albums ? answer.albums : {};
  } catch {
    return {};
  }
}

export async function start({ me, mk }) {
  // Back from an album (whose opening cleared its badge): a page kept by the browser shows old counts.
  addEventListener("pageshow", (event) => {
    if (event.persisted) location.reload();
  });
  const section = $("#albums");
  const grid = $("[data-slot=grid]", section);
  const template = $("#album-card");
  $("[data-slot=storage]", section).textContent =
    `${formatBytes(me.bytes_used)} of ${formatBytes(me.quota_bytes)} used. Everything is encrypted on your devices.`;
  const { albums } = await owner.albums();
  const opened = albums.map((entry) => openAlbum(entry, mk)).reverse(); // the newest first
  grid.replaceChildren(...opened.map((album) => card(album, template)));
  $("[data-slot=empty]", section).hidden = opened.length > 0;
  // Albums others share with this account: opened with its own identity (the key sealed to it).
  const identity = openIdentity(me, mk);
  const shared = (await sharing.shared()).albums.map((entry) => openAlbum(entry, mk, identity)).reverse();
  const unread = shared.length ? await unreadByAlbum() : {};
  $("[data-slot=shared-grid]", section).replaceChildren(...shared.map((album) => card(album, template, unread)));
  $("[data-slot=shared-section]", section).hidden = shared.length === 0;
  show(section);

  const dialog = $("#new-album-dialog");
  $("[data-action=new-album]", section).addEventListener("click", () => {
    $("input", dialog).value = "";
    $("[data-slot=error]", dialog).hidden = true;
    dialog.returnValue = "";
    dialog.showModal();
  });
  $("form", dialog).addEventListener("submit", async (event) => {
    if (event.submitter && /** @type {HTMLButtonElement} */ (event.submitter).value === "cancel") return;
    event.preventDefault();
    const title = $("input", dialog).value.trim();
    if (!title) {
      showError($("[data-slot=error]", dialog), "Give the album a title. Only you and the people you share it with can read it.");
      return;
    }
    try {
      const album = await createAlbum(mk, title);
      location.assign(`/app/albums/${encodeURIComponent(album.id)}`);
    } catch (error) {
      showError($("[data-slot=error]", dialog), describe(error));
    }
  });
}
