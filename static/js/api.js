// The public link API (docs/api.md), as fetch calls with typed errors.
//
// No DOM and no crypto, so the page and its Workers share it (Send's api.js keeps
// fetch calls apart from keys and from orchestration in the same way). Every error
// the server sends is JSON {"error", "message"}; a person reads `message`, the
// code decides what the page does.

/** An answer from the server that was not a success. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds, from Retry-After, or null
  }
}

/** The server could not be reached at all (offline, DNS, connection reset). */
export class NetworkError extends Error {
  constructor(message = "The server could not be reached.") {
    super(message);
    this.name = "NetworkError";
  }
}

/** Turn a non-2xx response into an ApiError, whatever its body. */
async function failure(response) {
  let code = `http_${response.status}`;
  let message = `The server answered ${response.status} ${response.statusText}.`.replace(" .", ".");
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") code = body.error;
    if (body && typeof body.message === "string") message = body.message;
  } catch {
    // A proxy's HTML error page: keep the generic message.
  }
  const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return new ApiError(response.status, code, message, Number.isFinite(retry) ? retry : null);
}

async function send(url, init) {
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

/** The calls one link allows; `token` is set after an unlock. */
export function linkApi(linkId) {
  const base = `/api/links/${encodeURIComponent(linkId)}`;
  const api = {
    token: null,

    auth() {
      return api.token ? { Authorization: `Bearer ${api.token}` } : {};
    },

    async info() {
      return (await send(base, {})).json();
    },

    async challenge() {
      return (await send(`${base}/challenge`, { method: "POST" })).json();
    },

    async unlock({ challenge, proof, deviceToken }) {
      const body = JSON.stringify({ challenge, proof, device_token: deviceToken || null });
      return (await send(`${base}/unlock`, { method: "POST", body, headers: { "Content-Type": "application/json" } })).json();
    },

    async files(after, limit) {
      const query = new URLSearchParams({ limit: String(limit) });
      if (after) query.set("after", after);
      return (await send(`${base}/files?${query}`, { headers: api.auth() })).json();
    },

    blobUrl(fileId, kind) {
      return `${base}/files/${encodeURIComponent(fileId)}/blobs/${encodeURIComponent(kind)}`;
    },

    /** The blob's response, unread, so that large blobs can be streamed. */
    async blob(fileId, kind, { signal } = {}) {
      return send(api.blobUrl(fileId, kind), { headers: api.auth(), signal });
    },
  };
  return api;
}
