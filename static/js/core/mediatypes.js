// Which media types a decrypted file may carry: a fixed allowlist, checked against the bytes.
//
// The `mime`, `thumb_type` and `preview_type` of a file are chosen by whoever added it
// (docs/format.md, "File metadata"), and a guest is not the owner. A type is what makes a
// browser render bytes as a document: a blob: URL or a Service Worker answer typed
// `text/html` or `image/svg+xml`, opened in a tab ("Open video in new tab", "Open image
// in new tab"), runs its scripts on the album's origin, where they can read storage and
// call the API (OWASP "Unrestricted File Upload": "Content-Type header... can be
// spoofed"; MDN "Blob: type"). So every Blob, blob: URL and Service Worker answer made
// from a decrypted file gets its type from `safeType` here, and nowhere else:
//
//   1. the declared type must be one of TYPES below, each a format that browsers hand
//      to an image or media decoder, which runs no script (never SVG, HTML, XML, PDF
//      or text, which are documents); anything else becomes application/octet-stream,
//      which a browser downloads and never renders (WHATWG MIME Sniffing, "Rules for
//      identifying an unknown MIME type" stop at octet-stream once sniffing is off, and
//      every answer of the Service Worker says nosniff);
//   2. the file's leading bytes must be that format's signature ("magic number";
//      WHATWG MIME Sniffing section 6, "Matching an image type pattern" and "Matching
//      an audio or video type pattern"; ISO/IEC 14496-12 for the `ftyp` box); a file
//      whose bytes say otherwise (an HTML page named image/jpeg) is octet-stream too.
//
// Downloads are unaffected: a file is saved under its own (made safe) name whatever
// its type. No DOM and no libsodium here, so that the page, the album Worker and the
// Service Worker all import this one module.

export const OCTET_STREAM = "application/octet-stream";

/** How many leading bytes the checks read: enough for every signature below. */
export const SNIFF_BYTES = 64;

const ascii = (text) => Array.from(text, (c) => c.charCodeAt(0));

function startsWith(bytes, pattern, at = 0) {
  if (bytes.length < at + pattern.length) return false;
  for (let i = 0; i < pattern.length; i += 1) if (pattern[i] !== null && bytes[at + i] !== pattern[i]) return false;
  return true;
}

/** The brands of an ISO base media file's leading `ftyp` box (ISO/IEC 14496-12 section 4.3), or null. */
function ftypBrands(bytes) {
  if (!startsWith(bytes, ascii("ftyp"), 4)) return null;
  const size = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  if (size < 16) return null;
  const brands = [];
  // The major brand, then the compatible brands (after the minor version), as far as we read.
  for (let at = 8; at + 4 <= Math.min(size, bytes.length); at += at === 8 ? 8 : 4) {
    brands.push(String.fromCharCode(...bytes.subarray(at, at + 4)));
  }
  return brands;
}

const hasBrand = (wanted) => (bytes) => {
  const brands = ftypBrands(bytes);
  return Boolean(brands && brands.some((brand) => wanted.includes(brand)));
};
const anyFtyp = (bytes) => ftypBrands(bytes) !== null;
const EBML = [0x1a, 0x45, 0xdf, 0xa3]; // Matroska and WebM (RFC 9559 section 5.1; WHATWG MIME Sniffing 6.2.2)
const ebml = (bytes) => startsWith(bytes, EBML);
// QuickTime files from before `ftyp` existed start with one of these atoms (Apple,
// "QuickTime File Format", "Atoms"); newer ones have an `ftyp` of brand "qt  ".
const QUICKTIME_ATOMS = ["moov", "mdat", "wide", "free", "skip", "pnot"].map(ascii);
const quicktime = (bytes) => anyFtyp(bytes) || QUICKTIME_ATOMS.some((atom) => startsWith(bytes, atom, 4));
// HEIF brands (ISO/IEC 23008-12 annex B; HEIC is HEIF with HEVC).
const HEIF_BRANDS = ["heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1"];

/**
 * The allowlist: type -> does this file start like one. Why each is here:
 * - image/jpeg, image/png, image/gif, image/webp: the thumbs and previews (the owner's
 *   tool writes WebP, a guest's browser JPEG or WebP; docs/format.md "Blobs"), and the
 *   originals the lightbox shows in an <img> (present.js showableOriginal);
 * - image/avif, image/bmp: originals every current browser draws in an <img>, also shown;
 * - image/heic, image/heif, image/tiff: what phones and cameras upload; the page never
 *   draws them (their WebP or JPEG preview stays), they are only downloaded, but a
 *   browser that knows them renders them with an image decoder, so the type may stay;
 * - video/mp4, video/quicktime, video/webm: what the lightbox's <video> plays (.m4v is
 *   video/mp4 already, viewer/owner/media.py); video/x-matroska and video/3gpp: what phones
 *   and the owner's tool label videos as, played where the browser can. Media
 *   elements pick the container from the bytes, never from this type.
 */
const TYPES = new Map([
  ["image/jpeg", (b) => startsWith(b, [0xff, 0xd8, 0xff])],
  ["image/png", (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])],
  ["image/gif", (b) => startsWith(b, ascii("GIF87a")) || startsWith(b, ascii("GIF89a"))],
  ["image/webp", (b) => startsWith(b, ascii("RIFF")) && startsWith(b, ascii("WEBPVP"), 8)],
  ["image/avif", hasBrand(["avif", "avis"])],
  ["image/bmp", (b) => startsWith(b, ascii("BM"))],
  ["image/heic", hasBrand(HEIF_BRANDS)],
  ["image/heif", hasBrand(HEIF_BRANDS)],
  ["image/tiff", (b) => startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])],
  ["video/mp4", anyFtyp],
  ["video/quicktime", quicktime],
  ["video/3gpp", anyFtyp],
  ["video/webm", ebml],
  ["video/x-matroska", ebml],
]);

/** Image types the page draws in an <img> (a photo's original upgrade in the lightbox). */
export const DRAWN_IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp"]);

/** The declared type, lower case and without parameters, if it is on the allowlist; else octet-stream. */
export function allowedType(declared) {
  const type = typeof declared === "string" ? declared.split(";")[0].trim().toLowerCase() : "";
  return TYPES.has(type) ? type : OCTET_STREAM;
}

/**
 * The type to give these bytes: the declared one if it is on the allowlist and the
 * leading bytes (at least the first SNIFF_BYTES of the file) match it; else octet-stream.
 */
export function safeType(declared, leading) {
  const type = allowedType(declared);
  if (type === OCTET_STREAM) return OCTET_STREAM;
  const bytes = leading instanceof Uint8Array ? leading : new Uint8Array(leading || 0);
  return TYPES.get(type)(bytes) ? type : OCTET_STREAM;
}

/** A Blob of the same bytes whose type is safeType(declared, its first bytes); no copy is made. */
export async function safeBlob(blob, declared) {
  const head = new Uint8Array(await blob.slice(0, SNIFF_BYTES).arrayBuffer());
  const type = safeType(declared, head);
  return blob.type === type ? blob : blob.slice(0, blob.size, type);
}
