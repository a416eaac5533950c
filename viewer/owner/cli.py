"""`fragment`: the owner's command line, and a recipient's way to open a link without a browser.

Owners `login` (with an owner token, or to an account with `--email`; `logout`), `publish`
a folder as an album, change it (`albums add`, `remove`, `rename`, `describe`, `cover`,
`order`, `delete`), keep a folder and an album in step (`sync`), manage its `links`, move
albums into the account (`account import`), and `pull` guest uploads back to disk. Anyone with a link
can `open` it or `upload` to it. This module is the presentation only: commands,
options, prompts, messages and exit statuses. The work is done by ``albums.py``
(publish, upload, save), ``edit.py`` (album changes), ``sync.py``, ``account.py`` (sign-in, the
account's copies of keys, `account import`), ``links.py`` (link keys, unlock),
``client.py`` (HTTP), ``keyring.py`` and ``disk.py``; all encryption happens on the
person's machine, with ``viewer.crypto`` (docs/design.md, "Threat model").

Output rules: links and listings go to stdout (so ``URL=$(fragment publish ...)``
works); progress, notes and warnings go to stderr (``Terminal``). No stack trace reaches
a person: every expected failure ends as one ``Error: ...`` line and exit status 1
(``FragmentGroup.invoke``).
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import sys
import time as clock
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, overload
from urllib.parse import urlsplit

import click
import requests

from .. import crypto
from . import account as accounts  # `account` is also the name of a command group below
from . import albums as ops  # `albums` and `links` are also the names of two command groups below
from . import edit, epochs, keyring
from . import links as linking
from . import sync as syncing  # `sync` is also the name of a command below
from .account import AccountError
from .albums import AlbumError, AlbumNotDeleted, FileError
from .client import ApiError, OwnerClient, iso_time, origin
from .disk import clean_text
from .keyring import KeyringError
from .links import BadLink, LinkError
from .report import one_line, quoted

MB = 1_000_000  # the server reports sizes in decimal megabytes too
EXPECTED_ERRORS = (*ops.EXPECTED, BadLink, LinkError, AlbumError, AccountError)

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
    if isinstance(exc, FileError):
        if isinstance(exc.cause, crypto.DecryptionError):
            return f"{exc.name}: the downloaded data is damaged or has been tampered with; nothing was saved for it"
        return f"{exc.name}: {describe(exc.cause)}"
    if isinstance(exc, AlbumNotDeleted):
        return (
            f"the server did not delete album {exc.album_id} ({describe(exc.cause)}); its key stays in your keyring, "
            f"so `fragment albums delete {exc.album_id}` can try again"
        )
    if isinstance(exc, (AlbumError, LinkError, AccountError)):
        return str(exc)  # a whole sentence already
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
    if exc.code == "stale_key":
        # The server's sentence speaks of reloading a page.
        return "this album got a new key while the command ran (someone lost access to it): run the command again"
    return one_line(exc.message)


def _origin_of(exc: requests.RequestException) -> str:
    url = getattr(getattr(exc, "request", None), "url", None)
    return origin(url) if url else "the server"


def human_seconds(seconds: int) -> str:
    """'15 minutes', '40 seconds', '2 hours'."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = -(-seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


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


# --- what a person sees -------------------------------------------------------------


class Terminal:
    """The report.Report of the command line: notes and warnings on stderr, click's progress bars."""

    def note(self, message: str) -> None:
        note(message)

    def warn(self, message: str) -> None:
        warn(message)

    def progress(self, total: int, label: str):
        """A progress bar over bytes on stderr, naming the current file."""
        return click.progressbar(
            length=max(total, 1),
            label=label,
            file=sys.stderr,
            item_show_func=lambda name: clean_text(name) if name else None,
            show_eta=True,
        )


TERMINAL = Terminal()


def parent_server(ctx: click.Context) -> str | None:
    """The --server given to the command group, if any."""
    return ctx.parent.params.get("server") if ctx.parent is not None else None


# --- commands ---------------------------------------------------------------------


@click.group(cls=FragmentGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fragment")
def main() -> None:
    """Fragment: end-to-end encrypted photo album links.

    Keys live in a local keyring: $FRAGMENT_KEYRING, else ~/.config/fragment/keyring.json.
    """


@main.command()
@click.argument("server_url")
@click.option("--email", metavar="E", help="Sign in to your account with this e-mail address (the password is asked for).")
@click.option("--password-stdin", is_flag=True, help="With --email: read the password from the first line of standard input.")
@click.option("--token-stdin", is_flag=True, help="Read the owner token from standard input.")
def login(server_url: str, email: str | None, password_stdin: bool, token_stdin: bool) -> None:
    """Sign in to your account on SERVER_URL (--email), or check an owner token and remember it."""
    url = check_server_url(server_url)
    if email is not None:
        if token_stdin:
            raise click.UsageError("--email signs in with a password; --token-stdin gives a token instead: choose one")
        sign_in(url, email, password_stdin)
        return
    if password_stdin:
        raise click.UsageError("--password-stdin goes with --email")
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


def sign_in(url: str, email: str, password_stdin: bool) -> None:
    """`fragment login URL --email E`: keys derived here, the password never sent (viewer/owner/account.py)."""
    email = email.strip()
    if "@" not in email:
        raise click.UsageError(f"{email!r} is not an e-mail address")
    if url.startswith("http://") and not _is_loopback(url):
        warn(f"{url} is plain http: your login key and the owner token travel unencrypted")
    password = read_password(False, password_stdin, None, confirm=False, required=True)
    try:
        done = accounts.sign_in(keyring.default_path(), url, email, password, socket.gethostname())
    except ApiError as exc:
        if exc.status == 429:
            wait = f"in {human_seconds(exc.retry_after)}" if exc.retry_after else "later"
            raise click.ClickException(f"Too many wrong attempts; try again {wait}.") from None
        raise
    click.echo(f"Signed in to {done.server} as {done.email}.")


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
    done = ops.publish(ring, owner, directory, title, restart, settings, password, TERMINAL)
    summary = f"Published {done.files} file(s) as album {quoted(done.title)} ({done.album_id})."
    if done.skipped:
        summary += f" {len(done.skipped)} file(s) were skipped: {', '.join(done.skipped)}."
    note(summary)
    click.echo(done.url)


@main.group(invoke_without_command=True)
@server_option
@click.pass_context
def albums(ctx: click.Context, server: str | None) -> None:
    """List your albums on the server (id, files, links and title), and change them: add, remove, rename,
    describe, cover, order, delete."""
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
    accounts.fetch_albums(ring, owner, TERMINAL)  # the account's albums made elsewhere, kept here from now on
    mine = ring.albums(owner.server_url)
    rows = []
    on_server = owner.list_albums()
    for album in on_server:
        album_id = album.get("album_id", "?")
        title = album_title(ring, album) + album_state(ring, album_id, album) if album_id in mine else "(key not in this keyring)"
        rows.append((album_id, str(album.get("files", "?")), str(album.get("links", "?")), title))
    seen = {album.get("album_id") for album in on_server}
    legacy = legacy_albums(ring, owner.server_url) if set(mine) - seen else set()
    for album_id, album in mine.items():
        if album_id not in seen:
            if album_id in legacy:
                state = " - not in your account yet (`fragment account import` moves it)"
            else:
                state = album_state(ring, album_id, None) or " (not on the server any more)"
            rows.append((album_id, "-", "-", f"{clean_text(album.get('title', ''))}{state}"))
    if not rows:
        note(f"No albums on {owner.server_url} yet: `fragment publish DIR` makes one.")
        return
    click.echo(f"{'ALBUM':<22}  {'FILES':>5}  {'LINKS':>5}  TITLE")
    for album_id, files, links_count, title in rows:
        click.echo(f"{album_id:<22}  {files:>5}  {links_count:>5}  {title}")


def legacy_albums(ring: keyring.Keyring, url: str) -> set[str]:
    """The ids of the albums that the owner token from before signing in to an account still manages."""
    token = ring.legacy_token(url)
    if not token:
        return set()
    try:
        return {str(album.get("album_id")) for album in OwnerClient(url, token).list_albums()}
    except ApiError:
        return set()  # a token removed since: those albums are shown as gone


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
    entry = ring.album(album["album_id"])
    title = ops.sealed_title(ring, album, entry.get("server"))
    if title is None:
        kept = clean_text(entry.get("title", ""))
        epoch = album.get("key_epoch")
        newer = isinstance(epoch, int) and epoch > ring.album_epoch(album["album_id"])
        if newer and ring.master_key(entry.get("server", "")) is None:
            return f"{kept} (it has a new key, which only your account opens: `fragment login URL --email E`)"
        return f"{kept} (metadata on the server does not decrypt!)"
    return clean_text(title)


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
        album_id, owner = find_album(ring, album, server)
        known = True
    except KeyringError:
        if not crypto.is_id(album):
            raise
        album_id, known = album, False  # its key is lost: the owner token alone can still delete it
        owner = owner_client(ring, server)
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
        ops.delete_album(owner, album_id)
    elif not owner.delete_album(album_id):
        raise click.ClickException(f"there is no album {album_id} on {owner.server_url}")
    click.echo(f"Deleted album {name}.")


def signed_in(ring: keyring.Keyring, server: str | None) -> str | None:
    """The server (--server, else the default) if this keyring is signed in to an account there."""
    url = server or ring.default_server
    if not url:
        return None
    url = check_server_url(url)
    return url if ring.account(url) is not None else None


def find_album(ring: keyring.Keyring, ref: str, server: str | None) -> tuple[str, OwnerClient]:
    """(album id, owner client) of an album (an id or an exact title): the keyring's, else the signed-in account's.

    An account's album that this keyring lacks (made in the browser or on another machine)
    is opened from the server's copy of its key and kept here (viewer/owner/account.py).
    """
    try:
        album_id = ring.find_album(ref)
    except KeyringError:
        url = signed_in(ring, server)
        if url is None:
            raise
        owner = owner_client(ring, url)
        return accounts.find_album(ring, owner, ref, TERMINAL), owner
    return album_id, album_owner(ring, album_id, server)


def keyed_album(ring: keyring.Keyring, ref: str, server: str | None = None) -> tuple[str, OwnerClient]:
    """(album id, owner client) of an album whose key this keyring holds or can get; a clear refusal otherwise."""
    try:
        return find_album(ring, ref, server)
    except KeyringError:
        if crypto.is_id(ref) and signed_in(ring, server) is None:
            raise KeyringError(
                f"the keyring at {ring.path} has no key for album {ref}, so it cannot open or change it: "
                "use the keyring that published it"
            ) from None
        raise


def editable_album(ctx: click.Context, ring: keyring.Keyring, ref: str, server: str | None) -> tuple[str, OwnerClient]:
    """(album id, its owner client) of an album this keyring holds (or can get) the key of."""
    return keyed_album(ring, ref, server or parent_server(ctx))


@albums.command("add")
@click.argument("album")
@click.argument("paths", metavar="FILES_OR_DIRS...", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@server_option
@click.pass_context
def albums_add(ctx: click.Context, album: str, paths: tuple[Path, ...], server: str | None) -> None:
    """Encrypt and upload photos and videos (files, or the top level of folders) into ALBUM."""
    ring = load_keyring()
    album_id, owner = editable_album(ctx, ring, album, server)
    album_key, meta = edit.open_album(ring, owner, album_id)
    files = edit.media_paths(paths, TERMINAL)
    if not files:
        raise click.ClickException("no photos or videos among the files and folders given; nothing was added")
    added = edit.add_files(owner, album_id, album_key, files, TERMINAL)
    if not added.sent:
        raise click.ClickException("none of the files could be read; nothing was added")
    summary = f"Added {len(added.sent)} file(s) to {quoted(meta.get('title', ''))}."
    if added.skipped:
        summary += f" {len(added.skipped)} file(s) were skipped: {', '.join(added.skipped)}."
    note(summary)


@albums.command("remove")
@click.argument("album")
@click.argument("files", metavar="FILE...", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@server_option
@click.pass_context
def albums_remove(ctx: click.Context, album: str, files: tuple[str, ...], yes: bool, server: str | None) -> None:
    """Remove files from ALBUM, each named by its id or by its name (as `fragment open` saves it)."""
    ring = load_keyring()
    album_id, owner = editable_album(ctx, ring, album, server)
    album_key, meta = edit.open_album(ring, owner, album_id)
    chosen = edit.resolve(edit.album_files(owner, album_key, album_id, TERMINAL), files)
    if not yes:
        listed = "\n".join(f"  {f.describe()}" for f in chosen)
        question = (
            f"Remove {len(chosen)} file(s) from {quoted(meta.get('title', ''))}? "
            f"Everyone with a link stops seeing them; this cannot be undone.\n{listed}\n"
        )
        click.confirm(question, abort=True, err=True)
    edit.remove_files(ring, owner, album_id, album_key, meta, chosen)
    for file in chosen:
        click.echo(f"Removed {file.describe()}")


@albums.command("rename")
@click.argument("album")
@click.argument("title")
@server_option
@click.pass_context
def albums_rename(ctx: click.Context, album: str, title: str, server: str | None) -> None:
    """Give ALBUM a new TITLE (sealed; the rest of its metadata stays as it is)."""
    title = title.strip()
    if not title:
        raise click.UsageError("the title is empty")
    ring = load_keyring()
    album_id, owner = editable_album(ctx, ring, album, server)
    edit.update_meta(ring, owner, album_id, {"title": title})
    note(f"Album {album_id} is now titled {quoted(title)}.")


@albums.command("describe")
@click.argument("album")
@click.argument("text")
@server_option
@click.pass_context
def albums_describe(ctx: click.Context, album: str, text: str, server: str | None) -> None:
    """Set ALBUM's description to TEXT; an empty TEXT ('') removes it."""
    ring = load_keyring()
    album_id, owner = editable_album(ctx, ring, album, server)
    text = text.strip()
    edit.update_meta(ring, owner, album_id, {"description": text or None})
    note(f"Album {album_id} {'has a new description' if text else 'has no description now'}.")


@albums.command("cover")
@click.argument("album")
@click.argument("file")
@server_option
@click.pass_context
def albums_cover(ctx: click.Context, album: str, file: str, server: str | None) -> None:
    """Show FILE (its id or name) as ALBUM's cover."""
    ring = load_keyring()
    album_id, owner = editable_album(ctx, ring, album, server)
    album_key, meta = edit.open_album(ring, owner, album_id)
    (chosen,) = edit.resolve(edit.album_files(owner, album_key, album_id, TERMINAL), [file])
    edit.put_changes(ring, owner, album_id, album_key, meta, {"cover": chosen.file_id})
    note(f"The cover of {quoted(meta.get('title', ''))} is now {chosen.describe()}.")


@albums.command("order")
@click.argument("album")
@click.argument("files", metavar="[FILE...]", nargs=-1)
@click.option("--by", "by", type=click.Choice(["taken", "name", "upload"]), help="Sort by date taken, name or upload.")
@click.option("--custom", is_flag=True, help="The FILEs first, in the order given; the others after, by date taken.")
@server_option
@click.pass_context
def albums_order(
    ctx: click.Context, album: str, files: tuple[str, ...], by: str | None, custom: bool, server: str | None
) -> None:
    """Choose the order ALBUM shows its files in: `--by taken|name|upload`, or `--custom FILE...`."""
    if bool(by) == custom:
        raise click.UsageError("give either --by taken|name|upload or --custom FILE...")
    if by and files:
        raise click.UsageError("files are named only with --custom")
    if custom and not files:
        raise click.UsageError("--custom needs the files, in the order to show them")
    ring = load_keyring()
    album_id, owner = editable_album(ctx, ring, album, server)
    album_key, meta = edit.open_album(ring, owner, album_id)
    if custom:
        chosen = edit.resolve(edit.album_files(owner, album_key, album_id, TERMINAL), files)
        changes = edit.order_changes("custom", [f.file_id for f in chosen])
    else:
        changes = edit.order_changes(str(by))
    edit.put_changes(ring, owner, album_id, album_key, meta, changes)
    if custom:
        note(f"{quoted(meta.get('title', ''))} shows these {len(files)} file(s) first, then the others by date taken.")
    else:
        note(f"{quoted(meta.get('title', ''))} is now sorted by {by}.")


# --- links ------------------------------------------------------------------------


@main.group()
def links() -> None:
    """List, add, change and revoke an album's links."""


@links.command("list")
@click.argument("album")
@server_option
def links_list(album: str, server: str | None) -> None:
    """Show the links of ALBUM (an id or an exact title)."""
    ring = load_keyring()
    album_id, owner = find_album(ring, album, server)
    found = owner.list_links(album_id)
    accounts.fetch_link_secrets(ring, owner, album_id, found)  # links made elsewhere, shown whole again
    if not found:
        note("This album has no links: `fragment links add ALBUM` makes one.")
    for link in found:
        secret = ring.link_secret(album_id, link["link_id"])
        click.echo(format_link(owner.server_url, link, secret))


def format_link(server_url: str, link: dict, secret: bytes | None) -> str:
    """A few lines about one link, as `links list` shows it."""
    link_id = link.get("link_id", "?")
    url = linking.link_url(server_url, link_id, secret, link) if secret else "(its secret is not in this keyring)"
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
@server_option
def links_add(album: str, server: str | None, **opts: Any) -> None:
    """Make another link to ALBUM and print it."""
    ring = load_keyring()
    album_id, owner = find_album(ring, album, server)
    settings = new_link_settings(opts)
    password = read_password(opts["password_prompt"], opts["password_stdin"], opts["password_value"], confirm=True)
    keys = epochs.load(ring, owner, album_id)  # a link gets the album's current key
    click.echo(linking.create_link(owner, album_id, keys, settings, password))


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
    link_id = linking.link_id_of(link)
    ring = load_keyring()
    album_id, secret, owner = locate_link(ring, link_id, server)
    changes = setting_changes(opts)
    if opts["no_password"] or opts["password_prompt"] or opts["password_stdin"] or opts["password_value"] is not None:
        changes.update(password_change(ring, owner, album_id, link_id, secret, opts))
    if not changes:
        raise click.UsageError("nothing to change: give at least one setting (see --help)")
    updated = owner.patch_link(link_id, changes)
    note(f"Changed link {link_id}.")
    click.echo(format_link(owner.server_url, updated, secret))


def locate_link(ring: keyring.Keyring, link_id: str, server: str | None) -> tuple[str | None, bytes | None, OwnerClient]:
    """(album id, secret, owner client) of a link: the keyring's, else the signed-in account's; (None, None, ...) if neither."""
    try:
        album_id, secret = ring.find_link(link_id)
        return album_id, secret, album_owner(ring, album_id, server)
    except KeyringError:
        pass
    owner = owner_client(ring, server)
    if ring.account(owner.server_url) is None:
        return None, None, owner  # made elsewhere: settings can change, the password cannot
    try:
        album_id, secret = accounts.find_link(ring, owner, link_id, TERMINAL)
    except KeyringError:
        return None, None, owner  # the server's answer (404) says the rest
    return album_id, secret, owner


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


def password_change(
    ring: keyring.Keyring, owner: OwnerClient, album_id: str | None, link_id: str, secret: bytes | None, opts: dict
) -> dict:
    """New password params, the album's current key wrapped anew, and verifiers, from the link secret in the keyring.

    Signed in to an account, also the account's copy of the new wrap key (`owner_wrap_key`).
    """
    if opts["no_password"] and (opts["password_prompt"] or opts["password_stdin"] or opts["password_value"] is not None):
        raise click.UsageError("--no-password cannot be combined with a new password")
    if album_id is None or secret is None:
        raise KeyringError(f"changing the password needs the secret of link {link_id}, and it is not in this keyring")
    password = None
    if not opts["no_password"]:
        password = read_password(opts["password_prompt"], opts["password_stdin"], opts["password_value"], confirm=True)
    keys = epochs.load(ring, owner, album_id)
    return linking.password_fields(secret, keys.current, link_id, password, ring.master_key(owner.server_url), keys.epoch)


@links.command("revoke")
@click.argument("link")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@server_option
def links_revoke(link: str, yes: bool, server: str | None) -> None:
    """Revoke LINK (a link or its id) at once; nothing is re-encrypted."""
    link_id = linking.link_id_of(link)
    ring = load_keyring()
    try:
        album_id = ring.find_link(link_id)[0]
    except KeyringError:
        album_id = None  # made elsewhere: the owner token alone can revoke it
    owner = album_owner(ring, album_id, server) if album_id else owner_client(ring, server)
    if not yes:
        click.confirm(f"Revoke link {link_id}? Everyone who has it loses access at once.", abort=True, err=True)
    owner.revoke_link(link_id)
    click.echo(f"Revoked link {link_id}.")


# --- the account ---------------------------------------------------------------------------


@main.group()
def account() -> None:
    """Your account on a server (after `fragment login URL --email E`)."""


@account.command("import")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@server_option
def account_import(yes: bool, server: str | None) -> None:
    """Move the albums of this keyring that the owner token from before signing in manages into your account."""
    ring = load_keyring()
    owner = owner_client(ring, server)
    plan = accounts.plan_import(ring, owner)
    for reason in plan.skipped:
        warn(reason)
    if plan.keyless:
        note(f"{plan.keyless} album(s) of the old owner token have no key in this keyring; they stay where they are.")
    if not plan.todo:
        if plan.skipped:
            raise click.ClickException(f"{len(plan.skipped)} album(s) could not be moved; nothing was moved")
        note(f"Nothing to move: every album of this keyring on {owner.server_url} is in your account already.")
        return
    if not yes:
        listed = "\n".join(f"  {quoted(plan.titles[a])} ({a}), {accounts.size_text(plan.sizes[a])}" for a in plan.todo)
        email = (ring.account(owner.server_url) or {}).get("email", "")
        question = (
            f"Move {len(plan.todo)} album(s) into the account {email}? Their links keep working, "
            f"and their files count against the account's storage.\n{listed}\n"
        )
        click.confirm(question, abort=True, err=True)
    refused = len(plan.skipped)
    for album_id, body in plan.todo.items():
        title = plan.titles[album_id]
        try:
            moved = owner.import_album(album_id, body)
        except ApiError as exc:
            if exc.status == 413 and exc.code == "account_full":
                click.echo(accounts.account_full(exc, title, plan.sizes[album_id]), err=True)
                refused += 1
                continue
            raise
        size = accounts.size_text(moved.get("bytes") or 0)
        click.echo(f"Moved album {quoted(title)} ({album_id}) into your account: {moved.get('files', 0)} file(s), {size}.")
    if refused:
        raise click.ClickException(f"{refused} album(s) were not moved")


@main.command()
@click.argument("server_url", required=False)
def logout(server_url: str | None) -> None:
    """Forget the owner token and the account keys of SERVER_URL (default: your default server) on this machine."""
    ring = load_keyring()
    url = server_url or ring.default_server
    if not url:
        raise click.UsageError("no server: give SERVER_URL")
    url = check_server_url(url)
    with keyring.edit() as saved:
        had_token = saved.owner_token(url) is not None
        gone = saved.forget_account(url)
    if gone is not None:
        label = gone.get("token_label") or accounts.token_label(socket.gethostname())
        # Revoking a token needs a signed-in session (DELETE /api/account/tokens/<id>), which needs the
        # password; say plainly that the token lives on until then.
        click.echo(f"Signed out locally; revoke the token {quoted(label)} on the account page to end it on the server.")
    elif had_token:
        click.echo(f"Forgot the owner token of {url} here; it stays valid on the server until its operator removes it.")
    else:
        note(f"This keyring is not signed in to {url}.")


# --- guest uploads back to the owner ---------------------------------------------------


@main.command()
@click.argument("album")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to save into.")
def pull(album: str, out: Path) -> None:
    """Download and decrypt what guests added to ALBUM, into OUT/<guest name>/."""
    ring = load_keyring()
    album_id, owner = find_album(ring, album, None)
    done = ops.pull(owner, ring, album_id, out, TERMINAL)
    if done is None:
        note("No guest uploads in this album yet.")
        return
    extra = f"; {done.present} were already there" if done.present else ""
    note(f"Saved {done.saved} guest file(s) to {out}{extra}.")


@main.command("sync")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--album", "album", required=True, help="The album (an id or an exact title) to keep in step.")
@click.option("--once", is_flag=True, help="Do one round and exit.")
@click.option(
    "--interval", type=click.FloatRange(min=1), default=60, show_default=True, metavar="S", help="Seconds between rounds."
)
@click.option("--delete", is_flag=True, help="Also remove from the album the files that DIRECTORY no longer has.")
@click.option("--rescan", is_flag=True, help="List the album again instead of trusting what the last round noted.")
@server_option
def sync_command(
    directory: Path, album: str, once: bool, interval: float, delete: bool, rescan: bool, server: str | None
) -> None:
    """Upload the photos and videos that appear in DIRECTORY into ALBUM, every S seconds until Ctrl-C (or --once)."""
    ring = load_keyring()
    album_id, owner = keyed_album(ring, album, server)
    edit.open_album(ring, owner, album_id)  # refused here, before anything is read or sent, if the key does not open it
    first = True
    try:
        while True:
            try:
                done = syncing.sync_round(
                    ring,
                    owner,
                    album_id,
                    directory,
                    TERMINAL,
                    delete=delete,
                    rescan=rescan and first,
                    on_added=lambda name: click.echo(f"Added {clean_text(name)}"),
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if once:
                    raise
                warn(f"{describe(exc)}; trying again in {interval:g} s")  # a long watch outlives a network outage
            else:
                for name in done.removed:
                    click.echo(f"Removed {name}")
                if once:
                    if not done.added and not done.removed:
                        note(f"Nothing new in {directory}.")
                    return
            first = False
            clock.sleep(interval)
    except KeyboardInterrupt:
        note("Stopped.")


# --- recipients and guests -------------------------------------------------------------


def link_password_options(f: Callable) -> Callable:
    """--password-stdin and --password P for opening a link; without them it asks when the link needs one."""
    f = click.option("--password", "password_value", metavar="P", help="The link's password (else asked for when needed).")(f)
    return click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")(f)


def open_link(link: str, password_stdin: bool, password_value: str | None, refuse: Callable[[dict], str | None]):
    """Unlock LINK, asking for its password (or reading the one given) only if it has one."""
    return linking.open_link(
        link,
        refuse,
        TERMINAL,
        password=lambda: read_password(False, password_stdin, password_value, confirm=False, required=True),
        password_given=password_stdin or password_value is not None,
    )


@main.command("open")
@click.argument("link")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to save into.")
@click.option("--previews", is_flag=True, help="Save screen-size previews instead of the originals.")
@link_password_options
def open_command(link: str, out: Path, previews: bool, password_stdin: bool, password_value: str | None) -> None:
    """Download and decrypt a whole album from LINK, checking every byte."""
    opened = open_link(link, password_stdin, password_value, linking.refuse_upload_only)
    click.echo(f"Album: {clean_text(opened.album_meta.get('title', ''))}")
    kind = "preview" if previews or not opened.info.get("downloads", True) else "original"
    if kind == "preview" and not previews:
        note("The owner turned downloads off for this link: saving screen-size previews (WebP), not the original files.")
    done = ops.open_album(opened, out, kind, TERMINAL)
    extra = f"; {done.present} were already there" if done.present else ""
    note(f"Saved {done.saved} file(s) to {out}{extra}.")


@main.command()
@click.argument("link")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Your name, shown to the owner with your files.")
@link_password_options
def upload(link: str, files: tuple[Path, ...], name: str | None, password_stdin: bool, password_value: str | None) -> None:
    """Add FILES to the album behind LINK (if its owner allows uploads)."""
    opened = open_link(link, password_stdin, password_value, linking.refuse_no_uploads)
    extra = {"uploader": name.strip()} if name and name.strip() else None
    sent, failed = ops.upload_files(opened.link.uploads(), opened.album_keys, opened.album_id, list(files), TERMINAL, extra)
    if not sent:
        raise click.ClickException("none of the files could be read; nothing was uploaded")
    skipped = f"; {len(failed)} skipped" if failed else ""
    note(f"Uploaded {sent} file(s) to {clean_text(opened.album_meta.get('title', 'the album'))}{skipped}.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
