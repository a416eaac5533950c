"""Issue 14's first must-show, in Chromium against gunicorn: an owner, a member and two link visitors.

Four browser contexts: Olga (the owner, an account, in her web app), Vic (an account the album is
shared with, in the same app) and two visitors of a link whose comments are 'on' (Ana and Bo, each
with a guest key of their own). Each comments on the album and on one photo and hearts it; each sees
the others' words under the right name: in the app, Vic by e-mail and the visitors by their given
name with the guest mark; on the link's page, the visitors by name with the guest mark and Olga and
Vic as members (a link's listing carries no e-mail, docs/design.md "Comments and reactions"). Olga
hides one of Ana's comments: after a reload it is gone for Vic, Ana and Bo. On a second link whose
comments are 'held', Ana's comment waits until Olga approves it, then Bo sees it. No request carries
a link secret or the album key, and no page logs an error.
"""

from __future__ import annotations

import pytest

from tests.support import servers
from tests.support.api_helpers import unlock_live
from tests.support.browser import TIMEOUT
from tests.support.media_fixtures import make_jpeg_with_orientation
from tests.support.owner_cli import split
from tests.test_browser_comments import (
    TITLE,
    album_thread,
    assert_album_key_never_sent,
    comment,
    give_name,
    open_album,
    open_lightbox,
    open_panel,
    send,
    visitor,
)
from tests.test_browser_owner import ARGON2, context, new_album, sign_up_as, tile_named, wait_added, watched
from tests.test_browser_sharing import open_album_card, share
from tests.test_browser_viewer import assert_fragment_never_sent
from viewer import crypto

pytestmark = pytest.mark.slow

OLGA, VIC = "olga@example.org", "vic@example.org"
PHOTO = "HARBOUR_1.jpg"  # the first in the album's order (taken first): tile 0 on the link's page


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("comments-everyone") / "data"
    with servers.gunicorn(data, env={"FRAGMENT_SIGNUP": "open"}) as url:
        yield {"url": url, "data_dir": data}


def link_with_comments(page, comments: str) -> str:
    """A link made in the owner's dialog with visitors' comments 'on' or 'held'; its whole address."""
    page.get_by_role("button", name="New link").click()
    dialog = page.get_by_role("dialog", name="New link")
    dialog.get_by_label("Visitors' comments and reactions").select_option(comments)
    dialog.get_by_role("button", name="Create link").click()
    page.get_by_text("The link is made and copied.").wait_for(timeout=ARGON2)
    return page.evaluate("navigator.clipboard.readText()")


def app_section(page):
    return page.locator("[data-slot=comments-section]")


def app_photo(page, name: str = PHOTO):
    """The photo's comments dialog in the app."""
    tile_named(page, name).locator("[data-action=comments]").click()
    dialog = page.locator("#photo-comments")
    dialog.wait_for(timeout=TIMEOUT)
    return dialog


def app_send(thread, text: str) -> None:
    thread.get_by_label("Write a comment").fill(text)
    thread.get_by_role("button", name="Send").click()
    comment(thread, text)


def heart(thread, before: int) -> None:
    def label(n: int) -> str:
        return "1 reaction" if n == 1 else f"{n} reactions"

    thread.get_by_role("button", name=f"heart: {label(before)}", exact=True).click()
    thread.get_by_role("button", name=f"heart: {label(before + 1)}, yours").wait_for(timeout=TIMEOUT)


def author(thread, text: str) -> tuple[str, bool]:
    """The name shown with the comment that says `text`, and whether it has the guest mark."""
    item = comment(thread, text)
    head = item.locator(".thread-author").first.inner_text()
    return head, item.locator(".guest-mark").first.is_visible()


def open_app_album(page) -> None:
    open_album_card(page, TITLE)
    app_section(page).locator(".thread-comment").first.wait_for(timeout=TIMEOUT)


def test_an_owner_a_member_and_two_visitors_comment_and_the_owner_hides_one(browser, server, network, tmp_path):
    console: list[str] = []
    photos = [
        make_jpeg_with_orientation(tmp_path / f"HARBOUR_{i}.jpg", size=(640, 480), orientation=1, taken=f"2025:07:0{i} 10:00:00")
        for i in (1, 2)
    ]
    contexts = []
    try:
        # Olga makes the album with two photos and a link whose comments are on; Vic has an account.
        olga_ctx = context(browser, server, network)
        contexts.append(olga_ctx)
        olga = watched(olga_ctx, console)
        sign_up_as(olga, OLGA)
        new_album(olga, TITLE)
        olga.locator("#file-input").set_input_files([str(p) for p in photos])
        wait_added(olga, 2)
        link = link_with_comments(olga, "on")
        vic_ctx = context(browser, server, network)
        contexts.append(vic_ctx)
        vic = watched(vic_ctx, console)
        sign_up_as(vic, VIC)
        dialog = share(olga, VIC, "viewer", by_mail=False)
        assert f"Shared with {VIC}" in dialog.inner_text()
        dialog.get_by_role("button", name="Close").click()

        # Olga comments on the album and on the photo, and hearts the photo.
        app_send(app_section(olga), "Welcome, everyone")
        dialog = app_photo(olga)
        app_send(dialog, "Olga's boat")
        heart(dialog, 0)
        dialog.get_by_role("button", name="Close").click()

        # Vic, in his app: Olga's words under her address; his own, and a heart.
        open_app_album(vic)
        assert author(app_section(vic), "Welcome, everyone") == (OLGA, False)
        app_send(app_section(vic), "Thanks for sharing")
        dialog = app_photo(vic)
        assert author(dialog, "Olga's boat") == (OLGA, False)
        app_send(dialog, "Vic was on it too")
        heart(dialog, 1)
        dialog.get_by_role("button", name="Close").click()

        # Ana and Bo on the link's page: Olga and Vic as members (no e-mail), each other as guests.
        visitors = {}
        for name, words in (("Ana", "Ana loves the harbour"), ("Bo", "Bo was here")):
            ctx, page = visitor(browser, server, network, console)
            contexts.append(ctx)
            visitors[name] = page
            open_album(page, link)
            thread = album_thread(page)
            assert author(thread, "Welcome, everyone") == ("Member", False)
            assert author(thread, "Thanks for sharing") == ("Member", False)
            assert OLGA not in thread.inner_text() and VIC not in thread.inner_text()
            send(thread, words)
            give_name(page, name)
            assert author(thread, words) == (name, True)
            open_lightbox(page, 0)
            panel = open_panel(page)
            assert author(panel, "Olga's boat") == ("Member", False)
            assert author(panel, "Vic was on it too") == ("Member", False)
            send(panel, f"{name}'s photo comment")
            comment(panel, f"{name}'s photo comment")
            heart(panel, 2 if name == "Ana" else 3)
            page.keyboard.press("Escape")
            page.locator(".pswp").wait_for(state="detached", timeout=TIMEOUT)
        ana, bo = visitors["Ana"], visitors["Bo"]

        # Ana, after a reload, sees Bo as a guest; everything is counted on the tile.
        ana.reload()
        open_album(ana, link)
        assert author(album_thread(ana), "Bo was here") == ("Bo", True)
        counts = ana.locator("#grid .tile").first.locator(".tile-notes")
        counts.wait_for(timeout=TIMEOUT)
        assert counts.get_attribute("aria-label") == "4 reactions, 4 comments"

        # Olga and Vic, in the app: Vic by e-mail, the visitors by name with the guest mark.
        for page, me in ((olga, OLGA), (vic, VIC)):
            page.reload()
            open_app_album(page)
            section = app_section(page)
            assert author(section, "Thanks for sharing") == (VIC, False)
            assert author(section, "Ana loves the harbour") == ("Ana", True)
            assert author(section, "Bo was here") == ("Bo", True)
            assert author(section, "Welcome, everyone") == (OLGA, False)
            badge = tile_named(page, PHOTO).locator("[data-action=comments]")
            assert badge.get_attribute("aria-label") == "Comments: 4 reactions, 4 comments", me
            dialog = app_photo(page)
            assert author(dialog, "Ana's photo comment") == ("Ana", True)
            assert author(dialog, "Bo's photo comment") == ("Bo", True)
            assert author(dialog, "Vic was on it too") == (VIC, False)
            dialog.get_by_role("button", name="heart: 4 reactions, yours").wait_for(timeout=TIMEOUT)
            dialog.get_by_role("button", name="Close").click()
            # A member cannot moderate: no Hide on anyone's comment.
            if page is vic:
                assert comment(section, "Ana loves the harbour").get_by_role("button", name="Hide").count() == 0

        # Olga hides Ana's album comment; after a reload it is gone for Vic, Ana and Bo.
        hidden = comment(app_section(olga), "Ana loves the harbour")
        hidden.get_by_role("button", name="Hide").click()
        hidden.get_by_role("button", name="Show").wait_for(timeout=TIMEOUT)
        vic.reload()
        open_app_album(vic)
        comment(app_section(vic), "Bo was here")
        assert "Ana loves the harbour" not in app_section(vic).inner_text()
        for page in (ana, bo):
            page.reload()
            open_album(page, link)
            comment(album_thread(page), "Bo was here")
            assert "Ana loves the harbour" not in album_thread(page).inner_text()

        # A second link, comments held: Ana's comment waits for Olga; once approved, Bo sees it.
        held = link_with_comments(olga, "held")
        open_album(ana, held)
        send(album_thread(ana), "Please approve me")
        give_name(ana, "Ana")  # a name per link, as for guest uploads
        notice = album_thread(ana).locator(".thread-notice")
        notice.wait_for(timeout=TIMEOUT)
        assert notice.inner_text() == "Your comment will appear once the album's owner approves it."
        open_album(bo, held)
        comment(album_thread(bo), "Bo was here")
        assert "Please approve me" not in album_thread(bo).inner_text()
        olga.reload()
        open_app_album(olga)
        waiting = app_section(olga).locator("[data-slot=held-count]")
        waiting.wait_for(timeout=TIMEOUT)
        assert waiting.inner_text() == "1 comment waits for approval."
        item = comment(app_section(olga), "Please approve me")
        assert author(app_section(olga), "Please approve me") == ("Ana", True)
        item.get_by_role("button", name="Approve").click()
        waiting.wait_for(state="hidden", timeout=TIMEOUT)
        bo.reload()
        open_album(bo, held)
        assert author(album_thread(bo), "Please approve me") == ("Ana", True)

        # Neither link's secret, nor the album key, went over the network.
        for address in (link, held):
            assert_fragment_never_sent(network, address)
        _server, link_id, fragment = split(link)
        keys = crypto.link_keys(crypto.decode_link_secret(fragment))
        unlocked = unlock_live(server["url"], link_id, keys)
        assert unlocked.status_code == 200
        ak = crypto.unwrap_album_key(keys.wrap_key, crypto.b64d(unlocked.json()["wrapped_album_key"]), link_id)
        assert_album_key_never_sent(network, ak)
        assert console == []
    finally:
        for ctx in contexts:
            ctx.close()
