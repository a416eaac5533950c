"""HTTP clients for the owner API and the public link API (docs/api.md): HTTP and nothing else.

No click and no printing here: the command line (``cli.py``) decides what a person
sees. No keys either: bodies go out and come back as the API spells them (base64
text included), and the encryption around them is in ``links.py`` and ``albums.py``;
nor any file of the person's, since what is saved where is ``albums.py``'s business.

Every request has a timeout, every error answer becomes one ``ApiError`` carrying
the server's sentence, and uploads resume where the server says it stands, so a
dropped connection costs at most one part.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests

MiB = 1024 * 1024
# Connect fast or fail; allow a slow server minutes to take a part or start a blob.
TIMEOUT = (10, 300)
# Half the server's default UPLOAD_PART_BYTES (8 MiB), so a part never hits 413.
PART_SIZE = 4 * MiB
MIN_PART_SIZE = 64 * 1024
UPLOAD_RETRIES = 5
DOWNLOAD_PIECE = 256 * 1024
USER_AGENT = "fragment-cli/0.1"

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
        message = f"the server answered {reason} without an API error; is {origin(response.url)} a Fragment server?"
        return cls(response.status_code, "http_error", message, None, retry_after)


def iso_time(when: datetime) -> str:
    """ISO 8601 UTC with a Z, as docs/api.md spells times."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None  # an HTTP-date Retry-After: we only show seconds


def origin(url: str | None) -> str:
    """`https://host:port` of a URL, for messages."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "this address"


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
        # Told once, with the new size, when a 413 makes the parts smaller (a proxy's limit, say).
        self.on_smaller_parts: Callable[[int], None] | None = None
        self._told_smaller = False

    def smaller_parts(self, size: int) -> None:
        """A 413 halved the parts to `size` bytes: tell on_smaller_parts, the first time only."""
        if not self._told_smaller and self.on_smaller_parts is not None:
            self._told_smaller = True
            self.on_smaller_parts(size)

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

    def create_album(self, album_id: str, meta: str, owner_key: str | None = None) -> dict:
        """POST a new album with its sealed metadata (base64, docs/api.md), and an account's `owner_key`."""
        body = {"album_id": album_id, "meta": meta, **({"owner_key": owner_key} if owner_key else {})}
        return self.json("POST", "/api/owner/albums", body)

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

    def patch_album(self, album_id: str, meta: str, key_epoch: int | None = None) -> dict:
        """PATCH an album's sealed metadata (base64, docs/api.md): the whole of it, replaced.

        `key_epoch` names the album key it is sealed under; the server refuses it (409 `stale_key`) if that is no longer current.
        """
        body: dict = {"meta": meta}
        if key_epoch is not None:
            body["key_epoch"] = key_epoch
        return self.json("PATCH", self.album_path(album_id), body)

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

    def import_album(self, album_id: str, body: dict) -> dict:
        """POST .../import: move an album of no account (proved by `owner_token` in `body`) into this token's account."""
        return self.json("POST", f"{self.album_path(album_id)}/import", body)


# --- account API ----------------------------------------------------------------------


class AccountClient(_Http):
    """The account API under /api/account/, for one sign-in: the session cookie lives in `self.session`.

    Every request but GET needs the session's CSRF token (docs/api.md, "Account API"): it
    comes with the sign-in answer and is sent from then on.
    """

    CSRF_HEADER = "X-CSRF-Token"

    def __init__(self, server_url: str, session: requests.Session | None = None):
        super().__init__(server_url, None, session)
        self.csrf_token: str | None = None

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kwargs) -> requests.Response:
        if self.csrf_token and method != "GET":
            kwargs["headers"] = {**(kwargs.get("headers") or {}), self.CSRF_HEADER: self.csrf_token}
        return super().request(method, path, ok=ok, **kwargs)

    def params(self, email: str) -> dict:
        """POST params: the Argon2id parameters of an address (made up but stable for an unknown one)."""
        return self.json("POST", "/api/account/params", {"email": email})

    def login(self, email: str, login_key: str, device: str | None = None) -> dict:
        """POST login with the login key (b64); the answer is "signed in" and the cookie is kept."""
        body = {"email": email, "login_key": login_key, **({"device": device} if device else {})}
        signed_in = self.json("POST", "/api/account/login", body)
        token = signed_in.get("csrf_token")
        self.csrf_token = token if isinstance(token, str) else None
        return signed_in

    def create_token(self, label: str) -> dict:
        """POST tokens: a new owner token of the account, shown once."""
        return self.json("POST", "/api/account/tokens", {"label": label})

    def delete_token(self, token_id: str) -> dict:
        return self.json("DELETE", f"/api/account/tokens/{token_id}")

    def logout(self) -> dict:
        """POST logout: the session ends on the server too."""
        return self.json("POST", "/api/account/logout")


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
    on_smaller: Callable[[int], None] | None = None,
) -> int:
    """Send one blob in parts, resuming from the server's `received` after a mismatch or a dropped connection.

    `data` is bytes or a seekable binary file, so any offset can be sent again.
    `on_progress` gets the number of new bytes the server has confirmed. A server
    with a smaller UPLOAD_PART_BYTES answers 413 too_large, and a proxy in front with a
    smaller body limit (nginx's default client_max_body_size is 1 MiB) answers 413 with
    a page of its own: either way parts are halved until they fit, and `on_smaller` is
    told each new size. Returns the part size that worked, so the next blob starts with it.
    """
    offset = reported = failures = 0
    while offset < size:
        part = _read_at(data, offset, min(part_size, size - offset))
        try:
            put_part(kind, offset, part)
            offset += len(part)
            failures = 0
        except ApiError as exc:
            # Not the app's other 413s (account_full, file_too_large): smaller parts would not help those.
            if exc.status == 413 and exc.code in ("too_large", "http_error") and len(part) > MIN_PART_SIZE:
                part_size = max(MIN_PART_SIZE, len(part) // 2)
                if on_smaller is not None:
                    on_smaller(part_size)
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


# --- streamed downloads -----------------------------------------------------------


class ResponseReader(io.RawIOBase):
    """A streamed response as a file, so a decrypting reader (crypto.decrypt_blob) can read it chunk by chunk."""

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


def reader(response: requests.Response, on_progress: ProgressFn | None = None) -> io.BufferedReader:
    """The body of a streamed response as a buffered binary file; `on_progress` sees each piece's bytes."""
    return io.BufferedReader(ResponseReader(response, on_progress), DOWNLOAD_PIECE)
