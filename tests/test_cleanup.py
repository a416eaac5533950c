"""What crashes, full disks and bad input leave behind, and `flask cleanup` reconciling the store with the database.

In-process tests run on SQLite and PostgreSQL; the full-disk and kill -9 tests run
gunicorn from the Procfile on a real (tiny) filesystem and kill it for real.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, select, text

from tests.support import servers
from tests.support.api_helpers import b64
from viewer import crypto
from viewer.server import db

MiB = 1024 * 1024


def blob_files(app) -> list[str]:
    root = Path(app.config["BLOB_DIR"])
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def cleanup(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["cleanup", *args])
    assert result.exit_code == 0, result.output
    return result.output


def age(path: Path, seconds: int = 7200) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


# --- bad input that gave 500 -------------------------------------------------------


def test_a_range_with_thousands_of_digits_is_answered_not_crashed_on(owner):
    album_id, ak = owner.album()
    file_id = owner.add_file(album_id, ak, b"x" * 1000)
    url = f"/api/owner/albums/{album_id}/files/{file_id}/blobs/original"
    huge = "9" * 5000
    whole = owner.call("GET", url).data
    assert owner.call("GET", url, headers={"Range": f"bytes={huge}-"}).status_code == 416
    suffix = owner.call("GET", url, headers={"Range": f"bytes=-{huge}"})
    assert suffix.status_code == 206 and suffix.data == whole
    tail = owner.call("GET", url, headers={"Range": f"bytes=10-{huge}"})
    assert tail.status_code == 206 and tail.data == whole[10:]
    zeros = owner.call("GET", url, headers={"Range": f"bytes={'0' * 5000}-9"})
    assert zeros.status_code == 206 and zeros.data == whole[:10]


def test_null_blob_sizes_on_reserve_are_refused_with_400(app, owner):
    album_id, ak = owner.album()
    body, _blobs = owner.file_payload(album_id, ak, b"photo")
    body["blobs"]["original"] = None
    answer = owner.call("POST", f"/api/owner/albums/{album_id}/files", json=body)
    assert answer.status_code == 400 and "not null" in answer.json["message"]
    with app.app_context():
        assert db.session().scalars(select(db.File)).all() == []


def test_deleting_an_album_removes_its_files_links_and_blobs(app, owner):
    album_id, ak = owner.album()
    other_id, other_ak = owner.album("Other")
    owner.add_file(album_id, ak, b"one")
    owner.add_file(album_id, ak, b"two")
    kept = owner.add_file(other_id, other_ak, b"kept")
    owner.link(album_id, ak)
    body, blobs = owner.file_payload(album_id, ak, b"pending")
    base = f"/api/owner/albums/{album_id}/files"
    assert owner.call("POST", base, json=body).status_code == 201
    assert owner.call("PUT", f"{base}/{body['file_id']}/blobs/thumb", data=blobs["thumb"]).status_code == 200
    answer = owner.call("DELETE", f"/api/owner/albums/{album_id}")
    assert answer.status_code == 200 and answer.json == {"deleted": True}
    assert owner.call("GET", f"/api/owner/albums/{album_id}").status_code == 404
    assert blob_files(app) == [f"{other_id}/{kept}/{kind}" for kind in ("original", "preview", "thumb")]
    with app.app_context():
        assert {f.album_id for f in db.session().scalars(select(db.File))} == {other_id}
        assert db.session().scalars(select(db.Link).where(db.Link.album_id == album_id)).all() == []


@pytest.mark.settings(UPLOAD_PART_BYTES=16)
def test_a_blob_of_thousands_of_parts_completes(owner):
    """A 50 GB original in 8 MiB parts has 6,400 of them: assembling them must not recurse per part."""
    album_id, ak = owner.album()
    body, blobs = owner.file_payload(album_id, ak, os.urandom(17_000))
    base = f"/api/owner/albums/{album_id}/files"
    assert owner.call("POST", base, json=body).status_code == 201
    for kind, blob in blobs.items():
        for offset in range(0, len(blob), 16):
            part = blob[offset : offset + 16]
            answer = owner.call(
                "PUT", f"{base}/{body['file_id']}/blobs/{kind}", data=part, headers={"Upload-Offset": str(offset)}
            )
            assert answer.status_code == 200
    assert owner.call("POST", f"{base}/{body['file_id']}/complete").status_code == 200
    assert owner.call("GET", f"{base}/{body['file_id']}/blobs/original").data == blobs["original"]


# --- cleanup reconciles the store with the database -----------------------------------


def test_cleanup_removes_what_no_row_needs_and_keeps_everything_else(app, owner):
    album_id, ak = owner.album()
    complete = owner.add_file(album_id, ak, b"complete")
    body, blobs = owner.file_payload(album_id, ak, b"pending")
    base = f"/api/owner/albums/{album_id}/files"
    assert owner.call("POST", base, json=body).status_code == 201
    assert owner.call("PUT", f"{base}/{body['file_id']}/blobs/thumb", data=blobs["thumb"]).status_code == 200
    root = Path(app.config["BLOB_DIR"])
    before = blob_files(app)
    # What kill -9 leaves: a temp file of a put, a part of a file whose row is gone,
    # a second copy of a part whose loser died before deleting it... and a finished
    # file's blobs whose row a crashed delete already removed.
    leftovers = {
        ".tmp/put-killed": b"half a part",
        f"staging/{crypto.new_id()}/original/0/abc": b"orphan part",
        f"staging/{complete}/original/0/def": b"part of a complete file",
        f"{album_id}/{crypto.new_id()}/original": b"blob of a deleted row",
        f"{crypto.new_id()}/{crypto.new_id()}/thumb": b"blob of a deleted album",
    }
    for key, data in leftovers.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
        age(root / key)
    young = root / album_id / crypto.new_id() / "thumb"  # as if a complete were writing it right now
    young.parent.mkdir(parents=True)
    young.write_bytes(b"in flight")
    for path in root.rglob("*"):
        if path.is_file() and path != young:
            age(path)  # the kept files are old too: age alone decides nothing
    output = cleanup(app)
    assert "1 temp file(s)" in output and "4 blob(s) that no file needs" in output
    assert blob_files(app) == sorted([*before, young.relative_to(root).as_posix()])
    assert owner.call("GET", f"{base}/{complete}/blobs/original").status_code == 200
    assert owner.call("GET", f"{base}/{body['file_id']}/upload").json["blobs"]["thumb"]["received"] == len(blobs["thumb"])
    # --min-age 0: the young stray goes too, and a second run finds nothing.
    assert "1 blob(s)" in cleanup(app, "--min-age", "0")
    assert "0 temp file(s)" in cleanup(app, "--min-age", "0") and blob_files(app) == before


def test_a_complete_whose_worker_died_goes_back_to_pending_and_can_be_sent_again(app, owner, client):
    album_id, ak = owner.album()
    body, blobs = owner.file_payload(album_id, ak, b"photo")
    base = f"/api/owner/albums/{album_id}/files/{body['file_id']}"
    assert owner.call("POST", f"/api/owner/albums/{album_id}/files", json=body).status_code == 201
    for kind, blob in blobs.items():
        assert owner.call("PUT", f"{base}/blobs/{kind}", data=blob).status_code == 200
    with app.app_context():  # a worker claimed the file and was killed; its lease ran out
        session = db.session()
        session.execute(text("UPDATE files SET state = 'completing', expires_at = 1"))
        session.commit()
    assert owner.call("GET", f"{base}/upload").json["state"] == "completing"
    cleanup(app)
    assert owner.call("GET", f"{base}/upload").json["state"] == "pending"
    assert owner.call("POST", f"{base}/complete").status_code == 200
    assert owner.call("GET", f"{base}/blobs/original").data == blobs["original"]


# --- a full disk, for real: a 2 MiB tmpfs as the blob folder ---------------------------


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.system(f"mount -t tmpfs -o size=2m tmpfs {mount_point} 2>/dev/null") != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount_point
    os.system(f"umount -l {mount_point}")


def owner_upload(url: str, auth: dict, original_bytes: int) -> tuple[str, dict, dict]:
    album_id, ak = crypto.new_id(), crypto.random_key()
    meta = b64(crypto.seal_album_meta(ak, album_id, {"v": 1, "title": "full"}))
    assert requests.post(f"{url}/api/owner/albums", json={"album_id": album_id, "meta": meta}, headers=auth).status_code == 201
    file_id, fk = crypto.new_id(), crypto.random_key()
    blobs = {
        "thumb": crypto.encrypt_blob_bytes(fk, file_id, "thumb", b"t"),
        "preview": crypto.encrypt_blob_bytes(fk, file_id, "preview", b"p"),
        "original": crypto.encrypt_blob_bytes(fk, file_id, "original", os.urandom(original_bytes)),
    }
    body = {
        "file_id": file_id,
        "wrapped_key": b64(crypto.wrap_file_key(ak, fk, album_id, file_id)),
        "meta": b64(crypto.seal_file_meta(fk, album_id, file_id, {"v": 1, "name": "big.mov"})),
        "blobs": {kind: len(blob) for kind, blob in blobs.items()},
    }
    base = f"{url}/api/owner/albums/{album_id}/files"
    assert requests.post(base, json=body, headers=auth).status_code == 201
    return f"{base}/{file_id}", blobs, body


def send(base: str, auth: dict, kind: str, blob: bytes, offset: int, part: int) -> requests.Response:
    return requests.put(f"{base}/blobs/{kind}", data=blob[offset : offset + part], headers={**auth, "Upload-Offset": str(offset)})


def test_a_full_disk_answers_507_with_a_message_and_leaves_nothing_half_written(small_disk, tmp_path):
    data = tmp_path / "data"
    env = {"FRAGMENT_BLOB_DIR": str(small_disk / "blobs"), "FRAGMENT_UPLOAD_PART_BYTES": str(MiB)}
    with servers.gunicorn(data, env=env) as url:
        auth = {"Authorization": "Bearer " + servers.flask_cli(data, "create-owner-token", env=env).strip()}
        base, blobs, _body = owner_upload(url, auth, 3 * MiB)
        for kind in ("thumb", "preview"):
            assert send(base, auth, kind, blobs[kind], 0, MiB).status_code == 200
        answers = [send(base, auth, "original", blobs["original"], offset, MiB) for offset in range(0, 3 * MiB, MiB)]
        assert [a.status_code for a in answers[:1]] == [200]
        full = next(a for a in answers if a.status_code != 200)
        assert full.status_code == 507 and full.json()["error"] == "storage_full"
        assert "no room left" in full.json()["message"]
        assert list((small_disk / "blobs" / ".tmp").iterdir()) == []
        status = requests.get(f"{base}/upload", headers=auth).json()
        assert status["state"] == "pending" and status["blobs"]["original"]["received"] % MiB == 0
        # Room for the parts but not for the assembled copy: complete says 507 too, and the file stays resumable.
        base2, blobs2, _ = owner_upload(url, auth, 700 * 1024)
        assert requests.delete(base, headers=auth).status_code == 200
        for kind, blob in blobs2.items():
            assert send(base2, auth, kind, blob, 0, MiB).status_code == 200
        filler = small_disk / "filler"
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler.write_bytes(b"\0" * max(0, free - 300 * 1024))
        done = requests.post(f"{base2}/complete", headers=auth)
        assert done.status_code == 507 and done.json()["error"] == "storage_full"
        assert requests.get(f"{base2}/upload", headers=auth).json()["state"] == "pending"
        filler.unlink()
        assert requests.post(f"{base2}/complete", headers=auth).status_code == 200
        assert requests.get(f"{base2}/blobs/original", headers=auth).content == blobs2["original"]


# --- kill -9 -----------------------------------------------------------------------


def kill_server(url: str) -> None:
    """kill -9 the gunicorn master and its workers (one process group, started with start_new_session)."""
    port = url.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and b"gunicorn" in b" ".join(command) and f"127.0.0.1:{port}".encode() in b" ".join(command):
            os.killpg(os.getpgid(int(proc.name)), signal.SIGKILL)
            return
    raise AssertionError("gunicorn not found")


def run_killed(data: Path, env: dict, action) -> None:
    """Start gunicorn, run action(url, auth) which ends by killing it; the stop that finds it gone is fine."""
    try:
        with servers.gunicorn(data, env=env) as url:
            auth = {"Authorization": "Bearer " + servers.flask_cli(data, "create-owner-token", env=env).strip()}
            action(url, auth)
    except ProcessLookupError:
        pass  # servers.gunicorn's own SIGTERM found nothing left to stop: that is the point


def temp_files(data: Path) -> list[Path]:
    return list((data / "blobs" / ".tmp").glob("put-*"))


def test_kill_9_during_a_part_or_a_complete_leaves_nothing_cleanup_cannot_remove(tmp_path):
    data, env = tmp_path / "data", {"FRAGMENT_UPLOAD_PART_BYTES": str(8 * MiB)}
    state: dict = {}

    def during_a_part(url, auth):
        base, blobs, _body = owner_upload(url, auth, 40 * MiB)
        state.update(path=base.removeprefix(url), blobs=blobs)
        # Half a part on a raw socket (requests cannot send a Content-Length body slowly), then nothing.
        host, port = url.removeprefix("http://").split(":")
        path = base.removeprefix(url) + "/blobs/original"
        sock = socket.create_connection((host, int(port)))
        state["socket"] = sock
        head = f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth['Authorization']}\r\n"
        head += f"Upload-Offset: 0\r\nContent-Length: {8 * MiB}\r\n\r\n"
        sock.sendall(head.encode() + blobs["original"][: 4 * MiB])
        servers.wait_until(lambda: temp_files(data), 10, "a temp file of the part")
        kill_server(url)

    run_killed(data, env, during_a_part)
    assert temp_files(data)  # what the crash left: the half-written part
    where, blobs = state["path"], state["blobs"]

    def during_a_complete(url, auth):
        base = url + where
        status = requests.get(f"{base}/upload", headers=auth).json()
        assert status["state"] == "pending" and status["blobs"]["original"]["received"] == 0
        for kind, blob in blobs.items():
            for offset in range(0, len(blob), 8 * MiB):
                assert send(base, auth, kind, blob, offset, 8 * MiB).status_code == 200
        threading.Thread(target=lambda: _quietly(requests.post, f"{base}/complete", headers=auth), daemon=True).start()
        deadline = time.monotonic() + 10
        while not temp_files(data) and time.monotonic() < deadline:
            time.sleep(0.001)  # the copy of the original takes a few tens of milliseconds
        state["caught"] = bool(temp_files(data))
        kill_server(url)

    for path in temp_files(data):
        age(path)
    servers.flask_cli(data, "cleanup", env=env)
    assert temp_files(data) == []
    run_killed(data, env, during_a_complete)
    assert state["caught"], "the complete finished before the kill; make the file bigger"
    # Time passes (the complete's lease, and the temp files' age); then the operator's cleanup runs.
    engine = create_engine(f"sqlite:///{data}/fragment.db")
    with engine.begin() as connection:
        connection.execute(text("UPDATE files SET expires_at = 1 WHERE state = 'completing'"))
    engine.dispose()
    for path in temp_files(data):
        age(path)
    servers.flask_cli(data, "cleanup", env=env)
    assert temp_files(data) == []
    with servers.gunicorn(data, env=env) as url:
        auth = {"Authorization": "Bearer " + servers.flask_cli(data, "create-owner-token", env=env).strip()}
        base = url + where
        status = requests.get(f"{base}/upload", headers=auth).json()
        if status["state"] != "complete":  # killed before its commit: nothing is listed, and complete works again
            assert status["state"] == "pending"
            assert requests.post(f"{base}/complete", headers=auth).status_code == 200
        assert requests.get(f"{base}/blobs/original", headers=auth).content == blobs["original"]
    assert temp_files(data) == [] and not list((data / "blobs").glob("staging/*"))


def _quietly(call, *args, **kwargs) -> None:
    with contextlib.suppress(requests.RequestException):  # the server was killed under this request
        call(*args, timeout=60, **kwargs)
