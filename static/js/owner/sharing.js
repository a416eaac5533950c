// Sharing albums with people, in the web app: whom to trust with which key, and the new album key.
//
// Everything sealed here is sealed in this browser (docs/format.md, "Sharing"): the album key to a
// person's X25519 public key, to an invitation's secret, and, when someone loses access, a new
// album key for everyone who stays. The server's word for a person's public key is checked against
// the keys this account saw first (its sealed contacts: trust on first use), so a server that
// swaps a key is refused loudly rather than handed the album (docs/design.md, "Sharing with people").
// No DOM here.

import * as A from "../core/account.js";
import * as C from "../core/crypto.js";
import { ApiError, owner, sharing } from "./owner-api.js";
import { isDrop, openAlbum } from "./keys.js";

/** A person's safety number (the fingerprint of their two public keys), as the server gave the keys. */
export function safetyNumber(person) {
  return A.fingerprint(C.b64d(person.box_pk), C.b64d(person.sign_pk));
}

/** The server gave other public keys for someone than the ones this account saw first. */
export class KeyChanged extends Error {
  constructor(person, seen) {
    super(
      `The server now gives a different key for ${person.email} than the one you saw first. ` +
        "Nothing was shared with that key. Compare safety numbers with them before you trust the new one.",
    );
    this.name = "KeyChanged";
    this.person = person;
    this.seen = seen;
  }
}

/** The account's contacts, opened: {contacts, version}. */
export async function loadContacts(me, mk) {
  const { sealed, version } = await sharing.sealed("contacts");
  const contacts = sealed ? A.openContacts(mk, C.b64d(sealed), me.account_id) : {};
  return { contacts, version };
}

function contactOf(person) {
  return {
    email: person.email,
    box_pk: person.box_pk,
    sign_pk: person.sign_pk,
    first_seen: Math.floor(Date.now() / 1000),
    verified: false,
  };
}

/**
 * Remember people not seen before (and, with `trust`, the new keys of these people), in one
 * conditional save; another device's change meanwhile is read and merged (409), then saved again.
 */
export async function remember(me, mk, people, { trust = false } = {}) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const book = await loadContacts(me, mk);
    let changed = false;
    for (const person of people) {
      const status = A.contactStatus(book.contacts, person.account_id, C.b64d(person.box_pk), C.b64d(person.sign_pk));
      if (status === "new" || (status === "changed" && trust)) {
        book.contacts[person.account_id] = contactOf(person);
        changed = true;
      }
    }
    if (!changed) return book;
    try {
      const sealed = C.b64e(A.sealContacts(mk, me.account_id, book.contacts));
      const saved = await sharing.saveSealed("contacts", sealed, book.version);
      return { contacts: book.contacts, version: saved.version };
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409)) throw error;
    }
  }
  throw new Error("Your contacts keep changing on another device. Try again.");
}

/** "new", "same" or "changed" for a person the server describes, against the contacts. */
export function checkPerson(book, person) {
  return A.contactStatus(book.contacts, person.account_id, C.b64d(person.box_pk), C.b64d(person.sign_pk));
}

/** Refuse anyone whose key changed since first seen; remember the ones never seen. */
async function checked(me, mk, people) {
  const book = await loadContacts(me, mk);
  for (const person of people) {
    if (checkPerson(book, person) === "changed") throw new KeyChanged(person, book.contacts[person.account_id]);
  }
  if (people.some((person) => checkPerson(book, person) === "new")) await remember(me, mk, people);
}

/**
 * Share the album with an account, found by its address: the album key sealed to the public key
 * the server gives, once that key is the one this account saw first (or was never seen).
 * Answers {person, status, members}: status "new" means the safety number should be compared.
 */
export async function shareWith(album, me, mk, email, role) {
  const person = await sharing.person(email);
  const book = await loadContacts(me, mk);
  const status = checkPerson(book, person);
  if (status === "changed") throw new KeyChanged(person, book.contacts[person.account_id]);
  if (status === "new") await remember(me, mk, [person]);
  const sealed = A.sealMemberAlbumKey(album.key, album.id, C.b64d(person.box_pk));
  const members = await sharing.addMember(album.id, {
    account_id: person.account_id,
    role,
    sealed_key: C.b64e(sealed),
    key_epoch: album.epoch,
  });
  return { person, status, members };
}

/**
 * Invite an address that has no account: a new secret for the link's fragment, the album key
 * sealed under its key, the claim key, and the owner's copy of the secret (sealed to the album
 * owner's public key, so that the owner can give the invitation a new album key later).
 * `byMail` lets the server send the link (it sees the secret then; docs/design.md says what that costs).
 */
export async function invite(album, ownerPerson, email, role, byMail) {
  const secret = C.randomKey();
  const inviteId = C.newId();
  const keys = A.invitationKeys(secret);
  const fragment = A.encodeInviteSecret(secret);
  const answer = await sharing.invite(album.id, {
    invite_id: inviteId,
    email,
    role,
    sealed_key: C.b64e(A.sealInvitationAlbumKey(keys.inviteKey, album.key, inviteId, album.id)),
    claim_key: C.b64e(keys.claimKey),
    owner_secret: C.b64e(A.sealOwnerInviteSecret(secret, inviteId, C.b64d(ownerPerson.box_pk))),
    key_epoch: album.epoch,
    invite_secret: byMail ? fragment : undefined,
  });
  return { ...answer, address: `${answer.url}#${fragment}` };
}

/** What an invitation link opens, before it is taken: {info, albumKey, meta}; DecryptionError if the secret is wrong. */
export async function openInvitation(inviteId, secret) {
  const info = await sharing.invitation(inviteId);
  const keys = A.invitationKeys(secret);
  const albumKey = A.openInvitationAlbumKey(keys.inviteKey, C.b64d(info.sealed_key), inviteId, info.album_id);
  const meta = C.openAlbumMeta(albumKey, info.album_id, C.b64d(info.album_meta));
  return { info, albumKey, meta };
}

/** Take the invitation: the album key sealed to this account's own public key, proved by the claim key. */
export async function acceptInvitation(inviteId, secret, opened, me, mk, identity) {
  const keys = A.invitationKeys(secret);
  const sealed = A.sealMemberAlbumKey(opened.albumKey, opened.info.album_id, identity.boxPublicKey);
  const entry = await sharing.accept(inviteId, { claim_key: C.b64e(keys.claimKey), sealed_key: C.b64e(sealed) });
  if (opened.info.inviter) await remember(me, mk, [opened.info.inviter]);
  return entry;
}

/** A link's wrap key from the owner's copies, or null when it has a password and no copy of its wrap key. */
function wrapKeyOf(link, mk) {
  if (link.owner_wrap_key) return A.openOwnerLinkWrapKey(mk, C.b64d(link.owner_wrap_key), link.link_id);
  if (link.password || !link.owner_secret) return null;
  return C.linkKeys(A.openOwnerLinkSecret(mk, C.b64d(link.owner_secret), link.link_id)).wrapKey;
}

/**
 * Give the album a new key that the people in `remove` never receive (the owner only), with their
 * removal in the same request: the old key sealed under the new one (the chain), the metadata, the
 * owner's copy, and every remaining member's, invitation's and live link's copy. When someone is
 * added or leaves meanwhile, the server refuses (409) and this reads everything again.
 */
export async function rekey(albumId, me, mk, identity, { remove = [], removeFiles = false } = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const album = openAlbum(await owner.album(albumId), mk);
    if (!album.key) throw new Error("Your key does not open this album: it was changed on the server.");
    const people = await sharing.members(albumId);
    const { links } = await owner.links(albumId);
    const staying = people.members.filter((member) => !remove.includes(member.account_id));
    await checked(me, mk, staying);
    const newKey = C.randomKey();
    const epoch = album.epoch + 1;
    const rawMeta = C.openAlbumMeta(album.key, albumId, C.b64d(album.entry.meta)); // as it is, unknown keys kept
    const body = {
      from_epoch: album.epoch,
      chain: C.b64e(C.sealAlbumKeyChain(newKey, album.key, albumId, epoch)),
      meta: C.b64e(C.sealAlbumMeta(newKey, albumId, rawMeta)),
      owner_key: C.b64e(A.sealOwnerAlbumKey(mk, newKey, albumId)),
      members: Object.fromEntries(
        staying.map((member) => [member.account_id, C.b64e(A.sealMemberAlbumKey(newKey, albumId, C.b64d(member.box_pk)))]),
      ),
      invitations: Object.fromEntries(
        people.invitations.map((invitation) => {
          const secret = A.openOwnerInviteSecret(
            C.b64d(invitation.owner_secret),
            invitation.invite_id,
            identity.boxPublicKey,
            identity.boxSecretKey,
          );
          const inviteKey = A.invitationKeys(secret).inviteKey;
          return [invitation.invite_id, C.b64e(A.sealInvitationAlbumKey(inviteKey, newKey, invitation.invite_id, albumId))];
        }),
      ),
      links: /** @type {Record<string, string>} */ ({}),
      link_wrap_keys: /** @type {Record<string, string>} */ ({}),
      remove,
      remove_files: removeFiles,
    };
    const live = links.filter((each) => !each.revoked_at);
    // File drops get a new drop key for the new epoch, never the album key: a removed person knew the
    // old album key and so the old drop key, and new drops must go to a key they never had
    // (docs/format.md, "File drop").
    let dropPublicKey = null;
    if (live.some(isDrop)) {
      const made = C.newDropKey(newKey, albumId, epoch);
      dropPublicKey = made.publicKey;
      Object.assign(body, {
        drop_key: { public_key: C.b64e(made.publicKey), sealed_secret: C.b64e(made.sealedSecret) },
        link_drop_keys: /** @type {Record<string, string>} */ ({}),
      });
    }
    for (const link of live) {
      const wrapKey = wrapKeyOf(link, mk);
      if (!wrapKey) {
        throw Object.assign(
          new Error(
            "A link with a password was made before links kept their key for you, so it cannot get the album's new key." +
              " Set its password again (or revoke it), then try again.",
          ),
          { name: "Refused" },
        );
      }
      if (isDrop(link)) {
        body.link_drop_keys[link.link_id] = C.b64e(C.sealLinkDropKey(wrapKey, dropPublicKey, link.link_id, albumId, epoch));
      } else {
        body.links[link.link_id] = C.b64e(C.wrapAlbumKey(wrapKey, newKey, link.link_id));
      }
      if (!link.owner_wrap_key) body.link_wrap_keys[link.link_id] = C.b64e(A.sealOwnerLinkWrapKey(mk, wrapKey, link.link_id));
    }
    try {
      return await sharing.rekey(albumId, body);
    } catch (error) {
      const again = error instanceof ApiError && error.status === 409;
      if (!again) throw error;
    }
  }
  throw Object.assign(new Error("People were added or left while the new key was being made. Try again."), { name: "Refused" });
}

// --- favorites ------------------------------------------------------------------------------

/** The account's favorite photos, opened: {favorites: {albumId: [fileId]}, version}. */
export async function loadFavorites(me, mk) {
  const { sealed, version } = await sharing.sealed("favorites");
  const favorites = sealed ? A.openFavorites(mk, C.b64d(sealed), me.account_id) : {};
  return { favorites, version };
}

/**
 * Mark a photo as a favorite, or no longer (`on`), in one conditional save; another device's
 * change meanwhile is read and merged (409), then saved again. Answers the album's favorites.
 */
export async function setFavorite(me, mk, albumId, fileId, on) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const { favorites, version } = await loadFavorites(me, mk);
    const files = new Set(favorites[albumId] || []);
    if (on) files.add(fileId);
    else files.delete(fileId);
    if (files.size) favorites[albumId] = [...files];
    else delete favorites[albumId];
    try {
      await sharing.saveSealed("favorites", C.b64e(A.sealFavorites(mk, me.account_id, favorites)), version);
      return new Set(favorites[albumId] || []);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409)) throw error;
    }
  }
  throw Object.assign(new Error("Your favorites keep changing on another device. Try again."), { name: "Refused" });
}
