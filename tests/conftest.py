"""Shared fixtures: the app in-process (SQLite, or PostgreSQL started here) and a live gunicorn."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support import servers
from tests.support.api_helpers import Owner
from tests.support.owner_cli import Fragment
from viewer.server import create_app

# CI sets this: a missing service (ffmpeg, PostgreSQL) is then a failure, not a skip.
REQUIRE = os.environ.get("FRAGMENT_REQUIRE_SERVICES", "") not in ("", "0")


@pytest.fixture(scope="session")
def pg_url():
    """One PostgreSQL server for the whole run."""
    # Not under pytest's tmp folder: that is private to root, and PostgreSQL runs as its own user.
    base = Path(tempfile.mkdtemp(prefix="fragment-pg-"))
    try:
        context = servers.postgres(base)
        url = context.__enter__()
    except (RuntimeError, OSError) as exc:
        if REQUIRE:
            raise
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield url
    context.__exit__(None, None, None)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, tmp_path):
    """The app on a fresh data folder, with SQLite or a real PostgreSQL."""
    overrides = {"DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": "test-secret"}
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        servers.fresh_pg_schema(url)
        overrides["DATABASE_URL"] = url
    # Module-level settings first, then the test's own on top.
    for marker in reversed(list(request.node.iter_markers("settings"))):
        overrides.update(marker.kwargs)
    application = create_app(overrides)
    yield application
    application.extensions["fragment.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def owner(app, client):
    result = app.test_cli_runner().invoke(args=["create-owner-token"])
    assert result.exit_code == 0, result.output
    return Owner(client, result.output.strip())


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The app under gunicorn, started from the Procfile, on SQLite and a local folder."""
    base = tmp_path_factory.mktemp("live")
    data = base / "data"
    with servers.gunicorn(data, env={"FRAGMENT_UPLOAD_PART_BYTES": str(1024 * 1024)}) as url:
        yield {"url": url, "data_dir": data}


def pytest_configure(config):
    config.addinivalue_line("markers", "settings(**overrides): app settings for this test")


# --- the browser (tests/support/browser.py) -------------------------------------------------


@pytest.fixture(scope="module")
def owner_cli(live_server, tmp_path_factory):
    """The owner's command line, logged in to the live server, with a keyring of its own."""
    fragment = Fragment(tmp_path_factory.mktemp("owner") / "keyring.json")
    token = servers.flask_cli(live_server["data_dir"], "create-owner-token").strip()
    fragment("login", live_server["url"], "--token-stdin", input=token + "\n")
    return fragment


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium under Playwright, one for the whole session."""
    from tests.support import browser as helpers

    try:
        from playwright.sync_api import sync_playwright

        if not helpers.CHROMIUM.exists():
            raise RuntimeError(f"{helpers.CHROMIUM} is missing (apt-get install chromium); `make test` installs it")
        playwright = sync_playwright().start()
    except (ImportError, RuntimeError) as exc:
        if REQUIRE:
            raise
        pytest.skip(f"no browser: {exc}")
    try:
        chromium = helpers.launch(playwright)
    except Exception:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def browser_context(browser):
    """A fresh context (cache, storage, service workers) for one test."""
    context = browser.new_context()
    yield context
    context.close()


@pytest.fixture
def console():
    """The page's console: any error fails the test, unless announced with console.expect(pattern)."""
    from tests.support import browser as helpers

    log = helpers.ConsoleLog()
    yield log
    unexpected = log.unexpected()
    if unexpected:
        pytest.fail("the page logged errors:\n" + "\n".join(unexpected), pytrace=False)


@pytest.fixture
def network(browser_context):
    """Every request of the test's browser context: URL, method, headers and body."""
    from tests.support import browser as helpers

    log = helpers.RequestLog()
    log.attach(browser_context)
    return log


@pytest.fixture
def page(browser_context, console):
    """A fresh page whose console errors and uncaught exceptions fail the test."""
    tab = browser_context.new_page()
    console.attach(tab)
    yield tab
    tab.close()
