"""What the browser benchmarks share: gunicorn from the Procfile, publishing, Chromium.

The server is started by ``tests/support/servers.py`` exactly as the tests start it (the
Procfile's web line), optionally with another WSGI app spec in place of
``app:app`` (``bench/plain_app.py``: the real app plus a plaintext baseline).
Albums are published with the owner's command line, run in-process with click's
CliRunner and a keyring of their own, as ``tests/test_roundtrip.py`` does.
Chromium is Debian's, launched with the tests' flags (``tests/support/browser.py``).
"""

from __future__ import annotations

import signal
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tests.support import browser as browser_helpers
from tests.support import servers
from viewer.owner import cli
from viewer.server import procfile

ROOT = Path(__file__).resolve().parent.parent

# A benchmark stopped with SIGTERM still stops its gunicorn and Chromium (finally blocks run).
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

APP_SPEC = procfile.APP_SPEC


@contextmanager
def gunicorn(data_dir: Path, env: dict[str, str] | None = None, app_spec: str = APP_SPEC) -> Iterator[str]:
    """``gunicorn`` of tests/support/servers.py, with app_spec in place of the Procfile's app:app; yields the URL."""
    with servers.gunicorn(data_dir, env, app_spec) as url:
        yield url


class Owner:
    """The `fragment` command line, in-process, with its own keyring, logged in to a server."""

    def __init__(self, keyring: Path, server_url: str, data_dir: Path):
        self.env = {"FRAGMENT_KEYRING": str(keyring)}
        self.server_url = server_url
        token = servers.flask_cli(data_dir, "create-owner-token").strip()
        self("login", server_url, "--token-stdin", input=token + "\n")

    def __call__(self, *args: str | Path, input: str | None = None) -> str:
        result = CliRunner().invoke(cli.main, [str(a) for a in args], input=input, env=self.env, catch_exceptions=False)
        if result.exit_code != 0:
            raise SystemExit(f"Error: fragment {args[0]} failed:\n{result.output}")
        return result.stdout

    def publish(self, folder: Path, title: str) -> str:
        """Publish a folder as a new album; return its link."""
        return self("publish", folder, "--title", title, "--server", self.server_url).strip().splitlines()[-1]


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright, with the tests' flags."""
    from playwright.sync_api import sync_playwright

    if not browser_helpers.CHROMIUM.exists():
        raise SystemExit(f"Error: {browser_helpers.CHROMIUM} is missing: run `make system-deps`")
    with sync_playwright() as playwright:
        chrome = browser_helpers.launch(playwright)
        try:
            yield chrome
        finally:
            chrome.close()


def workdir(prefix: str) -> tempfile.TemporaryDirectory:
    """A temporary folder for one benchmark's server data, photos and keyring."""
    return tempfile.TemporaryDirectory(prefix=f"fragment-bench-{prefix}-")


def median(values: list[float]) -> float:
    return statistics.median(values)
