"""Upload state under real concurrency: threads against gunicorn, on SQLite + a folder and PostgreSQL + S3.

Each test repeats its race for many rounds and then checks what a user and the
operator would notice: the statuses, the bytes a recipient downloads, the quota
the owner sees, and that the store holds nothing no file needs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.support import servers
from tests.support.api_helpers import make_link, unlock_live
from viewer import crypto

pytestmark = pytest.mark.slow

PART = 1024
ROUNDS = 12


class Server:
    """One running app: its URL, data folder, database, store and an owner album."""

    def __init__(self, url: str, data_dir: Path, env: dict, database_url: str, s3: str | None):
        self.url, self.data_dir, self.env, self.database_url, self.s3 = url, data_dir, env, database_url, s3
        token = servers.flask_cli(data_dir, "create-owner-token", env=env).strip()
        self.auth = {"Authorization": f"Bearer {token}"}
        self.album_id, self.ak = crypto.new_id(), crypto.random_key()
        meta = crypto.b64e(crypto.seal_album_meta(self.ak, self.album_id, {"v": 1, "title": "races"}))
        answer = requests.post(f"{url}/api/owner/albums", json={"album_id": self.album_id, "meta": meta}, headers=self.auth)
        assert answer.status_code == 201

    @property
    def album(self) -> tuple:
        return self.url, self.auth, self.album_id, self.ak

    def sql(self, statement: str, **params):
        engine = create_engine(self.database_url)
        try:
            with engine.begin() as connection:
                result = connection.execute(text(statement), params)
                return result.all() if result.returns_rows else None
        finally:
            engine.dispose()

    def keys(self) -> list[str]:
        """Every blob key the store holds (temp files aside)."""
        if self.s3 is None:
            root = self.data_dir / "blobs"
            return sorted(
                p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".tmp" not in p.relative_to(root).parts
            )
        from tests.support.s3server import s3_client

        pages = s3_client(self.s3).get_paginator("list_objects_v2").paginate(Bucket=self.env["FRAGMENT_S3_BUCKET"])
        return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))

    def link(self, **settings) -> tuple[str, str]:
        link_id, keys = make_link(self.album, uploads=True, **settings)
        return link_id, unlock_live(self.url, link_id, keys).json()["access_token"]

    def files_used(self, link_id: str) -> int:
        links = requests.get(f"{self.url}/api/owner/albums/{self.album_id}/links", headers=self.auth).json()["links"]
        return next(link["files_used"] for link in links if link["link_id"] == link_id)

    def listed(self) -> set[str]:
        ids: set[str] = set()
        after: str | None = "0"
        while after is not None:
            answer = requests.get(
                f"{self.url}/api/owner/albums/{self.album_id}/files?limit=1000&after={after}", headers=self.auth
            ).json()
            ids.update(f["file_id"] for f in answer["files"])
            after = answer["next"]
        return ids


@contextlib.contextmanager
def running(
    request, tmp_path_factory, env: dict[str, str], database: str = "races"
) -> Iterator[tuple[str, Path, dict, str, str | None]]:
    """gunicorn on SQLite and a folder, or on PostgreSQL and S3 (request.param): (url, data, env, database url, S3 endpoint)."""
    base = tmp_path_factory.mktemp(f"races-{request.param}")
    data = base / "data"
    env = {"FRAGMENT_UPLOAD_PART_BYTES": str(PART), **env}
    if request.param == "sqlite":
        with servers.gunicorn(data, env=env) as url:
            yield url, data, env, f"sqlite:///{data}/fragment.db", None
        return
    from tests.support.s3server import ACCESS_KEY, REGION, SECRET_KEY, make_bucket, start_moto_server

    pg_url = request.getfixturevalue("pg_url")
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {database}")
        connection.exec_driver_sql(f"CREATE DATABASE {database}")
    admin.dispose()
    database_url = pg_url.rsplit("/", 1)[0] + f"/{database}"
    with start_moto_server() as endpoint:
        make_bucket(endpoint, database)
        env.update(
            {
                "FRAGMENT_DATABASE_URL": database_url,
                "FRAGMENT_BLOB_STORE": "s3",
                "FRAGMENT_S3_BUCKET": database,
                "FRAGMENT_S3_ENDPOINT_URL": endpoint,
                "FRAGMENT_S3_REGION": REGION,
                "FRAGMENT_S3_ACCESS_KEY_ID": ACCESS_KEY,
                "FRAGMENT_S3_SECRET_ACCESS_KEY": SECRET_KEY,
            }
        )
        with servers.gunicorn(data, env=env) as url:
            yield url, data, env, database_url, endpoint


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    with running(request, tmp_path_factory, {}) as started:
        yield Server(*started)


class Upload:
    """One file's encrypted blobs and the calls that send them, as a guest (link) or the owner."""

    def __init__(self, server: Server, link: tuple[str, str] | None = None, size: int = 5000, preview: int = 1500):
        self.server = server
        self.file_id, fk = crypto.new_id(), crypto.random_key()
        self.original = os.urandom(size)
        self.blobs = {
            "thumb": crypto.encrypt_blob_bytes(fk, self.file_id, "thumb", b"t" * 300),
            "preview": crypto.encrypt_blob_bytes(fk, self.file_id, "preview", b"p" * preview),
            "original": crypto.encrypt_blob_bytes(fk, self.file_id, "original", self.original),
        }
        album_id = server.album_id
        self.body = {
            "file_id": self.file_id,
            "wrapped_key": crypto.b64e(crypto.wrap_file_key(server.ak, fk, album_id, self.file_id)),
            "meta": crypto.b64e(crypto.seal_file_meta(fk, album_id, self.file_id, {"v": 1, "name": "x.jpg"})),
            "blobs": {kind: len(blob) for kind, blob in self.blobs.items()},
        }
        if link is None:
            self.base, self.headers = f"{server.url}/api/owner/albums/{album_id}/files", server.auth
        else:
            self.base, self.headers = f"{server.url}/api/links/{link[0]}/files", {"Authorization": f"Bearer {link[1]}"}

    def reserve(self) -> requests.Response:
        return requests.post(self.base, json=self.body, headers=self.headers)

    def put(self, kind: str, offset: int) -> requests.Response:
        part = self.blobs[kind][offset : offset + PART]
        return requests.put(
            f"{self.base}/{self.file_id}/blobs/{kind}", data=part, headers={**self.headers, "Upload-Offset": str(offset)}
        )

    def send_all(self) -> None:
        for kind, blob in self.blobs.items():
            for offset in range(0, len(blob), PART):
                assert self.put(kind, offset).status_code == 200

    def complete(self) -> requests.Response:
        return requests.post(f"{self.base}/{self.file_id}/complete", headers=self.headers)

    def delete(self) -> requests.Response:
        return requests.delete(f"{self.base}/{self.file_id}", headers=self.headers)

    def stored_bytes(self) -> dict[str, bytes]:
        base = f"{self.server.url}/api/owner/albums/{self.server.album_id}/files/{self.file_id}/blobs"
        return {kind: requests.get(f"{base}/{kind}", headers=self.server.auth).content for kind in self.blobs}


def at_once(*calls) -> list[requests.Response]:
    """Run the calls in threads released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def assert_store_matches(server: Server, complete: set[str]) -> None:
    """Final blobs exist exactly for complete files; no staged part is left behind."""
    keys = server.keys()
    assert [k for k in keys if k.startswith("staging/")] == []
    finals = {k.split("/")[1] for k in keys}
    assert finals == complete


def test_a_part_sent_twice_at_once_is_stored_once_and_whole(server):
    for _ in range(ROUNDS):
        upload = Upload(server)
        assert upload.reserve().status_code == 201
        for kind, blob in upload.blobs.items():
            for offset in range(0, len(blob), PART):
                statuses = sorted(
                    r.status_code
                    for r in at_once(lambda: upload.put(kind, offset), lambda: upload.put(kind, offset))  # noqa: B023 - awaited in this iteration
                )
                assert statuses in ([200, 200], [200, 409]), statuses
        assert upload.complete().status_code == 200
        assert upload.stored_bytes() == upload.blobs
    assert_store_matches(server, server.listed())


def test_two_completes_at_once_make_one_intact_file(server):
    for _ in range(ROUNDS):
        upload = Upload(server)
        assert upload.reserve().status_code == 201
        upload.send_all()
        answers = at_once(upload.complete, upload.complete, upload.complete)
        assert [r.status_code for r in answers] == [200, 200, 200], [r.text for r in answers]
        assert upload.file_id in server.listed()
        assert upload.stored_bytes() == upload.blobs
    assert_store_matches(server, server.listed())


def test_complete_racing_deletes_leaves_a_file_or_nothing_and_quota_is_given_back_once(server):
    link = server.link(quota_files=ROUNDS + 1)
    kept = set()
    for _ in range(ROUNDS):
        upload = Upload(server, link)
        assert upload.reserve().status_code == 201
        upload.send_all()
        answers = at_once(upload.complete, upload.delete, upload.delete, upload.delete)
        assert all(r.status_code < 500 for r in answers), [r.text for r in answers]
        if upload.file_id in server.listed():
            assert answers[0].status_code == 200
            assert upload.stored_bytes() == upload.blobs
            kept.add(upload.file_id)
        # A finished guest file counts against the quota; a cancelled one is given back, once.
        assert server.files_used(link[0]) == len(kept)
    assert_store_matches(server, server.listed())


def test_the_owners_deletes_racing_a_complete_leave_nothing_behind(server):
    for _ in range(ROUNDS):
        upload = Upload(server)
        assert upload.reserve().status_code == 201
        upload.send_all()
        answers = at_once(upload.complete, upload.delete, upload.delete)
        assert all(r.status_code < 500 for r in answers), [r.text for r in answers]
        assert any(r.status_code == 200 for r in answers[1:])
        assert upload.file_id not in server.listed()  # a delete that waited for the complete removed the file
        gone = requests.get(f"{server.url}/api/owner/albums/{server.album_id}/files/{upload.file_id}/upload", headers=server.auth)
        assert gone.status_code == 404
    assert_store_matches(server, server.listed())


def test_several_guest_deletes_at_once_give_the_quota_back_once(server):
    link = server.link(quota_files=2)
    for _ in range(ROUNDS):
        upload = Upload(server, link)
        assert upload.reserve().status_code == 201
        upload.put("original", 0)
        answers = at_once(*[upload.delete] * 4)
        assert sorted(r.status_code for r in answers)[0] == 200 and all(r.status_code in (200, 404) for r in answers)
        assert server.files_used(link[0]) == 0
    assert_store_matches(server, server.listed())


def _expire(server: Server, link_id: str) -> None:
    """Time passes for this link's reservations (UPLOAD_TTL is a day)."""
    server.sql("UPDATE files SET expires_at = 0 WHERE via_link = :id AND complete = :no", id=link_id, no=False)


def test_parallel_limit_checks_expire_each_reservation_once(server):
    link = server.link(quota_files=2)
    limits = f"{server.url}/api/links/{link[0]}/uploads"
    headers = {"Authorization": f"Bearer {link[1]}"}
    for _ in range(ROUNDS):
        for _ in range(2):
            upload = Upload(server, link)
            assert upload.reserve().status_code == 201
            upload.put("thumb", 0)
        _expire(server, link[0])
        answers = at_once(*[lambda: requests.get(limits, headers=headers)] * 8)
        assert {r.status_code for r in answers} == {200}
        assert server.files_used(link[0]) == 0
        assert requests.get(limits, headers=headers).json()["files_left"] == 2
    assert_store_matches(server, server.listed())


def test_cleanup_on_two_servers_at_once_expires_each_reservation_once(server):
    link = server.link(quota_files=30)
    for _ in range(3):
        for _ in range(30):
            assert Upload(server, link).reserve().status_code == 201
        _expire(server, link[0])
        at_once(*[lambda: servers.flask_cli(server.data_dir, "cleanup", env=server.env)] * 3)
        assert server.files_used(link[0]) == 0
    assert_store_matches(server, server.listed())


def test_many_uploads_at_once_never_answer_500(server):
    """Each complete prunes the emptied staging/ folder while other requests create staging/<id> in it."""

    def one_after_another(_):
        results = []
        for _ in range(40):
            upload = Upload(server, size=300, preview=300)
            statuses = [upload.reserve().status_code]
            statuses += [upload.put(kind, 0).status_code for kind in upload.blobs]
            statuses.append(upload.complete().status_code)
            results.append((statuses, upload))
        return results

    # Few uploads at a time, so that staging/ is often empty and pruned while another request fills it.
    with ThreadPoolExecutor(3) as pool:
        results = [r for batch in pool.map(one_after_another, range(3)) for r in batch]
    assert {s for statuses, _ in results for s in statuses} <= {200, 201}
    for _statuses, upload in results[:4]:
        assert upload.stored_bytes() == upload.blobs
    assert_store_matches(server, server.listed())
