// The page's side of the album Service Worker (static/js/download/sw.js).
//
// Registers the worker for the album pages' scope, waits until it controls this
// page, and registers with it, under random ids, the videos it should stream and
// the zips it should build. Neither keys nor the access token cross this page: for each
// registration a MessageChannel goes to the album Worker, which posts the file keys,
// blob sizes and token on it straight to the Service Worker, and answers there when it
// asks for a fresh token (album-worker.js `grant`); a second channel, to this page,
// carries errors and progress. Nothing secret is in any URL.
//
// Where there is no Service Worker (a browser without one, a private window that
// refuses it, a hard reload the worker may not claim), `ready()` gives null and
// the caller falls back to decrypting whole files into blob: URLs.
//
// Nor does `ready()` wait for ever: a worker whose script never arrives, or that never
// installs or activates, leaves `navigator.serviceWorker.ready` pending indefinitely
// (Service Workers, "ready": it resolves only once there is an active worker). After
// INSTALL_WAIT_MS it gives null, and `problem` says why, so that videos and "Download
// all" say what happened instead of waiting; a worker that starts later is used then.

import { safeFileName } from "../core/present.js";

const CONTROL_WAIT_MS = 5000;
/**
 * How long the worker may take to install and take control. Its scripts (crypto.js with
 * libsodium's WebAssembly, client-zip) are about 2 MB, fetched once, usually in well under
 * a second; 15 s leaves room for a slow connection.
 */
export const INSTALL_WAIT_MS = 15_000;

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Resolve when the worker has stored a registration (a message and a fetch event may run in any order). */
function registered(handlers) {
  return new Promise((resolve) => {
    handlers.registered = resolve;
    setTimeout(resolve, CONTROL_WAIT_MS);
  });
}

export class ServiceWorkerBridge {
  /**
   * @param {object} options
   * @param {string} options.linkId
   * @param {(method: string, args?: object, transfer?: Transferable[]) => Promise<any>} [options.call]  the album
   *   Worker's (forget() needs none)
   */
  constructor({ linkId, call }) {
    this.linkId = linkId;
    this.call = call;
    this.streams = new Map(); // id -> {file, url, failure}
    this.byFile = new Map(); // file id -> stream id
    this.starting = null;
    this.deadline = null;
    this.controller = undefined; // what start() gave, once it has
    /** Why there is no worker: "unsupported" (no Service Workers here), "failed" (refused), "timeout", or null. */
    this.problem = null;
    this.onMessage = (event) => {
      const message = event.data || {};
      // The worker was restarted (browsers stop idle ones) and lost this stream: register it again.
      if (message.type === "fragment-stream-lost" && this.streams.has(message.id)) {
        this.registerStream(message.id).catch(() => {});
      }
    };
  }

  /** The Service Worker controlling this page, or null where there is none (or not within INSTALL_WAIT_MS). */
  ready() {
    if (!this.starting) {
      this.starting = this.start().then(
        (controller) => {
          this.controller = controller;
          this.problem = controller ? null : this.problem || "unsupported";
          return controller;
        },
        (error) => {
          console.warn("Fragment viewer: the Service Worker could not be registered", error);
          this.controller = null;
          this.problem = "failed";
          return null;
        },
      );
      this.deadline = new Promise((resolve) => {
        setTimeout(() => {
          if (this.controller === undefined) this.problem = "timeout";
          resolve(null);
        }, INSTALL_WAIT_MS);
      });
    }
    // Once both have settled, the worker (listed first) wins: one that started late is used.
    return Promise.race([this.starting, this.deadline]);
  }

  async start() {
    const container = navigator.serviceWorker;
    if (!container) {
      this.problem = "unsupported";
      return null;
    }
    // The album pages are /a/<link id>; the worker's scope is /a/ (viewer/server/pages.py allows it).
    const scope = new URL("./", location.href).pathname;
    // A module worker: it imports crypto.js and client-zip (MDN, "ServiceWorkerContainer.register()", type).
    await container.register(new URL("./sw.js", import.meta.url), { type: "module", scope, updateViaCache: "none" });
    await container.ready;
    if (!container.controller) {
      // Not controlled yet on a first visit: the worker claims this page when it activates.
      await new Promise((resolve) => {
        container.addEventListener("controllerchange", resolve, { once: true });
        setTimeout(resolve, CONTROL_WAIT_MS);
      });
    }
    if (!container.controller) {
      this.problem = "failed";
      return null;
    }
    container.addEventListener("message", this.onMessage);
    container.startMessages();
    this.scope = new URL(scope, location.href);
    return container.controller;
  }

  /** A control channel's page end: its messages (registered, error, progress, finished) to `handlers`. */
  listen(port, handlers = {}) {
    port.onmessage = (event) => {
      const message = event.data || {};
      if (handlers[message.type]) handlers[message.type](message);
    };
  }

  async registerStream(id) {
    const controller = await this.ready();
    const entry = this.streams.get(id);
    if (!controller || !entry) return;
    const keys = new MessageChannel();
    const control = new MessageChannel();
    const handlers = {
      error: (message) => {
        entry.failure = message.name;
      },
    };
    const stored = registered(handlers);
    this.listen(control.port1, handlers);
    await this.call("grant", { fileIds: [entry.file.id], port: keys.port1 }, [keys.port1]);
    controller.postMessage(
      {
        type: "stream",
        id,
        linkId: this.linkId,
        fileId: entry.file.id,
        mime: entry.file.info.mime,
        keys: keys.port2,
        control: control.port2,
      },
      [keys.port2, control.port2],
    );
    await stored;
  }

  /** A URL that plays one file's original through the Service Worker, or null without one. */
  async videoUrl(file) {
    if (this.byFile.has(file.id)) return this.streams.get(this.byFile.get(file.id)).url;
    const controller = await this.ready();
    if (!controller) return null;
    const id = randomId();
    const name = encodeURIComponent(safeFileName(file.info.name, "video"));
    const url = new URL(`stream/${id}/${name}`, this.scope).href;
    this.streams.set(id, { file, url, failure: null });
    await this.registerStream(id);
    this.byFile.set(file.id, id);
    return url;
  }

  /** Why the stream at this URL failed, as an error name ("DecryptionError", "ApiError", ...), or null. */
  failure(url) {
    for (const entry of this.streams.values()) if (entry.url === url) return entry.failure;
    return null;
  }

  /**
   * Register a zip of these files with the Service Worker; {url, cancel} or null without one.
   * `on` gets its progress ({done, total, bytes, failed}) and finished messages.
   */
  async zip({ files, name, on }) {
    const controller = await this.ready();
    if (!controller) return null;
    const id = randomId();
    const keys = new MessageChannel();
    const control = new MessageChannel();
    const handlers = { ...on };
    const stored = registered(handlers);
    this.listen(control.port1, handlers);
    const ids = files.map((file) => file.fileId).filter(Boolean);
    await this.call("grant", { fileIds: ids, port: keys.port1 }, [keys.port1]);
    const zipName = `${safeFileName(name, "album")}.zip`;
    controller.postMessage(
      {
        type: "zip",
        id,
        linkId: this.linkId,
        files,
        name: zipName,
        keys: keys.port2,
        control: control.port2,
      },
      [keys.port2, control.port2],
    );
    await stored;
    return {
      url: new URL(`zip/${id}/${encodeURIComponent(zipName)}`, this.scope).href,
      name: zipName,
      cancel: () => controller.postMessage({ type: "cancel", id }),
    };
  }

  /** Forget this album: the worker drops every key and token it holds for the link, then it is unregistered. */
  async forget() {
    this.streams.clear();
    this.byFile.clear();
    const container = navigator.serviceWorker;
    if (!container) return;
    container.removeEventListener("message", this.onMessage);
    const controller = container.controller;
    if (controller) {
      const answer = new MessageChannel();
      const done = new Promise((resolve) => {
        answer.port1.onmessage = resolve;
        setTimeout(resolve, 1000);
      });
      controller.postMessage({ type: "forget", linkId: this.linkId }, [answer.port2]);
      await done;
    }
    // The worker keeps nothing on disk; unregistering removes it once no album page uses it
    // (MDN, "ServiceWorkerRegistration.unregister()"). The next album opened registers it again.
    const registration = await container.getRegistration(new URL("./", location.href).href);
    if (registration) await registration.unregister();
  }
}
