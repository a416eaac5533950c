// The lightbox: PhotoSwipe 5 over decrypted previews, originals and videos.
//
// PhotoSwipe brings zoom, swipe, arrow keys, Esc and focus handling
// (https://photoswipe.com). It expects image URLs, and ours exist only after a
// Worker has decrypted a blob, so photos take PhotoSwipe's "contentLoadImage" hook
// (https://photoswipe.com/custom-content/): the slide shows the thumbnail as its
// placeholder, then the screen-size preview, then, for the slide being looked at
// and only where the owner allows downloads, the original in its place. Videos and
// files that cannot be opened are custom content types.

import PhotoSwipeLightbox from "photoswipe/lightbox";
import { formatBytes, formatDateTime, formatDuration, formatLocation, showableOriginal } from "../core/present.js";
import { countLabel } from "./comments.js";

const BROKEN_TEXT = "This file could not be decrypted: it may be damaged or tampered with.";
const FAILED_TEXT = "This photo could not be loaded. Check your connection, then try again.";
const SLIDESHOW_SECONDS = 4;
const WHOLE_VIDEO_TEXT =
  "Streaming is unavailable in this browser right now (its video helper, a Service Worker, did not start), " +
  "so the whole video is decrypted before it plays…";

// Icons in PhotoSwipe's own format, so they get its outline and sizing.
const ICONS = {
  info: {
    isCustomSVG: true,
    inner:
      '<path fill-rule="evenodd" d="M16 6a10 10 0 1 0 0 20 10 10 0 0 0 0-20Zm0 2.2a7.8 7.8 0 1 1 0 15.6 7.8 7.8 0 0 1 0-15.6Z' +
      'M14.8 14h2.4v7h-2.4Zm0-3.6h2.4v2.3h-2.4Z" id="fragment-icn-info"/>',
    outlineID: "fragment-icn-info",
  },
  download: {
    isCustomSVG: true,
    inner: '<path d="M15 7h2v10.2l3.6-3.6 1.4 1.4-6 6-6-6 1.4-1.4 3.6 3.6V7Zm-7 15h16v2H8v-2Z" id="fragment-icn-download"/>',
    outlineID: "fragment-icn-download",
  },
  comments: {
    isCustomSVG: true,
    inner:
      '<path d="M7 8h18a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2h-9l-5 4v-4H7a2 2 0 0 1-2-2V10a2 2 0 0 1 2-2Z"' +
      ' id="fragment-icn-comments"/>',
    outlineID: "fragment-icn-comments",
  },
  play: {
    isCustomSVG: true,
    inner: '<path d="M11 8v16l13-8-13-8Z" id="fragment-icn-play"/>',
    outlineID: "fragment-icn-play",
  },
};
// The slideshow button's two shapes; its outline (an SVG <use>) follows the path.
const PLAY_PATH = "M11 8v16l13-8-13-8Z";
const PAUSE_PATH = "M10 8h4v16h-4V8Zm8 0h4v16h-4V8Z";
// The comments panel: beside the photo from this width on (the photo's area gives it its room), a
// sheet over the lower part of the screen below it (the photo then keeps the upper part).
const PANEL_BESIDE_FROM = 900;
const PANEL_WIDTH = 360; // px, as .pswp__fragment-comments-panel in viewer.css
const SHEET_SHARE = 0.55; // of the screen's height, as .pswp__fragment-comments-panel in viewer.css

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Width and height for a video slide: scaled up, so that PhotoSwipe fits it to the screen. */
function videoSize(info) {
  const w = info.width || 16;
  const h = info.height || 9;
  const scale = 1920 / Math.max(w, h);
  return { width: Math.round(w * scale), height: Math.round(h * scale) };
}

/**
 * @param {object} options
 * @param {Array<any>} options.files  a live array
 * @param {import("./media.js").Media} options.media  preview, original, videoSource, download
 * @param {boolean} options.downloads
 * @param {import("./grid.js").Grid} options.grid  thumbElement, focusIndex
 * @param {any} [options.comments]  link-comments.js's list (thread, counts, subscribe), or null where
 *   the link has comments off: then there is no comments button nor panel
 */
export function createLightbox({ files, media, downloads, grid, comments = null }) {
  // The slides are the album's files as they were when the lightbox opened: a page of the
  // listing may insert files anywhere in `files` meanwhile (order.js), which must not
  // change what "next" is under the visitor's finger. Files added at the end still join
  // (update()); the rest are there the next time it opens.
  let slides = [];
  const lightbox = new PhotoSwipeLightbox({
    dataSource: slides,
    pswpModule: () => import("photoswipe"),
    showHideAnimationType: "zoom",
    bgOpacity: 0.96,
    preload: [1, 2],
    returnFocus: false, // the grid is virtual: the tile that opened may be gone
    errorMsg: BROKEN_TEXT,
    closeTitle: "Close (Esc)",
    zoomTitle: "Zoom (z)",
    arrowPrevTitle: "Previous (←)",
    arrowNextTitle: "Next (→)",
    indexIndicatorSep: " of ",
    // Photos use the whole screen; a video keeps clear of the top bar, so its own
    // controls and PhotoSwipe's buttons never overlap.
    // The comments panel takes its room from the photo's area, so it never covers the photo.
    paddingFn: (viewport, data) => {
      const room = commentsRoom(viewport);
      if (data.type !== "fragment-video") return { top: 0, bottom: room.bottom, left: 0, right: room.right };
      const side = viewport.x < 600 ? 0 : 16;
      return { top: 60, bottom: 16 + room.bottom, left: side, right: side + room.right };
    },
  });

  let commentsOpen = false; // kept from one opening of the lightbox to the next
  let commentsPanel = null;
  let commentsButton = null;
  let commentsThread = null; // {thread, stop}
  let stopCounts = null;

  function commentsRoom(viewport) {
    if (!comments || !commentsOpen) return { right: 0, bottom: 0 };
    if (viewport.x >= PANEL_BESIDE_FROM) return { right: PANEL_WIDTH, bottom: 0 };
    return { right: 0, bottom: Math.round(viewport.y * SHEET_SHARE) };
  }

  let infoOpen = false;
  let panel = null;
  let slideshow = null;
  let notice = null;

  lightbox.addFilter("itemData", (_item, index) => {
    const file = slides[index];
    const base = { file, alt: file.alt };
    if (file.broken) return { ...base, type: "fragment-broken", width: 1200, height: 800 };
    const info = file.info;
    if (info.kind === "video") return { ...base, type: "fragment-video", ...videoSize(info) };
    return {
      ...base,
      type: "image",
      width: info.width || 1600,
      height: info.height || 1200,
      msrc: file.thumb.url || undefined,
    };
  });
  lightbox.addFilter("thumbEl", (thumbnail, _data, index) => {
    const file = slides[index];
    return (file && grid.thumbElement(file.index)) || thumbnail;
  });
  lightbox.addFilter("placeholderSrc", (src, content) => content.data.file?.thumb.url || src);
  lightbox.addFilter("contentErrorElement", (el, content) => {
    el.textContent = content.failure && ["ApiError", "NetworkError"].includes(content.failure.name) ? FAILED_TEXT : BROKEN_TEXT;
    return el;
  });

  lightbox.on("contentLoadImage", (event) => {
    const { content } = event;
    const file = content.data.file;
    if (!file) return;
    event.preventDefault();
    const img = /** @type {HTMLImageElement} */ (content.element);
    img.alt = file.alt;
    img.dataset.index = String(file.index);
    content.state = "loading";
    media.preview(file).then(
      (url) => {
        if (content.element !== img) return;
        img.onload = () => {
          img.onload = null;
          content.onLoaded();
          if (content.slide && content.slide.isActive) upgrade(content);
        };
        img.onerror = () => content.onError();
        img.dataset.quality = "preview";
        img.src = url;
      },
      (error) => {
        if (content.element !== img) return;
        content.failure = error;
        content.onError();
      },
    );
  });

  lightbox.on("contentLoad", (event) => {
    const { content } = event;
    if (content.type === "fragment-broken") {
      event.preventDefault();
      const box = element("div", "pswp__content fragment-slide-message");
      box.append(element("p", "", BROKEN_TEXT));
      content.element = box;
    } else if (content.type === "fragment-video") {
      event.preventDefault();
      content.element = videoSlide(content);
    }
  });

  lightbox.on("contentActivate", ({ content }) => {
    if (content.type === "image") upgrade(content);
    if (content.type === "fragment-video") startVideo(content);
  });
  lightbox.on("contentDeactivate", ({ content }) => {
    if (content.video) content.video.pause();
  });
  lightbox.on("contentDestroy", ({ content }) => {
    if (content.video) {
      content.video.pause();
      content.video.removeAttribute("src");
      content.video.load();
    }
  });

  /** Replace the preview with the original, once it has decoded, where allowed and showable. */
  function upgrade(content) {
    const file = content.data.file;
    const img = content.element;
    if (!downloads || !file || content.upgrading || !showableOriginal(file.info)) return;
    if (!img || img.tagName !== "IMG" || content.state !== "loaded") return;
    content.upgrading = true;
    media
      .original(file)
      .then(async (url) => {
        const probe = new Image();
        probe.src = url;
        await probe.decode();
        if (content.element === img) {
          img.src = url;
          img.dataset.quality = "original";
        }
      })
      .catch(() => {
        // The preview stays; it is what a failed original would have been replaced with.
        img.dataset.quality = "preview";
      });
  }

  function videoSlide(content) {
    const file = content.data.file;
    const box = element("div", "pswp__content fragment-video");
    const video = element("video");
    video.playsInline = true;
    video.preload = "auto";
    video.setAttribute("aria-label", file.alt);
    // PhotoSwipe would read a drag on the controls as a swipe.
    video.addEventListener("pointerdown", (event) => event.stopPropagation());
    box.append(video);
    const status = element("p", "fragment-video-status");
    box.append(status);
    media.preview(file).then(
      (url) => {
        video.poster = url;
      },
      () => {},
    );
    if (!downloads) {
      status.textContent = "The owner turned off downloads, so this video cannot be played: you see its first frame.";
    }
    content.video = video;
    content.status = status;
    return box;
  }

  /** Decrypt and play the video of the slide being looked at (never a neighbour's). */
  function startVideo(content) {
    const { video, status } = content;
    const file = content.data.file;
    if (!video || !downloads) return;
    if (content.videoStarted) {
      if (video.src) video.play().catch(() => {});
      return;
    }
    content.videoStarted = true;
    status.textContent = "Decrypting the video…";
    const whole = (problem) => {
      if (problem === "timeout" || problem === "failed") status.textContent = WHOLE_VIDEO_TEXT;
    };
    media.videoSource(file, whole).then(
      (url) => {
        status.textContent = "";
        // A stream that fails (a chunk that does not decrypt, a link that died) ends in
        // the video's error event; say why in the slide.
        video.addEventListener("error", () => {
          if (!video.getAttribute("src")) return;
          const failure = media.videoFailure(url);
          const unreachable = ["ApiError", "NetworkError"].includes(failure);
          status.textContent = unreachable ? FAILED_TEXT.replace("photo", "video") : BROKEN_TEXT;
        });
        video.controls = true;
        video.src = url;
        if (content.slide && content.slide.isActive) video.play().catch(() => {});
      },
      (error) => {
        status.textContent = ["ApiError", "NetworkError"].includes(error && error.name) ? FAILED_TEXT : BROKEN_TEXT;
      },
    );
  }

  function currentFile() {
    const slide = lightbox.pswp && lightbox.pswp.currSlide;
    return slide ? slide.data.file : null;
  }

  function fillPanel() {
    if (!panel) return;
    panel.hidden = !infoOpen;
    const file = currentFile();
    if (!infoOpen || !file) return;
    const list = element("dl");
    const row = (label, value) => {
      if (value === null || value === undefined || value === "") return;
      list.append(element("dt", "", label), element("dd", "", value));
    };
    const info = file.info;
    if (!info) {
      row("File", BROKEN_TEXT);
    } else {
      row("Name", info.name || file.alt);
      row("Taken", info.takenAt ? formatDateTime(info.takenAt) : "Unknown");
      row("Size", formatBytes(info.size));
      if (info.width && info.height) row("Dimensions", `${info.width} × ${info.height}`);
      if (info.kind === "video") row("Length", formatDuration(info.duration));
      row("Camera", info.camera);
      if (info.location) row("Location", formatLocation(info.location));
      // Who added a file comes from the server's flag (added through a link), never from the
      // name alone: a guest may call themselves anything, "Owner" included.
      if (file.guest) row("Added by", info.uploader ? `a guest: ${info.uploader}` : "a guest");
    }
    panel.replaceChildren(element("h2", "", "Information"), list);
  }

  function toggleInfo() {
    infoOpen = !infoOpen;
    // One panel at a time on the right: the information or the comments.
    if (infoOpen && commentsOpen) setComments(false);
    fillPanel();
  }

  /** The current file's thread in the panel, and the count on the button. */
  function fillComments() {
    if (!comments || !commentsPanel) return;
    const file = currentFile();
    const id = file && file.id ? file.id : null;
    commentsPanel.hidden = !commentsOpen;
    if (commentsThread) commentsThread.thread.setTarget(id, comments.items);
    if (commentsButton) {
      const counts = id ? comments.counts(id) : { comments: 0, reactions: 0 };
      const count = commentsButton.querySelector(".pswp__fragment-count");
      if (count) count.textContent = counts.comments ? String(counts.comments) : "";
      const said = countLabel(counts);
      const label = `${commentsOpen ? "Hide" : "Show"} comments${said ? ` (${said})` : ""}`;
      commentsButton.setAttribute("aria-label", label);
      commentsButton.title = `${label} (c)`;
      commentsButton.setAttribute("aria-expanded", String(commentsOpen));
    }
  }

  /** Show or hide the panel; the photo's area changes with it (paddingFn). */
  function setComments(open, { focus = false } = {}) {
    if (!comments) return;
    commentsOpen = open;
    if (open && infoOpen) {
      infoOpen = false;
      fillPanel();
    }
    fillComments();
    if (lightbox.pswp) lightbox.pswp.updateSize(true);
    if (!focus) return;
    if (open) {
      const heading = commentsPanel && commentsPanel.querySelector("h2");
      if (heading) heading.focus();
    } else if (commentsButton) {
      commentsButton.focus();
    }
  }

  function say(text) {
    if (!notice) return;
    notice.textContent = text;
    notice.hidden = !text;
  }

  async function download(button) {
    const file = currentFile();
    if (!file || !file.info || button.getAttribute("aria-busy") === "true") return;
    button.setAttribute("aria-busy", "true");
    say(`Decrypting ${file.info.name || "the file"}…`);
    try {
      await media.download(file);
      say("");
    } catch (error) {
      say(["ApiError", "NetworkError"].includes(error && error.name) ? `Could not download: ${error.message}` : BROKEN_TEXT);
    } finally {
      button.removeAttribute("aria-busy");
    }
  }

  function setSlideshow(on, button) {
    const pswp = lightbox.pswp;
    clearInterval(slideshow);
    slideshow = null;
    if (on && pswp) {
      slideshow = setInterval(() => {
        // `video` is this file's own property on PhotoSwipe's Content (set in contentLoad below).
        const current = /** @type {any} */ (pswp.currSlide && pswp.currSlide.content);
        // A playing video is watched to its end, not cut off.
        if (current && current.video && !current.video.paused && !current.video.ended) return;
        pswp.next();
      }, SLIDESHOW_SECONDS * 1000);
    }
    if (button) {
      button.classList.toggle("is-playing", Boolean(slideshow));
      const label = slideshow ? "Pause slideshow" : "Start slideshow";
      button.title = label;
      button.setAttribute("aria-label", label);
      button.setAttribute("aria-pressed", slideshow ? "true" : "false");
      const path = button.querySelector("#fragment-icn-play");
      if (path) path.setAttribute("d", slideshow ? PAUSE_PATH : PLAY_PATH);
    }
  }

  lightbox.on("uiRegister", () => {
    const { ui } = lightbox.pswp;
    ui.registerElement({
      name: "fragment-play",
      order: 7,
      isButton: true,
      title: "Start slideshow",
      html: ICONS.play,
      onInit: (button) => button.setAttribute("aria-pressed", "false"),
      onClick: (_event, button) => setSlideshow(!slideshow, button),
    });
    if (downloads) {
      ui.registerElement({
        name: "fragment-download",
        order: 8,
        isButton: true,
        title: "Download this file",
        html: ICONS.download,
        onClick: (_event, button) => download(button),
      });
    }
    ui.registerElement({
      name: "fragment-info",
      order: 9,
      isButton: true,
      title: "Information (i)",
      html: ICONS.info,
      onClick: toggleInfo,
    });
    ui.registerElement({
      name: "fragment-info-panel",
      appendTo: "root",
      onInit: (el) => {
        panel = el;
        el.setAttribute("role", "region");
        el.setAttribute("aria-label", "Information about this file");
        el.setAttribute("aria-live", "polite");
        fillPanel();
      },
    });
    if (comments) {
      ui.registerElement({
        name: "fragment-comments",
        order: 10,
        isButton: true,
        title: "Comments (c)",
        html: ICONS.comments,
        onInit: (button) => {
          commentsButton = button;
          button.setAttribute("aria-controls", "fragment-comments-panel");
          button.append(element("span", "pswp__fragment-count"));
        },
        onClick: () => setComments(!commentsOpen, { focus: true }),
      });
      ui.registerElement({
        name: "fragment-comments-panel",
        appendTo: "root",
        onInit: (el) => {
          commentsPanel = el;
          el.id = "fragment-comments-panel";
          el.setAttribute("role", "region");
          el.setAttribute("aria-label", "Comments");
          const head = element("div", "pswp__fragment-comments-head");
          const title = element("h2", "", "Comments");
          title.tabIndex = -1;
          const close = element("button", "pswp__fragment-comments-close", "\u00d7");
          close.type = "button";
          close.setAttribute("aria-label", "Hide comments");
          close.addEventListener("click", () => setComments(false, { focus: true }));
          head.append(title, close);
          const body = element("div", "pswp__fragment-comments-body");
          el.append(head, body);
          // PhotoSwipe reads a drag or a wheel as a swipe or a zoom; in the panel they scroll and select.
          const own = (event) => event.stopPropagation();
          for (const type of ["pointerdown", "wheel", "touchstart"]) el.addEventListener(type, own);
          const file = currentFile();
          commentsThread = comments.thread(body, file && file.id ? file.id : null);
          stopCounts = comments.subscribe(() => fillComments());
          fillComments();
        },
      });
    }
    ui.registerElement({
      name: "fragment-notice",
      appendTo: "root",
      onInit: (el) => {
        notice = el;
        el.setAttribute("role", "status");
        el.hidden = true;
      },
    });
  });

  lightbox.on("change", () => {
    fillPanel();
    fillComments();
    say("");
  });
  lightbox.on("afterInit", () => {
    fillComments();
    // Opened with the panel shown (it was when the lightbox last closed): the photo makes room for it.
    if (comments && commentsOpen && lightbox.pswp) lightbox.pswp.updateSize(true);
  });
  lightbox.on("keydown", (event) => {
    const key = event.originalEvent;
    if (key.altKey || key.ctrlKey || key.metaKey) return;
    if (key.key === "i") {
      event.preventDefault();
      toggleInfo();
    } else if (key.key === "c" && comments) {
      event.preventDefault();
      setComments(!commentsOpen, { focus: true });
    }
  });
  let lastIndex = null;
  lightbox.on("close", () => {
    setSlideshow(false);
    // Bring the tile of the last photo seen into view, so the lightbox shrinks back to it.
    const shown = lightbox.pswp ? slides[lightbox.pswp.currIndex] : null;
    lastIndex = shown && files[shown.index] === shown ? shown.index : null; // its place in the grid now
    if (lastIndex !== null) grid.revealIndex(lastIndex);
  });
  lightbox.on("destroy", () => {
    panel = null;
    notice = null;
    if (commentsThread) commentsThread.stop();
    if (stopCounts) stopCounts();
    commentsThread = stopCounts = commentsPanel = commentsButton = null;
    // Focus goes back to that tile (PhotoSwipe's returnFocus would pick the opener).
    if (lastIndex !== null) grid.focusIndex(lastIndex);
    lastIndex = null;
  });
  lightbox.init();

  return {
    open(index) {
      slides = files.slice();
      lightbox.loadAndOpen(index, slides);
    },
    /** The album's files changed: an open lightbox takes those added after its last slide. */
    update() {
      if (!lightbox.pswp || files.length <= slides.length) return;
      for (let i = 0; i < slides.length; i += 1) if (files[i] !== slides[i]) return;
      slides.push(...files.slice(slides.length));
    },
    get isOpen() {
      return Boolean(lightbox.pswp);
    },
    /** Close at once and unbind; resolves when PhotoSwipe has let go of its images. */
    destroy() {
      setSlideshow(false);
      lastIndex = null;
      const pswp = lightbox.pswp;
      const gone = pswp ? new Promise((resolve) => pswp.on("destroy", resolve)) : Promise.resolve();
      // PhotoSwipe ignores destroy() while its opening animation runs; finish it then.
      if (pswp && !pswp.opener.isOpen) pswp.on("openingAnimationEnd", () => pswp.destroy());
      lightbox.destroy();
      return gone;
    },
  };
}
