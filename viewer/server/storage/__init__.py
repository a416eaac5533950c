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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import READ_PIECE, BlobNotFound, BlobStore, InvalidKey, StorageError, StorageFull, validate_key, validate_prefix
from .local import LocalBlobStore
from .s3 import S3BlobStore

__all__ = [
    "READ_PIECE",
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
