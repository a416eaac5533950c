"""Accounts on the server, the parts that exist so far (issue 12): who owns an album, sessions, login keys.

The account API itself (sign-up, sign-in, recovery) is still to come; these tests drive what
it will stand on: albums scoped to an account or to no account, the session cookie with its
CSRF and same-origin checks, login-key hashing and counted attempts, quotas and invitations.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import Column, MetaData, Table, create_engine, inspect, select

from tests.support.api_helpers import Owner
from tests.support.schema import LATER_COLUMNS, LATER_TABLES
from viewer import crypto
from viewer.server import accounts, auth, db, tokens, uploads
from viewer.server.errors import ApiError


def make_account(app, email: str = "ada@example.org", **fields) -> str:
    """An account row as sign-up will store it (the sealed values are random: the server cannot tell)."""
    with app.app_context():
        session = db.session()
        account = db.Account(
            id=crypto.new_id(),
            email=email,
            pw_salt=os.urandom(16),
            pw_opslimit=crypto.PW_OPSLIMIT,
            pw_memlimit=crypto.PW_MEMLIMIT,
            login_hash=accounts.hash_login_key(b"k" * 32),
            recovery_hash=accounts.hash_login_key(b"r" * 32),
            sealed_mk=os.urandom(72),
            sealed_mk_rk=os.urandom(72),
            sealed_rk=os.urandom(72),
            sealed_identity=os.urandom(72),
            box_pk=os.urandom(32),
            sign_pk=os.urandom(32),
            **fields,
        )
        session.add(account)
        session.commit()
        return account.id


def account_token(app, account_id: str) -> str:
    with app.app_context():
        token = tokens.new_owner_token()
        session = db.session()
        session.add(db.OwnerToken(token_hash=tokens.hash_owner_token(token), account_id=account_id, label="script"))
        session.commit()
        return token


def test_albums_belong_to_an_account_or_to_none(app, client, owner):
    """A token of an account and a token of no account never see each other's albums or links."""
    legacy_album, legacy_key = owner.album("Before accounts")
    legacy_link, _ = owner.link(legacy_album, legacy_key)
    mine = Owner(client, account_token(app, make_account(app)), master_key=crypto.random_key())
    album, key = mine.album("Mine")
    link, _ = mine.link(album, key)

    assert [a["album_id"] for a in mine.call("GET", "/api/owner/albums").get_json()["albums"]] == [album]
    assert [a["album_id"] for a in owner.call("GET", "/api/owner/albums").get_json()["albums"]] == [legacy_album]
    for who, other_album, other_link in ((mine, legacy_album, legacy_link), (owner, album, link)):
        answer = who.call("GET", f"/api/owner/albums/{other_album}")
        assert answer.status_code == 404 and answer.get_json()["message"] == "This album does not exist."
        assert who.call("DELETE", f"/api/owner/albums/{other_album}").status_code == 404
        answer = who.call("PATCH", f"/api/owner/links/{other_link}", json={"downloads": False})
        assert answer.status_code == 404 and answer.get_json()["message"] == "This link does not exist."
    with app.app_context():
        assert db.session().get_one(db.Album, album).account_id is not None
        assert db.session().get_one(db.Album, legacy_album).account_id is None


def _signed_in(app, client, account_id: str) -> tuple[str, str]:
    """Start a session the way sign-in will, and give the test client its cookie; (session id, CSRF token)."""
    with app.test_request_context("/api/account/login", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156"}):
        row, secret = auth.start_session(account_id)
        response = auth.set_cookie(app.response_class(), secret)
        db.session().commit()
        cookie = response.headers["Set-Cookie"]
        session_id, csrf = row.id, auth.csrf_token(row.id)
        assert row.label == "Chrome on Linux"
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; over https the cookie says Secure (next test)
    client.set_cookie(auth.COOKIE, cookie.split(";")[0].split("=", 1)[1])
    return session_id, csrf


def test_a_session_needs_its_csrf_token_for_every_change(app, client):
    account_id = make_account(app)
    _session_id, csrf = _signed_in(app, client, account_id)
    body = {"album_id": crypto.new_id(), "meta": crypto.b64e(os.urandom(64)), "owner_key": crypto.b64e(os.urandom(72))}

    refused = client.post("/api/owner/albums", json=body)
    assert refused.status_code == 403 and refused.get_json()["error"] == "csrf"
    wrong = client.post("/api/owner/albums", json=body, headers={auth.CSRF_HEADER: "0" * 64})
    assert wrong.status_code == 403
    cross = client.post("/api/owner/albums", json=body, headers={auth.CSRF_HEADER: csrf, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and cross.get_json()["error"] == "cross_site"
    other_origin = client.post("/api/owner/albums", json=body, headers={auth.CSRF_HEADER: csrf, "Origin": "https://evil.example"})
    assert other_origin.status_code == 403
    with app.app_context():
        assert db.session().get(db.Album, body["album_id"]) is None  # nothing refused was written

    made = client.post("/api/owner/albums", json=body, headers={auth.CSRF_HEADER: csrf, "Sec-Fetch-Site": "same-origin"})
    assert made.status_code == 201
    listed = client.get("/api/owner/albums")  # reading needs no CSRF token
    assert [a["album_id"] for a in listed.get_json()["albums"]] == [body["album_id"]]


def test_a_session_that_ended_signs_nobody_in(app, client):
    account_id = make_account(app)
    _signed_in(app, client, account_id)
    assert client.get("/api/owner/albums").status_code == 200
    with app.app_context():
        assert auth.end_sessions(account_id) == 1
        db.session().commit()
    answer = client.get("/api/owner/albums")
    assert answer.status_code == 401 and answer.get_json()["error"] == "signed_out"
    client.set_cookie(auth.COOKIE, "fs_made-up")
    assert client.get("/api/owner/albums").status_code == 401


@pytest.mark.settings(PUBLIC_URL="https://photos.example.org")
def test_the_cookie_is_secure_behind_https(app):
    account_id = make_account(app)
    with app.test_request_context("/"):
        _row, secret = auth.start_session(account_id, label="  My   laptop ")
        response = auth.set_cookie(app.response_class(), secret)
        assert "Secure" in response.headers["Set-Cookie"]
        assert db.session().scalars(select(db.AccountSession.label)).one() == "My laptop"


def test_login_keys_are_hashed_checked_and_counted(app):
    account_id = make_account(app)
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "192.0.2.7"}):
        account = db.session().get_one(db.Account, account_id)
        assert account.login_hash.startswith("$argon2id$")
        assert not accounts.verify(account.login_hash, account.login_hash.encode())  # a stolen hash is no login
        assert accounts.check_login_key(account.email, account, b"k" * 32).id == account_id
        # Unknown addresses fail the same way, and their parameters are stable but unguessable.
        assert accounts.decoy_params("nobody@example.org") == accounts.decoy_params("nobody@example.org")
        assert accounts.decoy_params("nobody@example.org").salt != accounts.decoy_params("other@example.org").salt
        for _ in range(app.config["LOGIN_FREE_ATTEMPTS_PER_CLIENT"]):
            with pytest.raises(ApiError) as wrong:
                accounts.check_login_key(account.email, account, b"x" * 32)
            assert wrong.value.status == 401 and wrong.value.message == "The e-mail address or the password is not right."
        with pytest.raises(ApiError) as waiting:
            accounts.check_login_key(account.email, account, b"k" * 32)  # even the right key waits its turn
        assert waiting.value.status == 429 and "Retry-After" in waiting.value.headers


@pytest.mark.parametrize(
    ("typed", "stored"), [(" Ada@Example.ORG ", "ada@example.org"), ("e\u0301@example.org", "\u00e9@example.org")]
)
def test_addresses_are_normalised(typed, stored):
    assert accounts.normalize_email(typed) == stored


@pytest.mark.parametrize("typed", ["", "ada", "ada@example", "a b@example.org", "@example.org", 7, "a@" + "x" * 260 + ".org"])
def test_what_is_not_an_address_is_refused(typed):
    with pytest.raises(ApiError) as refused:
        accounts.normalize_email(typed)
    assert refused.value.status == 400 and refused.value.code == "bad_email"


@pytest.mark.settings(ACCOUNT_QUOTA_BYTES=1000)
def test_quota_is_one_conditional_update(app):
    account_id = make_account(app)
    with app.app_context():
        assert accounts.take_bytes(account_id, 600)
        assert not accounts.take_bytes(account_id, 401)
        assert accounts.take_bytes(account_id, 400)
        db.session().commit()
        assert db.session().get_one(db.Account, account_id).bytes_used == 1000


def test_an_invitation_is_spent_once(app):
    first, second = make_account(app, "a@example.org"), make_account(app, "b@example.org")
    with app.app_context():
        code = accounts.new_invitation()
        db.session().commit()
        accounts.use_invitation(code, first)
        db.session().commit()
        for attempt in (code, code + "x", None):
            with pytest.raises(ApiError) as refused:
                accounts.use_invitation(attempt, second)
            assert refused.value.status == 403


def test_a_database_made_before_accounts_gains_their_columns(tmp_path):
    """Albums, links and tokens of an older database stay, and belong to no account."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = MetaData()
    added = {(table, column) for table, column, _kind in db.ACCOUNT_COLUMNS}
    # Revisions after 0002 came after migrations began: no database without alembic_version has their columns.
    added |= {(table, column) for table, column in LATER_COLUMNS if table != "accounts"}
    for table in db.Base.metadata.sorted_tables:
        if table.name in ("accounts", "account_sessions", "invitations", *LATER_TABLES):
            continue
        # Before 0006 a file id was unique across albums.
        kept = [
            Column(c.name, c.type, primary_key=c.primary_key, unique=(table.name, c.name) == ("files", "id"))
            for c in table.columns
            if (table.name, c.name) not in added
        ]
        Table(table.name, old, *kept)
    engine = create_engine(url)
    old.create_all(engine)
    with engine.begin() as connection:
        connection.execute(old.tables["albums"].insert().values(id=crypto.new_id(), meta=b"sealed", created_at=1))
    engine.dispose()

    from viewer.server import create_app

    app = create_app({"DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": url, "SECRET_KEY": "test"})
    columns = {t: {c["name"] for c in inspect(app.extensions["fragment.engine"]).get_columns(t)} for t, _c in added}
    assert all(column in columns[table] for table, column in added)
    token = app.test_cli_runner().invoke(args=["create-owner-token"]).output.strip()
    albums = app.test_client().get("/api/owner/albums", headers={"Authorization": f"Bearer {token}"}).get_json()["albums"]
    assert len(albums) == 1
    app.extensions["fragment.engine"].dispose()


def _used(app, account_id: str) -> int:
    with app.app_context():
        return db.session().get_one(db.Account, account_id).bytes_used


@pytest.mark.settings(ACCOUNT_QUOTA_BYTES=10_000)
def test_an_accounts_files_count_against_its_storage(app, client):
    """Reserving takes the bytes, a full account is told how full, and deleting or aborting gives them back once."""
    account_id = make_account(app)
    mine = Owner(client, account_token(app, account_id), master_key=crypto.random_key())
    album, key = mine.album()
    first = mine.add_file(album, key, os.urandom(4000))
    size = _used(app, account_id)
    assert 4000 < size < 5000
    mine.add_file(album, key, os.urandom(4000))
    assert _used(app, account_id) > 8000

    body, _blobs = mine.file_payload(album, key, os.urandom(4000))
    full = mine.call("POST", f"/api/owner/albums/{album}/files", json=body)
    assert full.status_code == 413 and full.get_json()["error"] == "account_full"
    assert full.get_json()["message"].startswith("Your storage is full:")
    with app.app_context():
        assert db.session().scalar(select(db.File.seq).where(db.File.id == body["file_id"])) is None  # nothing written

    assert mine.call("DELETE", f"/api/owner/albums/{album}/files/{first}").status_code == 200
    assert mine.call("DELETE", f"/api/owner/albums/{album}/files/{first}").status_code == 404  # gone: nothing twice
    left = _used(app, account_id)
    assert left == size  # the first file's bytes came back, exactly once
    pending = mine.call("POST", f"/api/owner/albums/{album}/files", json=body)
    assert pending.status_code == 201 and _used(app, account_id) == left + size
    assert mine.call("DELETE", f"/api/owner/albums/{album}/files/{body['file_id']}").status_code == 200
    assert _used(app, account_id) == left


@pytest.mark.settings(ACCOUNT_QUOTA_BYTES=10_000)
def test_a_guest_is_told_the_owner_is_out_of_space(app, client):
    account_id = make_account(app)
    mine = Owner(client, account_token(app, account_id), master_key=crypto.random_key())
    album, key = mine.album()
    mine.add_file(album, key, os.urandom(9000))
    with app.test_request_context("/"):
        limits = {"quota_files": 10, "quota_bytes": 10**9, "max_file_size": 10**9}
        link = db.Link(id=crypto.new_id(), album_id=album, verifier=b"v" * 32, **limits)
        db.session().add(link)
        db.session().commit()
        body, _blobs = mine.file_payload(album, key, os.urandom(2000))
        with pytest.raises(ApiError) as full:
            uploads.reserve(album, body, link)
        assert full.value.status == 413 and full.value.message == "The album's owner has no storage space left for this file."
        db.session().refresh(link)
        assert link.files_used == 0  # the link's quota was not taken either


def signup_body(
    email: str = "grace@example.org", password: str = "correct horse battery staple", **extra
) -> tuple[dict, crypto.NewAccount]:
    """What the owner's client sends at sign-up (docs/format.md, "Sign-up"), made with the real format functions."""
    made = crypto.new_account(password, crypto.PasswordParams.new(opslimit=2, memlimit=crypto.PW_MEMLIMIT_MIN))
    body = {
        "email": email,
        "account_id": made.account_id,
        "params": made.params.to_json(),
        "login_key": crypto.b64e(made.keys.login_key),
        "recovery_login_key": crypto.b64e(made.recovery.login_key),
        "sealed_mk": crypto.b64e(made.sealed_master_key),
        "sealed_mk_rk": crypto.b64e(made.sealed_master_key_recovery),
        "sealed_rk": crypto.b64e(made.sealed_recovery_key),
        "sealed_identity": crypto.b64e(made.sealed_identity),
        "box_pk": crypto.b64e(made.identity.box_public_key),
        "sign_pk": crypto.b64e(made.identity.sign_public_key),
        **extra,
    }
    return body, made


@pytest.mark.settings(SIGNUP="open")
def test_sign_up_sign_out_and_sign_in_again(app, client):
    body, made = signup_body()
    created = client.post("/api/account/signup", json=body)
    assert created.status_code == 201, created.get_json()
    account = created.get_json()["account"]
    assert account["email"] == "grace@example.org" and "login_hash" not in account
    # The client opens its master key from what the server gave back.
    keys = crypto.account_keys("correct horse battery staple", crypto.PasswordParams.from_json(account["params"]))
    assert crypto.open_master_key(keys.kek, crypto.b64d(account["sealed_mk"]), account["account_id"]) == made.master_key
    csrf = created.get_json()["csrf_token"]
    assert client.get("/api/account").get_json()["account"]["account_id"] == made.account_id

    again = client.post("/api/account/signup", json=signup_body()[0])
    assert again.status_code == 409 and again.get_json()["message"].startswith("An account with this e-mail address exists")
    assert client.post("/api/account/logout").status_code == 403  # no CSRF token
    assert client.post("/api/account/logout", headers={auth.CSRF_HEADER: csrf}).status_code == 200
    assert client.get("/api/account").status_code == 401

    params = client.post("/api/account/params", json={"email": " Grace@Example.org"}).get_json()["params"]
    assert params == account["params"]
    wrong = client.post(
        "/api/account/login", json={"email": "grace@example.org", "login_key": crypto.b64e(made.recovery.login_key)}
    )
    assert wrong.status_code == 401 and wrong.get_json()["message"] == "The e-mail address or the password is not right."
    with app.app_context():
        stored = db.session().get_one(db.Account, made.account_id).login_hash
    replayed = client.post(
        "/api/account/login", json={"email": "grace@example.org", "login_key": crypto.b64e(stored.encode()[:32])}
    )
    assert replayed.status_code == 401  # the stored hash is no login key
    right = client.post("/api/account/login", json={"email": "grace@example.org", "login_key": body["login_key"]})
    assert right.status_code == 200 and right.get_json()["account"]["account_id"] == made.account_id
    assert client.get("/api/account").status_code == 200


def test_sign_up_needs_an_invitation_by_default(app, client):
    body, _made = signup_body()
    refused = client.post("/api/account/signup", json=body)
    assert refused.status_code == 403 and refused.get_json()["error"] == "invitation_needed"
    bad = client.post("/api/account/signup", json={**body, "invitation": "made-up"})
    assert bad.status_code == 403 and bad.get_json()["error"] == "bad_invitation"
    with app.app_context():
        assert db.session().get(db.Account, body["account_id"]) is None  # nothing kept of a refused sign-up
        code = accounts.new_invitation()
        db.session().commit()
    assert client.post("/api/account/signup", json={**body, "invitation": code}).status_code == 201
    other, _ = signup_body("other@example.org", invitation=code)
    assert client.post("/api/account/signup", json=other).status_code == 403  # spent


def test_unknown_addresses_get_stable_parameters_and_the_same_refusal(app, client):
    first = client.post("/api/account/params", json={"email": "nobody@example.org"}).get_json()["params"]
    assert client.post("/api/account/params", json={"email": "nobody@example.org"}).get_json()["params"] == first
    crypto.PasswordParams.from_json(first)  # at the floor, like a real account's
    answer = client.post("/api/account/login", json={"email": "nobody@example.org", "login_key": crypto.b64e(b"k" * 32)})
    assert answer.status_code == 401 and answer.get_json()["message"] == "The e-mail address or the password is not right."


@pytest.mark.settings(SIGNUP="open")
def test_weak_parameters_and_bad_fields_are_refused_and_nothing_is_kept(app, client):
    body, _ = signup_body()
    weak = client.post("/api/account/signup", json={**body, "params": {**body["params"], "opslimit": 1}})
    assert weak.status_code == 400 and weak.get_json()["error"] == "weak_params"
    short = client.post("/api/account/signup", json={**body, "sealed_mk": crypto.b64e(b"x" * 40)})
    assert short.status_code == 400
    cross = client.post("/api/account/signup", json=body, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    with app.app_context():
        assert db.session().scalars(select(db.Account)).first() is None
