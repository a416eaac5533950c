// Comments and reactions in the owner's web app (issue 14): the album's notes listed, verified and
// opened, written, deleted and moderated, for the owner and the album's members. No DOM here.
//
// Each note is checked as docs/format.md, "Comments and reactions", says a reader checks it: the
// author's signature (a member's key from the listing, checked against this account's contacts,
// which is trust on first use as for sharing; a guest's key from the note), then the AEAD under the
// comment key of the note's epoch (older epochs through the album's key chain, keys.js openAlbum),
// then the JSON. One that fails any step is kept with `genuine` false and no content: the page
// says it could not be verified, never what it says. A member signs with their account's Ed25519
// key (account.js identity); the owner API has no guest key, so nothing here writes as a guest.

import * as C from "../core/crypto.js";
import { ApiError, call, owner } from "./owner-api.js";
import { openAlbum } from "./keys.js";
import { loadContacts } from "./sharing.js";

const PAGE = 1000; // the server's largest page (inputs.MAX_PAGE_LIMIT)

const notesPath = (albumId, noteId = "") =>
  `/api/owner/albums/${encodeURIComponent(albumId)}/notes${noteId ? `/${encodeURIComponent(noteId)}` : ""}`;

/**
 * @typedef {object} ShownNote  a listed note as the page shows it
 * @property {string} id
 * @property {number} version
 * @property {number} epoch
 * @property {boolean} guest  written through a link, with a key made in a visitor's browser
 * @property {string | null} email  a member's address, as the listing gives it
 * @property {string | null} accountId  a member's account
 * @property {string | null} linkId  a guest's link
 * @property {boolean} mine  written by this account
 * @property {boolean} isOwner  written by the album's owner
 * @property {string | null} createdAt
 * @property {string | null} updatedAt
 * @property {boolean} hidden  hidden by a moderator (listed to the owner and admins only)
 * @property {boolean} held  waiting for approval (listed to the owner and admins only)
 * @property {boolean} genuine  the signature verified and the note opened
 * @property {{kind: string, on: string | null, reply_to: string | null, text: string | null,
 *   emoji: string | null, name: string | null, at: number} | null} note  null unless genuine
 */

/** Every note of the album, page after page, in the order written. */
export async function listNotes(albumId) {
  const out = [];
  let after = null;
  for (;;) {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (after) query.set("after", after);
    const page = await call("GET", `${notesPath(albumId)}?${query}`);
    out.push(...(Array.isArray(page.notes) ? page.notes : []));
    if (typeof page.next !== "string" || !page.next) return out;
    after = page.next;
  }
}

/**
 * The key a member's note must verify with: this account's own for its own notes (the server cannot
 * give another), else the listed one unless this account's contacts know another key for them (the
 * server swapped it: the note is not shown as genuine). Null when there is none to trust.
 */
function memberKey(author, me, identity, contacts) {
  if (typeof author.sign_pk !== "string") return null; // an account deleted since
  if (author.account_id === me.account_id) return identity.signPublicKey;
  const known = Object.hasOwn(contacts, author.account_id) ? contacts[author.account_id] : null;
  if (known && known.sign_pk !== author.sign_pk) return null;
  return C.b64d(author.sign_pk, C.KEY_BYTES);
}

/**
 * One listed note, verified and opened (ShownNote).
 * @param {{id: string, keys: Map<number, Uint8Array>, role: string}} album
 * @param {any} entry  the listing's note
 * @param {{me: any, identity: any, contacts: Record<string, any>, ownerId?: string | null}} who
 *   ownerId: the album owner's account
 * @returns {ShownNote}
 */
export function openListed(album, entry, { me, identity, contacts, ownerId = null }) {
  const author = (entry && entry.author) || {};
  const guest = author.kind === "guest";
  const shown = {
    id: entry && typeof entry.note_id === "string" ? entry.note_id : "",
    version: entry && Number.isSafeInteger(entry.version) ? entry.version : 0,
    epoch: entry && Number.isSafeInteger(entry.epoch) ? entry.epoch : 0,
    guest,
    email: !guest && typeof author.email === "string" ? author.email : null,
    accountId: !guest && typeof author.account_id === "string" ? author.account_id : null,
    linkId: guest && typeof author.link_id === "string" ? author.link_id : null,
    mine: !guest && author.account_id === me.account_id,
    isOwner: false,
    createdAt: entry && typeof entry.created_at === "string" ? entry.created_at : null,
    updatedAt: entry && typeof entry.updated_at === "string" ? entry.updated_at : null,
    hidden: Boolean(entry && entry.hidden),
    held: Boolean(entry && entry.held),
    genuine: false,
    note: null,
  };
  shown.isOwner = Boolean(shown.accountId && shown.accountId === (album.role === "owner" ? me.account_id : ownerId));
  try {
    const key = album.keys.get(shown.epoch);
    if (!key) throw new C.BadNote("no album key of this note's epoch");
    const authorKey = guest ? C.b64d(author.guest_pk, C.KEY_BYTES) : memberKey(author, me, identity, contacts);
    if (!authorKey) throw new C.BadNote("no key to verify this note with");
    const note = C.openNote(
      key,
      album.id,
      shown.id,
      shown.epoch,
      shown.version,
      authorKey,
      C.b64d(entry.sealed),
      C.b64d(entry.signature),
    );
    shown.note = C.shownNote(note, guest);
    shown.genuine = true;
  } catch {
    // Not shown as genuine (docs/format.md): the page says it could not be verified, never its text.
  }
  return shown;
}

/**
 * The notes of one album for this account: list, write, edit, delete, moderate.
 * `album` is keys.js openAlbum's object, shared with the album page: when the album got a new key
 * meanwhile (409 stale_key), it is read again into the same object and the note sealed once more.
 * @param {{album: any, me: any, mk: Uint8Array, identity: any, ownerId?: string | null}} options
 *   ownerId: the album owner's account (sharing.members), so that the owner's notes can say so
 */
export function albumNotes({ album, me, mk, identity, ownerId = null }) {
  let contacts = {};

  async function reloadAlbum() {
    const fresh = openAlbum(await owner.album(album.id), mk, identity);
    if (!fresh.key) throw new Error("Your key does not open this album: it was changed on the server.");
    Object.assign(album, { key: fresh.key, keys: fresh.keys, epoch: fresh.epoch, entry: fresh.entry });
  }

  /** A note sealed under the album's current key and signed with this account's key, at `version`. */
  function sealed(noteId, version, note) {
    const { sealed: box, signature } = C.sealNote(
      album.key,
      album.id,
      noteId,
      album.epoch,
      version,
      identity.signPublicKey,
      identity.signSecretKey,
      note,
    );
    return { epoch: album.epoch, version, sealed: C.b64e(box), signature: C.b64e(signature) };
  }

  /** Send, and once more under the album's new key when it changed meanwhile. */
  async function sending(send) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409 && error.code === "stale_key")) throw error;
      await reloadAlbum();
      return send();
    }
  }

  const who = () => ({ me, identity, contacts, ownerId });

  return {
    /** Every note of the album, each verified and opened (ShownNote), in the order written. */
    async load() {
      const [entries, book] = await Promise.all([listNotes(album.id), loadContacts(me, mk).catch(() => ({ contacts: {} }))]);
      contacts = book.contacts || {};
      return entries.map((entry) => openListed(album, entry, who()));
    },

    /**
     * A new comment or reaction: {kind, on, reply_to?, text?, emoji?}; the stored note (ShownNote).
     * FormatError (from crypto.js) for what the format does not take, e.g. an empty comment.
     */
    async write({ kind, on = null, replyTo = null, text = null, emoji = null }) {
      const note =
        kind === "reaction"
          ? { kind, on, emoji, name: null, at: Math.floor(Date.now() / 1000) }
          : { kind: "comment", on, reply_to: replyTo, text, name: null, at: Math.floor(Date.now() / 1000) };
      const noteId = C.newId();
      const stored = await sending(() => call("POST", notesPath(album.id), { note_id: noteId, ...sealed(noteId, 1, note) }));
      return openListed(album, stored, who());
    },

    /** A new text for one's own comment: the next version, sealed and signed again. */
    async edit(shown, text) {
      if (!shown.genuine || !shown.note) throw new Error("Only a comment that verified can be edited.");
      const note = { ...shown.note, text, at: Math.floor(Date.now() / 1000) };
      if (note.kind !== "comment") throw new Error("Only comments can be edited.");
      const stored = await sending(() => call("PUT", notesPath(album.id, shown.id), sealed(shown.id, shown.version + 1, note)));
      return openListed(album, stored, who());
    },

    /** Delete a note: one's own, or any for the owner and admins (the server decides). */
    async remove(shown) {
      try {
        await call("DELETE", notesPath(album.id, shown.id));
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) throw error; // gone already: what was asked
      }
      return true;
    },

    /** "hide", "show" or "approve" a note (the owner and admins); the note as it is now. */
    async moderate(shown, action) {
      const body = { hide: { hidden: true }, show: { hidden: false }, approve: { held: false } }[action];
      if (!body) throw new Error(`unknown moderation ${action}`);
      const stored = await call("PATCH", notesPath(album.id, shown.id), body);
      return openListed(album, stored, who());
    },
  };
}
