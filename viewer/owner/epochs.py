"""Album key epochs on the owner's side: which album key opens which file, and which one wraps a new file.

An album's key changes when someone loses access to a shared album (docs/format.md, "Sharing",
"Removing a member: the key chain"): the owner's web client makes AK_e, and the server keeps
chain_e (AK_{e-1} sealed under AK_e) and the account's copy of AK_e (`owner_key`, under MK). Each
listed file names the epoch whose key wraps its file key (`key_epoch`). So the command line opens
a file with the key of its epoch, walked down the chain from the current key
(``crypto.album_keys``), and wraps a new file under the current key, saying which epoch that is:
the server refuses one under an older key (409 `stale_key`), and ``AlbumKeys.refresh`` reads the
album again for one retry.

The keyring caches each album's key with its epoch. When the server's epoch is newer, the current
key comes from `owner_key` (only a client holding MK can make one, so the server cannot substitute
its own), the chain must lead back to the cached key, and the cache follows. A server epoch older
than the cached one is refused: new files would be wrapped under a key that a removed person holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import crypto
from . import keyring
from .client import ApiError, OwnerClient
from .keyring import KeyringError


class AlbumError(Exception):
    """An album operation that cannot go on; the message says why (albums.py re-exports it)."""


@dataclass
class AlbumKeys:
    """Every key of one album by epoch, and the current epoch, whose key wraps new files."""

    album_id: str
    epoch: int
    keys: dict[int, bytes]
    # Reads the keys again from the server (after a stale_key refusal); None where nothing can.
    reload: Callable[[], AlbumKeys] | None = field(default=None, repr=False, compare=False)
    # Someone lost access and the owner's web client has not made the new key yet (`rekey_pending`):
    # the current key is one they held, so what is added now is open to them (docs/api.md, "Removing someone").
    rekey_pending: bool = field(default=False, compare=False)

    @classmethod
    def of(cls, album_id: str, key: bytes | AlbumKeys) -> AlbumKeys:
        """`key` as AlbumKeys: a bare key is an album's only key, epoch 0 (an album never rekeyed)."""
        if isinstance(key, AlbumKeys):
            return key
        return cls(album_id, 0, {0: key})

    @property
    def current(self) -> bytes:
        return self.keys[self.epoch]

    def file_key(self, entry: dict) -> bytes:
        """The file key of a listed file, unwrapped with the album key of its epoch (0 from a server without epochs)."""
        file_id = str(entry.get("file_id", "?"))
        epoch = entry.get("key_epoch", 0)
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch not in self.keys:
            raise AlbumError(
                f"file {file_id} is under album key {clean_epoch(epoch)}, which the album's keys do not reach, "
                "so it cannot be opened"
            )
        return crypto.unwrap_file_key(self.keys[epoch], crypto.b64d(entry["wrapped_key"]), self.album_id, file_id)

    def wrap(self, file_key: bytes, file_id: str) -> dict:
        """The reserve fields of a new file: its key wrapped under the current album key, and that key's epoch."""
        wrapped = crypto.wrap_file_key(self.current, file_key, self.album_id, file_id)
        return {"wrapped_key": crypto.b64e(wrapped), "key_epoch": self.epoch}

    def refresh(self) -> bool:
        """Take the album's keys from the server again; whether they moved on (so a retry can succeed)."""
        if self.reload is None:
            return False
        fresh = self.reload()
        if fresh.epoch <= self.epoch:
            return False
        self.epoch, self.keys, self.rekey_pending = fresh.epoch, fresh.keys, fresh.rekey_pending
        return True


def clean_epoch(value: object) -> str:
    """An epoch as the server sent it, printable whatever it is."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "of an unreadable epoch"


def is_stale(exc: BaseException) -> bool:
    """The server's refusal of something sealed under an album key that is no longer current."""
    return isinstance(exc, ApiError) and exc.status == 409 and exc.code == "stale_key"


def _epoch(value: object, album_id: str) -> int:
    if value is None:
        return 0  # a server from before epochs
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= crypto.MAX_EPOCH:
        raise AlbumError(f"the server gave album {album_id} a key epoch that is not a whole number: refusing to use it")
    return value


def _chain(raw: object, album_id: str) -> dict[int, bytes]:
    """The server's `key_chain` ({"e": b64}) as {e: chain_e}."""
    if raw is None:
        return {}
    try:
        if not isinstance(raw, dict):
            raise crypto.FormatError("not an object")
        return {int(e): crypto.b64d(str(sealed)) for e, sealed in raw.items()}
    except (crypto.FormatError, ValueError):
        raise AlbumError(f"the key chain the server gave for album {album_id} is malformed: refusing to use it") from None


def walk(album_id: str, current: bytes, epoch: int, chain: dict[int, bytes]) -> dict[int, bytes]:
    """Every album key from the current one down to epoch 0; AlbumError if the chain does not open."""
    try:
        return crypto.album_keys(current, epoch, album_id, chain)
    except (crypto.DecryptionError, crypto.FormatError) as exc:
        raise AlbumError(f"the older keys of album {album_id} do not open ({exc}): its key chain is damaged") from None


def from_unlock(album_id: str, current: bytes, answer: dict) -> AlbumKeys:
    """The keys of a link's album from its unlock answer: the link's wrapped key is the current one."""
    epoch = _epoch(answer.get("key_epoch"), album_id)
    return AlbumKeys(album_id, epoch, walk(album_id, current, epoch, _chain(answer.get("key_chain"), album_id)))


def from_album(ring: keyring.Keyring, server: str, album: dict) -> tuple[AlbumKeys, bool]:
    """The keys of an album as the owner API shows it, and whether the keyring's copy is behind them.

    The keyring's key serves while the epoch is the one it was kept at. Once the server's epoch is
    newer, only the account's copy (`owner_key`, opened with MK) gives the current key.
    """
    album_id = str(album.get("album_id"))
    cached: bytes | None = None
    cached_epoch = -1
    if album_id in ring.data["albums"]:
        cached, cached_epoch = ring.album_key(album_id), ring.album_epoch(album_id)
    epoch = _epoch(album.get("key_epoch"), album_id)
    if epoch < cached_epoch:
        raise AlbumError(
            f"the server offers an older key of album {album_id} (epoch {epoch}) than this keyring has seen "
            f"(epoch {cached_epoch}): refusing, since someone who lost access to the album holds it"
        )
    if cached is not None and epoch == cached_epoch:
        current = cached
    else:
        master_key = ring.master_key(server)
        sealed = album.get("owner_key")
        if master_key is None or not isinstance(sealed, str):
            raise AlbumError(
                f"album {album_id} has a new key since this keyring kept it (someone lost access to it), and only "
                f"your account's copy opens it: sign in with `fragment login {server} --email E`"
            )
        try:
            current = crypto.open_owner_album_key(master_key, crypto.b64d(sealed), album_id)
        except (crypto.DecryptionError, crypto.FormatError):
            raise AlbumError(f"the server's copy of the key of album {album_id} does not open with your account's key") from None
    keys = walk(album_id, current, epoch, _chain(album.get("key_chain"), album_id))
    if cached is not None and keys.get(cached_epoch) != cached:
        raise AlbumError(
            f"the new key of album {album_id} does not lead back to the one in the keyring at {ring.path}: refusing to use it"
        )
    pending = album.get("rekey_pending") is True
    return AlbumKeys(album_id, epoch, keys, rekey_pending=pending), epoch != cached_epoch


def remember(ring: keyring.Keyring, keys: AlbumKeys) -> None:
    """Keep an album's newer current key and epoch in the keyring (on disk, and in `ring`)."""
    with keyring.edit(ring.path) as saved:
        if keys.album_id in saved.data["albums"] and saved.album_epoch(keys.album_id) < keys.epoch:
            saved.set_album_key(keys.album_id, keys.current, keys.epoch)
    with contextlib.suppress(KeyringError):
        if ring.album_epoch(keys.album_id) < keys.epoch:
            ring.set_album_key(keys.album_id, keys.current, keys.epoch)


def of_album(ring: keyring.Keyring, owner: OwnerClient, album: dict) -> AlbumKeys:
    """The keys of a fetched album (the keyring follows a new epoch), able to read themselves again."""
    keys, moved = from_album(ring, owner.server_url, album)
    if moved:
        remember(ring, keys)
    album_id = keys.album_id
    keys.reload = lambda: load(ring, owner, album_id)
    return keys


def for_files(ring: keyring.Keyring, owner: OwnerClient, album_id: str, entries: list[dict]) -> AlbumKeys:
    """Keys that open the listed `entries`: the keyring's alone if they are all under it, else the server's read."""
    epoch = ring.album_epoch(album_id)
    if all(entry.get("key_epoch", 0) == epoch for entry in entries):
        return AlbumKeys(album_id, epoch, {epoch: ring.album_key(album_id)}, reload=lambda: load(ring, owner, album_id))
    return load(ring, owner, album_id)


def load(ring: keyring.Keyring, owner: OwnerClient, album_id: str) -> AlbumKeys:
    """The current keys of an album in the keyring, from the server's answer (GET /api/owner/albums/<id>)."""
    album = owner.find_album(album_id)
    if album is None:
        raise AlbumError(f"there is no album {album_id} on {owner.server_url} any more")
    return of_album(ring, owner, album)
