"""The local-folder blob store: temp file, fsync, rename, fsync the folder (see the package docstring)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from .base import (
    READ_PIECE,
    BlobNotFound,
    BlobStore,
    InvalidKey,
    StorageError,
    StorageFull,
    check_range,
    is_full,
    validate_key,
    validate_prefix,
)


class LocalBlobStore(BlobStore):
    """Blobs as files under one root folder (the default, single-machine backend)."""

    def __init__(self, root: Path) -> None:
        """Use ``root``, creating it owner-only (0700) if it does not exist."""
        root = Path(root)
        # Owner-only: other local users must not even list album/file ids.
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root = root.resolve(strict=True)
        # Temp files live inside root so os.replace never crosses a filesystem
        # (rename(2) fails with EXDEV across mounts).  ".tmp" cannot collide with
        # a key because "." is not allowed in key segments.
        self._tmp_dir = self.root / ".tmp"
        self._tmp_dir.mkdir(mode=0o700, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        """Map a key to its path, refusing anything that resolves outside root."""
        validate_key(key)
        path = self.root.joinpath(*key.split("/"))
        # Defence in depth beyond validate_key: resolve() follows symlinks, so a
        # planted symlink inside root cannot point a key outside it.
        if not path.resolve().is_relative_to(self.root):
            raise InvalidKey(f"blob key resolves outside the store: {key!r}")
        return path

    def _blob_path(self, key: str) -> Path:
        """Return the path of an existing regular-file blob, or raise BlobNotFound."""
        path = self._path(key)
        if not path.is_file():
            # A directory ("a/b" when "a/b/c" exists) is not a blob either.
            raise BlobNotFound(key)
        return path

    def _makedirs(self, directory: Path) -> None:
        """Create directory and missing parents 0700, fsyncing each new entry's parent.

        A concurrent delete prunes folders it left empty, so a parent this call saw (or
        just made) can vanish before the child's mkdir; then mkdir fails with ENOENT and
        the walk starts again from the top.  Each retry needs another prune to land in
        that gap, so a few are plenty.
        """
        for attempt in range(32):
            missing = []
            current = directory
            while current != self.root and not current.is_dir():
                missing.append(current)
                current = current.parent
            try:
                for new_dir in reversed(missing):
                    try:
                        new_dir.mkdir(mode=0o700)
                    except FileExistsError:
                        if new_dir.is_dir():
                            continue  # a concurrent put made it
                        if not new_dir.exists():
                            # A concurrent put made it and a concurrent delete pruned it since: walk again.
                            raise FileNotFoundError(new_dir) from None
                        raise StorageError(f"{new_dir.relative_to(self.root)} is a blob, not a folder") from None
                    # A new directory entry is only durable once its parent is fsynced (fsync(2)).
                    _fsync_dir(new_dir.parent)
                return
            except FileNotFoundError:
                if attempt == 31:
                    raise

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write to root/.tmp, fsync, os.replace into place, fsync the directory."""
        path = self._path(key)
        try:
            return self._put(path, key, chunks)
        except OSError as e:
            if is_full(e):
                raise StorageFull(f"no room left to store {key!r}: {e.strerror}") from e
            raise

    def _put(self, path: Path, key: str, chunks: Iterable[bytes]) -> int:
        # mkstemp creates the file O_EXCL with mode 0600, so a partial blob is never
        # readable by others and never under a guessable name.
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp_dir, prefix="put-")
        try:
            written = 0
            with os.fdopen(fd, "wb") as tmp:
                for chunk in chunks:
                    written += tmp.write(chunk)
                tmp.flush()
                # Data before the rename, or a crash could leave the new name
                # pointing at an empty or partial file (fsync(2), rename(2)).
                os.fsync(tmp.fileno())
            # A concurrent delete/delete_prefix prunes empty folders, so the parent
            # can vanish between mkdir and replace; retry a few times.
            for attempt in range(5):
                self._makedirs(path.parent)
                try:
                    os.replace(tmp_name, path)
                    break
                except FileNotFoundError:
                    if attempt == 4:
                        raise
                except IsADirectoryError:
                    # "a/b" when "a/b/c" exists: the local twin of the check in _makedirs.
                    raise StorageError(f"{key} is a folder of blobs, not a blob") from None
        except BaseException:
            # BaseException: also on KeyboardInterrupt/GeneratorExit, so nothing
            # is left in .tmp and nothing appears under the key.
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(path.parent)
        return written

    def size(self, key: str) -> int:
        """Return the file's size, or raise BlobNotFound."""
        return self._blob_path(key).stat().st_size

    def exists(self, key: str) -> bool:
        """Return whether a regular file is stored under key."""
        return self._path(key).is_file()

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Open the file now and stream [start, end) from that open file."""
        check_range(start, end)
        path = self._path(key)
        try:
            # Opening eagerly pins the inode: a concurrent put's os.replace swaps the
            # name, but this reader keeps streaming the old, complete blob.
            f = open(path, "rb")  # noqa: SIM115 - _stream_file's generator closes it when the response ends
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None
        return _stream_file(f, start, end)

    def read_all(self, key: str) -> bytes:
        """Return the whole file."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None

    def delete(self, key: str) -> None:
        """Unlink the file if present and prune folders left empty."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        except (IsADirectoryError, PermissionError):
            # Linux unlink(2) gives EISDIR for a folder, POSIX allows EPERM;
            # either way it is not a blob, so there is nothing to delete.
            if path.is_dir():
                return
            raise
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        """Unlink every file under prefix/, then remove the emptied folders."""
        prefix = validate_prefix(prefix)
        keys = self.list_prefix(prefix)
        count = 0
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                self._path(key).unlink()
                count += 1
        top = self._path(prefix)
        if top.is_dir():
            for dirpath, _dirs, _files in os.walk(top, topdown=False):
                with contextlib.suppress(OSError):  # not empty: a concurrent put added a blob
                    os.rmdir(dirpath)
        self._prune(top.parent)
        return count

    def list_prefix(self, prefix: str) -> list[str]:
        """Return the sorted keys of regular files under prefix/."""
        top = self._path(validate_prefix(prefix))
        if not top.is_dir():
            return []
        return sorted(key for key, _mtime in self._walk(top))

    def _walk(self, top: Path) -> Iterator[tuple[str, float]]:
        """Yield (key, mtime) of the regular files under top, skipping anything that is not a key."""
        # os.walk does not descend into symlinked folders by default, and symlinked
        # files are skipped below, so listing never leaves root.  It also ignores
        # folders that vanish while it walks (a concurrent delete).
        for dirpath, dirs, files in os.walk(top):
            if Path(dirpath) == self.root:
                dirs[:] = [d for d in dirs if d != ".tmp"]
            for name in files:
                full = Path(dirpath, name)
                try:
                    info = full.lstat()
                except FileNotFoundError:
                    continue
                if not stat.S_ISREG(info.st_mode):
                    continue
                key = full.relative_to(self.root).as_posix()
                try:
                    yield validate_key(key), info.st_mtime
                except InvalidKey:
                    continue  # not ours (e.g. an editor's swap file); never hand it out

    def scan(self) -> Iterator[tuple[str, float]]:
        """Walk the whole root except .tmp."""
        return self._walk(self.root)

    def sweep_temp(self, older_than: float) -> int:
        """Unlink .tmp/put-* files last written before older_than (left by a killed put)."""
        count = 0
        for entry in os.scandir(self._tmp_dir):
            with contextlib.suppress(FileNotFoundError):  # another server's cleanup took it
                if entry.name.startswith("put-") and entry.stat(follow_symlinks=False).st_mtime < older_than:
                    os.unlink(entry.path)
                    count += 1
        return count

    def ready(self) -> bool:
        """The folder takes a new file: made and removed in .tmp, where an interrupted write's would be."""
        try:
            fd, name = tempfile.mkstemp(dir=self._tmp_dir, prefix="ready-")
            os.close(fd)
            os.unlink(name)
        except OSError:
            return False
        return True

    def _prune(self, directory: Path) -> None:
        """Remove empty folders from directory up to (not including) root."""
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return  # not empty, or already gone
            directory = directory.parent


def _stream_file(f: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    """Yield [start, end) of an open file in pieces of at most READ_PIECE, then close it."""
    with f:
        f.seek(start)
        remaining = end - start
        while remaining > 0:
            piece = f.read(min(READ_PIECE, remaining))
            if not piece:
                return  # end of file: clamp
            remaining -= len(piece)
            yield piece


def _fsync_dir(directory: Path) -> None:
    """fsync a directory so renames and new entries in it survive a crash."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
