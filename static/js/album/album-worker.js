// Everything secret about one album, kept off the page's main thread, and its one API client.
//
// This Worker holds the link secret, the link keys, the album key and every file key;
// the page holds none of them. It also holds the visit's one linkApi and with it the
// access token: it unlocks the link (the link proof, the password proof and this
// browser's device proof over one challenge), renews the token when the server refuses
// it, and makes every call that needs it, for the page (the listing, blobs, a guest's
// uploads) and for the Service Worker (which asks it for the token on the port of each
// grant). The page asks twice to open an album: `open` (the link's info) and `unlock`
// (with the password, if any); it gets back only what it shows: metadata objects and
// decrypted bytes (transferred, not copied), so a grid of thousands of thumbnails never
// blocks scrolling (MDN, "Using Web Workers").

import * as A from "../core/account.js";
import * as C from "../core/crypto.js";
import { linkApi, linkUrl, request } from "../core/api.js";
import { DeviceKeyUnavailable, isAdmitted, markAdmitted, signWithDeviceKey } from "../core/device.js";
import { WorkerClient, notify, serve, transfer } from "../core/rpc.js";
import { safeBlob } from "../core/mediatypes.js";

// The answers that mean "this access token is not good (any more)" (docs/api.md).
const TOKEN_REFUSED = new Set(["token_expired", "token_stale", "unauthorized"]);
// What a guest's upload queue may call through this Worker (uploads.js linkCalls).
const UPLOAD_CALLS = new Set(["uploadLimits", "reserve", "uploadStatus", "complete", "cancel"]);
// The subkey of a drop link's wrap key under which this device keeps its own uploads' file keys
// (crypto_kdf: an 8-byte context, used only here and in upload-worker.js).
const DROP_KEEP_SUBKEY = 1;
const DROP_KEEP_CONTEXT = "fgdropkp";

let linkId = null;
let secret = null;
let info = null; // the link's info, from open
let keys = null;
let api = null; // the one linkApi of this visit; api.token is the access token
let refreshing = null;
let albumId = null;
let albumKey = null; // the album's current key (the one the link wraps)
let keyEpoch = 0;
let albumKeys = new Map(); // epoch -> album key: each file's key is wrapped under its epoch's (docs/format.md, "Sharing")
// A file drop (an upload-only link made since issue 13) holds no album key at all: only the album's
// drop public key of one epoch, which the link's wrap key opens (docs/format.md, "File drop").
let dropKey = null; // {publicKey, epoch}
// A viewing link's copies of the album's drop keys ({epoch: {public_key, sealed_secret}}, each secret
// sealed under that epoch's album key), to open the files guests dropped; opened when first needed.
let dropKeys = {};
const dropPairs = new Map(); // epoch -> {publicKey, secretKey}
const fileKeys = new Map();
const blobSizes = new Map(); // file id -> the original's ciphertext length, from the listing
const grants = new Set(); // ports to the Service Worker, open while it may ask for a token
// This visitor's key for comments on this link (docs/format.md, "Comments and reactions": guest_seed),
// from the seed the page keeps in localStorage, so that their later deletes are theirs.
let guestKeys = null; // {publicKey, privateKey}
const NOTES_PAGE = 1000; // the API's largest page

function need(value, what) {
  if (!value) throw new Error(`${what} is not ready yet.`);
  return value;
}

/** One file record of the listing, opened; a file that does not open is marked broken. */
function openEntry(entry) {
  const id = entry && entry.file_id;
  const blobs = (entry && entry.blobs) || {};
  const guest = Boolean(entry && entry.guest === true); // the server's flag, never the metadata's name
  if (!C.isId(id)) return { id: null, blobs, meta: null, broken: true, guest };
  try {
    const epoch = Number.isSafeInteger(entry.key_epoch) ? entry.key_epoch : 0;
    const fileKey =
      entry.drop === true
        ? openDropped(entry, epoch)
        : C.unwrapFileKey(need(albumKeys.get(epoch), "This file's album key"), C.b64d(entry.wrapped_key), albumId, id);
    const meta = C.openFileMeta(fileKey, albumId, id, C.b64d(entry.meta));
    fileKeys.set(id, fileKey);
    if (Number.isSafeInteger(blobs.original)) blobSizes.set(id, blobs.original);
    return { id, blobs, meta, broken: false, guest };
  } catch {
    return { id, blobs, meta: null, broken: true, guest };
  }
}

/** The key of a file a guest dropped (sealed to the album's drop key of its epoch: docs/format.md, "File drop"). */
function openDropped(entry, epoch) {
  if (!dropPairs.has(epoch)) {
    const listed = need(dropKeys[String(epoch)], "This file's drop key");
    const albumKeyOfEpoch = need(albumKeys.get(epoch), "This file's album key");
    const secretKey = C.openDropSecret(albumKeyOfEpoch, albumId, epoch, C.b64d(listed.sealed_secret));
    dropPairs.set(epoch, { publicKey: C.b64d(listed.public_key), secretKey });
  }
  const { publicKey, secretKey } = dropPairs.get(epoch);
  // A public key that is not the secret key's does not open the sealed box: the file is marked broken.
  return C.openDropFileKey(C.b64d(entry.wrapped_key), albumId, entry.file_id, publicKey, secretKey);
}

/**
 * This browser's device proof for a challenge: {device_key, device_proof}, or nothing
 * (and the reason kept) where the browser cannot make a device key. Links without a
 * device limit open without one; a link with one answers device_key_required, and the
 * visitor then reads why this browser cannot.
 */
async function deviceFields(challenge) {
  try {
    const { publicKey, signature } = await signWithDeviceKey(linkId, C.deviceProofMessage(linkId, challenge));
    return { fields: { deviceKey: C.b64e(publicKey), deviceProof: C.b64e(signature) }, problem: null };
  } catch (error) {
    if (error instanceof DeviceKeyUnavailable) return { fields: {}, problem: error };
    throw error;
  }
}

/** POST unlock for one challenge, signed three ways (docs/format.md, "Unlock"). */
async function unlockWith(challenge) {
  const { fields, problem } = await deviceFields(challenge);
  try {
    return await api.unlock({
      challenge,
      linkProof: C.signLinkProof(keys, linkId, challenge),
      proof: C.signProof(keys, linkId, challenge),
      ...fields,
    });
  } catch (error) {
    if (problem && error.code === "device_key_required") throw problem;
    throw error;
  }
}

/**
 * Sign `challenge` (or a fresh one) with the keys derived so far and POST it. A challenge
 * that expired or was used meanwhile (a slow phone, two tabs) is replaced once. Keeps the
 * access token; answers what the server answered.
 */
async function signedUnlock(challenge) {
  need(keys, "The link keys");
  let answer;
  try {
    answer = await unlockWith(challenge || (await api.challenge()).challenge);
  } catch (error) {
    if (error.code !== "bad_challenge") throw error;
    answer = await unlockWith((await api.challenge()).challenge);
  }
  api.token = answer.access_token;
  // Every unlock answers the link's keys as they are now: after the owner gave the album a new key
  // (someone lost access), the next file goes under the new one.
  if (albumId) takeKeys(answer);
  // The next visit then opens at once instead of asking to take a slot (viewer.js).
  await markAdmitted(linkId).catch(() => {});
  return answer;
}

/** Refused: this link's drop key did not open with the link's key, so nothing is added with it. */
class DropKeyRefused extends Error {
  constructor() {
    super(
      "This link's key for adding photos did not decrypt: it may have been tampered with, so nothing was sent." +
        " Ask the owner for a new link.",
    );
    this.name = "DropKeyRefused";
  }
}

/**
 * The keys of an unlock answer: the album key and its chain, or for a file drop (wrapped_album_key
 * null) the album's drop public key, opened with the link's wrap key. The server never has that wrap
 * key, so it cannot put a key of its own in the album's place (docs/format.md, "File drop"). A drop key
 * that does not open is refused loudly: there is no fallback to anything the server says.
 */
function takeKeys(answer) {
  if (answer.wrapped_album_key === null || answer.wrapped_album_key === undefined) {
    const epoch = answer.drop_epoch;
    if (typeof answer.wrapped_drop_key !== "string" || !Number.isSafeInteger(epoch)) throw new DropKeyRefused();
    try {
      const sealed = C.b64d(answer.wrapped_drop_key);
      dropKey = { publicKey: C.openLinkDropKey(keys.wrapKey, sealed, linkId, albumId, epoch), epoch };
    } catch {
      throw new DropKeyRefused();
    }
    albumKey = null;
    albumKeys = new Map();
    dropKeys = {};
    dropPairs.clear();
    return;
  }
  dropKey = null;
  albumKey = C.unwrapAlbumKey(keys.wrapKey, C.b64d(answer.wrapped_album_key), linkId);
  // An album that got new keys (someone lost access) sends the chain to its older ones.
  keyEpoch = Number.isSafeInteger(answer.key_epoch) ? answer.key_epoch : 0;
  const chain = Object.fromEntries(Object.entries(answer.key_chain || {}).map(([e, sealed]) => [Number(e), C.b64d(sealed)]));
  albumKeys = C.albumKeys(albumKey, keyEpoch, albumId, chain);
  dropKeys = answer.drop_keys && typeof answer.drop_keys === "object" ? answer.drop_keys : {};
  dropPairs.clear();
}

/** Argon2id in a Worker of its own, which is stopped afterwards to free its memory (keys-worker.js). */
async function passwordFactor(password, params) {
  const keysWorker = new WorkerClient(new URL("./keys-worker.js", import.meta.url));
  try {
    return new Uint8Array(await keysWorker.call("passwordFactor", { password, params }));
  } finally {
    keysWorker.terminate();
  }
}

/** A 429 whose Retry-After is at most a minute. */
function isShortWait(error) {
  return (
    error && error.name === "ApiError" && error.status === 429 && Number.isSafeInteger(error.retryAfter) && error.retryAfter <= 60
  );
}

/**
 * A new access token with the keys already derived (expired or stale token): the same
 * unlock as the first one, link proof, password proof and device proof over a fresh
 * challenge, so a token alone never outlives this browser's device key. One at a time.
 */
function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        await signedUnlock(null);
      } catch (error) {
        // A password link whose counters make everyone wait a little (others' wrong passwords):
        // wait it out once, rather than fail the photo or video that needed the token.
        if (!isShortWait(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, error.retryAfter * 1000));
        await signedUnlock(null);
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/**
 * After the server refused the token `failed` with `code`: a fresh token (unless another
 * call renewed it meanwhile). The page hears of what it must act on: "stale" (the owner
 * changed the link: it reloads with the new settings, unless uploads would stop) and
 * "locked" (the password changed: it reloads and asks for the new one).
 */
async function renewAfter(failed, code) {
  if (code === "token_stale") notify("stale");
  try {
    if (api.token === failed) await refresh();
  } catch (error) {
    if (error.code === "wrong_password") notify("locked");
    throw error;
  }
  return api.token;
}

/** A call that needs the access token, made again once with a renewed one if it was refused. */
async function authed(step) {
  const token = api.token;
  try {
    return await step();
  } catch (error) {
    if (error.name !== "ApiError" || !TOKEN_REFUSED.has(error.code)) throw error;
    await renewAfter(token, error.code);
    return step();
  }
}

function plainBuffer(bytes) {
  // Transfer only a buffer that holds exactly these bytes.
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer;
  return bytes.slice().buffer;
}

// --- comments and reactions (docs/format.md and docs/api.md, "Comments and reactions") ---------

/** GET, POST, PUT or DELETE on the link's notes, with the access token; the answer's JSON. */
function notesCall(method, path = "", body = undefined) {
  const step = async () => {
    const headers = { ...api.auth() };
    /** @type {RequestInit} */
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return (await request(`${linkUrl(linkId)}/notes${path}`, init)).json();
  };
  return authed(step);
}

/**
 * One listed note, checked as format.md says (the author's signature, then the AEAD under the comment
 * key of its epoch, then the JSON); `genuine` false, and no content, for one that fails any step.
 * A guest's key comes with the note; a member's is the one the server lists with their account (a
 * link's visitor has no contacts to check it against).
 */
function openListed(entry) {
  const author = (entry && entry.author) || {};
  const guest = author.kind === "guest";
  const authorKey = guest ? author.guest_pk : author.sign_pk;
  const shown = {
    id: entry && typeof entry.note_id === "string" ? entry.note_id : null,
    version: entry && Number.isSafeInteger(entry.version) ? entry.version : 0,
    guest,
    email: !guest && typeof author.email === "string" ? author.email : null,
    mine: Boolean(guest && guestKeys && author.link_id === linkId && authorKey === C.b64e(guestKeys.publicKey)),
    createdAt: entry && typeof entry.created_at === "string" ? entry.created_at : null,
    genuine: false,
    note: null,
  };
  try {
    const key = need(albumKeys.get(entry.epoch), "This comment's album key");
    const note = C.openNote(
      key,
      albumId,
      entry.note_id,
      entry.epoch,
      entry.version,
      C.b64d(authorKey, C.KEY_BYTES),
      C.b64d(entry.sealed),
      C.b64d(entry.signature),
    );
    shown.note = C.shownNote(note, guest);
    shown.genuine = true;
  } catch {
    // Not shown as genuine: the page says it could not be verified, never what it says.
  }
  return shown;
}

/**
 * The note sealed under the album's current key and signed with this visitor's key, at `version`:
 * the body of a POST (a new note, version 1) or of a PUT (an edit, the next version).
 */
function noteBody(noteId, version, note) {
  const { sealed, signature } = C.sealNote(
    need(albumKey, "The album key"),
    albumId,
    noteId,
    keyEpoch,
    version,
    guestKeys.publicKey,
    guestKeys.privateKey,
    note,
  );
  return {
    epoch: keyEpoch,
    version,
    sealed: C.b64e(sealed),
    signature: C.b64e(signature),
    guest_pk: C.b64e(guestKeys.publicKey),
  };
}

/** A new note's POST body. */
function newNoteBody(note) {
  const noteId = C.newId();
  return { note_id: noteId, ...noteBody(noteId, 1, note) };
}

/** Send, and once more under the album's keys as they are now when it got a new key meanwhile (409 stale_key). */
async function sendingNote(send) {
  try {
    return await send();
  } catch (error) {
    if (!(error && error.name === "ApiError" && error.code === "stale_key")) throw error;
    await signedUnlock(null);
    return send();
  }
}

serve({
  /**
   * Start a visit: keep the link's key (the page checked that it is well-formed), ask for
   * the link's info while libsodium loads, and refuse Argon2 parameters below the floor
   * before anything is computed (WeakPasswordParams; docs/format.md, "Argon2id floor").
   * Answers {info, admitted}: admitted if this browser already holds one of the link's
   * device slots (device.js).
   */
  async open({ linkId: id, fragment }) {
    secret = C.decodeLinkSecret(fragment); // plain base64url (format.js): no libsodium needed
    linkId = id;
    api = linkApi(id);
    const [answer] = await Promise.all([api.info(), C.ready()]);
    info = answer;
    if (info.upload_only && !info.uploads) return { info, admitted: false };
    if (info.password) C.checkPasswordFloor(info.password);
    return { info, admitted: info.device_limit ? await isAdmitted(id) : false };
  },

  /**
   * Unlock and open the album, all in one call: with a password, the challenge first (a
   * client that must wait is refused there, with 429, before Argon2 runs), then the
   * password factor, then the signed unlock; the album key unwrapped and the album
   * metadata opened. Answers {album, info}: the album's metadata and the link's settings.
   */
  async unlock({ password = null }) {
    need(secret, "The link key");
    let challenge = null;
    if (password !== null) {
      C.checkPasswordFloor(need(info, "The link's info").password);
      challenge = (await api.challenge()).challenge;
      keys = C.linkKeys(secret, await passwordFactor(password, info.password));
    } else {
      keys = C.linkKeys(secret);
    }
    const answer = await signedUnlock(challenge);
    albumId = answer.album_id;
    takeKeys(answer);
    // A file drop has no album key, so not even the album's title: the page says what it is for instead.
    if (dropKey) return { album: null, drop: true, info: answer.info || {} };
    return { album: C.openAlbumMeta(albumKey, albumId, C.b64d(answer.album_meta)), drop: false, info: answer.info || {} };
  },

  /**
   * Unlock again for the link's keys as they are now (a file was refused as stale_key: the owner gave
   * the album a new key meanwhile); the page then grants the upload Worker the new ones.
   */
  async renewKeys() {
    need(albumId, "The album");
    await signedUnlock(null);
    return true;
  },

  /** One page of the listing, every entry opened. */
  async page({ after, limit }) {
    need(albumKey, "The album key");
    const page = await authed(() => api.files(after, limit));
    const files = Array.isArray(page.files) ? page.files.map(openEntry) : [];
    return { files, next: typeof page.next === "string" ? page.next : null };
  },

  /**
   * One blob, fetched and decrypted. Thumbs and previews come back as a transferred
   * ArrayBuffer; originals are decrypted as a stream into a Blob, which the browser
   * may keep on disk, so a large video never sits in this Worker's memory whole.
   */
  async blob({ fileId, kind, type }) {
    const fileKey = fileKeys.get(fileId);
    if (!fileKey) throw new Error("This file has no key.");
    const response = await authed(() => api.blob(fileId, kind));
    if (kind === "original") {
      const plain = response.body.pipeThrough(C.decryptBlobStream(fileKey, fileId, kind));
      const blob = await new Response(plain).blob();
      // Typed only as the allowlist and the file's first bytes allow (mediatypes.js): a guest chose `type`.
      return safeBlob(blob, type);
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    const plain = plainBuffer(C.decryptBlob(fileKey, fileId, kind, bytes));
    return transfer(plain, [plain]);
  },

  /**
   * An original as a decrypted stream, transferred to the page (MDN, "Transferable
   * objects": ReadableStream): "download all" with the File System Access API.
   */
  async originalStream({ fileId }) {
    const fileKey = fileKeys.get(fileId);
    if (!fileKey) throw new Error("This file has no key.");
    const response = await authed(() => api.blob(fileId, "original"));
    const plain = response.body.pipeThrough(C.decryptBlobStream(fileKey, fileId, "original"));
    return transfer(plain, [plain]);
  },

  /**
   * Grant the Service Worker (static/js/download/sw.js) what one stream or zip needs, on a
   * port whose other end goes to it, so that no key crosses the page: {keys: {file id:
   * key}, blobSizes: {file id: size}, token}. The port stays open for the one other
   * thing it asks, {ask, failed, code}: a token instead of one the server refused,
   * answered {reply, token} (null if the link died meanwhile).
   */
  async grant({ fileIds, port }) {
    const granted = {};
    const sizes = {};
    for (const id of fileIds) {
      if (fileKeys.has(id)) granted[id] = fileKeys.get(id);
      if (blobSizes.has(id)) sizes[id] = blobSizes.get(id);
    }
    grants.add(port);
    port.onmessage = async (event) => {
      const { ask, failed, code } = event.data || {};
      let token = null;
      try {
        token = await renewAfter(failed, code);
      } catch {
        // The link died meanwhile: the Service Worker answers its request with the error.
      }
      port.postMessage({ reply: ask, token });
    };
    port.postMessage({ keys: granted, blobSizes: sizes, token: api.token });
    return true;
  },

  /**
   * Post the album id and key on a port whose other end goes to the upload Worker
   * (static/js/upload/upload-worker.js), so that the key never crosses the page.
   */
  async grantUpload({ port }) {
    need(albumId, "The album");
    if (dropKey) {
      // A drop: the public key each file key is sealed to, and a key of this link for this device's
      // own copy of each file key (a reload resumes an upload with it; it never leaves the browser).
      // A crypto_kdf subkey of the wrap key (libsodium docs, "Key derivation"): it opens nothing else.
      const keepKey = C.kdf(keys.wrapKey, DROP_KEEP_SUBKEY, DROP_KEEP_CONTEXT);
      port.postMessage({ albumId, dropPublicKey: dropKey.publicKey, keyEpoch: dropKey.epoch, keepKey });
    } else {
      port.postMessage({ albumId, albumKey: need(albumKey, "The album key"), keyEpoch });
    }
    port.close();
    return true;
  },

  /** A guest upload's call to the API (uploads.js linkCalls), with the token. */
  async call({ method, args = [] }) {
    if (!UPLOAD_CALLS.has(method)) throw new Error(`unknown API call ${method}`);
    return authed(() => api[method](...args));
  },

  /**
   * PUT one part of an upload (a Blob, which crossed as a handle, not as bytes). Its
   * progress (bytes sent) goes back on `port`, and any message on it cancels the part.
   */
  async putPart({ fileId, kind, offset, body, port }) {
    const abort = new AbortController();
    port.onmessage = () => abort.abort();
    try {
      const options = { signal: abort.signal, onProgress: (loaded) => port.postMessage(loaded) };
      return await authed(() => api.putPart(fileId, kind, offset, body, options));
    } finally {
      port.close();
    }
  },

  /** A file this visitor just uploaded, opened like a listed one (its thumb then decrypts as usual). */
  async adopt({ entry }) {
    need(albumKey, "The album key");
    return openEntry(entry);
  },

  /**
   * Join the album (docs/api.md, "Joining from a link"): seal the album key to the visitor's own
   * X25519 public key, which the page checked against the visitor's identity (owner/keys.js
   * openIdentity), and POST it with the access token, the session's cookie and its CSRF token.
   * The album key never leaves this Worker: only the sealed copy does (crypto_box_seal).
   * Answers the album as the new member sees it.
   */
  async join({ boxPk, role, csrf }) {
    need(albumKey, "The album key");
    const sealed = A.sealMemberAlbumKey(albumKey, albumId, new Uint8Array(boxPk));
    const body = JSON.stringify({ role, sealed_key: C.b64e(sealed), key_epoch: keyEpoch });
    const post = async () => {
      const headers = { ...api.auth(), "Content-Type": "application/json", "X-CSRF-Token": String(csrf || "") };
      // The one call of this Worker that sends the cookie: joining needs the account's session.
      const init = { method: "POST", body, headers, credentials: /** @type {RequestCredentials} */ ("same-origin") };
      return (await request(`${linkUrl(linkId)}/join`, init)).json();
    };
    return authed(post);
  },

  /** This visitor's comment key for the link, from the 32-byte seed the page keeps for it. */
  async noteKey({ seed }) {
    await C.ready();
    guestKeys = C.guestNoteKeys(new Uint8Array(seed));
    return true;
  },

  /** Every note of the album this link's visitors see (all pages, in the order written), each checked and opened. */
  async notes() {
    need(albumKey, "The album key");
    const out = [];
    let after = null;
    do {
      const query = new URLSearchParams({ limit: String(NOTES_PAGE) });
      if (after) query.set("after", after);
      const page = await notesCall("GET", `?${query}`);
      if (Array.isArray(page.notes)) out.push(...page.notes.map(openListed));
      after = typeof page.next === "string" ? page.next : null;
    } while (after);
    return out;
  },

  /**
   * Write a new comment or reaction as this visitor. Sealed under the album's current key: refused as
   * stale_key (the owner gave the album a new key meanwhile), it unlocks again for the keys as they are
   * now and is sealed and sent once more. Answers it as `notes` lists it, with `held`.
   */
  async writeNote({ note }) {
    need(guestKeys, "Your comment key");
    const answer = await sendingNote(() => notesCall("POST", "", newNoteBody(note)));
    return { ...openListed(answer), held: answer.held === true };
  },

  /**
   * A new text for this visitor's own note: `note` (the whole note, as the page has it, with the new
   * text) sealed and signed as version `version` + 1 (docs/api.md: an edit is the next version),
   * retried once on stale_key as writeNote is. On a held link the server holds it again: `held`.
   */
  async editNote({ noteId, version, note }) {
    need(guestKeys, "Your comment key");
    const path = `/${encodeURIComponent(noteId)}`;
    const answer = await sendingNote(() => notesCall("PUT", path, noteBody(noteId, version + 1, note)));
    return { ...openListed(answer), held: answer.held === true };
  },

  /** Delete this visitor's own note, proving it with their key over its current version (signNoteDelete). */
  async deleteNote({ noteId, version }) {
    need(guestKeys, "Your comment key");
    const signature = C.signNoteDelete(albumId, noteId, version, guestKeys.privateKey);
    await notesCall("DELETE", `/${encodeURIComponent(noteId)}`, { version, signature: C.b64e(signature) });
    return true;
  },

  /** Drop every key and the token (Forget this album). */
  async forget() {
    secret = keys = albumKey = dropKey = guestKeys = null;
    albumKeys = new Map();
    dropKeys = {};
    dropPairs.clear();
    if (api) api.token = null;
    for (const port of grants) port.close();
    grants.clear();
    fileKeys.clear();
    blobSizes.clear();
    return true;
  },
});
