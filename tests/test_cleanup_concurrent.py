"""`flask --app app cleanup` run by three servers at once, on PostgreSQL and S3 (issue 10).

An operator runs the hourly cleanup timer on every app server (docs/deploy.md); they fire
together. Each round the database holds expired reservations (the owner's and a guest's,
some with parts already staged), a complete whose worker died, live files of an album,
and the store holds stray blobs. What the operator and the owner notice: no run fails,
the runs together report each expired upload once, the storage and the link's quota come
back exactly once (the counters equal what the live files take), every live file still
downloads byte for byte, and the store holds nothing else.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support import servers
from tests.support.api_helpers import unlock_live
from tests.support.s3server import s3_client
from tests.test_account_races import AccountServer
from tests.test_accounts import signup_body
from tests.test_upload_races import Upload, assert_store_matches, running
from viewer import crypto

pytestmark = pytest.mark.slow

ROUNDS = 5
RUNS = 3
EXPIRED = 8  # reservations that time out each round: half the owner's, half a guest's


class CleanupServer(AccountServer):
    """AccountServer, keeping the account's master key: a link on an account's album carries its secret sealed to it."""

    def __init__(self, url: str, data_dir, env: dict, database_url: str, s3: str | None):
        self.url, self.data_dir, self.env, self.database_url, self.s3 = url, data_dir, env, database_url, s3
        body, made = signup_body("cleanup@example.org", "a password for cleanups")
        browser = requests.Session()
        signed_in = browser.post(f"{url}/api/account/signup", json=body)
        assert signed_in.status_code == 201, signed_in.text
        csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
        token = browser.post(f"{url}/api/account/tokens", json={"label": "cleanup"}, headers=csrf).json()["token"]
        self.account_id, self.master_key = made.account_id, made.master_key
        self.auth = {"Authorization": f"Bearer {token}"}
        self.album_id, self.ak = crypto.new_id(), crypto.random_key()
        album = {
            "album_id": self.album_id,
            "meta": crypto.b64e(crypto.seal_album_meta(self.ak, self.album_id, {"v": 1, "title": "cleanup"})),
            "owner_key": crypto.b64e(crypto.seal_owner_album_key(made.master_key, self.ak, self.album_id)),
        }
        assert requests.post(f"{url}/api/owner/albums", json=album, headers=self.auth).status_code == 201

    def link(self, **settings) -> tuple[str, str]:
        """A link that takes guest uploads: (link id, a guest's access token)."""
        link_id, secret = crypto.new_id(), os.urandom(32)
        keys = crypto.link_keys(secret)
        body = {
            "link_id": link_id,
            "wrapped_album_key": crypto.b64e(crypto.wrap_album_key(keys.wrap_key, self.ak, link_id)),
            "verifier": crypto.b64e(keys.verifier),
            "link_verifier": crypto.b64e(keys.link_verifier),
            "owner_secret": crypto.b64e(crypto.seal_owner_link_secret(self.master_key, secret, link_id)),
            "uploads": True,
            **settings,
        }
        made = requests.post(f"{self.url}/api/owner/albums/{self.album_id}/links", json=body, headers=self.auth)
        assert made.status_code == 201, made.text
        return link_id, unlock_live(self.url, link_id, keys).json()["access_token"]


@pytest.fixture(scope="module", params=["postgresql"])
def server(request, tmp_path_factory) -> Iterator[CleanupServer]:
    with running(request, tmp_path_factory, {"FRAGMENT_SIGNUP": "open"}, database="cleanup_concurrent") as started:
        yield CleanupServer(*started)


def run_cleanup(server: CleanupServer) -> subprocess.CompletedProcess:
    """One server's timer: `flask --app app cleanup`, as an operator's unit runs it (nothing else is in flight)."""
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "app", "cleanup", "--min-age", "0"],
        cwd=servers.ROOT,
        env={**os.environ, "FRAGMENT_DATA_DIR": str(server.data_dir), **server.env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def cleanups_at_once(server: CleanupServer, count: int) -> list[subprocess.CompletedProcess]:
    """`count` cleanups started together (a barrier releases their threads at once)."""
    barrier = threading.Barrier(count)

    def one(_: int) -> subprocess.CompletedProcess:
        barrier.wait()
        return run_cleanup(server)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def size(upload: Upload) -> int:
    return sum(len(blob) for blob in upload.blobs.values())


def link_used(server: CleanupServer, link_id: str) -> tuple[int, int]:
    [(files, total)] = server.sql("SELECT files_used, bytes_used FROM links WHERE id = :id", id=link_id)
    return int(files), int(total)


def test_three_cleanups_at_once_expire_each_reservation_once_and_keep_every_live_blob(server):
    link = server.link(quota_files=1000)
    bucket = server.env["FRAGMENT_S3_BUCKET"]
    store = s3_client(server.s3)
    live: list[Upload] = []
    guests: list[Upload] = []
    for round_ in range(ROUNDS):
        # Live files: the owner's and a guest's, complete.
        for who in (None, None, link):
            upload = Upload(server, who)
            assert upload.reserve().status_code == 201
            upload.send_all()
            assert upload.complete().status_code == 200
            live.append(upload)
            if who is not None:
                guests.append(upload)
        # Reservations that will have expired: nothing sent, a part, or every blob staged.
        expired = []
        for i in range(EXPIRED):
            upload = Upload(server, link if i % 2 else None)
            assert upload.reserve().status_code == 201
            if i % 3 == 1:
                assert upload.put("thumb", 0).status_code == 200
            elif i % 3 == 2:
                upload.send_all()
            expired.append(upload)
        # A complete whose worker was killed, its lease run out: cleanup hands it back as pending.
        stuck = Upload(server)
        assert stuck.reserve().status_code == 201
        stuck.send_all()
        server.sql("UPDATE files SET state = 'completing', expires_at = 1 WHERE id = :id", id=stuck.file_id)
        ids = [u.file_id for u in expired]
        server.sql("UPDATE files SET expires_at = 0 WHERE state = 'pending' AND id = ANY(:ids)", ids=ids)
        # What crashes leave in the store: blobs of rows long gone, staged parts of a gone file.
        for key in (
            f"{server.album_id}/{crypto.new_id()}/original",
            f"{crypto.new_id()}/{crypto.new_id()}/thumb",
            f"staging/{crypto.new_id()}/original/0/abc",
        ):
            store.put_object(Bucket=bucket, Key=key, Body=os.urandom(100))

        runs = cleanups_at_once(server, RUNS)
        assert [r.returncode for r in runs] == [0] * RUNS, [r.stderr for r in runs]
        assert all("Traceback" not in r.stderr for r in runs)
        reported = [re.match(r"Removed (\d+) expired upload", r.stdout) for r in runs]
        assert all(reported), [r.stdout for r in runs]
        # Each expired reservation and the stuck complete, counted by exactly one of the runs.
        assert sum(int(m[1]) for m in reported if m) == EXPIRED + 1, [r.stdout for r in runs]

        gone = server.sql("SELECT id FROM files WHERE id = ANY(:ids)", ids=ids)
        assert gone == [], f"round {round_}: reservations left {gone}"
        [(state,)] = server.sql("SELECT state FROM files WHERE id = :id", id=stuck.file_id)
        assert state == "pending"
        # The quota came back once: the counters equal what the live files (and the stuck one) take.
        assert server.bytes_used() == sum(size(u) for u in live) + size(stuck)
        assert link_used(server, link[0]) == (len(guests), sum(size(u) for u in guests))
        # The stuck upload can be finished again; then it is a live file like the others.
        assert stuck.complete().status_code == 200
        live.append(stuck)
        for upload in live:
            assert upload.stored_bytes() == upload.blobs
        assert_store_matches(server, {u.file_id for u in live})
    assert server.listed() == {u.file_id for u in live}
