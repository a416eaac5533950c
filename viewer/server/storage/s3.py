"""The S3 blob store (boto3, imported on first use), for SeaweedFS, MinIO, AWS and the like (see the package docstring)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

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

# S3-compatible stores that run out of room: MinIO answers 507 XMinioStorageFull (and
# XMinioAdminBucketQuotaExceeded for a bucket quota); 507 is "Insufficient Storage" (RFC 4918 section 11.5).
_FULL_S3_CODES = frozenset({"XMinioStorageFull", "XMinioAdminBucketQuotaExceeded", "StorageFull", "QuotaExceeded"})


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
        self._probe_obj: Any = None
        self._probe_pid: int | None = None

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
            self._client_obj = self._new_client()
            self._client_pid = os.getpid()
        return self._client_obj

    def _new_client(self, extra: Any = None) -> Any:
        """A boto3 S3 client of its own Session, with this store's settings (and `extra`, a botocore Config, on top)."""
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
        if extra is not None:
            config = config.merge(extra)
        return session.client("s3", endpoint_url=self._endpoint_url, config=config)

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
                if is_full(e):
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
        check_range(start, end)
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

    #: CopyObject takes objects up to 5 GB (S3 API reference, "CopyObject"); beyond, parts are copied.
    COPY_OBJECT_LIMIT = 5 * 1024**3

    def copy(self, source: str, destination: str) -> int:
        """Copy on the store's side: the bytes never come through this server, and the new object
        appears whole or not at all. A missing source is BlobNotFound, as for a read."""
        source_key, destination_key = self._object_key(source), self._object_key(destination)
        size = self.size(source)
        copy_source = {"Bucket": self.bucket, "Key": source_key}
        with _s3_errors(source):
            if size <= self.COPY_OBJECT_LIMIT:
                self._client.copy_object(Bucket=self.bucket, Key=destination_key, CopySource=copy_source)
            else:
                # boto3's managed copy: a multipart upload of UploadPartCopy parts, aborted on failure.
                self._client.copy(copy_source, self.bucket, destination_key)
        return size

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

    #: Seconds the readiness probe waits for the store: a load balancer asks often and must hear soon.
    READY_TIMEOUT = 3

    def ready(self) -> bool:
        """A listing of at most one key under the prefix: the bucket exists and these credentials may read it."""
        if self._probe_obj is None or self._probe_pid != os.getpid():
            from botocore.config import Config

            # Its own client: one try with short timeouts, where the blob client retries and waits a minute.
            fast = Config(connect_timeout=self.READY_TIMEOUT, read_timeout=self.READY_TIMEOUT, retries={"total_max_attempts": 1})
            self._probe_obj = self._new_client(fast)
            self._probe_pid = os.getpid()
        try:
            self._probe_obj.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix + "/" if self.prefix else "", MaxKeys=1)
        except Exception:  # any failure is "not ready"; what it was stays out of the answer
            return False
        return True

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
