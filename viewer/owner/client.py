"""HTTP clients for the owner API and the public link API (docs/api.md).

No click and no printing here: the command line (``viewer.cli``) decides what a
person sees. Every request has a timeout, every error answer becomes one
``ApiError`` carrying the server's sentence, and uploads resume where the server
says it stands, so a dropped connection costs at most one part.

The two halves of encrypt-and-upload and download-and-decrypt also live here
(``send_file``, ``save_blob``), built only from ``viewer.crypto`` functions, so
``publish``, ``upload``, ``open`` and ``pull`` share one tested path.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests

from .. import crypto

MiB = 1024 * 1024
# Connect fast or fail; allow a slow server minutes to take a part or start a blob.
TIMEOUT = (10, 300)
# Half the server's default UPLOAD_PART_BYTES (8 MiB), so a part never hits 413.
PART_SIZE = 4 * MiB
MIN_PART_SIZE = 64 * 1024
UPLOAD_RETRIES = 5
DOWNLOAD_PIECE = 256 * 1024
USER_AGENT = "fragment-cli/0.1"
KINDS = ("thumb", "preview", "original")

ProgressFn = Callable[[int], None]


class ApiError(Exception):
    """An error answer from the server: HTTP status, error code and a sentence for a person."""

    def __init__(self, status: int, code: str, message: str, body: dict | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.body = body or {}
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        """Parse the JSON error body; anything else (a proxy page) gets a sentence of its own."""
        retry_after = _int_or_none(response.headers.get("Retry-After"))
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            message = str(body.get("message") or body["error"])
            return cls(response.status_code, body["error"], message, body, retry_after)
        reason = f"{response.status_code} {response.reason or ''}".strip()
        message = f"the server answered {reason} without an API error; is {_origin(response.url)} a Fragment server?"
        return cls(response.status_code, "http_error", message, None, retry_after)


class BadLink(ValueError):
    """A link that cannot be parsed; the message says what is wrong with it."""


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None  # an HTTP-date Retry-After: we only show seconds


def _origin(url: str | None) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "this address"


# --- links ----------------------------------------------------------------------


def parse_link(url: str) -> tuple[str, str, bytes]:
    """Split `https://host[/prefix]/a/<link_id>#<secret>` into (server base, link id, secret)."""
    base, link_id, fragment = split_link(url)
    if not fragment:
        raise BadLink("the link has no key: copy the whole link, including the part after '#'")
    try:
        secret = crypto.decode_link_secret(fragment)
    except crypto.FormatError:
        raise BadLink("the key after '#' in the link is damaged: copy the whole link again") from None
    return base, link_id, secret


def split_link(url: str) -> tuple[str, str, str]:
    """(server base, link id, fragment or "") of a link, checking everything but the secret."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadLink("a link starts with https:// (or http://) and a host name")
    head, sep, link_id = parts.path.rstrip("/").rpartition("/a/")
    if not sep:
        raise BadLink("this is not a Fragment link: its path has no /a/<link id>")
    if not crypto.is_id(link_id):
        raise BadLink("the link id in this link is malformed: ids are 22 characters of base64url")
    return f"{parts.scheme}://{parts.netloc}{head}", link_id, parts.fragment


def link_url(server_url: str, link_id: str, secret: bytes, link: dict | None = None) -> str:
    """The full link to share: the server's own `url` if it gave one, with the secret as fragment."""
    base = (link or {}).get("url") or f"{server_url.rstrip('/')}/a/{link_id}"
    return f"{base.split('#', 1)[0]}#{crypto.encode_link_secret(secret)}"


# --- transport -------------------------------------------------------------------


class _Http:
    """A base URL, a bearer token and a requests session, with errors made uniform."""

    def __init__(self, server_url: str, token: str | None = None, session: requests.Session | None = None):
        self.server_url = server_url.rstrip("/")
        self.token = token
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kwargs) -> requests.Response:
        """Send one request; an ApiError for any answer not in `ok`."""
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        kwargs.setdefault("timeout", TIMEOUT)
        response = self.session.request(method, self.server_url + path, headers=headers, **kwargs)
        if response.status_code not in ok:
            error = self.error(response)
            response.close()
            raise error
        return response

    def error(self, response: requests.Response) -> ApiError:
        """The ApiError for an error answer (subclasses reword some)."""
        return ApiError.from_response(response)

    def json(self, method: str, path: str, body: dict | None = None, **kwargs) -> dict:
        """A request with an optional JSON body whose answer is a JSON object."""
        response = self.request(method, path, json=body, **kwargs)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ApiError(response.status_code, "bad_answer", f"the server at {self.server_url} sent an answer that is not JSON")
        return data

    def pages(self, path: str, key: str, params: dict | None = None) -> Iterator[dict]:
        """Every item of a paged listing, following the `next` cursor."""
        params = dict(params or {})
        while True:
            page = self.json("GET", path, params=params)
            yield from page.get(key) or []
            cursor = page.get("next")
            if not cursor:
                return
            params["after"] = cursor

    def stream(self, path: str) -> requests.Response:
        """A streamed GET of blob bytes; the caller closes it."""
        return self.request("GET", path, ok=(200,), stream=True)


class UploadTarget:
    """The reserve / send / complete routes under one prefix: an album (owner) or a link (guest)."""

    def __init__(self, http: _Http, prefix: str):
        self.http, self.prefix = http, prefix
        self.part_size = PART_SIZE  # shrinks if the server takes smaller parts, for every later blob

    def reserve(self, body: dict) -> dict:
        """POST .../files: reserve a file with its blob sizes."""
        return self.http.json("POST", f"{self.prefix}/files", body)

    def put_part(self, file_id: str, kind: str, offset: int, data: bytes) -> dict:
        """PUT one part of a blob at `offset`."""
        headers = {"Upload-Offset": str(offset), "Content-Type": "application/octet-stream"}
        return self.http.json("PUT", f"{self.prefix}/files/{file_id}/blobs/{kind}", data=data, headers=headers)

    def status(self, file_id: str) -> dict:
        """GET .../upload: how many bytes of each blob the server has."""
        return self.http.json("GET", f"{self.prefix}/files/{file_id}/upload")

    def complete(self, file_id: str) -> dict:
        """POST .../complete: make the file visible."""
        return self.http.json("POST", f"{self.prefix}/files/{file_id}/complete")

    def delete(self, file_id: str) -> dict:
        """DELETE a file (or abandon a pending one)."""
        return self.http.json("DELETE", f"{self.prefix}/files/{file_id}")


# --- owner API ---------------------------------------------------------------------


class OwnerClient(_Http):
    """The owner API under /api/owner/, authenticated by the owner token."""

    def __init__(self, server_url: str, owner_token: str, session: requests.Session | None = None):
        super().__init__(server_url, owner_token, session)

    def error(self, response: requests.Response) -> ApiError:
        """Say plainly that a 401 is about the token, whatever the server's wording."""
        error = ApiError.from_response(response)
        if error.status == 401:
            error.message = "the server refused this owner token"
            error.args = (error.message,)
        return error

    def album_path(self, album_id: str) -> str:
        return f"/api/owner/albums/{album_id}"

    def create_album(self, album_id: str, meta: bytes) -> dict:
        return self.json("POST", "/api/owner/albums", {"album_id": album_id, "meta": crypto.b64e(meta)})

    def list_albums(self) -> list[dict]:
        return self.json("GET", "/api/owner/albums").get("albums") or []

    def get_album(self, album_id: str) -> dict:
        return self.json("GET", self.album_path(album_id))

    def find_album(self, album_id: str) -> dict | None:
        """The album, or None when the server has no album with this id (404)."""
        try:
            return self.get_album(album_id)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def patch_album(self, album_id: str, meta: bytes) -> dict:
        return self.json("PATCH", self.album_path(album_id), {"meta": crypto.b64e(meta)})

    def delete_album(self, album_id: str) -> bool:
        """Delete an album with its files, blobs and links; False when the server had no such album (404)."""
        try:
            self.json("DELETE", self.album_path(album_id))
        except ApiError as exc:
            if exc.status == 404 and exc.code == "not_found":
                return False
            raise
        return True

    def uploads(self, album_id: str) -> UploadTarget:
        """The upload routes of one album."""
        return UploadTarget(self, self.album_path(album_id))

    def reserve_file(self, album_id: str, body: dict) -> dict:
        return self.uploads(album_id).reserve(body)

    def put_blob_part(self, album_id: str, file_id: str, kind: str, offset: int, data: bytes) -> dict:
        return self.uploads(album_id).put_part(file_id, kind, offset, data)

    def upload_status(self, album_id: str, file_id: str) -> dict:
        return self.uploads(album_id).status(file_id)

    def complete_file(self, album_id: str, file_id: str) -> dict:
        return self.uploads(album_id).complete(file_id)

    def delete_file(self, album_id: str, file_id: str) -> dict:
        return self.uploads(album_id).delete(file_id)

    def iter_files(self, album_id: str, source: str | None = None) -> Iterator[dict]:
        """Every complete file of an album; `source="guest"` for guest uploads only."""
        params = {"source": source} if source else {}
        return self.pages(f"{self.album_path(album_id)}/files", "files", params)

    def download_blob(self, album_id: str, file_id: str, kind: str) -> requests.Response:
        return self.stream(f"{self.album_path(album_id)}/files/{file_id}/blobs/{kind}")

    def create_link(self, album_id: str, body: dict) -> dict:
        return self.json("POST", f"{self.album_path(album_id)}/links", body)

    def list_links(self, album_id: str) -> list[dict]:
        return self.json("GET", f"{self.album_path(album_id)}/links").get("links") or []

    def patch_link(self, link_id: str, changes: dict) -> dict:
        return self.json("PATCH", f"/api/owner/links/{link_id}", changes)

    def revoke_link(self, link_id: str) -> dict:
        return self.json("DELETE", f"/api/owner/links/{link_id}")


# --- public link API ----------------------------------------------------------------


class LinkClient(_Http):
    """The public API of one link; unlock() stores the access token for later calls."""

    def __init__(self, server_url: str, link_id: str, session: requests.Session | None = None):
        super().__init__(server_url, None, session)
        self.link_id = link_id
        self.prefix = f"/api/links/{link_id}"

    def info(self) -> dict:
        return self.json("GET", self.prefix)

    def challenge(self) -> dict:
        return self.json("POST", f"{self.prefix}/challenge", {})

    def unlock(self, body: dict) -> dict:
        """POST the unlock request (challenge and proofs) and keep the access token for later calls."""
        unlocked = self.json("POST", f"{self.prefix}/unlock", body)
        self.token = unlocked.get("access_token")
        return unlocked

    def iter_files(self) -> Iterator[dict]:
        return self.pages(f"{self.prefix}/files", "files")

    def download_blob(self, file_id: str, kind: str) -> requests.Response:
        return self.stream(f"{self.prefix}/files/{file_id}/blobs/{kind}")

    def uploads(self) -> UploadTarget:
        """The guest upload routes of this link."""
        return UploadTarget(self, self.prefix)

    def reserve_file(self, body: dict) -> dict:
        return self.uploads().reserve(body)

    def put_blob_part(self, file_id: str, kind: str, offset: int, data: bytes) -> dict:
        return self.uploads().put_part(file_id, kind, offset, data)

    def upload_status(self, file_id: str) -> dict:
        return self.uploads().status(file_id)

    def complete_file(self, file_id: str) -> dict:
        return self.uploads().complete(file_id)

    def delete_file(self, file_id: str) -> dict:
        return self.uploads().delete(file_id)


# --- resumable upload -------------------------------------------------------------


def upload_blob(
    put_part: Callable[[str, int, bytes], Any],
    status: Callable[[], dict],
    kind: str,
    data: bytes | BinaryIO,
    size: int,
    part_size: int = PART_SIZE,
    on_progress: ProgressFn | None = None,
    retries: int = UPLOAD_RETRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send one blob in parts, resuming from the server's `received` after a mismatch or a dropped connection.

    `data` is bytes or a seekable binary file, so any offset can be sent again.
    `on_progress` gets the number of new bytes the server has confirmed. A server
    with a smaller UPLOAD_PART_BYTES answers 413: parts are halved until they fit.
    Returns the part size that worked, so the next blob starts with it.
    """
    offset = reported = failures = 0
    while offset < size:
        part = _read_at(data, offset, min(part_size, size - offset))
        try:
            put_part(kind, offset, part)
            offset += len(part)
            failures = 0
        except ApiError as exc:
            if exc.status == 413 and exc.code == "too_large" and len(part) > MIN_PART_SIZE:
                part_size = max(MIN_PART_SIZE, len(part) // 2)
                continue
            if exc.code != "offset_mismatch":
                raise
            failures += 1
            if failures > retries:
                raise
            # The 409 carries the server's view; a lost answer to a stored part lands here too.
            received = _received(exc.body.get("upload"), kind)
            offset = received if received is not None else _resume_offset(status, kind, retries, sleep)
        except (requests.ConnectionError, requests.Timeout):
            failures += 1
            if failures > retries:
                raise
            # A proxy that refuses a big body may just drop the connection: try smaller parts too.
            part_size = max(min(MIN_PART_SIZE, part_size), part_size // 2)
            sleep(min(30.0, 2.0**failures))
            offset = _resume_offset(status, kind, retries, sleep)
        if on_progress and offset > reported:
            on_progress(offset - reported)
            reported = offset
    return part_size


def _read_at(data: bytes | BinaryIO, offset: int, length: int) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data[offset : offset + length])
    data.seek(offset)
    part = data.read(length)
    if len(part) != length:
        raise OSError(f"the temporary file of this upload ended early at byte {offset + len(part)}")
    return part


def _received(upload: Any, kind: str) -> int | None:
    try:
        return int(upload["blobs"][kind]["received"])
    except (TypeError, KeyError, ValueError):
        return None


def _resume_offset(status: Callable[[], dict], kind: str, retries: int, sleep: Callable[[float], None]) -> int:
    """Ask where the server stands, retrying while the connection is down."""
    for attempt in range(1, retries + 2):
        try:
            received = _received(status(), kind)
        except (requests.ConnectionError, requests.Timeout):
            if attempt > retries:
                raise
            sleep(min(30.0, 2.0**attempt))
            continue
        if received is None:
            raise ApiError(200, "bad_answer", "the server's upload status has no byte count for the " + kind)
        return received
    raise AssertionError("unreachable")  # pragma: no cover


# --- encrypt and send one file ---------------------------------------------------


@dataclass
class SentFile:
    """What `send_file` uploaded."""

    file_id: str
    meta: dict
    file: dict


def file_meta(path: Path, prepared: Any, extra: dict | None = None) -> dict:
    """The file metadata that is sealed under FK (docs: everything a viewer shows)."""
    meta = {
        "name": path.name,
        "mime": prepared.mime,
        "size": path.stat().st_size,
        # media says "image"; the metadata says "photo", the word people use.
        "kind": "video" if prepared.kind == "video" else "photo",
        "width": prepared.width,
        "height": prepared.height,
        "duration": prepared.duration,
        "taken_at": prepared.taken_at,
        "camera": prepared.camera,
        "location": list(prepared.location) if prepared.location else None,
        "thumb_type": prepared.thumb_type,
        "preview_type": prepared.preview_type,
    }
    meta.update(extra or {})
    return meta


def send_file(
    target: UploadTarget,
    album_key: bytes,
    album_id: str,
    path: Path,
    prepared: Any,
    extra_meta: dict | None = None,
    on_progress: ProgressFn | None = None,
) -> SentFile:
    """Encrypt a prepared file (thumb, preview, exact original bytes) and upload it: reserve, send, complete."""
    file_id, file_key = crypto.new_id(), crypto.random_key()
    meta = file_meta(path, prepared, extra_meta)
    thumb = crypto.encrypt_blob_bytes(file_key, file_id, "thumb", prepared.thumb)
    preview = crypto.encrypt_blob_bytes(file_key, file_id, "preview", prepared.preview)
    # Originals may be gigabytes: encrypt once to a temporary file and send parts from it.
    with tempfile.TemporaryFile(prefix="fragment-") as original, open(path, "rb") as source:
        for piece in crypto.encrypt_blob(file_key, file_id, "original", source):
            original.write(piece)
        original_size = original.tell()
        if original_size != crypto.ciphertext_size(meta["size"]):
            raise OSError(f"{path.name} changed while it was being read; publish it again")
        blobs: dict[str, tuple[bytes | BinaryIO, int]] = {
            "thumb": (thumb, len(thumb)),
            "preview": (preview, len(preview)),
            "original": (original, original_size),
        }
        reservation = target.reserve(
            {
                "file_id": file_id,
                "wrapped_key": crypto.b64e(crypto.wrap_file_key(album_key, file_key, album_id, file_id)),
                "meta": crypto.b64e(crypto.seal_file_meta(file_key, album_id, file_id, meta)),
                "blobs": {kind: size for kind, (_, size) in blobs.items()},
            }
        )
        if isinstance(reservation.get("part_size"), int) and reservation["part_size"] > 0:
            target.part_size = min(target.part_size, reservation["part_size"])  # a server may say its limit
        for kind, (data, size) in blobs.items():
            target.part_size = upload_blob(
                lambda k, off, part: target.put_part(file_id, k, off, part),
                lambda: target.status(file_id),
                kind,
                data,
                size,
                part_size=target.part_size,
                on_progress=on_progress if kind == "original" else None,
            )
    return SentFile(file_id, {"v": crypto.FORMAT_VERSION, **meta}, target.complete(file_id))


# --- download and decrypt one blob ----------------------------------------------


class ResponseReader(io.RawIOBase):
    """A streamed response as a file, so crypto.decrypt_blob can read it chunk by chunk."""

    def __init__(self, response: requests.Response, on_progress: ProgressFn | None = None):
        self._pieces = response.iter_content(DOWNLOAD_PIECE)
        self._buffer = b""
        self._on_progress = on_progress

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._buffer = piece
            if self._on_progress:
                self._on_progress(len(piece))
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def save_blob(
    response: requests.Response,
    file_key: bytes,
    file_id: str,
    kind: str,
    dest: Path,
    expected_size: int | None = None,
    on_progress: ProgressFn | None = None,
) -> int:
    """Decrypt a streamed blob into a temporary file beside `dest`, and rename it only once all of it checked out.

    Raises crypto.DecryptionError (nothing is left on disk) when any chunk fails, or
    when the plaintext is not `expected_size` bytes long.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=".fragment-", suffix=".part", dir=dest.parent)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out, response:
            reader = io.BufferedReader(ResponseReader(response, on_progress), DOWNLOAD_PIECE)
            try:
                for chunk in crypto.decrypt_blob(file_key, file_id, kind, reader):
                    out.write(chunk)
                    written += len(chunk)
            except crypto.FormatError as exc:  # a mangled header is tampering too
                raise crypto.DecryptionError(str(exc)) from exc
            if expected_size is not None and written != expected_size:
                raise crypto.DecryptionError(f"decrypted {written} bytes where the metadata says {expected_size}")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, dest)
    except BaseException:
        # Half a photo is worse than none: never leave a partial or unauthenticated file.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return written
