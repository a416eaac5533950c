"""End to end: the owner's command line against the real app under gunicorn.

Publish a folder of real photos and a video, open the link as a recipient, and get
every original back byte for byte; then check what the server holds, and that a
damaged blob, a wrong password or a revoked link fail loudly.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.support import gunicorn_clock, servers
from tests.support.media_fixtures import (
    UNICODE_NAME,
    make_album_dir,
    make_jpeg_with_orientation,
    require_ffmpeg,
)
from tests.support.owner_cli import Fragment
from tests.support.servers import flask_cli
from viewer import crypto
from viewer.owner import keyring

pytestmark = pytest.mark.slow
TITLE = "Sommer in Lyon ☀ – 2026"


@pytest.fixture(scope="module")
def owner_cli(live_server, tmp_path_factory):
    fragment = Fragment(tmp_path_factory.mktemp("owner") / "keyring.json")
    token = flask_cli(live_server["data_dir"], "create-owner-token").strip()
    fragment("login", live_server["url"], "--token-stdin", input=token + "\n")
    return fragment


@pytest.fixture(scope="module")
def published(live_server, owner_cli, tmp_path_factory):
    """The round-trip folder, published once for the tests of this module."""
    require_ffmpeg()
    folder = tmp_path_factory.mktemp("photos")
    files = make_album_dir(folder)
    link = owner_cli.publish(folder, "--title", TITLE, "--allow-uploads", "--server", live_server["url"])
    assert link.startswith(live_server["url"] + "/a/") and "#" in link
    return {"link": link, "files": files, "folder": folder}


def recipient(tmp_path) -> Fragment:
    return Fragment(tmp_path / "recipient-keyring.json")


def test_round_trip_gives_back_every_original_byte_for_byte(published, tmp_path):
    out = tmp_path / "out"
    _code, output = recipient(tmp_path)("open", published["link"], "--out", out)
    assert TITLE in output
    got = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    want = {name: path.read_bytes() for name, path in published["files"].items()}
    assert set(got) == set(want) and UNICODE_NAME in got
    for name in want:
        assert got[name] == want[name], name


def _unlocked_previews(link: str) -> dict[str, bytes]:
    """Decrypt every preview through the public API, as the browser will."""
    server, rest = link.split("/a/")
    link_id, fragment = rest.split("#")
    keys = crypto.link_keys(crypto.decode_link_secret(fragment))
    challenge = requests.post(f"{server}/api/links/{link_id}/challenge").json()["challenge"]
    unlocked = requests.post(
        f"{server}/api/links/{link_id}/unlock",
        json={
            "challenge": challenge,
            "proof": crypto.sign_proof(keys, link_id, challenge),
            "link_proof": crypto.sign_link_proof(keys, link_id, challenge),
        },
    ).json()
    auth = {"Authorization": f"Bearer {unlocked['access_token']}"}
    album_key = crypto.unwrap_album_key(keys.wrap_key, crypto.b64d(unlocked["wrapped_album_key"]), link_id)
    previews = {}
    for entry in requests.get(f"{server}/api/links/{link_id}/files", headers=auth).json()["files"]:
        fk = crypto.unwrap_file_key(album_key, crypto.b64d(entry["wrapped_key"]), unlocked["album_id"], entry["file_id"])
        meta = crypto.open_file_meta(fk, unlocked["album_id"], entry["file_id"], crypto.b64d(entry["meta"]))
        blob = requests.get(f"{server}/api/links/{link_id}/files/{entry['file_id']}/blobs/preview", headers=auth).content
        previews[meta["name"]] = crypto.decrypt_blob_bytes(fk, entry["file_id"], "preview", blob)
    return previews


def test_previews_are_upright_and_viewable_even_for_heic(published):
    previews = _unlocked_previews(published["link"])
    for name, data in previews.items():
        assert Image.open(io.BytesIO(data)).format == "WEBP", name
    # IMG_0001.jpg is stored 640x480 with EXIF orientation 6: it is seen upright, 480 wide.
    assert Image.open(io.BytesIO(previews["IMG_0001.jpg"])).size == (480, 640)
    heic = Image.open(io.BytesIO(previews["IMG_0002.heic"]))
    assert heic.size == (400, 300)


def test_the_server_holds_no_plaintext(live_server, published):
    needles = {TITLE.encode()}
    for name, path in published["files"].items():
        needles |= {name.encode(), Path(name).stem.encode()}
        data = path.read_bytes()
        middle = len(data) // 2
        needles.add(data[middle : middle + 64])
    haystack = [(path, path.read_bytes()) for path in Path(live_server["data_dir"]).rglob("*") if path.is_file()]
    # SQLite may hold pages in its WAL; read the rows through SQLite as well.
    db = sqlite3.connect(Path(live_server["data_dir"]) / "fragment.db")
    for table in ("albums", "files", "links"):
        haystack.extend(
            (Path(table), repr(row).encode() + b"".join(v for v in row if isinstance(v, bytes)))
            for row in db.execute(f"SELECT * FROM {table}")
        )
    assert len(haystack) > 10
    for needle in needles:
        for path, content in haystack:
            assert needle not in content, f"{needle[:30]!r} found in {path}"


def test_a_tampered_blob_makes_open_fail_and_name_the_file(live_server, owner_cli, tmp_path):
    folder = tmp_path / "tamper"
    folder.mkdir()
    make_jpeg_with_orientation(folder / "Damaged photo.jpg", size=(900, 700))
    link = owner_cli.publish(folder, "--title", "tamper", "--server", live_server["url"])
    blob = max(Path(live_server["data_dir"]).rglob("original"), key=lambda p: p.stat().st_mtime)  # the one just published
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    out = tmp_path / "out"
    code, output = recipient(tmp_path)("open", link, "--out", out, ok=False)
    assert code == 1
    assert "Damaged photo.jpg" in output and "Error" in output
    assert not (out / "Damaged photo.jpg").exists()
    assert not [p for p in out.rglob("*") if p.is_file()]  # no partial file left behind


def test_a_truncated_blob_makes_open_fail_and_name_the_file(live_server, owner_cli, tmp_path):
    folder = tmp_path / "truncate"
    folder.mkdir()
    make_jpeg_with_orientation(folder / "Cut short.jpg", size=(900, 700))
    link = owner_cli.publish(folder, "--title", "truncate", "--server", live_server["url"])
    blob = max(Path(live_server["data_dir"]).rglob("original"), key=lambda p: p.stat().st_mtime)
    data = blob.read_bytes()
    assert len(data) > crypto.DEFAULT_CHUNK_SIZE + 100  # at least two chunks
    # A server that drops the last chunk, and says the blob is that long.
    short = data[: crypto.BLOB_HEADER_BYTES + crypto.DEFAULT_CHUNK_SIZE + crypto.TAG_BYTES]
    blob.write_bytes(short)
    db = sqlite3.connect(Path(live_server["data_dir"]) / "fragment.db")
    file_id = blob.parent.name
    db.execute("UPDATE files SET original_size = ? WHERE id = ?", (len(short), file_id))
    db.commit()
    code, output = recipient(tmp_path)("open", link, "--out", tmp_path / "out", ok=False)
    assert code == 1 and "Cut short.jpg" in output


def test_guest_upload_then_pull_gives_the_guests_bytes_and_name(live_server, owner_cli, published, tmp_path):
    guest_photo = make_jpeg_with_orientation(tmp_path / "Von Ana – Brücke.jpg", size=(300, 200))
    recipient(tmp_path)("upload", published["link"], guest_photo, "--name", "Ana")
    album = TITLE
    out = tmp_path / "pulled"
    owner_cli("pull", album, "--out", out)
    pulled = [p for p in out.rglob("*") if p.is_file()]
    assert [p.relative_to(out).as_posix() for p in pulled] == ["Ana/Von Ana – Brücke.jpg"]
    assert pulled[0].read_bytes() == guest_photo.read_bytes()


def test_links_add_change_and_list(live_server, owner_cli, published, tmp_path):
    guest = recipient(tmp_path)
    second = owner_cli.link("links", "add", TITLE, "--password-stdin", "--device-limit", "2", input="pässwort\n")
    assert second != published["link"] and "#" in second
    code, output = guest("open", second, "--password-stdin", "--out", tmp_path / "a", input="Passwort\n", ok=False)
    assert code == 1 and "wrong password" in output.lower()
    guest("open", second, "--password-stdin", "--out", tmp_path / "a", input="pässwort\n")
    assert (tmp_path / "a" / UNICODE_NAME).read_bytes() == published["files"][UNICODE_NAME].read_bytes()

    owner_cli("links", "change", second, "--no-password", "--no-downloads")
    _code, output = guest("open", second, "--out", tmp_path / "b")
    assert "preview" in output.lower()
    assert not (tmp_path / "b" / UNICODE_NAME).exists()

    _code, listing = owner_cli("links", "list", TITLE)
    assert published["link"] in listing and second in listing


def test_a_revoked_link_cannot_be_opened(live_server, owner_cli, tmp_path):
    folder = tmp_path / "revoke"
    folder.mkdir()
    make_jpeg_with_orientation(folder / "x.jpg")
    link = owner_cli.publish(folder, "--title", "revoke me", "--server", live_server["url"])
    owner_cli("links", "revoke", link, "--yes")
    code, output = recipient(tmp_path)("open", link, "--out", tmp_path / "out", ok=False)
    assert code == 1 and "revoked" in output.lower()


def test_downloads_off_gives_previews_and_says_so(live_server, owner_cli, tmp_path):
    folder = tmp_path / "nodl"
    folder.mkdir()
    make_jpeg_with_orientation(folder / "keep.jpg")
    link = owner_cli.publish(folder, "--title", "no downloads", "--no-downloads", "--server", live_server["url"])
    out = tmp_path / "out"
    _code, output = recipient(tmp_path)("open", link, "--out", out)
    assert "preview" in output.lower()
    saved = [p for p in out.rglob("*") if p.is_file()]
    assert len(saved) == 1 and Image.open(saved[0]).format == "WEBP"


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("strict")
    # A stopped clock: the delay after the third wrong password does not run out while the next command starts.
    clock = gunicorn_clock.Clock(base / "clock")
    env = {"FRAGMENT_UNLOCK_FREE_ATTEMPTS_PER_CLIENT": "3", **clock.env()}
    with servers.gunicorn(base / "data", env=env) as url:
        yield {"url": url, "data_dir": base / "data"}


def test_wrong_passwords_then_429_without_running_argon2(strict_server, tmp_path, monkeypatch):
    owner = Fragment(tmp_path / "owner.json")
    owner("login", strict_server["url"], "--token-stdin", input=flask_cli(strict_server["data_dir"], "create-owner-token"))
    folder = tmp_path / "pw"
    folder.mkdir()
    make_jpeg_with_orientation(folder / "secret.jpg")
    link = owner.publish(folder, "--password-stdin", "--server", strict_server["url"], input="correct horse\n")
    guest = recipient(tmp_path)
    for _ in range(3):
        code, output = guest("open", link, "--password-stdin", "--out", tmp_path / "out", input="wrong\n", ok=False)
        assert code == 1 and "wrong password" in output.lower()
    calls = []
    real = crypto.password_factor

    def counted(*a):
        calls.append(1)
        return real(*a)

    monkeypatch.setattr(crypto, "password_factor", counted)
    code, output = guest("open", link, "--password-stdin", "--out", tmp_path / "out", input="correct horse\n", ok=False)
    assert code == 1 and "too many" in output.lower()
    assert calls == []  # refused before the expensive key derivation ran
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.fixture(scope="module")
def scale_server(pg_url, tmp_path_factory):
    """The app as it runs at scale: gunicorn on PostgreSQL and an S3 store (a real SeaweedFS)."""
    from sqlalchemy import create_engine

    from tests.support.s3server import ACCESS_KEY, REGION, SECRET_KEY, make_bucket, start_seaweedfs_server

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS scale")
        connection.exec_driver_sql("CREATE DATABASE scale")
    admin.dispose()
    with start_seaweedfs_server() as endpoint:
        make_bucket(endpoint, "albums")
        env = {
            "FRAGMENT_DATABASE_URL": pg_url.rsplit("/", 1)[0] + "/scale",
            "FRAGMENT_BLOB_STORE": "s3",
            "FRAGMENT_S3_BUCKET": "albums",
            "FRAGMENT_S3_ENDPOINT_URL": endpoint,
            "FRAGMENT_S3_REGION": REGION,
            "FRAGMENT_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "FRAGMENT_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }
        data = tmp_path_factory.mktemp("scale") / "data"
        with servers.gunicorn(data, env=env) as url:
            yield {"url": url, "data_dir": data, "env": env, "s3": endpoint}


def test_round_trip_on_postgresql_and_s3(scale_server, tmp_path):
    from tests.support.s3server import s3_client

    env = scale_server["env"]
    token = servers.flask_cli(scale_server["data_dir"], "create-owner-token", env=env).strip()
    owner = Fragment(tmp_path / "owner.json")
    owner("login", scale_server["url"], "--token-stdin", input=token)
    folder = tmp_path / "photos"
    folder.mkdir()
    photo = make_jpeg_with_orientation(folder / "Große Welle.jpg", size=(900, 700))
    link = owner.publish(folder, "--title", TITLE, "--server", scale_server["url"])
    _code, output = recipient(tmp_path)("open", link, "--out", tmp_path / "out")
    assert TITLE in output
    assert (tmp_path / "out" / "Große Welle.jpg").read_bytes() == photo.read_bytes()
    objects = s3_client(scale_server["s3"]).list_objects_v2(Bucket="albums")["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in objects) == ["original", "preview", "thumb"]
    middle = len(photo.read_bytes()) // 2
    run = photo.read_bytes()[middle : middle + 64]
    for obj in objects:
        body = s3_client(scale_server["s3"]).get_object(Bucket="albums", Key=obj["Key"])["Body"].read()
        assert run not in body and "Große".encode() not in body


# --- publish killed by SIGKILL, then resumed or rolled back; albums delete ------------------------------


def _owner_api(live_server, ring_path: Path) -> tuple[str, dict]:
    """(server URL, owner auth headers) from the owner's keyring."""
    url = live_server["url"]
    return url, {"Authorization": f"Bearer {keyring.load(ring_path).owner_token(url)}"}


def _album_on_server(live_server, ring_path: Path, album_id: str) -> dict | None:
    url, auth = _owner_api(live_server, ring_path)
    answer = requests.get(f"{url}/api/owner/albums/{album_id}", headers=auth, timeout=10)
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return answer.json()


def _photo_folder(tmp_path: Path, name: str, count: int) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for i in range(count):
        make_jpeg_with_orientation(folder / f"{name} {i + 1:02d}.jpg", size=(1200, 900), orientation=1)
    return folder


def servers_error_response(status: int, url: str) -> requests.Response:
    """What a proxy in front of the server sends when it is down for maintenance."""
    response = requests.Response()
    response.status_code, response.url, response.reason = status, url, "Service Unavailable"
    response._content = b"<html><body>Down for maintenance</body></html>"
    response.headers["Content-Type"] = "text/html"
    return response


def _publish_killed_mid_way(live_server, ring_path: Path, folder: Path, title: str, after_files: int = 2) -> str:
    """Run `fragment publish` as its own process and SIGKILL it once the server has `after_files` of its files; the album id."""
    env = {**os.environ, "FRAGMENT_KEYRING": str(ring_path)}
    command = [sys.executable, "-m", "viewer.owner.cli", "publish", str(folder), "--title", title, "--server", live_server["url"]]
    proc = subprocess.Popen(command, cwd=servers.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    album_id, deadline = None, time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"publish ended before it could be killed: {proc.communicate()}"
            album_id = album_id or keyring.load(ring_path).unfinished_publish(live_server["url"], str(folder.resolve()))
            album = _album_on_server(live_server, ring_path, album_id) if album_id else None
            if album and album["files"] >= after_files:
                proc.send_signal(signal.SIGKILL)  # kill -9: no cleanup of any kind runs
                break
            time.sleep(0.02)
        else:
            raise AssertionError("publish did not get far enough within 2 minutes")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert album_id is not None
    return album_id


def test_a_publish_killed_mid_way_is_resumed_to_a_complete_album(live_server, owner_cli, tmp_path):
    folder = _photo_folder(tmp_path, "Lyon", 12)
    ring_path = Path(owner_cli.env["FRAGMENT_KEYRING"])
    album_id = _publish_killed_mid_way(live_server, ring_path, folder, "Lyon")
    album = _album_on_server(live_server, ring_path, album_id)
    assert album is not None and 2 <= album["files"] < 12 and album["links"] == 0
    _code, listing = owner_cli("albums")
    line = next(line for line in listing.splitlines() if line.startswith(album_id))
    hint = f"run `fragment publish {folder.resolve()}` again to finish, or `fragment albums delete {album_id}`"
    assert f"Lyon - unfinished ({hint})" in line

    _code, output = owner_cli("publish", folder, "--title", "Lyon", "--server", live_server["url"])
    assert "Resuming the publish of 'Lyon' started on " in output
    found = re.search(r": (\d+) of 12 files are already there", output)
    assert found, output
    already = int(found[1])
    assert already in (album["files"], album["files"] + 1)  # +1: a file the server completed as the kill landed
    link = output.strip().splitlines()[-1]
    assert link.startswith(live_server["url"] + "/a/")
    album = _album_on_server(live_server, ring_path, album_id)
    assert album is not None and album["files"] == 12 and album["links"] == 1  # nothing sent twice, one link made at the end

    out = tmp_path / "out"
    recipient(tmp_path)("open", link, "--out", out)
    got = {p.name: p.read_bytes() for p in out.iterdir()}
    assert got == {p.name: p.read_bytes() for p in folder.iterdir()}
    _code, listing = owner_cli("albums")
    assert "unfinished" not in next(line for line in listing.splitlines() if line.startswith(album_id))


def test_publish_restart_rolls_a_killed_publish_back_and_starts_over(live_server, owner_cli, tmp_path):
    folder = _photo_folder(tmp_path, "Genf", 8)
    ring_path = Path(owner_cli.env["FRAGMENT_KEYRING"])
    old = _publish_killed_mid_way(live_server, ring_path, folder, "Genf")
    _code, output = owner_cli("publish", folder, "--title", "Genf", "--restart", "--server", live_server["url"])
    assert f"Deleting the unfinished album 'Genf' ({old})" in output and "Resuming" not in output
    assert _album_on_server(live_server, ring_path, old) is None
    assert not [p for p in Path(live_server["data_dir"]).rglob("*") if old in p.parts]  # its blobs are gone too
    link = output.strip().splitlines()[-1]
    out = tmp_path / "out"
    recipient(tmp_path)("open", link, "--out", out)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in folder.iterdir())


def test_albums_delete_removes_a_killed_publish_and_keeps_the_key_while_the_server_refuses(
    live_server, owner_cli, tmp_path, monkeypatch
):
    folder = _photo_folder(tmp_path, "Bern", 8)
    ring_path = Path(owner_cli.env["FRAGMENT_KEYRING"])
    album_id = _publish_killed_mid_way(live_server, ring_path, folder, "Bern")

    # A wrong (or revoked) owner token: the server refuses, and the key stays.
    refused_ring = tmp_path / "refused.json"
    data = json.loads(ring_path.read_text())
    data["servers"][live_server["url"]]["owner_token"] = "not-a-valid-token"
    refused_ring.write_text(json.dumps(data))
    refused_ring.chmod(0o600)
    code, output = Fragment(refused_ring)("albums", "delete", "--yes", "--", album_id, ok=False)
    assert code == 1 and "the server refused this owner token" in output
    assert keyring.load(refused_ring).album_key(album_id)

    # The DELETE itself refused (here by a proxy in front answering 503): the key stays too.
    real_request = requests.Session.request

    def proxy_refuses_deletes(session, method, url, *args, **kwargs):
        if method == "DELETE" and "/api/owner/albums/" in url:
            return servers_error_response(503, url)
        return real_request(session, method, url, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(requests.Session, "request", proxy_refuses_deletes)
        code, output = owner_cli("albums", "delete", "--yes", "--", album_id, ok=False)
    assert code == 1 and f"the server did not delete album {album_id}" in output and "its key stays in your keyring" in output
    assert keyring.load(ring_path).album_key(album_id) and keyring.load(ring_path).publish_record(album_id)
    on_server = _album_on_server(live_server, ring_path, album_id)
    assert on_server is not None and on_server["files"] >= 2

    code, output = owner_cli("albums", "delete", "Bern", input="n\n", ok=False)
    assert code == 1 and "Delete album 'Bern'" in output
    assert _album_on_server(live_server, ring_path, album_id) is not None

    owner_cli("albums", "delete", "Bern", input="y\n")
    assert _album_on_server(live_server, ring_path, album_id) is None
    assert not [p for p in Path(live_server["data_dir"]).rglob("*") if album_id in p.parts]
    assert album_id not in keyring.load(ring_path).albums()


def test_albums_delete_needs_only_the_owner_token_when_the_key_is_lost(live_server, owner_cli, tmp_path):
    folder = _photo_folder(tmp_path, "Basel", 1)
    link = owner_cli.publish(folder, "--title", "Basel", "--server", live_server["url"])
    ring_path = Path(owner_cli.env["FRAGMENT_KEYRING"])
    album_id = keyring.load(ring_path).find_album("Basel")
    lost = Fragment(tmp_path / "new-laptop.json")  # same owner token, no album keys
    token = keyring.load(ring_path).owner_token(live_server["url"])
    assert token is not None
    lost("login", live_server["url"], "--token-stdin", input=token + "\n")
    _code, listing = lost("albums")
    assert f"{album_id}" in listing and "(key not in this keyring)" in listing
    lost("albums", "delete", "--yes", "--", album_id)
    assert _album_on_server(live_server, ring_path, album_id) is None
    code, _output = recipient(tmp_path)("open", link, "--out", tmp_path / "out", ok=False)
    assert code == 1
    # The keyring that has the key still lists it, as gone, and lets the owner clear it.
    _code, listing = owner_cli("albums")
    assert "Basel (not on the server any more)" in listing
    owner_cli("albums", "delete", "Basel", "--yes")
    assert album_id not in keyring.load(ring_path).albums()
