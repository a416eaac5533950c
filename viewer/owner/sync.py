"""`fragment sync`: keep a folder and an album in step, as a phone's camera folder is.

Each round uploads the photos and videos of the folder that the album does not have
yet. A file counts as in the album when a file of the same name and size is there
(both are in the sealed file metadata, so only this machine can compare them). The
album is listed and decrypted once, on the first round; after that a small state file
beside the keyring remembers what the album holds, so a round costs a folder scan and
no request when nothing changed. The album's keys are read from the server in a round that
lists or sends (``epochs.load``), so files added after the album got a new key (someone lost
access to it) go under the new one.

A file still being written must not go up half-done: it waits for a later round while
it was modified in the last SETTLE_SECONDS, or while its size or modification time differs
between the two looks a round takes (one when scanning the folder, one once every file is
scanned, just before sending). `send_file` also refuses a file whose size changes while it
is read.

Nothing is deleted from the album unless asked (`delete=True`): then the files that
this folder had and no longer has are listed, and removed. Files that never came from the
folder (a guest's, or `albums add`) are never touched. A file removed from the album by
other means (`albums remove`) stays removed: the state still counts it as sent, until
`rescan=True` lists the album again.

State file (version 1), one per album and folder, ``sync-<album id>-<hash>.json`` beside the keyring::

    {"version": 1, "server": url, "album_id": id, "folder": absolute path,
     "files": {file_id: {"name", "size", "from_dir": bool}},
     "unreadable": {name: [size, mtime_ns]}}  (files media could not read: tried again only once they change)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .. import crypto
from . import epochs, keyring
from .albums import SentFile, find_media
from .client import OwnerClient
from .disk import atomic_file, clean_text
from .edit import AlbumFile, add_files, album_files
from .keyring import KeyringError
from .report import Report

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

VERSION = 1
SETTLE_SECONDS = 2.0


@dataclass
class Round:
    """What one round did."""

    added: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def state_path(ring_path: Path, server: str, album_id: str, folder: str) -> Path:
    """Where the state of syncing `folder` into this album lives: beside the keyring."""
    digest = crypto.b64e(hashlib.sha256(f"{keyring.normalize_server(server)}\n{folder}".encode()).digest()[:9])
    return ring_path.with_name(f"sync-{album_id}-{digest}.json")


def load_state(path: Path, server: str, album_id: str, folder: str) -> dict | None:
    """The state of an earlier round, or None (first round, or a state file that is not ours: list again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError):
        return None  # damaged: listing the album again rebuilds it
    if (
        not isinstance(data, dict)
        or data.get("version") != VERSION
        or data.get("album_id") != album_id
        or data.get("server") != keyring.normalize_server(server)
        or data.get("folder") != folder
        or not isinstance(data.get("files"), dict)
    ):
        return None
    data.setdefault("unreadable", {})
    return data


def new_state(server: str, album_id: str, folder: str, files: list[AlbumFile]) -> dict:
    """The state from a listing of the album: each file's name and size, none yet known to come from the folder."""
    return {
        "version": VERSION,
        "server": keyring.normalize_server(server),
        "album_id": album_id,
        "folder": folder,
        "files": {f.file_id: {"name": str(f.meta.get("name", "")), "size": f.meta.get("size"), "from_dir": False} for f in files},
        "unreadable": {},
    }


def save_state(path: Path, state: dict) -> None:
    with atomic_file(path) as out:  # 0600, like the keyring beside it
        out.write((json.dumps(state, indent=1, sort_keys=True) + "\n").encode("utf-8"))


@contextlib.contextmanager
def sync_lock(path: Path) -> Iterator[None]:
    """One sync of a folder into an album at a time; flock(2) is released when the process dies."""
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, keyring.FILE_MODE)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise KeyringError("another `fragment sync` of this folder into this album is running; stop it first") from None
        yield
    finally:
        os.close(fd)


def look(path: Path) -> list[int] | None:
    """[size, mtime_ns] of a file, or None if it went away."""
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def ready(first: list[int] | None, second: list[int] | None, now: float) -> bool:
    """Whether a file has stopped changing: the same at both looks of this round, and not modified for SETTLE_SECONDS."""
    if first is None or second is None or first != second:
        return False
    return now - first[1] / 1e9 >= SETTLE_SECONDS


def sync_round(
    ring: keyring.Keyring,
    owner: OwnerClient,
    album_id: str,
    directory: Path,
    report: Report,
    *,
    delete: bool = False,
    rescan: bool = False,
    on_added: Callable[[str], None] | None = None,
    confirm_delete: Callable[[list[str]], bool] | None = None,
    clock: Callable[[], float] = time.time,
) -> Round:
    """One round: send what the folder has and the album lacks; with `delete`, remove what the folder lost."""
    folder = str(directory.resolve())
    path = state_path(ring.path, owner.server_url, album_id, folder)
    with sync_lock(path):
        return _round(ring, owner, album_id, directory, folder, path, report, delete, rescan, on_added, confirm_delete, clock)


def _round(
    ring: keyring.Keyring,
    owner: OwnerClient,
    album_id: str,
    directory: Path,
    folder: str,
    path: Path,
    report: Report,
    delete: bool,
    rescan: bool,
    on_added: Callable[[str], None] | None,
    confirm_delete: Callable[[list[str]], bool] | None,
    clock: Callable[[], float],
) -> Round:
    ring.album_key(album_id)  # KeyringError first for an album this keyring does not know
    keys: epochs.AlbumKeys | None = None
    state = None if rescan else load_state(path, owner.server_url, album_id, folder)
    if state is None:
        keys = epochs.load(ring, owner, album_id)  # AlbumError if the album is gone
        state = new_state(owner.server_url, album_id, folder, album_files(owner, keys, album_id, report))
        save_state(path, state)
    files: dict[str, dict] = state["files"]
    unreadable: dict[str, list[int]] = state["unreadable"]
    present = {(entry.get("name"), entry.get("size")): file_id for file_id, entry in files.items()}
    done = Round()

    paths, _ignored = find_media(directory)
    first = {p.name: look(p) for p in paths}
    on_disk = {(p.name, first[p.name][0]) for p in paths if first[p.name] is not None}  # type: ignore[index]
    new = []
    for p in paths:
        seen = first[p.name]
        file_id = present.get((p.name, seen[0])) if seen else None
        if file_id is not None:
            files[file_id]["from_dir"] = True
        elif seen is not None and unreadable.get(p.name) != seen:
            new.append(p)
    now = clock()
    todo = []
    for p in new:
        if ready(first[p.name], look(p), now):  # look(p): the second look of this round
            todo.append(p)
        else:
            done.waiting.append(clean_text(p.name))
    for name in list(unreadable):
        if name not in first:
            unreadable.pop(name)  # gone from the folder
    save_state(path, state)
    if done.waiting:
        report.note(f"Still being written, left for the next round: {', '.join(done.waiting)}.")

    if todo:

        def sent(p: Path, result: SentFile) -> None:
            files[result.file_id] = {"name": p.name, "size": result.meta.get("size"), "from_dir": True}
            save_state(path, state)  # after each file: an interrupted round does not send it again
            done.added.append(clean_text(p.name))
            if on_added:
                on_added(p.name)

        if keys is None:
            keys = epochs.load(ring, owner, album_id)
        added = add_files(owner, album_id, keys, todo, report, on_sent=sent)
        done.skipped.extend(added.skipped)
        for p in todo:  # an unreadable file waits until it changes, rather than warning every round
            if clean_text(p.name) in added.skipped and (seen := look(p)) is not None:
                unreadable[p.name] = seen
        save_state(path, state)

    if delete:
        lost = [
            (file_id, entry)
            for file_id, entry in files.items()
            if entry.get("from_dir") and (entry.get("name"), entry.get("size")) not in on_disk
        ]
        names = [clean_text(entry.get("name", "")) for _file_id, entry in lost]
        if lost and (confirm_delete is None or confirm_delete(names)):
            report.note(f"Removing {len(lost)} file(s) no longer in {clean_text(directory)} from the album: {', '.join(names)}.")
            for file_id, entry in lost:
                owner.delete_file(album_id, file_id)
                files.pop(file_id)
                save_state(path, state)
                done.removed.append(clean_text(entry.get("name", "")))
    return done
