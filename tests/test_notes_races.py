"""Comments and reactions under real concurrency (issue 14): threads against gunicorn, on SQLite and PostgreSQL.

- Many visitors posting through one link at once get exactly its `notes_per_hour` new notes, the rest
  429 (one conditional UPDATE on the link's counter, viewer/server/policy.py take_allowance).
- Many edits of one note to version 2 at once: exactly one wins (one conditional UPDATE on version 1).
"""

from __future__ import annotations

import os

import pytest
import requests

from tests.support.api_helpers import unlock_live
from tests.test_sharing_races import Person
from tests.test_upload_races import at_once, running
from viewer import crypto

pytestmark = pytest.mark.slow

THREADS = 12
PER_HOUR = 5
NOTE = {"kind": "comment", "on": None, "reply_to": None, "text": "at once", "name": None, "at": 1}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    with running(request, tmp_path_factory, {"FRAGMENT_SIGNUP": "open"}, database="notes_races") as started:
        url = started[0]
        yield url, Person(url, "owner@example.org")


def new_album(owner: Person) -> tuple[str, bytes]:
    album_id, ak = crypto.new_id(), crypto.random_key()
    body = {
        "album_id": album_id,
        "meta": crypto.b64e(crypto.seal_album_meta(ak, album_id, {"v": 1, "title": "races"})),
        "owner_key": crypto.b64e(crypto.seal_owner_album_key(owner.made.master_key, ak, album_id)),
    }
    assert owner.call("POST", "/api/owner/albums", json=body).status_code == 201
    return album_id, ak


def note_body(ak: bytes, album_id: str, note_id: str, version: int, pk: bytes, sk: bytes, text: str) -> dict:
    sealed, signature = crypto.seal_note(ak, album_id, note_id, 0, version, pk, sk, {**NOTE, "text": text})
    return {
        "note_id": note_id,
        "epoch": 0,
        "version": version,
        "sealed": crypto.b64e(sealed),
        "signature": crypto.b64e(signature),
        "guest_pk": crypto.b64e(pk),
    }


def test_visitors_posting_at_once_get_exactly_the_links_hourly_notes(server):
    url, owner = server
    album_id, ak = new_album(owner)
    link_id, keys = crypto.new_id(), crypto.link_keys(os.urandom(32))
    body = {
        "link_id": link_id,
        "wrapped_album_key": crypto.b64e(crypto.wrap_album_key(keys.wrap_key, ak, link_id)),
        "verifier": crypto.b64e(keys.verifier),
        "link_verifier": crypto.b64e(keys.link_verifier),
        "owner_secret": crypto.b64e(crypto.seal_owner_link_secret(owner.made.master_key, os.urandom(32), link_id)),
        "comments": "on",
        "notes_per_hour": PER_HOUR,
    }
    made = owner.call("POST", f"/api/owner/albums/{album_id}/links", json=body)
    assert made.status_code == 201, made.text
    token = unlock_live(url, link_id, keys).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def visitor(n: int):
        pk, sk = crypto.guest_note_keys(os.urandom(32))
        payload = note_body(ak, album_id, crypto.new_id(), 1, pk, sk, f"visitor {n}")
        return lambda: requests.post(f"{url}/api/links/{link_id}/notes", json=payload, headers=headers, timeout=60)

    answers = at_once(*(visitor(n) for n in range(THREADS)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * PER_HOUR + [429] * (THREADS - PER_HOUR), statuses
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["message"].startswith(
        f"This link's visitors have written {PER_HOUR} comments and reactions in the last hour, the most allowed. Try again in"
    )
    listed = requests.get(f"{url}/api/links/{link_id}/notes", headers=headers, timeout=60).json()["notes"]
    assert len(listed) == PER_HOUR


def test_edits_of_one_note_at_once_exactly_one_wins(server):
    url, owner = server
    album_id, ak = new_album(owner)
    identity = owner.made.identity
    pk, sk = identity.sign_public_key, identity.sign_secret_key
    note_id = crypto.new_id()
    base = f"/api/owner/albums/{album_id}/notes"
    first = note_body(ak, album_id, note_id, 1, pk, sk, "first")
    del first["guest_pk"]
    assert owner.call("POST", base, json=first).status_code == 201

    def editor(n: int):
        payload = note_body(ak, album_id, note_id, 2, pk, sk, f"edit {n}")
        del payload["guest_pk"], payload["note_id"]
        # One session per thread (requests.Session is not made for threads), signed in as the owner.
        http = requests.Session()
        http.cookies.update(owner.http.cookies)
        http.headers.update(owner.http.headers)
        return lambda: http.put(f"{url}{base}/{note_id}", json=payload, timeout=60)

    answers = at_once(*(editor(n) for n in range(THREADS)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [409] * (THREADS - 1), statuses
    winner = next(answer for answer in answers if answer.status_code == 200).json()
    (listed,) = owner.call("GET", base).json()["notes"]
    assert listed["version"] == 2 and listed["sealed"] == winner["sealed"]
    opened = crypto.open_note(ak, album_id, note_id, 0, 2, pk, crypto.b64d(listed["sealed"]), crypto.b64d(listed["signature"]))
    assert opened["text"].startswith("edit ")
