"""The owner's command line opens the files guests added through a file drop (issue 13), with the real crypto.

A drop link holds no album key: each guest seals a file key to the album's drop key of an epoch, whose
secret is sealed under that epoch's album key (docs/format.md, "File drop"). The drop link and the guest
are made through the API as tests/test_drop_api.py does (its helpers, against gunicorn here); then the
real `fragment` gives back the guest's original bytes (`pull`, `open` of a viewing link, a file named in
`albums cover`), and a tampered sealed key costs that file only, said in one line. The tests without a
server check each way a drop cannot be opened: one line each, never a traceback.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import requests

from tests.support.api_helpers import bearer, unlock_live
from tests.test_cli_account import browser_session, keyring_of, photos, sign_up, signed_in_cli
from tests.test_cli_epochs import ALBUM_ID, SERVER, Notes, chained, jpeg, listed, ring_with
from tests.test_drop_api import drop_body, guest_file, opened_drop_key
from viewer import crypto
from viewer.owner import albums, edit

DAMAGED = "added through an upload-only link: its key is damaged or has been tampered with"
NO_KEY = "added through an upload-only link: the server lists no drop key that opens"


def saved(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def guest_drops(url: str, drop, content: bytes, name: str) -> str:
    """A guest of the drop link adds a file, as the web page does: unlock, seal FK to the drop key, send; its id."""
    answer = unlock_live(url, drop.link_id, drop.keys)
    assert answer.status_code == 200, answer.text
    unlocked = answer.json()
    assert unlocked["wrapped_album_key"] is None  # nothing the guest holds opens the album
    token = unlocked["access_token"]
    body, blobs = guest_file(unlocked["album_id"], opened_drop_key(unlocked, drop), content, name)
    base = f"{url}/api/links/{drop.link_id}/files"
    reserved = requests.post(base, json=body, headers=bearer(token), timeout=30)
    assert reserved.status_code == 201, reserved.text
    for kind, blob in blobs.items():
        sent = requests.put(f"{base}/{body['file_id']}/blobs/{kind}", data=blob, headers=bearer(token), timeout=30)
        assert sent.status_code == 200, sent.text
    done = requests.post(f"{base}/{body['file_id']}/complete", headers=bearer(token), timeout=30)
    assert done.status_code == 200 and done.json()["drop"] is True, done.text
    return body["file_id"]


def test_the_owner_opens_what_guests_added_through_a_drop(live_server, tmp_path):
    url = live_server["url"]
    made = sign_up(live_server, "drops@example.org")
    fragment = signed_in_cli(tmp_path, live_server, "drops@example.org")
    session, _account = browser_session(live_server, "drops@example.org")
    folder = photos(tmp_path / "Party", 1)
    view = fragment.publish(folder, "--title", "Party", "--server", url)
    album_id = next(iter(keyring_of(fragment)["albums"]))
    ak = crypto.b64d(keyring_of(fragment)["albums"][album_id]["album_key"])

    # The owner's web client makes an "Only add" link: the album's first drop key, sealed for the link.
    drop_key = crypto.new_drop_key(ak, album_id, 0)
    body, drop = drop_body(SimpleNamespace(made=made), album_id, drop_key.public_key, 0, drop_key=drop_key)  # type: ignore[arg-type]
    answer = session.post(f"{url}/api/owner/albums/{album_id}/links", json=body)
    assert answer.status_code == 201, answer.text
    original = jpeg(tmp_path / "guest" / "dropped.jpg").read_bytes()
    dropped = guest_drops(url, drop, original, "dropped.jpg")

    # `pull` saves the guest's original, byte for byte, and says nothing was skipped.
    _, output = fragment("pull", album_id, "--out", tmp_path / "pulled")
    assert saved(tmp_path / "pulled") == {"guest/dropped.jpg": original}
    assert "Saved 1 guest file(s)" in output and "skipped" not in output
    # A viewing link's visitor gets it with the album's own files (its unlock lists the drop keys).
    fragment("open", view, "--out", tmp_path / "opened")
    assert saved(tmp_path / "opened") == {"photo 1.jpg": (folder / "photo 1.jpg").read_bytes(), "dropped.jpg": original}
    # Commands that name files by name find it too.
    _, output = fragment("albums", "cover", album_id, "dropped.jpg")
    assert "The cover of" in output

    # A second drop whose sealed key the server changed: that file is skipped in one line, the first still opens.
    second = guest_drops(url, drop, b"second" + original, "second.jpg")
    with sqlite3.connect(Path(live_server["data_dir"]) / "fragment.db") as db:
        (wrapped,) = db.execute("SELECT wrapped_key FROM files WHERE id = ?", (second,)).fetchone()
        tampered = bytearray(wrapped)
        tampered[-1] ^= 1
        db.execute("UPDATE files SET wrapped_key = ? WHERE id = ?", (bytes(tampered), second))
    _, output = fragment("pull", album_id, "--out", tmp_path / "pulled-again")
    assert saved(tmp_path / "pulled-again") == {"guest/dropped.jpg": original}
    lines = [line for line in output.splitlines() if second in line]
    assert lines == [f"Warning: skipped file {second}, {DAMAGED}"]
    assert "Traceback" not in output and dropped not in output
    _, output = fragment("open", view, "--out", tmp_path / "opened-again")
    assert saved(tmp_path / "opened-again") == saved(tmp_path / "opened")
    assert f"Warning: skipped file {second}" in output


# --- without a server: what opens, and each way a drop does not ------------------------------------


def dropped(public_key: bytes, name: str, epoch: int = 0) -> tuple[dict, bytes]:
    """A drop as the owner's listing shows it (its key sealed to the drop key of `epoch`), and its file key."""
    file_id, file_key = crypto.new_id(), crypto.random_key()
    entry = {
        "file_id": file_id,
        "key_epoch": epoch,
        "wrapped_key": crypto.b64e(crypto.seal_drop_file_key(file_key, ALBUM_ID, file_id, public_key)),
        "meta": crypto.b64e(crypto.seal_file_meta(file_key, ALBUM_ID, file_id, {"name": name, "size": 3})),
        "blobs": {"original": 3, "preview": 3, "thumb": 3},
        "drop": True,
    }
    return entry, file_key


def listed_keys(*made: tuple[int, crypto.DropKey]) -> dict:
    return {str(e): {"public_key": crypto.b64e(k.public_key), "sealed_secret": crypto.b64e(k.sealed_secret)} for e, k in made}


class DropOwner:
    """The listing part of the owner API (nothing is downloaded)."""

    server_url = SERVER

    def __init__(self, entries: list[dict], album: dict) -> None:
        self.entries, self.album = entries, album

    def iter_files(self, album_id: str, source: str | None = None):
        return iter(self.entries)

    def find_album(self, album_id: str) -> dict:
        return self.album

    def download_blob(self, album_id: str, file_id: str, kind: str):
        raise AssertionError(f"{file_id} should not be fetched")


def test_drops_of_each_epoch_open_with_that_epochs_album_key(tmp_path):
    mk = crypto.random_key()
    keys, album = chained(mk, 1)
    at0, at1 = crypto.new_drop_key(keys[0], ALBUM_ID, 0), crypto.new_drop_key(keys[1], ALBUM_ID, 1)
    old, _ = dropped(at0.public_key, "before.jpg", 0)
    new, _ = dropped(at1.public_key, "after.jpg", 1)
    album["drop_keys"] = listed_keys((0, at0), (1, at1))
    owner = DropOwner([old, listed(keys[0], "mine.jpg"), new], album)
    report = Notes()
    found = albums.epochs.from_album(ring_with(tmp_path, keys[0], 0, mk), SERVER, album)[0]
    files = edit.album_files(owner, found, ALBUM_ID, report)  # type: ignore[arg-type]  # the listing part of OwnerClient
    assert [f.name for f in files] == ["before.jpg", "mine.jpg", "after.jpg"]
    assert report.notes == []


def test_a_drop_that_does_not_open_is_skipped_in_one_line(tmp_path):
    ak = crypto.random_key()
    made = crypto.new_drop_key(ak, ALBUM_ID, 0)
    good, _ = dropped(made.public_key, "good.jpg")
    tampered, _ = dropped(made.public_key, "tampered.jpg")
    sealed = bytearray(crypto.b64d(tampered["wrapped_key"]))
    sealed[40] ^= 1
    tampered["wrapped_key"] = crypto.b64e(bytes(sealed))
    # A box moved from another file does not open for this one (the ids are inside it).
    moved = {**dropped(made.public_key, "moved.jpg")[0], "wrapped_key": good["wrapped_key"]}
    owner = DropOwner([good, tampered, listed(ak, "mine.jpg"), moved], {"drop_keys": listed_keys((0, made))})
    report = Notes()
    files = edit.album_files(owner, ak, ALBUM_ID, report)  # type: ignore[arg-type]
    assert [f.name for f in files] == ["good.jpg", "mine.jpg"]
    assert report.notes == [
        f"warning: skipped file {tampered['file_id']}, {DAMAGED}",
        f"warning: skipped file {moved['file_id']}, {DAMAGED}",
    ]


def test_drops_without_a_drop_key_that_opens_are_skipped_in_one_line(tmp_path):
    ak = crypto.random_key()
    made = crypto.new_drop_key(ak, ALBUM_ID, 0)
    other = crypto.new_drop_key(crypto.random_key(), ALBUM_ID, 0)  # sealed under a key that is not the album's
    entries = [dropped(made.public_key, "a.jpg")[0], dropped(made.public_key, "b.jpg")[0], listed(ak, "mine.jpg")]

    # The server lists no drop key of their epoch.
    report = Notes()
    files = edit.album_files(DropOwner(entries, {"drop_keys": {}}), ak, ALBUM_ID, report)  # type: ignore[arg-type]
    assert [f.name for f in files] == ["mine.jpg"]
    assert report.notes == [
        "warning: skipped 2 files added through an upload-only link: the server lists no drop key that opens them"
    ]

    # The listed drop key's secret does not open with the album key: one line for its epoch.
    report = Notes()
    files = edit.album_files(DropOwner(entries, {"drop_keys": listed_keys((0, other))}), ak, ALBUM_ID, report)  # type: ignore[arg-type]
    assert [f.name for f in files] == ["mine.jpg"]
    assert report.notes == [
        "warning: skipped 2 files added through an upload-only link: the album's drop key of epoch 0 "
        "does not open with its album key (damaged or tampered with)"
    ]

    # `fragment pull` of guests' files that are all drops it cannot open: nothing fetched, one line, no error.
    report = Notes()
    ring = ring_with(tmp_path, ak, 0, None)
    owner = DropOwner(entries[:1], {"album_id": ALBUM_ID, "key_epoch": 0, "drop_keys": {"0": "garbled"}})
    done = albums.pull(owner, ring, ALBUM_ID, tmp_path / "pulled", report)  # type: ignore[arg-type]
    assert done == albums.Saved(0, 0)
    assert report.notes == [
        "warning: skipped 1 file added through an upload-only link: the server lists no drop key that opens it"
    ]
