// The order the album's files are shown in, from the owner's album metadata.
//
// The album metadata's `sort`, `order` and `cover` (docs/format.md, "Album metadata") are
// written by the owner, but a tampered or hostile metadata must never break the page: an
// unknown `sort`, an `order` that is not a list, ids that are not strings, duplicates, or
// an `order` far longer than the server's 64 KiB limit allows all fall back quietly
// (to sorting by date taken, or to ignoring the bad entries). Nothing here throws.
//
// Files carry `seq`, the order they arrived in (the server lists in upload order), which
// breaks every tie, so the order is total and stable whatever order pages arrive in.

const SORTS = new Set(["taken", "name", "upload", "custom"]);
const ID = /^[A-Za-z0-9_-]{22}$/;
// 64 KiB of metadata holds about 2,500 ids; anything longer is not from an honest writer,
// and is cut short rather than walked through.
const MAX_ORDER = 10000;
const TAKEN_AT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;
// Files with more than this many are headed by month rather than by day.
const MONTHS_FROM = 1000;
const keys = new WeakMap(); // file -> its takenKey: a sort compares each file many times

/**
 * The page's language for Intl: the visitor's own variant of it where they have one (a page
 * in "en" read with an en-GB browser formats dates the British way), else the page's, else
 * the browser's if the page says none or one Intl refuses.
 * @returns {string | undefined}
 */
export function pageLocale() {
  let lang;
  try {
    lang = Intl.getCanonicalLocales(document.documentElement.lang || [])[0];
  } catch {
    lang = undefined;
  }
  if (!lang) return undefined;
  const primary = lang.split("-")[0].toLowerCase();
  for (const tag of navigator.languages || []) {
    try {
      const [canonical] = Intl.getCanonicalLocales(tag);
      if (canonical && canonical.split("-")[0].toLowerCase() === primary) return lang.includes("-") ? lang : canonical;
    } catch {
      // a tag Intl does not take: the next one
    }
  }
  return lang;
}

/**
 * A file's capture time as a number to sort by, or null. With an offset ("+02:00", "Z") it is
 * normalised to UTC, so photos from two time zones interleave as they happened; without one it
 * is the camera's local time, compared as written.
 * @param {any} file
 * @returns {number | null}
 */
export function takenKey(file) {
  if (file && typeof file === "object" && keys.has(file)) return keys.get(file);
  const key = parseKey(file);
  if (file && typeof file === "object") keys.set(file, key);
  return key;
}

function parseKey(file) {
  const text = file && file.info && file.info.takenAt && file.info.takenAt.text;
  if (typeof text !== "string") return null;
  const m = TAKEN_AT.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  let time = Date.UTC(y, mo - 1, d, h, mi, s);
  // Date.UTC rolls a 45th of the 13th month over into another date: such a time is no date.
  const check = new Date(time);
  if (Number.isNaN(time) || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    return null;
  }
  const offset = m[7];
  if (offset && offset !== "Z") {
    const sign = offset[0] === "-" ? -1 : 1;
    time -= sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6))) * 60000;
  }
  return time;
}

/** The album metadata's `sort`, or "taken" for anything else. */
export function sortOf(meta) {
  const sort = meta && typeof meta === "object" ? meta.sort : undefined;
  return typeof sort === "string" && SORTS.has(sort) ? sort : "taken";
}

/** The album metadata's `cover` if it is a file id, else null. */
export function coverOf(meta) {
  const cover = meta && typeof meta === "object" ? meta.cover : undefined;
  return typeof cover === "string" && ID.test(cover) ? cover : null;
}

/** {file id: rank} from the metadata's `order`: well-formed ids only, each at its first place. */
function ranks(meta) {
  const order = meta && typeof meta === "object" ? meta.order : undefined;
  const rank = new Map();
  if (!Array.isArray(order)) return rank;
  const n = Math.min(order.length, MAX_ORDER);
  for (let i = 0; i < n; i += 1) {
    const id = order[i];
    if (typeof id === "string" && ID.test(id) && !rank.has(id)) rank.set(id, rank.size);
  }
  return rank;
}

/**
 * How the album is ordered: `compare(a, b)` for files, and `headings` (whether the grid shows
 * date headings: for the order by date taken only).
 * @param {any} meta  the decrypted album metadata, untrusted
 */
export function albumOrder(meta) {
  const sort = sortOf(meta);
  const bySeq = (a, b) => a.seq - b.seq;
  // Dated files first, oldest first; undated ones after them, in upload order.
  const byTaken = (a, b) => {
    const x = takenKey(a);
    const y = takenKey(b);
    if (x !== null && y !== null && x !== y) return x - y;
    if (x === null && y !== null) return 1;
    if (x !== null && y === null) return -1;
    return bySeq(a, b);
  };
  if (sort === "upload") return { sort, compare: bySeq, headings: false };
  if (sort === "name") {
    // IMG_2 before IMG_10, and accents and case as a reader of this language expects.
    const collator = new Intl.Collator(pageLocale(), { numeric: true, sensitivity: "base" });
    const name = (file) => (file.info && file.info.name) || null;
    const byName = (a, b) => {
      const x = name(a);
      const y = name(b);
      if (x !== null && y !== null) return collator.compare(x, y) || bySeq(a, b);
      if (x === null && y !== null) return 1;
      if (x !== null && y === null) return -1;
      return bySeq(a, b);
    };
    return { sort, compare: byName, headings: false };
  }
  if (sort === "custom") {
    const rank = ranks(meta);
    const at = (file) => (file.id && rank.has(file.id) ? rank.get(file.id) : null);
    const byRank = (a, b) => {
      const x = at(a);
      const y = at(b);
      if (x !== null && y !== null) return x - y;
      if (x !== null) return -1;
      if (y !== null) return 1;
      return byTaken(a, b);
    };
    return { sort, compare: byRank, headings: false };
  }
  return { sort, compare: byTaken, headings: true };
}

/**
 * Where `file` goes in `files` (already in order): after every file that comes before it.
 * @param {Array<any>} files
 * @param {any} file
 * @param {(a: any, b: any) => number} compare
 */
export function insertionPoint(files, file, compare) {
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compare(files[mid], file) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Whether an album of `count` files is headed by month rather than by day. */
export function monthly(count) {
  return count > MONTHS_FROM;
}

/**
 * The date heading a file goes under: {key, text}. By day (the day as the camera wrote it,
 * the one a person remembers), or by month for large albums; files without a date get one
 * heading of their own, after the dated ones.
 * @param {boolean} byMonth
 * @returns {(file: any) => {key: string, text: string}}
 */
export function dateHeadings(byMonth) {
  const options = byMonth
    ? { month: "long", year: "numeric", timeZone: "UTC" }
    : { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" };
  /** @type {Intl.DateTimeFormat} */
  let format;
  try {
    format = new Intl.DateTimeFormat(pageLocale(), /** @type {Intl.DateTimeFormatOptions} */ (options));
  } catch {
    format = new Intl.DateTimeFormat(undefined, /** @type {Intl.DateTimeFormatOptions} */ (options));
  }
  const texts = new Map();
  return (file) => {
    const taken = file && file.info && file.info.takenAt;
    if (!taken || !Number.isFinite(taken.wall)) return { key: "none", text: "Date unknown" };
    // The date as the camera wrote it: takenAt.wall holds that wall-clock time as if it were UTC.
    const date = new Date(taken.wall);
    const key = byMonth
      ? `${date.getUTCFullYear()}-${date.getUTCMonth()}`
      : `${date.getUTCFullYear()}-${date.getUTCMonth()}-${date.getUTCDate()}`;
    if (!texts.has(key)) texts.set(key, format.format(date));
    return { key, text: texts.get(key) };
  };
}
