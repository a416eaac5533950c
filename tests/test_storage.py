"""Behaviour tests for the blob store, run against both backends.

The same tests run on LocalBlobStore (a tmp_path) and S3BlobStore (a real SeaweedFS
server process, tests/support/s3server.py), so the two implementations cannot drift apart.
"""

from __future__ import annotations

import os
import stat
import threading
import urllib.request
import uuid

import pytest

from tests.support.s3server import ACCESS_KEY, REGION, SECRET_KEY, make_bucket, s3_client, seaweedfs_endpoint
from viewer.server.storage import (
    READ_PIECE,
    BlobNotFound,
    BlobStore,
    InvalidKey,
    LocalBlobStore,
    S3BlobStore,
    StorageError,
    StorageFull,
    store_from_config,
    validate_key,
    validate_prefix,
)

MiB = 1024 * 1024

# SeaweedFS: a real S3 server, so the store's contract is checked against real multipart,
# Range and CopyObject code rather than moto's model of AWS.
s3_endpoint = pytest.fixture(scope="session")(seaweedfs_endpoint)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.slow)])
def store(request, tmp_path) -> BlobStore:
    """A fresh, empty store of each kind: a temp folder, or a new bucket on SeaweedFS."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"test-{uuid.uuid4().hex}"
    make_bucket(endpoint, bucket)
    return S3BlobStore(
        bucket,
        endpoint_url=endpoint,
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )


def everything(store: BlobStore) -> list[str]:
    """Everything the backend holds, below the interface: files and folders, or objects and uploads."""
    if isinstance(store, LocalBlobStore):
        return sorted(p.relative_to(store.root).as_posix() for p in store.root.rglob("*"))
    assert isinstance(store, S3BlobStore) and store._endpoint_url  # the tests' S3 is SeaweedFS, at a URL
    client = s3_client(store._endpoint_url)
    objects = client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return sorted([o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads])


def pattern(n: int) -> bytes:
    """n bytes in which every offset is distinguishable, so a wrong range shows."""
    return os.urandom(n)


def chunked(data: bytes, size: int):
    """Yield data in pieces of the given size (odd sizes exercise boundaries)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


class Boom(Exception):
    """Raised by a chunk iterator to simulate an upload that dies midway."""


def failing_chunks(good: int):
    """Yield `good` bytes, then raise Boom."""
    yield from chunked(b"x" * good, 64 * 1024)
    raise Boom("client went away")


# --- validate_key -------------------------------------------------------------

GOOD_KEYS = [
    "a",
    "album_1/file-2/thumb",
    "staging/abc/def/0",
    "/".join(["s"] * 6),
    "x" * 64,
    "A-Z_a-z_0-9",
]

BAD_KEYS = [
    "../x",
    "/etc/passwd",
    "a/../b",
    "a//b",
    "a\\b",
    "é",
    "a\x00b",
    "",
    "/".join(["s"] * 7),
    "x" * 65,
    ".",
    "..",
    "a/",
    "/",
    "a/b/",
    "abc\n",  # "$" in a regex would accept this
    "a b",
    "a.b",
    "a%2Fb",
    "~",
    "ａ",  # fullwidth letter: \w would accept it
    "٣",  # Arabic-Indic digit: \d would accept it
    None,
    b"abc",
]


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_validate_key_accepts_safe_keys(key):
    assert validate_key(key) == key


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_validate_key_rejects(key):
    with pytest.raises(InvalidKey):
        validate_key(key)


def test_error_hierarchy():
    assert issubclass(BlobNotFound, StorageError)
    assert issubclass(InvalidKey, StorageError)


# --- behaviour shared by both backends ----------------------------------------


@pytest.mark.parametrize(
    "data, piece",
    [
        (b"", 1),
        (b"hello", 2),
        (pattern(3 * MiB + 17), 1000 * 1000 + 7),
        # Over upload_fileobj's 8 MiB multipart threshold and the 8 MiB spool.
        (pattern(9 * MiB + 3), 3 * MiB),
    ],
    ids=["empty", "small", "3MiB", "9MiB-multipart"],
)
def test_round_trip(store, data, piece):
    key = "album/file/original"
    assert store.put(key, chunked(data, piece)) == len(data)
    assert store.exists(key)
    assert store.size(key) == len(data)
    assert store.read_all(key) == data
    assert b"".join(store.read_range(key, 0, len(data))) == data


def test_put_accepts_any_bytes_like_iterable(store):
    assert store.put("k/1", [b"ab", bytearray(b"cd"), memoryview(b"ef"), b""]) == 6
    assert store.read_all("k/1") == b"abcdef"
    assert store.put("k/2", iter([])) == 0
    assert store.read_all("k/2") == b""


def test_copy_makes_a_second_blob_that_outlives_the_first(store):
    """A copied photo (issue 13, "Add to album" as a copy) keeps its bytes when the original goes."""
    data = pattern(9 * MiB + 3)
    store.put("a1/f1/original", chunked(data, 3 * MiB))
    assert store.copy("a1/f1/original", "a2/f1/original") == len(data)
    store.delete_prefix("a1")
    assert not store.exists("a1/f1/original")
    assert store.read_all("a2/f1/original") == data
    with pytest.raises(BlobNotFound):
        store.copy("a1/f1/original", "a3/f1/original")
    assert not store.exists("a3/f1/original")


N = 1 * MiB + 333
RANGES = {
    "start": (0, 10),
    "middle": (100_000, 700_001),
    "end": (N - 10, N),
    "past-end-clamps": (N - 10, N + 1000),
    "start-at-end": (N, N + 5),
    "start-past-end": (N + 100, N + 200),
    "empty-range": (5, 5),
    "whole": (0, N),
    "huge-end": (1, 2**62),
}


@pytest.mark.parametrize("start, end", RANGES.values(), ids=RANGES.keys())
def test_read_range(store, start, end):
    data = pattern(N)
    store.put("a/f/preview", [data])
    assert b"".join(store.read_range("a/f/preview", start, end)) == data[start:end]


def test_read_range_streams_pieces_of_at_most_256_kib(store):
    data = pattern(3 * MiB + 5)
    store.put("a/f/original", [data])
    pieces = list(store.read_range("a/f/original", 7, len(data)))
    assert READ_PIECE == 256 * 1024
    assert len(pieces) > 1
    assert max(len(p) for p in pieces) <= READ_PIECE
    assert all(pieces)  # no empty pieces
    assert b"".join(pieces) == data[7:]


def test_read_range_of_empty_blob(store):
    store.put("a/f/thumb", [])
    assert list(store.read_range("a/f/thumb", 0, 100)) == []
    assert list(store.read_range("a/f/thumb", 0, 0)) == []


@pytest.mark.parametrize("start, end", [(-1, 5), (10, 5)])
def test_read_range_rejects_nonsense_ranges(store, start, end):
    store.put("a/f/thumb", [b"0123456789abcdef"])
    with pytest.raises(ValueError):
        list(store.read_range("a/f/thumb", start, end))


def test_missing_key(store):
    key = "album/file/thumb"
    assert not store.exists(key)
    with pytest.raises(BlobNotFound):
        store.size(key)
    with pytest.raises(BlobNotFound):
        store.read_all(key)
    # Raised by the call itself, before iteration, so a view can 404 before streaming.
    with pytest.raises(BlobNotFound):
        store.read_range(key, 0, 10)
    with pytest.raises(BlobNotFound):
        store.read_range(key, 0, 0)
    store.delete(key)  # no error
    assert store.list_prefix("album") == []
    assert store.delete_prefix("album") == 0


def test_delete(store):
    store.put("a/f/thumb", [b"t"])
    store.put("a/f/preview", [b"p"])
    store.delete("a/f/thumb")
    assert not store.exists("a/f/thumb")
    assert store.read_all("a/f/preview") == b"p"
    store.delete("a/f/thumb")  # twice is fine
    store.delete("a/f/preview")
    assert store.list_prefix("a") == []


def test_list_prefix_and_delete_prefix(store):
    keys = [
        "a1/f1/thumb",
        "a1/f1/original",
        "a1/f2/thumb",
        "a10/f1/thumb",  # shares the string prefix "a1" but not the folder
        "staging/u1/f1/0",
        "staging/u1/f1/1",
    ]
    for key in keys:
        store.put(key, [key.encode()])
    assert store.list_prefix("a1") == ["a1/f1/original", "a1/f1/thumb", "a1/f2/thumb"]
    assert store.list_prefix("a1/f1") == ["a1/f1/original", "a1/f1/thumb"]
    assert store.list_prefix("staging/u1") == ["staging/u1/f1/0", "staging/u1/f1/1"]
    assert store.list_prefix("a1/f1/thumb") == []  # a blob is not a folder
    assert store.list_prefix("nope") == []

    assert store.delete_prefix("a1") == 3
    assert store.list_prefix("a1") == []
    assert not store.exists("a1/f1/thumb")
    assert store.read_all("a10/f1/thumb") == b"a10/f1/thumb"
    assert store.delete_prefix("staging/u1/f1") == 2
    assert store.delete_prefix("a1") == 0
    assert store.list_prefix("a10") == ["a10/f1/thumb"]


def test_overwrite_replaces_whole_blob(store):
    store.put("a/f/original", [pattern(2 * MiB)])
    store.put("a/f/original", [b"short"])
    assert store.size("a/f/original") == 5
    assert store.read_all("a/f/original") == b"short"


def test_failed_overwrite_keeps_old_blob(store):
    old = pattern(MiB)
    store.put("a/f/original", [old])
    before = everything(store)
    with pytest.raises(Boom):
        store.put("a/f/original", failing_chunks(2 * MiB))
    assert store.read_all("a/f/original") == old
    assert everything(store) == before


def test_open_reader_is_not_torn_by_overwrite(store):
    old, new = b"o" * (2 * MiB), b"n" * (2 * MiB)
    store.put("a/f/original", [old])
    reader = store.read_range("a/f/original", 0, len(old))
    first = next(reader)
    store.put("a/f/original", [new])
    seen = first + b"".join(reader)
    assert seen in (old, new)
    assert store.read_all("a/f/original") == new


def test_concurrent_readers_see_whole_blobs(store):
    versions = [bytes([c]) * (300 * 1024) for c in b"ABCD"]
    store.put("a/f/preview", [versions[0]])
    stop = threading.Event()
    errors = []

    def write():
        i = 0
        while not stop.is_set():
            i += 1
            store.put("a/f/preview", chunked(versions[i % 4], 10_000))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(40):
            seen = b"".join(store.read_range("a/f/preview", 0, 10 * MiB))
            if seen not in versions:
                errors.append((len(seen), seen[:1], seen[-1:]))
    finally:
        stop.set()
        writer.join()
    assert errors == []


def _is_folder(key) -> bool:
    try:
        validate_prefix(key)
    except InvalidKey:
        return False
    return True


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_invalid_keys_rejected_by_every_method(store, key):
    store.put("ok/file/thumb", [b"existing"])
    before = everything(store)
    consumed = []

    def chunks():
        consumed.append(True)
        yield b"data"

    calls = {
        "put": lambda: store.put(key, chunks()),
        "size": lambda: store.size(key),
        "exists": lambda: store.exists(key),
        "read_range": lambda: list(store.read_range(key, 0, 10)),
        "read_all": lambda: store.read_all(key),
        "delete": lambda: store.delete(key),
        "delete_prefix": lambda: store.delete_prefix(key),
        "list_prefix": lambda: store.list_prefix(key),
    }
    if isinstance(store, S3BlobStore):
        calls["presigned_get"] = lambda: store.presigned_get(key)
    if _is_folder(key):  # "a/" names the folder "a" for the prefix methods (test_a_prefix_may_end_with_a_slash)
        del calls["delete_prefix"], calls["list_prefix"]
    for name, call in calls.items():
        with pytest.raises(InvalidKey):
            call()
            pytest.fail(f"{name} accepted {key!r}")
    assert consumed == []  # rejected before reading any upload data
    assert everything(store) == before
    assert store.read_all("ok/file/thumb") == b"existing"


@pytest.mark.parametrize("good", [0, 100_000, 9 * MiB], ids=["at-once", "100kB", "9MiB"])
def test_put_that_fails_midway_leaves_nothing(store, good):
    before = everything(store)
    with pytest.raises(Boom):
        store.put("a/f/original", failing_chunks(good))
    assert not store.exists("a/f/original")
    assert store.list_prefix("a") == []
    # Local: no temp file left in root/.tmp and no half-made folders;
    # S3: no object and no dangling multipart upload.
    assert everything(store) == before


# --- local backend only -------------------------------------------------------


def test_local_root_created_owner_only(tmp_path):
    store = LocalBlobStore(tmp_path / "new" / "blobs")
    assert store.root.is_dir()
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700


def test_local_files_not_world_readable(tmp_path):
    old_umask = os.umask(0o022)  # the common default, which would allow 0644/0755
    try:
        store = LocalBlobStore(tmp_path / "blobs")
        store.put("a/f/original", [b"ciphertext"])
        store.put("staging/u/f/0", [b"part"])
    finally:
        os.umask(old_umask)
    paths = [store.root, *store.root.rglob("*")]
    assert len(paths) > 6
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} has mode {oct(mode)}"


def test_local_put_leaves_no_temp_file(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    store.put("a/f/original", chunked(pattern(MiB), 4096))
    store.put("a/f/original", [b"again"])
    assert list((store.root / ".tmp").iterdir()) == []
    assert sorted(p.name for p in store.root.iterdir()) == [".tmp", "a"]


def test_local_put_fsyncs_file_and_folder(tmp_path, monkeypatch):
    store = LocalBlobStore(tmp_path / "blobs")
    synced = []
    real_fsync = os.fsync

    def spy(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    store.put("a/f/original", [b"x"])
    assert synced[0] is False  # the file's data first, before the rename
    assert synced[-1] is True  # then the folder holding the new name


def test_local_symlink_out_of_root_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"not yours")
    store = LocalBlobStore(tmp_path / "blobs")
    (store.root / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidKey):
        store.read_all("evil/secret")
    with pytest.raises(InvalidKey):
        store.put("evil/planted", [b"x"])
    with pytest.raises(InvalidKey):
        store.delete("evil/secret")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert list((store.root / ".tmp").iterdir()) == []


def test_local_ignores_foreign_files_and_folders(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    store.put("a/f/thumb", [b"t"])
    (store.root / "a" / "f" / "notes.txt").write_bytes(b"editor junk")
    (store.root / "a" / "f" / "link").symlink_to(store.root / "a" / "f" / "thumb")
    assert store.list_prefix("a") == ["a/f/thumb"]
    # A folder is not a blob.
    assert not store.exists("a/f")
    with pytest.raises(BlobNotFound):
        store.size("a/f")
    with pytest.raises(BlobNotFound):
        store.read_range("a/f", 0, 1)
    store.delete("a/f")  # no-op, does not remove the folder
    assert store.exists("a/f/thumb")


def test_local_blob_and_folder_conflict(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    store.put("a/b", [b"blob"])
    with pytest.raises(StorageError):
        store.put("a/b/c", [b"x"])
    assert store.read_all("a/b") == b"blob"
    assert list((store.root / ".tmp").iterdir()) == []
    # And the other way round: a key whose path is a folder of blobs.
    store.put("x/y/z", [b"z"])
    with pytest.raises(StorageError) as info:
        store.put("x/y", [b"y"])
    assert not isinstance(info.value, (BlobNotFound, InvalidKey))
    assert store.read_all("x/y/z") == b"z"
    assert list((store.root / ".tmp").iterdir()) == []


def test_local_delete_prunes_empty_folders(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    store.put("a/f/thumb", [b"t"])
    store.put("b/f/thumb", [b"t"])
    store.delete("a/f/thumb")
    store.delete_prefix("b")
    assert sorted(p.name for p in store.root.iterdir()) == [".tmp"]


# --- S3 backend only ----------------------------------------------------------


@pytest.fixture
def s3_store(s3_endpoint) -> S3BlobStore:
    """An S3 store on a fresh bucket."""
    bucket = f"test-{uuid.uuid4().hex}"
    make_bucket(s3_endpoint, bucket)
    return S3BlobStore(
        bucket,
        endpoint_url=s3_endpoint,
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )


def _fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET a URL without any proxy from the environment."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
        return r.status, r.read()


@pytest.mark.slow
def test_s3_presigned_get(s3_store):
    data = pattern(100_000)
    s3_store.put("a/f/original", [data])
    url = s3_store.presigned_get("a/f/original", expires=60)
    assert "X-Amz-Signature=" in url
    assert "X-Amz-Expires=60" in url
    assert _fetch(url) == (200, data)
    # Range works on the presigned URL, so a browser can seek without the app.
    assert _fetch(url, {"Range": "bytes=10-19"}) == (206, data[10:20])


@pytest.mark.slow
@pytest.mark.parametrize("expires", [0, -1, 7 * 24 * 3600 + 1])
def test_s3_presigned_get_rejects_bad_lifetimes(s3_store, expires):
    with pytest.raises(ValueError):
        s3_store.presigned_get("a/f/original", expires=expires)


@pytest.mark.slow
def test_s3_prefix_namespaces_keys(s3_store, s3_endpoint):
    prefixed = S3BlobStore(
        s3_store.bucket,
        endpoint_url=s3_endpoint,
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        prefix="/fragment/prod/",
    )
    prefixed.put("a/f/thumb", [b"t"])
    s3_store.put("a/f/thumb", [b"other"])
    assert everything(s3_store) == ["a/f/thumb", "fragment/prod/a/f/thumb"]
    assert prefixed.read_all("a/f/thumb") == b"t"
    assert prefixed.list_prefix("a") == ["a/f/thumb"]
    assert prefixed.delete_prefix("a") == 1
    assert s3_store.read_all("a/f/thumb") == b"other"


@pytest.mark.slow
def test_s3_list_prefix_skips_foreign_objects(s3_store, s3_endpoint):
    s3_store.put("a/f/thumb", [b"t"])
    s3_client(s3_endpoint).put_object(Bucket=s3_store.bucket, Key="a/f/not.ours", Body=b"x")
    assert s3_store.list_prefix("a") == ["a/f/thumb"]


@pytest.mark.slow
def test_s3_delete_prefix_batches_over_1000(s3_store, s3_endpoint):
    client = s3_client(s3_endpoint)
    for i in range(1003):
        client.put_object(Bucket=s3_store.bucket, Key=f"big/{i}", Body=b"")
    assert s3_store.delete_prefix("big") == 1003
    assert everything(s3_store) == []


@pytest.mark.slow
def test_s3_missing_bucket_is_a_storage_error(s3_endpoint):
    store = S3BlobStore(
        f"missing-{uuid.uuid4().hex}",
        endpoint_url=s3_endpoint,
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )
    with pytest.raises(StorageError) as info:
        store.put("a/f/thumb", [b"t"])
    assert not isinstance(info.value, BlobNotFound)


@pytest.mark.parametrize("prefix", ["../x", "a b", "a//b"])
def test_s3_rejects_bad_prefix(prefix):
    with pytest.raises(ValueError, match="prefix"):
        S3BlobStore("bucket", prefix=prefix)


# --- store_from_config --------------------------------------------------------


def test_store_from_config_local(tmp_path):
    store = store_from_config({"BLOB_STORE": "local", "BLOB_DIR": str(tmp_path / "b")})
    assert isinstance(store, LocalBlobStore)
    assert store.root == (tmp_path / "b").resolve()


def test_store_from_config_s3():
    store = store_from_config(
        {
            "BLOB_STORE": "s3",
            "S3_BUCKET": "photos",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "S3_REGION": "eu-west-1",
            "S3_ACCESS_KEY_ID": "id",
            "S3_SECRET_ACCESS_KEY": "secret",
            "S3_PREFIX": "fragment",
        }
    )
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("photos", "fragment")
    url = store.presigned_get("a/f/thumb")
    assert url.startswith("http://127.0.0.1:9000/photos/fragment/a/f/thumb?")
    assert "eu-west-1" in url


def test_store_from_config_s3_treats_empty_settings_as_unset():
    store = store_from_config({"BLOB_STORE": "s3", "S3_BUCKET": "photos", "S3_ENDPOINT_URL": "", "S3_PREFIX": ""})
    assert isinstance(store, S3BlobStore)
    assert store.prefix == ""
    assert store._endpoint_url is None


@pytest.mark.parametrize(
    "config, message",
    [
        ({"BLOB_STORE": "ftp", "BLOB_DIR": "/x"}, "unknown BLOB_STORE 'ftp'"),
        ({"BLOB_STORE": "local"}, "BLOB_DIR"),
        ({"BLOB_STORE": "s3"}, "S3_BUCKET"),
    ],
)
def test_store_from_config_errors(config, message):
    with pytest.raises(ValueError, match=message):
        store_from_config(config)


# --- folders, races, full disks, cleanup (issue 8) ----------------------------


def test_a_prefix_may_end_with_a_slash(store):
    store.put("album1/f/thumb", [b"t"])
    store.put("album10/f/thumb", [b"u"])
    assert store.list_prefix("album1/") == store.list_prefix("album1") == ["album1/f/thumb"]
    assert store.delete_prefix("album1/") == 1
    assert [k for k, _ in store.scan()] == ["album10/f/thumb"]
    for bad in ("album1//", "/", "../"):
        with pytest.raises(InvalidKey):
            store.list_prefix(bad)


def test_puts_never_fail_while_other_requests_prune_the_same_folders(tmp_path):
    """One upload's cleanup prunes the empty staging/ folder while another creates staging/<id>."""
    store = LocalBlobStore(tmp_path / "blobs")
    errors: list[BaseException] = []

    def churn(worker: int) -> None:
        try:
            for i in range(400):
                key = f"staging/w{worker}i{i}/thumb/0/tok"
                store.put(key, [b"part"])
                assert store.read_all(key) == b"part"
                store.delete_prefix(f"staging/w{worker}i{i}")
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert list(store.scan()) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB filesystem for the blob folder (a tmpfs, mounted as root)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    done = os.system(f"mount -t tmpfs -o size=2m tmpfs {mount_point} 2>/dev/null")
    if done != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount_point
    os.system(f"umount {mount_point}")


def test_a_full_disk_raises_storage_full_and_leaves_no_temp_file(small_disk):
    store = LocalBlobStore(small_disk / "blobs")
    store.put("a/f/thumb", [b"small"])
    with pytest.raises(StorageFull, match="no room left"):
        store.put("a/f/original", chunked(b"x" * (3 * MiB), 64 * 1024))
    assert not store.exists("a/f/original")
    assert list((store.root / ".tmp").iterdir()) == []
    assert store.read_all("a/f/thumb") == b"small"
    store.put("a/f/preview", [b"fits again"])  # nothing was left holding the space


def test_s3_storage_full_answers_are_storage_full(tmp_path):
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError

    class FullBucket:
        def upload_fileobj(self, *args, **kwargs):
            error = ClientError(
                {
                    "Error": {
                        "Code": "XMinioStorageFull",
                        "Message": "Storage backend has reached its minimum free drive threshold.",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 507},  # type: ignore[typeddict-item]  # only what MinIO sends
                },
                "PutObject",
            )
            try:
                raise error
            except ClientError:
                raise S3UploadFailedError("Failed to upload") from None

    store = S3BlobStore("photos")
    store._client_obj, store._client_pid = FullBucket(), os.getpid()
    with pytest.raises(StorageFull):
        store.put("a/f/thumb", [b"x"])


def test_sweep_temp_removes_only_old_temp_files(store):
    import time

    if isinstance(store, LocalBlobStore):
        old = store.root / ".tmp" / "put-killed"
        old.write_bytes(b"left by kill -9")
        os.utime(old, (time.time() - 7200, time.time() - 7200))
        fresh = store.root / ".tmp" / "put-running"
        fresh.write_bytes(b"a put under way")
        assert store.sweep_temp(time.time() - 3600) == 1
        assert sorted(p.name for p in (store.root / ".tmp").iterdir()) == ["put-running"]
    else:
        client = s3_client(store._endpoint_url)
        client.create_multipart_upload(Bucket=store.bucket, Key="a/f/original")
        # An upload begun just now is under way: left alone until it is older than the cutoff.
        assert store.sweep_temp(time.time() - 3600) == 0
        assert store.sweep_temp(time.time() + 60) == 1
        assert client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    assert list(store.scan()) == []
