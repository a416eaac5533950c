// The public link API (docs/api.md), as fetch calls with typed errors.
//
// No DOM and no crypto, so every scope can import it (Send's api.js keeps fetch calls
// apart from keys and from orchestration in the same way). The album Worker holds the
// one linkApi of a visit, and with it the access token (album-worker.js); the Service
// Worker builds its blob URLs and reads its errors with the same functions (blobUrl,
// request). Every error the server sends is JSON {"error", "message"}; a person reads
// `message`, the code decides what the page does.

/** An answer from the server that was not a success. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds, from Retry-After, or null
    this.body = null; // the parsed JSON body, where failureOf had one
  }
}

/** The server could not be reached at all (offline, DNS, connection reset). */
export class NetworkError extends Error {
  constructor(message = "The server could not be reached.") {
    super(message);
    this.name = "NetworkError";
  }
}

/** An ApiError from a status and a parsed body (null when it was not JSON). */
function failureOf(status, statusText, body, retryAfter) {
  let code = `http_${status}`;
  let message = `The server answered ${status} ${statusText}.`.replace(" .", ".");
  if (body && typeof body.error === "string") code = body.error;
  if (body && typeof body.message === "string") message = body.message;
  const retry = Number.parseInt(retryAfter || "", 10);
  const error = new ApiError(status, code, message, Number.isFinite(retry) ? retry : null);
  error.body = body;
  return error;
}

/** Turn a non-2xx response into an ApiError, whatever its body. */
async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // A proxy's HTML error page: keep the generic message.
  }
  return failureOf(response.status, response.statusText, body, response.headers.get("Retry-After"));
}

/**
 * fetch() with the API's manners (no credentials, no cache, no referrer); an ApiError for
 * any answer that is not a success, a NetworkError when there is no answer at all.
 * @param {string} url
 * @param {RequestInit} init
 */
export async function request(url, init) {
  let response;
  try {
    response = await fetch(url, { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer", ...init });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new NetworkError();
  }
  if (!response.ok) throw await failure(response);
  return response;
}

/** The API address of one link, below `root` (the app's script root: "" at the top of a host). */
export function linkUrl(linkId, root = "") {
  return `${root}/api/links/${encodeURIComponent(linkId)}`;
}

/** The address of one blob of a file, for GET (download) and PUT (upload). */
export function blobUrl(linkId, fileId, kind, root = "") {
  return `${linkUrl(linkId, root)}/files/${encodeURIComponent(fileId)}/blobs/${encodeURIComponent(kind)}`;
}

/** The Authorization header for an access token (none without one). */
export function bearer(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * PUT one part of a blob (a Blob) at `offset`, for the link API and the owner's alike.
 * XMLHttpRequest, not fetch: only it reports upload progress (fetch has no upload progress
 * events; WHATWG Fetch issue 607). Errors are ApiError, NetworkError or an AbortError.
 * @param {string} url
 * @param {Record<string, string>} headers  the request's own (authorization, CSRF)
 * @param {number} offset
 * @param {Blob} body
 * @param {{onProgress?: (loaded: number) => void, signal?: AbortSignal | null}} [options]
 */
export function putPart(url, headers, offset, body, { onProgress = () => {}, signal = null } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Upload-Offset", String(offset));
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      let answer = null;
      try {
        answer = JSON.parse(xhr.responseText);
      } catch {
        // A proxy's HTML error page: the status still says what happened.
      }
      if (xhr.status >= 200 && xhr.status < 300 && answer) return resolve(answer);
      reject(failureOf(xhr.status, xhr.statusText, answer, xhr.getResponseHeader("Retry-After")));
    };
    xhr.onerror = () => reject(new NetworkError());
    xhr.ontimeout = () => reject(new NetworkError());
    const cancelled = () => reject(new DOMException("The upload was cancelled.", "AbortError"));
    xhr.onabort = cancelled;
    if (signal) {
      // Not sent yet: abort() would fire no abort event (XHR Standard, "abort()").
      if (signal.aborted) return cancelled();
      signal.addEventListener("abort", () => xhr.abort(), { once: true });
    }
    xhr.send(body); // a Blob: sent from the browser's blob store, not copied here
  });
}

/**
 * The calls one link allows; `token` is set after an unlock.
 * @param {string} linkId
 * @param {{root?: string}} [options]
 */
export function linkApi(linkId, { root = "" } = {}) {
  const base = linkUrl(linkId, root);
  const api = {
    token: null,

    auth() {
      return bearer(api.token);
    },

    async info() {
      return (await request(base, {})).json();
    },

    async challenge() {
      return (await request(`${base}/challenge`, { method: "POST" })).json();
    },

    /**
     * POST unlock: the challenge, the link proof, the password proof, and this browser's
     * device key and its proof (left out only where the browser cannot make one).
     */
    async unlock({ challenge, linkProof, proof, deviceKey, deviceProof }) {
      const fields = { challenge, link_proof: linkProof, proof };
      if (deviceKey) Object.assign(fields, { device_key: deviceKey, device_proof: deviceProof });
      const body = JSON.stringify(fields);
      return (await request(`${base}/unlock`, { method: "POST", body, headers: { "Content-Type": "application/json" } })).json();
    },

    async files(after, limit) {
      const query = new URLSearchParams({ limit: String(limit) });
      if (after) query.set("after", after);
      return (await request(`${base}/files?${query}`, { headers: api.auth() })).json();
    },

    blobUrl(fileId, kind) {
      return blobUrl(linkId, fileId, kind, root);
    },

    /**
     * The blob's response, unread, so that large blobs can be streamed.
     * @param {string} fileId
     * @param {string} kind
     * @param {{signal?: AbortSignal}} [options]
     */
    async blob(fileId, kind, { signal } = {}) {
      return request(api.blobUrl(fileId, kind), { headers: api.auth(), signal });
    },

    // --- guest uploads (docs/api.md, "Uploads") ---

    /** What this link still takes: {max_file_size, files_left, bytes_left, part_size, ...}. */
    async uploadLimits() {
      return (await request(`${base}/uploads`, { headers: api.auth() })).json();
    },

    /** Reserve a file (and its quota); the answer says where its upload stands. */
    async reserve(body) {
      const init = { method: "POST", body: JSON.stringify(body), headers: { ...api.auth(), "Content-Type": "application/json" } };
      return (await request(`${base}/files`, init)).json();
    },

    async uploadStatus(fileId) {
      return (await request(`${base}/files/${encodeURIComponent(fileId)}/upload`, { headers: api.auth() })).json();
    },

    /**
     * PUT one part of a blob (a Blob) at `offset` (putPart below).
     * @param {string} fileId
     * @param {string} kind
     * @param {number} offset
     * @param {Blob} body
     * @param {{onProgress?: (loaded: number) => void, signal?: AbortSignal | null}} [options]
     */
    putPart(fileId, kind, offset, body, options = {}) {
      return putPart(api.blobUrl(fileId, kind), api.auth(), offset, body, options);
    },

    async complete(fileId) {
      const url = `${base}/files/${encodeURIComponent(fileId)}/complete`;
      return (await request(url, { method: "POST", headers: api.auth() })).json();
    },

    /** Drop a pending upload and give its quota back. */
    async cancel(fileId) {
      return (await request(`${base}/files/${encodeURIComponent(fileId)}`, { method: "DELETE", headers: api.auth() })).json();
    },
  };
  return api;
}
