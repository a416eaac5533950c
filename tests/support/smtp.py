"""A real SMTP server process for the tests: aiosmtpd, storing what it receives in a Maildir.

Like tests/support/s3server.py for S3, the app talks to a separate server over the network,
so the mail goes through smtplib's real SMTP dialogue rather than a mock:

    python -m aiosmtpd -n -l 127.0.0.1:<port> -c aiosmtpd.handlers.Mailbox <dir>

(-n: no setuid to nobody; aiosmtpd's Mailbox handler takes the Maildir folder as its one
argument and adds each message to it, with X-MailFrom and X-RcptTo headers naming the envelope.)
It offers neither STARTTLS nor AUTH, so the app reaches it with SMTP_TLS=none; with
``start_smtp_server(base, starttls=True)`` it offers, and requires, STARTTLS with a self-signed
certificate for 127.0.0.1 made by openssl(1) (``server.cert``: the CA a client must trust).

    smtp_server = smtp.smtp_server  # from tests.support import smtp; bound by assignment, so that
                                    # ruff sees no import "redefined" by each test's argument (F811)

    def test_x(smtp_server):
        app = create_app({..., **smtp_settings(smtp_server)})
        ...
        [mail] = smtp_server.wait_for(1)

or, for a module or session: ``with start_smtp_server(tmp) as server: ...``.
"""

from __future__ import annotations

import contextlib
import email.policy
import mailbox
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import _die_with_parent, free_port

# aiosmtpd's greeting ("220 <host> Python SMTP 1.4.6"): it tells our server from another
# program that took the free port first.
_BANNER = b"Python SMTP"


@dataclass
class SMTPServer:
    """A running aiosmtpd: where it listens and what it has received."""

    host: str
    port: int
    maildir: Path
    cert: Path | None = None

    def messages(self) -> list[EmailMessage]:
        """Every message received so far, oldest first, parsed with the modern email policy."""
        box = mailbox.Maildir(self.maildir, create=False)
        # Maildir keys are "<seconds>.M<microseconds>P<pid>Q<counter>.<host>": one process
        # adds them all, so its counter gives the order of arrival.
        keys = sorted(box.keys(), key=lambda key: int(m.group(1)) if (m := re.search(r"Q(\d+)", key)) else 0)
        parser = BytesParser(policy=email.policy.default)
        return [parser.parsebytes(box.get_bytes(key)) for key in keys]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """The messages once there are `count` of them (fail if not within `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages()
            if len(found) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(found) >= count, f"the SMTP server received {len(found)} message(s), not {count}"
        return found

    def clear(self) -> None:
        """Forget the messages received so far (for a server shared by several tests)."""
        mailbox.Maildir(self.maildir, create=False).clear()


def smtp_settings(server: SMTPServer) -> dict[str, Any]:
    """Settings overrides (create_app's dict) that send the app's mail to `server`."""
    return {"SMTP_HOST": server.host, "SMTP_PORT": server.port, "SMTP_TLS": "none"}


def smtp_env(server: SMTPServer) -> dict[str, str]:
    """The same as environment variables, for the app under gunicorn."""
    return {f"FRAGMENT_{name}": str(value) for name, value in smtp_settings(server).items()}


def _greets(host: str, port: int) -> bool:
    """Whether aiosmtpd answers at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            return _BANNER in sock.recv(512)
    except OSError:
        return False


@contextlib.contextmanager
def start_smtp_server(
    base: Path, host: str = "127.0.0.1", timeout: float = 20.0, *, starttls: bool = False, max_bytes: int | None = None
) -> Iterator[SMTPServer]:
    """Start aiosmtpd on a free port with its Maildir under `base`, yield it, stop it on exit.

    max_bytes: the largest message it accepts (its SIZE extension; aiosmtpd's default is 32 MiB).
    """
    maildir = base / "maildir"
    # Created here so that messages() works before the first mail arrives.
    mailbox.Maildir(maildir, create=True)
    options: list[str] = []
    cert = None
    if starttls:
        cert, key = base / "cert.pem", base / "key.pem"
        _self_signed(cert, key, host)
        options = ["--tlscert", str(cert), "--tlskey", str(key)]
    if max_bytes is not None:
        options += ["--size", str(max_bytes)]
    # A file rather than a pipe: it can never fill and block the server, and it is shown on failure.
    with tempfile.TemporaryFile() as log:
        for _attempt in range(3):  # a free port can be taken by someone else first
            port = free_port()
            command = [sys.executable, "-m", "aiosmtpd", "--nosetuid", "--listen", f"{host}:{port}", *options]
            proc = subprocess.Popen(
                [*command, "--class", "aiosmtpd.handlers.Mailbox", str(maildir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # a killed test run leaves no server behind
            )
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline and not _greets(host, port):
                time.sleep(0.05)
            if proc.poll() is None and _greets(host, port):
                break
            _stop(proc)
        else:
            log.seek(0)
            raise RuntimeError(f"aiosmtpd did not start:\n{log.read().decode(errors='replace')[-4000:]}")
        try:
            yield SMTPServer(host, port, maildir, cert)
        finally:
            _stop(proc)


def _self_signed(cert: Path, key: Path, host: str) -> None:
    """A certificate for `host` (an IP address), valid for a day, that is its own CA."""
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Fragment test SMTP"]
    subprocess.run(
        [*request, "-addext", f"subjectAltName=IP:{host}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server, killing it if it does not exit promptly."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SMTPServer]:
    """A fresh aiosmtpd for one test."""
    with start_smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server
