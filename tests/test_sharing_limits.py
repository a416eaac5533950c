"""Limits on sharing, so that an account cannot be used for mass mail or to probe which addresses have
accounts, and an album cannot grow past what its owner's page can handle (issue 13, "Quotas and abuse").

Each limit is one conditional transition in the database: invitations and lookups are counted by
``policy.take_allowance`` (``UPDATE ... WHERE uses < limit``), and people are added to an album only in
a transaction that holds its row (``epochs.hold``), so threads against gunicorn can never get past
them, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os

import pytest

from tests.test_sharing_api import invitation_body, person, share
from tests.test_sharing_races import Person, member_key
from tests.test_upload_races import at_once, running
from viewer import crypto

pytestmark = pytest.mark.settings(SIGNUP="open")

LIMIT = 3
THREADS = 8
ROUNDS = 4


@pytest.fixture
def people(app):
    return person(app, "olga@example.org"), person(app, "vic@example.org"), person(app, "cleo@example.org")


@pytest.mark.settings(SHARE_INVITATIONS_PER_DAY=2)
def test_invitations_per_day_run_out_with_a_wait_and_a_refused_one_costs_nothing(app, people):
    olga, vic, _cleo = people
    album_id, ak = olga.as_owner().album("Wedding")
    # Refused for another reason (the address has an account): not counted.
    refused, _ = invitation_body(album_id, ak, vic.email)
    assert olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=refused).status_code == 409
    for n in range(2):
        body, _ = invitation_body(album_id, ak, f"new{n}@example.org")
        assert olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=body).status_code == 201
    body, _ = invitation_body(album_id, ak, "one.more@example.org")
    answer = olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=body)
    assert answer.status_code == 429
    wait = int(answer.headers["Retry-After"])
    assert 0 < wait <= 86400
    message = answer.get_json()["message"]
    assert message.startswith("You have sent 2 invitations today, the most allowed. Try again in ")
    # Another account has its own allowance.
    vic_album, vic_ak = vic.as_owner().album("Vic's")
    body, _ = invitation_body(vic_album, vic_ak, "one.more@example.org")
    assert vic.call("POST", f"/api/owner/albums/{vic_album}/invitations", json=body).status_code == 201


@pytest.mark.settings(PEOPLE_LOOKUPS_PER_HOUR=2)
def test_looking_people_up_is_limited_per_account(app, people):
    olga, vic, cleo = people
    assert olga.call("GET", f"/api/owner/people?email={vic.email}").status_code == 200
    assert olga.call("GET", "/api/owner/people?email=nobody@example.org").status_code == 404
    answer = olga.call("GET", f"/api/owner/people?email={cleo.email}")
    assert answer.status_code == 429 and "Retry-After" in answer.headers
    assert answer.get_json()["message"].startswith("You have looked up 2 addresses in the last hour, the most allowed.")
    assert vic.call("GET", f"/api/owner/people?email={cleo.email}").status_code == 200


@pytest.mark.settings(ALBUM_PEOPLE_MAX=2)
def test_an_album_shared_with_the_most_people_refuses_one_more_until_someone_leaves(app, people):
    olga, vic, cleo = people
    album_id, ak = olga.as_owner().album("Small")
    assert share(olga, album_id, ak, vic, "viewer").status_code == 201
    body, _ = invitation_body(album_id, ak, "new@example.org")
    assert olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=body).status_code == 201
    full = share(olga, album_id, ak, cleo, "viewer")
    assert full.status_code == 409 and full.get_json()["error"] == "album_full"
    assert full.get_json()["message"] == (
        "This album is shared with 2 people already, the most it can be: remove someone or cancel an invitation first."
    )
    more, _ = invitation_body(album_id, ak, "more@example.org")
    assert olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=more).get_json()["error"] == "album_full"
    assert olga.call("DELETE", f"/api/owner/albums/{album_id}/invitations/{body['invite_id']}").status_code == 200
    assert share(olga, album_id, ak, cleo, "viewer").status_code == 201


# --- under real concurrency ---------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def limited(request, tmp_path_factory):
    env = {"FRAGMENT_SIGNUP": "open", "FRAGMENT_ALBUM_PEOPLE_MAX": str(LIMIT), "FRAGMENT_SHARE_INVITATIONS_PER_DAY": str(LIMIT)}
    with running(request, tmp_path_factory, env, database="sharing_limits") as (url, *_rest):
        yield url


def _album(owner: Person) -> tuple[str, bytes]:
    album_id, ak = crypto.new_id(), crypto.random_key()
    body = {
        "album_id": album_id,
        "meta": crypto.b64e(crypto.seal_album_meta(ak, album_id, {"v": 1, "title": "limits"})),
        "owner_key": crypto.b64e(crypto.seal_owner_album_key(owner.made.master_key, ak, album_id)),
    }
    assert owner.call("POST", "/api/owner/albums", json=body).status_code == 201
    return album_id, ak


@pytest.mark.slow
def test_people_added_at_once_never_pass_the_albums_limit(limited):
    members = [Person(limited, f"member{i}@example.org") for i in range(THREADS)]
    for round_ in range(ROUNDS):
        owner = Person(limited, f"owner{round_}@example.org")
        album_id, ak = _album(owner)

        def add(member: Person, owner=owner, album_id=album_id, ak=ak):
            body = {"account_id": member.id, "role": "viewer", "sealed_key": member_key(ak, album_id, member), "key_epoch": 0}
            return lambda: owner.call("POST", f"/api/owner/albums/{album_id}/members", json=body)

        answers = at_once(*(add(p) for p in members))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] * LIMIT + [409] * (THREADS - LIMIT), f"round {round_}: {statuses}"
        assert {a.json()["error"] for a in answers if a.status_code == 409} == {"album_full"}
        listed = owner.call("GET", f"/api/owner/albums/{album_id}/members").json()
        assert len(listed["members"]) == LIMIT


@pytest.mark.slow
def test_invitations_sent_at_once_never_pass_the_daily_allowance(limited):
    for round_ in range(ROUNDS):
        owner = Person(limited, f"inviter{round_}@example.org")
        owner_pk = owner.made.identity.box_public_key
        # One album per invitation, so that only the allowance (not the album's limit) can refuse.
        albums = [_album(owner) for _ in range(THREADS)]

        def send(n: int, owner=owner, owner_pk=owner_pk, albums=albums, round_=round_):
            album_id, ak = albums[n]
            invite_id, secret = crypto.new_id(), os.urandom(32)
            keys = crypto.invitation_keys(secret)
            body = {
                "invite_id": invite_id,
                "email": f"guest{round_}-{n}@example.org",
                "role": "viewer",
                "sealed_key": crypto.b64e(crypto.seal_invitation_album_key(keys.invite_key, ak, invite_id, album_id)),
                "claim_key": crypto.b64e(keys.claim_key),
                "owner_secret": crypto.b64e(crypto.seal_owner_invite_secret(secret, invite_id, owner_pk)),
                "key_epoch": 0,
            }
            return lambda: owner.call("POST", f"/api/owner/albums/{album_id}/invitations", json=body)

        answers = at_once(*(send(n) for n in range(THREADS)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] * LIMIT + [429] * (THREADS - LIMIT), f"round {round_}: {statuses}"
        assert all(int(a.headers["Retry-After"]) > 0 for a in answers if a.status_code == 429)
        made = sum(len(owner.call("GET", f"/api/owner/albums/{a}/members").json().get("invitations", [])) for a, _ in albums)
        assert made == LIMIT
