"""Run moto's standalone S3 server as a real subprocess for tests.

Like datasette's browser tests, this starts a real server on a free port and talks
to it over HTTP, so the S3 backend is tested through botocore's actual wire
protocol (signing, Range headers, multipart uploads) rather than an in-process mock.

    with start_moto_server() as endpoint:
        client = s3_client(endpoint)

or, as a pytest fixture: ``s3_endpoint = pytest.fixture(scope="session")(moto_endpoint)``.
"""

from __future__ import annotations

import contextlib
import os
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


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server process, killing it if it does not exit promptly."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
