// A guest's file metadata, from what the browser and exifr tell: no DOM, no network.
//
// The browser half of viewer/owner/media.py's metadata rules, so that a guest's photo and
// the owner's copy of the same photo describe themselves alike (docs/format.md,
// "File metadata"): the same capture-time fallbacks and offsets, the same "Make
// Model" without a repeated make, GPS to 7 decimals.

export const THUMB_EDGE = 480; // docs/format.md, "Blobs": thumb, longest edge
export const PREVIEW_EDGE = 2048; // preview, longest edge

// What exifr reads for the metadata: no maker notes, no XMP, no thumbnail IFD; raw
// values, so that dates keep the camera's wall-clock time (exifr README, "Options").
export const EXIF_OPTIONS = Object.freeze({
  tiff: true,
  exif: true,
  gps: true,
  ifd1: false,
  interop: false,
  xmp: false,
  translateValues: false,
  reviveValues: false,
});

// What a picker may leave without a type (HEIC on most desktops, some videos):
// guessed from the extension, so the original's mime says what it is.
const BY_EXTENSION = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  heic: "image/heic",
  heif: "image/heif",
  tif: "image/tiff",
  tiff: "image/tiff",
  dng: "image/x-adobe-dng",
  mp4: "video/mp4",
  // As viewer/owner/media.py: an MP4 container, and "video/x-m4v" is refused by some browsers.
  m4v: "video/mp4",
  mov: "video/quicktime",
  webm: "video/webm",
  mkv: "video/x-matroska",
  "3gp": "video/3gpp",
};

/** The file's MIME type, or one guessed from its extension, or null when neither says photo or video. */
export function mediaType(name, type) {
  const given = typeof type === "string" ? type.toLowerCase() : "";
  if (given.startsWith("image/") || given.startsWith("video/")) return given;
  const extension = String(name).toLowerCase().split(".").pop();
  return BY_EXTENSION[extension] || null;
}

/** Width and height that fit within `edge` on the longest side (never enlarged). */
export function fitWithin(width, height, edge) {
  const scale = Math.min(1, edge / Math.max(width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

// Days in each month, February of a leap year aside.
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** True for a date the calendar has (as Python's datetime, which refuses 30 February). */
function realDate(year, month, day) {
  if (!(year >= 1 && month >= 1 && month <= 12 && day >= 1)) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return day <= (month === 2 && leap ? 29 : MONTH_DAYS[month - 1]);
}

function exifText(value) {
  if (typeof value !== "string") return null;
  // Cameras pad with NULs and spaces.
  const clean = value.replace(/\0/g, "").trim();
  return clean || null;
}

/** ISO 8601 capture time from EXIF tags (exifr, reviveValues off), with its offset when known. */
export function takenAt(tags) {
  if (!tags) return null;
  // DateTimeOriginal is the shutter time; the others are fallbacks for scanners and
  // editors, each with its own OffsetTime* companion (as viewer/owner/media.py).
  const candidates = [
    [tags.DateTimeOriginal, tags.OffsetTimeOriginal],
    [tags.CreateDate, tags.OffsetTimeDigitized],
    [tags.ModifyDate, tags.OffsetTime],
  ];
  for (const [raw, rawOffset] of candidates) {
    const text = exifText(raw);
    const match = text && /^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})/.exec(text);
    if (!match) continue;
    const [, y, mo, d, h, mi, s] = match.map(Number);
    // e.g. the "0000:00:00 00:00:00" some cameras write when unset, or a 30 February:
    // the next candidate then, as viewer/owner/media.py (whose strptime refuses both).
    if (!(realDate(y, mo, d) && h <= 23 && mi <= 59 && s <= 59)) continue;
    const offset = exifText(rawOffset) || "";
    const zone = /^[+-]\d\d:\d\d$/.test(offset) ? offset : "";
    return `${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}${zone}`;
  }
  return null;
}

/** "Make Model", without repeating the make when the model already has it. */
export function camera(tags) {
  if (!tags) return null;
  const make = exifText(tags.Make);
  const model = exifText(tags.Model);
  if (make && model && model.toLowerCase().startsWith(make.toLowerCase())) return model;
  return [make, model].filter(Boolean).join(" ") || null;
}

/**
 * `value` to 7 decimals (about 1 cm) as Python's round(value, 7) does: toFixed rounds
 * the exact binary value, where Math.round(value * 1e7) would round a product that is
 * itself rounded. Exact ties (0.00390625°) go away from zero here and to even in
 * Python: 1e-7° apart, in numbers no GPS writes.
 */
function round7(value) {
  return Number(value.toFixed(7));
}

function degrees(dms, ref, negative) {
  if (!Array.isArray(dms) || dms.length !== 3) return null;
  const [d, m, s] = dms.map(Number);
  let value = d + m / 60 + s / 3600;
  if (!Number.isFinite(value)) return null;
  if (typeof ref === "string" && ref.toUpperCase().startsWith(negative)) value = -value;
  return round7(value);
}

/** [lat, lon] in decimal degrees from the EXIF GPS block, or null. */
export function location(tags) {
  if (!tags) return null;
  const lat = degrees(tags.GPSLatitude, tags.GPSLatitudeRef, "S");
  const lon = degrees(tags.GPSLongitude, tags.GPSLongitudeRef, "W");
  if (lat === null || lon === null || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return [lat, lon];
}

/**
 * The metadata object sealed under the file key (docs/format.md, "File metadata"):
 * every key, null where unknown, plus `uploader` when the guest gave a name.
 */
export function fileMeta({ name, mime, size, kind, width, height, duration, tags, thumbType, previewType, uploader }) {
  const meta = {
    name: String(name).split(/[\\/]/).pop(),
    mime,
    size,
    kind,
    width: width || null,
    height: height || null,
    duration: kind === "video" && Number.isFinite(duration) ? Math.round(duration * 1000) / 1000 : null,
    taken_at: takenAt(tags),
    camera: camera(tags),
    location: location(tags),
    thumb_type: thumbType,
    preview_type: previewType,
  };
  const guest = typeof uploader === "string" ? uploader.trim() : "";
  if (guest) meta.uploader = guest;
  return meta;
}
