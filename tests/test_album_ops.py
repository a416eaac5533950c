"""The owner's album operations (issue 12, "The command line, at parity").

In-process on SQLite and PostgreSQL: deleting an album takes its rows and blobs, gives an
account its storage back, and still answers 200 once the rows are gone when the store
fails. Against gunicorn with the real `fragment` command: add, remove, rename, describe,
cover and order an album, then check what a recipient gets (`fragment open`, and the album
metadata decrypted from the public API); names that fit several files, albums this keyring
cannot open, `fragment sync` over rounds, and `albums delete`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.api_helpers import Owner, unlock
from tests.support.media_fixtures import make_jpeg_with_orientation
from tests.support.owner_cli import Fragment
from viewer import crypto
from viewer.owner import albums, keyring, links
from viewer.owner.report import Quiet
from viewer.server import accounts, db, tokens, uploads
from viewer.server.storage import StorageError

# --- album delete on the server (SQLite and PostgreSQL) ----------------------------------------


def stored_keys(app) -> list[str]:
    with app.app_context():
        return sorted(key for key, _mtime in uploads.store().scan())


def rows(app, model, **where) -> list:
    with app.app_context():
        query = select(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return list(db.session().scalars(query))


def full_album(owner: Owner, client) -> tuple[str, bytes]:
    """An album with complete files, a half-sent upload, a guest's file and a device-limited link a device has opened."""
    album_id, ak = owner.album("Doomed")
    owner.add_file(album_id, ak, os.urandom(3000), "one.jpg")
    owner.add_file(album_id, ak, os.urandom(3000), "two.jpg")
    body, blobs = owner.file_payload(album_id, ak, os.urandom(2000), "half.jpg")
    base = f"/api/owner/albums/{album_id}/files"
    assert owner.call("POST", base, json=body).status_code == 201
    assert owner.call("PUT", f"{base}/{body['file_id']}/blobs/thumb", data=blobs["thumb"]).status_code == 200
    link_id, secret = owner.link(album_id, ak, device_limit=2, uploads=True)
    token = unlock(client, link_id, secret).json["access_token"]
    guest, guest_blobs = owner.file_payload(album_id, ak, os.urandom(2000), "guest.jpg")
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post(f"/api/links/{link_id}/files", json=guest, headers=auth).status_code == 201
    for kind, blob in guest_blobs.items():
        sent = client.put(f"/api/links/{link_id}/files/{guest['file_id']}/blobs/{kind}", data=blob, headers=auth)
        assert sent.status_code == 200
    assert client.post(f"/api/links/{link_id}/files/{guest['file_id']}/complete", headers=auth).status_code == 200
    return album_id, ak


def test_deleting_an_album_takes_its_rows_and_blobs_and_nothing_else(app, owner, client):
    kept_id, kept_key = owner.album("Kept")
    kept_file = owner.add_file(kept_id, kept_key, b"kept")
    album_id, _ak = full_album(owner, client)
    assert any(key.startswith("staging/") for key in stored_keys(app))
    assert rows(app, db.LinkDevice)

    answer = owner.call("DELETE", f"/api/owner/albums/{album_id}")
    assert answer.status_code == 200 and answer.json == {"deleted": True}
    assert owner.call("GET", f"/api/owner/albums/{album_id}").status_code == 404
    assert owner.call("DELETE", f"/api/owner/albums/{album_id}").status_code == 404  # twice: not found, not 500
    assert stored_keys(app) == [f"{kept_id}/{kept_file}/{kind}" for kind in ("original", "preview", "thumb")]
    assert rows(app, db.File, album_id=album_id) == [] and rows(app, db.Link, album_id=album_id) == []
    assert rows(app, db.LinkDevice) == [] and rows(app, db.Album, id=album_id) == []
    assert [f.id for f in rows(app, db.File)] == [kept_file]


def test_an_album_whose_blobs_the_store_fails_to_delete_is_still_deleted(app, owner, client, monkeypatch):
    """The rows are gone: a 500 would make the owner's tool keep a key to nothing; `flask cleanup` takes the blobs."""
    album_id, _ak = full_album(owner, client)
    store = app.extensions["fragment.store"]

    def failing(prefix: str) -> int:
        raise StorageError(f"the store is down ({prefix})")

    monkeypatch.setattr(store, "delete_prefix", failing)
    answer = owner.call("DELETE", f"/api/owner/albums/{album_id}")
    assert answer.status_code == 200 and answer.json == {"deleted": True}
    assert owner.call("GET", f"/api/owner/albums/{album_id}").status_code == 404
    assert rows(app, db.File, album_id=album_id) == []


def test_deleting_an_accounts_album_gives_all_its_storage_back(app, client):
    with app.app_context():
        session = db.session()
        account = db.Account(
            id=crypto.new_id(),
            email="ada@example.org",
            pw_salt=os.urandom(16),
            pw_opslimit=crypto.PW_OPSLIMIT,
            pw_memlimit=crypto.PW_MEMLIMIT,
            login_hash=accounts.hash_login_key(b"k" * 32),
            recovery_hash=accounts.hash_login_key(b"r" * 32),
            sealed_mk=os.urandom(72),
            sealed_mk_rk=os.urandom(72),
            sealed_rk=os.urandom(72),
            sealed_identity=os.urandom(72),
            box_pk=os.urandom(32),
            sign_pk=os.urandom(32),
        )
        token = tokens.new_owner_token()
        session.add(account)
        session.flush()
        session.add(db.OwnerToken(token_hash=tokens.hash_owner_token(token), account_id=account.id, label="test"))
        session.commit()
        account_id = account.id
    mine = Owner(client, token, master_key=crypto.random_key())
    kept_id, kept_key = mine.album("Kept")
    mine.add_file(kept_id, kept_key, os.urandom(1000))
    kept = rows(app, db.Account, id=account_id)[0].bytes_used
    album_id, _ak = full_album(mine, client)
    assert mine.call("DELETE", f"/api/owner/albums/{album_id}").status_code == 200
    assert rows(app, db.Account, id=account_id)[0].bytes_used == kept


# --- the command line against gunicorn -----------------------------------------------------


def photos(folder: Path, *names: str, taken: str = "2024:06:01 12:30:00") -> list[Path]:
    """Small JPEGs (each its own bytes), settled: modified a minute ago, as sync wants."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i, name in enumerate(names):
        path = folder / name
        make_jpeg_with_orientation(path, size=(200 + 8 * (len(name) + i), 150), orientation=1, taken=taken)
        old = time.time() - 60
        os.utime(path, (old, old))
        made.append(path)
    return made


def recipient_view(link: str, tmp_path: Path) -> tuple[dict, dict[str, str], dict[str, bytes]]:
    """(album metadata, {file id: name} from the public listing, {name: bytes} as `fragment open` saved them)."""
    opened = links.open_link(link, lambda _info: None, Quiet(), password=lambda: "", password_given=False)
    listing = {}
    for entry in opened.link.iter_files():
        file_id, _key, meta = albums.open_file(opened.album_key, opened.album_id, entry)
        listing[file_id] = meta["name"]
    out = tmp_path / f"open-{len(list(tmp_path.glob('open-*')))}"
    Fragment(tmp_path / "recipient.json")("open", link, "--out", out)
    return opened.album_meta, listing, {p.name: p.read_bytes() for p in out.iterdir()}


@pytest.mark.slow
def test_add_remove_rename_describe_cover_and_order_show_to_a_recipient(live_server, owner_cli, tmp_path):
    first = photos(tmp_path / "Trip", "a.jpg", "b.jpg")
    link = owner_cli.publish(first[0].parent, "--title", "Trip", "--server", live_server["url"])
    more = photos(tmp_path / "more", "c.jpg", "d.jpg", "e.jpg")

    _code, output = owner_cli("albums", "add", "Trip", *more)
    assert "Added 3 file(s) to 'Trip'." in output
    _meta, listing, _saved = recipient_view(link, tmp_path)
    assert sorted(listing.values()) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]
    ids = {name: file_id for file_id, name in listing.items()}

    _code, output = owner_cli("albums", "remove", "Trip", "b.jpg", input="y\n")
    assert "Remove 1 file(s) from 'Trip'?" in output and f"Removed {ids['b.jpg']} (b.jpg" in output
    owner_cli("albums", "rename", "Trip", "Trip to Lyon ☀")
    owner_cli("albums", "describe", "Trip to Lyon ☀", "Three days, two bridges")
    owner_cli("albums", "cover", "Trip to Lyon ☀", "d.jpg")
    # "--" first: a file id may start with "-", which click would read as an option.
    owner_cli("albums", "order", "--custom", "--", "Trip to Lyon ☀", "e.jpg", ids["c.jpg"])

    meta, listing, saved = recipient_view(link, tmp_path)
    assert sorted(listing.values()) == ["a.jpg", "c.jpg", "d.jpg", "e.jpg"]
    assert saved == {p.name: p.read_bytes() for p in [first[0], *more]}
    assert meta == {
        "v": 1,
        "title": "Trip to Lyon ☀",
        "description": "Three days, two bridges",
        "cover": ids["d.jpg"],
        "sort": "custom",
        "order": [ids["e.jpg"], ids["c.jpg"]],
    }

    # Removing the cover forgets it; sorting by name drops the custom order; '' removes the description.
    owner_cli("albums", "remove", "Trip to Lyon ☀", "d.jpg", "--yes")
    owner_cli("albums", "order", "Trip to Lyon ☀", "--by", "name")
    owner_cli("albums", "describe", "Trip to Lyon ☀", "")
    meta, listing, _saved = recipient_view(link, tmp_path)
    assert sorted(listing.values()) == ["a.jpg", "c.jpg", "e.jpg"]
    assert meta == {"v": 1, "title": "Trip to Lyon ☀", "sort": "name"}
    _code, listing_out = owner_cli("albums")
    assert "Trip to Lyon ☀" in listing_out


@pytest.mark.slow
def test_refusals_name_the_candidates_and_change_nothing(live_server, owner_cli, tmp_path):
    one = photos(tmp_path / "one", "same.jpg")
    two = photos(tmp_path / "two", "same.jpg")
    link = owner_cli.publish(one[0].parent, "--title", "Twins", "--server", live_server["url"])
    owner_cli("albums", "add", "Twins", *two)
    _meta, listing, _saved = recipient_view(link, tmp_path)
    assert list(listing.values()) == ["same.jpg", "same.jpg"]

    code, output = owner_cli("albums", "remove", "Twins", "same.jpg", "--yes", ok=False)
    assert code == 1 and "2 files are named 'same.jpg'; name the one you mean by its id" in output
    assert all(file_id in output for file_id in listing)
    code, output = owner_cli("albums", "cover", "Twins", "other.jpg", ok=False)
    assert code == 1 and "the album has no file with the id or name 'other.jpg'" in output
    code, output = owner_cli("albums", "rename", "No such album", "X", ok=False)
    assert code == 1 and "no album with id or title 'No such album'" in output
    code, output = owner_cli("albums", "add", "Twins", ok=False)
    assert code == 2  # click: FILES_OR_DIRS missing
    code, output = owner_cli("albums", "order", "Twins", "--by", "taken", "--custom", "same.jpg", ok=False)
    assert code == 2 and "either --by" in output

    # A second keyring with the same owner token but not the album key: refused before anything is sent.
    album_id = keyring.load(Path(owner_cli.env["FRAGMENT_KEYRING"])).find_album("Twins")
    token = keyring.load(Path(owner_cli.env["FRAGMENT_KEYRING"])).owner_token(live_server["url"])
    assert token is not None
    stranger = Fragment(tmp_path / "stranger.json")
    stranger("login", live_server["url"], "--token-stdin", input=token + "\n")
    code, output = stranger("albums", "add", album_id, *two, ok=False)
    assert code == 1 and f"has no key for album {album_id}, so it cannot open or change it" in output

    # A keyring whose key for the album is wrong: refused too, clearly.
    wrong = tmp_path / "wrong.json"
    data = json.loads(Path(owner_cli.env["FRAGMENT_KEYRING"]).read_text())
    data["albums"][album_id]["album_key"] = crypto.b64e(crypto.random_key())
    wrong.write_text(json.dumps(data))
    wrong.chmod(0o600)
    code, output = Fragment(wrong)("albums", "rename", album_id, "Hijacked", ok=False)
    assert code == 1 and "does not open the album" in output and "nothing was changed" in output
    meta, listing_after, _saved = recipient_view(link, tmp_path)
    assert meta["title"] == "Twins" and listing_after == listing


@pytest.mark.slow
def test_sync_uploads_what_appears_between_rounds_and_deletes_only_when_asked(live_server, owner_cli, tmp_path):
    folder = tmp_path / "Camera"
    photos(folder, "IMG_0001.jpg")
    link = owner_cli.publish(folder, "--title", "Camera", "--server", live_server["url"])
    ring_path = Path(owner_cli.env["FRAGMENT_KEYRING"])

    _code, output = owner_cli("sync", folder, "--album", "Camera", "--once")
    assert "Nothing new in" in output and "Added" not in output
    states = list(ring_path.parent.glob("sync-*.json"))
    assert len(states) == 1 and oct(states[0].stat().st_mode & 0o777) == "0o600"

    photos(folder, "IMG_0002.jpg", "IMG_0003.jpg")
    (folder / "notes.txt").write_text("not a photo")
    writing = folder / "IMG_0004.jpg"
    make_jpeg_with_orientation(writing, size=(300, 200), orientation=1)  # just written: it waits
    _code, output = owner_cli("sync", folder, "--album", "Camera", "--once")
    assert "Added IMG_0002.jpg" in output and "Added IMG_0003.jpg" in output
    assert "Still being written, left for the next round: IMG_0004.jpg." in output
    _meta, listing, _saved = recipient_view(link, tmp_path)
    assert sorted(listing.values()) == ["IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg"]

    old = time.time() - 60
    os.utime(writing, (old, old))
    (folder / "IMG_0001.jpg").unlink()
    _code, output = owner_cli("sync", folder, "--album", "Camera", "--once")
    assert "Added IMG_0004.jpg" in output and "Added IMG_0002.jpg" not in output and "Removed" not in output
    _meta, listing, saved = recipient_view(link, tmp_path)
    assert sorted(listing.values()) == ["IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg", "IMG_0004.jpg"]  # never deleted

    _code, output = owner_cli("sync", folder, "--album", "Camera", "--once", "--delete")
    assert "Removing 1 file(s) no longer in" in output and "IMG_0001.jpg" in output and "Removed IMG_0001.jpg" in output
    _meta, listing, saved = recipient_view(link, tmp_path)
    assert saved == {p.name: p.read_bytes() for p in folder.glob("*.jpg")}

    # A file another command added is not the folder's: --delete leaves it; --rescan lists the album again.
    extra = photos(tmp_path / "extra", "guest.jpg")
    owner_cli("albums", "add", "Camera", *extra)
    _code, output = owner_cli("sync", folder, "--album", "Camera", "--once", "--delete", "--rescan")
    assert "Removed" not in output and "Added" not in output
    _meta, listing, _saved = recipient_view(link, tmp_path)
    assert "guest.jpg" in listing.values()


@pytest.mark.slow
def test_albums_delete_removes_the_album_its_blobs_and_its_key(live_server, owner_cli, tmp_path):
    folder = tmp_path / "Gone"
    photos(folder, "x.jpg", "y.jpg")
    link = owner_cli.publish(folder, "--title", "Gone", "--server", live_server["url"])
    ring_path = Path(owner_cli.env["FRAGMENT_KEYRING"])
    album_id = keyring.load(ring_path).find_album("Gone")
    assert [p for p in Path(live_server["data_dir"]).rglob("*") if album_id in p.parts]
    _code, output = owner_cli("albums", "delete", "Gone", "--yes")
    assert f"Deleted album 'Gone' ({album_id})." in output
    assert not [p for p in Path(live_server["data_dir"]).rglob("*") if album_id in p.parts]
    assert album_id not in keyring.load(ring_path).albums()
    code, _output = Fragment(tmp_path / "r.json")("open", link, "--out", tmp_path / "out", ok=False)
    assert code == 1
