"""The public link API: what a browser (or `fragment open`) may do with a link.

Knowing the link id gets only the public info. Everything else needs an access
token, which only a client that proves it holds the link's access key (derived
from the fragment secret and the password) can get. Every request reloads the
link, so expiry, revocation and setting changes apply at once
(docs/design.md, "Link policy, enforced by the server").
"""

from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy import update

from .. import crypto
from . import db, epochs, tokens, uploads
from .api_owner import drop_keys
from .errors import ApiError
from .inputs import iso, json_body, page_args
from .policy import (
    admit_device,
    authorize,
    claim_attempt,
    device_key,
    forgive_attempt,
    load_link,
    password_params,
    peek_attempts,
    spend_challenge,
)

bp = Blueprint("public", __name__, url_prefix="/api/links")


def public_info(link: db.Link) -> dict:
    """All that someone who knows only the link id may learn."""
    return {
        "link_id": link.id,
        "format": crypto.FORMAT_VERSION,
        "password": password_params(link),
        "expires_at": iso(link.expires_at),
        "downloads": link.downloads,
        "uploads": link.uploads,
        "upload_only": link.upload_only,
        "hold_uploads": link.hold_uploads,
        # Whether the page offers comments: 'off', 'on', or 'held' (a visitor's wait for the owner's approval).
        "comments": link.comments,
        "device_limit": link.device_limit,
        # So that a new device hears that no slot is left before it is asked to take one (issue 15).
        # How many devices opened a link says little, and the slot is still taken by one conditional UPDATE.
        "devices_free": None if link.device_limit is None else max(0, link.device_limit - link.devices_used),
    }


@bp.get("/<link_id>")
def info(link_id: str):
    return public_info(load_link(link_id))


@bp.post("/<link_id>/challenge")
def challenge(link_id: str):
    link = load_link(link_id)
    # Refuse here already, so a client that must wait does not run Argon2 for nothing.
    peek_attempts(link)
    return {"challenge": tokens.new_challenge(link.id), "expires_in": current_app.config["CHALLENGE_TTL"]}


@bp.post("/<link_id>/unlock")
def unlock(link_id: str):
    """The unlock of docs/format.md, "Unlock": challenge, link proof, password proof, device; in that order."""
    link = load_link(link_id)
    data = json_body()
    key = device_key(link, data)  # a malformed request is refused before it spends anything
    challenge = data.get("challenge")
    nonce = tokens.check_challenge(challenge, link.id)
    if nonce is None or not isinstance(challenge, str):  # a nonce comes only from a string challenge
        raise ApiError(401, "bad_challenge", "The unlock challenge is missing or has expired. Try again.")
    spend_challenge(nonce)  # single use: a captured challenge and proof unlock nothing a second time
    # Whoever lacks the link secret stops here, uncounted: they cannot lock the link for its recipients.
    link_verifier = link.link_verifier
    if link_verifier is not None and not crypto.verify_link_proof(link_verifier, link.id, challenge, data.get("link_proof")):
        raise ApiError(401, "bad_link_key", "This link's key is not right. Check that you copied the whole link.")
    has_password = link.pw_salt is not None
    if has_password:
        claim_attempt(link.id)
    if not crypto.verify_proof(link.verifier, link.id, challenge, data.get("proof")):
        if has_password:
            raise ApiError(401, "wrong_password", "The password is not right for this link.")
        raise ApiError(401, "bad_proof", "This link's key is not right. Check that you copied the whole link.")
    if has_password:
        forgive_attempt(link.id)
    device_id = admit_device(link, key, challenge, data.get("device_proof"))
    album = db.session().get(db.Album, link.album_id)
    # The owner may delete the album or revoke the link while this unlock runs (load_link saw it alive).
    if album is None:
        raise ApiError(404, "not_found", "This link does not exist. Check that you copied all of it.")
    # A file drop holds the album's drop key instead of its album key (docs/design.md, "File drop").
    drop = link.drop_epoch is not None
    held = link.wrapped_drop_key if drop else link.wrapped_album_key
    if held is None:
        raise ApiError(410, "revoked", "The owner has revoked this link.")
    # The owner's "last opened" and how many opens: one plain UPDATE (opens + 1 in the database, so
    # concurrent unlocks all count), not through the loaded row, so it changes nothing else.
    session = db.session()
    session.execute(
        update(db.Link)
        .where(db.Link.id == link.id)
        .values(last_opened_at=db.now(), opens=db.Link.opens + 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    answer = {
        "access_token": tokens.new_access_token(link.id, link.version, device_id),
        "expires_in": current_app.config["ACCESS_TOKEN_TTL"],
        "album_id": link.album_id,
        "info": public_info(link),
    }
    if drop:
        # Nothing that opens anything: no album key, no chain, not even the sealed metadata (the title
        # would be the one thing a guest could read if the album key ever leaked). Only the drop public
        # key, sealed under the link's wrap key so the server cannot hand out one of its own.
        answer.update(
            album_meta=None,
            wrapped_album_key=None,
            key_epoch=link.drop_epoch,
            wrapped_drop_key=crypto.b64e(held),
            drop_epoch=link.drop_epoch,
        )
        return answer
    answer.update(
        album_meta=crypto.b64e(album.meta),
        wrapped_album_key=crypto.b64e(held),
        # The wrapped key is the album's current one; older files open through the chain (docs/format.md, "Sharing").
        key_epoch=album.key_epoch,
        key_chain=epochs.key_chain(album),
        # The album's drop keys, whose secrets the album key opens: so the link's visitors open the files guests dropped.
        drop_keys=drop_keys(album.id),
    )
    return answer


def _viewer(link_id: str) -> db.Link:
    """An authorized link that may view the album."""
    link, _claims = authorize(link_id)
    if link.upload_only:
        raise ApiError(403, "upload_only", "This link is for adding photos only; it cannot show the album.")
    return link


@bp.get("/<link_id>/files")
def files(link_id: str):
    link = _viewer(link_id)
    after, limit = page_args()
    return uploads.list_files(link.album_id, after, limit, owner=False)


@bp.get("/<link_id>/files/<file_id>/blobs/<kind>")
def blob(link_id: str, file_id: str, kind: str):
    link = _viewer(link_id)
    uploads.check_kind(kind)
    if kind == "original" and not link.downloads:
        raise ApiError(403, "downloads_off", "The owner has turned off downloads for this link: only previews can be shown.")
    return uploads.serve_blob(uploads.get_file(link.album_id, file_id, shown=True), kind)


# --- guest uploads ---------------------------------------------------------------


def _uploader(link_id: str) -> db.Link:
    """An authorized link that allows uploads."""
    link, _claims = authorize(link_id)
    if not link.uploads:
        raise ApiError(403, "uploads_off", "This link does not allow adding photos.")
    return link


def _pending(link: db.Link, file_id: str) -> db.File:
    """A file this link's guests uploaded (any state)."""
    return uploads.get_file(link.album_id, file_id, complete=None, via_link=link.id)


@bp.get("/<link_id>/uploads")
def upload_limits(link_id: str):
    """The link's upload limits and what is left, in ciphertext bytes."""
    link = _uploader(link_id)
    # Abandoned reservations still hold quota until they expire; free them first.
    uploads.expire_pending(link_id=link.id)
    return {
        "max_file_size": link.max_file_size,
        "quota_files": link.quota_files,
        "quota_bytes": link.quota_bytes,
        "files_left": max(0, link.quota_files - link.files_used),
        "bytes_left": max(0, link.quota_bytes - link.bytes_used),
        "part_size": current_app.config["UPLOAD_PART_BYTES"],
    }


@bp.post("/<link_id>/files")
def reserve(link_id: str):
    link = _uploader(link_id)
    return uploads.upload_json(uploads.reserve(link.album_id, json_body(), link)), 201


@bp.put("/<link_id>/files/<file_id>/blobs/<kind>")
def put_blob(link_id: str, file_id: str, kind: str):
    link = _uploader(link_id)
    return uploads.upload_json(uploads.receive_part(_pending(link, file_id), kind))


@bp.get("/<link_id>/files/<file_id>/upload")
def upload_status(link_id: str, file_id: str):
    link = _uploader(link_id)
    return uploads.upload_json(_pending(link, file_id))


@bp.post("/<link_id>/files/<file_id>/complete")
def complete(link_id: str, file_id: str):
    link = _uploader(link_id)
    return uploads.file_json(uploads.complete(_pending(link, file_id)), owner=False)


@bp.delete("/<link_id>/files/<file_id>")
def cancel(link_id: str, file_id: str):
    link = _uploader(link_id)
    uploads.cancel(_pending(link, file_id))
    return {"deleted": True}
