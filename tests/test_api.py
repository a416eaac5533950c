"""The HTTP APIs in-process, on SQLite and on a real PostgreSQL: policy, bad input, uploads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import delete, func, inspect, select, text

from tests.support.api_helpers import FAST_PW, b64, bearer, unlock, unlock_body
from tests.support.schema import LATER_COLUMNS, LATER_TABLES, drop_later_triggers
from viewer import crypto
from viewer.server import create_app, db, headers

PHOTO = os.urandom(150_000)  # three chunks of 64 KiB


def state(app) -> tuple[int, int, list[str]]:
    """What the server holds: file rows, link quota use, and every file under the blob folder."""
    with app.app_context():
        files = db.session().scalar(select(func.count()).select_from(db.File)) or 0
        used = db.session().scalar(select(func.coalesce(func.sum(db.Link.bytes_used), 0)))
    blobs = sorted(str(p.relative_to(app.config["BLOB_DIR"])) for p in Path(app.config["BLOB_DIR"]).rglob("*") if p.is_file())
    return files, int(used or 0), blobs


def link_row(app, link_id: str) -> db.Link:
    with app.app_context():
        link = db.session().get(db.Link, link_id)
    assert link is not None, link_id
    return link


@pytest.fixture
def album(owner):
    album_id, ak = owner.album()
    file_id = owner.add_file(album_id, ak, PHOTO, "Strand 🌊.jpg")
    return album_id, ak, file_id


# --- the happy path ---------------------------------------------------------------


def test_link_opens_and_every_byte_decrypts(owner, client, album):
    album_id, ak, file_id = album
    link_id, secret = owner.link(album_id, ak)
    unlocked = unlock(client, link_id, secret)
    assert unlocked.status_code == 200, unlocked.json
    keys = crypto.link_keys(secret)
    album_key = crypto.unwrap_album_key(keys.wrap_key, crypto.b64d(unlocked.json["wrapped_album_key"]), link_id)
    assert crypto.open_album_meta(album_key, album_id, crypto.b64d(unlocked.json["album_meta"]))["title"] == "Holiday"

    files = client.get(f"/api/links/{link_id}/files", headers=bearer(unlocked.json["access_token"])).json["files"]
    assert [f["file_id"] for f in files] == [file_id]
    fk = crypto.unwrap_file_key(album_key, crypto.b64d(files[0]["wrapped_key"]), album_id, file_id)
    assert crypto.open_file_meta(fk, album_id, file_id, crypto.b64d(files[0]["meta"]))["name"] == "Strand 🌊.jpg"
    blob = client.get(f"/api/links/{link_id}/files/{file_id}/blobs/original", headers=bearer(unlocked.json["access_token"]))
    assert blob.status_code == 200
    assert blob.headers["Accept-Ranges"] == "bytes" and blob.headers["Cache-Control"] == "private, no-store"
    assert crypto.decrypt_blob_bytes(fk, file_id, "original", blob.data) == PHOTO


def test_a_range_decrypts_without_the_chunks_before_it(owner, client, album):
    album_id, ak, file_id = album
    link_id, secret = owner.link(album_id, ak)
    token = unlock(client, link_id, secret).json["access_token"]
    full = client.get(f"/api/links/{link_id}/files/{file_id}/blobs/original", headers=bearer(token)).data
    span = crypto.chunk_span(100_000, 100_100, len(full))
    assert span.first == 1  # the second chunk: the first is never fetched
    part = client.get(
        f"/api/links/{link_id}/files/{file_id}/blobs/original",
        headers={**bearer(token), "Range": f"bytes={span.ct_start}-{span.ct_end - 1}"},
    )
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes {span.ct_start}-{span.ct_end - 1}/{len(full)}"
    fk = _file_key(client, link_id, secret, token, album_id, file_id)
    header = crypto.BlobHeader.parse(full[: crypto.BLOB_HEADER_BYTES])
    plain = crypto.decrypt_chunk(fk, file_id, "original", header, span.first, part.data, last=False)
    assert plain[span.skip : span.skip + 100] == PHOTO[100_000:100_100]


def _file_key(client, link_id, secret, token, album_id, file_id, password_factor=b""):
    unlocked = unlock(client, link_id, secret)
    keys = crypto.link_keys(secret, password_factor)
    ak = crypto.unwrap_album_key(keys.wrap_key, crypto.b64d(unlocked.json["wrapped_album_key"]), link_id)
    files = client.get(f"/api/links/{link_id}/files", headers=bearer(token)).json["files"]
    wrapped = next(f["wrapped_key"] for f in files if f["file_id"] == file_id)
    return crypto.unwrap_file_key(ak, crypto.b64d(wrapped), album_id, file_id)


def test_listing_pages_are_stable_and_complete(owner, client):
    album_id, ak = owner.album()
    ids = [owner.add_file(album_id, ak, b"x" * 10, f"{i}.jpg") for i in range(7)]
    link_id, secret = owner.link(album_id, ak)
    token = unlock(client, link_id, secret).json["access_token"]
    seen, after, pages = [], "", 0
    while True:
        page = client.get(f"/api/links/{link_id}/files?limit=3&after={after}", headers=bearer(token)).json
        seen += [f["file_id"] for f in page["files"]]
        pages += 1
        if page["next"] is None:
            break
        after = page["next"]
    assert seen == ids and pages == 3


def test_listing_uses_the_keyset_index(app, owner):
    """A page is one index range scan, so it costs the same in a 100,000-file album."""
    sqlite = app.config["DATABASE_URL"].startswith("sqlite")
    with app.app_context():
        query = (
            select(db.File)
            .where(db.File.album_id == "a" * 22, db.File.complete.is_(True), db.File.seq > 5)
            .order_by(db.File.seq)
            .limit(201)
        )
        sql = str(query.compile(app.extensions["fragment.engine"], compile_kwargs={"literal_binds": True}))
        connection = db.session().connection()
        if not sqlite:
            # An empty test table is cheaper to scan; ask what plan a big one gets.
            connection.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        plan = " ".join(str(row) for row in connection.exec_driver_sql(explain + sql))
    assert "ix_files_listing" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan  # no sort of the whole album


# --- what the link id alone gets ---------------------------------------------------


def test_link_id_without_the_proof_gets_only_public_info(owner, client, album):
    album_id, ak, file_id = album
    link_id, _secret = owner.link(album_id, ak, password="hunter2", downloads=False)
    info = client.get(f"/api/links/{link_id}")
    assert info.status_code == 200
    assert set(info.json) == {
        "link_id",
        "format",
        "password",
        "expires_at",
        "downloads",
        "uploads",
        "upload_only",
        "hold_uploads",
        "comments",
        "device_limit",
        "devices_free",
    }
    assert info.json["device_limit"] is None and info.json["devices_free"] is None
    assert info.json["comments"] == "off"  # the page offers comments only where the owner turned them on
    assert info.json["password"]["alg"] == "argon2id13" and info.json["downloads"] is False
    assert album_id not in info.get_data(as_text=True)
    for path in (f"/api/links/{link_id}/files", f"/api/links/{link_id}/files/{file_id}/blobs/thumb"):
        response = client.get(path)
        assert response.status_code == 401 and response.json["error"] == "unauthorized"
    forged = client.get(f"/api/links/{link_id}/files", headers=bearer("not-a-token"))
    assert forged.status_code == 401
    # A proof made with a wrong secret is refused at the link proof, before the password is looked at.
    wrong = unlock(client, link_id, os.urandom(32), password="hunter2")
    assert wrong.status_code == 401 and wrong.json["error"] == "bad_link_key"
    assert "copied the whole link" in wrong.json["message"]


def test_a_challenge_is_needed_and_must_be_ours(owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak)
    keys = crypto.link_keys(secret)
    forged = "made-up-challenge"
    response = client.post(
        f"/api/links/{link_id}/unlock", json={"challenge": forged, "proof": crypto.sign_proof(keys, link_id, forged)}
    )
    assert response.status_code == 401 and response.json["error"] == "bad_challenge"


# --- expiry, revocation, changes ---------------------------------------------------


def test_expired_link_is_gone_for_everyone(app, owner, client, album):
    album_id, ak, file_id = album
    link_id, secret = owner.link(album_id, ak, expires_at="2030-01-01T00:00:00Z")
    token = unlock(client, link_id, secret).json["access_token"]
    changed = owner.call("PATCH", f"/api/owner/links/{link_id}", json={"expires_at": "2020-01-01T00:00:00Z"})
    assert changed.status_code == 200
    for response in (
        client.get(f"/api/links/{link_id}"),
        client.post(f"/api/links/{link_id}/challenge"),
        client.get(f"/api/links/{link_id}/files", headers=bearer(token)),
        client.get(f"/api/links/{link_id}/files/{file_id}/blobs/thumb", headers=bearer(token)),
    ):
        assert response.status_code == 410
        assert response.json["error"] == "expired" and "expired on 2020-01-01" in response.json["message"]


def test_a_revoke_landing_during_an_unlock_answers_410_not_500(owner, client, album, monkeypatch):
    """The owner revokes the link after the unlock loaded it: the guest reads "revoked", not a server error."""
    from viewer.server import api_public

    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak)
    admit = api_public.admit_device

    def revoked_meanwhile(link, *args):
        device_id = admit(link, *args)
        # What the unlock reads once the revoke commits (api_owner.revoke_link deletes the wrapped key).
        link.revoked_at, link.wrapped_album_key = db.now(), None
        return device_id

    monkeypatch.setattr(api_public, "admit_device", revoked_meanwhile)
    response = unlock(client, link_id, secret)
    assert response.status_code == 410 and response.json["error"] == "revoked"


def test_revoked_link_is_gone_and_its_key_deleted(app, owner, client, album):
    album_id, ak, file_id = album
    link_id, secret = owner.link(album_id, ak)
    token = unlock(client, link_id, secret).json["access_token"]
    assert link_row(app, link_id).wrapped_album_key is not None
    revoked = owner.call("DELETE", f"/api/owner/links/{link_id}")
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    assert link_row(app, link_id).wrapped_album_key is None
    for response in (
        client.get(f"/api/links/{link_id}"),
        client.get(f"/api/links/{link_id}/files", headers=bearer(token)),
        client.get(f"/api/links/{link_id}/files/{file_id}/blobs/original", headers=bearer(token)),
    ):
        assert response.status_code == 410 and response.json["error"] == "revoked"
    again = owner.call("PATCH", f"/api/owner/links/{link_id}", json={"downloads": False})
    assert again.status_code == 410


def test_a_settings_change_makes_old_tokens_stale(owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak)
    token = unlock(client, link_id, secret).json["access_token"]
    owner.call("PATCH", f"/api/owner/links/{link_id}", json={"downloads": False})
    response = client.get(f"/api/links/{link_id}/files", headers=bearer(token))
    assert response.status_code == 401 and response.json["error"] == "token_stale"
    assert unlock(client, link_id, secret).status_code == 200


def change_password(owner, link_id: str, secret: bytes, ak: bytes, password: str):
    """PATCH the link to a new password, with its new link verifier, as the owner's tool does; the answer and the keys."""
    params = crypto.PasswordParams.new(**FAST_PW)
    keys = crypto.link_keys(secret, crypto.password_factor(password, params))
    changed = owner.call(
        "PATCH",
        f"/api/owner/links/{link_id}",
        json={
            "password": params.to_json(),
            "wrapped_album_key": b64(crypto.wrap_album_key(keys.wrap_key, ak, link_id)),
            "verifier": b64(keys.verifier),
            "link_verifier": b64(keys.link_verifier),
        },
    )
    return changed, keys


def test_a_password_change_locks_out_the_old_password(owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak, password="old")
    params = crypto.PasswordParams.new(**FAST_PW)
    keys = crypto.link_keys(secret, crypto.password_factor("new", params))
    changed = owner.call(
        "PATCH",
        f"/api/owner/links/{link_id}",
        json={
            "password": params.to_json(),
            "wrapped_album_key": b64(crypto.wrap_album_key(keys.wrap_key, ak, link_id)),
            "verifier": b64(keys.verifier),
        },
    )
    assert changed.status_code == 200
    assert unlock(client, link_id, secret, password="old").status_code == 401
    assert unlock(client, link_id, secret, password="new").status_code == 200


# --- passwords and attempt limits -------------------------------------------------


class Clock:
    """The server's clock (viewer.server.db.now), stopped and moved by the test: delays without waiting."""

    def __init__(self, monkeypatch, start: int = 1_800_000_000):
        self.now = start
        monkeypatch.setattr(db, "now", lambda: self.now)

    def advance(self, seconds: int) -> None:
        self.now += seconds


def junk_unlock(client, link_id: str):
    """An unlock by someone with only the link id: a real challenge, random proofs."""
    text = client.post(f"/api/links/{link_id}/challenge").json["challenge"]
    junk = b64(os.urandom(64))
    return client.post(f"/api/links/{link_id}/unlock", json={"challenge": text, "link_proof": junk, "proof": junk})


@pytest.mark.parametrize("password", [None, "right"])
def test_junk_proofs_from_the_link_id_alone_never_lock_the_link(app, owner, client, album, password):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak, password=password)
    for _ in range(200):
        response = junk_unlock(client, link_id)
        assert response.status_code == 401 and response.json["error"] == "bad_link_key"
    # The real recipient is let in at once; nothing was counted against the link.
    assert unlock(client, link_id, secret, password=password).status_code == 200
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(db.UnlockCounter).where(db.UnlockCounter.failures > 0)) == 0


def test_a_replayed_challenge_and_proof_unlock_once(owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak)
    keys, device = crypto.link_keys(secret), crypto.DeviceKey.new()
    text = client.post(f"/api/links/{link_id}/challenge").json["challenge"]
    body = unlock_body(keys, link_id, text, device)
    assert client.post(f"/api/links/{link_id}/unlock", json=body).status_code == 200
    for _ in range(3):
        again = client.post(f"/api/links/{link_id}/unlock", json=body)
        assert again.status_code == 401 and again.json["error"] == "bad_challenge"
        assert again.json["message"] == "This unlock was already used. Try again."


def test_spent_challenges_are_cleaned_up_after_their_ttl(app, owner, client, album, monkeypatch):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak)
    clock = Clock(monkeypatch)
    assert unlock(client, link_id, secret).status_code == 200
    runner = app.test_cli_runner()
    assert runner.invoke(args=["cleanup"]).exit_code == 0
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(db.SpentChallenge)) == 1  # still fresh: kept
    clock.advance(app.config["CHALLENGE_TTL"] + 2)
    assert runner.invoke(args=["cleanup"]).exit_code == 0
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(db.SpentChallenge)) == 0


@pytest.mark.settings(UNLOCK_FREE_ATTEMPTS_PER_CLIENT=3, UNLOCK_FREE_ATTEMPTS_PER_LINK=100, UNLOCK_MAX_DELAY=60)
def test_wrong_passwords_get_increasing_delays_and_the_right_one_resets(monkeypatch, owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak, password="right")
    clock = Clock(monkeypatch)
    for attempt in range(3):  # the free attempts
        response = unlock(client, link_id, secret, password=f"wrong{attempt}")
        assert response.status_code == 401 and response.json["error"] == "wrong_password"
    waits = []
    for _attempt in range(7):
        refused = client.post(f"/api/links/{link_id}/challenge")
        assert refused.status_code == 429 and refused.json["error"] == "too_many_attempts"
        waits.append(int(refused.headers["Retry-After"]))
        # Refused at the challenge: a client following the protocol does not run Argon2 for nothing.
        clock.advance(waits[-1])
        assert unlock(client, link_id, secret, password="still wrong").status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 60]  # doubling, up to UNLOCK_MAX_DELAY
    refused = client.post(f"/api/links/{link_id}/challenge")
    assert refused.json["message"] == "Too many wrong passwords. Try again in 1 minute."
    clock.advance(60)
    assert unlock(client, link_id, secret, password="right").status_code == 200
    # The right password reset this client's count: three free attempts again.
    for _attempt in range(3):
        assert unlock(client, link_id, secret, password="wrong").status_code == 401
    assert client.post(f"/api/links/{link_id}/challenge").status_code == 429


@pytest.mark.settings(UNLOCK_FREE_ATTEMPTS_PER_CLIENT=2, UNLOCK_FREE_ATTEMPTS_PER_LINK=100, UNLOCK_FORGET_SECONDS=3600)
def test_old_failures_are_forgotten(monkeypatch, owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak, password="right")
    clock = Clock(monkeypatch)
    for _ in range(2):
        assert unlock(client, link_id, secret, password="wrong").status_code == 401
    clock.advance(3601)
    for _ in range(2):  # counted from zero again: both are checked at once
        assert unlock(client, link_id, secret, password="wrong").status_code == 401
    assert client.post(f"/api/links/{link_id}/challenge").status_code == 429


@pytest.mark.settings(UNLOCK_FREE_ATTEMPTS_PER_CLIENT=2, UNLOCK_FREE_ATTEMPTS_PER_LINK=100)
def test_wrong_passwords_on_one_link_do_not_slow_another(monkeypatch, owner, client, album):
    album_id, ak, _ = album
    Clock(monkeypatch)
    first, first_secret = owner.link(album_id, ak, password="pw")
    for _ in range(2):
        assert unlock(client, first, first_secret, password="nope").status_code == 401
    refused = client.post(f"/api/links/{first}/challenge")
    assert refused.status_code == 429 and "Try again in 1 second." in refused.json["message"]
    # Same address, other links: one family behind one router is not locked out of everything.
    other, other_secret = owner.link(album_id, ak, password="pw")
    assert unlock(client, other, other_secret, password="pw").status_code == 200
    open_id, open_secret = owner.link(album_id, ak)
    assert unlock(client, open_id, open_secret).status_code == 200


@pytest.mark.settings(UNLOCK_FREE_ATTEMPTS_PER_CLIENT=100, UNLOCK_FREE_ATTEMPTS_PER_LINK=3, TRUST_PROXY=1)
def test_the_per_link_counter_counts_every_client_and_gives_a_success_back(monkeypatch, owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak, password="right")
    clock = Clock(monkeypatch)
    for n in range(3):
        client.environ_base["HTTP_X_FORWARDED_FOR"] = f"203.0.113.{n}"
        assert unlock(client, link_id, secret, password="wrong").status_code == 401
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.7"
    locked = client.post(f"/api/links/{link_id}/challenge")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) == 1
    clock.advance(1)
    assert unlock(client, link_id, secret, password="right").status_code == 200
    # The success gave its claimed attempt back: the link's count is still 3, not 4.
    with app_of(client).app_context():
        counter = db.session().get(db.UnlockCounter, f"link:{link_id}")
        assert counter is not None and counter.failures == 3


def app_of(client):
    return client.application


# --- Argon2id floor, link verifier, legacy links ------------------------------------


@pytest.mark.parametrize("weak", [{"opslimit": 1}, {"memlimit": 19 * 1024 * 1024 - 1}, {"opslimit": 1, "memlimit": 8192}])
def test_password_parameters_below_the_owasp_floor_are_refused(owner, client, album, weak):
    album_id, ak, _ = album
    link_id, secret = crypto.new_id(), os.urandom(32)
    params = {**crypto.PasswordParams.new(**FAST_PW).to_json(), **weak}
    keys = crypto.link_keys(secret, bytes(32))
    body = {
        "link_id": link_id,
        "wrapped_album_key": b64(crypto.wrap_album_key(keys.wrap_key, ak, link_id)),
        "verifier": b64(keys.verifier),
        "link_verifier": b64(keys.link_verifier),
        "password": params,
    }
    created = owner.call("POST", f"/api/owner/albums/{album_id}/links", json=body)
    assert created.status_code == 400 and created.json["error"] == "bad_field"
    assert "below the floor" in created.json["message"]
    assert client.get(f"/api/links/{link_id}").status_code == 404
    existing, _ = owner.link(album_id, ak)
    changed = owner.call("PATCH", f"/api/owner/links/{existing}", json={k: body[k] for k in body if k != "link_id"})
    assert changed.status_code == 400 and changed.json["error"] == "bad_field"
    assert client.get(f"/api/links/{existing}").json["password"] is None


def test_a_new_link_needs_a_link_verifier(owner, album):
    album_id, ak, _ = album
    link_id, keys = crypto.new_id(), crypto.link_keys(os.urandom(32))
    wrapped = b64(crypto.wrap_album_key(keys.wrap_key, ak, link_id))
    body = {"link_id": link_id, "wrapped_album_key": wrapped, "verifier": b64(keys.verifier)}
    response = owner.call("POST", f"/api/owner/albums/{album_id}/links", json=body)
    assert response.status_code == 400 and response.json["error"] == "missing_field"
    assert "link_verifier" in response.json["message"]
    bad = owner.call("POST", f"/api/owner/albums/{album_id}/links", json={**body, "link_verifier": "AAAA"})
    assert bad.status_code == 400


def make_legacy(app, link_id: str) -> None:
    """Turn a link into one made before the link proof: no link_verifier."""
    with app.app_context():
        session = db.session()
        link = session.get(db.Link, link_id)
        assert link is not None
        link.link_verifier = None
        session.commit()


@pytest.mark.settings(UNLOCK_FREE_ATTEMPTS_PER_CLIENT=2)
def test_legacy_links_without_a_link_verifier_still_unlock(app, owner, client, album, monkeypatch):
    album_id, ak, _ = album
    Clock(monkeypatch)
    open_id, open_secret = owner.link(album_id, ak)
    pw_id, pw_secret = owner.link(album_id, ak, password="pw")
    make_legacy(app, open_id)
    make_legacy(app, pw_id)
    # A v1 client sends no link proof (and no device key): still admitted.
    keys = crypto.link_keys(open_secret)
    text = client.post(f"/api/links/{open_id}/challenge").json["challenge"]
    v1_body = {"challenge": text, "proof": crypto.sign_proof(keys, open_id, text)}
    answer = client.post(f"/api/links/{open_id}/unlock", json=v1_body)
    assert answer.status_code == 200, answer.json
    ak_back = crypto.unwrap_album_key(keys.wrap_key, crypto.b64d(answer.json["wrapped_album_key"]), open_id)
    assert ak_back == ak
    # Junk on a legacy link without a password is refused without being counted.
    for _ in range(5):
        assert junk_unlock(client, open_id).json["error"] == "bad_proof"
    assert unlock(client, open_id, open_secret).status_code == 200
    assert unlock(client, pw_id, pw_secret, password="pw").status_code == 200
    assert unlock(client, pw_id, pw_secret, password="wrong").json["error"] == "wrong_password"


def test_a_database_from_before_the_link_proof_is_upgraded_and_its_links_still_open(app, owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak)
    engine = app.extensions["fragment.engine"]
    with engine.begin() as connection:  # the schema as it was: no link_verifier, the old failures table, no migrations yet
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("ALTER TABLE links DROP COLUMN link_verifier"))
        # Revisions after 0002 came after migrations began: no database without alembic_version has what they added.
        drop_later_triggers(connection)
        for table in LATER_TABLES:
            connection.execute(text(f"DROP TABLE {table}"))
        quote = connection.dialect.identifier_preparer.quote  # files.drop is a keyword
        for table, column in LATER_COLUMNS:
            connection.execute(text(f"ALTER TABLE {table} DROP COLUMN {quote(column)}"))
        connection.execute(text("CREATE TABLE unlock_failures (id INTEGER PRIMARY KEY, link_id VARCHAR(22))"))
    again = create_app({key: app.config[key] for key in ("DATA_DIR", "SECRET_KEY", "DATABASE_URL")})
    try:
        tables = inspect(again.extensions["fragment.engine"]).get_table_names()
        assert "unlock_failures" not in tables and {"unlock_counters", "spent_challenges", "link_devices"} <= set(tables)
        assert unlock(again.test_client(), link_id, secret).status_code == 200  # legacy now: link_verifier is NULL
        assert link_row(again, link_id).link_verifier is None
    finally:
        again.extensions["fragment.engine"].dispose()


def test_a_password_change_upgrades_a_legacy_link(app, owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak)
    make_legacy(app, link_id)
    changed, keys = change_password(owner, link_id, secret, ak, "new")
    assert changed.status_code == 200
    assert link_row(app, link_id).link_verifier == keys.link_verifier
    text = client.post(f"/api/links/{link_id}/challenge").json["challenge"]
    v1_body = {"challenge": text, "proof": crypto.sign_proof(keys, link_id, text)}
    no_link_proof = client.post(f"/api/links/{link_id}/unlock", json=v1_body)
    assert no_link_proof.status_code == 401 and no_link_proof.json["error"] == "bad_link_key"
    assert unlock(client, link_id, secret, password="new").status_code == 200


# --- device limit ----------------------------------------------------------------


def test_device_limit_admits_each_device_key_once(app, owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak, device_limit=1)
    phone, laptop = crypto.DeviceKey.new(), crypto.DeviceKey.new()
    assert client.get(f"/api/links/{link_id}").json["devices_free"] == 1
    first = unlock(client, link_id, secret, device=phone)
    assert first.status_code == 200 and "device_token" not in first.json
    assert client.get(f"/api/links/{link_id}").json["devices_free"] == 0  # a new device hears it before asking
    second = unlock(client, link_id, secret, device=laptop)
    assert second.status_code == 403 and second.json["error"] == "device_limit"
    assert second.json["message"] == "This link can be opened on 1 device, and it is taken."
    for _ in range(3):
        assert unlock(client, link_id, secret, device=phone).status_code == 200
    assert link_row(app, link_id).devices_used == 1
    # The same device key on another link is another slot there.
    other_id, other_secret = owner.link(album_id, ak, device_limit=1)
    assert unlock(client, other_id, other_secret, device=phone).status_code == 200
    assert link_row(app, other_id).devices_used == 1


def test_a_copied_token_admits_no_new_device(app, owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak, device_limit=3)
    first = unlock(client, link_id, secret)
    token = first.json["access_token"]
    for _ in range(2):
        assert unlock(client, link_id, secret).status_code == 200
    # A fourth browser that copied the first one's token (as a v1 device_token) takes no slot...
    copied = unlock(client, link_id, secret, device_token=token)
    assert copied.status_code == 403
    assert copied.json["message"] == "This link can be opened on 3 devices, and all are taken."
    # ... and without a device key of its own it is not even looked at.
    keys = crypto.link_keys(secret)
    text = client.post(f"/api/links/{link_id}/challenge").json["challenge"]
    bare = client.post(f"/api/links/{link_id}/unlock", json={**unlock_body(keys, link_id, text, None), "device_token": token})
    assert bare.status_code == 400 and bare.json["error"] == "device_key_required"
    assert link_row(app, link_id).devices_used == 3


def test_a_device_proof_must_be_made_by_the_device_key(owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak, device_limit=2)
    keys, mine, theirs = crypto.link_keys(secret), crypto.DeviceKey.new(), crypto.DeviceKey.new()
    text = client.post(f"/api/links/{link_id}/challenge").json["challenge"]
    body = {**unlock_body(keys, link_id, text, mine), "device_proof": theirs.sign(link_id, text)}
    response = client.post(f"/api/links/{link_id}/unlock", json=body)
    assert response.status_code == 401 and response.json["error"] == "bad_device_proof"
    text = client.post(f"/api/links/{link_id}/challenge").json["challenge"]
    malformed = client.post(f"/api/links/{link_id}/unlock", json={**unlock_body(keys, link_id, text, mine), "device_key": "AAAA"})
    assert malformed.status_code == 400 and malformed.json["error"] == "bad_field"


def test_a_password_change_resets_the_devices(app, owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak, password="old", device_limit=1)
    phone, laptop = crypto.DeviceKey.new(), crypto.DeviceKey.new()
    token = unlock(client, link_id, secret, password="old", device=phone).json["access_token"]
    changed, _keys = change_password(owner, link_id, secret, ak, "new")
    assert changed.status_code == 200 and changed.json["devices_used"] == 0
    assert client.get(f"/api/links/{link_id}/files", headers=bearer(token)).status_code == 401
    # The slot is free again: the first device to unlock with the new password takes it.
    assert unlock(client, link_id, secret, password="new", device=laptop).status_code == 200
    assert unlock(client, link_id, secret, password="new", device=phone).status_code == 403


def test_a_removed_device_loses_access_at_once(app, owner, client, album):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak, device_limit=2)
    token = unlock(client, link_id, secret).json["access_token"]
    assert client.get(f"/api/links/{link_id}/files", headers=bearer(token)).status_code == 200
    with app.app_context():
        session = db.session()
        session.execute(delete(db.LinkDevice).where(db.LinkDevice.link_id == link_id))
        session.commit()
    refused = client.get(f"/api/links/{link_id}/files", headers=bearer(token))
    assert refused.status_code == 401 and refused.json["error"] == "token_stale"


def test_sealed_titles_of_different_lengths_look_the_same_to_the_server(app, owner):
    owner.album("A")
    owner.album("Our summer in the mountains, with the whole family")
    with app.app_context():
        sizes = set(db.session().scalars(select(func.length(db.Album.meta))).all())
    assert sizes == {24 + 256 + 16}


# --- downloads and uploads ----------------------------------------------------------


def test_downloads_off_serves_previews_but_never_originals(owner, client, album):
    album_id, ak, file_id = album
    link_id, secret = owner.link(album_id, ak, downloads=False)
    token = unlock(client, link_id, secret).json["access_token"]
    base = f"/api/links/{link_id}/files/{file_id}/blobs"
    original = client.get(f"{base}/original", headers=bearer(token))
    assert original.status_code == 403 and original.json["error"] == "downloads_off"
    ranged = client.get(f"{base}/original", headers={**bearer(token), "Range": "bytes=0-10"})
    assert ranged.status_code == 403
    for kind in ("thumb", "preview"):
        assert client.get(f"{base}/{kind}", headers=bearer(token)).status_code == 200


def _guest(owner, client, album, **settings):
    album_id, ak, _ = album
    link_id, secret = owner.link(album_id, ak, **settings)
    token = unlock(client, link_id, secret).json["access_token"]
    return link_id, bearer(token), f"/api/links/{link_id}/files"


def test_a_guest_upload_racing_the_albums_deletion_answers_404_not_500(app, owner, client, album, monkeypatch):
    """The owner deletes the album (and its links) as a guest reserves: the quota update finds no link, then 404."""
    from viewer.server import uploads

    link_id, auth, base = _guest(owner, client, album, uploads=True)
    expire = uploads.expire_pending

    def deleted_meanwhile(**kwargs):
        expire(**kwargs)
        other = app.extensions["fragment.sessionmaker"]()  # another request's transaction
        other.execute(delete(db.Link).where(db.Link.id == link_id))
        other.commit()
        other.close()

    monkeypatch.setattr(uploads, "expire_pending", deleted_meanwhile)
    body, _ = owner.file_payload(album[0], album[1], b"guest photo")
    response = client.post(base, json=body, headers=auth)
    assert response.status_code == 404 and response.json["error"] == "not_found"


def test_uploads_off_refuses_a_guest_and_stores_nothing(app, owner, client, album):
    _link_id, auth, base = _guest(owner, client, album)
    before = state(app)
    body, _ = owner.file_payload(album[0], album[1], b"guest photo")
    response = client.post(base, json=body, headers=auth)
    assert response.status_code == 403 and response.json["error"] == "uploads_off"
    assert state(app) == before


def test_guest_upload_is_visible_only_once_complete(app, owner, client, album):
    link_id, auth, base = _guest(owner, client, album, uploads=True)
    body, blobs = owner.file_payload(album[0], album[1], b"guest photo", "from Ana.jpg")
    assert client.post(base, json=body, headers=auth).status_code == 201
    for kind, blob in blobs.items():
        assert client.put(f"{base}/{body['file_id']}/blobs/{kind}", data=blob, headers=auth).status_code == 200
    listed = lambda: [f["file_id"] for f in client.get(base, headers=auth).json["files"]]  # noqa: E731
    assert body["file_id"] not in listed()
    done = client.post(f"{base}/{body['file_id']}/complete", headers=auth)
    assert done.status_code == 200 and done.json["guest"] is True
    assert body["file_id"] in listed()
    guests = owner.call("GET", f"/api/owner/albums/{album[0]}/files?source=guest").json["files"]
    assert [f["file_id"] for f in guests] == [body["file_id"]] and guests[0]["uploaded_via"] == link_id


def test_held_guest_uploads_wait_for_the_owners_approval(app, owner, client, album):
    """With hold_uploads, a guest's finished file is the owner's to see until approved; then every visitor's."""
    link_id, auth, base = _guest(owner, client, album, uploads=True, hold_uploads=True)
    assert client.get(f"/api/links/{link_id}").json["hold_uploads"] is True
    body, blobs = owner.file_payload(album[0], album[1], b"guest photo", "from Ana.jpg")
    assert client.post(base, json=body, headers=auth).status_code == 201
    for kind, blob in blobs.items():
        assert client.put(f"{base}/{body['file_id']}/blobs/{kind}", data=blob, headers=auth).status_code == 200
    assert client.post(f"{base}/{body['file_id']}/complete", headers=auth).status_code == 200

    # Another visitor of the album (a link without uploads) sees neither the file nor its bytes.
    other_id, other_secret = owner.link(album[0], album[1])
    other = bearer(unlock(client, other_id, other_secret).json["access_token"])
    other_base = f"/api/links/{other_id}/files"
    listed = lambda: [f["file_id"] for f in client.get(other_base, headers=other).json["files"]]  # noqa: E731
    assert body["file_id"] not in listed()
    hidden = client.get(f"{other_base}/{body['file_id']}/blobs/thumb", headers=other)
    assert hidden.status_code == 404
    mine = owner.call("GET", f"/api/owner/albums/{album[0]}/files?source=guest").json["files"]
    assert [(f["file_id"], f["held"]) for f in mine] == [(body["file_id"], True)]

    approved = owner.call("POST", f"/api/owner/albums/{album[0]}/files/{body['file_id']}/approve")
    assert approved.status_code == 200 and approved.json["held"] is False
    assert body["file_id"] in listed()
    assert client.get(f"{other_base}/{body['file_id']}/blobs/thumb", headers=other).data == blobs["thumb"]
    again = owner.call("POST", f"/api/owner/albums/{album[0]}/files/{body['file_id']}/approve")
    assert again.status_code == 200  # approving twice is harmless
    # The owner's own uploads are never held.
    own = owner.add_file(album[0], album[1], b"owner photo")
    assert own in listed()


def test_upload_only_link_cannot_see_the_album(owner, client, album):
    _link_id, auth, base = _guest(owner, client, album, uploads=True, upload_only=True)
    response = client.get(base, headers=auth)
    assert response.status_code == 403 and response.json["error"] == "upload_only"
    thumb = client.get(f"{base}/{album[2]}/blobs/thumb", headers=auth)
    assert thumb.status_code == 403


@pytest.mark.parametrize(
    "settings, error",
    [
        ({"quota_files": 0}, "quota_exceeded"),
        ({"quota_bytes": 1000}, "quota_exceeded"),
        ({"max_file_size": 100}, "file_too_large"),
    ],
)
def test_over_quota_is_refused_before_a_byte_is_stored(app, owner, client, album, settings, error):
    _link_id, auth, base = _guest(owner, client, album, uploads=True, **settings)
    before = state(app)
    body, _ = owner.file_payload(album[0], album[1], os.urandom(5000))
    response = client.post(base, json=body, headers=auth)
    assert response.status_code == 413 and response.json["error"] == error
    assert response.json["message"]
    assert state(app) == before


def test_turning_uploads_off_aborts_pending_guest_uploads(app, owner, client, album):
    link_id, auth, base = _guest(owner, client, album, uploads=True)
    before = state(app)
    body, blobs = owner.file_payload(album[0], album[1], b"half sent")
    client.post(base, json=body, headers=auth)
    client.put(f"{base}/{body['file_id']}/blobs/thumb", data=blobs["thumb"], headers=auth)
    assert state(app) != before
    owner.call("PATCH", f"/api/owner/links/{link_id}", json={"uploads": False})
    assert state(app) == before


@pytest.mark.settings(UPLOAD_TTL=60)
def test_an_interrupted_upload_is_invisible_and_gives_its_quota_back(app, owner, client, album, monkeypatch):
    link_id, auth, base = _guest(owner, client, album, uploads=True, quota_files=1)
    before = state(app)
    body, blobs = owner.file_payload(album[0], album[1], os.urandom(3000))
    assert client.post(base, json=body, headers=auth).status_code == 201
    half = blobs["original"][:1000]
    assert client.put(f"{base}/{body['file_id']}/blobs/original", data=half, headers=auth).status_code == 200
    # The guest's connection is gone. The file is not listed, and the quota is held for now...
    assert body["file_id"] not in [f["file_id"] for f in client.get(base, headers=auth).json["files"]]
    second, _ = owner.file_payload(album[0], album[1], b"second")
    assert client.post(base, json=second, headers=auth).status_code == 413
    # ...until UPLOAD_TTL passes; then the parts are deleted and the quota is free again.
    later = db.now() + 61
    monkeypatch.setattr(db, "now", lambda: later)
    result = app.test_cli_runner().invoke(args=["cleanup"])
    assert "Removed 1 expired upload" in result.output
    assert state(app) == before
    assert link_row(app, link_id).files_used == 0
    # The resumed upload is told plainly that it is gone.
    gone = client.put(
        f"{base}/{body['file_id']}/blobs/original", data=blobs["original"][1000:], headers={**auth, "Upload-Offset": "1000"}
    )
    assert gone.status_code == 404


@pytest.mark.settings(UPLOAD_TTL=60, UPLOAD_PART_BYTES=1_000_000)
def test_uploads_limits_follow_reservations_cancels_and_expiry(app, owner, client, album, monkeypatch):
    link_id, auth, base = _guest(owner, client, album, uploads=True, quota_files=3, quota_bytes=200_000, max_file_size=50_000)
    limits = lambda: client.get(f"/api/links/{link_id}/uploads", headers=auth)  # noqa: E731
    fresh = limits()
    assert fresh.status_code == 200
    assert fresh.json == {
        "max_file_size": 50_000,
        "quota_files": 3,
        "quota_bytes": 200_000,
        "files_left": 3,
        "bytes_left": 200_000,
        "part_size": 1_000_000,
    }
    # A reservation holds one file and all three blobs' ciphertext bytes...
    body, _ = owner.file_payload(album[0], album[1], os.urandom(3000))
    total = sum(body["blobs"].values())
    assert client.post(base, json=body, headers=auth).status_code == 201
    held = limits().json
    assert (held["files_left"], held["bytes_left"]) == (2, 200_000 - total)
    # ...a cancel gives them back...
    assert client.delete(f"{base}/{body['file_id']}", headers=auth).status_code == 200
    assert limits().json == fresh.json
    # ...and so does an abandoned reservation once UPLOAD_TTL has passed, without a cleanup run.
    second, _ = owner.file_payload(album[0], album[1], os.urandom(3000))
    assert client.post(base, json=second, headers=auth).status_code == 201
    later = db.now() + 61
    monkeypatch.setattr(db, "now", lambda: later)
    assert limits().json == fresh.json
    assert link_row(app, link_id).files_used == 0


def test_uploads_limits_need_a_token_and_a_link_that_allows_uploads(owner, client, album):
    link_id, auth, _ = _guest(owner, client, album)
    off = client.get(f"/api/links/{link_id}/uploads", headers=auth)
    assert off.status_code == 403 and off.json["error"] == "uploads_off"
    link_id, _, _ = _guest(owner, client, album, uploads=True)
    anonymous = client.get(f"/api/links/{link_id}/uploads")
    assert anonymous.status_code == 401 and anonymous.json["error"] == "unauthorized"


def test_upload_resumes_at_the_offset_the_server_has(owner, album):
    album_id, ak, _ = album
    body, blobs = owner.file_payload(album_id, ak, os.urandom(200_000))
    base = f"/api/owner/albums/{album_id}/files"
    owner.call("POST", base, json=body)
    url = f"{base}/{body['file_id']}/blobs/original"
    blob = blobs["original"]
    assert owner.call("PUT", url, data=blob[:70_000]).json["blobs"]["original"]["received"] == 70_000
    wrong = owner.call("PUT", url, data=blob[50_000:], headers={"Upload-Offset": "50000"})
    assert wrong.status_code == 409 and wrong.json["error"] == "offset_mismatch"
    assert wrong.json["upload"]["blobs"]["original"]["received"] == 70_000
    assert owner.call("POST", f"{base}/{body['file_id']}/complete").json["error"] == "incomplete"
    status = owner.call("GET", f"{base}/{body['file_id']}/upload").json
    offset = status["blobs"]["original"]["received"]
    assert owner.call("PUT", url, data=blob[offset:], headers={"Upload-Offset": str(offset)}).status_code == 200
    for kind in ("thumb", "preview"):
        owner.call("PUT", f"{base}/{body['file_id']}/blobs/{kind}", data=blobs[kind])
    assert owner.call("POST", f"{base}/{body['file_id']}/complete").status_code == 200
    served = owner.call("GET", f"{base}/{body['file_id']}/blobs/original")
    assert served.data == blob


# --- bad input --------------------------------------------------------------------

BAD_IDS = [
    "short",
    "A" * 23,
    "A" * 21 + "=",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "AAAAAAAAAAAAAAAAAAAAA$",
    "AAAAAAAAAAAAAAAAAAAAAB",
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_malformed_ids_and_traversal_get_a_clear_4xx(app, owner, client, album, bad):
    album_id, ak, file_id = album
    link_id, secret = owner.link(album_id, ak)
    token = unlock(client, link_id, secret).json["access_token"]
    before = state(app)
    requests_ = [
        client.get(f"/api/links/{bad}"),
        client.post(f"/api/links/{bad}/challenge"),
        client.get(f"/api/links/{link_id}/files/{bad}/blobs/original", headers=bearer(token)),
        client.get(f"/api/links/{link_id}/files/{file_id}/blobs/{bad}", headers=bearer(token)),
        owner.call("GET", f"/api/owner/albums/{bad}"),
        owner.call("PUT", f"/api/owner/albums/{album_id}/files/{bad}/blobs/thumb", data=b"x"),
        owner.call("POST", "/api/owner/albums", json={"album_id": bad, "meta": "AAAA"}),
    ]
    for response in requests_:
        assert 400 <= response.status_code < 500, response.status_code
        assert response.is_json and response.json["message"]
    assert state(app) == before


def test_the_album_page_of_a_malformed_link_says_so(client):
    response = client.get("/a/not-a-link")
    assert response.status_code == 404
    assert "not complete" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "range_header",
    ["bytes=999999999-", "bytes=5-2", "bytes=0-1,5-6", "chars=0-1", "bytes=-", "bytes=abc"],
)
def test_bad_ranges_get_416(owner, client, album, range_header):
    album_id, ak, file_id = album
    link_id, secret = owner.link(album_id, ak)
    token = unlock(client, link_id, secret).json["access_token"]
    response = client.get(
        f"/api/links/{link_id}/files/{file_id}/blobs/original", headers={**bearer(token), "Range": range_header}
    )
    assert response.status_code == 416 and response.json["error"] == "bad_range"
    assert response.headers["Content-Range"].startswith("bytes */")


def test_a_range_past_the_end_is_clipped(owner, client, album):
    album_id, ak, file_id = album
    link_id, secret = owner.link(album_id, ak)
    token = unlock(client, link_id, secret).json["access_token"]
    url = f"/api/links/{link_id}/files/{file_id}/blobs/original"
    full = client.get(url, headers=bearer(token)).data
    tail = client.get(url, headers={**bearer(token), "Range": f"bytes={len(full) - 10}-{len(full) + 500}"})
    assert tail.status_code == 206 and tail.data == full[-10:]
    suffix = client.get(url, headers={**bearer(token), "Range": "bytes=-7"})
    assert suffix.status_code == 206 and suffix.data == full[-7:]


@pytest.mark.parametrize(
    "data, content_type, error",
    [
        (b"not json", "application/json", "bad_json"),
        (b"[1, 2]", "application/json", "bad_json"),
        (b"\xff\xfe", "application/json", "bad_json"),
        (b'{"album_id": 5}', "application/json", "bad_id"),
    ],
)
def test_bodies_that_are_not_json_objects_are_refused(app, owner, data, content_type, error):
    before = state(app)
    response = owner.call("POST", "/api/owner/albums", data=data, content_type=content_type)
    assert response.status_code == 400 and response.json["error"] == error
    assert state(app) == before


@pytest.mark.settings(MAX_JSON_BYTES=1000, UPLOAD_PART_BYTES=4096)
def test_oversized_bodies_get_413_and_write_nothing(app, owner):
    album_id, ak = owner.album()
    before = state(app)
    big = owner.call("POST", "/api/owner/albums", json={"album_id": crypto.new_id(), "meta": "A" * 2000})
    assert big.status_code == 413 and big.json["error"] == "too_large"
    body, blobs = owner.file_payload(album_id, ak, os.urandom(10_000))
    owner.call("POST", f"/api/owner/albums/{album_id}/files", json=body)
    after_reserve = state(app)
    url = f"/api/owner/albums/{album_id}/files/{body['file_id']}/blobs/original"
    part = owner.call("PUT", url, data=blobs["original"][:5000])
    assert part.status_code == 413 and part.json["error"] == "too_large"
    past = owner.call("PUT", f"/api/owner/albums/{album_id}/files/{body['file_id']}/blobs/thumb", data=blobs["thumb"] + b"extra")
    assert past.status_code == 413 and "declared" in past.json["message"]
    assert state(app) == after_reserve
    assert before[0] + 1 == after_reserve[0]


def test_a_blob_that_is_not_v1_is_refused_on_complete_and_discarded(app, owner, album):
    album_id, ak, _ = album
    before = state(app)
    body, blobs = owner.file_payload(album_id, ak, b"photo")
    base = f"/api/owner/albums/{album_id}/files/{body['file_id']}"
    owner.call("POST", f"/api/owner/albums/{album_id}/files", json=body)
    for kind, blob in blobs.items():
        owner.call("PUT", f"{base}/blobs/{kind}", data=b"JUNK" + blob[4:] if kind == "preview" else blob)
    response = owner.call("POST", f"{base}/complete")
    assert response.status_code == 422 and response.json["error"] == "bad_blob" and "preview" in response.json["message"]
    assert state(app) == before


def test_owner_api_needs_the_owner_token(client, owner):
    assert client.get("/api/owner/albums").status_code == 401
    wrong = client.get("/api/owner/albums", headers=bearer("fo_wrong"))
    assert wrong.status_code == 401 and wrong.json["error"] == "unauthorized"
    assert client.get("/api/owner/albums", headers=owner.auth).status_code == 200


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/api/nothing").json["error"] == "not_found"
    assert client.delete("/api/links/AAAAAAAAAAAAAAAAAAAAAA").json["error"] == "method_not_allowed"


def test_pages_carry_a_strict_content_security_policy(client):
    response = client.get("/a/AAAAAAAAAAAAAAAAAAAAAA")
    csp = response.headers["Content-Security-Policy"]
    with client.application.test_request_context("/a/AAAAAAAAAAAAAAAAAAAAAA"):
        hashes = client.application.extensions["fragment.assets"].csp_script_sources()
    assert csp == headers.content_security_policy(hashes)
    assert "'unsafe-inline'" not in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
