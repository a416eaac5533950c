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

import { formatDuration } from "../core/present.js";

const BROKEN_TEXT = "This file could not be decrypted: it may be damaged or tampered with";
const FAILED_TEXT = "This thumbnail could not be loaded.";
const MIN_ASPECT = 0.4;
const MAX_ASPECT = 3;
const RETRY_MS = 5000;

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
   */
  constructor(container, { files, fetchThumb, onOpen, label }) {
    this.container = container;
    this.files = files;
    this.onOpen = onOpen;
    this.label = label;
    this.rows = [];
    this.rowEls = new Map();
    this.tiles = new Map(); // file index -> tile element, for rendered tiles only
    this.width = 0;
    this.queue = new ThumbQueue(fetchThumb, (file) => this.refreshTile(file.index), 6);
    this.observer = new IntersectionObserver((entries) => this.onIntersect(entries), { rootMargin: "75% 0px" });
    this.scheduled = false;

    container.setAttribute("role", "group");
    container.addEventListener("click", (event) => {
      const tile = /** @type {HTMLElement | null} */ (/** @type {Element} */ (event.target).closest(".tile"));
      if (tile) this.onOpen(Number(tile.dataset.index));
    });
    container.addEventListener("keydown", (event) => this.onKey(event));
    this.onScroll = () => this.schedule();
    window.addEventListener("scroll", this.onScroll, { passive: true });
    this.resizeObserver = new ResizeObserver(() => {
      if (container.clientWidth !== this.width) this.relayout();
    });
    this.resizeObserver.observe(container);
  }

  /** Recompute the layout after files were added, or the width changed. */
  relayout() {
    if (this.destroyed) return;
    this.width = this.container.clientWidth;
    const focused = this.focusedIndex();
    const before = this.rows;
    this.rows = this.layout(this.width);
    // Keep the rows that did not move (a new page of files changes only the end).
    const same = (a, b) => a && b && a.start === b.start && a.end === b.end && a.top === b.top && a.height === b.height;
    for (const [index, el] of this.rowEls) if (!same(before[index], this.rows[index])) this.removeRow(index, el);
    const last = this.rows[this.rows.length - 1];
    this.container.style.height = `${last ? last.top + last.height : 0}px`;
    this.render();
    if (focused !== null && this.focusedIndex() !== focused) this.focusIndex(focused);
  }

  layout(width) {
    const small = width < 600;
    const target = small ? 120 : width < 1100 ? 190 : 240;
    const gap = small ? 3 : 6;
    this.gap = gap;
    const rows = [];
    let start = 0;
    let sum = 0;
    let top = 0;
    const push = (end, height) => {
      rows.push({ start, end, top, height });
      top += height + gap;
      start = end;
      sum = 0;
    };
    for (let i = 0; i < this.files.length; i += 1) {
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
      this.observer.observe(tile);
    }
    return el;
  }

  removeRow(r, el) {
    for (const tile of el.children) {
      const index = Number(tile.dataset.index);
      this.observer.unobserve(tile);
      this.tiles.delete(index);
      const file = this.files[index];
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
    tile.setAttribute("aria-label", file.guest ? `${this.label(file)}, added by a guest` : this.label(file));
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
  }

  refreshTile(index) {
    const tile = this.tiles.get(index);
    if (tile) this.fillTile(tile, this.files[index]);
  }

  onIntersect(entries) {
    for (const entry of entries) {
      const file = this.files[Number(entry.target.dataset.index)];
      if (!file) continue;
      if (entry.isIntersecting) this.queue.want(file);
      else this.queue.drop(file);
    }
  }

  focusedIndex() {
    const el = /** @type {HTMLElement | null} */ (document.activeElement);
    if (!el || !el.classList || !el.classList.contains("tile") || !this.container.contains(el)) return null;
    return Number(el.dataset.index);
  }

  rowOf(index) {
    let lo = 0;
    let hi = this.rows.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const row = this.rows[mid];
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
      const next = this.rows[r + (event.key === "ArrowDown" ? 1 : -1)];
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
    this.container.replaceChildren();
    this.rowEls.clear();
    this.tiles.clear();
  }
}
