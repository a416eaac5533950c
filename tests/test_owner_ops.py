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
from viewer.owner import albums, disk, links
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
