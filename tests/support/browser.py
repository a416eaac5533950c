"""Driving Debian's Chromium with Playwright for Python, for the browser tests.

Playwright cannot download its own browser build here, so it drives the system
Chromium (``executable_path``); ``make test`` installs it (scripts/system-deps.sh).
One browser serves the whole session; each test gets a fresh context (its own
cache, storage and service workers) and page. The fixtures are in conftest.py:

* ``browser``: the session's Chromium.
* ``console``: a ``ConsoleLog`` of the test's page; any console error or uncaught
  exception fails the test at teardown, unless it was announced with ``console.expect``.
* ``page``: a fresh page whose console is watched as above.
* ``network``: a ``RequestLog`` of every request the page's context makes (URL,
  method, headers, body), for proving what never leaves the browser.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")

# Without the background-networking flags Chromium phones home (component updates,
# sync, variations), and this closed network refuses those connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright) -> Any:
    """Launch the system Chromium for tests."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


@dataclass
class ConsoleLog:
    """Console errors and uncaught exceptions of a page, and the ones a test expects."""

    errors: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    expected: list[re.Pattern] = field(default_factory=list)

    def attach(self, page) -> None:
        """Record everything the page logs; errors are kept apart."""

        def on_console(message) -> None:
            text = f"{message.type}: {message.text}"
            self.messages.append(text)
            if message.type == "error":
                location = message.location or {}
                self.errors.append(f"console error: {message.text} ({location.get('url', '')}:{location.get('lineNumber', '')})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught exception: {error}"))

    def expect(self, pattern: str) -> None:
        """Allow console errors matching the regular expression (a test that provokes them)."""
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        """Errors no expectation covers."""
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]


@dataclass
class RecordedRequest:
    """One request as the browser sent it."""

    url: str
    method: str
    headers: dict[str, str]
    body: bytes
    resource_type: str

    def text(self) -> str:
        """Everything that left the browser, as one string to search."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.url}\n{head}\n\n{self.body.decode('latin-1')}"


class RequestLog:
    """Every request made in a browser context: pages, workers and service workers alike."""

    def __init__(self) -> None:
        self._requests: list[Any] = []

    def attach(self, context) -> None:
        """Record the requests of a context (attach before the first navigation)."""
        context.on("request", lambda request: self._requests.append(request))

    @property
    def requests(self) -> list[RecordedRequest]:
        """What was sent so far; call while the page is still open (headers are fetched lazily)."""
        from playwright.sync_api import Error as PlaywrightError

        out = []
        for request in self._requests:
            try:
                # all_headers() includes those Chromium adds late (Cookie, Referer...).
                headers = request.all_headers()
            except PlaywrightError:  # the request's page has gone: fall back to the early view
                headers = request.headers
            body = request.post_data_buffer or b""
            out.append(RecordedRequest(request.url, request.method, headers, body, request.resource_type))
        return out

    def urls(self) -> list[str]:
        """The URLs requested, in order."""
        return [r.url for r in self._requests]

    def containing(self, secret: str | bytes) -> list[RecordedRequest]:
        """The requests whose URL, headers or body contain secret (as text, bytes, or URL-encoded)."""
        from urllib.parse import quote

        text = secret.decode("latin-1") if isinstance(secret, bytes) else secret
        needles = {text, quote(text, safe=""), quote(text)}
        return [r for r in self.requests if any(n in r.text() for n in needles)]

    def assert_never_sent(self, secret: str | bytes) -> None:
        """Fail if any request carried secret anywhere (URL, header, body)."""
        leaks = self.containing(secret)
        assert not leaks, f"sent to the network: {[f'{r.method} {r.url}' for r in leaks]}"


# --- the album page -------------------------------------------------------------------

# Generous: the first page load compiles libsodium's WebAssembly in a Worker.
TIMEOUT = 20_000
# The decrypted photo on a PhotoSwipe slide (the thumbnail placeholder aside).
SLIDE_IMG = "img.pswp__img:not(.pswp__img--placeholder)"


def open_album(page, link: str, title: str) -> None:
    page.goto(link)
    page.get_by_role("heading", name=title).wait_for(timeout=TIMEOUT)


def decoded_thumbs(page) -> dict[str, tuple[int, int]]:
    """{alt: natural size} of every grid thumbnail that has decoded."""
    sizes = page.evaluate(
        """[...document.querySelectorAll('#grid .tile img')]
             .filter((img) => img.complete && img.naturalWidth > 0)
             .map((img) => [img.alt, img.naturalWidth, img.naturalHeight])"""
    )
    return {alt: (w, h) for alt, w, h in sizes}


def wait_for_thumbs(page, count: int) -> dict[str, tuple[int, int]]:
    page.wait_for_function(
        """(n) => [...document.querySelectorAll('#grid .tile img')]
            .filter((i) => i.complete && i.naturalWidth > 0).length >= n""",
        arg=count,
        timeout=TIMEOUT,
    )
    return decoded_thumbs(page)


def current_slide_image(page):
    """The <img> of the slide PhotoSwipe shows now."""
    return page.locator(f".pswp__item[aria-hidden='false'] {SLIDE_IMG}")


def tile(page, alt: str):
    return page.locator(f"#grid .tile:has(img[alt='{alt}'])")


class ModulePage:
    """A page of the live app on which async snippets run after a prelude (module imports, helpers)."""

    def __init__(self, page, prelude: str):
        self.page = page
        self.prelude = prelude

    def run(self, body: str, arg=None):
        """Run an async snippet (it sees `arg` and what the prelude defines); return its value."""
        return self.page.evaluate(f"async (arg) => {{ {self.prelude}\n{body} }}", arg)


class Held:
    """Requests matching a pattern, held unanswered (a server that has not answered yet).

    Routed on the browser context, which in Chromium also routes the requests of
    Workers and Service Workers (Playwright, "BrowserContext.route").
    """

    def __init__(self, context, pattern: str, method: str | None = None):
        self.context = context
        self.pattern = pattern
        self.method = method  # hold only requests of this method; the others go on
        self.routes: list = []
        context.route(pattern, self._hold)

    def _hold(self, route) -> None:
        if self.method and route.request.method != self.method:
            route.continue_()
        else:
            self.routes.append(route)

    def wait(self, page, count: int = 1) -> None:
        deadline = time.monotonic() + TIMEOUT / 1000
        while len(self.routes) < count:
            assert time.monotonic() < deadline, f"no request for {self.pattern} was made"
            page.wait_for_timeout(50)  # lets Playwright deliver the route events

    def release(self) -> None:
        """Stop holding, and let the held requests go on to the server (late, as a slow network would)."""
        from playwright.sync_api import Error as PlaywrightError

        self.context.unroute(self.pattern, self._hold)
        for route in self.routes:
            # The browser may have given up on this request meanwhile (an aborted fetch).
            with contextlib.suppress(PlaywrightError):
                route.continue_()
        self.routes.clear()
