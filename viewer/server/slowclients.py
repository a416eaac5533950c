"""A request body must keep arriving at a minimum pace, or it is cut off with 408.

gunicorn's threads read request bodies themselves, so 16 clients sending one byte a
second would hold every thread of a default deployment and stall the whole server
(the "slowloris" family; gunicorn docs, "Deploying Gunicorn": a buffering proxy such as
nginx belongs in front, as docs/design.md says). This is the server's own floor for when
nothing buffers in front: after BODY_GRACE_SECONDS a body must average BODY_MIN_RATE
bytes a second. It is nginx's client_body_timeout made an average, since a timeout per
read lets one byte a second through (nginx docs, "ngx_http_core_module").

A socket timeout cannot enforce an average: gunicorn's ``read(n)`` loops over many
``recv`` calls, each of which returns in time. So the body is read in pieces of one
second's worth at the floor rate, each piece has a deadline, and one watchdog thread per
worker process shuts the read side of a socket whose piece is late (``shutdown(SHUT_RD)``
wakes a blocked ``recv`` with end-of-file on Linux, socket(7)); the view then answers 408.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .errors import ApiError

WATCH_INTERVAL = 0.25  # seconds between the watchdog's looks


def too_slow() -> ApiError:
    """The answer to a body that stopped arriving."""
    return ApiError(408, "too_slow", "The upload arrived too slowly and was stopped. Check the connection and try again.")


class _Watchdog:
    """One thread per process that cuts off readers past their deadline."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.readers: set[PacedReader] = set()
        self.pid = -1

    def watch(self, reader: PacedReader) -> None:
        with self.lock:
            if self.pid != os.getpid():  # threads do not survive gunicorn's fork
                self.pid = os.getpid()
                self.readers = set()
                threading.Thread(target=self._run, name="fragment-body-pace", daemon=True).start()
            self.readers.add(reader)

    def forget(self, reader: PacedReader) -> None:
        with self.lock:
            self.readers.discard(reader)

    def _run(self) -> None:
        while True:
            time.sleep(WATCH_INTERVAL)
            now = time.monotonic()
            with self.lock:
                late = [r for r in self.readers if r.deadline is not None and now > r.deadline]
            for reader in late:
                reader.cut_off()


_watchdog = _Watchdog()


class PacedReader:
    """Wraps wsgi.input: reads in one-second pieces, each due by start + grace + bytes / rate."""

    def __init__(self, stream: Any, sock: socket.socket | None, grace: float, min_rate: int):
        self.stream, self.sock = stream, sock
        self.grace, self.min_rate = grace, min_rate
        self.piece = max(1024, min_rate)
        self.start = time.monotonic()
        self.received = 0
        self.deadline: float | None = None
        self.late = False

    def cut_off(self) -> None:
        """Called by the watchdog: end the read that is late."""
        self.late = True
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RD)

    def _piece(self, size: int) -> bytes:
        self.deadline = self.start + self.grace + (self.received + size) / self.min_rate
        if self.sock is not None:
            _watchdog.watch(self)
        try:
            data = self.stream.read(size)
        except Exception:
            if self.late:
                raise too_slow() from None
            raise
        finally:
            self.deadline = None
            if self.sock is not None:
                _watchdog.forget(self)
        if self.late or time.monotonic() > self.start + self.grace + (self.received + len(data)) / self.min_rate:
            raise too_slow()
        self.received += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Read like the wrapped stream, a piece at a time, within the pace."""
        if self.late:
            raise too_slow()
        pieces = []
        left = -1 if size is None or size < 0 else size
        while left != 0:
            want = self.piece if left < 0 else min(self.piece, left)
            data = self._piece(want)
            if not data:
                break
            pieces.append(data)
            if left > 0:
                left -= len(data)
            if len(data) < want:
                break  # end of the body
        return b"".join(pieces)

    def readline(self, size: int | None = -1) -> bytes:
        """Read a line (only multipart parsers ask; Fragment's API never does)."""
        line = bytearray()
        while size is None or size < 0 or len(line) < size:
            byte = self.read(1)
            if not byte:
                break
            line += byte
            if byte == b"\n":
                break
        return bytes(line)

    def __iter__(self) -> Iterable[bytes]:
        while line := self.readline():
            yield line


DRAIN_PIECE = 64 * 1024


def drain(stream: Any, limit: int) -> None:
    """Read and drop what is left of a body, at most `limit` bytes; stop quietly on any error.

    A view that refuses a request early (401, 404, 409) does not read its body. gunicorn
    then closes the connection with the body still arriving, the kernel answers the rest
    with a reset, and a proxy in front that was still sending it reports 502 instead of the
    app's answer, and counts a failure of that server (nginx docs, "ngx_http_upstream_module",
    max_fails; its error log says "writev() failed (32: Broken pipe) while sending request to
    upstream"). Reading the rest first lets the answer through, as Werkzeug's own development
    server does. A body larger than the app accepts is not read: that connection may close.
    """
    left = limit
    try:
        while left > 0 and (data := stream.read(min(DRAIN_PIECE, left))):
            left -= len(data)
    except Exception:  # a client gone or too slow: the connection closes, as it would have
        return


class BodyPace:
    """WSGI middleware that paces the body of every request that has one, and reads what a view left unread."""

    def __init__(self, app: Callable, grace: float, min_rate: int, drain_limit: int = 0):
        self.app, self.grace, self.min_rate, self.drain_limit = app, grace, min_rate, drain_limit

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length = environ.get("CONTENT_LENGTH", "")
        if not chunked and length in ("", "0"):
            return self.app(environ, start_response)
        if self.min_rate > 0:
            environ["wsgi.input"] = PacedReader(environ["wsgi.input"], environ.get("gunicorn.socket"), self.grace, self.min_rate)
        result = self.app(environ, start_response)
        if chunked or (length.isdigit() and int(length) <= self.drain_limit):
            drain(environ["wsgi.input"], self.drain_limit)
        return result
