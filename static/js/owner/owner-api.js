// The account and owner APIs (docs/api.md), for the owner's web app. No DOM, no crypto.
//
// The session is an HttpOnly cookie the page cannot read; every call but GET also sends the
// session's CSRF token, which the page gets from the account API and keeps for this tab
// (viewer/server/auth.py). Errors are api.js's ApiError and NetworkError, so the page reads
// them as the album page does.

import { ApiError, NetworkError, putPart, request } from "../core/api.js";

export { ApiError, NetworkError };

const CSRF_KEY = "fragment.csrf";

/** The CSRF token of this tab's session (sessionStorage: it goes with the tab, like the master key). */
export function csrfToken() {
  return sessionStorage.getItem(CSRF_KEY) || "";
}

export function setCsrfToken(token) {
  if (token) sessionStorage.setItem(CSRF_KEY, token);
  else sessionStorage.removeItem(CSRF_KEY);
}

/**
 * One JSON call, with the cookie and the CSRF token.
 * @param {string} method
 * @param {string} path
 * @param {object} [body]
 */
export async function call(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  const init = { method, headers, credentials: /** @type {RequestCredentials} */ ("same-origin") };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    Object.assign(init, { body: JSON.stringify(body) });
  }
  const response = await request(path, init);
  return response.json();
}

/** The raw response of a GET (a blob to decrypt). */
export async function fetchBlob(path, { signal } = /** @type {{signal?: AbortSignal}} */ ({})) {
  return request(path, { credentials: "same-origin", signal });
}

/** A signed-in answer: keep its CSRF token for this tab, and give the account. */
function signedIn(answer) {
  setCsrfToken(answer.csrf_token);
  return answer;
}

export const account = {
  params: (email) => call("POST", "/api/account/params", { email }),
  signup: async (body) => signedIn(await call("POST", "/api/account/signup", body)),
  login: async (email, loginKey) => signedIn(await call("POST", "/api/account/login", { email, login_key: loginKey })),
  me: async () => signedIn(await call("GET", "/api/account")),
  // Always 200: {signed_in: false}, or the same as me() (a page that must not log a 401 when signed out).
  status: async () => {
    const answer = await call("GET", "/api/account/status");
    return answer.signed_in ? signedIn(answer) : null;
  },
  logout: () => call("POST", "/api/account/logout", {}),
  changePassword: (body) => call("POST", "/api/account/password", body),
  recover: (email, recoveryLoginKey) => call("POST", "/api/account/recover", { email, recovery_login_key: recoveryLoginKey }),
  recoverReset: async (body) => signedIn(await call("POST", "/api/account/recover/reset", body)),
  recoveryKey: (loginKey) => call("POST", "/api/account/recovery-key", { login_key: loginKey }),
  sessions: () => call("GET", "/api/account/sessions"),
  endSession: (sessionId) => call("DELETE", `/api/account/sessions/${encodeURIComponent(sessionId)}`),
  tokens: () => call("GET", "/api/account/tokens"),
  createToken: (label) => call("POST", "/api/account/tokens", { label }),
  deleteToken: (tokenId) => call("DELETE", `/api/account/tokens/${encodeURIComponent(tokenId)}`),
};

const albumPath = (albumId) => `/api/owner/albums/${encodeURIComponent(albumId)}`;

export const owner = {
  albums: () => call("GET", "/api/owner/albums"),
  album: (albumId) => call("GET", albumPath(albumId)),
  createAlbum: (body) => call("POST", "/api/owner/albums", body),
  changeAlbum: (albumId, meta, keyEpoch) => call("PATCH", albumPath(albumId), { meta, key_epoch: keyEpoch }),
  deleteAlbum: (albumId) => call("DELETE", albumPath(albumId)),
  /** Every file of the album, page after page. */
  async files(albumId) {
    const out = [];
    let after = null;
    for (;;) {
      const query = new URLSearchParams({ limit: "500" });
      if (after) query.set("after", after);
      const page = await call("GET", `${albumPath(albumId)}/files?${query}`);
      out.push(...page.files);
      if (!page.next) return out;
      after = page.next;
    }
  },
  deleteFile: (albumId, fileId) => call("DELETE", `${albumPath(albumId)}/files/${encodeURIComponent(fileId)}`),
  approveFile: (albumId, fileId) => call("POST", `${albumPath(albumId)}/files/${encodeURIComponent(fileId)}/approve`),
  blobPath: (albumId, fileId, kind) => `${albumPath(albumId)}/files/${encodeURIComponent(fileId)}/blobs/${kind}`,
  links: (albumId) => call("GET", `${albumPath(albumId)}/links`),
  createLink: (albumId, body) => call("POST", `${albumPath(albumId)}/links`, body),
  changeLink: (linkId, body) => call("PATCH", `/api/owner/links/${encodeURIComponent(linkId)}`, body),
  revokeLink: (linkId) => call("DELETE", `/api/owner/links/${encodeURIComponent(linkId)}`),
};

const memberPath = (albumId, accountId) => `${albumPath(albumId)}/members/${encodeURIComponent(accountId)}`;

/** Sharing with people (docs/api.md, "Sharing with people"). */
export const sharing = {
  person: (email) => call("GET", `/api/owner/people?${new URLSearchParams({ email })}`),
  /** One of the account's values sealed under its MK: "contacts" or "favorites". */
  sealed: (name) => call("GET", `/api/owner/sealed/${name}`),
  saveSealed: (name, sealed, version) => call("PUT", `/api/owner/sealed/${name}`, { sealed, version }),
  shared: () => call("GET", "/api/owner/shared"),
  members: (albumId) => call("GET", `${albumPath(albumId)}/members`),
  addMember: (albumId, body) => call("POST", `${albumPath(albumId)}/members`, body),
  changeMember: (albumId, accountId, role) => call("PATCH", memberPath(albumId, accountId), { role }),
  removeMember: (albumId, accountId, files = "keep") => call("DELETE", `${memberPath(albumId, accountId)}?files=${files}`),
  invite: (albumId, body) => call("POST", `${albumPath(albumId)}/invitations`, body),
  cancelInvitation: (albumId, inviteId) => call("DELETE", `${albumPath(albumId)}/invitations/${encodeURIComponent(inviteId)}`),
  invitation: (inviteId) => call("GET", `/api/invitations/${encodeURIComponent(inviteId)}`),
  accept: (inviteId, body) => call("POST", `/api/owner/invitations/${encodeURIComponent(inviteId)}/accept`, body),
  rekey: (albumId, body) => call("POST", `${albumPath(albumId)}/rekey`, body),
};

/**
 * The upload calls of one album (uploads.js UploadQueue's `api`), with the cookie and CSRF token.
 * The owner's own upload has no link quota: its limits are the account's storage left.
 * @param {string} albumId
 * @param {() => Promise<{max_file_size: number, files_left: number, bytes_left: number, part_size: number}>} limits
 */
export function uploadCalls(albumId, limits) {
  const base = `${albumPath(albumId)}/files`;
  return {
    uploadLimits: limits,
    reserve: (body) => call("POST", base, body),
    uploadStatus: (fileId) => call("GET", `${base}/${encodeURIComponent(fileId)}/upload`),
    complete: (fileId) => call("POST", `${base}/${encodeURIComponent(fileId)}/complete`),
    cancel: (fileId) => call("DELETE", `${base}/${encodeURIComponent(fileId)}`),
    /**
     * PUT one part, with the CSRF token (api.js putPart: XMLHttpRequest, for its upload progress).
     * @param {string} fileId
     * @param {string} kind
     * @param {number} offset
     * @param {Blob} body
     * @param {{onProgress?: (loaded: number) => void, signal?: AbortSignal | null}} [options]
     */
    putPart(fileId, kind, offset, body, options = {}) {
      const url = `${base}/${encodeURIComponent(fileId)}/blobs/${kind}`;
      return putPart(url, { "X-CSRF-Token": csrfToken() }, offset, body, options);
    },
  };
}
