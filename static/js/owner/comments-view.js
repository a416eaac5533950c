// Comments and reactions on the owner's album page (issue 14): the album's thread in its Comments
// section, and one photo's thread in a dialog beside its thumbnail, both drawn by album/comments.js
// (the same component as a link's page) over comments-data.js (verified, opened notes).
// Moderators (the owner and admins) see Hide / Show / Approve / Delete on every note, and how many
// wait for approval. Names: members and the owner by the e-mail the listing gives, guests by the
// name they typed, with the component's guest mark.

import { countLabel, countText, createThread, noteCounts } from "../album/comments.js";
import { albumNotes } from "./comments-data.js";
import { fileImage } from "./keys.js";
import { $, describe, hide, show, showError } from "./ui.js";

/** A ShownNote (comments-data.js) as the component's Item. */
function item(shown) {
  const kind = shown.guest ? "guest" : shown.isOwner ? "owner" : "member";
  return {
    id: shown.id,
    version: shown.version,
    genuine: shown.genuine,
    mine: shown.mine,
    hidden: shown.hidden,
    held: shown.held,
    createdAt: shown.createdAt,
    author: { kind, name: shown.note ? shown.note.name : null, email: shown.email },
    note: shown.note,
    shown,
  };
}

export function wireComments({ album, me, mk, identity, section, can, ownerId }) {
  const data = albumNotes({ album, me, mk, identity, ownerId });
  const box = $("[data-slot=comments-section]", section);
  const heldLine = $("[data-slot=held-count]", section);
  const dialog = $("#photo-comments");
  let items = [];
  const tiles = new Map(); // file id -> count button

  async function load() {
    items = (await data.load()).map(item);
    return items;
  }

  function adapter(target) {
    return {
      target,
      canModerate: can.manage,
      load,
      /** @param {{target: string | null, parent: string | null, kind: string, text?: string, emoji?: string}} what */
      async write(what) {
        const { target: on, parent, kind, text = null, emoji = null } = what;
        const shown = await data.write({ kind, on: on ?? null, replyTo: parent, text, emoji });
        return { held: shown.held };
      },
      /** One's own comment, as the next version (comments-data.js edit); the server holds no account's edit. */
      async edit(one, text) {
        const shown = await data.edit(one.shown, text);
        return { held: shown.held };
      },
      remove: (one) => data.remove(one.shown),
      moderate: (one, action) => (action === "delete" ? data.remove(one.shown) : data.moderate(one.shown, action)),
      describeError: describe,
      onChange: changed,
    };
  }

  function changed(list) {
    items = list;
    const held = list.filter((one) => one.held).length;
    if (can.manage && held) {
      heldLine.textContent = held === 1 ? "1 comment waits for approval." : `${held} comments wait for approval.`;
      show(heldLine);
    } else {
      hide(heldLine);
    }
    for (const [fileId, badge] of tiles) paint(badge, fileId);
    if (albumThread && photoThread && dialog.open) photoThread.show(list);
    if (albumThread && photoThread && !dialog.open) albumThread.show(list);
  }

  function paint(badge, fileId) {
    const counts = noteCounts(items, fileId);
    const text = countText(counts);
    $("[data-slot=count]", badge).textContent = text;
    badge.setAttribute("aria-label", text ? `Comments: ${countLabel(counts)}` : "Comments");
  }

  const albumThread = createThread($("[data-slot=album-thread]", section), adapter(null));
  const photoThread = createThread($("[data-slot=thread]", dialog), adapter(null));

  async function openPhoto(file) {
    $("[data-slot=name]", dialog).textContent = file.info.name || "";
    const img = $("[data-slot=photo]", dialog);
    img.hidden = true;
    hide($("[data-slot=error]", dialog));
    photoThread.setTarget(file.id, items);
    dialog.showModal();
    photoThread.refresh();
    try {
      img.src = URL.createObjectURL(await fileImage(album, file));
      img.alt = file.info.name || "";
      img.hidden = false;
    } catch (error) {
      showError($("[data-slot=error]", dialog), describe(error));
    }
  }
  dialog.addEventListener("close", () => {
    const img = $("[data-slot=photo]", dialog);
    if (img.src) URL.revokeObjectURL(img.src);
    img.removeAttribute("src");
    albumThread.show(items);
  });

  show(box);
  albumThread.refresh();

  return {
    /** A tile's Comments button, with its counts. */
    decorate(li, file) {
      if (tiles.has(file.id) && li.contains(tiles.get(file.id))) return;
      const badge = document.createElement("button");
      badge.type = "button";
      badge.className = "comments-button";
      badge.dataset.action = "comments";
      badge.append("Comments ");
      const count = document.createElement("span");
      count.dataset.slot = "count";
      badge.append(count);
      badge.addEventListener("click", () => openPhoto(file));
      $(".tile-actions", li).prepend(badge);
      tiles.set(file.id, badge);
      paint(badge, file.id);
    },
  };
}
