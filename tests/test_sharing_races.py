"""Sharing under real concurrency: threads against gunicorn, on SQLite + a folder and PostgreSQL + S3
(issue 13; viewer/server/epochs.py: everything sealed under the album key is accepted only in a
transaction that took the album row at that key's epoch).

- An invitation accepted by many people at once is taken exactly once.
- Files added while the owner gives the album a new key are either added before it (under the old
  key, which the removed person had) or refused as stale, never added after it under the old key.
- People added while the new key is made make it retry; nobody ends up without a copy of the new key.
"""

from __future__ import annotations

import os
import threading

import pytest
import requests

from tests.test_accounts import signup_body
from tests.test_upload_races import Server, at_once, running
from viewer import crypto

pytestmark = pytest.mark.slow

ROUNDS = 6
THREADS = 10
PASSWORD = "a password for races"


class Person:
    """A signed-in account over HTTP (its own cookie and CSRF token)."""

    def __init__(self, url: str, email: str):
        body, self.made = signup_body(email, PASSWORD)
        self.http = requests.Session()
        answer = self.http.post(f"{url}/api/account/signup", json=body)
        assert answer.status_code == 201, answer.text
        self.http.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        self.url, self.email, self.id = url, email, self.made.account_id

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, f"{self.url}{path}", **kwargs)


class SharingServer(Server):
    def __init__(self, url, data_dir, env, database_url, s3):
        self.url, self.data_dir, self.env, self.database_url, self.s3 = url, data_dir, env, database_url, s3
        self.owner = Person(url, "owner@example.org")
        self.people = [Person(url, f"p{i}@example.org") for i in range(THREADS)]

    def new_album(self) -> tuple[str, bytes]:
        album_id, ak = crypto.new_id(), crypto.random_key()
        body = {
            "album_id": album_id,
            "meta": crypto.b64e(crypto.seal_album_meta(ak, album_id, {"v": 1, "title": "races"})),
            "owner_key": crypto.b64e(crypto.seal_owner_album_key(self.owner.made.master_key, ak, album_id)),
        }
        assert self.owner.call("POST", "/api/owner/albums", json=body).status_code == 201
        return album_id, ak


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    with running(request, tmp_path_factory, {"FRAGMENT_SIGNUP": "open"}, database="sharing_races") as started:
        yield SharingServer(*started)


def member_key(ak: bytes, album_id: str, person: Person) -> str:
    return crypto.b64e(crypto.seal_member_album_key(ak, album_id, person.made.identity.box_public_key))


def test_an_invitation_accepted_by_many_at_once_is_taken_once(server):
    for round_ in range(ROUNDS):
        _invitation_round(server, round_)


def _invitation_round(server: SharingServer, round_: int) -> None:
    owner_pk = server.owner.made.identity.box_public_key
    album_id, ak = server.new_album()
    invite_id, secret = crypto.new_id(), os.urandom(32)
    keys = crypto.invitation_keys(secret)
    body = {
        "invite_id": invite_id,
        "email": f"new{round_}@example.org",
        "role": "viewer",
        "sealed_key": crypto.b64e(crypto.seal_invitation_album_key(keys.invite_key, ak, invite_id, album_id)),
        "claim_key": crypto.b64e(keys.claim_key),
        "owner_secret": crypto.b64e(crypto.seal_owner_invite_secret(secret, invite_id, owner_pk)),
        "key_epoch": 0,
    }
    assert server.owner.call("POST", f"/api/owner/albums/{album_id}/invitations", json=body).status_code == 201

    def take(person: Person):
        sealed = member_key(ak, album_id, person)
        claim = {"claim_key": crypto.b64e(keys.claim_key), "sealed_key": sealed}
        return lambda: person.call("POST", f"/api/owner/invitations/{invite_id}/accept", json=claim)

    answers = at_once(*(take(p) for p in server.people))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [410] * (THREADS - 1), f"round {round_}: {statuses}"
    assert {a.json()["error"] for a in answers if a.status_code == 410} == {"gone"}
    members = server.sql("SELECT account_id FROM album_members WHERE album_id = :a", a=album_id)
    winner = next(p for p, a in zip(server.people, answers, strict=True) if a.status_code == 201)
    assert members == [(winner.id,)]
    assert server.sql("SELECT COUNT(*) FROM share_invitations WHERE id = :i", i=invite_id) == [(0,)]


def reserve_body(album_id: str, ak: bytes, epoch: int) -> dict:
    file_id, fk = crypto.new_id(), crypto.random_key()
    return {
        "file_id": file_id,
        "wrapped_key": crypto.b64e(crypto.wrap_file_key(ak, fk, album_id, file_id)),
        "meta": crypto.b64e(crypto.seal_file_meta(fk, album_id, file_id, {"v": 1, "name": "x.jpg"})),
        "blobs": {"thumb": 100, "preview": 100, "original": 100},
        "key_epoch": epoch,
    }


def rekey_body(server: SharingServer, album_id: str, old: bytes, new: bytes, epoch: int, members: list[Person]) -> dict:
    return {
        "from_epoch": epoch,
        "chain": crypto.b64e(crypto.seal_album_key_chain(new, old, album_id, epoch + 1)),
        "meta": crypto.b64e(crypto.seal_album_meta(new, album_id, {"v": 1, "title": "races"})),
        "owner_key": crypto.b64e(crypto.seal_owner_album_key(server.owner.made.master_key, new, album_id)),
        "members": {p.id: member_key(new, album_id, p) for p in members},
    }


def test_files_added_while_the_album_gets_a_new_key_are_before_it_or_refused(server):
    for round_ in range(ROUNDS):
        _files_round(server, round_)


def _files_round(server: SharingServer, round_: int) -> None:
    album_id, ak = server.new_album()
    collaborators = server.people[: THREADS - 1]
    for person in collaborators:
        body = {
            "account_id": person.id,
            "role": "collaborator",
            "sealed_key": member_key(ak, album_id, person),
            "key_epoch": 0,
        }
        assert server.owner.call("POST", f"/api/owner/albums/{album_id}/members", json=body).status_code == 201
    new = crypto.random_key()
    stop = threading.Event()
    answers: list[tuple[int, int]] = []  # (epoch sent, status)

    def adder(person: Person):
        def run():
            while not stop.is_set():
                answer = person.call("POST", f"/api/owner/albums/{album_id}/files", json=reserve_body(album_id, ak, 0))
                answers.append((0, answer.status_code))
                if answer.status_code == 409:
                    assert answer.json()["error"] == "stale_key"
                    # Read the album again, as the page does after "reload": the new key, then add under it.
                    again = person.call("POST", f"/api/owner/albums/{album_id}/files", json=reserve_body(album_id, new, 1))
                    answers.append((1, again.status_code))
                    return

        return run

    def owner_rekeys():
        # Let the adders get going, then give the album its new key (no one removed: the race is with the files).
        threading.Event().wait(0.3)
        answer = server.owner.call(
            "POST", f"/api/owner/albums/{album_id}/rekey", json=rekey_body(server, album_id, ak, new, 0, collaborators)
        )
        threading.Event().wait(0.3)
        stop.set()
        return answer

    results = at_once(owner_rekeys, *(adder(p) for p in collaborators))
    assert results[0].status_code == 200, results[0].text
    assert all(status in (201, 409) for _epoch, status in answers), answers
    assert (1, 201) in answers, f"round {round_}: nobody added under the new key"
    rows = server.sql("SELECT seq, key_epoch FROM files WHERE album_id = :a ORDER BY seq", a=album_id)
    old_seqs = [seq for seq, epoch in rows if epoch == 0]
    new_seqs = [seq for seq, epoch in rows if epoch == 1]
    # Every file under the old key came before every file under the new one: none was let in after it.
    assert not old_seqs or not new_seqs or max(old_seqs) < min(new_seqs), f"round {round_}: {rows}"
    assert len(rows) == sum(1 for _e, status in answers if status == 201)


def test_people_added_while_the_new_key_is_made_are_never_left_without_it(server):
    for round_ in range(ROUNDS):
        _people_round(server, round_)


def _people_round(server: SharingServer, round_: int) -> None:
    album_id, ak = server.new_album()
    first, *others = server.people
    body = {"account_id": first.id, "role": "viewer", "sealed_key": member_key(ak, album_id, first), "key_epoch": 0}
    assert server.owner.call("POST", f"/api/owner/albums/{album_id}/members", json=body).status_code == 201
    new = crypto.random_key()

    def add(person: Person):
        body = {"account_id": person.id, "role": "viewer", "sealed_key": member_key(ak, album_id, person), "key_epoch": 0}
        return lambda: server.owner.call("POST", f"/api/owner/albums/{album_id}/members", json=body)

    rekey = rekey_body(server, album_id, ak, new, 0, [first])
    answers = at_once(
        lambda: server.owner.call("POST", f"/api/owner/albums/{album_id}/rekey", json=rekey), *(add(p) for p in others)
    )
    rekeyed = answers[0].status_code == 200
    assert answers[0].status_code in (200, 409), answers[0].text
    added = {p.id for p, a in zip(others, answers[1:], strict=True) if a.status_code == 201}
    if rekeyed:
        # Whoever was added first made the new key's set of copies wrong (409), so none was: or they came after it, refused.
        assert added == set(), f"round {round_}: added {added} yet the new key was saved without them"
        assert {a.json()["error"] for a in answers[1:]} == {"stale_key"}
    rows = dict(server.sql("SELECT account_id, key_epoch FROM album_members WHERE album_id = :a", a=album_id))
    epoch = server.sql("SELECT key_epoch FROM albums WHERE id = :a", a=album_id)[0][0]
    assert set(rows.values()) == {epoch}, f"round {round_}: {rows} at epoch {epoch}"  # every member has the current key
    assert set(rows) == {first.id} | added
