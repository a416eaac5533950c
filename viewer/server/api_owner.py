"""The owner API: albums, files and links, for the holder of an owner token.

Every value here is ciphertext or a public parameter: the owner's command line
seals metadata and wraps keys before they are sent (docs/api.md, docs/format.md).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, request
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import crypto
from . import accounts, auth, db, epochs, inputs, sharedblobs, tokens, uploads
from .errors import ApiError, bad_request, not_found
from .inputs import b64_field, bool_field, check_id, int_field, iso, json_body, page_args, time_field
from .policy import password_params
from .storage import StorageError

bp = Blueprint("owner", __name__, url_prefix="/api/owner")

VERIFIER_BYTES = 32
MAX_LABEL_BYTES = 1024  # a sealed label: nonce, tag and a few hundred bytes of text
# A file drop (docs/format.md, "File drop"): the album's X25519 public key of an epoch, its secret key
# sealed under that epoch's album key, and a link's copy of the public key sealed under its wrap key.
DROP_PUBLIC_KEY_BYTES = crypto.KEY_BYTES
DROP_SECRET_BYTES = crypto.WRAPPED_KEY_BYTES
LINK_DROP_KEY_BYTES = crypto.WRAPPED_KEY_BYTES
# New comments and reactions a link's visitors may write per hour, between them (links.notes_per_hour).
DEFAULT_NOTES_PER_HOUR = 30
MAX_NOTES_PER_HOUR = 1000


@bp.before_request
def require_owner() -> None:
    """401 unless the request carries a known owner token (or, for accounts, a signed-in session)."""
    g.owner = auth.require_owner()


# --- albums --------------------------------------------------------------------


def _get(model, row_id: str, what: str):
    """A row by its v1 id: 400 for a malformed id, 404 for an unknown one."""
    check_id(row_id, f"{what} id")
    row = db.session().get(model, row_id)
    if row is None:
        raise not_found(f"This {what}")
    return row


def owned(query):
    """`query` on albums narrowed to the requester's: an account's, or (a token of no account) those of no account."""
    account_id = g.owner.account_id
    return query.where(db.Album.account_id.is_(None) if account_id is None else db.Album.account_id == account_id)


#: What each refusal of a role says, by what was asked (docs/design.md, "Sharing with people").
_NEEDS = {
    "add": "add photos to it",
    "manage": "manage who has access to it",
    "own": "do this (only the album's owner can)",
}


def get_album(album_id: str, need: str = "own") -> db.Album:
    """The album, if the requester may do `need` to it: its owner may do anything, a member what the role allows.

    Sets ``g.album_role`` ("owner" or the member's role). A member asking for more than the role gives
    gets 403 with what the role allows; anyone else gets 404, so another owner's album is not told
    apart from a missing one.
    """
    album = _get(db.Album, album_id, "album")
    account_id = g.owner.account_id
    if album.account_id == account_id:
        g.album_role = "owner"
        return album
    member = db.session().get(db.AlbumMember, (album.id, account_id)) if account_id is not None else None
    if member is None:
        raise not_found("This album")
    g.album_role = member.role
    if need not in db.ROLES[member.role]:
        raise ApiError(
            403, "role", f"You are a {member.role} of this album: you cannot {_NEEDS.get(need, 'do this')}.", role=member.role
        )
    return album


def may(permission: str) -> bool:
    """Whether the requester's role in the album just fetched by get_album gives `permission`."""
    return g.album_role == "owner" or permission in db.ROLES[g.album_role]


def _epoch(data: dict) -> int:
    """The album key epoch a client sealed under (`key_epoch`, 0 when not given)."""
    return int_field(data, "key_epoch", minimum=0, maximum=inputs.MAX_KEY_EPOCH) or 0


def check_key_epoch(album: db.Album, data: dict) -> None:
    """409 when a client seals something under an album key that is no longer the current one."""
    epoch = int_field(data, "key_epoch", minimum=0, maximum=inputs.MAX_KEY_EPOCH)
    if epoch is not None and epoch != album.key_epoch:
        raise epochs.stale_key()


def drop_keys(album_id: str) -> dict[str, dict[str, str]]:
    """The album's drop keys by epoch: each public key, and its secret sealed under that epoch's album key.

    Only whoever holds the album key of an epoch opens its secret (docs/format.md, "File drop"), so
    these go to the owner, members and viewing links, never to a file drop's guests.
    """
    rows = db.session().scalars(
        select(db.AlbumDropKey).where(db.AlbumDropKey.album_id == album_id).order_by(db.AlbumDropKey.epoch)
    )
    return {
        str(row.epoch): {"public_key": crypto.b64e(row.public_key), "sealed_secret": crypto.b64e(row.sealed_secret)}
        for row in rows
    }


def new_drop_key(data: dict) -> tuple[bytes, bytes] | None:
    """The album's new drop key a client sends (`drop_key`: public key and sealed secret), or None."""
    raw = data.get("drop_key")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_request("`drop_key` is the album's new drop key: {public_key, sealed_secret}.", "bad_field")
    return b64_field(raw, "public_key", DROP_PUBLIC_KEY_BYTES), b64_field(raw, "sealed_secret", DROP_SECRET_BYTES)


def drop_key_exists() -> ApiError:
    """409: another device made the album's drop key for this epoch first; the client reads the album again."""
    return ApiError(
        409,
        "drop_key_exists",
        "This album has a drop key for its current key already (made on another device): read the album again and use it.",
    )


def take_drop_key(album_id: str, epoch: int, given: tuple[bytes, bytes] | None) -> None:
    """In a transaction that holds the album row at `epoch` (epochs.hold): the album's drop key of it, made or found.

    With `given`, it is the album's first for the epoch (409 drop_key_exists if another device made one:
    two links sealing different public keys would split the guests' files between two keys, and the
    second pair's secret would be lost with its client); without, the album must have one already.
    The primary key (album, epoch) refuses a second even where the check above could be passed.
    """
    session = db.session()
    exists = session.scalar(
        select(db.AlbumDropKey.epoch).where(db.AlbumDropKey.album_id == album_id, db.AlbumDropKey.epoch == epoch)
    )
    if given is None:
        if exists is None:
            session.rollback()
            raise ApiError(
                409,
                "no_drop_key",
                "This album has no drop key for its current key yet: send one (`drop_key`) with the link.",
            )
        return
    if exists is not None:
        session.rollback()
        raise drop_key_exists()
    public_key, sealed_secret = given
    session.add(db.AlbumDropKey(album_id=album_id, epoch=epoch, public_key=public_key, sealed_secret=sealed_secret))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise drop_key_exists() from None


def album_json(album: db.Album, member: db.AlbumMember | None = None) -> dict:
    """An album with its counts, and the requester's copy of its key (and the older keys).

    The owner's copy is sealed under the owner's MK; a member's is sealed to the member's public key.
    The album's drop keys come too: their secrets open with the album key, which the requester has.
    """
    session = db.session()
    files, size = session.execute(
        select(
            func.count(db.File.seq),
            func.coalesce(func.sum(db.File.thumb_size + db.File.preview_size + db.File.original_size), 0),
        ).where(db.File.album_id == album.id, db.File.complete.is_(True))
    ).one()
    links = session.scalar(select(func.count()).select_from(db.Link).where(db.Link.album_id == album.id))
    return {
        "album_id": album.id,
        "meta": crypto.b64e(album.meta),
        "created_at": iso(album.created_at),
        "files": files,
        "bytes": int(size),
        "links": links,
        "owner_key": None if album.owner_key is None or member is not None else crypto.b64e(album.owner_key),
        "key_epoch": album.key_epoch,
        "key_chain": epochs.key_chain(album),
        "rekey_pending": album.rekey_pending,
        "role": "owner" if member is None else member.role,
        "member_key": None if member is None else crypto.b64e(member.sealed_key),
        "member_key_epoch": None if member is None else member.key_epoch,
        "drop_keys": drop_keys(album.id),
    }


def _owner_copy(data: dict, name: str, *, required: bool = True) -> bytes | None:
    """An account's own sealed copy of a key (docs/format.md, "Accounts"): required of accounts, refused of the rest.

    Every device of the account opens albums and re-shows links from these copies, so an account
    album or link without one could be managed only from the device that made it.
    """
    if g.owner.account_id is None:
        if data.get(name) is not None:
            raise bad_request(f"`{name}` is for albums of an account; this owner token has none.", "bad_field")
        return None
    return b64_field(data, name, crypto.WRAPPED_KEY_BYTES, required=required)


@bp.post("/albums")
def create_album():
    data = json_body()
    album_id = check_id(data.get("album_id"), "album id")
    meta = b64_field(data, "meta", max_length=current_app.config["MAX_META_BYTES"])
    owner_key = _owner_copy(data, "owner_key")
    session = db.session()
    if session.get(db.Album, album_id) is not None:
        raise ApiError(409, "exists", "An album with this id exists already.")
    album = db.Album(id=album_id, meta=meta, account_id=g.owner.account_id, owner_key=owner_key)
    session.add(album)
    session.commit()
    return album_json(album), 201


@bp.get("/albums")
def list_albums():
    albums = db.session().scalars(owned(select(db.Album)).order_by(db.Album.created_at, db.Album.id)).all()
    listed = [album_json(a) for a in albums]
    if g.owner.account_id is not None:
        from .api_activity import unread_counts  # it imports this module

        # What others did since the account last opened each album (docs/api.md, "Activity").
        unread = unread_counts(g.owner.account_id)
        for entry in listed:
            entry["unread"] = unread.get(entry["album_id"], 0)
    return {"albums": listed}


def _member(album: db.Album) -> db.AlbumMember | None:
    """The requester's membership of an album get_album let through (None for its owner)."""
    return None if g.album_role == "owner" else db.session().get(db.AlbumMember, (album.id, g.owner.account_id))


@bp.get("/albums/<album_id>")
def show_album(album_id: str):
    album = get_album(album_id, "view")
    return album_json(album, _member(album))


@bp.patch("/albums/<album_id>")
def change_album(album_id: str):
    album = get_album(album_id, "manage")
    data = json_body()
    check_key_epoch(album, data)
    album.meta = b64_field(data, "meta", max_length=current_app.config["MAX_META_BYTES"])
    db.session().commit()
    return album_json(album, _member(album))


@bp.delete("/albums/<album_id>")
def delete_album(album_id: str):
    """Delete the album with its files, links and blobs; the account gets every counted file's bytes back.

    Blobs that files in other albums still use (added here by reference, or added elsewhere from
    here) stay for them, and count for them once nothing else counts them (sharedblobs).
    """
    album = get_album(album_id)
    session = db.session()
    # Take the album row first: a write, so SQLite runs the rest alone, and on PostgreSQL a file
    # reserved meanwhile waits and then fails its foreign key (rather than being deleted by the
    # cascade without its bytes given back), and no one adds this album's files elsewhere meanwhile
    # (api_library takes the source album's row FOR SHARE).
    held = session.execute(update(db.Album).where(db.Album.id == album.id).values(key_epoch=db.Album.key_epoch))
    if db.rowcount(held) != 1:
        session.rollback()
        raise not_found("This album")  # a concurrent delete won
    ledger, unused, kept_here = sharedblobs.Ledger(), [], False
    for seq, file_id, folder in _shared_files(album.id):
        users = sharedblobs.lock(folder, file_id, 0)
        gone = session.execute(delete(db.File).where(db.File.seq == seq).returning(db.File.charged, sharedblobs.TOTAL)).first()
        if gone is None:  # its own deletion committed first, and counted it
            sharedblobs.set_users(folder, file_id, users)
            continue
        if gone[0]:
            ledger.add(album.id, -int(gone[1]))
        if sharedblobs.remove_user(folder, file_id, users, bool(gone[0]), ledger) == 0:
            unused.append(f"{folder}/{file_id}")
        elif folder == album.id:
            kept_here = True  # others still use blobs in this album's folder
    # Rows first, blobs second: a crash in between leaves only blobs that no row points
    # to, which `flask cleanup` removes, never a listed file whose bytes are gone.
    # RETURNING names exactly the rows this statement deleted (SQLite 3.35+, PostgreSQL).
    files = session.execute(
        delete(db.File)
        .where(db.File.album_id == album.id)
        .returning(db.File.id, db.File.state, db.File.charged, sharedblobs.TOTAL)
    ).all()
    ledger.add(album.id, -sum(int(size) for _id, _state, charged, size in files if charged))
    ledger.apply()
    session.execute(delete(db.Link).where(db.Link.album_id == album.id))
    session.execute(delete(db.Album).where(db.Album.id == album.id))
    session.commit()
    store = uploads.store()
    try:
        for prefix in unused:
            store.delete_prefix(prefix)
        # Only unfinished files have parts in staging: one listing each, not one per photo of a large album.
        for file_id, state, _charged, _size in files:
            if state != "complete":
                store.delete_prefix(f"staging/{file_id}")
            if kept_here:
                store.delete_prefix(f"{album.id}/{file_id}")
        if not kept_here:
            store.delete_prefix(album.id)
    except StorageError:
        # The album is gone (its rows are): answering 500 would tell the owner's tool it is not and
        # keep its key. What is left in the store, no row points to; `flask cleanup` removes it.
        current_app.logger.exception("album %s deleted; some of its blobs remain for `flask cleanup`", album.id)
    return {"deleted": True}


def _shared_files(album_id: str) -> list[tuple[int, str, str]]:
    """The album's files whose blobs other rows may use (seq, id, folder), in the order folders are locked in."""
    shares = select(db.BlobRef.file_id).where(db.BlobRef.album_id == album_id, db.BlobRef.file_id == db.File.id)
    rows = db.session().execute(
        select(db.File.seq, db.File.id, sharedblobs.FOLDER).where(
            db.File.album_id == album_id, or_(db.File.blob_album.is_not(None), shares.exists())
        )
    )
    return sorted(((seq, file_id, folder) for seq, file_id, folder in rows), key=lambda row: (row[2], row[1]))


@bp.post("/albums/<album_id>/import")
def import_album(album_id: str):
    """Move an album of no account (made with an owner token before accounts) into the requester's account.

    The request proves both sides: the account by its session or token, the album by the owner
    token of no account that manages it (`owner_token`). It brings the account's sealed copies of
    the album key and of every live link's secret, and the album's bytes start counting against
    the account's quota, all in one transaction.
    """
    account_id = g.owner.account_id
    if account_id is None:
        raise ApiError(403, "needs_account", "Sign in to the account to move this album into.")
    data = json_body()
    given = data.get("owner_token")
    digest = tokens.hash_owner_token(given) if isinstance(given, str) and len(given) < 200 else ""
    session = db.session()
    legacy = session.get(db.OwnerToken, digest) if digest else None
    if legacy is None or legacy.account_id is not None:
        raise ApiError(403, "bad_token", "This is not an owner token of this server's albums of no account.")
    check_id(album_id, "album id")
    owner_key = b64_field(data, "owner_key", crypto.WRAPPED_KEY_BYTES)
    secrets = data.get("links") or {}
    if not isinstance(secrets, dict):
        raise bad_request("`links` maps link ids to their owner_secret.", "bad_field")
    album = session.scalar(select(db.Album).where(db.Album.id == album_id, db.Album.account_id.is_(None)).with_for_update())
    if album is None:
        raise not_found("This album")
    links = session.scalars(select(db.Link).where(db.Link.album_id == album.id, db.Link.revoked_at.is_(None))).all()
    for link in links:
        link.owner_secret = b64_field(secrets, link.id, crypto.WRAPPED_KEY_BYTES)
    total = session.scalar(
        select(func.coalesce(func.sum(sharedblobs.TOTAL), 0)).where(
            db.File.album_id == album.id,
            db.File.charged.is_(True),  # a reference counts for whoever keeps the original (sharedblobs)
        )
    )
    if not accounts.take_bytes(account_id, int(total or 0)):
        session.rollback()
        raise uploads.account_full(account_id, int(total or 0), what="album")
    album.account_id = account_id
    album.owner_key = owner_key
    session.commit()
    return album_json(album)


# --- files ---------------------------------------------------------------------


@bp.post("/albums/<album_id>/files")
def reserve_file(album_id: str):
    album = get_album(album_id, "add")
    file = uploads.reserve(album.id, json_body(), link=None, added_by=g.owner.account_id)
    return uploads.upload_json(file), 201


def _own_file(album: db.Album, file_id: str, *, complete: bool | None = None) -> db.File:
    """A file the requester may change: any for the owner and admins, a collaborator's own otherwise.

    Another's file is 403 for a collaborator, not 404, since it is in the listing they see.
    """
    file = uploads.get_file(album.id, file_id, complete=complete)
    if not may("manage") and (file.added_by is None or file.added_by != g.owner.account_id):
        raise ApiError(403, "role", "You can change only the photos you added to this album.", role=g.album_role)
    return file


@bp.put("/albums/<album_id>/files/<file_id>/blobs/<kind>")
def put_blob(album_id: str, file_id: str, kind: str):
    album = get_album(album_id, "add")
    return uploads.upload_json(uploads.receive_part(_own_file(album, file_id), kind))


@bp.get("/albums/<album_id>/files/<file_id>/upload")
def upload_status(album_id: str, file_id: str):
    album = get_album(album_id, "add")
    return uploads.upload_json(_own_file(album, file_id))


@bp.post("/albums/<album_id>/files/<file_id>/complete")
def complete_file(album_id: str, file_id: str):
    album = get_album(album_id, "add")
    file = uploads.complete(_own_file(album, file_id))
    return uploads.file_json(file, owner=True)


@bp.delete("/albums/<album_id>/files/<file_id>")
def delete_file(album_id: str, file_id: str):
    album = get_album(album_id, "add")
    uploads.delete_file(_own_file(album, file_id))
    return {"deleted": True}


@bp.post("/albums/<album_id>/files/<file_id>/approve")
def approve_file(album_id: str, file_id: str):
    """Show a guest's held file to the link's visitors (one conditional UPDATE; approving twice is harmless)."""
    album = get_album(album_id, "manage")
    file = uploads.get_file(album.id, file_id)
    session = db.session()
    session.execute(
        update(db.File)
        .where(db.File.id == file.id, db.File.held.is_(True))
        .values(held=False)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(file)
    return uploads.file_json(file, owner=True)


@bp.get("/albums/<album_id>/files")
def list_files(album_id: str):
    """The album's files; files held for approval only for those who may approve them (owner, admins)."""
    album = get_album(album_id, "view")
    after, limit = page_args()
    source = request.args.get("source", "all")
    if source not in ("all", "guest"):
        raise bad_request("`source` is `all` or `guest`.", "bad_query")
    return uploads.list_files(album.id, after, limit, owner=may("manage"), guests_only=source == "guest", people=True)


@bp.get("/albums/<album_id>/files/<file_id>/blobs/<kind>")
def get_blob(album_id: str, file_id: str, kind: str):
    album = get_album(album_id, "view")
    uploads.check_kind(kind)
    return uploads.serve_blob(uploads.get_file(album.id, file_id, shown=not may("manage")), kind)


# --- links ---------------------------------------------------------------------


def public_base() -> str:
    """The site's address as links and invitations print it, without a trailing slash."""
    return (current_app.config["PUBLIC_URL"] or request.host_url).rstrip("/")


def link_url(link_id: str) -> str:
    """The link's address without its fragment (the owner's tool appends the key)."""
    return f"{public_base()}/a/{link_id}"


def link_json(link: db.Link) -> dict:
    """A link as its owner sees it."""
    return {
        "link_id": link.id,
        "album_id": link.album_id,
        "url": link_url(link.id),
        "created_at": iso(link.created_at),
        "expires_at": iso(link.expires_at),
        "revoked_at": iso(link.revoked_at),
        "password": password_params(link),
        "device_limit": link.device_limit,
        "devices_used": link.devices_used,
        "downloads": link.downloads,
        "uploads": link.uploads,
        "upload_only": link.upload_only,
        "hold_uploads": link.hold_uploads,
        "comments": link.comments,
        "notes_per_hour": link.notes_per_hour,
        "quota_files": link.quota_files,
        "quota_bytes": link.quota_bytes,
        "max_file_size": link.max_file_size,
        "files_used": link.files_used,
        "bytes_used": link.bytes_used,
        "version": link.version,
        "owner_secret": None if link.owner_secret is None else crypto.b64e(link.owner_secret),
        "owner_label": None if link.owner_label is None else crypto.b64e(link.owner_label),
        "owner_wrap_key": None if link.owner_wrap_key is None else crypto.b64e(link.owner_wrap_key),
        "last_opened_at": iso(link.last_opened_at),
        # A file drop holds the album's drop public key of drop_epoch, never the album key.
        "drop": link.drop_epoch is not None,
        "drop_epoch": link.drop_epoch,
    }


def _password(data: dict) -> crypto.PasswordParams | None:
    raw = data.get("password")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_request("`password` must be the Argon2id parameters or null.", "bad_field")
    try:
        return crypto.PasswordParams.from_json(raw)
    except crypto.FormatError as exc:
        raise bad_request(f"The password parameters are not valid: {exc}.", "bad_field") from None


def _drop(data: dict) -> tuple[bytes, int] | None:
    """A file drop's key (`drop`: the album's drop public key sealed under the link's wrap key, and its epoch), or None."""
    raw = data.get("drop")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_request("`drop` is a file drop's key: {wrapped_drop_key, epoch}.", "bad_field")
    wrapped = b64_field(raw, "wrapped_drop_key", LINK_DROP_KEY_BYTES)
    epoch = int_field(raw, "epoch", minimum=0, maximum=inputs.MAX_KEY_EPOCH)
    if epoch is None:
        raise bad_request("`drop` must name the album key `epoch` its drop key is of.", "missing_field")
    return wrapped, epoch


def _link_keys(link: db.Link, data: dict, *, creating: bool) -> None:
    """The key the link holds: the album key wrapped under its wrap key, or for a file drop the album's drop key.

    A file drop's guests get no album key at all (docs/design.md, "File drop"); a link stays what it
    was made as, so a password change of a drop sends `drop` again and never an album key.
    """
    drop = _drop(data)
    if not creating and (drop is not None) != (link.drop_epoch is not None):
        if link.drop_epoch is not None:
            raise bad_request("This link is a file drop: its new keys carry `drop`, never an album key.", "bad_field")
        raise bad_request("This link shows the album: make a new link for a file drop.", "bad_field")
    if drop is None:
        link.wrapped_album_key = b64_field(data, "wrapped_album_key", crypto.WRAPPED_KEY_BYTES)
        return
    if data.get("wrapped_album_key") is not None:
        raise bad_request("A file drop holds no album key: send `drop` or `wrapped_album_key`, not both.", "bad_field")
    link.wrapped_album_key = None
    link.wrapped_drop_key, link.drop_epoch = drop


def _apply_settings(link: db.Link, data: dict, *, creating: bool) -> None:
    """Copy the settings present in `data` onto the link, checked."""
    config = current_app.config
    if creating or "password" in data:
        params = _password(data)
        _link_keys(link, data, creating=creating)
        link.verifier = b64_field(data, "verifier", VERIFIER_BYTES)
        # The link proof's key depends on the link secret alone: required for a new link, and a
        # password change may send it to upgrade a link made before it (docs/format.md, "Link proof").
        link_verifier = b64_field(data, "link_verifier", VERIFIER_BYTES, required=creating)
        if link_verifier is not None:
            link.link_verifier = link_verifier
        # The owner's copy of the wrap key, so a new album key can be wrapped for this link without
        # its password (docs/format.md, "Sharing"); a new password makes a new wrap key.
        link.owner_wrap_key = _owner_copy(data, "owner_wrap_key", required=False)
        link.pw_salt = params.salt if params else None
        link.pw_opslimit = params.opslimit if params else None
        link.pw_memlimit = params.memlimit if params else None
    elif any(name in data for name in ("wrapped_album_key", "drop", "drop_key", "verifier", "link_verifier")):
        raise bad_request("A new wrapped key and verifiers come only with `password` (null for none).", "bad_field")
    if creating or "expires_at" in data:
        link.expires_at = time_field(data, "expires_at")
    if creating or "device_limit" in data:
        link.device_limit = int_field(data, "device_limit", minimum=1, maximum=inputs.MAX_DEVICE_LIMIT)
    for name, default in (("downloads", True), ("uploads", False), ("upload_only", False), ("hold_uploads", False)):
        if creating or name in data:
            setattr(link, name, bool_field(data, name, default))
    limits = (
        ("quota_files", "GUEST_QUOTA_FILES", inputs.MAX_QUOTA_FILES),
        ("quota_bytes", "GUEST_QUOTA_BYTES", inputs.MAX_BYTES),
        ("max_file_size", "GUEST_MAX_FILE_BYTES", inputs.MAX_BYTES),
    )
    for name, setting, maximum in limits:
        if creating or name in data:
            value = int_field(data, name, minimum=0, maximum=maximum)
            setattr(link, name, config[setting] if value is None else value)
    # Visitors' comments and reactions (docs/design.md, "Comments and reactions"): off unless the owner says.
    if creating or "comments" in data:
        comments = data.get("comments", "off")
        if comments not in db.LINK_COMMENTS:
            raise bad_request("`comments` is one of off, on and held.", "bad_field")
        link.comments = comments
    if creating or "notes_per_hour" in data:
        per_hour = int_field(data, "notes_per_hour", minimum=1, maximum=MAX_NOTES_PER_HOUR, default=DEFAULT_NOTES_PER_HOUR)
        link.notes_per_hour = DEFAULT_NOTES_PER_HOUR if per_hour is None else per_hour
    if "owner_label" in data:
        if g.owner.account_id is None and data["owner_label"] is not None:
            raise bad_request("`owner_label` is for links of an account; this owner token has none.", "bad_field")
        link.owner_label = b64_field(data, "owner_label", max_length=MAX_LABEL_BYTES, required=False)
    if link.drop_epoch is not None and not link.upload_only:
        raise bad_request("A file drop holds no album key, so it can only add photos: `upload_only` must be true.", "bad_field")
    if link.upload_only and not link.uploads:
        raise bad_request("An upload-only link must allow uploads.", "bad_field")


def _hold_link_keys(link: db.Link, album_id: str, data: dict, drop_key: tuple[bytes, bytes] | None) -> None:
    """Take the album row at the epoch the link's new key is of (epochs.hold): 409 stale_key if it is not the current one.

    For a file drop, the album's drop key of that epoch is then found, or made from `drop_key`
    (take_drop_key), in the same transaction as the link.
    """
    if link.drop_epoch is None:
        if drop_key is not None:
            raise bad_request("`drop_key` comes only with a file drop's `drop`.", "bad_field")
        epochs.hold(album_id, _epoch(data))
        return
    epoch = link.drop_epoch
    if int_field(data, "key_epoch", minimum=0, maximum=inputs.MAX_KEY_EPOCH) not in (None, epoch):
        raise bad_request("`key_epoch` and the drop's `epoch` must be the same.", "bad_field")
    epochs.hold(album_id, epoch)
    take_drop_key(album_id, epoch, drop_key)


@bp.post("/albums/<album_id>/links")
def create_link(album_id: str):
    album = get_album(album_id)
    data = json_body()
    link_id = check_id(data.get("link_id"), "link id")
    session = db.session()
    if session.get(db.Link, link_id) is not None:
        raise ApiError(409, "exists", "A link with this id exists already.")
    link = db.Link(
        id=link_id,
        album_id=album.id,
        devices_used=0,
        files_used=0,
        bytes_used=0,
        version=1,
        owner_secret=_owner_copy(data, "owner_secret"),
    )
    _apply_settings(link, data, creating=True)
    drop_key = new_drop_key(data)
    # The link wraps the album's current key (or its drop key): one sealed under an older key would open nothing new.
    _hold_link_keys(link, album.id, data, drop_key)
    session.add(link)
    session.commit()
    return link_json(link), 201


@bp.get("/albums/<album_id>/links")
def list_links(album_id: str):
    album = get_album(album_id)
    links = db.session().scalars(select(db.Link).where(db.Link.album_id == album.id).order_by(db.Link.created_at, db.Link.id))
    return {"links": [link_json(link) for link in links]}


def get_link(link_id: str) -> db.Link:
    """A link of any state (the owner may see revoked and expired ones) of the requester's albums, or 404."""
    link = _get(db.Link, link_id, "link")
    if db.session().scalar(select(db.Album.account_id).where(db.Album.id == link.album_id)) != g.owner.account_id:
        raise not_found("This link")
    return link


@bp.patch("/links/<link_id>")
def change_link(link_id: str):
    link = get_link(link_id)
    if link.revoked_at is not None:
        raise ApiError(410, "revoked", "This link is revoked; create a new one instead.")
    data = json_body()
    _apply_settings(link, data, creating=False)
    # Any change makes every access token stale, so it applies on the next request.
    link.version += 1
    session = db.session()
    if "password" in data:  # a new wrapped album key (or drop key): under the album's current key
        _hold_link_keys(link, link.album_id, data, new_drop_key(data))
    if "password" in data:
        # A new password admits devices afresh: a copied device key or old token does not survive it.
        session.execute(delete(db.LinkDevice).where(db.LinkDevice.link_id == link.id))
        link.devices_used = 0
    session.commit()
    if not link.uploads:
        uploads.abort_link_uploads(link.id)
    return link_json(link)


@bp.delete("/links/<link_id>")
def revoke_link(link_id: str):
    link = get_link(link_id)
    if link.revoked_at is None:
        # Deleting the wrapped album key makes the link useless even to someone who kept
        # its fragment and the server's data (docs/design.md, "Link policy, enforced by the server").
        link.revoked_at = db.now()
        link.wrapped_album_key = None
        link.wrapped_drop_key = None
        link.version += 1
        db.session().commit()
        uploads.abort_link_uploads(link.id)
    return link_json(link)
