"""Adding photos one can see to one's own albums: by reference, or as a copy (issue 13, "Organize what others shared").

The person's client opens each file key with the source album's key and wraps it under the target
album's current key, and seals the file's metadata again for the target; the server never sees a
key. By reference, the new row points at the source's blobs (sharedblobs: no byte is copied and
nothing counts against storage while the original counts); as a copy, the store copies the blobs
into the target's own folder and they count at once against the target owner's storage.
docs/design.md, "Adding shared photos to one's own albums"; docs/api.md has the route.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g
from sqlalchemy import select, update

from .. import crypto
from . import accounts, auth, db, epochs, inputs, sharedblobs, uploads
from .api_owner import get_album
from .errors import ApiError, bad_request, not_found
from .inputs import b64_field, bool_field, check_id, int_field, json_body
from .storage import BlobNotFound, StorageError, StorageFull

bp = Blueprint("library", __name__, url_prefix="/api/owner")

#: Files per request (static/js/owner/add-to-album.js sends batches of this size).
MAX_BATCH = 100


@bp.before_request
def require_owner() -> None:
    g.owner = auth.require_owner()


def _entries(data: dict) -> list[tuple[str, bytes, bytes]]:
    """The files asked for: (id, key wrapped under the target album's key, metadata sealed for it)."""
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise bad_request("`files` must list the photos to add.", "bad_field")
    if len(files) > MAX_BATCH:
        raise bad_request(f"At most {MAX_BATCH} photos can be added in one request.", "too_many")
    entries, seen = [], set()
    for entry in files:
        if not isinstance(entry, dict):
            raise bad_request("Each entry of `files` must be an object with id, wrapped_key and meta.", "bad_field")
        file_id = check_id(entry.get("id"), "file id")
        if file_id in seen:
            raise bad_request("A photo is listed twice.", "bad_field")
        seen.add(file_id)
        wrapped_key = b64_field(entry, "wrapped_key", crypto.WRAPPED_KEY_BYTES)
        meta = b64_field(entry, "meta", max_length=current_app.config["MAX_META_BYTES"])
        entries.append((file_id, wrapped_key, meta))
    return entries


@bp.post("/albums/<album_id>/references")
def add_files(album_id: str):
    """Add complete files of `source_album` (which the requester can see) to this album (which they can add to)."""
    data = json_body(limit=_body_limit())
    source = get_album(check_id(data.get("source_album"), "source album id"), "view")
    target = get_album(album_id, "add")  # last: g.album_role is the requester's role in the target
    epoch = int_field(data, "key_epoch", minimum=0, maximum=inputs.MAX_KEY_EPOCH)
    if epoch is None:
        raise bad_request("The field 'key_epoch' is missing: the target album's key epoch the keys are wrapped under.")
    copy = bool_field(data, "copy", False)
    entries = _entries(data)
    target_id, source_id, caller = target.id, source.id, g.owner.account_id
    if copy:
        return _add_copies(target_id, source_id, epoch, entries, caller)
    return _add_references(target_id, source_id, epoch, entries, caller)


def _body_limit() -> int:
    """Room for a full batch: each file's metadata may be as large as any file's (as base64), plus its key and id."""
    meta = current_app.config["MAX_META_BYTES"]
    return max(current_app.config["MAX_JSON_BYTES"], MAX_BATCH * (meta * 4 // 3 + 512))


def _hold(target_id: str, source_id: str, epoch: int) -> None:
    """Take both albums' rows, in id order so that two requests never wait for each other in a circle.

    The target's at the epoch the keys are wrapped under (epochs.hold: a new key commits before or
    after this transaction); the source's FOR SHARE (PostgreSQL), so that deleting it waits for
    this transaction, or happens first and its files are not found. SQLite runs one writer at a time,
    and epochs.hold is that transaction's first write.
    """
    session = db.session()
    for album_id in sorted({target_id, source_id}):
        if album_id == target_id:
            epochs.hold(target_id, epoch)
        elif session.get_bind().dialect.name == "postgresql":
            found = session.scalar(select(db.Album.id).where(db.Album.id == album_id).with_for_update(read=True))
            if found is None:
                session.rollback()
                raise not_found("The album these photos are in")


def _sources(source_id: str, ids: list[str]) -> dict[str, db.File]:
    """The complete files of the source album with these ids, shown to everyone who can see it (not held)."""
    rows = db.session().scalars(
        select(db.File).where(
            db.File.album_id == source_id, db.File.id.in_(ids), db.File.state == "complete", db.File.held.is_(False)
        )
    )
    found = {row.id: row for row in rows}
    missing = [file_id for file_id in ids if file_id not in found]
    if missing:
        db.session().rollback()
        raise ApiError(
            404,
            "not_found",
            f"{_count(len(missing))} not in that album any more (deleted, or not finished yet): reload it and try again.",
            missing=missing,
        )
    return found


def _count(n: int) -> str:
    return "1 photo is" if n == 1 else f"{n} photos are"


def _present(target_id: str, ids: list[str]) -> set[str]:
    return set(db.session().scalars(select(db.File.id).where(db.File.album_id == target_id, db.File.id.in_(ids))))


def _row(source: db.File, target_id: str, wrapped_key: bytes, meta: bytes, epoch: int, caller: str | None, **fields) -> db.File:
    return db.File(
        id=source.id,
        album_id=target_id,
        wrapped_key=wrapped_key,
        meta=meta,
        key_epoch=epoch,
        added_by=caller,
        thumb_size=source.thumb_size,
        preview_size=source.preview_size,
        original_size=source.original_size,
        thumb_received=source.thumb_size,
        preview_received=source.preview_size,
        original_received=source.original_size,
        **fields,
    )


def _add_references(target_id: str, source_id: str, epoch: int, entries, caller: str | None):
    """New rows that use the source rows' blobs, each counted under its folder's lock; nothing is charged."""
    session = db.session()
    _hold(target_id, source_id, epoch)
    ids = [file_id for file_id, _key, _meta in entries]
    already = _present(target_id, ids)
    new = [entry for entry in entries if entry[0] not in already]
    sources = _sources(source_id, [file_id for file_id, _key, _meta in new])
    by_folder = sorted(new, key=lambda entry: (sharedblobs.folder_of(sources[entry[0]]), entry[0]))
    for file_id, wrapped_key, meta in by_folder:
        source = sources[file_id]
        folder = sharedblobs.folder_of(source)
        sharedblobs.lock(folder, file_id, 1)
        # A deletion of the source row takes the same lock: it came first (the row is gone, and the
        # count just made is wrong) or waits for this transaction.
        still = session.scalar(select(db.File.seq).where(db.File.seq == source.seq, db.File.state == "complete"))
        if still is None:
            session.rollback()
            raise ApiError(404, "not_found", "A photo was deleted while it was being added: reload the album and try again.")
        fields = {"state": "complete", "complete": True, "blob_album": folder, "charged": False}
        session.add(_row(source, target_id, wrapped_key, meta, epoch, caller, **fields))
    session.commit()
    return _answer(new, already, ids), 201


def _answer(new, already: set[str], ids: list[str]) -> dict:
    return {"added": [entry[0] for entry in new], "already": [file_id for file_id in ids if file_id in already]}


def _add_copies(target_id: str, source_id: str, epoch: int, entries, caller: str | None):
    """Charge the target's owner, reserve the rows, copy the blobs in the store, then show the rows.

    The rows are pending while the store copies (a crash leaves a reservation that expires and
    gives its bytes back, like an unfinished upload; `flask cleanup` removes the copied blobs).
    """
    session = db.session()
    _hold(target_id, source_id, epoch)
    ids = [file_id for file_id, _key, _meta in entries]
    already = _present(target_id, ids)
    new = [entry for entry in entries if entry[0] not in already]
    sources = _sources(source_id, [file_id for file_id, _key, _meta in new])
    total = sum(sources[file_id].total_size for file_id, _key, _meta in new)
    account_id = session.scalar(select(db.Album.account_id).where(db.Album.id == target_id))
    if new and account_id is not None and not accounts.take_bytes(account_id, total):
        session.rollback()
        what = "copy" if len(new) == 1 else f"copy of {len(new)} photos"
        raise uploads.account_full(account_id, total, guest=account_id != caller, what=what)
    expires = db.now() + current_app.config["UPLOAD_TTL"]
    rows = []
    for file_id, wrapped_key, meta in new:
        fields = {"state": "pending", "complete": False, "expires_at": expires}
        row = _row(sources[file_id], target_id, wrapped_key, meta, epoch, caller, **fields)
        session.add(row)
        rows.append(row)
    keys = {file_id: sharedblobs.folder_of(sources[file_id]) for file_id, _key, _meta in new}
    session.commit()
    copied: list[str] = []
    try:
        store = uploads.store()
        for row in rows:
            for kind in uploads.KINDS:
                destination = uploads.blob_key(row, kind)
                store.copy(f"{keys[row.id]}/{row.id}/{kind}", destination)
                copied.append(destination)
    except (BlobNotFound, StorageError) as error:
        _undo(rows, copied)
        if isinstance(error, BlobNotFound):
            raise ApiError(
                404, "not_found", "A photo was deleted while it was being copied: reload the album, try again."
            ) from None
        if isinstance(error, StorageFull):
            raise ApiError(507, "storage_full", uploads.STORAGE_FULL) from None
        current_app.logger.exception("copying into album %s failed", target_id)
        raise ApiError(503, "store_unavailable", "The server could not copy the photos just now: try again soon.") from None
    shown = db.rowcount(
        session.execute(
            update(db.File)
            .where(db.File.seq.in_([row.seq for row in rows]), db.File.state == "pending")
            .values(state="complete", complete=True, expires_at=None)
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    if shown != len(rows):  # the album, or a reservation, went meanwhile: what is left of it goes too
        _undo(rows, copied)
        raise ApiError(404, "not_found", "The album changed while the photos were being copied: reload it and try again.")
    return _answer(new, already, ids), 201


def _undo(rows: list[db.File], copied: list[str]) -> None:
    """Give back what a failed copy took: its rows (and their bytes), then the blobs it copied."""
    for row in rows:
        uploads.abort(row)
    for key in copied:
        uploads.store().delete(key)
