"""Joining a shared album from a public link (issue 13, "Join from a public link"), through the API.

A signed-in visitor of a link adds its album to their "Shared with me": their client seals the
album key (which the link gave it) to their own public key, and the server stores that sealed copy
with the role. It needs both the link's access token and the session with its CSRF token.
"""

from __future__ import annotations

import pytest

from tests.support.api_helpers import unlock
from tests.test_sharing_api import Person, files_of, person
from viewer import crypto
from viewer.server import auth, db

pytestmark = pytest.mark.settings(SIGNUP="open")


def token_of(who: Person, link_id: str, secret: bytes) -> str:
    answer = unlock(who.client, link_id, secret)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["access_token"]


def join_body(who: Person, album_id: str, ak: bytes, role: str = "viewer", epoch: int = 0) -> dict:
    """What the visitor's client sends: the album key sealed to the visitor's own (verified) box key."""
    sealed = crypto.seal_member_album_key(ak, album_id, who.made.identity.box_public_key)
    return {"role": role, "sealed_key": crypto.b64e(sealed), "key_epoch": epoch}


def join(who: Person, link_id: str, token: str | None, body: dict, *, csrf: bool = True):
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if csrf:
        headers[auth.CSRF_HEADER] = who.csrf
    return who.client.post(f"/api/links/{link_id}/join", json=body, headers=headers)


@pytest.fixture
def two(app):
    return person(app, "olga@example.org"), person(app, "vic@example.org")


def test_a_visitor_joins_as_a_viewer_and_opens_the_album_with_their_own_key(app, two):
    olga, vic = two
    mine = olga.as_owner()
    album_id, ak = mine.album("Summer")
    photo = mine.add_file(album_id, ak, b"olga's photo", "olga.jpg")
    link_id, secret = mine.link(album_id, ak)
    token = token_of(vic, link_id, secret)

    joined = join(vic, link_id, token, join_body(vic, album_id, ak))
    assert joined.status_code == 201, joined.get_json()
    album = joined.get_json()
    assert album["album_id"] == album_id and album["role"] == "viewer" and album["owner_key"] is None
    assert album["member_key_epoch"] == 0

    (shared,) = vic.call("GET", "/api/owner/shared").get_json()["albums"]
    assert shared["owner"]["email"] == "olga@example.org" and shared["role"] == "viewer"
    assert vic.album_key(shared) == ak
    assert crypto.open_album_meta(ak, album_id, crypto.b64d(shared["meta"]))["title"] == "Summer"
    (entry,) = files_of(vic, album_id)
    fk = crypto.unwrap_file_key(ak, crypto.b64d(entry["wrapped_key"]), album_id, photo)
    blob = vic.call("GET", f"/api/owner/albums/{album_id}/files/{photo}/blobs/original").data
    assert crypto.decrypt_blob_bytes(fk, photo, "original", blob) == b"olga's photo"
    # A viewer from a link is a viewer like any other: adding is refused.
    body, _blobs = vic.as_owner().file_payload(album_id, ak, b"vic's photo")
    assert vic.call("POST", f"/api/owner/albums/{album_id}/files", json=body).status_code == 403
    # The owner sees them among the people, added by nobody (they came through a link).
    members = olga.call("GET", f"/api/owner/albums/{album_id}/members").get_json()["members"]
    assert [(m["email"], m["role"]) for m in members] == [("vic@example.org", "viewer")]
    with app.app_context():
        row = db.session().get_one(db.AlbumMember, (album_id, vic.id))
        assert row.added_by is None and row.role == "viewer" and row.key_epoch == 0


def test_a_visitor_joins_as_a_collaborator_where_the_link_allows_uploads(app, two):
    olga, vic = two
    mine = olga.as_owner()
    album_id, ak = mine.album()
    link_id, secret = mine.link(album_id, ak, uploads=True)
    joined = join(vic, link_id, token_of(vic, link_id, secret), join_body(vic, album_id, ak, "collaborator"))
    assert joined.status_code == 201, joined.get_json()
    assert joined.get_json()["role"] == "collaborator"
    added = vic.as_owner().add_file(album_id, ak, b"vic's photo", "vic.jpg")
    by = {f["file_id"]: f["added_by"] for f in files_of(olga, album_id)}
    assert by[added]["email"] == "vic@example.org"


def test_refusals(app, two):
    olga, vic = two
    mine = olga.as_owner()
    album_id, ak = mine.album()
    link_id, secret = mine.link(album_id, ak)
    token = token_of(vic, link_id, secret)
    body = join_body(vic, album_id, ak)

    # No session: the link's token alone adds the album to nobody's account.
    stranger = app.test_client()
    signed_out = stranger.post(f"/api/links/{link_id}/join", json=body, headers={"Authorization": f"Bearer {token}"})
    assert signed_out.status_code == 401 and signed_out.get_json()["error"] == "signed_out"
    # No access token: a session alone gets no album from a link id.
    no_token = join(vic, link_id, None, body)
    assert no_token.status_code == 401
    assert no_token.get_json()["message"] == "Unlock the link first: this needs an access token."
    # The session without its CSRF token: another site's page cannot join for the visitor.
    no_csrf = join(vic, link_id, token, body, csrf=False)
    assert no_csrf.status_code == 403 and no_csrf.get_json()["error"] == "csrf"
    # A collaborator where the link does not allow uploads.
    collab = join(vic, link_id, token, join_body(vic, album_id, ak, "collaborator"))
    assert collab.status_code == 403
    assert collab.get_json()["message"] == ("This link does not allow adding photos, so you can join the album only as a viewer.")
    admin = join(vic, link_id, token, {**body, "role": "admin"})
    assert admin.status_code == 400
    # The owner has the album already.
    own = join(olga, link_id, token_of(olga, link_id, secret), join_body(olga, album_id, ak))
    assert own.status_code == 409 and own.get_json()["message"] == "You have this album already."
    # Twice.
    assert join(vic, link_id, token, body).status_code == 201
    again = join(vic, link_id, token, body)
    assert again.status_code == 409 and again.get_json()["message"] == "You have this album already."
    assert again.get_json()["album_id"] == album_id  # the page links to it
    with app.app_context():
        assert db.session().query(db.AlbumMember).count() == 1


def test_an_upload_only_link_cannot_join(app, two):
    olga, vic = two
    mine = olga.as_owner()
    album_id, ak = mine.album()
    link_id, secret = mine.link(album_id, ak, uploads=True, upload_only=True)
    token = token_of(vic, link_id, secret)
    for role in ("viewer", "collaborator"):
        refused = join(vic, link_id, token, join_body(vic, album_id, ak, role))
        assert refused.status_code == 403 and refused.get_json()["error"] == "upload_only"
    assert vic.call("GET", "/api/owner/shared").get_json()["albums"] == []


def test_a_copy_sealed_under_an_older_album_key_is_refused(app, two):
    olga, vic = two
    mine = olga.as_owner()
    album_id, ak = mine.album("Trip")
    link_id, secret = mine.link(album_id, ak)
    new_ak = crypto.random_key()
    rekey = {
        "from_epoch": 0,
        "chain": crypto.b64e(crypto.seal_album_key_chain(new_ak, ak, album_id, 1)),
        "meta": crypto.b64e(crypto.seal_album_meta(new_ak, album_id, {"v": 1, "title": "Trip"})),
        "owner_key": crypto.b64e(crypto.seal_owner_album_key(olga.made.master_key, new_ak, album_id)),
        "members": {},
        "invitations": {},
        "links": {link_id: crypto.b64e(crypto.wrap_album_key(crypto.link_keys(secret).wrap_key, new_ak, link_id))},
    }
    assert olga.call("POST", f"/api/owner/albums/{album_id}/rekey", json=rekey).status_code == 200
    # A page opened before the new key still holds the old one (epoch 0), even with a fresh token.
    stale = join(vic, link_id, token_of(vic, link_id, secret), join_body(vic, album_id, ak, epoch=0))
    assert stale.status_code == 409 and stale.get_json()["error"] == "stale_key"
    assert vic.call("GET", "/api/owner/shared").get_json()["albums"] == []
    fresh = join(vic, link_id, token_of(vic, link_id, secret), join_body(vic, album_id, new_ak, epoch=1))
    assert fresh.status_code == 201 and fresh.get_json()["key_epoch"] == 1
    (shared,) = vic.call("GET", "/api/owner/shared").get_json()["albums"]
    assert vic.album_key(shared) == new_ak
