"""Files: reserve, send in parts, complete; list and serve. Shared by owner and guests.

A file becomes visible only when complete. Until then its blobs live as parts
under ``staging/`` in the blob store, and its row is invisible to listings. A
reservation that is not completed within UPLOAD_TTL is deleted with its parts
and, for a guest, gives its quota back, so an interrupted upload never counts
against the quota for good.

Guest quota is reserved up front with one conditional UPDATE, so it is enforced
before a byte of the file is sent and cannot be overrun by parallel uploads.

Every change of a file's state is one conditional statement that only one
request can win, whatever the number of workers and servers (db.FILE_STATES):
``pending -> completing`` (UPDATE ... WHERE state = 'pending'), ``completing ->
complete`` (WHERE the finishing request still holds its lease), and ``pending ->
aborted`` (DELETE ... WHERE state = 'pending'). Only the winner touches quota or
blobs, so quota is given back exactly once. The blob store is written first and
claimed second: a part goes to a key of its own, and the request whose UPDATE
moves ``received`` on keeps it; a loser deletes only its own key. What a crash
leaves behind (a part nobody claimed, blobs of a row that is gone) is removed
by ``flask cleanup`` (viewer/server/commands.py).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Iterator

from flask import Response, current_app, request
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import ObjectDeletedError

from .. import crypto
from . import accounts, db, epochs, inputs, sharedblobs
from .errors import ApiError, bad_request
from .inputs import b64_field, check_id, int_field, iso
from .storage import READ_PIECE, BlobNotFound, StorageFull

KINDS = ("thumb", "preview", "original")
MIN_BLOB_BYTES = crypto.BLOB_HEADER_BYTES + crypto.TAG_BYTES


def store():
    """The app's blob store."""
    return current_app.extensions["fragment.store"]


def blob_key(file: db.File, kind: str) -> str:
    """Where a complete blob lives: in its own album's folder, or the folder a reference points at."""
    return f"{sharedblobs.folder_of(file)}/{file.id}/{kind}"


def staging_prefix(file: db.File, kind: str | None = None) -> str:
    """Where the parts of a pending blob live."""
    return f"staging/{file.id}" + (f"/{kind}" if kind else "")


def check_kind(kind: str) -> str:
    """One of thumb, preview, original."""
    if kind not in KINDS:
        raise ApiError(404, "not_found", "Blobs are named thumb, preview or original.")
    return kind


def file_json(file: db.File, *, owner: bool, people: dict[str, str] | None = None) -> dict:
    """A complete file as the listings show it; with `people` (account id -> e-mail), who added it."""
    data = {
        "file_id": file.id,
        "wrapped_key": crypto.b64e(file.wrapped_key),
        "key_epoch": file.key_epoch,
        "meta": crypto.b64e(file.meta),
        "blobs": {kind: getattr(file, f"{kind}_size") for kind in KINDS},
        "created_at": iso(file.created_at),
        "guest": file.via_link is not None,
        # wrapped_key is sealed to the album's drop key of key_epoch, not under its album key (docs/format.md, "File drop").
        "drop": file.drop,
    }
    if owner:
        data["uploaded_via"] = file.via_link
        data["held"] = file.held
    if people is not None:
        added_by = file.added_by
        data["added_by"] = None if added_by is None else {"account_id": added_by, "email": people.get(added_by)}
    return data


def upload_json(file: db.File) -> dict:
    """Where a pending upload stands, so a client can resume."""
    return {
        "file_id": file.id,
        "state": file.state,
        "blobs": {kind: {"size": getattr(file, f"{kind}_size"), "received": getattr(file, f"{kind}_received")} for kind in KINDS},
        "expires_at": iso(file.expires_at),
        "part_size": current_app.config["UPLOAD_PART_BYTES"],
    }


def get_file(
    album_id: str, file_id: str, *, complete: bool | None = True, via_link: str | None = None, shown: bool = False
) -> db.File:
    """A file of the album, or 404; with `shown`, only one the link's visitors may see (not held for approval)."""
    check_id(file_id, "file id")
    query = select(db.File).where(db.File.id == file_id, db.File.album_id == album_id)
    if shown:
        query = query.where(db.File.held.is_(False))
    if complete is not None:
        query = query.where(db.File.complete == complete)
    if via_link is not None:
        query = query.where(db.File.via_link == via_link)
    file = db.session().scalars(query).first()
    if file is None:
        raise ApiError(404, "not_found", "This file does not exist (or is not uploaded yet).")
    return file


def list_files(album_id: str, after: int, limit: int, *, owner: bool, guests_only: bool = False, people: bool = False) -> dict:
    """One page of complete files in stable order: keyset pagination on (album, seq).

    Visitors (not `owner`) do not see files held for the owner's approval. With `people` (the
    owner's and members' listing), each file says which account added it, with its e-mail address
    (None once that account is gone).
    """
    query = select(db.File).where(db.File.album_id == album_id, db.File.complete.is_(True), db.File.seq > after)
    if not owner:
        query = query.where(db.File.held.is_(False))
    if guests_only:
        query = query.where(db.File.via_link.is_not(None))
    rows = db.session().scalars(query.order_by(db.File.seq).limit(limit + 1)).all()
    page = rows[:limit]
    emails: dict[str, str] | None = None
    if people:
        ids = {f.added_by for f in page if f.added_by is not None}
        found = db.session().execute(select(db.Account.id, db.Account.email).where(db.Account.id.in_(ids))) if ids else ()
        emails = {row[0]: row[1] for row in found}
    return {
        "files": [file_json(f, owner=owner, people=emails) for f in page],
        "next": str(page[-1].seq) if len(rows) > limit else None,
    }


# --- reserve -------------------------------------------------------------------


def reserve(album_id: str, data: dict, link: db.Link | None, added_by: str | None = None) -> db.File:
    """Create a pending file; for a guest, take its quota atomically first.

    The file key must be wrapped under the album's current key (`key_epoch`, 0 if not given): the
    check takes the album row's lock in the same transaction as the insert, so a new album key
    (api_sharing.rekey) commits either before this file (and it is refused) or after it (and the
    file, under the old key, was there before anyone lost access).

    Through a file drop (a link with a drop_epoch), the guest holds no album key: the file key is
    sealed to the album's drop key of the link's epoch (crypto_box_seal, 138 bytes), and the same
    hold makes a new album key (which gives the link a new drop key) come before or after it.
    """
    config = current_app.config
    file_id = check_id(data.get("file_id"), "file id")
    drop = link is not None and link.drop_epoch is not None
    try:
        wrapped_key = b64_field(data, "wrapped_key", crypto.DROP_FILE_KEY_BYTES if drop else crypto.WRAPPED_KEY_BYTES)
    except ApiError as exc:
        if not drop or exc.code != "bad_field":
            raise
        raise bad_request(
            f"This link is a file drop: each file's key must be sealed to the album's drop key "
            f"({crypto.DROP_FILE_KEY_BYTES} bytes), not wrapped under an album key.",
            "bad_field",
        ) from None
    meta = b64_field(data, "meta", max_length=config["MAX_META_BYTES"])
    blobs = data.get("blobs")
    if not isinstance(blobs, dict) or set(blobs) != set(KINDS):
        raise bad_request("`blobs` must give the sizes of thumb, preview and original.", "bad_field")
    given = {kind: int_field(blobs, kind, minimum=MIN_BLOB_BYTES) for kind in KINDS}
    sizes = {kind: size for kind, size in given.items() if size is not None}
    if len(sizes) != len(given):
        raise bad_request("`blobs` must give the size in bytes of thumb, preview and original, not null.", "bad_field")
    max_file = link.max_file_size if link else config["MAX_FILE_BYTES"]
    if sizes["original"] > max_file:
        raise ApiError(
            413, "file_too_large", f"This file is {_mb(sizes['original'])}; the largest file allowed here is {_mb(max_file)}."
        )
    if sizes["thumb"] > max_file or sizes["preview"] > max_file:
        raise ApiError(413, "file_too_large", "The thumbnail or preview is larger than the file size limit.")
    total = sum(sizes.values())
    key_epoch = int_field(data, "key_epoch", minimum=0, maximum=inputs.MAX_KEY_EPOCH) or 0
    if drop and link is not None and key_epoch != link.drop_epoch:
        # Sealed to a drop key the link no longer holds (the album got a new key): the page unlocks again.
        raise epochs.stale_key()
    session = db.session()
    if session.scalar(select(db.File.seq).where(db.File.id == file_id)) is not None:
        raise ApiError(409, "exists", "A file with this id exists already.")
    if link is not None:
        expire_pending(link_id=link.id)  # commits its own work: the transaction of this file starts below
    epochs.hold(album_id, key_epoch)
    if link is not None:
        taken = db.rowcount(
            session.execute(
                update(db.Link)
                .where(
                    db.Link.id == link.id,
                    db.Link.files_used + 1 <= db.Link.quota_files,
                    db.Link.bytes_used + total <= db.Link.quota_bytes,
                )
                .values(files_used=db.Link.files_used + 1, bytes_used=db.Link.bytes_used + total)
            )
        )
        if taken != 1:
            link_id = link.id  # read before the rollback expires `link`, whose row may be gone
            session.rollback()
            fresh = session.get(db.Link, link_id)
            if fresh is None:  # the owner deleted the album and its links meanwhile, so the update matched nothing
                raise ApiError(404, "not_found", "This link does not exist. Check that you copied all of it.")
            session.refresh(fresh)
            left_files = max(0, fresh.quota_files - fresh.files_used)
            left_bytes = max(0, fresh.quota_bytes - fresh.bytes_used)
            raise ApiError(
                413,
                "quota_exceeded",
                f"This link's upload space is used up: room for {left_files} more file(s) and {_mb(left_bytes)}, "
                f"and this file needs {_mb(total)}.",
                files_left=left_files,
                bytes_left=left_bytes,
            )
    account_id = session.scalar(select(db.Album.account_id).where(db.Album.id == album_id))
    if account_id is not None and not accounts.take_bytes(account_id, total):
        session.rollback()
        raise account_full(account_id, total, guest=link is not None)
    file = db.File(
        id=file_id,
        album_id=album_id,
        wrapped_key=wrapped_key,
        meta=meta,
        complete=False,
        state="pending",
        via_link=link.id if link else None,
        held=bool(link and link.hold_uploads),
        key_epoch=key_epoch,
        added_by=added_by,
        drop=drop,
        thumb_size=sizes["thumb"],
        preview_size=sizes["preview"],
        original_size=sizes["original"],
        expires_at=db.now() + config["UPLOAD_TTL"],
    )
    session.add(file)
    try:
        session.commit()  # quota and row together, or neither
    except IntegrityError:
        session.rollback()
        raise ApiError(409, "exists", "A file with this id exists already.") from None
    return file


def account_full(account_id: str, total: int, *, guest: bool = False, what: str = "file") -> ApiError:
    """413 for a file (or an album moved in) that does not fit in the account's storage.

    The owner gets the figures; a guest only hears that the owner has no room.
    """
    if guest:
        return ApiError(413, "account_full", "The album's owner has no storage space left for this file.")
    account = db.session().get_one(db.Account, account_id)
    quota = accounts.quota_of(account)
    return ApiError(
        413,
        "account_full",
        f"Your storage is full: {_mb(account.bytes_used)} of {_mb(quota)} used, and this {what} needs {_mb(total)}.",
        bytes_left=max(0, quota - account.bytes_used),
        bytes_used=account.bytes_used,
        quota_bytes=quota,
    )


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


# --- parts ---------------------------------------------------------------------

#: How long a `complete` may go without renewing its claim before another request may take
#: the file over (a worker killed mid-complete must not block the file for good).
COMPLETE_LEASE = 120
#: How long a request waits for a concurrent `complete` of the same file to settle.
SETTLE_SECONDS = 30.0
STORAGE_FULL = "The server has no room left to store this upload. Try again later, or tell the album's owner."


@contextlib.contextmanager
def _room() -> Iterator[None]:
    """Answer a full disk or bucket with 507 Insufficient Storage (RFC 4918 section 11.5), which clients must not retry."""
    try:
        yield
    except StorageFull:
        current_app.logger.error("the blob store is full")
        raise ApiError(507, "storage_full", STORAGE_FULL) from None


def _body(length: int) -> Iterator[bytes]:
    """Exactly `length` bytes of the request body, or an error that aborts the write."""
    stream, left = request.stream, length
    while left:
        piece = stream.read(min(READ_PIECE, left))
        if not piece:
            raise ApiError(400, "incomplete_body", "The upload was cut off before all its bytes arrived. Send it again.")
        left -= len(piece)
        yield piece


def _end_transaction(session) -> None:
    """End the transaction, so the next read sees other workers' commits (SQLite keeps a snapshot until then).

    A commit, not a rollback: there is nothing pending (every change here is a statement
    already committed), and a rollback would expire the loaded rows, whose next attribute
    read then fails if another request deleted the row meanwhile.
    """
    try:
        session.commit()
    except Exception:  # a failed statement left the transaction unusable
        session.rollback()


def _seq(file: db.File) -> int:
    """The row's primary key, known even when its attributes are expired and the row is gone."""
    identity = sa_inspect(file).identity
    if identity is None:
        raise RuntimeError("a file row that was never stored has no key")
    return identity[0]


def _reload(file: db.File) -> db.File | None:
    """The file's row as the database has it now, or None if it is gone."""
    session = db.session()
    _end_transaction(session)  # end the transaction, so SQLite's snapshot does not hide other workers' commits
    query = select(db.File).where(db.File.seq == _seq(file)).execution_options(populate_existing=True)
    return session.scalars(query).first()


def _gone() -> ApiError:
    return ApiError(404, "not_found", "This upload was cancelled or has expired; start it again.")


def _busy() -> ApiError:
    return ApiError(409, "completing", "This file is being finished by another request; ask again in a moment.")


def receive_part(file: db.File, kind: str) -> db.File:
    """Store one part of a blob at the offset the client says, if that is where we are."""
    check_kind(kind)
    if file.state == "complete":
        raise ApiError(409, "complete", "This file is complete already.")
    if file.state == "completing":
        raise _busy()
    length = request.content_length
    if length is None:
        raise ApiError(411, "length_required", "Send a Content-Length header with each part.")
    raw_offset = request.headers.get("Upload-Offset", "0")
    if not re.fullmatch(r"\d{1,15}", raw_offset):
        raise bad_request("Upload-Offset must be a whole number of bytes.", "bad_offset")
    offset = int(raw_offset)
    size, received = getattr(file, f"{kind}_size"), getattr(file, f"{kind}_received")
    if offset != received:
        raise ApiError(
            409,
            "offset_mismatch",
            f"The server has {received} bytes of this blob; continue from there.",
            upload=upload_json(file),
        )
    if length == 0 or length > current_app.config["UPLOAD_PART_BYTES"]:
        raise ApiError(413, "too_large", f"Send parts of 1 to {current_app.config['UPLOAD_PART_BYTES']} bytes.")
    if offset + length > size:
        raise ApiError(413, "too_large", f"This blob was declared as {size} bytes; this part would pass that.")
    # A key of this request's own: two PUTs of the same part never write, or delete, each other's bytes.
    key = f"{staging_prefix(file, kind)}/{offset}/{secrets.token_urlsafe(12)}"
    with _room():
        store().put(key, _body(length))
    column = getattr(db.File, f"{kind}_received")
    session = db.session()
    moved = db.rowcount(
        session.execute(
            update(db.File)
            .where(db.File.seq == _seq(file), db.File.state == "pending", column == offset)
            .values({column: offset + length})
        )
    )
    session.commit()
    if moved != 1:  # a parallel request for the same part won, or the upload was cancelled or is being finished
        store().delete(key)
        fresh = _reload(file)
        if fresh is None:
            raise _gone()
        raise ApiError(409, "offset_mismatch", "Another request sent this part first.", upload=upload_json(fresh))
    return _reload(file) or file


def _parts(file: db.File, kind: str) -> list[str]:
    """The staged parts that make up the blob, in order: a chain of claimed offsets from 0 to its size.

    A request killed between writing its part and losing the claim leaves a second
    key at an offset; any chain that reaches the declared size is bytes the uploader
    sent for exactly these offsets, so the first such chain is taken.
    """
    blob_store = store()
    by_offset: dict[int, list[str]] = {}
    for key in blob_store.list_prefix(staging_prefix(file, kind)):
        segments = key.split("/")
        if len(segments) >= 4 and segments[3].isdigit():
            by_offset.setdefault(int(segments[3]), []).append(key)
    total = getattr(file, f"{kind}_size")
    # Depth-first, without recursion (a 50 GB original has thousands of parts); each offset is
    # explored once, since any chain from it to the end is as good as another.
    nodes: list[tuple[str, int]] = []  # (key, index of the previous node or -1)
    stack, explored = [(0, -1)], set()
    while stack:
        position, node = stack.pop()
        if position == total:
            chain = []
            while node != -1:
                key, node = nodes[node]
                chain.append(key)
            return chain[::-1]
        if position in explored:
            continue
        explored.add(position)
        for key in sorted(by_offset.get(position, ()), reverse=True):
            try:
                length = blob_store.size(key)
            except BlobNotFound:
                continue
            if length:
                nodes.append((key, node))
                stack.append((position + length, len(nodes) - 1))
    return []


def _claim(file: db.File) -> int | None:
    """pending -> completing (or take over a completing whose lease ran out); the lease, or None if another request won."""
    now = db.now()
    lease = now + COMPLETE_LEASE
    session = db.session()
    won = db.rowcount(
        session.execute(
            update(db.File)
            .where(
                db.File.seq == _seq(file),
                or_(db.File.state == "pending", and_(db.File.state == "completing", db.File.expires_at <= now)),
                *(getattr(db.File, f"{k}_received") == getattr(db.File, f"{k}_size") for k in KINDS),
            )
            .values(state="completing", expires_at=lease)
        )
    )
    session.commit()
    return lease if won == 1 else None


def _release(file: db.File, lease: int) -> bool:
    """completing -> pending, if this request still holds the lease (a complete that failed on the way); whether it did."""
    session = db.session()
    _end_transaction(session)
    released = db.rowcount(
        session.execute(
            update(db.File)
            .where(db.File.seq == _seq(file), db.File.state == "completing", db.File.expires_at == lease)
            .values(state="pending", expires_at=db.now() + current_app.config["UPLOAD_TTL"])
        )
    )
    session.commit()
    return released == 1


class _LostLease(Exception):
    """Another request took the file over, or it was cancelled, while this one was finishing it."""


def complete(file: db.File) -> db.File:
    """Check every blob, move it out of staging, and make the file visible: once, whoever asks."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        if file.state == "complete":
            return file
        missing = [k for k in KINDS if getattr(file, f"{k}_received") != getattr(file, f"{k}_size")]
        if missing:
            raise ApiError(409, "incomplete", f"Not every blob has arrived yet: {', '.join(missing)}.", upload=upload_json(file))
        if file.state == "pending" and (lease := _claim(file)) is not None:
            return _finish(file, lease)
        # Another request is finishing it: wait for its outcome rather than racing it.
        if time.monotonic() > deadline:
            raise _busy()
        time.sleep(0.2)
        fresh = _reload(file)
        if fresh is None:
            raise _gone()
        file = fresh
        # Still completing after its lease ran out: its worker died, so take over.
        expired = file.state == "completing" and file.expires_at is not None and file.expires_at <= db.now()
        if expired and (lease := _claim(file)) is not None:
            return _finish(file, lease)


def _finish(file: db.File, lease: int) -> db.File:
    """Having won pending -> completing: write, verify, and commit completing -> complete."""
    blob_store = store()
    holder = [lease]
    written: list[str] = []
    try:
        chains = {}
        for kind in KINDS:  # every blob is checked before any is written
            chains[kind] = parts = _parts(file, kind)
            head = _head(blob_store, parts)
            try:
                if not parts:
                    raise crypto.FormatError("its parts are missing on the server")
                crypto.check_blob_shape(head, getattr(file, f"{kind}_size"))
            except crypto.FormatError as exc:
                _abort_claimed(file, holder[0])
                raise ApiError(
                    422, "bad_blob", f"The {kind} is not an encrypted v1 blob ({exc}); the upload was discarded."
                ) from None
        for kind in KINDS:
            key = blob_key(file, kind)
            written.append(key)
            with _room():
                blob_store.put(key, _assemble(blob_store, file, chains[kind], holder))
            _verify(blob_store, file, kind)
    except _LostLease:
        return _lost(file, written)
    except BaseException:
        # Remove what we wrote while the renewed lease keeps any other request out, then hand the file back.
        if written and _renew(file, holder):
            for key in written:
                with contextlib.suppress(Exception):
                    blob_store.delete(key)
        _release(file, holder[0])
        raise
    session = db.session()
    done = db.rowcount(
        session.execute(
            update(db.File)
            .where(db.File.seq == _seq(file), db.File.state == "completing", db.File.expires_at == holder[0])
            .values(state="complete", complete=True, expires_at=None)
        )
    )
    session.commit()
    if done != 1:
        return _lost(file, written)
    blob_store.delete_prefix(staging_prefix(file))
    return _reload(file) or file


def _assemble(blob_store, file: db.File, parts: list[str], holder: list[int]) -> Iterator[bytes]:
    """The parts' bytes in order, renewing this request's lease between parts while it is more than half spent."""
    for part in parts:
        if holder[0] - db.now() < COMPLETE_LEASE // 2 and not _renew(file, holder):
            raise _LostLease()
        yield from _read(blob_store, part)


def _renew(file: db.File, holder: list[int]) -> bool:
    """Extend this request's lease on a completing file; False if it no longer holds it."""
    session = db.session()
    _end_transaction(session)
    lease = max(db.now() + COMPLETE_LEASE, holder[0] + 1)  # always a new value: the lease is also the claim's token
    kept = db.rowcount(
        session.execute(
            update(db.File)
            .where(db.File.seq == _seq(file), db.File.state == "completing", db.File.expires_at == holder[0])
            .values(expires_at=lease)
        )
    )
    session.commit()
    if kept == 1:
        holder[0] = lease
    return kept == 1


def _verify(blob_store, file: db.File, kind: str) -> None:
    """The stored blob has the declared size and a v1 header, or the complete fails (and can be sent again)."""
    key, size = blob_key(file, kind), getattr(file, f"{kind}_size")
    stored = blob_store.size(key)
    head = b"".join(blob_store.read_range(key, 0, crypto.BLOB_HEADER_BYTES))
    try:
        if stored != size:
            raise crypto.FormatError(f"{stored} bytes stored of {size}")
        crypto.check_blob_shape(head, size)
    except crypto.FormatError as exc:
        raise ApiError(
            503, "store_mismatch", f"The server could not store the {kind} intact ({exc}); send complete again."
        ) from None


def _lost(file: db.File, written: list[str]) -> db.File:
    """This request lost its claim: leave a finished file alone, and remove our blobs only if the row is gone."""
    fresh = _reload(file)
    if fresh is None:
        for key in written:  # nobody points at them any more
            store().delete(key)
        raise _gone()
    if fresh.state == "complete":
        return fresh  # the request that took over wrote the same bytes under the same keys
    raise _busy()


def _head(blob_store, parts: list[str]) -> bytes:
    """The blob's first BLOB_HEADER_BYTES, from as many parts as they span."""
    head = b""
    for part in parts:
        if len(head) >= crypto.BLOB_HEADER_BYTES:
            break
        head += b"".join(blob_store.read_range(part, 0, crypto.BLOB_HEADER_BYTES - len(head)))
    return head


def _read(blob_store, key: str) -> Iterator[bytes]:
    return blob_store.read_range(key, 0, blob_store.size(key))


def _delete_row(file: db.File, *conditions) -> bool:
    """Delete an unfinished file's row if the conditions still hold, giving its storage and quota back; whether we won."""
    session = db.session()
    try:
        via_link, total, album_id = file.via_link, file.total_size, file.album_id  # read before the row can go
    except ObjectDeletedError:
        return False  # another request deleted it
    gone = db.rowcount(session.execute(delete(db.File).where(db.File.seq == _seq(file), *conditions)))
    if gone == 1:
        # The file never was: its storage comes back, and a guest's link quota too. Only the winner
        # of the transition gets here, so they come back exactly once.
        accounts.give_back_bytes(album_id, total)
    if gone == 1 and via_link is not None:
        session.execute(
            update(db.Link)
            .where(db.Link.id == via_link)
            .values(files_used=db.Link.files_used - 1, bytes_used=db.Link.bytes_used - total)
        )
    session.commit()
    return gone == 1


def abort(file: db.File) -> bool:
    """pending -> aborted: forget a pending upload, its parts and the quota it held; whether this call did it."""
    if not _delete_row(file, db.File.state == "pending"):
        return False
    store().delete_prefix(staging_prefix(file))
    return True


def _abort_claimed(file: db.File, lease: int) -> None:
    """completing -> aborted, for a complete that found a blob that is not v1."""
    if _delete_row(file, db.File.state == "completing", db.File.expires_at == lease):
        store().delete_prefix(staging_prefix(file))


def _settled(file: db.File) -> db.File | None:
    """The file once no complete is running on it (None if it is gone), or 409 after SETTLE_SECONDS."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while file.state == "completing" and (file.expires_at or 0) > db.now():
        if time.monotonic() > deadline:
            raise _busy()
        time.sleep(0.2)
        fresh = _reload(file)
        if fresh is None:
            return None
        file = fresh
    return file


def delete_file(file: db.File) -> None:
    """Delete a file: a pending one with its parts and quota, a complete one with its blobs (a guest's quota stays used).

    A complete file's blobs go only with the last row that uses them (a file added elsewhere by
    reference keeps them: viewer/server/sharedblobs.py).
    """
    current: db.File | None = file
    for _ in range(100):
        current = _settled(current) if current is not None else None
        if current is None:
            return  # another request deleted it
        if current.state == "complete":
            if _delete_complete(current):
                return
        elif abort(current):
            return
        current = _reload(current)
    raise _busy()


def _delete_complete(file: db.File) -> bool:
    """complete -> deleted, under the lock of the folder of its blobs; whether this call did it."""
    try:
        seq, file_id, folder = _seq(file), file.id, sharedblobs.folder_of(file)
    except ObjectDeletedError:
        return False
    _end_transaction(db.session())
    won, unused = sharedblobs.delete_row(seq, folder, file_id, db.File.state == "complete")
    if unused:
        for kind in KINDS:
            store().delete(f"{folder}/{file_id}/{kind}")
    return won


def cancel(file: db.File) -> None:
    """A guest's cancel: abort the upload unless it is (or becomes, while we wait) complete."""
    current: db.File | None = file
    for _ in range(100):
        current = _settled(current) if current is not None else None
        if current is None:
            return
        if current.state == "complete":
            raise ApiError(409, "complete", "A finished upload can only be removed by the album's owner.")
        if abort(current):
            return
        current = _reload(current)
    raise _busy()


def expire_pending(link_id: str | None = None, limit: int = 100) -> int:
    """Abort reservations older than UPLOAD_TTL, and hand back files whose `complete` died (for one link, or any)."""
    now = db.now()
    query = select(db.File).where(db.File.state.in_(("pending", "completing")), db.File.expires_at <= now)
    if link_id is not None:
        query = query.where(db.File.via_link == link_id)
    stale = db.session().scalars(query.limit(limit)).all()
    count = 0
    for file in stale:
        if file.state == "pending":
            if _delete_row(file, db.File.state == "pending", db.File.expires_at <= now):
                store().delete_prefix(staging_prefix(file))
                count += 1
        else:
            # The worker finishing it was killed: back to pending, so the uploader can send complete again.
            lease = file.expires_at
            assert lease is not None
            # Several servers' cleanups may find the same dead lease: only the one whose UPDATE matched counts it.
            if _release(file, lease):
                count += 1
    return count


def abort_link_uploads(link_id: str) -> None:
    """Abort every pending guest upload of a link (uploads turned off, link revoked)."""
    for file in db.session().scalars(select(db.File).where(db.File.via_link == link_id, db.File.state == "pending")).all():
        abort(file)


# --- reconciling the store with the database (flask cleanup) ------------------


def reconcile_store(min_age: int) -> tuple[int, int]:
    """Remove temp files and blobs no row needs, if older than min_age seconds; (temp files, blobs) removed.

    Blobs are listed first and their rows looked up after, and a row always exists
    before its blobs are written (reserve commits before any part is accepted), so a
    blob whose row is missing belongs to a file that is gone for good. The age guard
    is a second line: nothing a request may still be writing is touched. Every step is
    idempotent, so several servers may run this at once.
    """
    blob_store = store()
    cutoff = time.time() - min_age
    temp = blob_store.sweep_temp(cutoff)
    removed, batch = 0, []
    for key, modified in blob_store.scan():
        if modified < cutoff:
            batch.append(key)
        if len(batch) >= 500:
            removed += _remove_strays(batch)
            batch = []
    return temp, removed + _remove_strays(batch)


def _file_id_of(key: str) -> str | None:
    segments = key.split("/")
    if segments[0] == "staging" and len(segments) >= 3:
        return segments[1]
    if len(segments) == 3 and segments[2] in KINDS:
        return segments[1]
    return None


def _remove_strays(keys: list[str]) -> int:
    """Delete the staged parts of files that are gone or complete, and blobs no file row uses.

    A blob ``<album>/<file>/<kind>`` is used by every row of that file id whose folder is that
    album (its own, or the one a reference points at: viewer/server/sharedblobs.py).
    """
    ids = {file_id for key in keys if (file_id := _file_id_of(key))}
    if not ids:
        return 0
    session = db.session()
    _end_transaction(session)
    found = session.execute(select(db.File.id, db.File.state, sharedblobs.FOLDER).where(db.File.id.in_(ids))).all()
    _end_transaction(session)
    unfinished = {file_id for file_id, state, _folder in found if state != "complete"}
    used = {(folder, file_id) for file_id, _state, folder in found}
    removed = 0
    for key in keys:
        file_id = _file_id_of(key)
        if file_id is None:
            continue  # not a key this app writes
        # Staged parts are needed while their file is unfinished; blobs while a row uses their folder.
        needed = file_id in unfinished if key.startswith("staging/") else (key.split("/")[0], file_id) in used
        if not needed:
            store().delete(key)
            removed += 1
    return removed


# --- serving -------------------------------------------------------------------

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def serve_blob(file: db.File, kind: str) -> Response:
    """The blob's bytes, honouring one HTTP Range (RFC 9110 section 14)."""
    size = getattr(file, f"{kind}_size")
    start, end, status = 0, size, 200
    header = request.headers.get("Range")
    if header is not None:
        match = _RANGE.match(header.strip())
        if not match or match.groups() == ("", ""):
            raise _bad_range(size, "Only one byte range like 'bytes=0-1023' is supported.")
        first, last = (_position(group) for group in match.groups())
        if first is None:  # suffix range: the last N bytes
            start = max(0, size - last)
        else:
            start = first
            end = min(size, last + 1) if last is not None else size
            if last is not None and last < start:
                raise _bad_range(size, "The range ends before it starts.")
        if start >= size:
            raise _bad_range(size, f"The range starts past the end of the blob ({size} bytes).")
        status = 206
    response = Response(store().read_range(blob_key(file, kind), start, end), status=status, mimetype="application/octet-stream")
    response.direct_passthrough = True
    response.headers["Content-Length"] = str(end - start)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, no-store"
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return response


def _position(digits: str) -> int | None:
    """A Range position; any number past 2**62 is treated as 2**62, which is past every blob.

    RFC 9110 section 14.1.1 puts no bound on the digits, and Python refuses to parse
    more than 4300 of them (CVE-2020-10735), so a long one must not reach int().
    """
    if digits == "":
        return None
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 2**62


def _bad_range(size: int, message: str) -> ApiError:
    return ApiError(416, "bad_range", message, headers={"Content-Range": f"bytes */{size}"})
