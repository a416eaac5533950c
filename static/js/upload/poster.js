// A guest's video, as the upload Worker needs it: a poster frame, its size and length.
//
// Workers have no <video> element, so this runs on the page: the browser's own
// decoder seeks to a frame a little way in (the first is often black) and
// createImageBitmap copies it out, to be transferred to the Worker. A video this
// browser cannot decode still uploads, with a placeholder for its thumbnail.

const TIMEOUT_MS = 15000;

/** {poster: ImageBitmap|null, width, height, duration} for a video File. */
export async function videoFacts(file) {
  const url = URL.createObjectURL(file);
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.preload = "auto";
  const facts = { poster: null, width: null, height: null, duration: null };
  const event = (name) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timeout")), TIMEOUT_MS);
      video.addEventListener(name, () => (clearTimeout(timer), resolve(undefined)), { once: true });
      video.addEventListener("error", () => (clearTimeout(timer), reject(new Error("undecodable"))), { once: true });
    });
  try {
    const loaded = event("loadedmetadata");
    video.src = url;
    await loaded;
    facts.width = video.videoWidth || null;
    facts.height = video.videoHeight || null;
    facts.duration = Number.isFinite(video.duration) ? video.duration : null;
    const seeked = event("seeked");
    video.currentTime = Math.min(1, (facts.duration || 0) / 4);
    await seeked;
    facts.poster = await createImageBitmap(video);
  } catch {
    // Keep what was learnt; the Worker draws a placeholder when there is no poster.
  } finally {
    video.removeAttribute("src");
    video.load();
    URL.revokeObjectURL(url);
  }
  return facts;
}
