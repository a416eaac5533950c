// Comments and reactions on a link's album page: the link's side of comments.js's adapter.
//
// The album Worker holds the album key and this visitor's comment key, opens and checks every note
// (docs/format.md, "Comments and reactions") and makes every call; this module keeps the list the
// page shows (one load for the album's thread, the lightbox's panel and the grid's counts), the
// visitor's guest seed and name, and says the server's refusals in one sentence each.
//
// The guest seed: 32 random bytes per link in localStorage under the page's per-link prefix, so that
// this visitor's later deletes are theirs (their key pair is made from it in the Worker). Forget this
// album removes it with the rest of the prefix (viewer.js forget).

import { createThread, noteCounts } from "./comments.js";
import { formatMinutes } from "../core/present.js";

const SEED_BYTES = 32;
const MAX_NAME = 80; // code points (docs/format.md, "Comments and reactions": name)

function b64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64url(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** This visitor's seed for the link, made once (crypto.getRandomValues: the Web Crypto API's CSPRNG). */
function guestSeed(storage, key) {
  const kept = storage.getItem(key);
  if (kept) {
    try {
      const seed = fromB64url(kept);
      if (seed.length === SEED_BYTES) return seed;
    } catch {
      // Not one this page wrote: a new one below (earlier notes can then not be deleted from here).
    }
  }
  const seed = crypto.getRandomValues(new Uint8Array(SEED_BYTES));
  storage.setItem(key, b64url(seed));
  return seed;
}

/** A wait in words, from Retry-After: seconds under a minute, else whole minutes rounded up. */
function waitWords(seconds) {
  if (seconds < 60) return seconds <= 1 ? "1 second" : `${seconds} seconds`;
  return formatMinutes(seconds);
}

/** The server's refusal, or a lost connection, in one sentence for the panel. */
export function describeNoteError(error) {
  const name = error && error.name;
  if (name === "NetworkError") return "Could not reach the server. Check your connection, then try again.";
  if (name === "ApiError") {
    if (error.status === 429) {
      const wait = Number.isSafeInteger(error.retryAfter) && error.retryAfter >= 0 ? waitWords(error.retryAfter) : null;
      return wait
        ? `This link's visitors have written as many comments as it allows for now. Try again in ${wait}.`
        : "This link's visitors have written as many comments as it allows for now. Try again later.";
    }
    if (error.code === "comments_off") return "Comments are off for this link.";
    if (error.status === 413) return "This comment is too long to send. Shorten it and try again.";
    if (error.status === 404) return "This comment is not there any more.";
    if (error.code === "not_author") return "You can change only your own comments.";
    if (error.status === 409 && error.code === "changed") return "This comment changed meanwhile. Reload the page and try again.";
    if (error.status === 409 && error.code === "exists") return "This comment was sent already.";
    return error.message || "The server refused this comment.";
  }
  if (name === "FormatError") return "This comment could not be sealed: check its length and try again.";
  return "Something went wrong with this comment. Try again.";
}

/** A note as the Worker lists it (album-worker.js openListed), as comments.js's Item. */
function asItem(entry) {
  const note = entry.genuine ? entry.note : null;
  return {
    id: entry.id,
    version: entry.version,
    genuine: Boolean(entry.genuine && note),
    mine: Boolean(entry.mine),
    hidden: false, // a link's listing has neither hidden nor held notes (docs/api.md)
    held: false,
    createdAt: entry.createdAt,
    // A member's e-mail is not listed to a link's visitors: comments.js then says "Member".
    author: entry.guest ? { kind: "guest", name: note ? note.name : null } : { kind: "member", email: entry.email },
    note,
  };
}

/**
 * @param {object} options
 * @param {(method: string, args?: object) => Promise<any>} options.call  the album Worker's calls
 * @param {"on" | "held"} options.mode  the link's `comments`
 * @param {Storage} options.storage
 * @param {string} options.prefix  the page's per-link prefix of storage keys
 * @param {() => Promise<boolean>} options.askName  asks the guest's name; false if they cancelled
 */
export function linkComments({ call, mode, storage, prefix, askName }) {
  let items = [];
  let loaded = false; // a list came at least once
  let loading = null;
  const listeners = new Set();
  const ready = call("noteKey", { seed: guestSeed(storage, `${prefix}note-seed`) });

  function changed(next) {
    items = next;
    loaded = true;
    for (const listener of listeners) listener(items);
  }

  /** Every note again (one load at a time: the threads and counts share it). */
  function load() {
    loading ||= (async () => {
      await ready;
      const listed = await call("notes");
      changed(listed.map(asItem));
      return items;
    })().finally(() => {
      loading = null;
    });
    return loading;
  }

  function guestName() {
    const name = (storage.getItem(`${prefix}guest-name`) || "").trim();
    return name ? [...name].slice(0, MAX_NAME).join("") : null;
  }

  /** @param {{target: string | null, parent: string | null, kind: string, text?: string, emoji?: string}} what */
  async function write({ target, parent, kind, text, emoji }) {
    // A comment says who wrote it: the name guests give for uploads, asked once if there is none.
    if (kind === "comment" && !guestName() && !(await askName())) return null;
    const at = Math.floor(Date.now() / 1000);
    const note =
      kind === "comment"
        ? { kind, on: target, reply_to: parent || null, text, name: guestName(), at }
        : { kind, on: target, emoji, name: guestName(), at };
    await ready;
    const written = await call("writeNote", { note });
    return { held: written.held === true || mode === "held" };
  }

  /** A new text for one's own comment: the same note with the new text, as the next version. */
  async function edit(item, text) {
    if (!item.genuine || !item.note || item.note.kind !== "comment") throw new Error("Only your own comments can be edited.");
    const note = { ...item.note, text, at: Math.floor(Date.now() / 1000) };
    await ready;
    const edited = await call("editNote", { noteId: item.id, version: item.version, note });
    return { held: edited.held === true || mode === "held" };
  }

  async function remove(item) {
    await ready;
    return call("deleteNote", { noteId: item.id, version: item.version });
  }

  return {
    load,
    /** The list, or null before the first load answered. */
    get items() {
      return loaded ? items : null;
    },
    /** Called with every new list; answers a function that stops it. */
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    counts(fileId) {
      return noteCounts(items, fileId);
    },
    /** A thread about `target` (a file id, or null for the album) in `container`, fed by this list. */
    thread(container, target) {
      const thread = createThread(container, {
        target,
        canModerate: false,
        load,
        write,
        edit,
        remove,
        describeError: describeNoteError,
      });
      if (loaded) thread.show(items);
      const stop = this.subscribe((next) => thread.show(next));
      return { thread, stop };
    },
  };
}
