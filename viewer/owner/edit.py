"""Changing an album that exists: add and remove files, and re-seal its metadata.

The album metadata (title, description, cover, sort, order: docs/format.md, "Album
metadata") is one value sealed under the album key, so every change here opens the
server's copy, changes the keys it is asked to, keeps every other key as it found it
(a newer client's keys included), seals it again and sends the whole of it back
(PATCH /api/owner/albums/<id>). Files are named by id, or by the name `fragment open`
would save them under (``disk.safe_name`` of the sealed name); a name several files
share is refused with the candidates, never guessed. The HTTP is ``client.py``'s,
uploads are ``albums.upload_files``' (the same pipeline as `publish`).

The metadata is sealed under the album's current key, named by its epoch in the PATCH, so a
change made just as the album got a new key (someone lost access to it) is refused by the
server rather than sealed under a key they hold; the change is then made once more on the
metadata as it now is (``put_changes``). Keys and epochs are ``epochs.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import crypto
from . import epochs, keyring
from .albums import AlbumError, Drops, SentFile, find_media, open_file, openable, upload_files
from .client import ApiError, OwnerClient
from .disk import clean_text, safe_name
from .epochs import AlbumKeys
from .report import Quiet, Report, quoted

# The server's default limit on sealed metadata (MAX_META_BYTES in viewer/server/config.py).
# A custom order of 22-character ids fits about 2,500 files under it.
MAX_META_BYTES = 64 * 1024
SORTS = ("taken", "name", "upload", "custom")
DEFAULT_SORT = "taken"


@dataclass
class AlbumFile:
    """A file of the album as the owner sees it: id and decrypted metadata."""

    file_id: str
    meta: dict

    @property
    def name(self) -> str:
        """The name `fragment open` saves it under."""
        return safe_name(self.meta.get("name"))

    def describe(self) -> str:
        """'Zh3…Q (IMG_1.jpg, 1.2 MB, taken 2024-06-01T12:30:00)', to tell files of one name apart."""
        details = [clean_text(self.name)]
        size = self.meta.get("size")
        if isinstance(size, int) and not isinstance(size, bool):
            details.append(f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size} bytes")
        if isinstance(self.meta.get("taken_at"), str):
            details.append(f"taken {clean_text(self.meta['taken_at'])}")
        if self.meta.get("uploader"):
            details.append(f"added by {clean_text(self.meta['uploader'])}")
        return f"{self.file_id} ({', '.join(details)})"


# --- the album and its metadata ---------------------------------------------------------


def open_album(ring: keyring.Keyring, owner: OwnerClient, album_id: str) -> tuple[AlbumKeys, dict]:
    """(album keys, album metadata) of an album this keyring can open; AlbumError, before any change, if it cannot."""
    ring.album_key(album_id)  # KeyringError first for an album this keyring does not know
    album = owner.find_album(album_id)
    if album is None:
        raise AlbumError(f"there is no album {album_id} on {owner.server_url} any more")
    keys = epochs.of_album(ring, owner, album)
    try:
        meta = crypto.open_album_meta(keys.current, album_id, crypto.b64d(album.get("meta", "")))
    except (crypto.DecryptionError, crypto.FormatError):
        raise AlbumError(
            f"the key of album {album_id} in the keyring at {ring.path} does not open the album on {owner.server_url}; "
            "nothing was changed"
        ) from None
    return keys, meta


def changed_meta(meta: dict, changes: dict[str, Any]) -> dict:
    """`meta` with `changes` applied: a value of None removes that key; every other key is kept as it was."""
    updated = {key: value for key, value in meta.items() if key != "v"}  # seal_album_meta writes v itself
    for key, value in changes.items():
        if value is None:
            updated.pop(key, None)
        else:
            updated[key] = value
    return updated


def seal_meta(album_key: bytes, album_id: str, meta: dict) -> bytes:
    """The sealed metadata; AlbumError when it would not fit the server's limit."""
    sealed = crypto.seal_album_meta(album_key, album_id, meta)
    if len(sealed) > MAX_META_BYTES:
        order = meta.get("order")
        if isinstance(order, list) and order:
            raise AlbumError(
                f"a custom order of {len(order)} files does not fit in the album's metadata "
                f"({MAX_META_BYTES // 1024} KiB, about 2,500 files); use `--by taken` (or name, upload) instead"
            )
        raise AlbumError(f"the album's metadata would be {len(sealed)} bytes, more than the {MAX_META_BYTES} a server takes")
    return sealed


def update_meta(ring: keyring.Keyring, owner: OwnerClient, album_id: str, changes: dict[str, Any]) -> dict:
    """Re-seal the album metadata with `changes` (None removes a key) and send it; the new metadata."""
    keys, meta = open_album(ring, owner, album_id)
    return put_changes(ring, owner, album_id, keys, meta, changes)


def put_changes(
    ring: keyring.Keyring, owner: OwnerClient, album_id: str, keys: AlbumKeys, meta: dict, changes: dict[str, Any]
) -> dict:
    """`meta` with `changes`, sealed and sent; if the album got a new key meanwhile, once more on its metadata now."""
    try:
        return put_meta(ring, owner, album_id, keys, changed_meta(meta, changes))
    except ApiError as exc:
        if not epochs.is_stale(exc):
            raise
    keys, meta = open_album(ring, owner, album_id)
    return put_meta(ring, owner, album_id, keys, changed_meta(meta, changes))


def put_meta(ring: keyring.Keyring, owner: OwnerClient, album_id: str, album_key: bytes | AlbumKeys, meta: dict) -> dict:
    """Send `meta` sealed under the current album key, naming its epoch; the keyring's copy of the title follows it."""
    keys = AlbumKeys.of(album_id, album_key)
    owner.patch_album(album_id, crypto.b64e(seal_meta(keys.current, album_id, meta)), key_epoch=keys.epoch)
    if isinstance(meta.get("title"), str):
        with keyring.edit(ring.path) as saved:
            saved.set_title(album_id, meta["title"])
    return meta


def order_changes(sort: str, order: list[str] | None = None) -> dict[str, Any]:
    """The metadata keys of `albums order`: `sort`, and `order` only with "custom" (a stale one goes)."""
    if sort not in SORTS:
        raise AlbumError(f"{sort!r} is not an order: use one of {', '.join(SORTS)}")
    if sort == "custom":
        if not order:
            raise AlbumError("a custom order names at least one file")
        return {"sort": "custom", "order": list(order)}
    return {"sort": sort, "order": None}


# --- files -------------------------------------------------------------------------------


def album_files(owner: OwnerClient, album_key: bytes | AlbumKeys, album_id: str, report: Report | None = None) -> list[AlbumFile]:
    """Every complete file of the album, its metadata decrypted (a file that does not decrypt is an AlbumError).

    Files added through a file drop open with the album's drop keys (from the album's JSON); one
    whose key does not open is left out, with one line to `report` (``albums.openable``).
    """
    entries = list(owner.iter_files(album_id))
    drops = None
    if any(entry.get("drop") is True for entry in entries):
        album = owner.find_album(album_id)
        drops = Drops(album_id, (album or {}).get("drop_keys"))
    files = []
    for entry in openable(entries, album_key, album_id, drops, report or Quiet()):
        file_id, _file_key, meta = open_file(album_key, album_id, entry, drops)
        files.append(AlbumFile(file_id, meta))
    return files


def resolve(files: list[AlbumFile], refs: Iterable[str]) -> list[AlbumFile]:
    """The files that `refs` name, in their order: each a file id, or a name only one file has.

    AlbumError for a name no file has, or one several files have (listing them, so the
    person can give an id), or a file named twice.
    """
    by_id = {f.file_id: f for f in files}
    chosen: list[AlbumFile] = []
    for ref in refs:
        found = by_id.get(ref)
        if found is None:
            matches = [f for f in files if f.name == ref or f.meta.get("name") == ref]
            if not matches:
                raise AlbumError(f"the album has no file with the id or name {quoted(ref)}")
            if len(matches) > 1:
                listed = "; ".join(f.describe() for f in matches)
                raise AlbumError(f"{len(matches)} files are named {quoted(ref)}; name the one you mean by its id: {listed}")
            found = matches[0]
        if any(f.file_id == found.file_id for f in chosen):
            raise AlbumError(f"{found.describe()} is named twice")
        chosen.append(found)
    return chosen


def media_paths(paths: Iterable[Path], report: Report) -> list[Path]:
    """Files as given, and the top-level photos and videos of each folder (as `publish` takes them)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside, ignored = find_media(path)
            if ignored:
                report.note(f"Skipping {ignored} file(s) in {clean_text(path)} that are not photos or videos.")
            found.extend(inside)
        else:
            found.append(path)
    return list(dict.fromkeys(p.resolve() for p in found))  # a file given twice is sent once


@dataclass
class Added:
    """What `add_files` did."""

    sent: list[SentFile]
    skipped: list[str]


def add_files(
    owner: OwnerClient,
    album_id: str,
    album_key: bytes | AlbumKeys,
    paths: list[Path],
    report: Report,
    on_sent: Callable[[Path, SentFile], None] | None = None,
) -> Added:
    """Prepare, encrypt and upload `paths` into the album (thumb, preview, resumable original, progress)."""
    if not paths:
        raise AlbumError("no photos or videos to add")
    sent: list[SentFile] = []

    def record(path: Path, done: SentFile) -> None:
        sent.append(done)
        if on_sent:
            on_sent(path, done)

    _count, skipped = upload_files(owner.uploads(album_id), album_key, album_id, paths, report, on_sent=record)
    return Added(sent, skipped)


def remove_files(
    ring: keyring.Keyring, owner: OwnerClient, album_id: str, album_key: bytes | AlbumKeys, meta: dict, files: list[AlbumFile]
) -> dict:
    """Delete `files` from the album; a cover or custom order that named them forgets them. The metadata after."""
    for file in files:
        owner.delete_file(album_id, file.file_id)
    gone = {f.file_id for f in files}
    changes: dict[str, Any] = {}
    if meta.get("cover") in gone:
        changes["cover"] = None
    order = meta.get("order")
    if isinstance(order, list) and gone & set(order):
        changes["order"] = [file_id for file_id in order if file_id not in gone]
    if not changes:
        return meta
    return put_changes(ring, owner, album_id, AlbumKeys.of(album_id, album_key), meta, changes)
