// The album grid: a justified layout that keeps only the rows near the screen in the DOM.
//
// Each file's box comes from its metadata (width and height), so the whole layout is
// known before a single thumbnail arrives and nothing jumps while they load. Rows are
// positioned absolutely inside one tall container and only those within about a
// screen of the viewport exist as elements, so 10,000 files cost a few hundred
// nodes, not tens of thousands (the "virtual list" technique; web.dev, "Virtualize
// large lists"). An IntersectionObserver with a root margin asks for thumbnails
// only when a tile comes near the viewport, and forgets the request when it leaves
// before its turn (web.dev, "Lazy-loading images"). A few thumbnails are fetched at
// once, so a fast scroll to the end does not queue thousands of requests.
//
// The files come in the order the page chose (order.js) and new ones may land anywhere
// in it as the listing's pages arrive: a relayout keeps every row whose files did not
// change, and keeps what the visitor is looking at where it was on screen (the first
// visible row is the anchor, as the CSS Scroll Anchoring spec does for normal flow,
// which absolutely positioned rows do not get). With date headings a heading row
// (a real <h2>) starts each group and rows never straddle two groups.

import { formatDuration } from "../core/present.js";

const BROKEN_TEXT = "This file could not be decrypted: it may be damaged or tampered with";
const FAILED_TEXT = "This thumbnail could not be loaded.";
const MIN_ASPECT = 0.4;
const MAX_ASPECT = 3;
const RETRY_MS = 5000;
const HEADING_HEIGHT = 52;
const SMALL_HEADING_HEIGHT = 40;

/** Fetches thumbnails for tiles near the viewport, a few at a time. */
class ThumbQueue {
  constructor(fetchThumb, done, concurrency) {
    this.fetchThumb = fetchThumb;
    this.done = done;
    this.concurrency = concurrency;
    this.waiting = new Set();
    this.active = 0;
  }

  want(file) {
    // A thumbnail the network failed to bring is tried again when its tile comes back.
    if (file.thumb.state === "failed" && Date.now() - file.thumb.at > RETRY_MS) file.thumb = { state: "idle", url: null };
    if (file.broken || file.thumb.state !== "idle") return;
    this.waiting.add(file);
    this.pump();
  }

  drop(file) {
    this.waiting.delete(file);
  }

  clear() {
    this.waiting.clear();
  }

  pump() {
    while (this.active < this.concurrency && this.waiting.size) {
      const [file] = this.waiting;
      this.waiting.delete(file);
      if (file.thumb.state !== "idle") continue;
      this.active += 1;
      file.thumb.state = "loading";
      this.fetchThumb(file)
        .then(
          (url) => {
            file.thumb = { state: "done", url };
          },
          (error) => {
            // A refused or lost request is not the file's fault; a failed decryption is.
            const transport = error && (error.name === "ApiError" || error.name === "NetworkError");
            file.thumb = { state: transport ? "failed" : "broken", url: null, at: Date.now() };
          },
        )
        .finally(() => {
          this.active -= 1;
          this.done(file);
          this.pump();
        });
    }
  }
}

export class Grid {
  /**
   * @param {HTMLElement} container  an empty element; the grid fills it
   * @param {object} options
   * @param {Array<any>} options.files  a live array
   * @param {(file: any) => Promise<string>} options.fetchThumb  the thumbnail's URL
   * @param {(index: number) => void} options.onOpen
   * @param {(file: any) => string} options.label  the tile's accessible name
   * @param {((file: any) => {key: string, text: string}) | null} [options.headingOf]  the group a file
   *   is headed by (its date), or null for no headings; `headingOf` may be changed before a relayout
   * @param {((file: any) => {text: string, label: string} | null) | null} [options.notesOf]  a file's
   *   reactions and comments ("♥ 3", "3 reactions, 1 comment"), or null for none; refreshTiles() after a change
   */
  constructor(container, { files, fetchThumb, onOpen, label, headingOf = null, notesOf = null }) {
    this.container = container;
    this.notesOf = notesOf;
    this.files = files;
    this.onOpen = onOpen;
    this.label = label;
    this.headingOf = headingOf;
    this.rows = [];
    this.rowEls = new Map();
    this.tiles = new Map(); // file index -> tile element, for rendered tiles only
    this.tileFile = new WeakMap(); // tile element -> its file (indices change as files are inserted)
    this.width = 0;
    this.queue = new ThumbQueue(fetchThumb, (file) => this.refreshTile(file.index), 6);
    this.observer = new IntersectionObserver((entries) => this.onIntersect(entries), { rootMargin: "75% 0px" });
    this.scheduled = false;

    container.setAttribute("role", "group");
    container.addEventListener("click", (event) => {
      const tile = /** @type {HTMLElement | null} */ (/** @type {Element} */ (event.target).closest(".tile"));
      const file = tile && this.tileFile.get(tile);
      if (file) this.onOpen(file.index);
    });
    container.addEventListener("keydown", (event) => this.onKey(event));
    this.onScroll = () => this.schedule();
    window.addEventListener("scroll", this.onScroll, { passive: true });
    // A taller window shows more rows without a change of width (the ResizeObserver's case).
    window.addEventListener("resize", this.onScroll, { passive: true });
    this.resizeObserver = new ResizeObserver(() => {
      if (container.clientWidth !== this.width) this.relayout();
    });
    this.resizeObserver.observe(container);
  }

  /**
   * Recompute the layout after files were added (anywhere: each file's `index` is its place
   * in `files`, renumbered by the caller), or the width changed.
   */
  relayout() {
    if (this.destroyed) return;
    this.width = this.container.clientWidth;
    const focused = this.focusedFile();
    const before = this.rows;
    const anchor = this.anchor(before);
    this.rows = this.layout(this.width);
    // Keep the rows that show the same files at the same place; redraw only the others.
    const same = (a, b) =>
      a &&
      b &&
      a.kind === b.kind &&
      a.start === b.start &&
      a.end === b.end &&
      a.top === b.top &&
      a.height === b.height &&
      a.text === b.text &&
      a.files.every((file, i) => file === b.files[i]);
    for (const [index, el] of this.rowEls) if (!same(before[index], this.rows[index])) this.removeRow(index, el);
    const last = this.rows[this.rows.length - 1];
    this.container.style.height = `${last ? last.top + last.height : 0}px`;
    if (anchor) {
      // What the visitor was looking at stays where it was on screen, whatever landed above it.
      const r = this.rowOf(anchor.file.index);
      const moved = r === null ? 0 : this.rows[r].top - anchor.top;
      if (moved) window.scrollBy({ top: moved, behavior: "instant" });
    }
    this.render();
    if (focused && this.focusedFile() !== focused && this.files[focused.index] === focused) this.focusIndex(focused.index);
  }

  /** The first file of the first row on screen and that row's top, when the grid is scrolled into; else null. */
  anchor(rows) {
    const viewTop = -this.container.getBoundingClientRect().top;
    if (viewTop <= 0) return null; // the top of the grid is on screen: new files above push down, as they should
    for (const row of rows) {
      if (row.kind === "tiles" && row.top + row.height > viewTop && row.files.length) return { file: row.files[0], top: row.top };
    }
    return null;
  }

  layout(width) {
    const small = width < 600;
    const target = small ? 120 : width < 1100 ? 190 : 240;
    const gap = small ? 3 : 6;
    const headingHeight = small ? SMALL_HEADING_HEIGHT : HEADING_HEIGHT;
    const headingOf = this.headingOf;
    this.gap = gap;
    const rows = [];
    let start = 0;
    let sum = 0;
    let top = 0;
    let group = null;
    const push = (end, height) => {
      rows.push({ kind: "tiles", start, end, top, height, text: null, files: this.files.slice(start, end) });
      top += height + gap;
      start = end;
      sum = 0;
    };
    for (let i = 0; i < this.files.length; i += 1) {
      if (headingOf) {
        const heading = headingOf(this.files[i]);
        if (heading.key !== group) {
          // A new group: the last row of the one before ends here, unjustified like the album's last.
          if (start < i) push(i, target);
          rows.push({ kind: "heading", start: i, end: i, top, height: headingHeight, text: heading.text, files: [] });
          top += headingHeight;
          group = heading.key;
        }
      }
      sum += this.aspect(this.files[i]);
      const n = i - start + 1;
      if (sum * target + (n - 1) * gap >= width) push(i + 1, (width - (n - 1) * gap) / sum);
    }
    if (start < this.files.length) push(this.files.length, target);
    return rows;
  }

  aspect(file) {
    const info = file.info;
    if (!info || !info.width || !info.height) return 1;
    return Math.min(MAX_ASPECT, Math.max(MIN_ASPECT, info.width / info.height));
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  /** Rows that are near the viewport, plus the one holding the focus. */
  wantedRows() {
    const top = -this.container.getBoundingClientRect().top;
    const overscan = window.innerHeight;
    const from = top - overscan;
    const to = top + window.innerHeight + overscan;
    const wanted = [];
    let lo = 0;
    let hi = this.rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.rows[mid].top + this.rows[mid].height < from) lo = mid + 1;
      else hi = mid;
    }
    for (let r = lo; r < this.rows.length && this.rows[r].top <= to; r += 1) wanted.push(r);
    const focused = this.focusedIndex();
    if (focused !== null) {
      const r = this.rowOf(focused);
      if (r !== null && !wanted.includes(r)) wanted.push(r);
    }
    return wanted.sort((a, b) => a - b);
  }

  render() {
    if (this.destroyed) return;
    const wanted = this.wantedRows();
    const keep = new Set(wanted);
    for (const [index, el] of this.rowEls) if (!keep.has(index)) this.removeRow(index, el);
    let previous = null;
    for (const r of wanted) {
      let el = this.rowEls.get(r);
      if (!el) {
        el = this.makeRow(r);
        this.rowEls.set(r, el);
        // Rows stay in DOM order, so Tab moves through tiles in reading order.
        this.container.insertBefore(el, previous ? previous.nextSibling : this.container.firstChild);
      }
      previous = el;
    }
  }

  makeRow(r) {
    const row = this.rows[r];
    if (row.kind === "heading") {
      // A real heading, so screen readers can jump from date to date.
      const heading = document.createElement("h2");
      heading.className = "grid-row grid-heading";
      heading.style.top = `${row.top}px`;
      heading.style.height = `${row.height}px`;
      heading.textContent = row.text;
      return heading;
    }
    const el = document.createElement("div");
    el.className = "grid-row";
    el.setAttribute("role", "presentation");
    el.style.top = `${row.top}px`;
    el.style.height = `${row.height}px`;
    el.style.gap = `${this.gap}px`;
    for (let i = row.start; i < row.end; i += 1) {
      const tile = this.makeTile(this.files[i]);
      tile.style.width = `${this.aspect(this.files[i]) * row.height}px`;
      el.append(tile);
      this.tiles.set(i, tile);
      this.tileFile.set(tile, this.files[i]);
      this.observer.observe(tile);
    }
    return el;
  }

  removeRow(r, el) {
    for (const tile of el.children) {
      const index = Number(tile.dataset.index);
      this.observer.unobserve(tile);
      if (this.tiles.get(index) === tile) this.tiles.delete(index);
      const file = this.tileFile.get(tile);
      if (file) this.queue.drop(file);
    }
    el.remove();
    this.rowEls.delete(r);
  }

  makeTile(file) {
    const tile = document.createElement("button");
    tile.type = "button";
    tile.className = "tile";
    tile.dataset.index = String(file.index);
    this.fillTile(tile, file);
    return tile;
  }

  fillTile(tile, file) {
    const state = file.broken ? "broken" : file.thumb.state;
    tile.classList.toggle("is-video", Boolean(file.info && file.info.kind === "video"));
    tile.classList.toggle("is-broken", state === "broken");
    tile.classList.toggle("is-failed", state === "failed");
    tile.classList.toggle("is-loaded", state === "done");
    // A guest's file is marked from the server's flag (never from the name a guest typed), on screen and for screen readers.
    tile.classList.toggle("is-guest", Boolean(file.guest));
    tile.replaceChildren();
    if (state === "done") {
      const img = document.createElement("img");
      img.alt = file.alt;
      img.draggable = false;
      img.decoding = "async";
      img.src = file.thumb.url;
      tile.append(img);
    }
    if (file.info && file.info.kind === "video" && state !== "broken") {
      const badge = document.createElement("span");
      badge.className = "tile-badge";
      badge.setAttribute("aria-hidden", "true");
      const duration = formatDuration(file.info.duration);
      badge.textContent = duration ? `▶ ${duration}` : "▶";
      tile.append(badge);
    }
    if (file.guest) {
      const badge = document.createElement("span");
      badge.className = "tile-guest";
      badge.setAttribute("aria-hidden", "true"); // said in the tile's label
      badge.textContent = "Guest";
      tile.append(badge);
    }
    if (state === "broken" || state === "failed") {
      const note = document.createElement("span");
      note.className = "tile-note";
      note.textContent = state === "broken" ? BROKEN_TEXT : FAILED_TEXT;
      tile.append(note);
    }
    this.fillNotes(tile, file);
  }

  /** The tile's name, and its reactions and comments (comments.js noteCounts), said in it too. */
  fillNotes(tile, file) {
    const notes = this.notesOf && file.id ? this.notesOf(file) : null;
    const label = file.guest ? `${this.label(file)}, added by a guest` : this.label(file);
    tile.setAttribute("aria-label", notes ? `${label}, ${notes.label}` : label);
    const old = tile.querySelector(".tile-notes");
    if (old) old.remove();
    if (!notes) return;
    const badge = document.createElement("span");
    badge.className = "tile-notes";
    badge.setAttribute("role", "img");
    badge.setAttribute("aria-label", notes.label);
    badge.textContent = notes.text;
    tile.append(badge);
  }

  refreshTile(index) {
    const tile = this.tiles.get(index);
    if (tile) this.fillTile(tile, this.files[index]);
  }

  /** Fill every rendered tile again (the comments' counts changed). */
  refreshTiles() {
    for (const [index, tile] of this.tiles) this.fillNotes(tile, this.files[index]);
  }

  onIntersect(entries) {
    for (const entry of entries) {
      const file = this.tileFile.get(entry.target);
      if (!file || !this.tiles.has(file.index)) continue;
      if (entry.isIntersecting) this.queue.want(file);
      else this.queue.drop(file);
    }
  }

  focusedIndex() {
    const file = this.focusedFile();
    return file ? file.index : null;
  }

  /** The file whose tile has the focus, or null. */
  focusedFile() {
    const el = /** @type {HTMLElement | null} */ (document.activeElement);
    if (!el || !el.classList || !el.classList.contains("tile") || !this.container.contains(el)) return null;
    return this.tileFile.get(el) || null;
  }

  rowOf(index) {
    let lo = 0;
    let hi = this.rows.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const row = this.rows[mid];
      // A heading row has start === end: the index of the first file under it, which is after it.
      if (index < row.start) hi = mid - 1;
      else if (index >= row.end) lo = mid + 1;
      else return mid;
    }
    return null;
  }

  /** Scroll a file's tile into view if needed, and render it. */
  revealIndex(index) {
    const r = this.rowOf(index);
    if (r === null) return null;
    const row = this.rows[r];
    const top = this.container.getBoundingClientRect().top + row.top;
    if (top < 0 || top + row.height > window.innerHeight) {
      window.scrollBy({ top: top - (window.innerHeight - row.height) / 2, behavior: "instant" });
    }
    this.render();
    return this.tiles.get(index) || null;
  }

  /** Reveal a file's tile and focus it. */
  focusIndex(index) {
    const tile = this.revealIndex(index);
    if (tile) tile.focus({ preventScroll: true });
  }

  /** The rendered <img> of a file's tile, for PhotoSwipe's opening animation. */
  thumbElement(index) {
    const tile = this.tiles.get(index);
    return tile ? tile.querySelector("img") : null;
  }

  /** Arrow keys move between tiles, as in a photo app; Home and End jump to the ends. */
  onKey(event) {
    const index = this.focusedIndex();
    if (index === null || event.altKey || event.ctrlKey || event.metaKey) return;
    let target = null;
    const r = this.rowOf(index);
    if (event.key === "ArrowRight") target = index + 1;
    else if (event.key === "ArrowLeft") target = index - 1;
    else if (event.key === "Home") target = 0;
    else if (event.key === "End") target = this.files.length - 1;
    else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      let n = r + step;
      while (this.rows[n] && this.rows[n].kind !== "tiles") n += step; // over date headings
      const next = this.rows[n];
      if (next) {
        // The tile in the next row that sits under the middle of this one.
        const tile = this.tiles.get(index);
        const middle = tile.offsetLeft + tile.offsetWidth / 2;
        let x = 0;
        target = next.end - 1;
        for (let i = next.start; i < next.end; i += 1) {
          x += this.aspect(this.files[i]) * next.height + this.gap;
          if (x > middle) {
            target = i;
            break;
          }
        }
      }
    }
    if (target === null || target < 0 || target >= this.files.length) return;
    event.preventDefault();
    this.focusIndex(target);
  }

  /** Stop loading, drop the elements and listeners. */
  destroy() {
    this.destroyed = true;
    this.rows = [];
    this.queue.clear();
    this.observer.disconnect();
    this.resizeObserver.disconnect();
    window.removeEventListener("scroll", this.onScroll);
    window.removeEventListener("resize", this.onScroll);
    this.container.replaceChildren();
    this.rowEls.clear();
    this.tiles.clear();
  }
}
