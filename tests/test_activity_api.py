"""Activity (issue 14) through the API, on SQLite and PostgreSQL: the feed, unread counts and "seen up to".

Olga owns an album; a guest uploads through a link, Vic is added as a collaborator and uploads,
a comment is written, Vic leaves. Each shows in Olga's feed, newest first, paged by a cursor; a
member sees only what came after they joined; marking seen only moves forward.
"""

from __future__ import annotations

import pytest

from tests.support.api_helpers import bearer, unlock
from tests.test_notes_api import member_writer
from tests.test_sharing_api import person, share

pytestmark = pytest.mark.settings(SIGNUP="open")


def guest_upload(app, owner, link_id, secret, album_id, ak, name="guest.jpg") -> str:
    client = app.test_client()
    token = unlock(client, link_id, secret).get_json()["access_token"]
    headers = bearer(token)
    body, blobs = owner.file_payload(album_id, ak, b"guest photo", name)
    base = f"/api/links/{link_id}/files"
    assert client.post(base, json=body, headers=headers).status_code == 201
    for kind, blob in blobs.items():
        assert client.put(f"{base}/{body['file_id']}/blobs/{kind}", data=blob, headers=headers).status_code == 200
    assert client.post(f"{base}/{body['file_id']}/complete", headers=headers).status_code == 200
    return body["file_id"]


def feed(who, path="/api/owner/activity", **query):
    answer = who.call("GET", path, query_string=query)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_uploads_notes_joins_and_leaves_show_newest_first_and_members_see_only_after_joining(app):
    olga, vic = person(app, "olga@example.org"), person(app, "vic@example.org")
    album_id, ak = olga.as_owner().album("Harbour")
    early = olga.as_owner().add_file(album_id, ak, b"before vic", "early.jpg")
    link_id, secret = olga.as_owner().link(album_id, ak, uploads=True, comments="on")
    guest = guest_upload(app, olga.as_owner(), link_id, secret, album_id, ak)
    assert share(olga, album_id, ak, vic, "collaborator").status_code == 201
    vics = vic.as_owner().add_file(album_id, ak, b"vic's photo", "vic.jpg")
    note_id, answer = member_writer(vic, album_id, ak).comment("hello")
    assert answer.status_code == 201

    entries = feed(olga)["activity"]
    kinds = [
        (e["kind"], (e.get("file") or e.get("note") or {}).get("file_id") or (e.get("note") or {}).get("note_id"))
        for e in entries
    ]
    assert kinds == [("note", note_id), ("file", vics), ("joined", None), ("file", guest), ("file", early)]
    assert entries[3]["actor"] == {"kind": "guest", "link_id": link_id}
    assert entries[1]["actor"]["email"] == "vic@example.org" and entries[2]["added_by"]["email"] == "olga@example.org"
    assert entries[0]["note"]["sealed"]  # the client opens it to say "commented" or "reacted"

    # Vic sees his join and what came after, not Olga's earlier photo nor the guest's.
    seen_by_vic = [e["kind"] for e in feed(vic)["activity"]]
    assert seen_by_vic == ["note", "file", "joined"]

    # Paged: two at a time, by the cursor, to the end.
    first = feed(olga, limit="2")
    second = feed(olga, limit="2", before=first["next"])
    third = feed(olga, limit="2", before=second["next"])
    assert [e["seq"] for e in first["activity"] + second["activity"] + third["activity"]] == [e["seq"] for e in entries]
    assert third["next"] is None

    # Unread: Olga has not opened the album; her own uploads are not news to her.
    (listed,) = olga.call("GET", "/api/owner/albums").get_json()["albums"]
    assert listed["unread"] == 4  # the guest's photo, Vic's join, photo and comment
    # Seen up to an older event: what came after it is still unread; a malformed marker is refused.
    cut = int(entries[1]["seq"])
    partial = olga.call("POST", f"/api/owner/albums/{album_id}/seen", json={"up_to": cut})
    assert partial.status_code == 200 and partial.get_json()["seen"] == str(cut)
    assert partial.get_json()["unread"] == sum(1 for e in entries if int(e["seq"]) > cut and not e["mine"]) == 1
    for bad in ({"up_to": "soon"}, {"up_to": -1}, [1]):
        refused = olga.call("POST", f"/api/owner/albums/{album_id}/seen", json=bad)
        assert refused.status_code == 400 and refused.get_json()["message"]
    seen = olga.call("POST", f"/api/owner/albums/{album_id}/seen", json={})
    assert seen.status_code == 200 and seen.get_json()["unread"] == 0
    back = olga.call("POST", f"/api/owner/albums/{album_id}/seen", json={"up_to": 1})
    assert back.get_json()["seen"] == seen.get_json()["seen"]  # never moves back
    assert olga.call("GET", "/api/owner/activity/unread").get_json() == {"albums": {}, "total": 0}

    # Vic leaves: Olga sees it; Vic sees nothing of the album any more.
    assert vic.call("DELETE", f"/api/owner/albums/{album_id}/members/{vic.id}").status_code == 200
    assert feed(olga)["activity"][0]["kind"] == "left"
    assert feed(vic)["activity"] == []
    assert olga.call("GET", "/api/owner/activity/unread").get_json()["total"] == 1

    # The link's opens: the guest's unlock counted.
    links = feed(olga, f"/api/owner/albums/{album_id}/activity")["links"]
    assert links[0]["link_id"] == link_id and links[0]["opens"] == 1 and links[0]["last_opened_at"]


@pytest.mark.parametrize("cursor", ["abc", "-1", "0", "1.5", "99999999999", " 1"])
def test_a_bad_cursor_is_refused_with_a_sentence(app, cursor):
    olga = person(app, "olga@example.org")
    answer = olga.call("GET", "/api/owner/activity", query_string={"before": cursor})
    assert answer.status_code == 400 and answer.get_json()["error"] == "bad_cursor"
    assert olga.call("GET", "/api/owner/activity", query_string={"limit": "0"}).status_code == 400


def test_an_album_deleted_takes_its_activity_with_it(app):
    olga, vic = person(app, "olga@example.org"), person(app, "vic@example.org")
    album_id, ak = olga.as_owner().album("Gone")
    assert share(olga, album_id, ak, vic, "viewer").status_code == 201
    assert olga.call("DELETE", f"/api/owner/albums/{album_id}").status_code == 200
    from sqlalchemy import func, select

    from viewer.server import db

    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(db.Activity)) == 0
