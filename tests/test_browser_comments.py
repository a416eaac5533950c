"""Comments and reactions on a link's album page in Chromium (issue 14), against the real app under gunicorn.

An account's album with two photos, published with links whose comments are 'on', 'held' or 'off',
made through the API with the real format (viewer/crypto.py), as tests/test_notes_api.py does. Two
visitors (two browser contexts, each with a guest key of its own) comment on a photo and on the album,
reply and react; each sees the other's words under the right name with the guest mark, the tile
counts them, and a deleted comment is gone for the other after a reload. A visitor edits their comment
(Escape cancels; Save seals it again as the next version): the other sees the new text marked
"edited", and once the link holds comments an edit waits for approval again. A note changed in the
database (its ciphertext, or its author) is shown as "could not be verified", never its text. On a
held link the sender is told it waits for approval and the other visitor does not see it; with
comments off there is nothing of them on the page. No request carries the link secret or the album
key, and the panel is beside the photo on a wide screen and a sheet on a phone.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import servers
from tests.support.api_helpers import unlock_live
from tests.support.browser import TIMEOUT
from tests.support.media_fixtures import make_jpeg_with_orientation
from tests.test_accounts import signup_body
from tests.test_browser_owner import watched
from tests.test_browser_viewer import assert_fragment_never_sent
from tests.test_sharing_api import Person
from viewer import crypto

pytestmark = pytest.mark.slow

TITLE = "Harbour weekend"
HELD = "Your comment will appear once the album's owner approves it."
UNVERIFIED = "This comment could not be verified."


# --- the API over HTTP, with the interface of Flask's test client (so Person and Owner work) ---------


class Answer:
    def __init__(self, response: requests.Response):
        self.response = response
        self.status_code = response.status_code
        self.data = response.content

    @property
    def json(self) -> Any:
        try:
            return self.response.json()
        except ValueError:
            return None

    def get_json(self) -> Any:
        return self.json


class LiveClient:
    """requests.Session on the live server, called as a FlaskClient (open, get, post); it keeps its cookie."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()

    def open(self, path: str, method: str = "GET", headers: dict | None = None, **kwargs) -> Answer:
        return Answer(self.session.request(method, self.url + path, headers=headers or {}, timeout=30, **kwargs))

    def get(self, path: str, **kwargs) -> Answer:
        return self.open(path, "GET", **kwargs)

    def post(self, path: str, **kwargs) -> Answer:
        return self.open(path, "POST", **kwargs)


def live_person(url: str, email: str) -> Person:
    client = LiveClient(url)
    body, made = signup_body(email)
    answer = client.post("/api/account/signup", json=body)
    assert answer.status_code == 201, answer.json
    return Person(client, made, answer.json["csrf_token"], email)  # type: ignore[arg-type]


def add_photo(owner, album_id: str, ak: bytes, path: Path) -> str:
    """A real JPEG as thumb, preview and original (so the grid and the lightbox show a picture)."""
    jpeg = path.read_bytes()
    file_id, fk = crypto.new_id(), crypto.random_key()
    blobs = {kind: crypto.encrypt_blob_bytes(fk, file_id, kind, jpeg) for kind in ("thumb", "preview", "original")}
    meta = {"v": 1, "name": path.name, "size": len(jpeg), "mime": "image/jpeg", "kind": "photo", "width": 1600, "height": 1200}
    body = {
        "file_id": file_id,
        "wrapped_key": crypto.b64e(crypto.wrap_file_key(ak, fk, album_id, file_id)),
        "meta": crypto.b64e(crypto.seal_file_meta(fk, album_id, file_id, meta)),
        "blobs": {kind: len(blob) for kind, blob in blobs.items()},
    }
    base = f"/api/owner/albums/{album_id}/files"
    assert owner.call("POST", base, json=body).status_code == 201
    for kind, blob in blobs.items():
        assert owner.call("PUT", f"{base}/{file_id}/blobs/{kind}", data=blob).status_code == 200
    assert owner.call("POST", f"{base}/{file_id}/complete").status_code == 200
    return file_id


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("comments-app") / "data"
    with servers.gunicorn(data, env={"FRAGMENT_SIGNUP": "open"}) as url:
        yield {"url": url, "data_dir": data}


@pytest.fixture(scope="module")
def olga(server, tmp_path_factory):
    """The owner (an account) and the two photos each album gets."""
    folder = tmp_path_factory.mktemp("comments-media")
    photos = [
        make_jpeg_with_orientation(folder / f"HARBOUR_{i}.jpg", size=(1600, 1200), orientation=1, taken=f"2025:07:0{i} 10:00:00")
        for i in (1, 2)
    ]
    return live_person(server["url"], "olga@example.org").as_owner(), photos


@pytest.fixture
def album(olga):
    """A new album of Olga's with two photos (each test its own: notes are the album's, whatever the link)."""
    owner, photos = olga
    album_id, ak = owner.album(TITLE)
    files = [add_photo(owner, album_id, ak, p) for p in photos]
    return {"owner": owner, "album_id": album_id, "ak": ak, "files": files}


def new_link(server, album, **settings) -> tuple[str, str, bytes]:
    """A link of the album; its whole address, its id and its secret."""
    link_id, secret = album["owner"].link(album["album_id"], album["ak"], **settings)
    return f"{server['url']}/a/{link_id}#{crypto.encode_link_secret(secret)}", link_id, secret


def visitor(browser, server, network, console, width=1280, height=800):
    ctx = browser.new_context(base_url=server["url"], viewport={"width": width, "height": height})
    network.attach(ctx)
    return ctx, watched(ctx, console)


def open_album(page, link: str) -> None:
    page.goto(link)
    page.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelectorAll('#grid .tile.is-loaded').length >= 2", timeout=TIMEOUT)


def album_thread(page):
    return page.locator("#album-comments")


def send(thread, text: str) -> None:
    thread.get_by_role("textbox").first.fill(text)
    thread.get_by_role("button", name="Send").click()


def give_name(page, name: str) -> None:
    dialog = page.get_by_role("dialog", name="What is your name?")
    dialog.wait_for(timeout=TIMEOUT)
    assert "It is shown with your comments" in dialog.inner_text()
    dialog.get_by_label("Your name").fill(name)
    dialog.get_by_role("button", name="Continue").click()


def comment(thread, text: str):
    """The thread's comment (its <li>) that says `text`."""
    item = thread.locator(".thread-comment").filter(has=thread.page.locator(".thread-text", has_text=text)).last
    item.wait_for(timeout=TIMEOUT)
    return item


def open_lightbox(page, index: int = 0):
    page.locator("#grid .tile").nth(index).click()
    page.locator(".pswp").wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.pswp__img[data-quality]')].some((img) => img.complete && img.naturalWidth > 0)",
        timeout=TIMEOUT,
    )


def open_panel(page):
    page.locator(".pswp__button--fragment-comments").click()
    panel = page.get_by_role("region", name="Comments", exact=True)
    panel.wait_for(timeout=TIMEOUT)
    # The photo makes room for it once PhotoSwipe has resized the slide.
    page.wait_for_timeout(400)
    return panel


def current_image_box(page) -> dict:
    return page.evaluate(
        """() => {
            const imgs = [...document.querySelectorAll('.pswp__img')].filter((img) => {
                const r = img.getBoundingClientRect();
                return r.width > 0 && r.right > 0 && r.left < innerWidth && !img.classList.contains('pswp__img--placeholder');
            });
            const r = imgs[imgs.length - 1].getBoundingClientRect();
            return {x: r.x, y: r.y, width: r.width, height: r.height};
        }"""
    )


def overlaps(a: dict, b: dict) -> bool:
    across = a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
    return across and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def assert_album_key_never_sent(network, ak: bytes) -> None:
    network.assert_never_sent(ak)
    for spelling in {crypto.b64e(ak), base64.b64encode(ak).decode(), ak.hex()}:
        network.assert_never_sent(spelling)


def query(server, sql: str, *args):
    connection = sqlite3.connect(Path(server["data_dir"]) / "fragment.db")
    try:
        with connection:
            return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


# --- the tests -------------------------------------------------------------------------------


def test_two_visitors_comment_reply_react_and_delete(browser, server, album, network):
    console: list[str] = []
    link, _link_id, _secret = new_link(server, album, comments="on")
    ana_ctx, ana = visitor(browser, server, network, console)
    bo_ctx, bo = visitor(browser, server, network, console)
    try:
        # Ana comments on the album: asked her name once, with wording for comments.
        open_album(ana, link)
        thread = album_thread(ana)
        assert thread.get_by_role("heading", name="Comments on this album").is_visible()
        send(thread, "What a sunset over the harbour!")
        give_name(ana, "Ana")
        mine = comment(thread, "What a sunset over the harbour!")
        assert mine.locator(".thread-author").inner_text() == "Ana"
        assert mine.locator(".guest-mark").inner_text() == "guest"
        assert mine.locator("time").get_attribute("datetime")

        # On the first photo, in the lightbox's panel: a comment and a heart.
        open_lightbox(ana, 0)
        panel = open_panel(ana)
        send(panel, "The boat on the left is ours")
        comment(panel, "The boat on the left is ours")
        panel.get_by_role("button", name="heart: 0 reactions").click()
        panel.get_by_role("button", name="heart: 1 reaction, yours").wait_for(timeout=TIMEOUT)
        ana.keyboard.press("Escape")  # the focus is on the heart, not in the text box: the lightbox closes
        ana.locator(".pswp").wait_for(state="detached", timeout=TIMEOUT)
        counts = ana.locator("#grid .tile").first.locator(".tile-notes")
        counts.wait_for(timeout=TIMEOUT)
        assert counts.inner_text() == "\u2665 1 \U0001f4ac 1"
        assert counts.get_attribute("aria-label") == "1 reaction, 1 comment"

        # Bo sees both, under Ana's name with the guest mark; the tile counts them.
        open_album(bo, link)
        theirs = comment(album_thread(bo), "What a sunset over the harbour!")
        assert theirs.locator(".thread-author").inner_text() == "Ana"
        assert theirs.locator(".guest-mark").is_visible()
        assert not theirs.get_by_role("button", name="Delete your comment").count()  # not Bo's
        bo_counts = bo.locator("#grid .tile").first.locator(".tile-notes")
        bo_counts.wait_for(timeout=TIMEOUT)
        assert bo_counts.get_attribute("aria-label") == "1 reaction, 1 comment"
        assert bo.locator("#grid .tile").nth(1).locator(".tile-notes").count() == 0

        # Bo replies to Ana's album comment (his name set once) and hearts the photo too.
        theirs.get_by_role("button", name="Reply").click()
        send(album_thread(bo), "Best evening of the summer")
        give_name(bo, "Bo")
        reply = theirs.locator(".thread-replies .thread-comment").filter(has_text="Best evening of the summer")
        reply.wait_for(timeout=TIMEOUT)
        assert reply.locator(".thread-author").inner_text() == "Bo"
        open_lightbox(bo, 0)
        panel = open_panel(bo)
        assert comment(panel, "The boat on the left is ours").locator(".thread-author").inner_text() == "Ana"
        panel.get_by_role("button", name="heart: 1 reaction").click()
        panel.get_by_role("button", name="heart: 2 reactions, yours").wait_for(timeout=TIMEOUT)
        button = bo.locator(".pswp__button--fragment-comments")
        assert button.get_attribute("aria-label") == "Hide comments (2 reactions, 1 comment)"

        # Escape in the text box holding text does not close the lightbox; once it is cleared, it does.
        box = panel.get_by_role("textbox")
        box.fill("half a thought")
        box.press("Escape")
        assert bo.locator(".pswp").is_visible() and box.input_value() == "half a thought"
        box.fill("")
        box.press("Escape")
        bo.locator(".pswp").wait_for(state="detached", timeout=TIMEOUT)
        bo_counts.wait_for(timeout=TIMEOUT)
        assert bo_counts.get_attribute("aria-label") == "2 reactions, 1 comment"

        # Ana, after a reload, sees Bo's reply under her comment; she deletes her photo comment.
        ana.reload()
        open_album(ana, link)
        mine = comment(album_thread(ana), "What a sunset over the harbour!")
        mine.locator(".thread-replies").get_by_text("Best evening of the summer").wait_for(timeout=TIMEOUT)
        open_lightbox(ana, 0)
        panel = open_panel(ana)
        comment(panel, "The boat on the left is ours").get_by_role("button", name="Delete your comment").click()
        panel.get_by_text("The boat on the left is ours").wait_for(state="detached", timeout=TIMEOUT)

        # Gone for Bo after his reload.
        bo.reload()
        open_album(bo, link)
        bo_counts = bo.locator("#grid .tile").first.locator(".tile-notes")
        bo_counts.wait_for(timeout=TIMEOUT)
        assert bo_counts.get_attribute("aria-label") == "2 reactions"
        open_lightbox(bo, 0)
        panel = open_panel(bo)
        panel.get_by_text("No comments yet.").wait_for(timeout=TIMEOUT)
        assert "The boat on the left is ours" not in panel.inner_text()

        assert_fragment_never_sent(network, link)
        assert_album_key_never_sent(network, album["ak"])
        assert console == []
    finally:
        ana_ctx.close()
        bo_ctx.close()


def test_a_visitor_edits_their_comment_and_the_other_sees_it_edited(browser, server, album, network):
    console: list[str] = []
    link, link_id, _secret = new_link(server, album, comments="on")
    ana_ctx, ana = visitor(browser, server, network, console)
    bo_ctx, bo = visitor(browser, server, network, console)
    try:
        open_album(ana, link)
        thread = album_thread(ana)
        send(thread, "Sunset at nine")
        give_name(ana, "Ana")
        mine = comment(thread, "Sunset at nine")
        assert not mine.locator(".thread-edited").count()
        # By its id from here: while it is edited, its text is a text box's value.
        mine = thread.locator(f".thread-comment[data-note-id='{mine.get_attribute('data-note-id')}']")

        # Escape leaves the edit and keeps the comment as it was.
        mine.get_by_role("button", name="Edit your comment").click()
        box = mine.get_by_role("textbox", name="Edit your comment")
        assert box.input_value() == "Sunset at nine"
        box.fill("Sunset at ten")
        box.press("Escape")
        box.wait_for(state="detached", timeout=TIMEOUT)
        assert mine.locator(".thread-text").inner_text() == "Sunset at nine"

        # Saved: the new text, marked edited, as version 2 (sealed and signed again in the Worker).
        mine.get_by_role("button", name="Edit your comment").click()
        mine.get_by_role("textbox", name="Edit your comment").fill("Sunset at half past nine")
        mine.get_by_role("button", name="Save your comment").click()
        edited = comment(thread, "Sunset at half past nine")
        assert edited.locator(".thread-edited").inner_text() == "edited"
        assert "Sunset at nine" not in thread.inner_text()
        assert not thread.locator(".thread-edit").count()

        # Bo, who cannot edit it, sees the new text and the mark.
        open_album(bo, link)
        theirs = comment(album_thread(bo), "Sunset at half past nine")
        assert theirs.locator(".thread-author").inner_text() == "Ana"
        assert theirs.locator(".thread-edited").inner_text() == "edited"
        assert not theirs.get_by_role("button", name="Edit your comment").count()
        assert "Sunset at nine" not in album_thread(bo).inner_text()

        # Still so after Ana's reload (from the server, not the page's memory).
        ana.reload()
        open_album(ana, link)
        again = comment(album_thread(ana), "Sunset at half past nine")
        assert again.locator(".thread-edited").inner_text() == "edited"
        assert again.get_by_role("button", name="Edit your comment").is_visible()

        # Once the link holds comments, an edit is new words that wait for approval: Ana is told, Bo no longer sees it.
        changed = album["owner"].call("PATCH", f"/api/owner/links/{link_id}", json={"comments": "held"})
        assert changed.status_code == 200, changed.json
        ana.reload()
        open_album(ana, link)
        thread = album_thread(ana)
        again = comment(thread, "Sunset at half past nine")
        again.get_by_role("button", name="Edit your comment").click()
        again = thread.locator(".thread-comment:has(.thread-edit)")
        again.get_by_role("textbox", name="Edit your comment").fill("Sunset, then fireworks")
        again.get_by_role("button", name="Save your comment").click()
        notice = thread.locator(".thread-notice")
        notice.wait_for(timeout=TIMEOUT)
        assert notice.inner_text() == HELD
        assert "fireworks" not in thread.inner_text()
        bo.reload()
        open_album(bo, link)
        album_thread(bo).get_by_text("No comments yet.").wait_for(timeout=TIMEOUT)
        assert "Sunset" not in album_thread(bo).inner_text()
        assert_fragment_never_sent(network, link)
        assert_album_key_never_sent(network, album["ak"])
        assert console == []
    finally:
        ana_ctx.close()
        bo_ctx.close()


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_the_panel_is_beside_the_photo_on_a_wide_screen_and_a_sheet_on_a_phone(browser, server, album, network, width, height):
    console: list[str] = []
    link, _link_id, _secret = new_link(server, album, comments="on")
    ctx, page = visitor(browser, server, network, console, width, height)
    try:
        open_album(page, link)
        open_lightbox(page, 1)
        before = current_image_box(page)
        panel = open_panel(page)
        box = panel.bounding_box()
        assert box is not None
        image = current_image_box(page)
        assert not overlaps(box, image), (box, image)
        if width >= 900:
            # Beside: on the right, the whole height under the toolbar; the photo shrank to make room.
            assert box["x"] + box["width"] == pytest.approx(width, abs=1) and box["width"] == pytest.approx(360, abs=1)
            assert image["x"] + image["width"] <= box["x"]
            assert image["width"] < before["width"] - 50  # it made room: it did not stay under the panel
        else:
            # A sheet: the whole width, over the lower part; the photo keeps the upper part.
            assert box["x"] == pytest.approx(0, abs=1) and box["width"] == pytest.approx(width, abs=1)
            assert box["y"] + box["height"] == pytest.approx(height, abs=1) and box["y"] > height / 3
            assert image["y"] + image["height"] <= box["y"]
            assert image["y"] < before["y"]  # moved up, out of the sheet's way
        # The focus moved into the panel; the close button hides it and gives the focus back to the toolbar.
        assert page.evaluate("document.activeElement.closest('[role=region]')?.getAttribute('aria-label')") == "Comments"
        panel.get_by_role("button", name="Hide comments").click()
        panel.wait_for(state="hidden", timeout=TIMEOUT)
        assert page.evaluate("document.activeElement.classList.contains('pswp__button--fragment-comments')")
        assert console == []
    finally:
        ctx.close()


def guest_comment(server, link_id: str, secret: bytes, album_id: str, ak: bytes, text: str) -> str:
    """A visitor's comment on the album written through the API (a guest key of its own); its id."""
    token = unlock_live(server["url"], link_id, crypto.link_keys(secret)).json()["access_token"]
    public_key, secret_key = crypto.guest_note_keys(os.urandom(32))
    note_id = crypto.new_id()
    note = {"kind": "comment", "on": None, "reply_to": None, "text": text, "name": "Mallory", "at": 1764950400}
    sealed, signature = crypto.seal_note(ak, album_id, note_id, 0, 1, public_key, secret_key, note)
    body = {
        "note_id": note_id,
        "epoch": 0,
        "version": 1,
        "sealed": crypto.b64e(sealed),
        "signature": crypto.b64e(signature),
        "guest_pk": crypto.b64e(public_key),
    }
    answer = requests.post(
        f"{server['url']}/api/links/{link_id}/notes", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert answer.status_code == 201, answer.json()
    return note_id


def test_a_note_altered_in_the_database_is_shown_as_not_verified(browser, server, album, network):
    console: list[str] = []
    link, link_id, secret = new_link(server, album, comments="on")
    args = (server, link_id, secret, album["album_id"], album["ak"])
    guest_comment(*args, "This one is genuine")
    flipped = guest_comment(*args, "Flipped ciphertext text")
    moved = guest_comment(*args, "Moved author text")
    ((sealed,),) = query(server, "SELECT sealed FROM notes WHERE id = ?", flipped)
    changed = bytearray(sealed)
    changed[40] ^= 0x01
    query(server, "UPDATE notes SET sealed = ? WHERE id = ?", bytes(changed), flipped)
    other_pk, _ = crypto.guest_note_keys(os.urandom(32))
    query(server, "UPDATE notes SET guest_pk = ? WHERE id = ?", other_pk, moved)

    ctx, page = visitor(browser, server, network, console)
    try:
        open_album(page, link)
        thread = album_thread(page)
        comment(thread, "This one is genuine")
        refused = thread.locator(".thread-comment.unverified")
        refused.nth(1).wait_for(timeout=TIMEOUT)
        assert refused.count() == 2
        for i in range(2):
            assert UNVERIFIED in refused.nth(i).inner_text()
            assert refused.nth(i).locator(".thread-mark").is_visible()
        text = thread.inner_text()
        assert "Flipped ciphertext text" not in text and "Moved author text" not in text
        # Not counted either: only the genuine comment.
        assert "Mallory" in text and text.count("Mallory") == 1
        assert console == []
    finally:
        ctx.close()


def test_on_a_held_link_the_sender_is_told_and_the_other_visitor_does_not_see_it(browser, server, album, network):
    console: list[str] = []
    link, _link_id, _secret = new_link(server, album, comments="held")
    ana_ctx, ana = visitor(browser, server, network, console)
    bo_ctx, bo = visitor(browser, server, network, console)
    try:
        open_album(ana, link)
        thread = album_thread(ana)
        send(thread, "Waiting for Olga")
        give_name(ana, "Ana")
        notice = thread.locator(".thread-notice")
        notice.wait_for(timeout=TIMEOUT)
        assert notice.inner_text() == HELD
        assert thread.get_by_role("textbox").input_value() == ""
        assert "Waiting for Olga" not in thread.locator(".thread-comments").inner_text()

        open_album(bo, link)
        other = album_thread(bo)
        other.get_by_text("No comments yet.").wait_for(timeout=TIMEOUT)
        assert "Waiting for Olga" not in other.inner_text()
        # Nor does Ana, once the page lists again: it waits for Olga.
        ana.reload()
        open_album(ana, link)
        album_thread(ana).get_by_text("No comments yet.").wait_for(timeout=TIMEOUT)
        assert console == []
    finally:
        ana_ctx.close()
        bo_ctx.close()


def test_with_comments_off_there_is_nothing_of_them(browser, server, album, network):
    console: list[str] = []
    # The album has notes (another link's visitors wrote them): a link with comments off shows none.
    _on_link, on_id, on_secret = new_link(server, album, comments="on")
    guest_comment(server, on_id, on_secret, album["album_id"], album["ak"], "Said through another link")
    link, _link_id, _secret = new_link(server, album)  # comments are off by default
    ctx, page = visitor(browser, server, network, console)
    try:
        open_album(page, link)
        assert not album_thread(page).is_visible()
        assert page.locator(".tile-notes").count() == 0
        open_lightbox(page, 0)
        assert page.locator(".pswp__button--fragment-comments").count() == 0
        assert page.get_by_role("region", name="Comments", exact=True).count() == 0
        assert "Said through another link" not in page.content()
        assert not [u for u in network.urls() if "/notes" in u]
        assert console == []
    finally:
        ctx.close()
