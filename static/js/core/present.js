// How decrypted metadata is checked and shown: no crypto, no network.
//
// Metadata is written by the owner or a guest, so the viewer treats it as untrusted
// input (docs/format.md, "Metadata"): every field is type-checked here, shown only
// through textContent, and a name is made safe before it becomes a download name.
// Its media types are only ever used through mediatypes.js (an allowlist checked
// against the decrypted bytes), since a type decides what a browser renders.

import { DRAWN_IMAGE_TYPES, allowedType } from "./mediatypes.js";

// \p{Cc}: U+0000-U+001F and U+007F-U+009F (Unicode, General_Category=Control).
const CONTROLS = /\p{Cc}/gu;
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const TAKEN_AT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;


function text(value, max = 500) {
  if (typeof value !== "string") return null;
  // Control characters have no place in a name or caption shown on screen, nor do
  // bidirectional overrides, which can show "gpj.exe" as "exe.jpg" (CVE-2021-42574).
  const clean = value.replace(CONTROLS, " ").replace(BIDI, "").trim();
  return clean ? clean.slice(0, max) : null;
}

function count(value) {
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

function coordinate(value, limit) {
  return typeof value === "number" && Number.isFinite(value) && Math.abs(value) <= limit ? value : null;
}

/** The album metadata, with only the fields the page shows. */
export function albumInfo(raw) {
  const meta = raw && typeof raw === "object" ? raw : {};
  return { title: text(meta.title, 300) || "Shared album", description: text(meta.description, 5000) };
}

/** One file's metadata, type-checked; unknown keys are ignored, missing ones are null. */
export function fileInfo(raw) {
  const meta = raw && typeof raw === "object" ? raw : {};
  let location = null;
  if (Array.isArray(meta.location) && meta.location.length === 2) {
    const [lat, lon] = [coordinate(meta.location[0], 90), coordinate(meta.location[1], 180)];
    if (lat !== null && lon !== null) location = [lat, lon];
  }
  const duration =
    typeof meta.duration === "number" && Number.isFinite(meta.duration) && meta.duration >= 0 ? meta.duration : null;
  return {
    name: text(meta.name, 255),
    mime: text(meta.mime, 100) || "application/octet-stream",
    size: Number.isSafeInteger(meta.size) && meta.size >= 0 ? meta.size : null,
    kind: meta.kind === "video" ? "video" : "photo",
    width: count(meta.width),
    height: count(meta.height),
    duration,
    takenAt: parseTakenAt(meta.taken_at),
    camera: text(meta.camera, 200),
    location,
    uploader: text(meta.uploader, 200),
    thumbType: imageType(meta.thumb_type),
    previewType: imageType(meta.preview_type),
  };
}

function imageType(value) {
  return typeof value === "string" && /^image\/[a-z0-9.+-]+$/.test(value) ? value : "image/webp";
}

/**
 * A capture time as the wall-clock time it was taken, or null. The camera's own
 * local time is what a person remembers, so the offset is kept for sorting only.
 */
export function parseTakenAt(value) {
  if (typeof value !== "string") return null;
  const m = TAKEN_AT.exec(value);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  if (Number.isNaN(wall) || new Date(wall).getUTCDate() !== d) return null;
  return { wall, text: value };
}

/**
 * Whether the browser can show this original in an <img>: formats every current browser
 * draws (mediatypes.js DRAWN_IMAGE_TYPES); anything else (HEIC, TIFF, RAW) keeps the
 * preview, which is what the owner's tool renders it to.
 */
export function showableOriginal(info) {
  return info.kind === "photo" && DRAWN_IMAGE_TYPES.has(allowedType(info.mime));
}

const DAY = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
const DAY_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "long", timeStyle: "short", timeZone: "UTC" });
const NUMBER = new Intl.NumberFormat();

export function formatDay(taken) {
  return DAY.format(new Date(taken.wall));
}

export function formatDateTime(taken) {
  return DAY_TIME.format(new Date(taken.wall));
}

/** "1 June 2024", or "24 December 2023 – 1 June 2024". */
export function formatDayRange(first, last) {
  const a = formatDay(first);
  const b = formatDay(last);
  return a === b ? a : `${a} – ${b}`;
}

export function formatCount(n, one, many) {
  return `${NUMBER.format(n)} ${n === 1 ? one : many}`;
}

export function formatBytes(n) {
  if (n === null || n === undefined) return null;
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return null;
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function formatLocation([lat, lon]) {
  const ns = lat >= 0 ? "N" : "S";
  const ew = lon >= 0 ? "E" : "W";
  return `${Math.abs(lat).toFixed(5)}° ${ns}, ${Math.abs(lon).toFixed(5)}° ${ew}`;
}

export function formatMinutes(seconds) {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  return minutes === 1 ? "1 minute" : `${minutes} minutes`;
}

/**
 * A name that is safe to save under: no folders, no characters that Windows or
 * macOS refuse, no leading dots (hidden files), and never empty.
 */
export function safeFileName(name, fallback = "file") {
  let clean = String(name || "")
    .normalize("NFC")
    .replace(BIDI, "")
    .replace(/[\p{Cc}/\\:*?"<>|]/gu, "_")
    .replace(/^[.\s]+|[.\s]+$/g, "");
  if (/^(con|prn|aux|nul|com\d|lpt\d)(\.|$)/i.test(clean)) clean = `_${clean}`;
  return clean.slice(0, 200) || fallback;
}
