"""What every blob store shares: the interface, its errors, and the one key allow-list (see the package docstring)."""

from __future__ import annotations

import abc
import errno
import re
import sys
from collections.abc import Iterable, Iterator

#: Largest piece ``read_range`` yields: big enough to keep syscalls/requests few,
#: small enough that a streamed Range response never holds a large blob in memory.
READ_PIECE = 256 * 1024

MAX_SEGMENTS = 6
# \Z rather than $: "$" also matches before a trailing newline, so "abc\n" would pass.
# re.ASCII keeps the class to ASCII even if someone later swaps it for \w.
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z", re.ASCII)

# Never hand-built into a path; only ends up in range arithmetic as "until the end".
TO_END = sys.maxsize


class StorageError(Exception):
    """Base class for every error the blob store raises on purpose."""


class BlobNotFound(StorageError):
    """No blob is stored under the key."""


class InvalidKey(StorageError):
    """The key is not of the allowed shape."""


class StorageFull(StorageError):
    """The store has no room left (a full disk, a quota): the caller should answer 507, not retry."""


# ENOSPC "No space left on device" and EDQUOT "Disk quota exceeded" (errno(3)).
_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def is_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in _FULL_ERRNOS


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is 1-6 safe "/"-separated segments, else raise InvalidKey."""
    if not isinstance(key, str):
        raise InvalidKey(f"blob key must be a str, not {type(key).__name__}")
    segments = key.split("/")
    if not 1 <= len(segments) <= MAX_SEGMENTS:
        raise InvalidKey(f"blob key must have 1 to {MAX_SEGMENTS} segments: {key!r}")
    for segment in segments:
        if not _SEGMENT_RE.match(segment):
            # repr() so control characters in the message cannot forge log lines.
            raise InvalidKey(f"blob key segments must match [A-Za-z0-9_-]{{1,64}}: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Return a folder prefix without its trailing "/" ("album/" and "album" name the same folder), validated."""
    if isinstance(prefix, str) and prefix.endswith("/"):
        prefix = prefix[:-1]
    return validate_key(prefix)


def check_range(start: int, end: int) -> None:
    """Reject ranges that are a programming error rather than a clampable request."""
    if start < 0 or end < start:
        raise ValueError(f"invalid byte range [{start}, {end})")


class BlobStore(abc.ABC):
    """Stores opaque blobs under validated keys; every method validates its key."""

    @abc.abstractmethod
    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        """Store the concatenated chunks under key atomically and return the byte count."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """Return the blob's length in bytes, or raise BlobNotFound."""

    def exists(self, key: str) -> bool:
        """Return whether a blob is stored under key."""
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    @abc.abstractmethod
    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Stream bytes [start, end), clamped to the blob, in pieces of at most 256 KiB.

        BlobNotFound is raised by the call itself, not on first iteration, so a
        web handler can turn it into a 404 before it starts a response.
        """

    def read_all(self, key: str) -> bytes:
        """Return the whole blob."""
        return b"".join(self.read_range(key, 0, TO_END))

    def copy(self, source: str, destination: str) -> int:
        """Store a copy of the blob at ``source`` under ``destination`` atomically; its byte count.

        Raises BlobNotFound if there is no blob at ``source``. This default streams it through
        ``put`` (temp file and rename for the local store); a backend that copies on its side
        overrides it.
        """
        return self.put(destination, self.read_range(source, 0, TO_END))

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete the blob if it exists; a missing key is not an error."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under "prefix/" and return how many were deleted."""
        keys = self.list_prefix(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    @abc.abstractmethod
    def list_prefix(self, prefix: str) -> list[str]:
        """Return the sorted keys under "prefix/"."""

    @abc.abstractmethod
    def scan(self) -> Iterator[tuple[str, float]]:
        """Yield (key, last modified as Unix seconds) for every blob in the store, in no set order."""

    @abc.abstractmethod
    def sweep_temp(self, older_than: float) -> int:
        """Remove what interrupted writes left behind, last touched before ``older_than``; return how many."""

    @abc.abstractmethod
    def ready(self) -> bool:
        """Whether the store answers a cheap call now (GET /readyz); never raises, and says nothing of why not."""
