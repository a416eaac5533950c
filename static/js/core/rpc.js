// Promise calls between the page and its module Workers.
//
// A call is {id, method, args}; the answer is {id, result} or {id, error}. A Worker may
// also tell its page something unasked, {event, detail}, which the WorkerClient
// dispatches as a CustomEvent (the album Worker says so when the link changed). Errors
// cross as plain objects (structured clone drops an Error's class) and are rebuilt
// on the page side with their name, code and status, so the page can tell an
// ApiError from a DecryptionError. Results list their own ArrayBuffers to transfer
// rather than copy (MDN, "Transferable objects").

import { ApiError, NetworkError } from "./api.js";

const TRANSFER = "__transfer__";

/** A result together with the buffers to transfer with it. */
export function transfer(result, buffers) {
  return { [TRANSFER]: true, result, buffers };
}

function flatten(error) {
  return {
    name: (error && error.name) || "Error",
    message: (error && error.message) || String(error),
    status: error && error.status,
    code: error && error.code,
    retryAfter: error && error.retryAfter,
    body: error && error.name === "ApiError" ? error.body : null, // 409 offset_mismatch says where an upload stands
  };
}

function rebuild(data) {
  if (data.name === "ApiError") {
    const error = new ApiError(data.status, data.code, data.message, data.retryAfter);
    error.body = data.body;
    return error;
  }
  if (data.name === "NetworkError") return new NetworkError(data.message);
  const error = new Error(data.message);
  error.name = data.name;
  return error;
}

/** Worker side: answer calls with `methods[method](args)`. */
export function serve(methods) {
  self.addEventListener("message", async (/** @type {MessageEvent} */ event) => {
    const { id, method, args } = event.data;
    try {
      if (!Object.hasOwn(methods, method)) throw new Error(`unknown method ${method}`);
      const value = await methods[method](args);
      if (value && value[TRANSFER]) self.postMessage({ id, result: value.result }, value.buffers);
      else self.postMessage({ id, result: value });
    } catch (error) {
      self.postMessage({ id, error: flatten(error) });
    }
  });
}

/** Worker side: tell the page `event` (a CustomEvent on its WorkerClient, with `detail`). */
export function notify(event, detail = null) {
  self.postMessage({ event, detail });
}

/** Page side (or a Worker's, for one it starts): a module Worker whose methods return promises. */
export class WorkerClient extends EventTarget {
  constructor(url) {
    super();
    this.worker = new Worker(url, { type: "module" });
    this.pending = new Map();
    this.next = 1;
    this.worker.addEventListener("message", (event) => {
      if (typeof event.data.event === "string") {
        this.dispatchEvent(new CustomEvent(event.data.event, { detail: event.data.detail }));
        return;
      }
      const { id, result, error } = event.data;
      const call = this.pending.get(id);
      if (!call) return;
      this.pending.delete(id);
      if (error) call.reject(rebuild(error));
      else call.resolve(result);
    });
    // A Worker that cannot load (module error, no WebAssembly) fails every call.
    this.worker.addEventListener("error", (event) => {
      event.preventDefault();
      this.fail(new WorkerFailed(event.message || "The decryption worker stopped."));
    });
  }

  call(method, args = {}, buffers = []) {
    return new Promise((resolve, reject) => {
      if (!this.worker) {
        reject(new WorkerFailed("The decryption worker was stopped."));
        return;
      }
      const id = this.next++;
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, method, args }, buffers);
    });
  }

  fail(error) {
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
  }

  terminate() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    this.fail(new WorkerFailed("The decryption worker was stopped."));
  }
}

/** A Worker could not start or was stopped. */
export class WorkerFailed extends Error {
  constructor(message) {
    super(message);
    this.name = "WorkerFailed";
  }
}
