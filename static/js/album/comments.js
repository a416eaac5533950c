// One thread of comments and reactions (an album's, or one file's), as a DOM component with no
// transport and no crypto: the page that uses it (a link's album page, the owner's app) opens and
// checks the notes itself (docs/format.md, "Comments and reactions") and hands over plain items.
//
// createThread(container, adapter) -> thread
//
//   adapter.target         the file id the thread is about, or null for the album itself
//   adapter.canModerate    true in the owner's app for the owner and admins: Hide / Show / Approve /
//                          Delete on every note, and hidden or held notes marked as such
//   adapter.load()         -> Promise<Item[]>: the album's notes (all targets may be given: the thread
//                          keeps those about its target), in the order written
//   adapter.write({target, parent, kind, text, emoji})
//                          -> Promise<{held?: boolean} | null>: write a new note (kind "comment" with
//                          text and parent = the note id it answers or null, or kind "reaction" with
//                          emoji). null means the person cancelled (e.g. gave no name): nothing changes
//                          and the text stays. held true: the thread says the comment waits for approval.
//   adapter.remove(item)   -> Promise: delete one's own note (item.mine)
//   adapter.edit?(item, text)
//                          -> Promise<{held?: boolean}>: a new text for one's own genuine comment
//                          (item.mine; the next version, sealed and signed by the page). Without it
//                          there is no Edit button. held true: the edit waits for approval again, and
//                          the thread says so as after a held comment.
//   adapter.moderate?(item, action)
//                          -> Promise: action "hide" | "show" | "approve" | "delete" (canModerate only;
//                          without it, "delete" falls back to remove)
//   adapter.describeError?(error) -> string: one sentence for a failed call (default: error.message)
//   adapter.onChange?(items)  called with every list the thread loaded (grid counts, other threads)
//   adapter.heldNotice?    the sentence after a held comment (default: the album's owner approves it)
//   adapter.emoji?         the reactions offered (default EMOJI, which is crypto.js's NOTE_EMOJI)
//
// Item (what load answers; strings are untrusted and only ever set as textContent):
//   {id, version, genuine, mine, hidden, held, createdAt (ISO string or null),
//    author: {kind: "guest" | "member" | "owner", name (a guest's given name), email, label?},
//    (version > 1: the comment was edited, and the thread says "edited")
//    note: {kind: "comment" | "reaction", on, reply_to, text, emoji, name, at (Unix seconds)} | null}
//   A note that is not genuine (its signature or AEAD failed) has note null: it is shown as
//   "This comment could not be verified." and never its text; since its target cannot be known, it
//   is shown in the album's thread (target null) only.
//
// thread.refresh()         load and show again (also done after every write, remove and moderate)
// thread.show(items)       show these items (no load), e.g. when another thread loaded them; until the
//                          first show or load, the thread says "Loading comments…"
// thread.setTarget(target, items?)  about another file (the lightbox moved on); the typed text stays;
//                          items, if given, are shown as with show
// thread.focusInput()      focus the text box
// thread.element           the thread's root element
//
// noteCounts(items, target), countText(counts), countLabel(counts) and authorLabel(author) are for
// counts shown outside a thread (a grid tile, a lightbox button).
//
// Keyboard: keys typed in the text box never reach the page (PhotoSwipe's arrows, z and Escape listen
// on the document); Escape in a box that holds text keeps it and does not close the lightbox.

/** The six reactions, as crypto.js NOTE_EMOJI (kept here so that a page needs no crypto to show them). */
export const EMOJI = Object.freeze(["\u2764\ufe0f", "\u{1f44d}", "\u{1f602}", "\u{1f62e}", "\u{1f622}", "\u{1f389}"]);
const EMOJI_NAMES = {
  "\u2764\ufe0f": "heart",
  "\u{1f44d}": "thumbs up",
  "\u{1f602}": "laughing",
  "\u{1f62e}": "surprised",
  "\u{1f622}": "sad",
  "\u{1f389}": "party",
};
const MAX_TEXT = 4000; // code points (docs/format.md, "Comments and reactions")
const HELD_NOTICE = "Your comment will appear once the album's owner approves it.";
const UNVERIFIED = "This comment could not be verified.";

// Control characters and bidirectional overrides have no place in a name: "Ana\u202e" could turn what
// follows around (CVE-2021-42574), as present.js does for metadata.
const CONTROLS = /\p{Cc}/gu;
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function cleanName(value) {
  if (typeof value !== "string") return null;
  const clean = value.replace(CONTROLS, " ").replace(BIDI, "").trim();
  return clean ? [...clean].slice(0, 80).join("") : null;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function button(text, className, label) {
  const node = el("button", className, text);
  node.type = "button";
  if (label) node.setAttribute("aria-label", label);
  return node;
}

/** What the thread shows for the author: {name, guest (a visible mark), owner}. */
export function authorLabel(author) {
  const who = author && typeof author === "object" ? author : {};
  if (typeof who.label === "string" && who.label) return { name: who.label, guest: who.kind === "guest" };
  if (who.kind === "guest") return { name: cleanName(who.name) || "Someone", guest: true };
  const email = cleanName(who.email);
  if (who.kind === "owner") return { name: email || "Owner", guest: false };
  return { name: email || "Member", guest: false };
}

function isAbout(item, target) {
  if (!item || !item.genuine || !item.note) return target === null; // unverified: in the album's thread
  return (item.note.on ?? null) === target;
}

/** {comments, reactions, byEmoji: {emoji: n}} of the genuine, shown notes about `target`. */
export function noteCounts(items, target) {
  const counts = { comments: 0, reactions: 0, byEmoji: {} };
  for (const item of items || []) {
    if (!item || !item.genuine || !item.note || item.hidden || item.held) continue;
    if ((item.note.on ?? null) !== target) continue;
    if (item.note.kind === "comment") counts.comments += 1;
    else if (item.note.kind === "reaction") {
      counts.reactions += 1;
      counts.byEmoji[item.note.emoji] = (counts.byEmoji[item.note.emoji] || 0) + 1;
    }
  }
  return counts;
}

const NUMBER = new Intl.NumberFormat();
const plural = (n, one, many) => `${NUMBER.format(n)} ${n === 1 ? one : many}`;

/** "3 reactions, 1 comment" (for aria-label); "" for none. */
export function countLabel(counts) {
  const parts = [];
  if (counts.reactions) parts.push(plural(counts.reactions, "reaction", "reactions"));
  if (counts.comments) parts.push(plural(counts.comments, "comment", "comments"));
  return parts.join(", ");
}

/** "♥ 3 💬 1" (shown, short); "" for none. */
export function countText(counts) {
  const parts = [];
  if (counts.reactions) parts.push(`\u2665 ${NUMBER.format(counts.reactions)}`);
  if (counts.comments) parts.push(`\u{1f4ac} ${NUMBER.format(counts.comments)}`);
  return parts.join(" ");
}

const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
/** @type {[Intl.RelativeTimeFormatUnit, number][]} */
const UNITS = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["week", 7 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

/** "2 minutes ago", "yesterday", "now". */
export function relativeTime(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return RELATIVE.format(Math.round(seconds / size), unit);
  }
  return RELATIVE.format(0, "second");
}

function whenOf(item) {
  // The author's own time, which they signed; the server's, for a note that did not open.
  if (item.note && Number.isSafeInteger(item.note.at)) return new Date(item.note.at * 1000);
  const parsed = item.createdAt ? new Date(item.createdAt) : null;
  return parsed && !Number.isNaN(parsed.getTime()) ? parsed : null;
}

/**
 * @typedef {object} Author
 * @property {"guest" | "member" | "owner"} kind
 * @property {string | null} [name]  a guest's given name (from the note)
 * @property {string | null} [email]  a member's or the owner's address, where the listing gives one
 * @property {string} [label]  shown as is instead of the rules above
 */
/**
 * @typedef {object} Item
 * @property {string | null} id
 * @property {number} version
 * @property {boolean} genuine
 * @property {boolean} [mine]
 * @property {boolean} [hidden]
 * @property {boolean} [held]
 * @property {string | null} [createdAt]
 * @property {Author} author
 * @property {{kind: string, on: string | null, reply_to?: string | null, text?: string | null,
 *   emoji?: string | null, name?: string | null, at: number} | null} note
 */
/**
 * @typedef {object} Adapter
 * @property {string | null} [target]
 * @property {boolean} [canModerate]
 * @property {() => Promise<Item[]>} load
 * @property {(what: {target: string | null, parent: string | null, kind: "comment" | "reaction",
 *   text?: string, emoji?: string}) => Promise<{held?: boolean} | null>} write
 * @property {(item: Item) => Promise<unknown>} remove
 * @property {(item: Item, text: string) => Promise<{held?: boolean} | null | undefined>} [edit]
 * @property {(item: Item, action: "hide" | "show" | "approve" | "delete") => Promise<unknown>} [moderate]
 * @property {(error: any) => string} [describeError]
 * @property {(items: Item[]) => void} [onChange]
 * @property {string} [heldNotice]
 * @property {readonly string[]} [emoji]
 */

let threads = 0;

/**
 * @param {HTMLElement} container
 * @param {Adapter} adapter  see the top of this file
 */
export function createThread(container, adapter) {
  const number = ++threads;
  const emoji = Array.isArray(adapter.emoji) ? adapter.emoji : EMOJI;
  const describe = (error) => {
    if (adapter.describeError) return adapter.describeError(error);
    return (error && error.message) || "Something went wrong. Try again.";
  };
  let target = adapter.target ?? null;
  let items = [];
  let replyTo = null; // the item answered, or null
  let editing = null; // the id of the comment whose text is being edited, or null
  let draft = ""; // its text as typed so far (the list is built again on every render)
  let busy = false;

  const root = el("div", "thread");
  const reactions = el("div", "thread-reactions");
  reactions.setAttribute("role", "group");
  reactions.setAttribute("aria-label", "Reactions");
  const list = el("ol", "thread-comments");
  const empty = el("p", "thread-empty", "Loading comments…");
  let loaded = false; // "No comments yet." only once a list came (show, or a load)
  const error = el("p", "thread-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const notice = el("p", "thread-notice");
  notice.setAttribute("role", "status");
  notice.hidden = true;

  const form = el("form", "thread-form");
  form.noValidate = true;
  const replying = el("p", "thread-replying");
  replying.hidden = true;
  const replyingText = el("span");
  const cancelReply = button("Cancel", "link-button", "Cancel the reply");
  replying.append(replyingText, " ", cancelReply);
  const box = el("textarea", "thread-input");
  box.id = `thread-input-${number}`;
  box.rows = 2;
  box.setAttribute("aria-label", "Write a comment");
  box.placeholder = "Write a comment…";
  box.setAttribute("dir", "auto");
  const send = el("button", "primary thread-send", "Send");
  send.type = "submit";
  const row = el("div", "thread-form-row");
  row.append(box, send);
  form.append(replying, row);

  root.append(reactions, error, list, empty, notice, form);
  container.append(root);

  function say(slot, text) {
    slot.textContent = text || "";
    slot.hidden = !text;
  }

  function visible(item) {
    if (!isAbout(item, target)) return false;
    if (item.genuine && item.note && item.note.kind !== "comment") return false;
    return adapter.canModerate || !(item.hidden || item.held);
  }

  function renderReactions() {
    reactions.replaceChildren();
    const counts = noteCounts(items, target);
    for (const face of emoji) {
      const mine = items.find(
        (item) => item.mine && isAbout(item, target) && item.note && item.note.kind === "reaction" && item.note.emoji === face,
      );
      const n = counts.byEmoji[face] || 0;
      const name = EMOJI_NAMES[face] || face;
      const chip = button("", "thread-reaction");
      chip.dataset.focusKey = `reaction ${face}`;
      chip.setAttribute("aria-pressed", String(Boolean(mine)));
      chip.setAttribute("aria-label", `${name}: ${plural(n, "reaction", "reactions")}${mine ? ", yours" : ""}`);
      chip.append(el("span", "thread-emoji", face));
      if (n) chip.append(el("span", "thread-count", NUMBER.format(n)));
      chip.disabled = busy;
      chip.addEventListener("click", () =>
        act(() => (mine ? adapter.remove(mine) : adapter.write({ target, parent: null, kind: "reaction", emoji: face }))),
      );
      reactions.append(chip);
    }
  }

  function renderOne(item, children, depth) {
    const li = el("li", "thread-comment");
    if (item.id) li.dataset.noteId = item.id;
    const head = el("p", "thread-head");
    if (!item.genuine || !item.note) {
      li.classList.add("unverified");
      head.append(el("span", "thread-mark", "\u26a0"), " ", el("span", "thread-unverified", UNVERIFIED));
      li.append(head);
    } else {
      const { name, guest } = authorLabel(item.author);
      const author = el("span", "thread-author", name);
      author.setAttribute("dir", "auto");
      head.append(author);
      if (guest) head.append(" ", el("span", "guest-mark", "guest"));
      const when = whenOf(item);
      if (when) {
        const time = el("time", "thread-time", relativeTime(when));
        time.dateTime = when.toISOString();
        time.title = FULL.format(when);
        head.append(" ", time);
      }
      if (adapter.canModerate && item.hidden) head.append(" ", el("span", "thread-badge", "Hidden"));
      if (adapter.canModerate && item.held) head.append(" ", el("span", "thread-badge", "Waiting for approval"));
      if (item.version > 1) {
        const mark = el("span", "thread-edited", "edited");
        mark.title = "This comment was edited.";
        head.append(" ", mark);
      }
      if (editing !== null && item.id === editing) {
        li.append(head, editor(item));
      } else {
        const text = el("p", "thread-text", item.note.text);
        text.setAttribute("dir", "auto");
        li.append(head, text);
      }
    }
    const actions = el("p", "thread-actions");
    if (item.genuine && item.note) {
      const reply = button("Reply", "link-button");
      reply.addEventListener("click", () => startReply(item));
      actions.append(reply);
    }
    if (adapter.edit && editable(item) && item.id !== editing) {
      const edit = button("Edit", "link-button", "Edit your comment");
      edit.addEventListener("click", () => startEdit(item));
      actions.append(edit);
    }
    if (item.mine && !adapter.canModerate) {
      const del = button("Delete", "link-button", "Delete your comment");
      del.addEventListener("click", () => act(() => adapter.remove(item), true));
      actions.append(del);
    }
    if (adapter.canModerate) {
      const moderate = (action) => () =>
        act(() => (adapter.moderate ? adapter.moderate(item, action) : adapter.remove(item)), action === "delete");
      if (item.held) actions.append(withClick(button("Approve", "link-button"), moderate("approve")));
      actions.append(withClick(button(item.hidden ? "Show" : "Hide", "link-button"), moderate(item.hidden ? "show" : "hide")));
      actions.append(withClick(button("Delete", "link-button"), moderate("delete")));
    }
    for (const child of actions.children) {
      child.toggleAttribute("disabled", busy);
      if (item.id) /** @type {HTMLElement} */ (child).dataset.focusKey = `${item.id} ${child.textContent}`;
    }
    if (actions.children.length) li.append(actions);
    if (children.length) {
      const sub = el("ol", "thread-replies");
      if (depth >= 3) sub.classList.add("flat"); // deep threads stop indenting on a narrow panel
      sub.append(...children);
      li.append(sub);
    }
    return li;
  }

  function editable(item) {
    return Boolean(item.mine && item.id && item.genuine && item.note && item.note.kind === "comment");
  }

  /** The text box that stands for a comment's text while it is edited, with Save and Cancel. */
  function editor(item) {
    const wrap = el("div", "thread-edit");
    const area = el("textarea", "thread-input thread-edit-input");
    area.rows = 3;
    area.value = draft;
    area.readOnly = busy;
    area.setAttribute("dir", "auto");
    area.setAttribute("aria-label", "Edit your comment");
    area.dataset.focusKey = `${item.id} edit-box`;
    area.addEventListener("input", () => {
      draft = area.value;
    });
    area.addEventListener("keydown", (event) => {
      // The edit's keys, not the lightbox's; Escape leaves the edit and keeps the comment as it was.
      event.stopPropagation();
      if (event.key === "Escape") {
        event.preventDefault();
        stopEdit(true);
      } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        saveEdit(item);
      }
    });
    const row = el("p", "thread-actions");
    const save = button("Save", "primary thread-save", "Save your comment");
    save.disabled = busy;
    save.addEventListener("click", () => saveEdit(item));
    const cancel = button("Cancel", "link-button", "Cancel the edit");
    cancel.disabled = busy;
    cancel.addEventListener("click", () => stopEdit(true));
    row.append(save, " ", cancel);
    wrap.append(area, row);
    return wrap;
  }

  function startEdit(item) {
    editing = item.id;
    draft = item.note.text || "";
    say(error, "");
    say(notice, "");
    render();
    const area = list.querySelector(".thread-edit-input");
    if (area instanceof HTMLTextAreaElement) {
      area.focus();
      area.setSelectionRange(area.value.length, area.value.length);
    }
  }

  /** Leave the edit; `refocus`: back on the comment's Edit button. */
  function stopEdit(refocus) {
    const id = editing;
    editing = null;
    draft = "";
    render();
    if (!refocus || id === null) return;
    const again = [...list.querySelectorAll("[data-focus-key]")].find((node) => node.dataset.focusKey === `${id} Edit`);
    if (again instanceof HTMLElement) again.focus();
    else box.focus();
  }

  async function saveEdit(item) {
    if (busy) return;
    const text = draft.trim();
    if (!text) {
      say(error, "Write something first, or delete the comment.");
      return;
    }
    if ([...text].length > MAX_TEXT) {
      say(error, `A comment is at most ${NUMBER.format(MAX_TEXT)} characters; this one has ${NUMBER.format([...text].length)}.`);
      return;
    }
    let saved = false;
    const answer = await act(async () => {
      const result = await adapter.edit(item, text);
      saved = true;
      editing = null; // the list loaded next shows the new text
      draft = "";
      return result;
    });
    if (!saved) return; // refused: the editor and its text stay, with the error
    if (answer && answer.held) say(notice, adapter.heldNotice || HELD_NOTICE);
    const again = [...list.querySelectorAll("[data-focus-key]")].find((node) => node.dataset.focusKey === `${item.id} Edit`);
    if (again instanceof HTMLElement) again.focus();
    else box.focus();
  }

  function withClick(node, handler) {
    node.addEventListener("click", handler);
    return node;
  }

  function renderList() {
    const shown = items.filter(visible);
    const byId = new Map(shown.filter((item) => item.id).map((item) => [item.id, item]));
    const kids = new Map(); // parent id -> replies
    const roots = [];
    const missing = new Map(); // a deleted parent -> its replies
    for (const item of shown) {
      const parent = item.note ? item.note.reply_to : null;
      if (!parent) roots.push(item);
      else if (byId.has(parent)) {
        if (!kids.has(parent)) kids.set(parent, []);
        kids.get(parent).push(item);
      } else {
        if (!missing.has(parent)) {
          missing.set(parent, []);
          roots.push({ placeholder: parent });
        }
        missing.get(parent).push(item);
      }
    }
    const seen = new Set();
    const build = (item, depth) => {
      if (seen.has(item.id)) return null; // a cycle cannot happen with ids written once, but stay safe
      seen.add(item.id);
      const children = (kids.get(item.id) || []).map((kid) => build(kid, depth + 1)).filter(Boolean);
      return renderOne(item, children, depth);
    };
    list.replaceChildren();
    for (const item of roots) {
      if (item.placeholder) {
        const li = el("li", "thread-comment deleted");
        li.append(el("p", "thread-head", "A deleted comment"));
        const sub = el("ol", "thread-replies");
        sub.append(...missing.get(item.placeholder).map((kid) => build(kid, 1)).filter(Boolean));
        li.append(sub);
        list.append(li);
      } else {
        const node = build(item, 0);
        if (node) list.append(node);
      }
    }
    empty.textContent = loaded ? "No comments yet." : "Loading comments…";
    empty.hidden = list.children.length > 0 || (!loaded && !error.hidden); // a failed first load says why instead
    if (replyTo && !shown.includes(replyTo)) stopReply();
    if (editing !== null && !shown.some((item) => item.id === editing && editable(item))) {
      editing = null; // deleted or hidden meanwhile
      draft = "";
    }
  }

  function render() {
    // The list is built again: keep the focus on the same button (a reaction, a comment's action).
    const active = document.activeElement;
    const key = active instanceof HTMLElement && root.contains(active) ? active.dataset.focusKey || null : null;
    renderReactions();
    renderList();
    send.disabled = busy;
    if (key) {
      const again = [...root.querySelectorAll("[data-focus-key]")].find((node) => node.dataset.focusKey === key);
      if (again instanceof HTMLElement) again.focus();
    }
  }

  function startReply(item) {
    replyTo = item;
    replyingText.textContent = `Replying to ${authorLabel(item.author).name}`;
    replying.hidden = false;
    box.setAttribute("aria-label", `Reply to ${authorLabel(item.author).name}`);
    box.focus();
  }

  function stopReply() {
    replyTo = null;
    replying.hidden = true;
    box.setAttribute("aria-label", "Write a comment");
  }

  /** Run one call; on success show the list again (loaded), on failure its one sentence. */
  async function act(call, focusBox = false) {
    if (busy) return null;
    busy = true;
    say(error, "");
    say(notice, "");
    render();
    let answer = null;
    try {
      answer = await call();
      await load();
    } catch (failure) {
      say(error, describe(failure));
    } finally {
      busy = false;
      render();
    }
    if (focusBox) box.focus();
    return answer;
  }

  async function load() {
    const listed = await adapter.load();
    items = Array.isArray(listed) ? listed : [];
    loaded = true;
    if (adapter.onChange) adapter.onChange(items);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = box.value.trim();
    if (!text) {
      say(error, "Write something first.");
      box.focus();
      return;
    }
    if ([...text].length > MAX_TEXT) {
      say(error, `A comment is at most ${NUMBER.format(MAX_TEXT)} characters; this one has ${NUMBER.format([...text].length)}.`);
      return;
    }
    const parent = replyTo ? replyTo.id : null;
    let written = false;
    const answer = await act(async () => {
      const result = await adapter.write({ target, parent, kind: "comment", text });
      written = result !== null && result !== undefined;
      return result;
    });
    if (!written) return; // cancelled or refused: the text stays
    box.value = "";
    stopReply();
    if (answer && answer.held) say(notice, adapter.heldNotice || HELD_NOTICE);
    box.focus();
  });

  cancelReply.addEventListener("click", () => {
    stopReply();
    box.focus();
  });

  // Keys typed here are the text's, not the lightbox's (PhotoSwipe listens on the document). Escape
  // leaves a reply first, and with text in the box it does nothing: the text is sent or cleared first.
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      if (replyTo) {
        stopReply();
        event.stopPropagation();
        event.preventDefault();
      } else if (box.value.trim() !== "" && event.target === box) {
        event.stopPropagation();
        event.preventDefault();
      }
      return;
    }
    if (event.target === box) event.stopPropagation();
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target === box) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  render();

  return {
    element: root,
    async refresh() {
      try {
        await load();
        say(error, "");
      } catch (failure) {
        say(error, describe(failure));
      }
      render();
    },
    show(next) {
      items = Array.isArray(next) ? next : [];
      loaded = true;
      render();
    },
    setTarget(next, nextItems) {
      if (next !== target) {
        target = next ?? null;
        stopReply();
        editing = null;
        draft = "";
        say(error, "");
        say(notice, "");
      }
      if (nextItems) {
        items = nextItems;
        loaded = true;
      }
      render();
    },
    focusInput() {
      box.focus();
    },
  };
}
