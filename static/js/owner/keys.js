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
import { ApiError, fetchBlob, owner } from "./owner-api.js";

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

// --- file drops (docs/format.md, "File drop") -------------------------------------------

const dropPairs = new WeakMap(); // album JSON -> Map(epoch -> {publicKey, secretKey})

/** The server gave a drop public key that is not the one of the album's sealed drop secret. */
export class DropKeyMismatch extends Error {
  constructor() {
    super("The server gave this album a drop key that its own sealed key does not match, so nothing was made with it.");
    this.name = "DropKeyMismatch";
  }
}

/**
 * True if `publicKey` is the X25519 public key of `secretKey`: a sealed box to it opens with the pair
 * (crypto_box_seal_open derives the shared key from the secret key and the nonce from the public one:
 * libsodium docs, "Sealed boxes"), which it does for no other public key.
 */
function samePair(publicKey, secretKey) {
  const probe = C.randomKey();
  try {
    C.boxSealOpen(C.boxSeal(probe, publicKey), publicKey, secretKey);
    return true;
  } catch {
    return false;
  }
}

/**
 * The album's drop key pair of an epoch ({publicKey, secretKey}), or null when the album has none
 * for it: the secret opened with that epoch's album key, and the public key the server lists checked
 * against it. The public key is not sealed, so a server that put its own there would be handed every
 * guest's file key by the next link made with it; this check refuses that (DropKeyMismatch).
 */
export function dropKeyOf(album, epoch) {
  const entry = album.entry || {};
  let pairs = dropPairs.get(entry);
  if (!pairs) dropPairs.set(entry, (pairs = new Map()));
  if (pairs.has(epoch)) return pairs.get(epoch);
  const listed = (entry.drop_keys || {})[String(epoch)];
  if (!listed) return null;
  const albumKey = album.keys.get(epoch);
  if (!albumKey) throw new Error("This album's key of that epoch is missing.");
  const secretKey = C.openDropSecret(albumKey, album.id, epoch, C.b64d(listed.sealed_secret));
  const publicKey = C.b64d(listed.public_key);
  if (!samePair(publicKey, secretKey)) throw new DropKeyMismatch();
  const pair = { publicKey, secretKey };
  pairs.set(epoch, pair);
  return pair;
}

/** A file of the listing opened with the album key: {id, key, info, entry}; null if it does not open. */
export function openFile(album, entry) {
  try {
    // Each file's key is wrapped under the album key of its epoch (docs/format.md, "Sharing"), or, for
    // a guest's file dropped through an upload-only link, sealed to the album's drop key of its epoch.
    const epoch = Number.isSafeInteger(entry.key_epoch) ? entry.key_epoch : 0;
    let key;
    if (entry.drop === true) {
      const pair = dropKeyOf(album, epoch);
      if (!pair) return null;
      key = C.openDropFileKey(C.b64d(entry.wrapped_key), album.id, entry.file_id, pair.publicKey, pair.secretKey);
    } else {
      key = C.unwrapFileKey(album.keys.get(epoch), C.b64d(entry.wrapped_key), album.id, entry.file_id);
    }
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
 * password (docs/format.md, "Sharing"). `wrap(wrapKey)` gives the link's keys instead of the
 * wrapped album key (a file drop's: dropFields).
 */
export async function linkKeyFields(album, linkId, secret, password, mk, wrap = null) {
  const params = password ? C.newPasswordParams() : null;
  const factor = password ? await derive("passwordFactor", { password, params }) : new Uint8Array();
  const keys = C.linkKeys(secret, factor);
  return {
    password: params,
    ...(wrap ? wrap(keys.wrapKey) : { wrapped_album_key: C.b64e(C.wrapAlbumKey(keys.wrapKey, album.key, linkId)) }),
    verifier: C.b64e(keys.verifier),
    link_verifier: C.b64e(keys.linkVerifier),
    owner_wrap_key: C.b64e(A.sealOwnerLinkWrapKey(mk, keys.wrapKey, linkId)),
  };
}

/** True for a link made as a file drop: it holds the album's drop key, not its album key. */
export function isDrop(link) {
  return Boolean(link && (link.drop === true || Number.isSafeInteger(link.drop_epoch)));
}

/**
 * A file drop's keys for a link of the album's current epoch (docs/format.md, "File drop"): the album's
 * drop public key sealed under the link's wrap key, which the server never has, so it cannot put a key
 * of its own in the album's place; and the album's new drop key pair, when it has none for the epoch yet
 * (its secret sealed under the album key). No album key: a guest of the link cannot decrypt anything.
 */
function dropFields(album, linkId) {
  let pair = dropKeyOf(album, album.epoch);
  let dropKey = null;
  if (!pair) {
    const made = C.newDropKey(album.key, album.id, album.epoch);
    pair = { publicKey: made.publicKey };
    dropKey = { public_key: C.b64e(made.publicKey), sealed_secret: C.b64e(made.sealedSecret) };
  }
  return (wrapKey) => {
    const sealed = C.sealLinkDropKey(wrapKey, pair.publicKey, linkId, album.id, album.epoch);
    return { drop: { wrapped_drop_key: C.b64e(sealed), epoch: album.epoch }, ...(dropKey ? { drop_key: dropKey } : {}) };
  };
}

/** Read the album again (its key, epoch and drop keys changed on the server), into the same object. */
async function reloadAlbum(album, mk) {
  const fresh = openAlbum(await owner.album(album.id), mk);
  if (!fresh.key) throw new Error("Your key does not open this album: it was changed on the server.");
  Object.assign(album, { key: fresh.key, keys: fresh.keys, epoch: fresh.epoch, entry: fresh.entry });
}

/** A 409 that reading the album again cures: another device made its drop key, or gave it a new key. */
function albumMoved(error) {
  return error instanceof ApiError && error.status === 409 && ["drop_key_exists", "stale_key"].includes(error.code);
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

/**
 * Create a link with these settings (and password, or none) and label; the answer and its full address.
 * An upload-only link is made as a file drop: it holds no album key (dropFields). When another device
 * made the album's drop key or gave the album a new key meanwhile (409), the album is read again and
 * the link made once more.
 */
export async function createLink(album, mk, settings, password, label = "") {
  const linkId = C.newId();
  const secret = C.randomKey();
  const make = async () => {
    const wrap = settings.upload_only ? dropFields(album, linkId) : null;
    return owner.createLink(album.id, {
      link_id: linkId,
      ...settings,
      owner_label: sealedLabel(mk, label, linkId),
      ...(await linkKeyFields(album, linkId, secret, password, mk, wrap)),
      owner_secret: C.b64e(A.sealOwnerLinkSecret(mk, secret, linkId)),
      key_epoch: album.epoch,
    });
  };
  let link;
  try {
    link = await make();
  } catch (error) {
    if (!(settings.upload_only && albumMoved(error))) throw error;
    await reloadAlbum(album, mk);
    link = await make();
  }
  return { link, address: linkAddress(link, mk) };
}

/** Change a link's settings; with `password` (a string, "" for none) its keys are made anew from its secret. */
export async function changeLink(album, link, mk, settings, password, label = "") {
  const drop = isDrop(link);
  if (drop && settings.upload_only === false) {
    // It holds no album key to give its visitors: a link that shows the album is a new link.
    throw Object.assign(new Error("This link is only for adding photos: make a new link to show the album."), {
      name: "Refused",
    });
  }
  const body = { ...settings, owner_label: sealedLabel(mk, label, link.link_id) };
  if (password !== undefined) {
    const secret = A.openOwnerLinkSecret(mk, C.b64d(link.owner_secret), link.link_id);
    // A file drop's new wrap key seals the album's drop key again, never the album key.
    const wrap = drop ? dropFields(album, link.link_id) : null;
    Object.assign(body, await linkKeyFields(album, link.link_id, secret, password || null, mk, wrap), { key_epoch: album.epoch });
  }
  return owner.changeLink(link.link_id, body);
}
