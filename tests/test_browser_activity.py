"""The owner's Activity page, unread badges and the digest setting (issue 14), in Chromium against gunicorn.

Olga's account, album and link are made over HTTP with the real format (viewer/crypto.py), as
another client of hers would; Vic, a collaborator, adds two photos and comments; a guest, Marie,
adds a photo through the link. Olga signs in with the browser, which alone opens the names: the
feed says who did what in words, the album card counts what is new until she opens the album,
and the digest checkbox keeps its setting. No key ever goes over the network.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import servers
from tests.support.api_helpers import bearer, unlock
from tests.support.browser import TIMEOUT
from tests.test_accounts import signup_body
from tests.test_browser_owner import context, watched
from tests.test_notes_api import member_writer
from tests.test_sharing_api import Person, share
from viewer import crypto

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"  # signup_body's
TITLE = "Harbour"


class Answer:
    """A requests response read the way the Flask test client's is (status_code, .json, get_json())."""

    def __init__(self, response: requests.Response) -> None:
        self.status_code = response.status_code
        self._response = response

    @property
    def json(self) -> Any:
        return self._response.json() if self._response.content else None

    def get_json(self) -> Any:
        return self.json


class Live:
    """The test client's open/get/post over HTTP to the live server, with a cookie jar of its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def open(self, path: str, method: str = "GET", headers=None, json=None, data=None, query_string=None) -> Answer:
        response = self.session.request(
            method, self.url + path, headers=headers, json=json, data=data, params=query_string, timeout=30
        )
        return Answer(response)

    def get(self, path: str, **kwargs) -> Answer:
        return self.open(path, "GET", **kwargs)

    def post(self, path: str, **kwargs) -> Answer:
        return self.open(path, "POST", **kwargs)


def live_person(url: str, email: str) -> Person:
    client = Live(url)
    body, made = signup_body(email)
    answer = client.post("/api/account/signup", json=body)
    assert answer.status_code == 201, answer.get_json()
    return Person(client, made, answer.get_json()["csrf_token"], email)  # type: ignore[arg-type]


def guest_upload(url: str, link_id: str, secret: bytes, album_id: str, ak: bytes, uploader: str) -> None:
    """A visitor of the link adds a photo, with the name they gave sealed in its metadata."""
    client = Live(url)
    answer = unlock(client, link_id, secret)
    assert answer.status_code == 200, answer.get_json()
    headers = bearer(answer.get_json()["access_token"])
    file_id, fk = crypto.new_id(), crypto.random_key()
    kinds = ("thumb", "preview", "original")
    blobs = {kind: crypto.encrypt_blob_bytes(fk, file_id, kind, f"{kind} of marie.jpg".encode()) for kind in kinds}
    meta = {"v": 1, "name": "marie.jpg", "size": len(blobs["original"]), "uploader": uploader}
    body = {
        "file_id": file_id,
        "wrapped_key": crypto.b64e(crypto.wrap_file_key(ak, fk, album_id, file_id)),
        "meta": crypto.b64e(crypto.seal_file_meta(fk, album_id, file_id, meta)),
        "blobs": {kind: len(blob) for kind, blob in blobs.items()},
    }
    base = f"/api/links/{link_id}/files"
    assert client.post(base, json=body, headers=headers).status_code == 201
    for kind, blob in blobs.items():
        assert client.open(f"{base}/{file_id}/blobs/{kind}", "PUT", data=blob, headers=headers).status_code == 200
    assert client.post(f"{base}/{file_id}/complete", headers=headers).status_code == 200


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("activity-app") / "data"
    with servers.gunicorn(data, env={"FRAGMENT_SIGNUP": "open"}) as url:
        yield {"url": url, "data_dir": data}


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator(".album-card").first.wait_for(timeout=TIMEOUT)


def test_the_owner_reads_the_activity_clears_a_badge_and_turns_the_digest_on(browser, server, network):
    url = server["url"]
    olga, vic = live_person(url, "olga@example.org"), live_person(url, "vic@example.org")
    album_id, ak = olga.as_owner().album(TITLE)
    olga.as_owner().album("Quiet")  # nothing happens in it: no badge
    link_id, secret = olga.as_owner().link(album_id, ak, uploads=True)
    guest_upload(url, link_id, secret, album_id, ak, "Marie")
    assert share(olga, album_id, ak, vic, "collaborator").status_code == 201
    for name in ("boat.jpg", "pier.jpg"):
        vic.as_owner().add_file(album_id, ak, b"vic's " + name.encode(), name)
    _, answer = member_writer(vic, album_id, ak).comment("What a sunset")
    assert answer.status_code == 201

    console: list[str] = []
    page = watched(context(browser, server, network), console)
    sign_in(page, olga.email)

    # The album card counts what the others did; the quiet album has no badge; the nav has the total.
    card = page.locator(".album-card").filter(has_text=TITLE)
    badge = card.locator("[data-slot=unread]")
    badge.wait_for(timeout=TIMEOUT)
    assert badge.inner_text() == "5 new"  # Marie's photo, Vic's join, his two photos and his comment
    assert badge.get_attribute("aria-label") == "5 new events since you last opened it"
    assert page.locator(".album-card").filter(has_text="Quiet").locator("[data-slot=unread]").is_hidden()
    nav = page.get_by_role("link", name="Activity, 5 new")
    assert nav.inner_text().split() == ["Activity", "5", "new"]

    # The activity page, from the navigation: each entry in words, names opened in the browser.
    nav.click()
    rows = page.locator("#activity .activity-row")
    rows.nth(3).wait_for(timeout=TIMEOUT)
    texts = [rows.nth(i).locator("[data-slot=text]").inner_text() for i in range(rows.count())]
    assert texts == [
        "vic@example.org commented: “What a sunset”",
        "vic@example.org added 2 photos.",
        "vic@example.org joined, added by you.",
        "A guest, Marie, added a photo through a link.",
    ]
    first = rows.first.locator("[data-slot=album]")
    assert first.inner_text() == TITLE and first.get_attribute("href") == f"/app/albums/{album_id}"
    assert page.locator("#activity [data-action=more]").is_hidden()  # one page holds it all
    links = page.locator("#activity [data-slot=links] li")
    links.first.wait_for(timeout=TIMEOUT)
    assert links.first.inner_text().startswith(f"A link without a label in {TITLE}: opened 1 time · last ")

    # Opening the album clears its badge; back on the albums page it is gone.
    page.goto("/app")
    card.wait_for(timeout=TIMEOUT)
    with page.expect_response(lambda r: r.url.endswith(f"/api/owner/albums/{album_id}/seen")) as seen:
        card.locator("[data-slot=link]").click()
    assert seen.value.status == 200 and seen.value.json()["unread"] == 0
    page.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    page.go_back()
    card.wait_for(timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelectorAll('.album-card').length === 2", timeout=TIMEOUT)
    assert badge.is_hidden()
    page.get_by_role("link", name="Activity", exact=True).wait_for(timeout=TIMEOUT)

    # The digest setting: off at first, saved when ticked, still ticked after a reload.
    page.goto("/app/account")
    box = page.get_by_label("E-mail me a summary of new activity")
    box.wait_for(timeout=TIMEOUT)
    assert not box.is_checked()
    box.check()
    page.locator("#account [data-slot=digest-status]").filter(has_text="Saved").or_(
        page.locator("#account [data-slot=digest-status]").filter(has_text="no mail set up")
    ).wait_for(timeout=TIMEOUT)
    assert olga.call("GET", "/api/owner/activity/digest").get_json()["enabled"] is True
    page.reload()
    box.wait_for(timeout=TIMEOUT)
    page.wait_for_function("() => !document.querySelector('#account').hidden", timeout=TIMEOUT)
    assert box.is_checked()

    # A comment altered on the server no longer verifies: its entry says so in one line, the rest still reads.
    connection = sqlite3.connect(Path(server["data_dir"]) / "fragment.db")
    with connection:
        (sealed,) = connection.execute("SELECT sealed FROM notes WHERE album_id = ?", (album_id,)).fetchone()
        altered = bytes([sealed[0] ^ 1]) + bytes(sealed[1:])
        connection.execute("UPDATE notes SET sealed = ? WHERE album_id = ?", (altered, album_id))
    connection.close()
    page.goto("/app/activity")
    rows.nth(3).wait_for(timeout=TIMEOUT)
    assert rows.first.locator("[data-slot=text]").inner_text() == (
        "vic@example.org wrote a comment or reaction that could not be verified, so it is not shown."
    )
    assert rows.nth(1).locator("[data-slot=text]").inner_text() == "vic@example.org added 2 photos."

    assert not console, console
    for value in (ak, crypto.b64e(ak), secret, crypto.b64e(olga.made.master_key), olga.made.master_key):
        network.assert_never_sent(value)
