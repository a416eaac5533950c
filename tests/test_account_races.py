"""An account's storage quota under real concurrency: threads against gunicorn, on SQLite + a
folder and PostgreSQL + S3 (issue 12; the rule of docs/design.md, "Accounts": one conditional
UPDATE with the file's own transition).

Many uploads reserve at once against a quota that fits only some of them; then they are
finished, cancelled and deleted at once. What the owner would notice is checked each round:
how many were refused and with which message, and that the storage the account page shows
is exactly the sum of the files that exist.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.test_accounts import signup_body
from tests.test_upload_races import Server, Upload, at_once, running
from viewer import crypto

pytestmark = pytest.mark.slow

ROUNDS = 8
THREADS = 12
FITS = 5  # uploads the quota has room for, each round


class AccountServer(Server):
    """One running app with open sign-up, an account, its owner token and an album of the account."""

    def __init__(self, url: str, data_dir: Path, env: dict, database_url: str, s3: str | None):
        self.url, self.data_dir, self.env, self.database_url, self.s3 = url, data_dir, env, database_url, s3
        body, made = signup_body("racer@example.org", "a password for races")
        browser = requests.Session()
        signed_in = browser.post(f"{url}/api/account/signup", json=body)
        assert signed_in.status_code == 201, signed_in.text
        csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
        token = browser.post(f"{url}/api/account/tokens", json={"label": "races"}, headers=csrf).json()["token"]
        self.account_id = made.account_id
        self.auth = {"Authorization": f"Bearer {token}"}
        self.album_id, self.ak = crypto.new_id(), crypto.random_key()
        album = {
            "album_id": self.album_id,
            "meta": crypto.b64e(crypto.seal_album_meta(self.ak, self.album_id, {"v": 1, "title": "races"})),
            "owner_key": crypto.b64e(crypto.seal_owner_album_key(made.master_key, self.ak, self.album_id)),
        }
        assert requests.post(f"{url}/api/owner/albums", json=album, headers=self.auth).status_code == 201

    def bytes_used(self) -> int:
        return self.sql("SELECT bytes_used FROM accounts WHERE id = :id", id=self.account_id)[0][0]

    def stored_total(self) -> int:
        """The ciphertext size of every file row of the account (reserved ones included)."""
        rows = self.sql(
            "SELECT COALESCE(SUM(thumb_size + preview_size + original_size), 0) FROM files WHERE album_id = :a", a=self.album_id
        )
        return int(rows[0][0])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    with running(request, tmp_path_factory, {"FRAGMENT_SIGNUP": "open"}, database="account_races") as started:
        yield AccountServer(*started)


def test_uploads_at_once_never_exceed_the_accounts_quota_and_deletes_give_it_back(server):
    for round_ in range(ROUNDS):
        uploads = [Upload(server) for _ in range(THREADS)]
        size = sum(len(blob) for blob in uploads[0].blobs.values())
        assert all(sum(len(blob) for blob in u.blobs.values()) == size for u in uploads)
        used = server.bytes_used()
        server.sql("UPDATE accounts SET quota_bytes = :q WHERE id = :id", q=used + FITS * size, id=server.account_id)

        answers = at_once(*(u.reserve for u in uploads))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] * FITS + [413] * (THREADS - FITS), f"round {round_}: {statuses}"
        refused = [a.json() for a in answers if a.status_code == 413]
        assert {r["error"] for r in refused} == {"account_full"}
        assert all(r["message"].startswith("Your storage is full:") for r in refused)
        assert server.bytes_used() == server.stored_total() == used + FITS * size

        won = [u for u, a in zip(uploads, answers, strict=True) if a.status_code == 201]
        # Finish some, and at the same moment cancel others and delete the same file twice.
        for upload in won[:3]:
            upload.send_all()
        results = at_once(*(u.complete for u in won[:3]), *(u.delete for u in won[3:]), *(u.delete for u in won[3:]))
        assert [r.status_code for r in results[:3]] == [200, 200, 200]
        # A second delete of the same file says it is gone (200 if it raced the first, 404 after it).
        assert {r.status_code for r in results[3:]} <= {200, 404}
        assert server.bytes_used() == server.stored_total() == used + 3 * size

        # Delete the finished ones at once, twice each: the account gets exactly their bytes back.
        results = at_once(*(u.delete for u in won[:3]), *(u.delete for u in won[:3]))
        assert {r.status_code for r in results} <= {200, 404}
        assert server.bytes_used() == server.stored_total() == used
    assert server.bytes_used() == 0
