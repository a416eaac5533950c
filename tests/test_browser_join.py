"""Joining an album from its public link in Chromium (issue 13, "Join from a public link").

The owner makes a link; another person signs up, opens the link in the same tab, adds the album to
their albums, finds it under "Shared with you", opens it and sees the photos, then leaves it. Their
browser sealed the album key to their own public key: the server stored only that sealed copy.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support import servers
from tests.support.browser import TIMEOUT
from tests.support.media_fixtures import make_jpeg_with_orientation
from tests.test_browser_owner import ARGON2, PASSWORD, context, make_link, new_album, sign_up_as, wait_added, watched
from viewer import crypto

pytestmark = pytest.mark.slow

TITLE = "Harbour walk"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("join-app") / "data"
    with servers.gunicorn(data, env={"FRAGMENT_SIGNUP": "open"}) as url:
        yield {"url": url, "data_dir": data}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("join-media")
    return [
        make_jpeg_with_orientation(
            folder / f"HARBOUR_{i}.jpg", size=(320, 240), orientation=1, taken=f"2025:06:{i + 1:02} 09:00:00"
        )
        for i in range(2)
    ]


def query(server, sql: str, *args):
    connection = sqlite3.connect(Path(server["data_dir"]) / "fragment.db")
    try:
        with connection:
            return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


def test_a_visitor_adds_the_album_of_a_link_finds_it_shared_with_them_and_leaves_it(browser, server, photos, network):
    console: list[str] = []
    owner_ctx = context(browser, server, network)
    owner = watched(owner_ctx, console)
    sign_up_as(owner, "olga@example.org")
    new_album(owner, TITLE)
    owner.locator("#file-input").set_input_files([str(p) for p in photos])
    wait_added(owner, 2)
    link = make_link(owner)
    album_id = owner.url.rsplit("/", 1)[1]

    # A visitor who is not signed in sees the album and no button.
    stranger_ctx = context(browser, server, network)
    stranger = watched(stranger_ctx, console)
    stranger.goto(link)
    stranger.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    assert stranger.locator("#join").is_hidden()
    stranger_ctx.close()

    # Someone signs up, then opens the link in the same tab (the master key is in this tab).
    vic_ctx = context(browser, server, network)
    vic = watched(vic_ctx, console)
    sign_up_as(vic, "vic@example.org")
    vic.goto(link)
    vic.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    add = vic.get_by_role("button", name="Add to my albums")
    add.wait_for(timeout=TIMEOUT)
    # The link does not allow uploads: no choice of role, a viewer it is.
    assert vic.locator("#join [data-slot=roles]").is_hidden()
    add.click()
    vic.locator("#join [data-slot=done]:not([hidden]), #join [data-slot=message]:not([hidden])").wait_for(timeout=TIMEOUT)
    assert vic.locator("#join").inner_text().startswith("Added to your albums."), (vic.locator("#join").inner_text(), console)
    ((role, added_by),) = query(
        server,
        "SELECT role, added_by FROM album_members m JOIN accounts a ON a.id = m.account_id WHERE a.email = ?",
        "vic@example.org",
    )
    assert (role, added_by) == ("viewer", None)
    vic.get_by_role("link", name="Open it in your albums").click()
    vic.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    assert vic.url.endswith(f"/app/albums/{album_id}")
    wait_added(vic, 2)

    # In the list, under "Shared with you"; opened from there, with the photos.
    vic.goto("/app")
    shared = vic.locator("[data-slot=shared-section]")
    card = shared.locator(".album-card").filter(has_text=TITLE)
    card.wait_for(timeout=TIMEOUT)
    card.click()
    vic.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    wait_added(vic, 2)

    # Leaving: gone from the list, and from the server's members.
    vic.get_by_role("button", name="Leave album").click()
    vic.get_by_role("dialog", name="Leave this album?").get_by_role("button", name="Leave").click()
    vic.get_by_role("heading", name="Your albums").wait_for(timeout=TIMEOUT)
    assert vic.locator("[data-slot=shared-section]").is_hidden()
    assert query(server, "SELECT COUNT(*) FROM album_members WHERE album_id = ?", album_id) == [(0,)]

    # In another tab (signed in by the cookie, but with neither the CSRF token nor the master key of
    # the web app's tab), the button is there too; the page asks for the account's password, and keeps the key.
    vic.close()
    vic = watched(vic_ctx, console)
    vic.goto(link)
    vic.get_by_role("button", name="Add to my albums").click()
    dialog = vic.get_by_role("dialog", name="Your account's password")
    dialog.get_by_label("Password of vic@example.org").fill("not the password")
    dialog.get_by_role("button", name="Continue").click()
    dialog.get_by_text("That is not the password of this account.").wait_for(timeout=ARGON2)
    dialog.get_by_label("Password of vic@example.org").fill(PASSWORD)
    dialog.get_by_role("button", name="Continue").click()
    vic.get_by_text("Added to your albums.").wait_for(timeout=ARGON2)
    assert query(server, "SELECT COUNT(*) FROM album_members WHERE album_id = ?", album_id) == [(1,)]

    # Nothing secret left a browser: the link's key, the master keys, the password.
    fragment = link.split("#", 1)[1]
    network.assert_never_sent(fragment)
    network.assert_never_sent(crypto.decode_link_secret(fragment))
    for page in (owner, vic):
        mk = page.evaluate("sessionStorage.getItem('fragment.mk')")
        assert mk
        network.assert_never_sent(mk)
        network.assert_never_sent(crypto.b64d(mk))
    network.assert_never_sent(PASSWORD)
    assert console == []
    owner_ctx.close()
    vic_ctx.close()
