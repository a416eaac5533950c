"""Files this tool writes to the person's disk: names from untrusted metadata, and atomic writes.

Everything `open` and `pull` save is named by metadata that a guest or a server
chose, so a name is reduced to a plain basename first (``safe_name``) and never
overwrites what is there (``unique_path``). Every file, downloads and the
keyring alike, is written through one ``atomic_file``: a temporary file in the
same folder, fsync, then os.replace, which is atomic on POSIX (rename(2)), so a
reader or a crash sees the old file or the whole new one, never half of it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

# --- names ---------------------------------------------------------------------

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


# --- atomic writes ------------------------------------------------------------------


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file to write that replaces `path` only when the block ends without an error.

    The temporary file sits beside `path` (a rename across file systems is not atomic) under
    a fixed short name, since `path`'s own name may already be 255 bytes long. mkstemp
    creates it 0600 with O_EXCL, so no other user reads it meanwhile and no left-over file is
    reused. On any error, even KeyboardInterrupt, it is removed: half a photo or half a keyring
    is worse than none.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=".fragment-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX: fsync the directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
