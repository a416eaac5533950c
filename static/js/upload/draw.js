// A photo's thumb and preview, drawn with OffscreenCanvas: no DOM, so a Worker runs it
// (static/js/upload/upload-worker.js), and so does bench/upload_throughput.py, which times it.

import { PREVIEW_EDGE, THUMB_EDGE, fitWithin } from "./prepare.js";

export const THUMB_QUALITY = 0.8;
export const PREVIEW_QUALITY = 0.85;

/**
 * The type of the thumb and preview. JPEG for what has no transparency (a JPEG, a
 * video frame): Chromium's canvas encodes a 2048 px JPEG several times faster than a
 * WebP (bench/upload_throughput.py), and the preview is most of a guest's wait. WebP,
 * which keeps alpha, for everything else (docs/format.md, "Blobs").
 */
export function imageTypeFor(opaque) {
  return opaque ? "image/jpeg" : "image/webp";
}

/** Draw a bitmap at most `edge` on its longest side and encode it as `type`. */
export async function render(bitmap, edge, type, quality) {
  const [width, height] = fitWithin(bitmap.width, bitmap.height, edge);
  const scaled = await createImageBitmap(bitmap, { resizeWidth: width, resizeHeight: height, resizeQuality: "high" });
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext("2d").drawImage(scaled, 0, 0);
  scaled.close();
  return canvas.convertToBlob({ type, quality });
}

/** A card that says what the file is, for what this browser cannot draw (HEIC in most browsers). */
async function placeholder(edge, label, name) {
  const width = edge;
  const height = Math.round((edge * 3) / 4);
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#3b4250";
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = "#ffffff";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.font = `600 ${Math.round(width / 12)}px sans-serif`;
  ctx.fillText(label, width / 2, height / 2 - width / 20, width * 0.9);
  ctx.font = `${Math.round(width / 24)}px sans-serif`;
  ctx.fillText("No preview: this browser cannot show it", width / 2, height / 2 + width / 20, width * 0.9);
  ctx.fillText(name, width / 2, height / 2 + width / 9, width * 0.9);
  return canvas.convertToBlob({ type: "image/webp", quality: THUMB_QUALITY });
}

/** The thumb and the preview of a bitmap (closed afterwards). */
export async function thumbAndPreview(bitmap, opaque) {
  const type = imageTypeFor(opaque);
  try {
    const preview = await render(bitmap, PREVIEW_EDGE, type, PREVIEW_QUALITY);
    const thumb = await render(bitmap, THUMB_EDGE, type, THUMB_QUALITY);
    return { thumb, preview, drawn: true };
  } finally {
    bitmap.close();
  }
}

/** Cards in place of the thumb and the preview (drawn: false). */
export async function placeholders(label, name) {
  return { thumb: await placeholder(THUMB_EDGE, label, name), preview: await placeholder(1024, label, name), drawn: false };
}
