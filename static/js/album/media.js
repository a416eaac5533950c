// Decrypted blobs as object URLs, cached for the visit.
//
// Every thumbnail seen stays decrypted until the page closes or the visitor forgets
// the album, so scrolling back never fetches or decrypts twice. Previews and
// originals are larger, so only the most recent few are kept. Nothing decrypted is
// written to disk by this module: object URLs live in this page's memory (or the
// browser's blob store) and are revoked on eviction and on "Forget".
//
// Every object URL made here is typed by mediatypes.js (safeBlob): the declared type
// only if it is on the allowlist and the decrypted bytes start like it, otherwise
// application/octet-stream, which a tab opened on the URL downloads instead of
// rendering. The types come from the file's metadata, which a guest may have written.

import { allowedType, safeBlob } from "../core/mediatypes.js";
import { safeFileName } from "../core/present.js";

/** A Map that forgets (and revokes) its oldest entries past `limit`. */
class UrlCache {
  constructor(limit) {
    this.limit = limit;
    this.urls = new Map();
  }

  get(key) {
    const url = this.urls.get(key);
    if (url !== undefined) {
      this.urls.delete(key);
      this.urls.set(key, url); // most recently used last
    }
    return url;
  }

  set(key, url) {
    this.urls.set(key, url);
    while (this.urls.size > this.limit) {
      const [oldest, old] = this.urls.entries().next().value;
      this.urls.delete(oldest);
      URL.revokeObjectURL(old);
    }
  }

  clear() {
    for (const url of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
  }
}

export class Media {
  /**
   * @param {(method: string, args: object) => Promise<any>} call  the album Worker, with token refresh
   * @param {import("../download/sw-client.js").ServiceWorkerBridge | null} bridge  video streaming, where allowed
   */
  constructor(call, bridge = null) {
    this.call = call;
    this.bridge = bridge;
    this.thumbs = new UrlCache(Infinity);
    this.previews = new UrlCache(24);
    this.originals = new UrlCache(3);
    this.pending = new Map();
  }

  /** Decrypt one blob once, however many callers ask for it at the same time. */
  once(cache, file, kind, make) {
    const cached = cache.get(file.id);
    if (cached) return Promise.resolve(cached);
    const key = `${kind}:${file.id}`;
    if (!this.pending.has(key)) {
      const job = make()
        .then((blob) => {
          // Every Blob here was typed by safeBlob (see the top of this file).
          const url = URL.createObjectURL(blob);
          cache.set(file.id, url);
          return url;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, job);
    }
    return this.pending.get(key);
  }

  thumb(file) {
    return this.once(this.thumbs, file, "thumb", async () => {
      const bytes = await this.call("blob", { fileId: file.id, kind: "thumb" });
      return safeBlob(new Blob([bytes]), file.info.thumbType);
    });
  }

  preview(file) {
    return this.once(this.previews, file, "preview", async () => {
      const bytes = await this.call("blob", { fileId: file.id, kind: "preview" });
      return safeBlob(new Blob([bytes]), file.info.previewType);
    });
  }

  original(file) {
    // The album Worker types the Blob the same way; checked again here, where the URL is made.
    return this.once(this.originals, file, "original", async () =>
      safeBlob(await this.call("blob", { fileId: file.id, kind: "original", type: file.info.mime }), file.info.mime),
    );
  }

  /**
   * The URL a <video> plays. Through the album's Service Worker (static/js/download/sw.js)
   * where there is one: the player's Range requests are answered by decrypting
   * just the chunks they cover, so it starts and seeks without the whole file.
   * Without one, the whole original is decrypted into a Blob first.
   * @param {any} file
   * @param {(problem: string | null) => void} [onWhole]  told why, when the page wanted to stream and could not
   */
  async videoSource(file, onWhole = () => {}) {
    if (this.bridge) {
      try {
        const url = await this.bridge.videoUrl(file);
        if (url) return url;
      } catch (error) {
        console.warn("Fragment viewer: streaming is unavailable, decrypting the whole video", error);
      }
      // The page wanted to stream, and could not (the Service Worker did not start): say so.
      onWhole(this.bridge.problem);
    }
    return this.original(file);
  }

  /** Why a video URL from videoSource failed to play: an error name, or null if unknown. */
  videoFailure(url) {
    return this.bridge ? this.bridge.failure(url) : null;
  }

  /** Save one original under its (made safe) name. */
  async download(file) {
    const url = await this.original(file);
    const link = document.createElement("a");
    link.href = url;
    link.download = safeFileName(file.info.name, file.info.kind === "video" ? "video" : "photo");
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
  }

  /** A thumbnail this page made itself (a guest's upload): no need to fetch it back. */
  adopt(fileId, blob) {
    // Drawn by this page's own canvas, as JPEG or WebP; still only an allowed type (no bytes to check synchronously).
    this.thumbs.set(fileId, URL.createObjectURL(blob.slice(0, blob.size, allowedType(blob.type))));
  }

  /** Revoke every object URL (Forget this album). */
  forget() {
    this.thumbs.clear();
    this.previews.clear();
    this.originals.clear();
    this.pending.clear();
  }
}
