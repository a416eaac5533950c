"""Blob storage behind one small interface, with a local-folder and an S3 backend.

Blobs are opaque ciphertext (see docs/design.md): the store never sees a key or a
plaintext, so it only has to be *safe* (no path escapes its root, nothing is
world-readable) and *atomic* (a reader sees a whole old blob or a whole new one,
never a torn write).  The shape follows warehouse's ``IFileStorage`` with a local
and a cloud implementation, so the Flask code depends only on ``BlobStore``.

Keys are validated by one strict allow-list, ``validate_key``, in every method:
"<album_id>/<file_id>/<kind>" or "staging/<...>/<...>/<n>", at most 6 segments of
``[A-Za-z0-9_-]{1,64}``.  An allow-list rather than stripping "..": OWASP Path
Traversal, "validate the user's input by only accepting known good"
(https://owasp.org/www-community/attacks/Path_Traversal).

Atomicity sources:
- Local: write a temp file on the same filesystem, ``fsync`` it, ``os.replace`` it
  into place, ``fsync`` the directory.  POSIX rename(2) replaces the target
  atomically ("a link named new shall remain visible to other threads throughout
  the renaming operation", https://pubs.opengroup.org/onlinepubs/9799919799/functions/rename.html);
  fsync(2) on Linux does not make the directory entry durable, "for that an
  explicit fsync() on a file descriptor for the directory is also needed"
  (https://man7.org/linux/man-pages/man2/fsync.2.html).
- S3: PutObject and CompleteMultipartUpload are all-or-nothing ("Amazon S3 never
  adds partial objects", https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html)
  and reads are strongly consistent after a write
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/Welcome.html#ConsistencyModel).
"""

from __future__ import annotations

import abc
import contextlib
import errno
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "InvalidKey",
    "LocalBlobStore",
    "S3BlobStore",
    "StorageError",
    "StorageFull",
    "store_from_config",
    "validate_key",
    "validate_prefix",
]

#: Largest piece ``read_range`` yields: big enough to keep syscalls/requests few,
#: small enough that a streamed Range response never holds a large blob in memory.
READ_PIECE = 256 * 1024

MAX_SEGMENTS = 6
# \Z rather than $: "$" also matches before a trailing newline, so "abc\n" would pass.
# re.ASCII keeps the class to ASCII even if someone later swaps it for \w.
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z", re.ASCII)

# Never hand-built into a path; only ends up in range arithmetic as "until the end".
_TO_END = sys.maxsize


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
# S3-compatible stores that run out of room: MinIO answers 507 XMinioStorageFull (and
# XMinioAdminBucketQuotaExceeded for a bucket quota); 507 is "Insufficient Storage" (RFC 4918 section 11.5).
_FULL_S3_CODES = frozenset({"XMinioStorageFull", "XMinioAdminBucketQuotaExceeded", "StorageFull", "QuotaExceeded"})


def _is_full(error: BaseException) -> bool:
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


def _check_range(start: int, end: int) -> None:
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
        return b"".join(self.read_range(key, 0, _TO_END))

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
            if _is_full(e):
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
        _check_range(start, end)
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


class S3BlobStore(BlobStore):
    """Blobs as objects in an S3-compatible bucket (the scale-out backend)."""

    #: In-memory part of the upload spool; bigger blobs spill to an unlinked temp file.
    SPOOL_MEMORY = 8 * 1024 * 1024

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
    ) -> None:
        """Remember the settings; the boto3 client is made on first use in each process."""
        if not bucket:
            raise ValueError("S3BlobStore needs a bucket name")
        prefix = prefix.strip("/")
        if prefix:
            try:
                validate_key(prefix)
            except InvalidKey as e:
                raise ValueError(f"invalid S3 prefix {prefix!r}: {e}") from None
        self.bucket = bucket
        self.prefix = prefix
        self._endpoint_url = endpoint_url or None
        self._region = region or None
        self._access_key = access_key or None
        self._secret_key = secret_key or None
        self._client_obj: Any = None
        self._client_pid: int | None = None

    def __repr__(self) -> str:
        where = f" at {self._endpoint_url}" if self._endpoint_url else ""
        return f"S3BlobStore({self.bucket!r}, prefix={self.prefix!r}{where})"

    @property
    def _client(self) -> Any:
        """Return this process's boto3 S3 client, creating it after a fork."""
        # gunicorn forks workers; a client (and its urllib3 socket pool) inherited
        # across fork would interleave two processes' requests on one connection.
        # boto3 documents clients, not sessions, as thread-safe, hence one Session each
        # (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html#multithreading-or-multiprocessing-with-clients).
        if self._client_obj is None or self._client_pid != os.getpid():
            import boto3
            from botocore.config import Config

            session = boto3.session.Session(
                aws_access_key_id=self._access_key,
                aws_secret_access_key=self._secret_key,
                region_name=self._region,
            )
            config = Config(
                signature_version="s3v4",
                retries={"mode": "standard"},
                # Path-style for custom endpoints: MinIO/Garage/moto are often reached
                # by IP or a host with no wildcard DNS for bucket subdomains.
                s3={"addressing_style": "path" if self._endpoint_url else "auto"},
                # boto3 >= 1.36 adds CRC checksum headers by default, which several
                # S3-compatible stores reject (https://github.com/boto/boto3/issues/4392,
                # https://github.com/boto/s3transfer/issues/327).  Integrity does not
                # rest on them: every blob is AEAD ciphertext, checked on decryption.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            self._client_obj = session.client("s3", endpoint_url=self._endpoint_url, config=config)
            self._client_pid = os.getpid()
        return self._client_obj

    def _object_key(self, key: str) -> str:
        """Return the bucket key for a validated blob key."""
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _blob_key(self, object_key: str) -> str | None:
        """Return the blob key for a bucket key, or None if it is not one of ours."""
        if self.prefix:
            head = self.prefix + "/"
            if not object_key.startswith(head):
                return None
            object_key = object_key[len(head) :]
        try:
            return validate_key(object_key)
        except InvalidKey:
            return None

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        """Spool the chunks, then upload in one PutObject or one multipart upload."""
        object_key = self._object_key(key)
        # Spool first so a failing chunk iterator never starts an upload; the spill
        # file is created already unlinked (tempfile.TemporaryFile on POSIX).
        with tempfile.SpooledTemporaryFile(max_size=self.SPOOL_MEMORY) as spool:
            written = 0
            try:
                for chunk in chunks:
                    written += spool.write(chunk)
            except OSError as e:  # the spill file is on this machine's disk
                if _is_full(e):
                    raise StorageFull(f"no room left to spool {key!r}: {e.strerror}") from e
                raise
            spool.seek(0)
            # upload_fileobj switches to multipart above 8 MiB and aborts the
            # multipart upload on failure, so no part is ever visible under the key.
            with _s3_errors(key):
                self._client.upload_fileobj(
                    spool,
                    self.bucket,
                    object_key,
                    ExtraArgs={"ContentType": "application/octet-stream"},
                )
        return written

    def size(self, key: str) -> int:
        """HeadObject and return ContentLength."""
        object_key = self._object_key(key)
        with _s3_errors(key):
            head = self._client.head_object(Bucket=self.bucket, Key=object_key)
        return int(head["ContentLength"])

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """GetObject with a Range header and stream the body."""
        _check_range(start, end)
        object_key = self._object_key(key)
        if start == end:
            self.size(key)  # still raise BlobNotFound for a missing blob
            return iter(())
        try:
            with _s3_errors(key):
                response = self._client.get_object(Bucket=self.bucket, Key=object_key, Range=f"bytes={start}-{end - 1}")
        except StorageError as e:
            # 416: start is at or past the end (always so for an empty blob).
            # Clamp to empty, as the local store does, once we know the blob exists.
            if _status(e.__cause__) == 416:
                self.size(key)
                return iter(())
            raise
        # A server may ignore Range and answer 200 with the whole object (RFC 9110
        # section 14.2); then skip to start ourselves rather than return wrong bytes.
        skip = 0 if "ContentRange" in response else start
        return _stream_body(response["Body"], skip, end - start, key)

    def read_all(self, key: str) -> bytes:
        """GetObject without a Range (an empty blob has no satisfiable range)."""
        object_key = self._object_key(key)
        with _s3_errors(key):
            response = self._client.get_object(Bucket=self.bucket, Key=object_key)
            with response["Body"] as body:
                return body.read()

    def delete(self, key: str) -> None:
        """DeleteObject, which S3 already treats as success for a missing key."""
        object_key = self._object_key(key)
        with _s3_errors(key):
            self._client.delete_object(Bucket=self.bucket, Key=object_key)

    def delete_prefix(self, prefix: str) -> int:
        """List then DeleteObjects in batches of 1000 (the API's limit)."""
        prefix = validate_prefix(prefix)
        keys = self.list_prefix(prefix)
        for i in range(0, len(keys), 1000):
            batch = [{"Key": self._object_key(k)} for k in keys[i : i + 1000]]
            with _s3_errors(prefix):
                response = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            # DeleteObjects answers 200 even when single keys fail; they are listed here.
            if response.get("Errors"):
                first = response["Errors"][0]
                raise StorageError(
                    f"could not delete {len(response['Errors'])} blobs under {prefix!r}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )
        return len(keys)

    def list_prefix(self, prefix: str) -> list[str]:
        """ListObjectsV2 under prefix/, keeping only keys that validate."""
        # The trailing "/" stops "album1" from also matching "album10/...".
        prefix = validate_prefix(prefix)
        object_prefix = self._object_key(prefix) + "/"
        return sorted(key for key, _mtime in self._list(object_prefix, prefix))

    def _list(self, object_prefix: str, what: str) -> Iterator[tuple[str, float]]:
        """Yield (key, LastModified) of our objects whose bucket key starts with object_prefix."""
        with _s3_errors(what):
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=object_prefix):
                for item in page.get("Contents", ()):
                    key = self._blob_key(item["Key"])
                    if key is not None:
                        yield key, item["LastModified"].timestamp()

    def scan(self) -> Iterator[tuple[str, float]]:
        """ListObjectsV2 over the whole prefix."""
        return self._list(self.prefix + "/" if self.prefix else "", "the bucket")

    def sweep_temp(self, older_than: float) -> int:
        """Abort multipart uploads started before older_than (a killed put leaves its parts billed forever)."""
        count = 0
        head = self.prefix + "/" if self.prefix else ""
        with _s3_errors("multipart uploads"):
            paginator = self._client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=head):
                for upload in page.get("Uploads", ()):
                    if upload["Initiated"].timestamp() < older_than and self._blob_key(upload["Key"]) is not None:
                        self._client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                        count += 1
        return count

    def presigned_get(self, key: str, expires: int = 300) -> str:
        """Return a time-limited GET URL for the blob, so bytes bypass the app server."""
        object_key = self._object_key(key)
        # SigV4 presigned URLs are valid for at most 7 days
        # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ShareObjectPreSignedURL.html).
        if not 1 <= expires <= 7 * 24 * 3600:
            raise ValueError(f"expires must be 1..604800 seconds, not {expires}")
        with _s3_errors(key):
            return self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": object_key},
                ExpiresIn=expires,
            )


def _status(error: BaseException | None) -> int | None:
    """Return the HTTP status of a botocore ClientError, if it is one."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


@contextlib.contextmanager
def _s3_errors(key: str) -> Iterator[None]:
    """Translate botocore errors into BlobNotFound / StorageError for one key."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, S3UploadFailedError) as e:
        # upload_fileobj wraps the ClientError in S3UploadFailedError, raised inside its handler.
        client_error = e if isinstance(e, ClientError) else e.__context__
        code = client_error.response.get("Error", {}).get("Code") if isinstance(client_error, ClientError) else None
        # HeadObject has no body, so a missing key shows up only as a bare 404.
        if code in ("NoSuchKey", "404", "NotFound"):
            raise BlobNotFound(key) from e
        if code in _FULL_S3_CODES or _status(client_error) == 507:
            raise StorageFull(f"the S3 store has no room left for {key!r}: {code}") from e
        raise StorageError(f"S3 error for {key!r}: {e}") from e
    except BotoCoreError as e:
        raise StorageError(f"S3 error for {key!r}: {e}") from e


def _stream_body(body: Any, skip: int, length: int, key: str) -> Iterator[bytes]:
    """Yield ``length`` bytes after skipping ``skip`` from a botocore body, then close it."""
    from botocore.exceptions import BotoCoreError

    try:
        with body:
            for piece in body.iter_chunks(READ_PIECE):
                if skip:
                    if len(piece) <= skip:
                        skip -= len(piece)
                        continue
                    piece, skip = piece[skip:], 0
                if len(piece) >= length:
                    yield piece[:length]
                    return
                length -= len(piece)
                yield piece
    except BotoCoreError as e:
        raise StorageError(f"S3 error while reading {key!r}: {e}") from e


def store_from_config(config: Mapping[str, Any]) -> BlobStore:
    """Build the blob store named by config["BLOB_STORE"] ("local" or "s3")."""
    kind = str(config.get("BLOB_STORE") or "local").strip().lower()
    if kind == "local":
        blob_dir = config.get("BLOB_DIR")
        if not blob_dir:
            raise ValueError("BLOB_STORE is 'local' but BLOB_DIR is not set")
        return LocalBlobStore(Path(blob_dir))
    if kind == "s3":
        bucket = config.get("S3_BUCKET")
        if not bucket:
            raise ValueError("BLOB_STORE is 's3' but S3_BUCKET is not set")
        return S3BlobStore(
            bucket,
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            region=config.get("S3_REGION") or None,
            access_key=config.get("S3_ACCESS_KEY_ID") or None,
            secret_key=config.get("S3_SECRET_ACCESS_KEY") or None,
            prefix=config.get("S3_PREFIX") or "",
        )
    raise ValueError(f"unknown BLOB_STORE {config.get('BLOB_STORE')!r}: expected 'local' or 's3'")
