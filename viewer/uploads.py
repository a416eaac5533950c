"""Files: reserve, send in parts, complete; list and serve. Shared by owner and guests.

A file becomes visible only when complete. Until then its blobs live as parts
under ``staging/`` in the blob store, and its row is invisible to listings. A
reservation that is not completed within UPLOAD_TTL is deleted with its parts
and, for a guest, gives its quota back, so an interrupted upload never counts
against the quota for good.

Guest quota is reserved up front with one conditional UPDATE, so it is enforced
before a byte of the file is sent and cannot be overrun by parallel uploads.
"""

from __future__ import annotations

import re
from typing import Iterator

from flask import Response, current_app, request
from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError

from . import crypto, db
from .errors import ApiError, bad_request
from .inputs import b64_field, check_id, int_field, iso

KINDS = ("thumb", "preview", "original")
WRAPPED_KEY_BYTES = crypto.NONCE_BYTES + crypto.KEY_BYTES + crypto.TAG_BYTES
MIN_BLOB_BYTES = crypto.BLOB_HEADER_BYTES + crypto.TAG_BYTES
READ_PIECE = 256 * 1024


def store():
    """The app's blob store."""
    return current_app.extensions["fragment.store"]


def blob_key(file: db.File, kind: str) -> str:
    """Where a complete blob lives."""
    return f"{file.album_id}/{file.id}/{kind}"


def staging_prefix(file: db.File, kind: str | None = None) -> str:
    """Where the parts of a pending blob live."""
    return f"staging/{file.id}" + (f"/{kind}" if kind else "")


def check_kind(kind: str) -> str:
    """One of thumb, preview, original."""
    if kind not in KINDS:
        raise ApiError(404, "not_found", "Blobs are named thumb, preview or original.")
    return kind


def file_json(file: db.File, *, owner: bool) -> dict:
    """A complete file as the listings show it."""
    data = {
        "file_id": file.id,
        "wrapped_key": crypto.b64e(file.wrapped_key),
        "meta": crypto.b64e(file.meta),
        "blobs": {kind: getattr(file, f"{kind}_size") for kind in KINDS},
        "created_at": iso(file.created_at),
        "guest": file.via_link is not None,
    }
    if owner:
        data["uploaded_via"] = file.via_link
    return data


def upload_json(file: db.File) -> dict:
    """Where a pending upload stands, so a client can resume."""
    return {
        "file_id": file.id,
        "state": "complete" if file.complete else "pending",
        "blobs": {kind: {"size": getattr(file, f"{kind}_size"), "received": getattr(file, f"{kind}_received")} for kind in KINDS},
        "expires_at": iso(file.expires_at),
        "part_size": current_app.config["UPLOAD_PART_BYTES"],
    }


def get_file(album_id: str, file_id: str, *, complete: bool | None = True, via_link: str | None = None) -> db.File:
    """A file of the album, or 404."""
    check_id(file_id, "file id")
    query = select(db.File).where(db.File.id == file_id, db.File.album_id == album_id)
    if complete is not None:
        query = query.where(db.File.complete == complete)
    if via_link is not None:
        query = query.where(db.File.via_link == via_link)
    file = db.session().scalars(query).first()
    if file is None:
        raise ApiError(404, "not_found", "This file does not exist (or is not uploaded yet).")
    return file


def list_files(album_id: str, after: int, limit: int, *, owner: bool, guests_only: bool = False) -> dict:
    """One page of complete files in stable order: keyset pagination on (album, seq)."""
    query = select(db.File).where(db.File.album_id == album_id, db.File.complete.is_(True), db.File.seq > after)
    if guests_only:
        query = query.where(db.File.via_link.is_not(None))
    rows = db.session().scalars(query.order_by(db.File.seq).limit(limit + 1)).all()
    page = rows[:limit]
    return {
        "files": [file_json(f, owner=owner) for f in page],
        "next": str(page[-1].seq) if len(rows) > limit else None,
    }


# --- reserve -------------------------------------------------------------------


def reserve(album_id: str, data: dict, link: db.Link | None) -> db.File:
    """Create a pending file; for a guest, take its quota atomically first."""
    config = current_app.config
    file_id = check_id(data.get("file_id"), "file id")
    wrapped_key = b64_field(data, "wrapped_key", WRAPPED_KEY_BYTES)
    meta = b64_field(data, "meta", max_length=config["MAX_META_BYTES"])
    blobs = data.get("blobs")
    if not isinstance(blobs, dict) or set(blobs) != set(KINDS):
        raise bad_request("`blobs` must give the sizes of thumb, preview and original.", "bad_field")
    sizes = {kind: int_field(blobs, kind, minimum=MIN_BLOB_BYTES) for kind in KINDS}
    max_file = link.max_file_size if link else config["MAX_FILE_BYTES"]
    if sizes["original"] > max_file:
        raise ApiError(
            413, "file_too_large", f"This file is {_mb(sizes['original'])}; the largest file allowed here is {_mb(max_file)}."
        )
    if sizes["thumb"] > max_file or sizes["preview"] > max_file:
        raise ApiError(413, "file_too_large", "The thumbnail or preview is larger than the file size limit.")
    total = sum(sizes.values())
    session = db.session()
    if session.scalar(select(db.File.seq).where(db.File.id == file_id)) is not None:
        raise ApiError(409, "exists", "A file with this id exists already.")
    if link is not None:
        expire_pending(link_id=link.id)
        taken = session.execute(
            update(db.Link)
            .where(
                db.Link.id == link.id,
                db.Link.files_used + 1 <= db.Link.quota_files,
                db.Link.bytes_used + total <= db.Link.quota_bytes,
            )
            .values(files_used=db.Link.files_used + 1, bytes_used=db.Link.bytes_used + total)
        ).rowcount
        if taken != 1:
            session.rollback()
            fresh = session.get(db.Link, link.id)
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
    file = db.File(
        id=file_id,
        album_id=album_id,
        wrapped_key=wrapped_key,
        meta=meta,
        complete=False,
        via_link=link.id if link else None,
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


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


# --- parts ---------------------------------------------------------------------


def _body(length: int) -> Iterator[bytes]:
    """Exactly `length` bytes of the request body, or an error that aborts the write."""
    stream, left = request.stream, length
    while left:
        piece = stream.read(min(READ_PIECE, left))
        if not piece:
            raise ApiError(400, "incomplete_body", "The upload was cut off before all its bytes arrived. Send it again.")
        left -= len(piece)
        yield piece


def receive_part(file: db.File, kind: str) -> db.File:
    """Store one part of a blob at the offset the client says, if that is where we are."""
    check_kind(kind)
    if file.complete:
        raise ApiError(409, "complete", "This file is complete already.")
    length = request.content_length
    if length is None:
        raise ApiError(411, "length_required", "Send a Content-Length header with each part.")
    raw_offset = request.headers.get("Upload-Offset", "0")
    if not re.fullmatch(r"\d{1,15}", raw_offset):
        raise bad_request("Upload-Offset must be a whole number of bytes.", "bad_offset")
    offset = int(raw_offset)
    size, received = getattr(file, f"{kind}_size"), getattr(file, f"{kind}_received")
    if offset != received:
        raise ApiError(409, "offset_mismatch", f"The server has {received} bytes of this blob; continue from there.", upload=upload_json(file))
    if length == 0 or length > current_app.config["UPLOAD_PART_BYTES"]:
        raise ApiError(413, "too_large", f"Send parts of 1 to {current_app.config['UPLOAD_PART_BYTES']} bytes.")
    if offset + length > size:
        raise ApiError(413, "too_large", f"This blob was declared as {size} bytes; this part would pass that.")
    key = f"{staging_prefix(file, kind)}/{offset}"
    store().put(key, _body(length))
    column = getattr(db.File, f"{kind}_received")
    session = db.session()
    moved = session.execute(
        update(db.File).where(db.File.seq == file.seq, db.File.complete.is_(False), column == offset).values({column: offset + length})
    ).rowcount
    session.commit()
    if moved != 1:  # a parallel request for the same part won
        store().delete(key)
        session.refresh(file)
        raise ApiError(409, "offset_mismatch", "Another request sent this part first.", upload=upload_json(file))
    session.refresh(file)
    return file


def _parts(file: db.File, kind: str) -> list[str]:
    keys = store().list_prefix(staging_prefix(file, kind))
    return sorted(keys, key=lambda k: int(k.rsplit("/", 1)[1]))


def complete(file: db.File) -> db.File:
    """Check every blob, move it out of staging, and make the file visible."""
    if file.complete:
        return file
    missing = [k for k in KINDS if getattr(file, f"{k}_received") != getattr(file, f"{k}_size")]
    if missing:
        raise ApiError(409, "incomplete", f"Not every blob has arrived yet: {', '.join(missing)}.", upload=upload_json(file))
    blob_store = store()
    for kind in KINDS:
        parts = _parts(file, kind)
        head = blob_store.read_all(parts[0])[: crypto.BLOB_HEADER_BYTES] if parts else b""
        try:
            crypto.check_blob_shape(head, getattr(file, f"{kind}_size"))
        except crypto.FormatError as exc:
            abort(file)
            raise ApiError(422, "bad_blob", f"The {kind} is not an encrypted v1 blob ({exc}); the upload was discarded.") from None
    for kind in KINDS:
        parts = _parts(file, kind)
        blob_store.put(blob_key(file, kind), (piece for part in parts for piece in _read(blob_store, part)))
    session = db.session()
    session.execute(update(db.File).where(db.File.seq == file.seq).values(complete=True, expires_at=None))
    session.commit()
    blob_store.delete_prefix(staging_prefix(file))
    session.refresh(file)
    return file


def _read(blob_store, key: str) -> Iterator[bytes]:
    return blob_store.read_range(key, 0, blob_store.size(key))


def abort(file: db.File) -> None:
    """Forget a pending upload: its parts, its row, and the quota it held."""
    session = db.session()
    store().delete_prefix(staging_prefix(file))
    if file.via_link is not None and not file.complete:
        session.execute(
            update(db.Link)
            .where(db.Link.id == file.via_link)
            .values(files_used=db.Link.files_used - 1, bytes_used=db.Link.bytes_used - file.total_size)
        )
    session.delete(file)
    session.commit()


def delete_file(file: db.File) -> None:
    """Delete a complete file and its blobs (a guest's still counts as used quota)."""
    if not file.complete:
        abort(file)
        return
    for kind in KINDS:
        store().delete(blob_key(file, kind))
    session = db.session()
    session.delete(file)
    session.commit()


def expire_pending(link_id: str | None = None, limit: int = 100) -> int:
    """Abort reservations older than UPLOAD_TTL (for one link, or any)."""
    query = select(db.File).where(and_(db.File.complete.is_(False), db.File.expires_at <= db.now()))
    if link_id is not None:
        query = query.where(db.File.via_link == link_id)
    stale = db.session().scalars(query.limit(limit)).all()
    for file in stale:
        abort(file)
    return len(stale)


def abort_link_uploads(link_id: str) -> None:
    """Abort every pending guest upload of a link (uploads turned off, link revoked)."""
    for file in db.session().scalars(select(db.File).where(db.File.via_link == link_id, db.File.complete.is_(False))).all():
        abort(file)


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
        first, last = match.groups()
        if first == "":  # suffix range: the last N bytes
            start = max(0, size - int(last))
        else:
            start = int(first)
            end = min(size, int(last) + 1) if last else size
            if last and int(last) < start:
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


def _bad_range(size: int, message: str) -> ApiError:
    return ApiError(416, "bad_range", message, headers={"Content-Range": f"bytes */{size}"})
