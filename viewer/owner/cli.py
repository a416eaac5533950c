"""`fragment`: the owner's command line, and a recipient's way to open a link without a browser.

Owners `login`, `publish` a folder as an album, manage its `links`, and `pull` guest
uploads back to disk. Anyone with a link can `open` it or `upload` to it. Everything
is encrypted or decrypted here, on the person's machine, with ``viewer.crypto``;
the server only ever sees ciphertext (docs/design.md, "Threat model").

Output rules: links and listings go to stdout (so ``URL=$(fragment publish ...)``
works); progress, notes and warnings go to stderr. No stack trace reaches a person:
every expected failure ends as one ``Error: ...`` line and exit status 1
(``FragmentGroup.invoke``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import sys
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, overload
from urllib.parse import urlsplit

import click
import requests

from .. import crypto
from . import client, keyring, media
from .client import ApiError, BadLink, LinkClient, OwnerClient
from .keyring import KeyringError

MB = 1_000_000  # the server reports sizes in decimal megabytes too
EXPECTED_ERRORS = (
    ApiError,
    BadLink,
    KeyringError,
    crypto.DecryptionError,
    crypto.FormatError,
    media.MediaError,
    requests.RequestException,
    OSError,
)


# --- errors -------------------------------------------------------------------


class FragmentGroup(click.Group):
    """A click group that turns every expected failure into one `Error:` line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except EXPECTED_ERRORS as exc:
            raise click.ClickException(describe(exc)) from None
        except Exception as exc:  # a bug: still no traceback for the person, unless asked for
            if os.environ.get("FRAGMENT_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected {type(exc).__name__}: {one_line(str(exc))} (set FRAGMENT_DEBUG=1 to see details)"
            ) from None


def describe(exc: BaseException) -> str:
    """One line that tells a person what went wrong, without internals."""
    if isinstance(exc, ApiError):
        return describe_api_error(exc)
    if isinstance(exc, requests.Timeout):
        return f"{_origin_of(exc)} did not answer in time; try again later"
    if isinstance(exc, requests.ConnectionError):
        return f"could not connect to {_origin_of(exc)}: check the address and that the server is running"
    if isinstance(exc, requests.RequestException):
        return f"the connection to {_origin_of(exc)} failed: {one_line(str(exc))}"
    if isinstance(exc, crypto.DecryptionError):
        return "the data could not be decrypted: it is damaged or has been tampered with"
    if isinstance(exc, crypto.FormatError):
        return f"malformed encrypted data: {exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return one_line(str(exc)) or type(exc).__name__


def describe_api_error(exc: ApiError) -> str:
    """The server's sentence, reworded where a person needs to know what to do next."""
    if exc.code == "unauthorized" and exc.message == "the server refused this owner token":
        return f"{exc.message}; run `fragment login SERVER_URL` with a valid token"
    if exc.code == "wrong_password":
        return "wrong password"
    if exc.code in ("bad_proof", "bad_link_key"):
        return "this link's key was not accepted: check that you copied the whole link, including the part after '#'"
    if exc.code == "too_many_attempts" and exc.retry_after:
        # Only wrong passwords are counted (docs/design.md, "Unlocking a link"), so say so.
        return f"too many wrong passwords for this link; try again in {human_seconds(exc.retry_after)}"
    if exc.code == "revoked":
        return "this link was revoked by its owner"
    if exc.code == "expired":
        return f"this link has expired ({one_line(exc.message)})"
    return one_line(exc.message)


def _origin_of(exc: requests.RequestException) -> str:
    url = getattr(getattr(exc, "request", None), "url", None)
    return client._origin(url) if url else "the server"


def one_line(text: str, limit: int = 300) -> str:
    """Squash whitespace so an error stays on its one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def human_seconds(seconds: int) -> str:
    """'15 minutes', '40 seconds', '2 hours'."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = -(-seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


@contextlib.contextmanager
def about(name: str) -> Iterator[None]:
    """Name the file in any error raised for it."""
    try:
        yield
    except crypto.DecryptionError:
        raise click.ClickException(
            f"{name}: the downloaded data is damaged or has been tampered with; nothing was saved for it"
        ) from None
    except EXPECTED_ERRORS as exc:
        raise click.ClickException(f"{name}: {describe(exc)}") from None


def note(message: str) -> None:
    """A line for the person, on stderr so stdout stays machine-readable."""
    click.echo(message, err=True)


def warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


# --- time ---------------------------------------------------------------------

NEVER = "never"
NO_LIMIT = "none"
_DURATION = re.compile(r"^(\d{1,6})\s*([mhdw])$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_expiry(text: str, now: datetime | None = None) -> datetime | None:
    """`7d`, `12h`, `30m`, `2w` from now; `YYYY-MM-DD` = the end of that day (UTC); an ISO time; or `never` (None)."""
    text = text.strip()
    if text.lower() == NEVER:
        return None
    now = now or datetime.now(UTC)
    duration = _DURATION.match(text.lower())
    if duration:
        when = now + timedelta(seconds=int(duration[1]) * _UNITS[duration[2]])
    elif _DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a real date") from None
        # "until 2026-12-01" means through that whole day: next midnight UTC.
        when = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    else:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{text!r} is not an expiry: use 30m, 12h, 7d or 2w, a date YYYY-MM-DD, an ISO time, or 'never'"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # the API speaks UTC; so do we
    if when <= now:
        raise ValueError(f"{iso_time(when)} is in the past; a link must expire in the future")
    return when.astimezone(UTC)


def iso_time(when: datetime) -> str:
    """ISO 8601 UTC with a Z, as docs/api.md spells times."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ExpiryType(click.ParamType):
    """--expires: a datetime, or NEVER."""

    name = "WHEN"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime) or value == NEVER:
            return value
        try:
            when = parse_expiry(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return NEVER if when is None else when


class DeviceLimitType(click.ParamType):
    """--device-limit for a change: a count of at least 1, or `none` to lift the limit."""

    name = "N|none"

    def convert(self, value, param, ctx):  # noqa: RET503 - self.fail raises click's BadParameter
        if isinstance(value, int) or value == NO_LIMIT:
            return value
        text = str(value).strip().lower()
        if text in (NO_LIMIT, "unlimited"):
            return NO_LIMIT
        if text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(f"{value!r} is not a device count: give a whole number of at least 1, or 'none'", param, ctx)


def api_expiry(value: Any) -> str | None:
    return iso_time(value) if isinstance(value, datetime) else None


# --- file names ---------------------------------------------------------------

# Bidirectional overrides (U+202E...) can make a name ending in "gpj.exe" display as "exe.jpg" (CVE-2021-42574 family).
_INVISIBLE = {"\u200e", "\u200f", "\u061c"} | {chr(c) for c in range(0x202A, 0x202F)} | {chr(c) for c in range(0x2066, 0x206A)}
MAX_NAME_BYTES = 255


def clean_text(text: Any) -> str:
    """Untrusted text without control or bidi characters, safe to print on a terminal."""
    return "".join(ch for ch in str(text) if unicodedata.category(ch) != "Cc" and ch not in _INVISIBLE)


def safe_name(name: Any, fallback: str = "file") -> str:
    """A file name from untrusted metadata that can only land inside the output folder.

    Basename only (either slash), no control or bidi characters, no '.'/'..', no
    leading dots (nothing hidden), at most 255 bytes; `fallback` when nothing is left.
    """
    if not isinstance(name, str):
        return fallback
    base = clean_text(name).replace("\\", "/").split("/")[-1]
    base = base.strip().lstrip(".").rstrip(". ")
    if not base:
        return fallback
    return _truncate(base)


def _truncate(name: str) -> str:
    """Keep the extension and cut the stem until the UTF-8 name fits a file system."""
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    while stem and len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return (stem + suffix) if stem else name.encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", "ignore")


def unique_path(directory: Path, name: str, taken: set[Path] | None = None) -> Path:
    """`directory/name`, or `name (2).ext`, `name (3).ext`... so nothing is overwritten."""
    taken = taken if taken is not None else set()
    candidate = directory / name
    stem, ext = _split_ext(name)
    n = 2
    while candidate.exists() or candidate.is_symlink() or candidate in taken:
        candidate = directory / _truncate(f"{stem} ({n}){ext}")
        n += 1
    return candidate


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, f".{ext}") if dot and stem else (name, "")


def preview_name(name: str, mime: Any) -> str:
    """A preview is a WebP (or the type the metadata names), whatever the original was."""
    ext = {"image/webp": ".webp", "image/jpeg": ".jpg", "image/png": ".png"}.get(str(mime), ".webp")
    return f"{_split_ext(name)[0]} (preview){ext}"


# --- keyring and servers --------------------------------------------------------


def load_keyring() -> keyring.Keyring:
    """The keyring, with any warning about its permissions shown."""
    ring = keyring.load()
    for message in ring.warnings:
        warn(message)
    return ring


def check_server_url(url: str) -> str:
    """An http(s) base URL without a trailing slash."""
    url = keyring.normalize_server(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.UsageError(f"{url!r} is not a server address: give one like https://photos.example.org")
    return url


def owner_client(ring: keyring.Keyring, server: str | None) -> OwnerClient:
    """A client for --server (or $FRAGMENT_SERVER, or the default server) with its saved owner token."""
    url = server or ring.default_server
    if not url:
        raise click.UsageError("no server: pass --server URL, set FRAGMENT_SERVER, or run `fragment login URL` first")
    url = check_server_url(url)
    token = ring.owner_token(url) or os.environ.get("FRAGMENT_OWNER_TOKEN")
    if not token:
        raise KeyringError(f"not logged in to {url}: run `fragment login {url}` first")
    return OwnerClient(url, token)


def album_owner(ring: keyring.Keyring, album_id: str, server: str | None = None) -> OwnerClient:
    """The owner client for the server an album lives on."""
    return owner_client(ring, ring.album(album_id).get("server") or server)


def server_option(f: Callable) -> Callable:
    return click.option(
        "--server", envvar="FRAGMENT_SERVER", metavar="URL", help="Server to use (default: the one you last logged in to)."
    )(f)


# --- passwords ----------------------------------------------------------------


def password_options(f: Callable) -> Callable:
    """--password-prompt, --password-stdin, --password P."""
    f = click.option(
        "--password", "password_value", metavar="P", help="The password (visible in your shell history; prefer the other two)."
    )(f)
    f = click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")(f)
    return click.option("--password-prompt", is_flag=True, help="Ask for the password without showing it.")(f)


@overload
def read_password(prompt: bool, stdin: bool, value: str | None, *, confirm: bool, required: Literal[True]) -> str: ...
@overload
def read_password(prompt: bool, stdin: bool, value: str | None, *, confirm: bool, required: bool = False) -> str | None: ...
def read_password(prompt: bool, stdin: bool, value: str | None, *, confirm: bool, required: bool = False) -> str | None:
    """The password from exactly one source, or None when none was asked for (unless `required`)."""
    given = sum(bool(x) for x in (prompt, stdin, value is not None))
    if given > 1:
        raise click.UsageError("give the password one way only: --password-prompt, --password-stdin or --password")
    if stdin:
        # Only the line ending is stripped: spaces may be part of a password.
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin read an empty password")
        return password
    if value is not None:
        if not value:
            raise click.UsageError("the password is empty")
        return value
    if prompt or required:
        return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return None


def password_fields(secret: bytes, album_key: bytes, link_id: str, password: str | None) -> dict:
    """The crypto half of a link body: password params, wrapped album key, verifier and link verifier."""
    params, factor = None, b""
    if password is not None:
        params = crypto.PasswordParams.new()
        factor = crypto.password_factor(password, params)
    keys = crypto.link_keys(secret, factor)
    return {
        "password": params.to_json() if params else None,
        "wrapped_album_key": crypto.b64e(crypto.wrap_album_key(keys.wrap_key, album_key, link_id)),
        "verifier": crypto.b64e(keys.verifier),
        # Sent with every password change too, so a link made before the link proof is upgraded.
        "link_verifier": crypto.b64e(keys.link_verifier),
    }


# --- link settings ---------------------------------------------------------------


def link_options(f: Callable) -> Callable:
    """The settings of a new link (publish, links add)."""
    options = [
        click.option("--max-file-mb", type=click.IntRange(min=1), help="Largest guest file, in MB."),
        click.option("--quota-mb", type=click.IntRange(min=1), help="Total guest upload space, in MB."),
        click.option("--quota-files", type=click.IntRange(min=1), help="How many files guests may add."),
        click.option("--upload-only", is_flag=True, help="Guests may add files but see none."),
        click.option("--allow-uploads", is_flag=True, help="Let people with the link add their own photos."),
        click.option("--no-downloads", is_flag=True, help="Show photos but never send originals."),
        click.option("--device-limit", type=click.IntRange(min=1), metavar="N", help="How many devices may open the link."),
        click.option(
            "--expires", type=ExpiryType(), help="7d, 12h, 30m, 2w, YYYY-MM-DD (end of that day, UTC), an ISO time, or never."
        ),
    ]
    for option in options:
        f = option(f)
    return password_options(f)


def new_link_settings(opts: dict) -> dict:
    """The non-crypto fields of docs/api.md's "New link"."""
    upload_only = bool(opts["upload_only"])
    return {
        "expires_at": api_expiry(opts["expires"]),
        "device_limit": opts["device_limit"],
        "downloads": not opts["no_downloads"],
        # Upload-only makes no sense without uploads, so it implies them.
        "uploads": bool(opts["allow_uploads"]) or upload_only,
        "upload_only": upload_only,
        "quota_files": opts["quota_files"],
        "quota_bytes": opts["quota_mb"] * MB if opts["quota_mb"] else None,
        "max_file_size": opts["max_file_mb"] * MB if opts["max_file_mb"] else None,
    }


def create_link(owner: OwnerClient, album_id: str, album_key: bytes, settings: dict, password: str | None) -> str:
    """Make a link and return the URL to share; its secret is saved to the keyring first."""
    link_id, secret = crypto.new_id(), crypto.random_key()
    body = {"link_id": link_id, **password_fields(secret, album_key, link_id, password), **settings}
    with keyring.edit() as ring:
        ring.add_link(album_id, link_id, secret)
    link = owner.create_link(album_id, body)
    return client.link_url(owner.server_url, link_id, secret, link)


def link_id_of(ref: str) -> str:
    """A link id from a bare id or a full link (with or without its '#' part)."""
    ref = ref.strip()
    if crypto.is_id(ref):
        return ref
    return client.split_link(ref)[1]


# --- progress -------------------------------------------------------------------


class _Bar(Protocol):
    def update(self, n_steps: int, current_item: Any = None) -> None: ...


def naming(bar: _Bar, name: str) -> client.ProgressFn:
    """A progress callback that advances `bar` by its bytes and shows `name`."""
    return lambda n: bar.update(n, name)


def parent_server(ctx: click.Context) -> str | None:
    """The --server given to the command group, if any."""
    return ctx.parent.params.get("server") if ctx.parent is not None else None


def progress(total: int, label: str):
    """A progress bar over bytes on stderr, naming the current file."""
    return click.progressbar(
        length=max(total, 1),
        label=label,
        file=sys.stderr,
        item_show_func=lambda name: clean_text(name) if name else None,
        show_eta=True,
    )


# --- commands ---------------------------------------------------------------------


@click.group(cls=FragmentGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fragment")
def main() -> None:
    """Fragment: end-to-end encrypted photo album links.

    Keys live in a local keyring: $FRAGMENT_KEYRING, else ~/.config/fragment/keyring.json.
    """


@main.command()
@click.argument("server_url")
@click.option("--token-stdin", is_flag=True, help="Read the owner token from standard input.")
def login(server_url: str, token_stdin: bool) -> None:
    """Check an owner token against SERVER_URL and remember it."""
    url = check_server_url(server_url)
    token = read_owner_token(token_stdin)
    if url.startswith("http://") and not _is_loopback(url):
        warn(f"{url} is plain http: the owner token travels unencrypted")
    try:
        OwnerClient(url, token).list_albums()
    except ApiError as exc:
        if exc.status == 401:
            raise click.ClickException("the server refused this owner token") from None
        raise
    with keyring.edit() as ring:
        ring.set_server(url, token)
    note(f"Logged in to {url}; it is now your default server.")


def read_owner_token(from_stdin: bool) -> str:
    """--token-stdin, else $FRAGMENT_OWNER_TOKEN, else a hidden prompt."""
    if from_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = os.environ.get("FRAGMENT_OWNER_TOKEN") or click.prompt("Owner token", hide_input=True)
    token = token.strip()
    if not token:
        raise click.UsageError("the owner token is empty")
    return token


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--title", help="Album title (default: the folder's name).")
@click.option("--restart", is_flag=True, help="Delete an unfinished publish of DIRECTORY (album and files) and start over.")
@link_options
@server_option
def publish(directory: Path, title: str | None, restart: bool, server: str | None, **opts: Any) -> None:
    """Encrypt and upload the photos and videos in DIRECTORY as an album (finishing an interrupted one), and print its link."""
    ring = load_keyring()
    owner = owner_client(ring, server)
    settings = new_link_settings(opts)
    password = read_password(opts["password_prompt"], opts["password_stdin"], opts["password_value"], confirm=True)
    folder = str(directory.resolve())
    with keyring.publish_lock(ring.path, owner.server_url, folder):
        publish_into(ring, owner, directory, folder, title, restart, settings, password)


def publish_into(
    ring: keyring.Keyring,
    owner: OwnerClient,
    directory: Path,
    folder: str,
    title: str | None,
    restart: bool,
    settings: dict,
    password: str | None,
) -> None:
    """`publish`, under its lock: resume or start the album, upload what is missing, make the link."""
    ring = keyring.load(ring.path)  # read again under the lock: a run that just ended may have finished the album
    album_id = ring.unfinished_publish(owner.server_url, folder)
    if album_id and restart:
        note(f"Deleting the unfinished album {quoted(ring.album(album_id).get('title', ''))} ({album_id}) to start over.")
        delete_album_everywhere(owner, album_id)
        album_id = None
    paths, ignored = find_media(directory)
    if not paths:
        raise click.ClickException(f"no photos or videos in {directory}")
    if ignored:
        note(f"Skipping {ignored} file(s) that are not photos or videos.")
    if album_id:
        album_key, title, done = resume_publish(owner, keyring.load(ring.path), album_id, paths, title)
    else:
        title = title or directory.resolve().name
        album_id, album_key, done = crypto.new_id(), crypto.random_key(), {}
        # The key and the progress record go to disk before any byte leaves: a crash later never strands an album.
        with keyring.edit(ring.path) as saved:
            saved.add_album(album_id, owner.server_url, album_key, title)
            saved.start_publish(album_id, folder, iso_time(datetime.now(UTC)))
        owner.create_album(album_id, crypto.seal_album_meta(album_key, album_id, {"title": title}))
    target = PublishTarget(owner, album_id, ring.path)
    todo = [path for path in paths if path.name not in done]
    done_bytes = sum(crypto.ciphertext_size(path.stat().st_size) for path in paths if path.name in done)
    sent, failed = upload_files(
        target, album_key, album_id, todo, done_bytes=done_bytes, on_start=target.begin, on_sent=target.sent
    )
    if not sent and not done:
        with contextlib.suppress(click.ClickException):
            delete_album_everywhere(owner, album_id)  # a refusal keeps the key; `fragment albums` shows the album
        raise click.ClickException(f"none of the {len(paths)} file(s) could be read; nothing was published")
    # The link comes last: an album without one is unfinished, and `fragment albums` says so.
    url = finish_link(owner, album_id, album_key, settings, password, resumed=bool(done))
    with keyring.edit(ring.path) as saved:
        saved.finish_publish(album_id)
    summary = f"Published {sent + len(done)} file(s) as album {quoted(title)} ({album_id})."
    if failed:
        summary += f" {len(failed)} file(s) were skipped: {', '.join(failed)}."
    note(summary)
    click.echo(url)


def quoted(title: str) -> str:
    """A title as messages show it: 'Lyon'."""
    return f"'{clean_text(title)}'"


def file_state(path: Path) -> dict:
    """What tells a file published earlier from one changed since: size and modification time."""
    info = path.stat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}


def started_on(iso: Any) -> str:
    """'2026-12-02 13:04 UTC' from the ISO time a publish record keeps."""
    try:
        return datetime.fromisoformat(str(iso).replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return "an earlier run"


def resume_publish(
    owner: OwnerClient, ring: keyring.Keyring, album_id: str, paths: list[Path], title: str | None
) -> tuple[bytes, str, dict[str, str]]:
    """(album key, title, {name: file id} of the files already there) of an unfinished publish, squared with the server."""
    record = ring.publish_record(album_id) or {}
    album_key = ring.album_key(album_id)
    kept = str(ring.album(album_id).get("title", ""))
    if title and title != kept:
        note(f"The album keeps the title {quoted(kept)} it was started with.")
    if owner.find_album(album_id) is None:  # killed before the server heard of the album
        owner.create_album(album_id, crypto.seal_album_meta(album_key, album_id, {"title": kept}))
        on_server: set[str] = set()
    else:
        on_server = {str(entry.get("file_id")) for entry in owner.iter_files(album_id)}
    recorded = dict(record.get("files") or {})
    completed, abandoned = None, None
    pending = record.get("pending") or None
    if pending and pending.get("file_id") in on_server:
        completed = pending  # the server completed it just before the crash: not sent twice
        recorded[pending["name"]] = pending
    elif pending:
        abandoned = pending
        with contextlib.suppress(*EXPECTED_ERRORS):
            owner.delete_file(album_id, pending["file_id"])  # frees its reservation now rather than at cleanup
    present = {path.name: path for path in paths}
    done, resend, gone = {}, [], 0
    for name, entry in recorded.items():
        path = present.get(name)
        if entry.get("file_id") not in on_server:
            resend.append(name)  # gone from the server (deleted by hand?): send it again
        elif path is None:
            gone += 1
        elif file_state(path) != {"size": entry.get("size"), "mtime_ns": entry.get("mtime_ns")}:
            note(f"{clean_text(name)} changed since it was uploaded: sending the new version.")
            with contextlib.suppress(*EXPECTED_ERRORS):
                owner.delete_file(album_id, entry["file_id"])
            resend.append(name)
        else:
            done[name] = str(entry["file_id"])
    with keyring.edit(ring.path) as saved:
        if completed:
            state = {key: completed.get(key) for key in ("size", "mtime_ns")}
            saved.publish_done(album_id, completed["name"], completed["file_id"], state)
        if abandoned:
            saved.publish_forget(album_id, abandoned["name"])
        for name in resend:
            saved.publish_forget(album_id, name)
    note(
        f"Resuming the publish of {quoted(kept)} started on {started_on(record.get('started_at'))}: "
        f"{len(done)} of {len(paths)} files are already there (`--restart` deletes them and starts over)."
    )
    if gone:
        note(f"{gone} file(s) uploaded before are no longer in the folder; they stay in the album.")
    return album_key, kept, done


class PublishTarget(client.UploadTarget):
    """An album's upload routes that keep the keyring's publish record in step with the server."""

    def __init__(self, owner: OwnerClient, album_id: str, ring_path: Path):
        super().__init__(owner, owner.album_path(album_id))
        self.album_id, self.ring_path = album_id, ring_path
        self.path: Path | None = None
        self.state: dict = {}

    def begin(self, path: Path) -> None:
        """The file about to be read; its state is taken before reading, so a later change shows."""
        self.path, self.state = path, file_state(path)

    def reserve(self, body: dict) -> dict:
        # Noted before the server hears of the file: if this process dies from here on, the next
        # run knows which reservation to abandon, or finds the file complete and does not send it twice.
        assert self.path is not None
        with keyring.edit(self.ring_path) as ring:
            ring.publish_pending(self.album_id, self.path.name, body["file_id"], self.state)
        return super().reserve(body)

    def sent(self, path: Path, sent: client.SentFile) -> None:
        """The server completed the file: note it as done."""
        with keyring.edit(self.ring_path) as ring:
            ring.publish_done(self.album_id, path.name, sent.file_id, self.state)


def finish_link(owner: OwnerClient, album_id: str, album_key: bytes, settings: dict, password: str | None, resumed: bool) -> str:
    """The album's link: one made just before an interruption if the server and keyring both have it, else a new one."""
    if resumed:
        ring = keyring.load()
        for link in owner.list_links(album_id):
            secret = ring.link_secret(album_id, str(link.get("link_id")))
            if secret and not link.get("revoked_at"):
                note("Its link was made before the interruption; here it is again.")
                return client.link_url(owner.server_url, link["link_id"], secret, link)
    return create_link(owner, album_id, album_key, settings, password)


def find_media(directory: Path) -> tuple[list[Path], int]:
    """Top-level photos and videos sorted by name, and how many other files were left out (hidden ones silently)."""
    paths, ignored = [], 0
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or not path.is_file():
            continue
        if media.is_media(path):
            paths.append(path)
        else:
            ignored += 1
    return paths, ignored


def upload_files(
    target: client.UploadTarget,
    album_key: bytes,
    album_id: str,
    paths: list[Path],
    extra_meta: dict | None = None,
    *,
    done_bytes: int = 0,
    on_start: Callable[[Path], None] | None = None,
    on_sent: Callable[[Path, client.SentFile], None] | None = None,
) -> tuple[int, list[str]]:
    """Prepare, encrypt and upload each file; a file media cannot read is skipped with a warning.

    `done_bytes` starts the bar where an earlier run stopped; `on_start` and `on_sent` see each file go.
    """
    sizes = {path: path.stat().st_size for path in paths}
    total = sum(crypto.ciphertext_size(size) for size in sizes.values())
    sent, failed = 0, []
    with progress(done_bytes + total, "Uploading") as bar:
        if done_bytes:
            bar.update(done_bytes)
        for path in paths:
            bar.update(0, path.name)
            try:
                prepared = media.prepare(path)
            except media.MediaError as exc:
                warn(f"skipped {clean_text(path.name)}: {media_reason(exc, path)}")
                failed.append(clean_text(path.name))
                bar.update(crypto.ciphertext_size(sizes[path]), path.name)
                continue
            if on_start:
                on_start(path)
            with about(clean_text(path.name)):
                done = client.send_file(
                    target,
                    album_key,
                    album_id,
                    path,
                    prepared,
                    extra_meta,
                    on_progress=naming(bar, path.name),
                )
            if on_sent:
                on_sent(path, done)
            sent += 1
    return sent, failed


def media_reason(exc: media.MediaError, path: Path) -> str:
    """MediaError messages start with the path; the warning names the file already."""
    text = str(exc)
    prefix = f"{path}: "
    return one_line(text.removeprefix(prefix))


def delete_album_everywhere(owner: OwnerClient, album_id: str) -> bool:
    """Delete an album on the server, and only once the server confirmed, its key and link secrets here.

    The keyring holds the only copy of the album key (docs/design.md, "Key hierarchy"): dropping it
    while the server still holds the album would leave files nobody can open or delete by title.
    False when the server had no such album (any more).
    """
    try:
        existed = owner.delete_album(album_id)
    except EXPECTED_ERRORS as exc:
        raise click.ClickException(
            f"the server did not delete album {album_id} ({describe(exc)}); its key stays in your keyring, "
            f"so `fragment albums delete {album_id}` can try again"
        ) from None
    with keyring.edit() as ring:
        ring.remove_album(album_id)
    return existed


@main.group(invoke_without_command=True)
@server_option
@click.pass_context
def albums(ctx: click.Context, server: str | None) -> None:
    """List your albums on the server (id, files, links and title); `albums delete` removes one."""
    if ctx.invoked_subcommand is None:
        list_albums(server)


@albums.command("list")
@server_option
@click.pass_context
def albums_list(ctx: click.Context, server: str | None) -> None:
    """List your albums on the server: id, files, links and title."""
    list_albums(server or parent_server(ctx))


def list_albums(server: str | None) -> None:
    """The table of `fragment albums`."""
    ring = load_keyring()
    owner = owner_client(ring, server)
    mine = ring.albums(owner.server_url)
    rows = []
    on_server = owner.list_albums()
    for album in on_server:
        album_id = album.get("album_id", "?")
        title = album_title(ring, album) + album_state(ring, album_id, album) if album_id in mine else "(key not in this keyring)"
        rows.append((album_id, str(album.get("files", "?")), str(album.get("links", "?")), title))
    seen = {album.get("album_id") for album in on_server}
    for album_id, album in mine.items():
        if album_id not in seen:
            state = album_state(ring, album_id, None) or " (not on the server any more)"
            rows.append((album_id, "-", "-", f"{clean_text(album.get('title', ''))}{state}"))
    if not rows:
        note(f"No albums on {owner.server_url} yet: `fragment publish DIR` makes one.")
        return
    click.echo(f"{'ALBUM':<22}  {'FILES':>5}  {'LINKS':>5}  TITLE")
    for album_id, files, links_count, title in rows:
        click.echo(f"{album_id:<22}  {files:>5}  {links_count:>5}  {title}")


def album_state(ring: keyring.Keyring, album_id: str, album: dict | None) -> str:
    """' - unfinished (...)' for a publish that did not end, ' - no link (...)' for an album nobody can open; else ''."""
    record = ring.publish_record(album_id)
    if record:
        folder = shlex.quote(str(record.get("folder", "DIR")))
        return f" - unfinished (run `fragment publish {folder}` again to finish, or `fragment albums delete {album_id}`)"
    if album is not None and album.get("links") == 0:
        return f" - no link (`fragment links add {album_id}` makes one, or `fragment albums delete {album_id}`)"
    return ""


def album_title(ring: keyring.Keyring, album: dict) -> str:
    """The title decrypted from the server's sealed metadata (the keyring's copy if that fails)."""
    album_id = album["album_id"]
    try:
        meta = crypto.open_album_meta(ring.album_key(album_id), album_id, crypto.b64d(album.get("meta", "")))
        return clean_text(meta.get("title", ""))
    except (crypto.DecryptionError, crypto.FormatError):
        return f"{clean_text(ring.album(album_id).get('title', ''))} (metadata on the server does not decrypt!)"


@albums.command("delete")
@click.argument("album")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@server_option
@click.pass_context
def albums_delete(ctx: click.Context, album: str, yes: bool, server: str | None) -> None:
    """Delete ALBUM (an id or an exact title) on the server with its files and links, then its keys here."""
    ring = load_keyring()
    server = server or parent_server(ctx)
    try:
        album_id, known = ring.find_album(album), True
    except KeyringError:
        if not crypto.is_id(album):
            raise
        album_id, known = album, False  # its key is lost: the owner token alone can still delete it
    owner = album_owner(ring, album_id, server) if known else owner_client(ring, server)
    found = owner.find_album(album_id)
    if found is None and not known:
        raise click.ClickException(f"there is no album {album_id} on {owner.server_url}")
    if known:
        name = f"{quoted(ring.album(album_id).get('title', ''))} ({album_id})"
    else:
        name = f"{album_id} (its key is not in this keyring)"
    if found is None:
        question = f"Album {name} is not on {owner.server_url} any more. Remove its key and link secrets from this keyring?"
    else:
        question = (
            f"Delete album {name} from {owner.server_url}, with its {found.get('files', 0)} file(s) and "
            f"{found.get('links', 0)} link(s)? Everyone who has a link loses access, and this cannot be undone."
        )
    if not yes:
        click.confirm(question, abort=True, err=True)
    if known:
        delete_album_everywhere(owner, album_id)
    elif not owner.delete_album(album_id):
        raise click.ClickException(f"there is no album {album_id} on {owner.server_url}")
    click.echo(f"Deleted album {name}.")


# --- links ------------------------------------------------------------------------


@main.group()
def links() -> None:
    """List, add, change and revoke an album's links."""


@links.command("list")
@click.argument("album")
def links_list(album: str) -> None:
    """Show the links of ALBUM (an id or an exact title)."""
    ring = load_keyring()
    album_id = ring.find_album(album)
    owner = album_owner(ring, album_id)
    found = owner.list_links(album_id)
    if not found:
        note("This album has no links: `fragment links add ALBUM` makes one.")
    for link in found:
        secret = ring.link_secret(album_id, link["link_id"])
        click.echo(format_link(owner.server_url, link, secret))


def format_link(server_url: str, link: dict, secret: bytes | None) -> str:
    """A few lines about one link, as `links list` shows it."""
    link_id = link.get("link_id", "?")
    url = client.link_url(server_url, link_id, secret, link) if secret else "(its secret is not in this keyring)"
    limit = link.get("device_limit")
    uploads = "no"
    if link.get("uploads"):
        uploads = "only (guests see nothing)" if link.get("upload_only") else "yes"
        uploads += f"; {link.get('files_used', 0)} file(s), {(link.get('bytes_used') or 0) / MB:.1f} MB used"
    lines = [
        f"{link_id}",
        f"  link:      {url}",
        f"  password:  {'yes' if link.get('password') else 'no'}",
        f"  expires:   {link.get('expires_at') or 'never'}",
        f"  devices:   {link.get('devices_used', 0)} of {limit if limit is not None else 'unlimited'}",
        f"  downloads: {'yes' if link.get('downloads') else 'no (previews only)'}",
        f"  uploads:   {uploads}",
        f"  revoked:   {link.get('revoked_at') or 'no'}",
    ]
    return "\n".join(lines)


@links.command("add")
@click.argument("album")
@link_options
def links_add(album: str, **opts: Any) -> None:
    """Make another link to ALBUM and print it."""
    ring = load_keyring()
    album_id = ring.find_album(album)
    owner = album_owner(ring, album_id)
    settings = new_link_settings(opts)
    password = read_password(opts["password_prompt"], opts["password_stdin"], opts["password_value"], confirm=True)
    click.echo(create_link(owner, album_id, ring.album_key(album_id), settings, password))


@links.command("change")
@click.argument("link")
@click.option("--expires", type=ExpiryType(), help="New expiry, or never.")
@click.option("--device-limit", type=DeviceLimitType(), help="New device limit, or none.")
@click.option("--downloads/--no-downloads", default=None, help="Send originals, or previews only.")
@click.option("--uploads/--no-uploads", default=None, help="Let guests add files.")
@click.option("--upload-only/--no-upload-only", default=None, help="Guests add files but see none.")
@click.option("--quota-files", type=click.IntRange(min=1), help="How many files guests may add.")
@click.option("--quota-mb", type=click.IntRange(min=1), help="Total guest upload space, in MB.")
@click.option("--max-file-mb", type=click.IntRange(min=1), help="Largest guest file, in MB.")
@password_options
@click.option("--no-password", is_flag=True, help="Remove the password.")
@server_option
def links_change(link: str, server: str | None, **opts: Any) -> None:
    """Change the settings of LINK (a link or its id); the link itself stays the same."""
    link_id = link_id_of(link)
    ring = load_keyring()
    try:
        album_id, secret = ring.find_link(link_id)
    except KeyringError:
        album_id, secret = None, None  # made elsewhere: settings can change, the password cannot
    owner = album_owner(ring, album_id, server) if album_id else owner_client(ring, server)
    changes = setting_changes(opts)
    if opts["no_password"] or opts["password_prompt"] or opts["password_stdin"] or opts["password_value"] is not None:
        changes.update(password_change(ring, album_id, link_id, secret, opts))
    if not changes:
        raise click.UsageError("nothing to change: give at least one setting (see --help)")
    updated = owner.patch_link(link_id, changes)
    note(f"Changed link {link_id}.")
    click.echo(format_link(owner.server_url, updated, secret))


def setting_changes(opts: dict) -> dict:
    """Only the settings given on the command line."""
    changes: dict[str, Any] = {}
    if opts["expires"] is not None:
        changes["expires_at"] = api_expiry(opts["expires"])
    if opts["device_limit"] is not None:
        changes["device_limit"] = None if opts["device_limit"] == NO_LIMIT else opts["device_limit"]
    for name in ("downloads", "uploads", "upload_only", "quota_files"):
        if opts[name] is not None:
            changes[name] = opts[name]
    # The server refuses upload-only without uploads; keep the pair consistent for the owner.
    if opts["upload_only"] and opts["uploads"] is None:
        changes["uploads"] = True
    if opts["uploads"] is False and opts["upload_only"] is None:
        changes["upload_only"] = False
    if opts["quota_mb"] is not None:
        changes["quota_bytes"] = opts["quota_mb"] * MB
    if opts["max_file_mb"] is not None:
        changes["max_file_size"] = opts["max_file_mb"] * MB
    return changes


def password_change(ring: keyring.Keyring, album_id: str | None, link_id: str, secret: bytes | None, opts: dict) -> dict:
    """New password params, wrapped album key and verifier, from the link secret in the keyring."""
    if opts["no_password"] and (opts["password_prompt"] or opts["password_stdin"] or opts["password_value"] is not None):
        raise click.UsageError("--no-password cannot be combined with a new password")
    if album_id is None or secret is None:
        raise KeyringError(f"changing the password needs the secret of link {link_id}, and it is not in this keyring")
    password = None
    if not opts["no_password"]:
        password = read_password(opts["password_prompt"], opts["password_stdin"], opts["password_value"], confirm=True)
    return password_fields(secret, ring.album_key(album_id), link_id, password)


@links.command("revoke")
@click.argument("link")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@server_option
def links_revoke(link: str, yes: bool, server: str | None) -> None:
    """Revoke LINK (a link or its id) at once; nothing is re-encrypted."""
    link_id = link_id_of(link)
    ring = load_keyring()
    try:
        album_id = ring.find_link(link_id)[0]
    except KeyringError:
        album_id = None
    owner = album_owner(ring, album_id, server) if album_id else owner_client(ring, server)
    if not yes:
        click.confirm(f"Revoke link {link_id}? Everyone who has it loses access at once.", abort=True, err=True)
    owner.revoke_link(link_id)
    click.echo(f"Revoked link {link_id}.")


# --- guest uploads back to the owner ---------------------------------------------------


@main.command()
@click.argument("album")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to save into.")
def pull(album: str, out: Path) -> None:
    """Download and decrypt what guests added to ALBUM, into OUT/<guest name>/."""
    ring = load_keyring()
    album_id = ring.find_album(album)
    owner = album_owner(ring, album_id)
    album_key = ring.album_key(album_id)
    files = list(owner.iter_files(album_id, source="guest"))
    if not files:
        note("No guest uploads in this album yet.")
        return
    out.mkdir(parents=True, exist_ok=True)
    saved, present = 0, 0
    taken: set[Path] = set()
    with progress(sum(blob_size(f, "original") for f in files), "Downloading") as bar:
        for entry in files:
            file_id, file_key, meta = open_file(album_key, album_id, entry)
            folder = out / safe_name(meta.get("uploader"), "guest")
            folder.mkdir(exist_ok=True)
            name = safe_name(meta.get("name"))
            if already_there(folder / name, meta, taken):
                present += 1
                bar.update(blob_size(entry, "original"), name)
                continue
            dest = unique_path(folder, name, taken)
            bar.update(0, name)
            with about(name):
                response = owner.download_blob(album_id, file_id, "original")
                client.save_blob(response, file_key, file_id, "original", dest, meta_size(meta), naming(bar, name))
            keep_taken_time(dest, meta)
            taken.add(dest)
            saved += 1
    extra = f"; {present} were already there" if present else ""
    note(f"Saved {saved} guest file(s) to {out}{extra}.")


def taken_timestamp(meta: dict) -> float | None:
    """The POSIX time of the metadata's `taken_at`, or None when it is missing or unreadable."""
    value = meta.get("taken_at")
    if not isinstance(value, str):
        return None
    try:
        # Without an offset it is the camera's wall clock, so a naive time is read as local time.
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def keep_taken_time(path: Path, meta: dict) -> None:
    """Give a saved file its capture time as mtime, so it sorts by date in a file manager."""
    when = taken_timestamp(meta)
    if when is None:
        return
    # A time the file system cannot hold (guest metadata is untrusted): keep the download time.
    with contextlib.suppress(ValueError, OverflowError, OSError):
        os.utime(path, (when, when))


def open_file(album_key: bytes, album_id: str, entry: dict) -> tuple[str, bytes, dict]:
    """(file id, file key, metadata) of a listed file; an error that names the file id if it does not decrypt."""
    file_id = str(entry.get("file_id", "?"))
    try:
        file_key = crypto.unwrap_file_key(album_key, crypto.b64d(entry["wrapped_key"]), album_id, file_id)
        meta = crypto.open_file_meta(file_key, album_id, file_id, crypto.b64d(entry["meta"]))
    except (crypto.DecryptionError, crypto.FormatError, KeyError, TypeError):
        raise click.ClickException(f"file {file_id}: its key or metadata is damaged or has been tampered with") from None
    return file_id, file_key, meta


def blob_size(entry: dict, kind: str) -> int:
    size = (entry.get("blobs") or {}).get(kind)
    return size if isinstance(size, int) else 0


def meta_size(meta: dict) -> int | None:
    size = meta.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def already_there(path: Path, meta: dict, taken: set[Path]) -> bool:
    """A file of the same name and size from an earlier run: do not fetch it twice."""
    size = meta_size(meta)
    return size is not None and path not in taken and path.is_file() and path.stat().st_size == size


# --- recipients and guests -------------------------------------------------------------


class Unlocked:
    """An unlocked link: its client, keys, info and album key."""

    def __init__(self, link: LinkClient, keys: crypto.LinkKeys, info: dict, answer: dict):
        self.link, self.keys, self.info, self.answer = link, keys, info, answer
        self.album_id = need(answer, "album_id")
        wrapped = crypto.b64d(need(answer, "wrapped_album_key"))
        self.album_key = crypto.unwrap_album_key(keys.wrap_key, wrapped, link.link_id)
        self.album_meta = crypto.open_album_meta(self.album_key, self.album_id, crypto.b64d(need(answer, "album_meta")))

    def relock(self) -> None:
        """Unlock again with the same keys, after the access token timed out."""
        unlock(self.link, self.keys)


def need(data: dict, key: str) -> Any:
    """A field the server must send."""
    if data.get(key) is None:
        raise ApiError(200, "bad_answer", f"the server's answer lacks {key!r}; is it a Fragment server of the same version?")
    return data[key]


def open_link(url: str, password_opts: tuple[bool, str | None], refuse: Callable[[dict], str | None]) -> Unlocked:
    """Parse the link, derive its keys (asking for a password if it has one), unlock, and open the album key.

    `refuse(info)` may name a reason to stop before unlocking, so a link that cannot
    serve this command neither costs a device slot nor asks for a password.
    """
    base, link_id, secret = client.parse_link(url)
    link = LinkClient(base, link_id)
    info = link.info()
    if info.get("format", crypto.FORMAT_VERSION) != crypto.FORMAT_VERSION:
        raise click.ClickException(f"this link uses format {info.get('format')}; update fragment to open it")
    reason = refuse(info)
    if reason:
        raise click.ClickException(reason)
    stdin, value = password_opts
    password = params = None
    if info.get("password"):
        # Checked before the password is asked for or hashed: weak parameters from a malicious
        # server would make the proof cheap to brute-force offline (docs/format.md, "Argon2id floor").
        try:
            params = crypto.PasswordParams.from_json(info["password"])
        except crypto.WeakPasswordParams:
            raise click.ClickException(crypto.WEAK_PARAMS_MESSAGE) from None
        except crypto.FormatError as exc:
            raise click.ClickException(
                f"this link's password settings are not valid ({exc}); ask the owner for a new link"
            ) from None
        password = read_password(False, stdin, value, confirm=False, required=True)
    elif stdin or value is not None:
        warn("this link has no password; ignoring the one given")
    # The challenge is where the server checks attempt limits: ask for it before
    # Argon2, so a locked-out client is refused without the expensive work (docs/api.md, "Unlock").
    challenge = need(link.challenge(), "challenge")
    # Both or neither: a link with password settings made read_password require one.
    factor = crypto.password_factor(password, params) if params is not None and password is not None else b""
    keys = crypto.link_keys(secret, factor)
    answer = unlock(link, keys, challenge)
    return Unlocked(link, keys, answer.get("info") or info, answer)


def unlock(link: LinkClient, keys: crypto.LinkKeys, challenge: str | None = None) -> dict:
    """Sign the challenge with the link, password and device keys, and unlock (docs/api.md, "Unlock")."""
    if challenge is None:
        challenge = need(link.challenge(), "challenge")
    device = device_key(link.link_id)
    return link.unlock(
        {
            "challenge": challenge,
            "link_proof": crypto.sign_link_proof(keys, link.link_id, challenge),
            "proof": crypto.sign_proof(keys, link.link_id, challenge),
            "device_key": crypto.b64e(device.public_key),
            "device_proof": device.sign(link.link_id, challenge),
        }
    )


def device_key(link_id: str) -> crypto.DeviceKey:
    """This machine's key for a link, kept in the keyring: it takes one device slot however often it opens the link."""
    with contextlib.suppress(KeyringError, OSError):
        seed = keyring.load().device_seed(link_id)
        if seed is not None:
            return crypto.DeviceKey.from_seed(seed)
    try:
        with keyring.edit() as ring:
            seed = ring.device_seed(link_id)  # read again under the lock: a parallel command may have made one
            if seed is None:
                seed = crypto.DeviceKey.new().seed
                ring.set_device_seed(link_id, seed)
        return crypto.DeviceKey.from_seed(seed)
    except (KeyringError, OSError) as exc:
        warn(f"cannot keep this device's key ({exc}); opening this link again may take another device slot")
        return crypto.DeviceKey.new()


def link_password_options(f: Callable) -> Callable:
    """--password-stdin and --password P for opening a link; without them it asks when the link needs one."""
    f = click.option("--password", "password_value", metavar="P", help="The link's password (else asked for when needed).")(f)
    return click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")(f)


@main.command("open")
@click.argument("link")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to save into.")
@click.option("--previews", is_flag=True, help="Save screen-size previews instead of the originals.")
@link_password_options
def open_command(link: str, out: Path, previews: bool, password_stdin: bool, password_value: str | None) -> None:
    """Download and decrypt a whole album from LINK, checking every byte."""
    opened = open_link(link, (password_stdin, password_value), refuse_upload_only)
    click.echo(f"Album: {clean_text(opened.album_meta.get('title', ''))}")
    kind = "preview" if previews or not opened.info.get("downloads", True) else "original"
    if kind == "preview" and not previews:
        note("The owner turned downloads off for this link: saving screen-size previews (WebP), not the original files.")
    files = list(opened.link.iter_files())
    out.mkdir(parents=True, exist_ok=True)
    saved, present = 0, 0
    taken: set[Path] = set()
    with progress(sum(blob_size(f, kind) for f in files), "Downloading") as bar:
        for entry in files:
            file_id, file_key, meta = open_file(opened.album_key, opened.album_id, entry)
            name = safe_name(meta.get("name"))
            if kind == "preview":
                name = preview_name(name, meta.get("preview_type"))
            elif already_there(out / name, meta, taken):
                present += 1
                bar.update(blob_size(entry, kind), name)
                continue
            dest = unique_path(out, name, taken)
            bar.update(0, name)
            with about(name):
                response = fetch_blob(opened, file_id, kind)
                size = meta_size(meta) if kind == "original" else None
                client.save_blob(response, file_key, file_id, kind, dest, size, naming(bar, name))
            taken.add(dest)
            saved += 1
    extra = f"; {present} were already there" if present else ""
    note(f"Saved {saved} file(s) to {out}{extra}.")


def refuse_upload_only(info: dict) -> str | None:
    if info.get("upload_only"):
        return "this link only accepts uploads; it shows no photos (use `fragment upload`)"
    return None


def refuse_no_uploads(info: dict) -> str | None:
    return None if info.get("uploads") else "this link does not accept uploads"


def fetch_blob(opened: Unlocked, file_id: str, kind: str) -> requests.Response:
    """Start a blob download, unlocking again once if the access token timed out meanwhile."""
    try:
        return opened.link.download_blob(file_id, kind)
    except ApiError as exc:
        if exc.code not in ("token_expired", "token_stale"):
            raise
    opened.relock()
    return opened.link.download_blob(file_id, kind)


@main.command()
@click.argument("link")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Your name, shown to the owner with your files.")
@link_password_options
def upload(link: str, files: tuple[Path, ...], name: str | None, password_stdin: bool, password_value: str | None) -> None:
    """Add FILES to the album behind LINK (if its owner allows uploads)."""
    opened = open_link(link, (password_stdin, password_value), refuse_no_uploads)
    extra = {"uploader": name.strip()} if name and name.strip() else None
    sent, failed = upload_files(opened.link.uploads(), opened.album_key, opened.album_id, list(files), extra)
    if not sent:
        raise click.ClickException("none of the files could be read; nothing was uploaded")
    skipped = f"; {len(failed)} skipped" if failed else ""
    note(f"Uploaded {sent} file(s) to {clean_text(opened.album_meta.get('title', 'the album'))}{skipped}.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
