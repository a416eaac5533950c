"""Sharing albums with people (issue 13), through the API: roles, invitations, a new album key on removal.

Each client step uses the real format functions (viewer/crypto.py): the owner seals the album key to
the recipient's public key, the recipient opens it, and what each person can then do is what their
role allows, refused with a message otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.support import servers, smtp
from tests.support.api_helpers import Owner, unlock
from tests.test_accounts import signup_body
from viewer import crypto
from viewer.server import auth, db

pytestmark = pytest.mark.settings(SIGNUP="open")


@dataclass
class Person:
    """A signed-in account with its keys, talking through its own test client (its own cookie)."""

    client: FlaskClient
    made: crypto.NewAccount
    csrf: str
    email: str

    @property
    def id(self) -> str:
        return self.made.account_id

    def call(self, method: str, path: str, **kwargs):
        return self.client.open(path, method=method, headers={auth.CSRF_HEADER: self.csrf}, **kwargs)

    def as_owner(self) -> Owner:
        """The api_helpers Owner, signed in by this person's session instead of a token."""
        owner = Owner(self.client, "", master_key=self.made.master_key)
        owner.call = self.call  # type: ignore[method-assign]
        return owner

    def album_key(self, album: dict) -> bytes:
        """Open the album key of an album JSON as this person's client does."""
        if album["role"] == "owner":
            return crypto.open_owner_album_key(self.made.master_key, crypto.b64d(album["owner_key"]), album["album_id"])
        identity = self.made.identity
        return crypto.open_member_album_key(
            crypto.b64d(album["member_key"]), album["album_id"], identity.box_public_key, identity.box_secret_key
        )


def person(app, email: str) -> Person:
    client = app.test_client()
    body, made = signup_body(email)
    answer = client.post("/api/account/signup", json=body)
    assert answer.status_code == 201, answer.get_json()
    return Person(client, made, answer.get_json()["csrf_token"], email)


def share(owner: Person, album_id: str, ak: bytes, who: Person, role: str, epoch: int = 0):
    """Look the person up by address and seal the album key to the public key the server gives."""
    found = owner.call("GET", f"/api/owner/people?email={who.email}").get_json()
    assert found["account_id"] == who.id
    sealed = crypto.seal_member_album_key(ak, album_id, crypto.b64d(found["box_pk"]))
    body = {"account_id": who.id, "role": role, "sealed_key": crypto.b64e(sealed), "key_epoch": epoch}
    return owner.call("POST", f"/api/owner/albums/{album_id}/members", json=body)


@pytest.fixture
def people(app):
    return person(app, "olga@example.org"), person(app, "vic@example.org"), person(app, "cleo@example.org")


def files_of(who: Person, album_id: str) -> list[dict]:
    answer = who.call("GET", f"/api/owner/albums/{album_id}/files")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["files"]


def test_a_viewer_sees_and_cannot_add_and_a_collaborator_adds_under_their_name(app, people):
    olga, vic, cleo = people
    album_id, ak = olga.as_owner().album("Summer")
    first = olga.as_owner().add_file(album_id, ak, b"olga's photo", "olga.jpg")
    assert share(olga, album_id, ak, vic, "viewer").status_code == 201
    assert share(olga, album_id, ak, cleo, "collaborator").status_code == 201
    again = share(olga, album_id, ak, vic, "viewer")
    assert again.status_code == 409 and "has access to the album already" in again.get_json()["message"]

    (shared,) = vic.call("GET", "/api/owner/shared").get_json()["albums"]
    assert shared["role"] == "viewer" and shared["owner"]["email"] == "olga@example.org" and shared["owner_key"] is None
    assert vic.album_key(shared) == ak
    assert crypto.open_album_meta(ak, album_id, crypto.b64d(shared["meta"]))["title"] == "Summer"
    (entry,) = files_of(vic, album_id)
    fk = crypto.unwrap_file_key(ak, crypto.b64d(entry["wrapped_key"]), album_id, first)
    blob = vic.call("GET", f"/api/owner/albums/{album_id}/files/{first}/blobs/original").data
    assert crypto.decrypt_blob_bytes(fk, first, "original", blob) == b"olga's photo"

    # The viewer's attempt to add is refused by the server, whatever the client shows.
    body, _blobs = vic.as_owner().file_payload(album_id, ak, b"vic's photo")
    refused = vic.call("POST", f"/api/owner/albums/{album_id}/files", json=body)
    assert refused.status_code == 403
    assert refused.get_json()["message"] == "You are a viewer of this album: you cannot add photos to it."
    assert vic.call("DELETE", f"/api/owner/albums/{album_id}/files/{first}").status_code == 403
    assert vic.call("PATCH", f"/api/owner/albums/{album_id}", json={"meta": shared["meta"]}).status_code == 403
    links = vic.call("GET", f"/api/owner/albums/{album_id}/links")  # links are the owner's alone
    assert (
        links.status_code == 403
        and links.get_json()["message"] == "You are a viewer of this album: you cannot do this (only the album's owner can)."
    )

    added = [cleo.as_owner().add_file(album_id, ak, f"cleo {n}".encode(), f"cleo{n}.jpg") for n in range(3)]
    by = {f["file_id"]: f["added_by"] for f in files_of(olga, album_id)}
    assert by[first]["email"] == "olga@example.org"
    assert all(by[f] == {"account_id": cleo.id, "email": "cleo@example.org"} for f in added)
    assert {f["file_id"] for f in files_of(vic, album_id)} == {first, *added}
    # A collaborator removes their own photos only.
    own = cleo.call("DELETE", f"/api/owner/albums/{album_id}/files/{added[0]}")
    assert own.status_code == 200
    other = cleo.call("DELETE", f"/api/owner/albums/{album_id}/files/{first}")
    assert other.status_code == 403 and other.get_json()["message"] == "You can change only the photos you added to this album."
    # Their uploads count against the album owner's storage, like guests' uploads.
    with app.app_context():
        assert db.session().get_one(db.Account, cleo.id).bytes_used == 0
        assert db.session().get_one(db.Account, olga.id).bytes_used > 0

    members = olga.call("GET", f"/api/owner/albums/{album_id}/members").get_json()
    roles = sorted((m["email"], m["role"]) for m in members["members"])
    assert roles == [("cleo@example.org", "collaborator"), ("vic@example.org", "viewer")]
    assert vic.call("GET", f"/api/owner/albums/{album_id}/members").get_json()["invitations"] == []


def test_only_the_owner_makes_admins_and_an_admin_shares_with_others(app, people):
    olga, vic, cleo = people
    album_id, ak = olga.as_owner().album()
    assert share(olga, album_id, ak, vic, "admin").status_code == 201
    made_admin = share(vic, album_id, ak, cleo, "admin")
    assert (
        made_admin.status_code == 403 and made_admin.get_json()["message"] == "Only the album's owner can make someone an admin."
    )
    assert share(vic, album_id, ak, cleo, "viewer").status_code == 201
    promoted = vic.call("PATCH", f"/api/owner/albums/{album_id}/members/{cleo.id}", json={"role": "collaborator"})
    assert promoted.status_code == 200
    assert sorted(m["role"] for m in promoted.get_json()["members"]) == ["admin", "collaborator"]
    bad = olga.call("PATCH", f"/api/owner/albums/{album_id}/members/{cleo.id}", json={"role": "owner"})
    assert bad.status_code == 400 and bad.get_json()["message"] == "`role` is one of viewer, collaborator, admin."
    # The admin removes the collaborator: refused at once, and the owner is told a new key is due.
    assert vic.call("DELETE", f"/api/owner/albums/{album_id}/members/{cleo.id}").get_json()["removed"] is True
    assert cleo.call("GET", f"/api/owner/albums/{album_id}").status_code == 404
    assert olga.call("GET", f"/api/owner/albums/{album_id}").get_json()["rekey_pending"] is True
    assert cleo.call("GET", "/api/owner/shared").get_json()["albums"] == []


def test_an_owner_token_of_no_account_has_nobody_to_share_with(owner):
    answer = owner.call("GET", "/api/owner/shared")
    assert answer.status_code == 403 and answer.get_json()["message"] == "Sharing with people needs an account: sign in."


def invitation_body(album_id: str, ak: bytes, email: str, role: str = "collaborator", **extra) -> tuple[dict, bytes]:
    """What the sharer's client sends (extra: `owner_pk`, the owner's box public key, and overrides)."""
    invite_id, secret = crypto.new_id(), os.urandom(32)
    owner_pk = extra.pop("owner_pk", None) or crypto.identity_keypairs(os.urandom(32)).box_public_key
    keys = crypto.invitation_keys(secret)
    body = {
        "invite_id": invite_id,
        "email": email,
        "role": role,
        "sealed_key": crypto.b64e(crypto.seal_invitation_album_key(keys.invite_key, ak, invite_id, album_id)),
        "claim_key": crypto.b64e(keys.claim_key),
        "owner_secret": crypto.b64e(crypto.seal_owner_invite_secret(secret, invite_id, owner_pk)),
        "key_epoch": 0,
        **extra,
    }
    return body, secret


def accept(app, who: Person, invite_id: str, secret: bytes):
    """What the invitee's client does: read the invitation, open the album key, seal it to itself, claim."""
    shown = app.test_client().get(f"/api/invitations/{invite_id}")
    assert shown.status_code == 200, shown.get_json()
    info = shown.get_json()
    keys = crypto.invitation_keys(secret)
    ak = crypto.open_invitation_album_key(keys.invite_key, crypto.b64d(info["sealed_key"]), invite_id, info["album_id"])
    sealed = crypto.seal_member_album_key(ak, info["album_id"], who.made.identity.box_public_key)
    body = {"claim_key": crypto.b64e(keys.claim_key), "sealed_key": crypto.b64e(sealed)}
    return who.call("POST", f"/api/owner/invitations/{invite_id}/accept", json=body), info


def test_an_invitation_is_taken_once_with_the_whole_link(app, people):
    olga, vic, _cleo = people
    album_id, ak = olga.as_owner().album("Wedding")
    has_account, _ = invitation_body(album_id, ak, "vic@example.org")
    taken = olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=has_account)
    assert taken.status_code == 409 and taken.get_json()["account_id"] == vic.id

    body, secret = invitation_body(
        album_id, ak, "Newcomer@Example.org", invite_secret=crypto.encode_invite_secret(os.urandom(32))
    )
    mismatch = olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=body)
    assert (
        mismatch.status_code == 400 and mismatch.get_json()["message"] == "`invite_secret` is not the secret of this claim key."
    )
    body.pop("invite_secret")
    made = olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=body)
    assert made.status_code == 201, made.get_json()
    invitation = made.get_json()
    assert invitation["email"] == "newcomer@example.org" and invitation["mailed"] is False
    assert invitation["url"].endswith(f"/join/{body['invite_id']}")
    with app.app_context():  # the server keeps a hash of the claim key, never the key or the secret
        row = db.session().get_one(db.ShareInvitation, body["invite_id"])
        assert crypto.b64d(body["claim_key"]) != row.claim_hash.encode() and secret not in row.sealed_key

    newcomer = person(app, "newcomer@example.org")
    cut = {"claim_key": crypto.b64e(os.urandom(32)), "sealed_key": crypto.b64e(os.urandom(crypto.MEMBER_KEY_BYTES))}
    wrong = newcomer.call("POST", f"/api/owner/invitations/{body['invite_id']}/accept", json=cut)
    assert wrong.status_code == 403 and "not complete" in wrong.get_json()["message"]
    accepted, info = accept(app, newcomer, body["invite_id"], secret)
    assert info["inviter"]["email"] == "olga@example.org" and info["role"] == "collaborator"
    assert accepted.status_code == 201, accepted.get_json()
    assert newcomer.album_key(accepted.get_json()) == ak and accepted.get_json()["role"] == "collaborator"
    again = newcomer.call("POST", f"/api/owner/invitations/{body['invite_id']}/accept", json=cut)
    assert again.status_code == 410 and "used already" in again.get_json()["message"]
    assert app.test_client().get(f"/api/invitations/{body['invite_id']}").status_code == 410


@pytest.mark.settings(SIGNUP="invite")
def test_where_sign_up_needs_a_code_an_album_invitation_brings_one(app):
    with app.app_context():
        from viewer.server import accounts

        code = accounts.new_invitation()
        db.session().commit()
    client = app.test_client()
    body, made = signup_body("olga@example.org", invitation=code)
    answer = client.post("/api/account/signup", json=body)
    olga = Person(client, made, answer.get_json()["csrf_token"], "olga@example.org")
    album_id, ak = olga.as_owner().album()
    invite, _secret = invitation_body(album_id, ak, "new@example.org")
    url = olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=invite).get_json()["url"]
    signup_code = url.split("?invitation=")[1]
    joined, _ = signup_body("new@example.org", invitation=signup_code)
    assert app.test_client().post("/api/account/signup", json=joined).status_code == 201


def test_removal_gives_the_album_a_new_key_the_removed_person_never_gets(app, people):
    olga, vic, cleo = people
    mine = olga.as_owner()
    album_id, ak = mine.album("Trip")
    old_file = mine.add_file(album_id, ak, b"before", "before.jpg")
    link_id, link_secret = mine.link(album_id, ak)
    for who, role in ((vic, "viewer"), (cleo, "collaborator")):
        assert share(olga, album_id, ak, who, role).status_code == 201
    invite, invite_secret = invitation_body(
        album_id, ak, "late@example.org", role="viewer", owner_pk=olga.made.identity.box_public_key
    )
    assert olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=invite).status_code == 201
    # The owner's client gets the invitation's secret back from its sealed copy, to re-seal the new key for it.
    (listed,) = olga.call("GET", f"/api/owner/albums/{album_id}/members").get_json()["invitations"]
    identity = olga.made.identity
    sealed_secret = crypto.b64d(listed["owner_secret"])
    assert (
        crypto.open_owner_invite_secret(sealed_secret, invite["invite_id"], identity.box_public_key, identity.box_secret_key)
        == invite_secret
    )

    new_ak = crypto.random_key()
    cleo_pk = crypto.b64d(olga.call("GET", "/api/owner/people?email=cleo@example.org").get_json()["box_pk"])
    link_keys = crypto.link_keys(link_secret)
    body = {
        "from_epoch": 0,
        "chain": crypto.b64e(crypto.seal_album_key_chain(new_ak, ak, album_id, 1)),
        "meta": crypto.b64e(crypto.seal_album_meta(new_ak, album_id, {"v": 1, "title": "Trip"})),
        "owner_key": crypto.b64e(crypto.seal_owner_album_key(olga.made.master_key, new_ak, album_id)),
        "members": {cleo.id: crypto.b64e(crypto.seal_member_album_key(new_ak, album_id, cleo_pk))},
        "invitations": {
            invite["invite_id"]: crypto.b64e(
                crypto.seal_invitation_album_key(
                    crypto.invitation_keys(invite_secret).invite_key, new_ak, invite["invite_id"], album_id
                )
            )
        },
        "links": {link_id: crypto.b64e(crypto.wrap_album_key(link_keys.wrap_key, new_ak, link_id))},
        "remove": [vic.id],
    }
    # A copy missing for someone who stays: nothing is saved.
    short = olga.call("POST", f"/api/owner/albums/{album_id}/rekey", json={**body, "members": {}})
    assert short.status_code == 409 and short.get_json()["error"] == "people_changed"
    assert vic.call("GET", f"/api/owner/albums/{album_id}").status_code == 200
    not_owner = cleo.call("POST", f"/api/owner/albums/{album_id}/rekey", json=body)
    assert not_owner.status_code == 403

    done = olga.call("POST", f"/api/owner/albums/{album_id}/rekey", json=body)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["key_epoch"] == 1
    assert vic.call("GET", f"/api/owner/albums/{album_id}").status_code == 404  # refused at once
    assert vic.call("GET", f"/api/owner/albums/{album_id}/files/{old_file}/blobs/original").status_code == 404
    again = olga.call("POST", f"/api/owner/albums/{album_id}/rekey", json=body)
    assert again.status_code == 409 and again.get_json()["error"] == "stale_key"

    # A file sealed under the old key is refused; the collaborator reads the album again and adds under the new one.
    stale, _ = cleo.as_owner().file_payload(album_id, ak, b"stale")
    refused = cleo.call("POST", f"/api/owner/albums/{album_id}/files", json=stale)
    assert refused.status_code == 409 and refused.get_json()["message"].startswith("This album has a new key since you opened it")
    album = cleo.call("GET", f"/api/owner/albums/{album_id}").get_json()
    current = cleo.album_key(album)
    assert current == new_ak and album["key_epoch"] == 1
    keys = crypto.album_keys(current, 1, album_id, {int(e): crypto.b64d(s) for e, s in album["key_chain"].items()})
    assert keys == {1: new_ak, 0: ak}
    body_new, blobs = cleo.as_owner().file_payload(album_id, new_ak, b"after", "after.jpg")
    base = f"/api/owner/albums/{album_id}/files"
    assert cleo.call("POST", base, json={**body_new, "key_epoch": 1}).status_code == 201
    for kind, blob in blobs.items():
        cleo.call("PUT", f"{base}/{body_new['file_id']}/blobs/{kind}", data=blob)
    assert cleo.call("POST", f"{base}/{body_new['file_id']}/complete").status_code == 200
    listed = {f["file_id"]: f for f in files_of(olga, album_id)}
    assert listed[old_file]["key_epoch"] == 0 and listed[body_new["file_id"]]["key_epoch"] == 1
    # What the removed viewer was given opens nothing that came after.
    with app.app_context():
        row = db.session().scalars(select(db.File).where(db.File.id == body_new["file_id"])).one()
        with pytest.raises(crypto.DecryptionError):
            crypto.unwrap_file_key(ak, row.wrapped_key, album_id, row.id)
        assert db.session().get(db.AlbumMember, (album_id, vic.id)) is None

    # The link's visitors get the new key and the chain: old and new files open.
    unlocked = unlock(app.test_client(), link_id, link_secret)
    assert unlocked.status_code == 200
    data = unlocked.get_json()
    assert data["key_epoch"] == 1
    link_ak = crypto.unwrap_album_key(link_keys.wrap_key, crypto.b64d(data["wrapped_album_key"]), link_id)
    chain = {int(e): crypto.b64d(s) for e, s in data["key_chain"].items()}
    assert crypto.album_keys(link_ak, 1, album_id, chain) == {1: new_ak, 0: ak}
    # The invitation made before still works, with the new key.
    late = person(app, "late@example.org")
    accepted, _ = accept(app, late, invite["invite_id"], invite_secret)
    assert accepted.status_code == 201 and late.album_key(accepted.get_json()) == new_ak


def test_leaving_an_album(app, people):
    olga, vic, _cleo = people
    album_id, ak = olga.as_owner().album()
    share(olga, album_id, ak, vic, "collaborator")
    kept = vic.as_owner().add_file(album_id, ak, b"mine", "mine.jpg")
    left = vic.call("DELETE", f"/api/owner/albums/{album_id}/members/{vic.id}")
    assert left.get_json() == {"removed": True, "files_removed": 0}
    assert vic.call("GET", "/api/owner/shared").get_json()["albums"] == []
    assert [f["file_id"] for f in files_of(olga, album_id)] == [kept]  # their photo stays unless asked otherwise
    assert olga.call("GET", f"/api/owner/albums/{album_id}").get_json()["rekey_pending"] is True


def test_removing_someone_with_their_photos(app, people):
    olga, vic, _cleo = people
    album_id, ak = olga.as_owner().album()
    share(olga, album_id, ak, vic, "collaborator")
    vic.as_owner().add_file(album_id, ak, b"mine", "mine.jpg")
    with app.app_context():
        before = db.session().get_one(db.Account, olga.id).bytes_used
    gone = olga.call("DELETE", f"/api/owner/albums/{album_id}/members/{vic.id}?files=remove")
    assert gone.get_json() == {"removed": True, "files_removed": 1}
    assert files_of(olga, album_id) == []
    with app.app_context():
        assert db.session().get_one(db.Account, olga.id).bytes_used < before  # the owner's storage comes back


def test_contacts_are_sealed_and_changed_only_from_the_version_read(app, people):
    olga, vic, _ = people
    assert olga.call("GET", "/api/owner/sealed/contacts").get_json() == {"sealed": None, "version": 0}
    keys = vic.made.identity
    seen = {
        vic.id: {
            "email": vic.email,
            "box_pk": crypto.b64e(keys.box_public_key),
            "sign_pk": crypto.b64e(keys.sign_public_key),
            "first_seen": 1_764_000_000,
            "verified": False,
        }
    }
    sealed = crypto.b64e(crypto.seal_contacts(olga.made.master_key, olga.id, seen))
    assert olga.call("PUT", "/api/owner/sealed/contacts", json={"sealed": sealed, "version": 0}).get_json() == {"version": 1}
    stale = olga.call("PUT", "/api/owner/sealed/contacts", json={"sealed": sealed, "version": 0})
    assert stale.status_code == 409 and "another device" in stale.get_json()["message"]
    back = olga.call("GET", "/api/owner/sealed/contacts").get_json()
    assert crypto.open_contacts(olga.made.master_key, crypto.b64d(back["sealed"]), olga.id) == seen
    assert back["version"] == 1
    with app.app_context():
        assert b"vic@example.org" not in db.session().get_one(db.SealedValue, (olga.id, "contacts")).sealed
    assert olga.call("GET", "/api/owner/sealed/passwords").status_code == 404


def test_favorites_are_sealed_and_another_accounts_are_not_read(app, people):
    olga, vic, _ = people
    album_id, ak = olga.as_owner().album()
    file_id = olga.as_owner().add_file(album_id, ak, b"photo")
    mine = {album_id: [file_id]}
    sealed = crypto.b64e(crypto.seal_favorites(vic.made.master_key, vic.id, mine))
    assert vic.call("PUT", "/api/owner/sealed/favorites", json={"sealed": sealed, "version": 0}).status_code == 200
    both = [vic.call("PUT", "/api/owner/sealed/favorites", json={"sealed": sealed, "version": 1}) for _ in range(2)]
    assert [a.status_code for a in both] == [200, 409]
    back = vic.call("GET", "/api/owner/sealed/favorites").get_json()
    assert back["version"] == 2 and crypto.open_favorites(vic.made.master_key, crypto.b64d(back["sealed"]), vic.id) == mine
    assert olga.call("GET", "/api/owner/sealed/favorites").get_json() == {"sealed": None, "version": 0}
    with app.app_context():  # the server has a padded size, not which photo
        assert file_id.encode() not in db.session().get_one(db.SealedValue, (vic.id, "favorites")).sealed


smtp_server = smtp.smtp_server


def test_the_invitation_mail_carries_the_link_and_nothing_from_inside_the_album(app, people, smtp_server):
    olga, _vic, _cleo = people
    album_id, ak = olga.as_owner().album("Grandma's 90th birthday")
    body, secret = invitation_body(album_id, ak, "newcomer@example.org")
    body["invite_secret"] = crypto.encode_invite_secret(secret)
    app.config.update(smtp.smtp_settings(smtp_server))
    made = olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=body)
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["mailed"] is True and made.get_json()["mail_problem"] is None
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "newcomer@example.org" and message["Reply-To"] == "olga@example.org"
    assert message["Subject"] == "olga@example.org shared an album with you"
    text = message.get_content()
    assert f"{made.get_json()['url']}#{body['invite_secret']}" in text
    assert "Grandma" not in text and "birthday" not in text  # the server cannot read the title, and does not guess
    with app.app_context():
        row = db.session().get_one(db.ShareInvitation, body["invite_id"])
        assert secret not in row.sealed_key and body["invite_secret"] not in row.claim_hash


def test_a_mail_server_that_is_down_leaves_the_link_to_send_by_hand(app, people):
    olga, _vic, _cleo = people
    album_id, ak = olga.as_owner().album()
    body, secret = invitation_body(album_id, ak, "newcomer@example.org", invite_secret="")
    body["invite_secret"] = crypto.encode_invite_secret(secret)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=servers.free_port(), SMTP_TLS="none")
    made = olga.call("POST", f"/api/owner/albums/{album_id}/invitations", json=body)
    assert made.status_code == 201 and made.get_json()["mailed"] is False
    assert made.get_json()["mail_problem"].endswith("copy the link and send it yourself.")


def test_a_link_wraps_the_albums_current_key(app, people):
    olga, vic, _cleo = people
    mine = olga.as_owner()
    album_id, ak = mine.album()
    share(olga, album_id, ak, vic, "viewer")
    new_ak = crypto.random_key()
    body = {
        "from_epoch": 0,
        "chain": crypto.b64e(crypto.seal_album_key_chain(new_ak, ak, album_id, 1)),
        "meta": crypto.b64e(crypto.seal_album_meta(new_ak, album_id, {"v": 1})),
        "owner_key": crypto.b64e(crypto.seal_owner_album_key(olga.made.master_key, new_ak, album_id)),
        "members": {},
        "remove": [vic.id],
    }
    assert olga.call("POST", f"/api/owner/albums/{album_id}/rekey", json=body).status_code == 200
    # A page opened before the new key makes a link with the old one: refused, nothing made.
    with pytest.raises(AssertionError, match="stale_key"):
        mine.link(album_id, ak)
    with app.app_context():
        assert db.session().scalars(select(db.Link).where(db.Link.album_id == album_id)).all() == []
    link_id, secret = mine.link(album_id, new_ak, key_epoch=1)
    unlocked = unlock(app.test_client(), link_id, secret).get_json()
    assert (
        crypto.unwrap_album_key(crypto.link_keys(secret).wrap_key, crypto.b64d(unlocked["wrapped_album_key"]), link_id) == new_ak
    )
