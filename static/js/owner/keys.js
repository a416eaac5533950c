// The owner's keys in the web app: the master key of this tab, and what it opens and seals.
//
// The master key (MK) is opened in the browser from the password (docs/format.md, "Accounts")
// and kept in this tab's sessionStorage only: a reload does not ask for the password again,
// closing the tab forgets it, and it never goes to the server nor to another tab
// (docs/design.md, "The owner's web app"). Album keys and link secrets are opened from the
// account's sealed copies (owner_key, owner_secret) whenever a page needs them.
// No DOM here; Argon2id runs in derive-worker.js.

import * as A from "../core/account.js";
import * as C from "../core/crypto.js";
import { fileInfo } from "../core/present.js";
import { WorkerClient } from "../core/rpc.js";
import { fetchBlob, owner } from "./owner-api.js";

const MK_KEY = "fragment.mk";
const IMAGE_TYPES = new Set(["image/webp", "image/jpeg", "image/png"]);

/** Run one Argon2id derivation in a fresh Worker, then end it (its memory goes back at once). */
export async function derive(method, args) {
  const worker = new WorkerClient(new URL("./derive-worker.js", import.meta.url));
  try {
    return await worker.call(method, args);
  } finally {
    worker.terminate();
  }
}

/** This tab's master key, or null. */
export function masterKey() {
  const kept = sessionStorage.getItem(MK_KEY);
  if (!kept) return null;
  try {
    return C.b64d(kept, C.KEY_BYTES);
  } catch {
    sessionStorage.removeItem(MK_KEY);
    return null;
  }
}

export function keepMasterKey(mk) {
  sessionStorage.setItem(MK_KEY, C.b64e(mk));
}

/** Forget every key of this tab (sign-out). */
export function forgetKeys() {
  sessionStorage.clear();
}

/**
 * Open the master key with a password, from the account the server sent; DecryptionError when
 * the password is not the account's. Argon2id first, in a Worker.
 */
export async function openWithPassword(account, password) {
  const keys = await derive("accountKeys", { password, params: account.params });
  const mk = A.openMasterKey(keys.kek, C.b64d(account.sealed_mk), account.account_id);
  return { mk, keys };
}

// --- albums ---------------------------------------------------------------------------

/** Album metadata, with what a hostile or older writer may have left out made safe. */
function cleanMeta(meta) {
  const out = meta && typeof meta === "object" ? { ...meta } : {};
  if (typeof out.title !== "string") out.title = "";
  if (typeof out.description !== "string") out.description = "";
  return out;
}

/**
 * This account's identity (its X25519 and Ed25519 key pairs) from the sealed copy under MK, checked
 * against the public keys the server publishes for it (docs/format.md, "What the server stores"):
 * a server that swapped them would receive what others seal to this account.
 */
export function openIdentity(me, mk) {
  const seed = A.openIdentity(mk, C.b64d(me.sealed_identity), me.account_id);
  return A.checkIdentity(A.identityKeypairs(seed), C.b64d(me.box_pk), C.b64d(me.sign_pk));
}

/** The album key chain of an album JSON (or an unlock answer), as albumKeys takes it. */
export function chainOf(entry) {
  return Object.fromEntries(Object.entries(entry.key_chain || {}).map(([epoch, sealed]) => [Number(epoch), C.b64d(sealed)]));
}

/**
 * An album of the API opened with the master key (the owner's) or the identity (a member's):
 * {id, key, keys, epoch, role, meta, entry}. `key` is the current album key, `keys` every key by
 * epoch (the chain). meta is {} and key null when the sealed copy does not open (the page then
 * says the album cannot be opened).
 */
export function openAlbum(entry, mk, identity = null) {
  const role = entry.role || "owner";
  const epoch = Number.isSafeInteger(entry.key_epoch) ? entry.key_epoch : 0;
  try {
    const key =
      role === "owner"
        ? A.openOwnerAlbumKey(mk, C.b64d(entry.owner_key), entry.album_id)
        : A.openMemberAlbumKey(C.b64d(entry.member_key), entry.album_id, identity.boxPublicKey, identity.boxSecretKey);
    const keys = C.albumKeys(key, epoch, entry.album_id, chainOf(entry));
    const meta = cleanMeta(C.openAlbumMeta(key, entry.album_id, C.b64d(entry.meta)));
    return { id: entry.album_id, key, keys, epoch, role, meta, entry };
  } catch {
    return { id: entry.album_id, key: null, keys: new Map(), epoch, role, meta: cleanMeta(null), entry };
  }
}

/** Create an album: a new id and key, the sealed metadata, and the account's copy of the key. */
export async function createAlbum(mk, title) {
  const albumId = C.newId();
  const key = C.randomKey();
  const meta = { v: 1, title, created_at: new Date().toISOString() };
  const entry = await owner.createAlbum({
    album_id: albumId,
    meta: C.b64e(C.sealAlbumMeta(key, albumId, meta)),
    owner_key: C.b64e(A.sealOwnerAlbumKey(mk, key, albumId)),
  });
  return { id: albumId, key, keys: new Map([[0, key]]), epoch: 0, role: "owner", meta, entry };
}

/** Seal and save new album metadata (keys the page does not know are kept: format.md, "Album metadata"). */
export async function saveMeta(album, meta) {
  const entry = await owner.changeAlbum(album.id, C.b64e(C.sealAlbumMeta(album.key, album.id, meta)), album.epoch);
  album.meta = cleanMeta(meta);
  album.entry = entry;
  return album;
}

/** A file of the listing opened with the album key: {id, key, info, entry}; null if it does not open. */
export function openFile(album, entry) {
  try {
    // Each file's key is wrapped under the album key of its epoch (docs/format.md, "Sharing").
    const albumKey = album.keys.get(Number.isSafeInteger(entry.key_epoch) ? entry.key_epoch : 0);
    const key = C.unwrapFileKey(albumKey, C.b64d(entry.wrapped_key), album.id, entry.file_id);
    const meta = C.openFileMeta(key, album.id, entry.file_id, C.b64d(entry.meta));
    // Checked as the viewer checks it: a guest may have written anything (present.js).
    return { id: entry.file_id, key, info: fileInfo(meta), entry };
  } catch {
    return null;
  }
}

/** A file's thumb (or preview), decrypted, as a Blob of its own type. */
export async function fileImage(album, file, kind = "thumb", signal = undefined) {
  const response = await fetchBlob(owner.blobPath(album.id, file.id, kind), { signal });
  const plain = C.decryptBlob(file.key, file.id, kind, new Uint8Array(await response.arrayBuffer()));
  // The type is what whoever added the file wrote (a guest, perhaps): only image types pass.
  const named = kind === "thumb" ? file.info.thumbType : file.info.previewType;
  return new Blob([plain], { type: IMAGE_TYPES.has(named) ? named : "image/jpeg" });
}

// --- links ----------------------------------------------------------------------------

/** The full link with its fragment, from the account's copy of the link secret; null if it does not open. */
export function linkAddress(link, mk) {
  if (!link.owner_secret || link.revoked_at) return null;
  try {
    const secret = A.openOwnerLinkSecret(mk, C.b64d(link.owner_secret), link.link_id);
    return `${link.url}#${C.encodeLinkSecret(secret)}`;
  } catch {
    return null;
  }
}

/**
 * What a new password (or none) makes of a link: {password, wrapped_album_key, verifier,
 * link_verifier, owner_wrap_key}, from the link secret (docs/format.md, "Link keys"). The owner
 * keeps the wrap key under MK so that a new album key can be wrapped for the link without its
 * password (docs/format.md, "Sharing").
 */
export async function linkKeyFields(album, linkId, secret, password, mk) {
  const params = password ? C.newPasswordParams() : null;
  const factor = password ? await derive("passwordFactor", { password, params }) : new Uint8Array();
  const keys = C.linkKeys(secret, factor);
  return {
    password: params,
    wrapped_album_key: C.b64e(C.wrapAlbumKey(keys.wrapKey, album.key, linkId)),
    verifier: C.b64e(keys.verifier),
    link_verifier: C.b64e(keys.linkVerifier),
    owner_wrap_key: C.b64e(A.sealOwnerLinkWrapKey(mk, keys.wrapKey, linkId)),
  };
}

/** The owner's label of a link, or "" (none, or one that does not open). */
export function linkLabel(link, mk) {
  if (!link.owner_label) return "";
  try {
    return A.openOwnerLinkLabel(mk, C.b64d(link.owner_label), link.link_id);
  } catch {
    return "";
  }
}

/** The API's owner_label for a label ("" removes it). */
function sealedLabel(mk, label, linkId) {
  return label ? C.b64e(A.sealOwnerLinkLabel(mk, label, linkId)) : null;
}

/** Create a link with these settings (and password, or none) and label; the answer and its full address. */
export async function createLink(album, mk, settings, password, label = "") {
  const linkId = C.newId();
  const secret = C.randomKey();
  const body = {
    link_id: linkId,
    ...settings,
    owner_label: sealedLabel(mk, label, linkId),
    ...(await linkKeyFields(album, linkId, secret, password, mk)),
    owner_secret: C.b64e(A.sealOwnerLinkSecret(mk, secret, linkId)),
    key_epoch: album.epoch,
  };
  const link = await owner.createLink(album.id, body);
  return { link, address: linkAddress(link, mk) };
}

/** Change a link's settings; with `password` (a string, "" for none) its keys are made anew from its secret. */
export async function changeLink(album, link, mk, settings, password, label = "") {
  const body = { ...settings, owner_label: sealedLabel(mk, label, link.link_id) };
  if (password !== undefined) {
    const secret = A.openOwnerLinkSecret(mk, C.b64d(link.owner_secret), link.link_id);
    Object.assign(body, await linkKeyFields(album, link.link_id, secret, password || null, mk), { key_epoch: album.epoch });
  }
  return owner.changeLink(link.link_id, body);
}
