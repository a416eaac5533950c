"""The owner's local keyring: owner tokens, album keys and link secrets, in one JSON file.

Album keys and link secrets exist nowhere else (docs/design.md, "Key hierarchy"), so the
file is written the way a crash cannot corrupt it (``disk.atomic_file``: a temporary file
in the same folder, fsync, then os.replace, which is atomic on POSIX, rename(2)). It is
created 0600 in a 0700 folder, like ~/.ssh, because whoever reads it can open
every album. Passwords are never stored: a password link keeps only its secret,
and the password stays in the owner's head.

Layout (version 1)::

    {"version": 1,
     "servers": {url: {"owner_token": str,
                       "account" (after `fragment login URL --email`): {"account_id", "email", "master_key" (b64),
                                                                       "token_id", "token_label"},
                       "legacy_token" (optional): the owner token of no account this server entry had before}},
     "default_server": url,
     "albums": {album_id: {"server", "album_key" (b64), "key_epoch" (optional, 0 if absent), "title",
                           "links": {link_id: {"secret" (b64)}},
                           "publish" (only while `fragment publish` has not finished): {"folder", "started_at",
                             "files": {name: {"file_id", "size", "mtime_ns"}}, "pending": {"name", "file_id", ...} | null}}},
     "devices": {link_id: {"seed" (b64): the Ed25519 device key of this machine for that link}}}

Signing in to an account (`fragment login URL --email E`) added the optional keys
`account` and `legacy_token` to a server entry; the version stays 1, since a keyring
without them is read as before and an older `fragment` ignores them. With an account,
the server keeps its own copies of every album key and link secret sealed under the
master key (docs/format.md, "Accounts"), so for account albums this file is a cache:
an album or link secret missing here is fetched and opened with `master_key`, and kept.
The master key opens every album of the account, so it is kept as carefully as the
album keys (the same 0600 file); the password is never stored. `legacy_token` is kept
only so that `fragment account import` can move the albums it manages into the account.

Shared albums get a new key when someone loses access (docs/format.md, "Removing a member: the
key chain"): `key_epoch` says which epoch `album_key` is, so a newer one from the account's copy
replaces it, and an older one a server offers is refused (viewer/owner/epochs.py). An older
`fragment` reads the entry as before, and it stays version 1.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from .. import crypto
from . import disk

try:  # POSIX advisory locks keep two commands from losing each other's writes.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

VERSION = 1
FILE_MODE = 0o600
DIR_MODE = 0o700


class KeyringError(Exception):
    """The keyring cannot be read or lacks what a command needs; the message says what to do."""


def default_path() -> Path:
    """$FRAGMENT_KEYRING, else $XDG_CONFIG_HOME/fragment/keyring.json (~/.config by default)."""
    explicit = os.environ.get("FRAGMENT_KEYRING")
    if explicit:
        return Path(explicit).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home).expanduser() / "fragment" / "keyring.json"


def normalize_server(url: str) -> str:
    """One spelling per server, so lookups match: no trailing slash."""
    return url.strip().rstrip("/")


class Keyring:
    """The parsed keyring with typed accessors; `save()` writes it back atomically."""

    def __init__(self, path: Path, data: dict | None = None):
        self.path = path
        self.data = data or {"version": VERSION, "servers": {}, "default_server": None, "albums": {}, "devices": {}}
        for key in ("servers", "albums", "devices"):
            self.data.setdefault(key, {})
        self.data.setdefault("default_server", None)
        self.warnings: list[str] = []

    # --- servers -----------------------------------------------------------------

    @property
    def default_server(self) -> str | None:
        return self.data.get("default_server")

    def set_server(self, url: str, owner_token: str) -> None:
        """Remember an owner token and make its server the default."""
        url = normalize_server(url)
        self.data["servers"][url] = {"owner_token": owner_token}
        self.data["default_server"] = url

    def owner_token(self, url: str) -> str | None:
        return (self.data["servers"].get(normalize_server(url)) or {}).get("owner_token")

    # --- accounts ----------------------------------------------------------------

    def set_account(self, url: str, owner_token: str, account: dict) -> None:
        """Remember an account's owner token and keys for a server, and make it the default.

        An owner token the entry had before without an account (one of no account, from
        `fragment login URL --token-stdin`) is kept as `legacy_token`, for `fragment account import`;
        one kept from before stays.
        """
        url = normalize_server(url)
        before = self.data["servers"].get(url) or {}
        entry: dict = {"owner_token": owner_token, "account": dict(account)}
        legacy = before.get("legacy_token") or (before.get("owner_token") if "account" not in before else None)
        if legacy and legacy != owner_token:
            entry["legacy_token"] = legacy
        self.data["servers"][url] = entry
        self.data["default_server"] = url

    def account(self, url: str) -> dict | None:
        """The account entry of a server ({"account_id", "email", "master_key", "token_id"}), if signed in to one."""
        account = (self.data["servers"].get(normalize_server(url)) or {}).get("account")
        return account if isinstance(account, dict) else None

    def master_key(self, url: str) -> bytes | None:
        """The account's master key for a server; None without an account (KeyringError if it is damaged)."""
        account = self.account(url)
        if account is None:
            return None
        try:
            return crypto.b64d(account.get("master_key", ""), crypto.KEY_BYTES)
        except crypto.FormatError:
            raise KeyringError(f"the master key of {normalize_server(url)} in {self.path} is damaged; sign in again") from None

    def legacy_token(self, url: str) -> str | None:
        """The owner token of no account this server entry had before signing in to an account."""
        return (self.data["servers"].get(normalize_server(url)) or {}).get("legacy_token")

    def forget_account(self, url: str) -> dict | None:
        """Drop a server's owner token and account keys (a legacy token stays); the account entry that was there."""
        url = normalize_server(url)
        entry = self.data["servers"].get(url) or {}
        account = self.account(url)
        if entry.get("legacy_token"):
            self.data["servers"][url] = {"legacy_token": entry["legacy_token"]}
        else:
            self.data["servers"].pop(url, None)
        if self.data.get("default_server") == url:
            self.data["default_server"] = None
        return account

    # --- albums ------------------------------------------------------------------

    def add_album(self, album_id: str, server: str, album_key: bytes, title: str, key_epoch: int = 0) -> None:
        self.data["albums"][album_id] = {
            "server": normalize_server(server),
            "album_key": crypto.b64e(album_key),
            "title": title,
            "links": {},
        }
        if key_epoch:
            self.data["albums"][album_id]["key_epoch"] = key_epoch

    def set_album_key(self, album_id: str, album_key: bytes, key_epoch: int) -> None:
        """The album's current key and its epoch, after the album got a new key (viewer/owner/epochs.py)."""
        entry = self.album(album_id)
        entry["album_key"] = crypto.b64e(album_key)
        entry["key_epoch"] = key_epoch

    def set_title(self, album_id: str, title: str) -> None:
        """The title this keyring shows for an album (a copy of the sealed one, for lookups by title)."""
        self.album(album_id)["title"] = title

    def remove_album(self, album_id: str) -> None:
        self.data["albums"].pop(album_id, None)

    def albums(self, server: str | None = None) -> dict[str, dict]:
        """Albums by id, optionally only those of one server."""
        wanted = normalize_server(server) if server else None
        return {aid: a for aid, a in self.data["albums"].items() if wanted is None or a.get("server") == wanted}

    def album(self, album_id: str) -> dict:
        try:
            return self.data["albums"][album_id]
        except KeyError:
            raise KeyringError(f"album {album_id} is not in the keyring at {self.path}") from None

    def album_key(self, album_id: str) -> bytes:
        try:
            return crypto.b64d(self.album(album_id)["album_key"], crypto.KEY_BYTES)
        except (KeyError, crypto.FormatError):
            raise KeyringError(f"the key of album {album_id} in {self.path} is damaged") from None

    def album_epoch(self, album_id: str) -> int:
        """The epoch of the album key kept here: 0 for a key kept before epochs, or of an album never rekeyed."""
        epoch = self.album(album_id).get("key_epoch", 0)
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise KeyringError(f"the key epoch of album {album_id} in {self.path} is damaged")
        return epoch

    def find_album(self, ref: str) -> str:
        """An album id from an id or an exact title."""
        if ref in self.data["albums"]:
            return ref
        matches = sorted(aid for aid, a in self.data["albums"].items() if a.get("title") == ref)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise KeyringError(f"several albums are titled {ref!r}; name one by its id: {', '.join(matches)}")
        raise KeyringError(f"no album with id or title {ref!r} in the keyring at {self.path}")

    # --- links -------------------------------------------------------------------

    def add_link(self, album_id: str, link_id: str, secret: bytes) -> None:
        self.album(album_id).setdefault("links", {})[link_id] = {"secret": crypto.b64e(secret)}

    def find_link(self, link_id: str) -> tuple[str, bytes | None]:
        """(album id, link secret or None) of a link this keyring created."""
        for album_id, album in self.data["albums"].items():
            entry = (album.get("links") or {}).get(link_id)
            if entry is not None:
                try:
                    return album_id, crypto.b64d(entry.get("secret", ""), crypto.KEY_BYTES)
                except crypto.FormatError:
                    return album_id, None
        raise KeyringError(f"link {link_id} is not in the keyring at {self.path}")

    def link_secret(self, album_id: str, link_id: str) -> bytes | None:
        entry = (self.album(album_id).get("links") or {}).get(link_id)
        try:
            return crypto.b64d(entry["secret"], crypto.KEY_BYTES) if entry else None
        except (KeyError, crypto.FormatError):
            return None

    # --- publish progress ----------------------------------------------------------
    # `publish` notes here what it has done, before and after each step, so that a crash
    # (even kill -9) leaves an album that the same command can finish or delete.

    def start_publish(self, album_id: str, folder: str, started_at: str) -> None:
        """Note that `publish` of `folder` into this album has begun and no file is up yet."""
        self.album(album_id)["publish"] = {"folder": folder, "started_at": started_at, "files": {}, "pending": None}

    def publish_record(self, album_id: str) -> dict | None:
        """The progress of an unfinished publish of this album, or None once it finished."""
        record = self.data["albums"].get(album_id, {}).get("publish")
        return record if isinstance(record, dict) else None

    def unfinished_publish(self, server: str, folder: str) -> str | None:
        """The album id of the latest unfinished publish of `folder` to `server`, if any."""
        wanted = normalize_server(server)
        found = [
            (str(record.get("started_at", "")), album_id)
            for album_id, album in self.data["albums"].items()
            if album.get("server") == wanted and (record := self.publish_record(album_id)) and record.get("folder") == folder
        ]
        return max(found)[1] if found else None

    def publish_pending(self, album_id: str, name: str, file_id: str, state: dict) -> None:
        """Note the file about to be reserved, so a crash before its record is written still finds it."""
        self._publishing(album_id)["pending"] = {"name": name, "file_id": file_id, **state}

    def publish_done(self, album_id: str, name: str, file_id: str, state: dict) -> None:
        """Note a file the server has completed."""
        record = self._publishing(album_id)
        record.setdefault("files", {})[name] = {"file_id": file_id, **state}
        record["pending"] = None

    def publish_forget(self, album_id: str, name: str) -> None:
        """Drop a file from the progress record (it must be sent again)."""
        record = self._publishing(album_id)
        record.setdefault("files", {}).pop(name, None)
        if (record.get("pending") or {}).get("name") == name:
            record["pending"] = None

    def finish_publish(self, album_id: str) -> None:
        """The album has its link: nothing is left to resume."""
        self.album(album_id).pop("publish", None)

    def _publishing(self, album_id: str) -> dict:
        record = self.publish_record(album_id)
        if record is None:
            raise KeyringError(f"album {album_id} has no unfinished publish in the keyring at {self.path}")
        return record

    # --- devices (recipients' side) ----------------------------------------------
    # One Ed25519 device key per link: a device-limited link admits the key, not a token, so
    # this machine takes one slot however often it opens the link (docs/format.md, "Device key").

    def device_seed(self, link_id: str) -> bytes | None:
        """This machine's device key seed for a link; None if it has none (a v1 device token counts as none)."""
        entry = self.data["devices"].get(link_id)
        if not isinstance(entry, dict):
            return None
        try:
            return crypto.b64d(entry.get("seed", ""), crypto.KEY_BYTES)
        except crypto.FormatError:
            return None

    def set_device_seed(self, link_id: str, seed: bytes) -> None:
        self.data["devices"][link_id] = {"seed": crypto.b64e(seed)}

    # --- file --------------------------------------------------------------------

    def save(self) -> None:
        """Write atomically, 0600, in a 0700 folder."""
        _make_dir(self.path.parent)
        with disk.atomic_file(self.path) as out:
            out.write((json.dumps(self.data, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def load(path: Path | None = None) -> Keyring:
    """Read the keyring (an empty one if the file does not exist yet)."""
    path = Path(path) if path else default_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Keyring(path)
    except OSError as exc:
        raise KeyringError(f"cannot read the keyring at {path}: {exc.strerror}") from None
    warnings = _check_mode(path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise KeyringError(f"the keyring at {path} is not valid JSON ({exc}); repair it or move it away") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise KeyringError(f"the keyring at {path} is not a version {VERSION} keyring")
    keyring = Keyring(path, data)
    keyring.warnings = warnings
    return keyring


@contextlib.contextmanager
def edit(path: Path | None = None) -> Iterator[Keyring]:
    """Load, change and save under an exclusive lock, so parallel commands never lose a key."""
    path = Path(path) if path else default_path()
    _make_dir(path.parent)
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        keyring = load(path)
        yield keyring
        keyring.save()
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def publish_lock(path: Path, server: str, folder: str) -> Iterator[None]:
    """Hold, for one `publish`, a lock on publishing `folder` to `server`; KeyringError if another holds it.

    Two runs resuming the same album would both send its missing files. flock(2) is released
    by the kernel when the process dies, even by kill -9, so a crash never leaves it held.
    """
    name = crypto.b64e(hashlib.sha256(f"{normalize_server(server)}\n{folder}".encode()).digest()[:12])
    _make_dir(path.parent)
    fd = os.open(path.with_name(f".{path.name}.publish-{name}.lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise KeyringError(
                    f"another `fragment publish` of {folder} is running; let it finish, or stop it first"
                ) from None
        yield
    finally:
        os.close(fd)


def _check_mode(path: Path) -> list[str]:
    """Tighten a keyring others could read, and say so (as ssh does for private keys)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return []
    if not mode & 0o077:
        return []
    try:
        os.chmod(path, FILE_MODE)
    except OSError:
        return [f"the keyring {path} can be read by other users (mode {mode:o}); run: chmod 600 {path}"]
    return [f"the keyring {path} could be read by other users (mode {mode:o}); its mode is now 600"]


def _make_dir(directory: Path) -> None:
    """Create the keyring's folder private; leave an existing folder as its owner set it."""
    if not directory.exists():
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
