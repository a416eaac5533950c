"""File drops through the API (issue 13): an upload-only link that holds no album key, only the album's
drop public key sealed under the link's wrap key; guests seal each file key to it and can decrypt nothing.

Every client step uses the real format functions (viewer/crypto.py). In-process on SQLite and
PostgreSQL (the `app` fixture); the race of two devices making the album's first drop key runs
threads against gunicorn on both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
import requests

from tests.support.api_helpers import FAST_PW, bearer, unlock
from tests.test_sharing_api import Person, person, share
from tests.test_upload_races import at_once, running
from viewer import crypto

pytestmark = pytest.mark.settings(SIGNUP="open")


@dataclass
class Drop:
    """A drop link as its owner's client made it: its id, secret and keys (with the password, if any)."""

    link_id: str
    secret: bytes
    keys: crypto.LinkKeys


def link_fields(who_mk: bytes, link_id: str, secret: bytes, password: str | None) -> tuple[dict, crypto.LinkKeys]:
    """The keys of a link (docs/format.md, "Link keys") without the album key: verifiers and the owner's copies."""
    params = crypto.PasswordParams.new(**FAST_PW) if password else None
    keys = crypto.link_keys(secret, crypto.password_factor(password, params) if password and params else b"")
    return {
        "password": params.to_json() if params else None,
        "verifier": crypto.b64e(keys.verifier),
        "link_verifier": crypto.b64e(keys.link_verifier),
        "owner_wrap_key": crypto.b64e(crypto.seal_owner_link_wrap_key(who_mk, keys.wrap_key, link_id)),
    }, keys


def drop_body(
    owner: Person,
    album_id: str,
    public_key: bytes,
    epoch: int,
    *,
    drop_key: crypto.DropKey | None = None,
    password: str | None = None,
    **settings,
) -> tuple[dict, Drop]:
    """What keys.js createLink sends for an "Only add" link: the drop public key sealed under the link's wrap key."""
    link_id, secret = crypto.new_id(), os.urandom(32)
    fields, keys = link_fields(owner.made.master_key, link_id, secret, password)
    body = {
        "link_id": link_id,
        "uploads": True,
        "upload_only": True,
        **fields,
        "drop": {
            "wrapped_drop_key": crypto.b64e(crypto.seal_link_drop_key(keys.wrap_key, public_key, link_id, album_id, epoch)),
            "epoch": epoch,
        },
        "owner_secret": crypto.b64e(crypto.seal_owner_link_secret(owner.made.master_key, secret, link_id)),
        "key_epoch": epoch,
        **settings,
    }
    if drop_key is not None:
        body["drop_key"] = {"public_key": crypto.b64e(drop_key.public_key), "sealed_secret": crypto.b64e(drop_key.sealed_secret)}
    return body, Drop(link_id, secret, keys)


def make_drop(owner: Person, album_id: str, ak: bytes, epoch: int = 0, **extra) -> tuple[Drop, crypto.DropKey]:
    """The album's first drop key of `epoch` and a drop link with it."""
    made = crypto.new_drop_key(ak, album_id, epoch)
    body, drop = drop_body(owner, album_id, made.public_key, epoch, drop_key=made, **extra)
    answer = owner.call("POST", f"/api/owner/albums/{album_id}/links", json=body)
    assert answer.status_code == 201, answer.get_json()
    return drop, made


def guest_file(album_id: str, public_key: bytes, content: bytes, name: str = "guest.jpg") -> tuple[dict, dict]:
    """A guest's reserve body (the file key sealed to the drop key) and its three blobs."""
    file_id, fk = crypto.new_id(), crypto.random_key()
    blobs = {kind: crypto.encrypt_blob_bytes(fk, file_id, kind, content + kind.encode()) for kind in ("thumb", "preview")}
    blobs["original"] = crypto.encrypt_blob_bytes(fk, file_id, "original", content)
    body = {
        "file_id": file_id,
        "wrapped_key": crypto.b64e(crypto.seal_drop_file_key(fk, album_id, file_id, public_key)),
        "meta": crypto.b64e(crypto.seal_file_meta(fk, album_id, file_id, {"v": 1, "name": name, "size": len(content)})),
        "blobs": {kind: len(blob) for kind, blob in blobs.items()},
    }
    return body, blobs


def send(client, link_id: str, token: str, body: dict, blobs: dict) -> None:
    base = f"/api/links/{link_id}/files"
    for kind, blob in blobs.items():
        assert client.put(f"{base}/{body['file_id']}/blobs/{kind}", data=blob, headers=bearer(token)).status_code == 200
    done = client.post(f"{base}/{body['file_id']}/complete", headers=bearer(token))
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["drop"] is True


def opened_drop_key(answer: dict, drop: Drop) -> bytes:
    """What the guest's page does with a drop's unlock answer: the public key, opened with the link's wrap key."""
    return crypto.open_link_drop_key(
        drop.keys.wrap_key, crypto.b64d(answer["wrapped_drop_key"]), drop.link_id, answer["album_id"], answer["drop_epoch"]
    )


def owner_opens(owner: Person, album_id: str, file_id: str) -> bytes:
    """The owner's client: the drop secret from the album JSON, the file key, then the original's bytes."""
    album = owner.call("GET", f"/api/owner/albums/{album_id}").get_json()
    (entry,) = [
        f for f in owner.call("GET", f"/api/owner/albums/{album_id}/files").get_json()["files"] if f["file_id"] == file_id
    ]
    assert entry["drop"] is True
    epoch = entry["key_epoch"]
    keys = crypto.album_keys(
        owner.album_key(album), album["key_epoch"], album_id, {int(e): crypto.b64d(s) for e, s in album["key_chain"].items()}
    )
    listed = album["drop_keys"][str(epoch)]
    secret = crypto.open_drop_secret(keys[epoch], album_id, epoch, crypto.b64d(listed["sealed_secret"]))
    fk = crypto.open_drop_file_key(
        crypto.b64d(entry["wrapped_key"]), album_id, file_id, crypto.b64d(listed["public_key"]), secret
    )
    blob = owner.call("GET", f"/api/owner/albums/{album_id}/files/{file_id}/blobs/original").data
    return crypto.decrypt_blob_bytes(fk, file_id, "original", blob)


def test_a_guest_drops_a_file_that_only_the_album_key_opens(app):
    olga = person(app, "olga@example.org")
    mine = olga.as_owner()
    album_id, ak = mine.album("Wedding")
    own_file = mine.add_file(album_id, ak, b"the owner's own photo", "own.jpg")
    drop, made = make_drop(olga, album_id, ak)

    # The owner and members see the album's drop key; the link says it is a drop and holds no album key.
    album = olga.call("GET", f"/api/owner/albums/{album_id}").get_json()
    assert album["drop_keys"] == {
        "0": {"public_key": crypto.b64e(made.public_key), "sealed_secret": crypto.b64e(made.sealed_secret)}
    }
    (link,) = olga.call("GET", f"/api/owner/albums/{album_id}/links").get_json()["links"]
    assert (link["drop"], link["drop_epoch"], link["upload_only"]) == (True, 0, True)

    # The guest's unlock: the sealed drop key, and nothing that opens anything of the album.
    guest = app.test_client()
    answer = unlock(guest, drop.link_id, drop.secret)
    assert answer.status_code == 200, answer.get_json()
    unlocked = answer.get_json()
    assert unlocked["wrapped_album_key"] is None and unlocked["album_meta"] is None
    assert "key_chain" not in unlocked and "drop_keys" not in unlocked
    assert unlocked["drop_epoch"] == 0
    assert opened_drop_key(unlocked, drop) == made.public_key
    token = unlocked["access_token"]
    listing = guest.get(f"/api/links/{drop.link_id}/files", headers=bearer(token))
    assert listing.status_code == 403 and listing.get_json()["error"] == "upload_only"
    assert guest.get(f"/api/links/{drop.link_id}/files/{own_file}/blobs/thumb", headers=bearer(token)).status_code == 403

    # A file key wrapped as an album key's would be (72 bytes) is refused: a drop's is sealed to the drop key.
    wrong, _ = mine.file_payload(album_id, ak, b"wrapped under the album key")
    refused = guest.post(f"/api/links/{drop.link_id}/files", json=wrong, headers=bearer(token))
    assert refused.status_code == 400
    assert refused.get_json()["message"] == (
        "This link is a file drop: each file's key must be sealed to the album's drop key (138 bytes), "
        "not wrapped under an album key."
    )

    body, blobs = guest_file(album_id, opened_drop_key(unlocked, drop), b"a guest's photo")
    reserved = guest.post(f"/api/links/{drop.link_id}/files", json=body, headers=bearer(token))
    assert reserved.status_code == 201, reserved.get_json()
    send(guest, drop.link_id, token, body, blobs)
    assert owner_opens(olga, album_id, body["file_id"]) == b"a guest's photo"
    listed = {f["file_id"]: f for f in olga.call("GET", f"/api/owner/albums/{album_id}/files").get_json()["files"]}
    assert listed[own_file]["drop"] is False and listed[body["file_id"]]["key_epoch"] == 0
    assert len(crypto.b64d(listed[body["file_id"]]["wrapped_key"])) == crypto.DROP_FILE_KEY_BYTES

    # A member opens it too, with the album key sealed to them.
    vic = person(app, "vic@example.org")
    assert share(olga, album_id, ak, vic, "viewer").status_code == 201
    assert owner_opens(vic, album_id, body["file_id"]) == b"a guest's photo"

    # A viewing link's visitors get the drop keys with the album key, and the listing marks the drop.
    view_id, view_secret = mine.link(album_id, ak)
    viewed = unlock(app.test_client(), view_id, view_secret).get_json()
    assert viewed["drop_keys"] == album["drop_keys"] and viewed["wrapped_album_key"]
    files = app.test_client().get(f"/api/links/{view_id}/files", headers=bearer(viewed["access_token"])).get_json()["files"]
    (entry,) = [f for f in files if f["file_id"] == body["file_id"]]
    assert entry["drop"] is True
    secret = crypto.open_drop_secret(ak, album_id, 0, crypto.b64d(viewed["drop_keys"]["0"]["sealed_secret"]))
    fk = crypto.open_drop_file_key(crypto.b64d(entry["wrapped_key"]), album_id, entry["file_id"], made.public_key, secret)
    assert crypto.open_file_meta(fk, album_id, entry["file_id"], crypto.b64d(entry["meta"]))["name"] == "guest.jpg"


def test_the_album_has_one_drop_key_per_epoch_and_a_drop_adds_only(app):
    olga = person(app, "olga@example.org")
    mine = olga.as_owner()
    album_id, ak = mine.album()
    links = f"/api/owner/albums/{album_id}/links"
    # No drop key yet, and none sent: refused in one sentence.
    other = crypto.new_drop_key(ak, album_id, 0)
    body, _ = drop_body(olga, album_id, other.public_key, 0)
    none = olga.call("POST", links, json=body)
    assert none.status_code == 409 and none.get_json()["error"] == "no_drop_key"
    assert (
        none.get_json()["message"] == "This album has no drop key for its current key yet: send one (`drop_key`) with the link."
    )
    # A drop that would show the album: refused.
    body, _ = drop_body(olga, album_id, other.public_key, 0, drop_key=other, upload_only=False)
    shows = olga.call("POST", links, json=body)
    assert shows.status_code == 400
    assert shows.get_json()["message"] == "A file drop holds no album key, so it can only add photos: `upload_only` must be true."

    _drop, made = make_drop(olga, album_id, ak)
    # Another device made its own drop key meanwhile: refused, so that every drop link seals to the same key.
    body, _ = drop_body(olga, album_id, other.public_key, 0, drop_key=other)
    exists = olga.call("POST", links, json=body)
    assert exists.status_code == 409 and exists.get_json()["error"] == "drop_key_exists"
    # The client reads the album again and makes the link with the album's drop key.
    listed = olga.call("GET", f"/api/owner/albums/{album_id}").get_json()["drop_keys"]["0"]
    body, _ = drop_body(olga, album_id, crypto.b64d(listed["public_key"]), 0)
    assert olga.call("POST", links, json=body).status_code == 201
    rows = olga.call("GET", f"/api/owner/albums/{album_id}").get_json()["drop_keys"]
    assert rows == {"0": {"public_key": crypto.b64e(made.public_key), "sealed_secret": crypto.b64e(made.sealed_secret)}}

    # A drop key for a viewing link, and a drop for an epoch the album is not at: refused.
    link_id, secret = crypto.new_id(), os.urandom(32)
    fields, keys = link_fields(olga.made.master_key, link_id, secret, None)
    viewing = {
        "link_id": link_id,
        **fields,
        "wrapped_album_key": crypto.b64e(crypto.wrap_album_key(keys.wrap_key, ak, link_id)),
        "owner_secret": crypto.b64e(crypto.seal_owner_link_secret(olga.made.master_key, secret, link_id)),
        "drop_key": {"public_key": crypto.b64e(other.public_key), "sealed_secret": crypto.b64e(other.sealed_secret)},
    }
    mixed = olga.call("POST", links, json=viewing)
    assert mixed.status_code == 400 and mixed.get_json()["message"] == "`drop_key` comes only with a file drop's `drop`."
    body, _ = drop_body(olga, album_id, made.public_key, 1)
    ahead = olga.call("POST", links, json=body)
    assert ahead.status_code == 409 and ahead.get_json()["error"] == "stale_key"
    short = {**body, "drop": {"wrapped_drop_key": crypto.b64e(os.urandom(40)), "epoch": 0}}
    assert olga.call("POST", links, json=short).status_code == 400


def rekey_body(olga: Person, album_id: str, ak: bytes, new_ak: bytes) -> dict:
    return {
        "from_epoch": 0,
        "chain": crypto.b64e(crypto.seal_album_key_chain(new_ak, ak, album_id, 1)),
        "meta": crypto.b64e(crypto.seal_album_meta(new_ak, album_id, {"v": 1, "title": "Holiday"})),
        "owner_key": crypto.b64e(crypto.seal_owner_album_key(olga.made.master_key, new_ak, album_id)),
        "members": {},
        "invitations": {},
        "links": {},
    }


def test_a_new_album_key_gives_every_drop_link_a_new_drop_key(app):
    olga = person(app, "olga@example.org")
    mine = olga.as_owner()
    album_id, ak = mine.album()
    drop, made = make_drop(olga, album_id, ak)
    guest = app.test_client()
    first = unlock(guest, drop.link_id, drop.secret).get_json()
    stale_body, _blobs = guest_file(album_id, made.public_key, b"sealed to the old drop key")

    new_ak = crypto.random_key()
    new_drop = crypto.new_drop_key(new_ak, album_id, 1)
    body = rekey_body(olga, album_id, ak, new_ak)
    # Without the drop link's new drop key: nothing is saved.
    missing = olga.call("POST", f"/api/owner/albums/{album_id}/rekey", json=body)
    assert missing.status_code == 409 and missing.get_json()["error"] == "links_changed"
    assert missing.get_json()["message"].startswith("Every live file drop link needs the album's new drop key")
    # A drop link given the album key as if it showed the album: refused too.
    as_viewing = {**body, "links": {drop.link_id: crypto.b64e(crypto.wrap_album_key(drop.keys.wrap_key, new_ak, drop.link_id))}}
    assert olga.call("POST", f"/api/owner/albums/{album_id}/rekey", json=as_viewing).status_code == 409
    alone = {**body, "link_drop_keys": {drop.link_id: crypto.b64e(os.urandom(72))}}
    assert olga.call("POST", f"/api/owner/albums/{album_id}/rekey", json=alone).status_code == 400
    assert olga.call("GET", f"/api/owner/albums/{album_id}").get_json()["key_epoch"] == 0

    sealed = crypto.seal_link_drop_key(drop.keys.wrap_key, new_drop.public_key, drop.link_id, album_id, 1)
    body["drop_key"] = {"public_key": crypto.b64e(new_drop.public_key), "sealed_secret": crypto.b64e(new_drop.sealed_secret)}
    body["link_drop_keys"] = {drop.link_id: crypto.b64e(sealed)}
    done = olga.call("POST", f"/api/owner/albums/{album_id}/rekey", json=body)
    assert done.status_code == 200, done.get_json()
    assert set(done.get_json()["drop_keys"]) == {"0", "1"}
    (link,) = olga.call("GET", f"/api/owner/albums/{album_id}/links").get_json()["links"]
    assert link["drop_epoch"] == 1

    # The open page's token is stale; it unlocks again, gets the new drop key, and a file sealed to the old one is refused.
    old_token = guest.post(f"/api/links/{drop.link_id}/files", json=stale_body, headers=bearer(first["access_token"]))
    assert old_token.status_code == 401
    again = unlock(guest, drop.link_id, drop.secret).get_json()
    assert again["drop_epoch"] == 1 and opened_drop_key(again, drop) == new_drop.public_key
    token = again["access_token"]
    stale = guest.post(f"/api/links/{drop.link_id}/files", json={**stale_body, "key_epoch": 0}, headers=bearer(token))
    assert stale.status_code == 409 and stale.get_json()["error"] == "stale_key"
    # Sealed again to the new drop key (the same file key and blobs, as the page's rewrap does).
    fresh, blobs = guest_file(album_id, new_drop.public_key, b"sealed to the new drop key")
    assert (
        guest.post(f"/api/links/{drop.link_id}/files", json={**fresh, "key_epoch": 1}, headers=bearer(token)).status_code == 201
    )
    send(guest, drop.link_id, token, fresh, blobs)
    assert owner_opens(olga, album_id, fresh["file_id"]) == b"sealed to the new drop key"
    # Whoever knew only the old album key (a removed member) has the old drop secret, which does not open it.
    (entry,) = [
        f for f in olga.call("GET", f"/api/owner/albums/{album_id}/files").get_json()["files"] if f["file_id"] == fresh["file_id"]
    ]
    with pytest.raises(crypto.DecryptionError):
        crypto.open_drop_file_key(crypto.b64d(entry["wrapped_key"]), album_id, fresh["file_id"], made.public_key, made.secret_key)


def test_a_drop_links_password_changes_with_its_drop_key_and_it_stays_a_drop(app):
    olga = person(app, "olga@example.org")
    mine = olga.as_owner()
    album_id, ak = mine.album()
    drop, made = make_drop(olga, album_id, ak)
    path, public = f"/api/owner/links/{drop.link_id}", f"/api/links/{drop.link_id}"
    # What keys.js changeLink sends: the same secret, a new password, the drop key sealed under the new wrap key.
    fields, keys = link_fields(olga.made.master_key, drop.link_id, drop.secret, "new password")
    sealed = crypto.seal_link_drop_key(keys.wrap_key, made.public_key, drop.link_id, album_id, 0)
    change = {**fields, "drop": {"wrapped_drop_key": crypto.b64e(sealed), "epoch": 0}, "key_epoch": 0}
    as_album = {**fields, "wrapped_album_key": crypto.b64e(crypto.wrap_album_key(keys.wrap_key, ak, drop.link_id))}
    refused = olga.call("PATCH", path, json=as_album)
    assert refused.status_code == 400
    assert refused.get_json()["message"] == "This link is a file drop: its new keys carry `drop`, never an album key."
    shows = olga.call("PATCH", path, json={"upload_only": False})
    assert shows.status_code == 400 and "`upload_only` must be true" in shows.get_json()["message"]

    changed = olga.call("PATCH", path, json=change)
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["drop"] is True and changed.get_json()["password"] is not None
    assert unlock(app.test_client(), drop.link_id, drop.secret).status_code == 401  # the old keys open nothing
    answer = unlock(app.test_client(), drop.link_id, drop.secret, password="new password").get_json()
    assert answer["wrapped_album_key"] is None
    new_drop = Drop(drop.link_id, drop.secret, keys)
    assert opened_drop_key(answer, new_drop) == made.public_key

    # A viewing link cannot become a drop by a password change: a drop is a new link.
    view_id, view_secret = mine.link(album_id, ak)
    fields, keys = link_fields(olga.made.master_key, view_id, view_secret, None)
    sealed = crypto.seal_link_drop_key(keys.wrap_key, made.public_key, view_id, album_id, 0)
    turned = olga.call(
        "PATCH", f"/api/owner/links/{view_id}", json={**fields, "drop": {"wrapped_drop_key": crypto.b64e(sealed), "epoch": 0}}
    )
    assert turned.status_code == 400
    assert turned.get_json()["message"] == "This link shows the album: make a new link for a file drop."

    # Revoked, the drop's key is deleted with it.
    assert olga.call("DELETE", path).get_json()["revoked_at"] is not None
    assert app.test_client().get(public).status_code == 410


# --- two devices making the album's first drop key at once, against gunicorn --------------------------

ROUNDS = 4
DEVICES = 6


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    with running(request, tmp_path_factory, {"FRAGMENT_SIGNUP": "open"}, database="drop_races") as started:
        yield started


@pytest.mark.slow
def test_devices_making_the_first_drop_key_at_once_make_exactly_one(live):
    from tests.test_sharing_races import Person as LivePerson

    url = live[0]
    owner = LivePerson(url, "odile@example.org")
    for round_ in range(ROUNDS):
        album_id, ak = crypto.new_id(), crypto.random_key()
        album = {
            "album_id": album_id,
            "meta": crypto.b64e(crypto.seal_album_meta(ak, album_id, {"v": 1, "title": "drops"})),
            "owner_key": crypto.b64e(crypto.seal_owner_album_key(owner.made.master_key, ak, album_id)),
        }
        assert owner.call("POST", "/api/owner/albums", json=album).status_code == 201

        def device(ak=ak, album_id=album_id):
            # Each device of the account has its own HTTP connection and makes its own drop key pair.
            http = requests.Session()
            http.cookies.update(owner.http.cookies)
            http.headers.update(owner.http.headers)
            made = crypto.new_drop_key(ak, album_id, 0)
            body, _ = drop_body(owner, album_id, made.public_key, 0, drop_key=made)  # type: ignore[arg-type]
            return lambda: http.post(f"{url}/api/owner/albums/{album_id}/links", json=body)

        answers = at_once(*(device() for _ in range(DEVICES)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] + [409] * (DEVICES - 1), f"round {round_}: {[a.text for a in answers]}"
        assert {a.json()["error"] for a in answers if a.status_code == 409} == {"drop_key_exists"}
        shown = owner.call("GET", f"/api/owner/albums/{album_id}").json()
        assert list(shown["drop_keys"]) == ["0"]
        (link,) = owner.call("GET", f"/api/owner/albums/{album_id}/links").json()["links"]
        assert link["drop"] is True
