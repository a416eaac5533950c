"""Adding photos one can see to one's own albums, through the API (issue 13, "Organize what others shared").

Olga shares an album with Vic as a viewer. Vic's client opens each file key with Olga's album key
and wraps it under his own album's key (viewer/crypto.py, as static/js/owner/add-to-album.js does),
and the server adds the files by reference (the same blobs, nothing counted) or as a copy (blobs
copied, counted at once). What a person would notice is checked: what each album lists, the bytes
that come back, the storage each account uses, and which blobs the store keeps.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.test_sharing_api import Person, files_of, person, share
from viewer import crypto
from viewer.server import db

pytestmark = pytest.mark.settings(SIGNUP="open")


def used(app, who: Person) -> int:
    with app.app_context():
        return db.session().get_one(db.Account, who.id).bytes_used


def refs(app, folder: str, file_id: str) -> int | None:
    with app.app_context():
        row = db.session().get(db.BlobRef, (folder, file_id))
        return None if row is None else row.refs


def blob_files(app, album_id: str, file_id: str | None = None) -> set[str]:
    """The blobs the local store holds in an album's folder (or one file's), as album/file/kind."""
    root = Path(app.config["DATA_DIR"]) / "blobs"
    top = root / album_id / file_id if file_id else root / album_id
    return {str(path.relative_to(root)) for path in top.rglob("*") if path.is_file()} if top.exists() else set()


def open_entries(who: Person, album_id: str, ak: bytes) -> dict[str, bytes]:
    """file id -> file key, for every file the album lists, opened with its album key."""
    return {
        entry["file_id"]: crypto.unwrap_file_key(ak, crypto.b64d(entry["wrapped_key"]), album_id, entry["file_id"])
        for entry in files_of(who, album_id)
    }


def original(who: Person, album_id: str, file_id: str, fk: bytes) -> bytes:
    answer = who.call("GET", f"/api/owner/albums/{album_id}/files/{file_id}/blobs/original")
    assert answer.status_code == 200, answer.get_json()
    return crypto.decrypt_blob_bytes(fk, file_id, "original", answer.data)


def body_for(source_album: str, source_key: bytes, who: Person, target: str, target_key: bytes, ids, *, copy=False, epoch=0):
    """What the client sends: each file key wrapped for the target album, its metadata sealed again for it."""
    keys = open_entries(who, source_album, source_key)
    metas = {entry["file_id"]: entry["meta"] for entry in files_of(who, source_album)}
    files = []
    for file_id in ids:
        fk = keys[file_id]
        meta = crypto.open_file_meta(fk, source_album, file_id, crypto.b64d(metas[file_id]))
        files.append(
            {
                "id": file_id,
                "wrapped_key": crypto.b64e(crypto.wrap_file_key(target_key, fk, target, file_id)),
                "meta": crypto.b64e(crypto.seal_file_meta(fk, target, file_id, meta)),
            }
        )
    return {"source_album": source_album, "key_epoch": epoch, "copy": copy, "files": files}


def add(who: Person, target: str, body: dict):
    return who.call("POST", f"/api/owner/albums/{target}/references", json=body)


@pytest.fixture
def shared(app):
    """Olga's album of three photos, shared with Vic as a viewer; Vic's own album."""
    olga, vic = person(app, "olga@example.org"), person(app, "vic@example.org")
    album, ak = olga.as_owner().album("Harbour")
    photos = {olga.as_owner().add_file(album, ak, os.urandom(3000 + n), f"h{n}.jpg"): n for n in range(3)}
    assert share(olga, album, ak, vic, "viewer").status_code == 201
    mine, mine_key = vic.as_owner().album("Keepers")
    return olga, vic, album, ak, list(photos), mine, mine_key


def test_by_reference_the_same_bytes_and_no_storage_then_counted_once_the_original_goes(app, shared):
    olga, vic, album, ak, ids, mine, mine_key = shared
    originals = {file_id: original(olga, album, file_id, fk) for file_id, fk in open_entries(olga, album, ak).items()}
    olga_used, blobs = used(app, olga), blob_files(app, album)
    answer = add(vic, mine, body_for(album, vic.album_key(_shared_album(vic)), vic, mine, mine_key, ids[:2]))
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json() == {"added": ids[:2], "already": []}
    kept = open_entries(vic, mine, mine_key)
    assert set(kept) == set(ids[:2])
    assert all(original(vic, mine, file_id, fk) == originals[file_id] for file_id, fk in kept.items())
    listed = {entry["file_id"]: entry for entry in files_of(vic, mine)}
    assert all(entry["added_by"]["email"] == "vic@example.org" and entry["guest"] is False for entry in listed.values())
    assert used(app, vic) == 0 and used(app, olga) == olga_used
    assert blob_files(app, mine) == set() and blob_files(app, album) == blobs  # nothing copied
    assert refs(app, album, ids[0]) == 2

    again = add(vic, mine, body_for(album, ak, vic, mine, mine_key, ids))
    assert again.status_code == 201 and again.get_json() == {"added": [ids[2]], "already": ids[:2]}

    # Olga deletes an original: Vic's reference still opens it, and now counts for him.
    size = sum(_entry(olga, album, ids[0])["blobs"].values())
    assert olga.call("DELETE", f"/api/owner/albums/{album}/files/{ids[0]}").status_code == 200
    assert original(vic, mine, ids[0], kept[ids[0]]) == originals[ids[0]]
    assert used(app, vic) == size and used(app, olga) == olga_used - size
    assert refs(app, album, ids[0]) is None  # one user left: no count
    assert blob_files(app, album, ids[0]) == {f"{album}/{ids[0]}/{kind}" for kind in ("thumb", "preview", "original")}
    # Vic deletes it too: the last user, so the blobs go, and so does the charge.
    assert vic.call("DELETE", f"/api/owner/albums/{mine}/files/{ids[0]}").status_code == 200
    assert blob_files(app, album, ids[0]) == set() and used(app, vic) == 0
    # Vic deletes a reference while Olga keeps the original: her blobs stay, nobody's storage moves.
    assert vic.call("DELETE", f"/api/owner/albums/{mine}/files/{ids[1]}").status_code == 200
    assert original(olga, album, ids[1], open_entries(olga, album, ak)[ids[1]]) == originals[ids[1]]
    assert used(app, vic) == 0 and used(app, olga) == olga_used - size and refs(app, album, ids[1]) is None


def test_a_copy_counts_at_once_and_lives_in_the_copiers_folder(app, shared):
    olga, vic, album, ak, ids, mine, mine_key = shared
    size = sum(_entry(olga, album, ids[0])["blobs"].values())
    with app.app_context():
        db.session().get_one(db.Account, vic.id).quota_bytes = size - 1
        db.session().commit()
    refused = add(vic, mine, body_for(album, ak, vic, mine, mine_key, ids[:1], copy=True))
    assert refused.status_code == 413 and refused.get_json()["error"] == "account_full"
    assert refused.get_json()["message"].startswith("Your storage is full: 0.0 MB of 0.0 MB used, and this copy needs")
    assert files_of(vic, mine) == [] and used(app, vic) == 0 and blob_files(app, mine) == set()

    with app.app_context():
        db.session().get_one(db.Account, vic.id).quota_bytes = None
        db.session().commit()
    answer = add(vic, mine, body_for(album, ak, vic, mine, mine_key, ids[:1], copy=True))
    assert answer.status_code == 201 and answer.get_json()["added"] == ids[:1]
    assert used(app, vic) == size
    assert blob_files(app, mine) == {f"{mine}/{ids[0]}/{kind}" for kind in ("thumb", "preview", "original")}
    assert refs(app, album, ids[0]) is None  # a copy shares nothing
    fk = open_entries(vic, mine, mine_key)[ids[0]]
    expected = original(olga, album, ids[0], fk)
    # The original goes: the copy keeps its own bytes, and Olga gets hers back.
    olga_used = used(app, olga)
    assert olga.call("DELETE", f"/api/owner/albums/{album}/files/{ids[0]}").status_code == 200
    assert used(app, olga) == olga_used - size and used(app, vic) == size
    assert original(vic, mine, ids[0], fk) == expected


def test_deleting_an_album_keeps_the_blobs_others_use(app, shared):
    olga, vic, album, ak, ids, mine, mine_key = shared
    assert add(vic, mine, body_for(album, ak, vic, mine, mine_key, ids[:1])).status_code == 201
    keys = open_entries(olga, album, ak)
    expected = original(olga, album, ids[0], keys[ids[0]])
    assert olga.call("DELETE", f"/api/owner/albums/{album}").status_code == 200
    assert olga.call("GET", f"/api/owner/albums/{album}").status_code == 404
    assert used(app, olga) == 0
    # Vic's reference keeps its blobs in the folder of the album that is gone; the others went.
    assert blob_files(app, album) == {f"{album}/{ids[0]}/{kind}" for kind in ("thumb", "preview", "original")}
    assert original(vic, mine, ids[0], open_entries(vic, mine, mine_key)[ids[0]]) == expected
    assert used(app, vic) == sum(_entry(vic, mine, ids[0])["blobs"].values())
    # Vic deletes his album: the last user, so they go now.
    assert vic.call("DELETE", f"/api/owner/albums/{mine}").status_code == 200
    assert blob_files(app, album) == set() and used(app, vic) == 0
    with app.app_context():
        assert db.session().scalars(select(db.BlobRef)).all() == []


def test_a_reference_of_a_reference_shares_the_first_folder_and_cleanup_keeps_it(app, shared):
    olga, vic, album, ak, ids, mine, mine_key = shared
    assert add(vic, mine, body_for(album, ak, vic, mine, mine_key, ids[:1])).status_code == 201
    second, second_key = vic.as_owner().album("Second")
    assert add(vic, second, body_for(mine, mine_key, vic, second, second_key, ids[:1])).status_code == 201
    assert refs(app, album, ids[0]) == 3
    with app.app_context():
        row = db.session().scalars(select(db.File).where(db.File.album_id == second)).one()
        assert row.blob_album == album and row.charged is False
    # A blob left in the folder of Vic's album (a copy that died half way): no row uses that folder.
    stray = Path(app.config["DATA_DIR"]) / "blobs" / mine / ids[0] / "original"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"left behind")
    result = app.test_cli_runner().invoke(args=["cleanup", "--min-age", "0"])
    assert result.exit_code == 0, result.output
    assert len(blob_files(app, album)) == 9  # every blob is still used by someone
    assert not stray.exists()
    fk = open_entries(vic, second, second_key)[ids[0]]
    assert original(vic, second, ids[0], fk) == original(olga, album, ids[0], open_entries(olga, album, ak)[ids[0]])


def test_what_is_refused_and_how(app, shared):
    olga, vic, album, ak, ids, mine, mine_key = shared
    good = body_for(album, ak, vic, mine, mine_key, ids[:1])
    # A viewer cannot add to the album he only views; nor can anyone add from an album they cannot see.
    refused = add(vic, album, body_for(album, ak, vic, album, ak, ids[:1]))
    assert refused.status_code == 403 and refused.get_json()["message"].startswith("You are a viewer of this album")
    stranger = person(app, "sam@example.org")
    theirs, _key = stranger.as_owner().album()
    assert add(stranger, theirs, {**good, "source_album": album}).status_code == 404
    # The album got a new key since the client read it.
    stale = add(vic, mine, {**good, "key_epoch": 1})
    assert stale.status_code == 409 and stale.get_json()["error"] == "stale_key"
    # A file that is not in the source album (any more).
    missing = {**good, "files": [{**good["files"][0], "id": crypto.new_id()}]}
    gone = add(vic, mine, missing)
    assert gone.status_code == 404 and gone.get_json()["message"].startswith("1 photo is not in that album any more")
    # Malformed input: a clear 400 each, and nothing added.
    for broken, message in (
        ({**good, "files": [{**good["files"][0], "wrapped_key": crypto.b64e(b"x" * 40)}]}, "wrapped_key"),
        ({**good, "files": [{**good["files"][0], "id": "not an id"}]}, "file id is malformed"),
        ({**good, "files": []}, "`files` must list the photos to add."),
        ({**good, "files": good["files"] * 2}, "A photo is listed twice."),
        ({**good, "files": [good["files"][0]] * 101}, "At most 100 photos"),
        ({**good, "source_album": "x"}, "source album id is malformed"),
        ({**good, "copy": "yes"}, "'copy' must be true or false"),
        ({k: v for k, v in good.items() if k != "key_epoch"}, "key_epoch"),
    ):
        answer = add(vic, mine, broken)
        assert answer.status_code == 400, (broken, answer.get_json())
        assert message in answer.get_json()["message"], answer.get_json()
    assert files_of(vic, mine) == []
    # A guest's photo waiting for Olga's approval cannot be added by anyone.
    with app.app_context():
        db.session().get_one(db.File, _seq(app, album, ids[2])).held = True
        db.session().commit()
    mine_olga, mine_olga_key = olga.as_owner().album("Olga's other")
    body = body_for(album, ak, olga, mine_olga, mine_olga_key, ids)  # the owner's listing shows held files
    answer = add(olga, mine_olga, body)
    assert answer.status_code == 404 and answer.get_json()["missing"] == [ids[2]]
    assert files_of(olga, mine_olga) == []  # all or nothing


def _shared_album(who: Person) -> dict:
    (album,) = who.call("GET", "/api/owner/shared").get_json()["albums"]
    return album


def _entry(who: Person, album_id: str, file_id: str) -> dict:
    return next(entry for entry in files_of(who, album_id) if entry["file_id"] == file_id)


def _seq(app, album_id: str, file_id: str) -> int:
    with app.app_context():
        return db.session().scalars(select(db.File.seq).where(db.File.album_id == album_id, db.File.id == file_id)).one()
