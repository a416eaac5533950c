"""The owner's operations under the command line, without a server: albums.save_files, disk, links, the layering.

test_cli_unit.py drives them through `fragment`; these tests call them directly, with a
fake fetch and report, where the command line would hide what they did.
"""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import pytest
import requests

from viewer import crypto
from viewer.owner import albums, disk, edit, keyring, links, sync
from viewer.owner.report import Quiet

OWNER = Path(albums.__file__).parent
ALBUM_ID, ALBUM_KEY = crypto.new_id(), crypto.random_key()


def response(body: bytes) -> requests.Response:
    """A real requests.Response with a body already in memory."""
    answer = requests.Response()
    answer.status_code = 200
    answer._content = body
    answer._content_consumed = True  # type: ignore[attr-defined]  # requests' private flag, not in its stubs
    return answer


class Album:
    """Listed files of ALBUM_ID and their encrypted blobs, fetched as save_files would."""

    def __init__(self) -> None:
        self.entries: list[dict] = []
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.fetched: list[tuple[str, str]] = []

    def add(self, name: str, data: bytes, **meta) -> str:
        file_id, key = crypto.new_id(), crypto.random_key()
        full = {"v": 1, "name": name, "size": len(data), "preview_type": "image/webp", **meta}
        self.entries.append(
            {
                "file_id": file_id,
                "wrapped_key": crypto.b64e(crypto.wrap_file_key(ALBUM_KEY, key, ALBUM_ID, file_id)),
                "meta": crypto.b64e(crypto.seal_file_meta(key, ALBUM_ID, file_id, full)),
                "blobs": {"original": len(data), "preview": 7},
            }
        )
        self.blobs[file_id, "original"] = crypto.encrypt_blob_bytes(key, file_id, "original", data)
        self.blobs[file_id, "preview"] = crypto.encrypt_blob_bytes(key, file_id, "preview", b"preview")
        return file_id

    def fetch(self, file_id: str, kind: str) -> requests.Response:
        self.fetched.append((file_id, kind))
        return response(self.blobs[file_id, kind])

    def save(self, out: Path, kind: str = "original", **options) -> albums.Saved:
        return albums.save_files(self.entries, ALBUM_KEY, ALBUM_ID, self.fetch, out, kind, Quiet(), **options)


def test_save_files_writes_originals_under_safe_names_and_overwrites_nothing(tmp_path):
    album = Album()
    album.add("../../escape.jpg", b"one")
    album.add("escape.jpg", b"two")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.jpg").write_bytes(b"keep me")
    album.add("mine.jpg", b"three!")  # same name, other size: saved beside it
    assert album.save(tmp_path / "out") == albums.Saved(3, 0)
    saved = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert saved == {"escape.jpg": b"one", "escape (2).jpg": b"two", "mine.jpg": b"keep me", "mine (2).jpg": b"three!"}
    assert not (tmp_path / "escape.jpg").exists()


def test_save_files_fetches_an_original_from_an_earlier_run_only_once(tmp_path):
    album = Album()
    first = album.add("a.jpg", b"aaaa")
    album.add("b.jpg", b"bbbb")
    (tmp_path / "a.jpg").write_bytes(b"aaaa")
    assert album.save(tmp_path) == albums.Saved(1, 1)
    assert (first, "original") not in album.fetched


def test_save_files_of_previews_names_them_and_checks_no_size(tmp_path):
    album = Album()
    album.add("IMG_1.HEIC", b"original bytes")
    (tmp_path / "IMG_1 (preview).webp").write_bytes(b"preview")  # previews are never taken as done
    assert album.save(tmp_path, "preview") == albums.Saved(1, 0)
    assert (tmp_path / "IMG_1 (preview) (2).webp").read_bytes() == b"preview"


def test_save_files_for_guests_puts_each_in_its_folder_with_its_capture_time(tmp_path):
    album = Album()
    album.add("a.jpg", b"from ana", uploader="Ana", taken_at="2024-06-01T12:30:00+00:00")
    album.add("a.jpg", b"from nobody", uploader="../..")
    assert album.save(tmp_path, per_uploader=True, keep_taken_time=True) == albums.Saved(2, 0)
    assert (tmp_path / "Ana" / "a.jpg").read_bytes() == b"from ana"
    assert (tmp_path / "Ana" / "a.jpg").stat().st_mtime == 1717245000
    assert (tmp_path / "guest" / "a.jpg").read_bytes() == b"from nobody"


def test_save_files_names_the_file_that_was_tampered_with_and_keeps_nothing_of_it(tmp_path):
    album = Album()
    file_id = album.add("bad.jpg", b"x" * 5000)
    damaged = bytearray(album.blobs[file_id, "original"])
    damaged[100] ^= 1
    album.blobs[file_id, "original"] = bytes(damaged)
    with pytest.raises(albums.FileError) as caught:
        album.save(tmp_path)
    assert caught.value.name == "bad.jpg" and isinstance(caught.value.cause, crypto.DecryptionError)
    assert list(tmp_path.iterdir()) == []


def test_a_listed_file_whose_key_does_not_open_is_named_by_its_id(tmp_path):
    album = Album()
    file_id = album.add("a.jpg", b"a")
    album.entries[0]["wrapped_key"] = crypto.b64e(os.urandom(72))
    with pytest.raises(albums.AlbumError, match=f"file {file_id}: its key or metadata is damaged"):
        album.save(tmp_path)


# --- disk ---------------------------------------------------------------------------


def test_atomic_file_replaces_only_at_the_end_and_is_private(tmp_path):
    target = tmp_path / "f.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), disk.atomic_file(target) as out:
        out.write(b"half of the new")
        assert target.read_bytes() == b"old"
        raise RuntimeError("crash")
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"] and target.read_bytes() == b"old"
    with disk.atomic_file(target) as out:
        out.write(b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_atomic_file_beside_a_name_of_255_bytes(tmp_path):
    target = tmp_path / disk.safe_name("é" * 300 + ".jpg")
    with disk.atomic_file(target) as out:
        out.write(b"x")
    assert target.read_bytes() == b"x"


# --- links ------------------------------------------------------------------------------


def test_the_fields_of_a_password_link_open_with_that_password_only(monkeypatch):
    monkeypatch.setattr(crypto, "password_factor", lambda password, params: password.encode().ljust(32, b"."))
    secret, link_id = crypto.random_key(), crypto.new_id()
    fields = links.password_fields(secret, ALBUM_KEY, link_id, "pw")
    assert json.dumps(fields)  # all of it goes to the server as JSON
    keys = crypto.link_keys(secret, b"pw".ljust(32, b"."))
    assert crypto.unwrap_album_key(keys.wrap_key, crypto.b64d(fields["wrapped_album_key"]), link_id) == ALBUM_KEY
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_album_key(crypto.link_keys(secret).wrap_key, crypto.b64d(fields["wrapped_album_key"]), link_id)


def test_link_id_of_takes_a_bare_id_or_a_whole_link():
    link_id = crypto.new_id()
    assert links.link_id_of(f" {link_id} ") == link_id
    assert links.link_id_of(f"https://h.example/p/a/{link_id}#whatever") == link_id
    with pytest.raises(links.BadLink):
        links.link_id_of("not a link")


# --- layering -----------------------------------------------------------------------------


def imported(module: str) -> set[str]:
    """The top-level modules and the wing's own modules that viewer/owner/<module>.py imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse((OWNER / f"{module}.py").read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:
                names.update([node.module] if node.module else [alias.name for alias in node.names])
            elif node.level == 2:
                names.update(f"viewer.{alias.name}" for alias in node.names)
            else:
                names.add(str(node.module).split(".")[0])
    return names


def test_the_http_client_holds_no_key_and_touches_no_file():
    assert imported("client") & {"viewer.crypto", "os", "tempfile", "pathlib", "keyring", "disk", "click"} == set()


def test_only_the_command_line_knows_click():
    for path in sorted(OWNER.glob("*.py")):
        if path.stem not in ("cli", "__init__"):
            assert "click" not in imported(path.stem), path.name


# --- album edits (edit.py) and sync rounds (sync.py) --------------------------------------------


def album_file(name: str, size: int = 10, **meta) -> edit.AlbumFile:
    return edit.AlbumFile(crypto.new_id(), {"v": 1, "name": name, "size": size, **meta})


def test_files_are_named_by_id_or_by_the_name_open_saves_them_under():
    a, b, nested = album_file("a.jpg"), album_file("b.jpg"), album_file("../trip/c.jpg")
    files = [a, b, nested]
    assert edit.resolve(files, [b.file_id, "a.jpg", "c.jpg"]) == [b, a, nested]
    assert edit.resolve(files, ["../trip/c.jpg"]) == [nested]  # the sealed name itself works too


def test_a_name_several_files_share_is_refused_listing_each_with_its_id():
    one, two = album_file("same.jpg", 1200, taken_at="2024-06-01T12:30:00"), album_file("same.jpg", 3_400_000)
    with pytest.raises(albums.AlbumError) as refused:
        edit.resolve([one, two], ["same.jpg"])
    message = str(refused.value)
    assert message.startswith("2 files are named 'same.jpg'; name the one you mean by its id: ")
    assert f"{one.file_id} (same.jpg, 1200 bytes, taken 2024-06-01T12:30:00)" in message
    assert f"{two.file_id} (same.jpg, 3.4 MB)" in message
    assert edit.resolve([one, two], [two.file_id]) == [two]


def test_an_unknown_file_and_a_file_named_twice_are_refused():
    a = album_file("a.jpg")
    with pytest.raises(albums.AlbumError, match=r"the album has no file with the id or name 'z\.jpg'"):
        edit.resolve([a], ["z.jpg"])
    with pytest.raises(albums.AlbumError, match="is named twice"):
        edit.resolve([a], ["a.jpg", a.file_id])


def test_a_change_keeps_every_other_key_and_none_removes_one():
    meta = {"v": 1, "title": "Lyon", "description": "old", "future_key": [1, 2]}
    assert edit.changed_meta(meta, {"description": None, "cover": "X"}) == {"title": "Lyon", "future_key": [1, 2], "cover": "X"}
    assert meta["description"] == "old"  # not changed in place


def test_orders_set_sort_and_only_custom_keeps_an_order():
    assert edit.order_changes("custom", ["a", "b"]) == {"sort": "custom", "order": ["a", "b"]}
    assert edit.order_changes("name") == {"sort": "name", "order": None}
    with pytest.raises(albums.AlbumError, match="is not an order"):
        edit.order_changes("random")
    with pytest.raises(albums.AlbumError, match="at least one file"):
        edit.order_changes("custom", [])


def test_a_custom_order_too_long_for_the_metadata_is_refused_with_the_way_out():
    key, album_id = crypto.random_key(), crypto.new_id()
    fits = edit.changed_meta({"title": "Big"}, edit.order_changes("custom", [crypto.new_id() for _ in range(2400)]))
    assert len(edit.seal_meta(key, album_id, fits)) <= edit.MAX_META_BYTES
    too_many = edit.changed_meta({"title": "Big"}, edit.order_changes("custom", [crypto.new_id() for _ in range(2700)]))
    with pytest.raises(albums.AlbumError, match=r"a custom order of 2700 files does not fit .* use `--by taken`"):
        edit.seal_meta(key, album_id, too_many)


def test_a_file_is_ready_only_when_both_looks_agree_and_it_settled():
    now = 1_000_000.0
    old = [500, int((now - 10) * 1e9)]
    assert sync.ready(old, list(old), now)
    assert not sync.ready(old, [600, old[1]], now)  # grew between the two looks
    assert not sync.ready(old, None, now)  # gone
    fresh = [500, int((now - 1) * 1e9)]
    assert not sync.ready(fresh, list(fresh), now)  # modified in the last 2 s


class SyncOwner:
    """The few owner calls a sync round makes, counted; uploads go through a fake add_files."""

    server_url = "https://photos.example.org"

    def __init__(self, files: list[edit.AlbumFile]):
        self.files = {f.file_id: f for f in files}
        self.listed = 0
        self.deleted: list[str] = []

    def find_album(self, album_id: str) -> dict:
        return {"album_id": album_id}

    def delete_file(self, album_id: str, file_id: str) -> dict:
        self.deleted.append(file_id)
        self.files.pop(file_id)
        return {"deleted": True}


@pytest.fixture
def sync_setup(tmp_path, monkeypatch):
    ring = keyring.Keyring(tmp_path / "ring" / "keyring.json")
    ring.add_album(ALBUM_ID, SyncOwner.server_url, ALBUM_KEY, "Camera")
    ring.save()
    guest = album_file("guest.jpg", 5)
    owner = SyncOwner([guest])

    def listing(owner_client, album_key, album_id, report=None):
        owner_client.listed += 1
        return list(owner_client.files.values())

    def add_files(owner_client, album_id, album_key, paths, report, on_sent=None):
        sent, skipped = [], []
        for path in paths:
            if path.read_bytes() == b"broken":
                skipped.append(path.name)
                continue
            done = albums.SentFile(crypto.new_id(), {"name": path.name, "size": path.stat().st_size}, {})
            owner_client.files[done.file_id] = edit.AlbumFile(done.file_id, done.meta)
            sent.append(done)
            if on_sent:
                on_sent(path, done)
        return edit.Added(sent, skipped)

    monkeypatch.setattr(sync, "album_files", listing)
    monkeypatch.setattr(sync, "add_files", add_files)
    folder = tmp_path / "DCIM"
    folder.mkdir()
    return ring, owner, folder


def settled(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.utime(path, (1_000, 1_000))
    return path


def test_a_sync_round_lists_the_album_once_and_sends_only_what_it_lacks(sync_setup):
    ring, owner, folder = sync_setup
    settled(folder / "a.jpg", b"a" * 10)
    settled(folder / "guest.jpg", b"g" * 5)  # same name and size as the guest's file: already there
    added: list[str] = []
    first = sync.sync_round(ring, owner, ALBUM_ID, folder, Quiet(), on_added=added.append)
    assert first.added == added == ["a.jpg"] and owner.listed == 1
    settled(folder / "b.jpg", b"b" * 7)
    (folder / "c.jpg").write_bytes(b"c")  # modified just now: waits
    settled(folder / "bad.jpg", b"broken")
    just_after = (folder / "c.jpg").stat().st_mtime + 0.5
    second = sync.sync_round(ring, owner, ALBUM_ID, folder, Quiet(), clock=lambda: just_after)
    assert second.added == ["b.jpg"] and second.waiting == ["c.jpg"] and second.skipped == ["bad.jpg"]
    assert owner.listed == 1  # the state file, not the album, said what was there
    third = sync.sync_round(ring, owner, ALBUM_ID, folder, Quiet())
    assert third.skipped == [] and third.added == []  # an unreadable file is tried again only once it changes
    state_files = list(ring.path.parent.glob("sync-*.json"))
    assert len(state_files) == 1 and stat.S_IMODE(state_files[0].stat().st_mode) == 0o600


def test_sync_deletes_only_with_delete_and_only_what_the_folder_had(sync_setup):
    ring, owner, folder = sync_setup
    a = settled(folder / "a.jpg", b"a" * 10)
    sync.sync_round(ring, owner, ALBUM_ID, folder, Quiet())
    a.unlink()
    assert sync.sync_round(ring, owner, ALBUM_ID, folder, Quiet()).removed == []
    assert sorted(f.meta["name"] for f in owner.files.values()) == ["a.jpg", "guest.jpg"]
    done = sync.sync_round(ring, owner, ALBUM_ID, folder, Quiet(), delete=True)
    assert done.removed == ["a.jpg"] and [f.meta["name"] for f in owner.files.values()] == ["guest.jpg"]


def test_a_state_file_of_another_album_or_folder_is_not_trusted(tmp_path):
    path = tmp_path / "sync.json"
    state = sync.new_state("https://a.example", ALBUM_ID, "/photos", [])
    sync.save_state(path, state)
    assert sync.load_state(path, "https://a.example/", ALBUM_ID, "/photos") == state
    assert sync.load_state(path, "https://a.example", ALBUM_ID, "/other") is None
    assert sync.load_state(path, "https://a.example", crypto.new_id(), "/photos") is None
    path.write_text("{not json")
    assert sync.load_state(path, "https://a.example", ALBUM_ID, "/photos") is None
