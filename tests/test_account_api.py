"""The account API past sign-in (issue 12): password change, recovery, the recovery key again,
signed-in devices, owner tokens of an account, the account's sealed copies of album keys and
link secrets, moving an album of no account into an account, and the operator's commands.

Every client step uses the real format functions (viewer/crypto.py), so what the server hands
back is checked by opening it, as the owner's browser and command line do.
"""

from __future__ import annotations

import os

import pytest
from flask.testing import FlaskClient

from tests.support.api_helpers import Owner, unlock
from tests.test_accounts import signup_body
from viewer import crypto
from viewer.server import accounts, auth, db

pytestmark = pytest.mark.settings(SIGNUP="open")

PASSWORD = "correct horse battery staple"
FAST = {"opslimit": 2, "memlimit": crypto.PW_MEMLIMIT_MIN}


def sign_up(client: FlaskClient, email: str = "grace@example.org") -> tuple[crypto.NewAccount, str]:
    """Sign up with the real crypto; the new account and the session's CSRF token."""
    body, made = signup_body(email, PASSWORD)
    answer = client.post("/api/account/signup", json=body)
    assert answer.status_code == 201, answer.get_json()
    return made, answer.get_json()["csrf_token"]


def sign_in(client: FlaskClient, email: str, password: str) -> tuple[int, dict]:
    """Sign in as a client does: parameters, derive, send the login key."""
    params = crypto.PasswordParams.from_json(client.post("/api/account/params", json={"email": email}).get_json()["params"])
    keys = crypto.account_keys(password, params)
    answer = client.post("/api/account/login", json={"email": email, "login_key": crypto.b64e(keys.login_key)})
    return answer.status_code, answer.get_json()


def open_mk(account: dict, password: str) -> bytes:
    keys = crypto.account_keys(password, crypto.PasswordParams.from_json(account["params"]))
    return crypto.open_master_key(keys.kek, crypto.b64d(account["sealed_mk"]), account["account_id"])


def new_password_body(made: crypto.NewAccount, password: str) -> dict:
    change = crypto.change_password(made.master_key, made.account_id, password, crypto.PasswordParams.new(**FAST))
    return {
        "new_params": change.params.to_json(),
        "new_login_key": crypto.b64e(change.keys.login_key),
        "sealed_mk": crypto.b64e(change.sealed_master_key),
    }


def test_password_change_signs_out_other_devices_and_keeps_the_master_key(app):
    phone, laptop = app.test_client(), app.test_client()
    made, csrf = sign_up(phone)
    assert sign_in(laptop, "grace@example.org", PASSWORD)[0] == 200
    body = new_password_body(made, "a new password")

    wrong = phone.post(
        "/api/account/password",
        json={**body, "login_key": crypto.b64e(made.recovery.login_key)},
        headers={auth.CSRF_HEADER: csrf},
    )
    assert wrong.status_code == 401 and wrong.get_json()["message"] == "The e-mail address or the password is not right."
    no_csrf = phone.post("/api/account/password", json={**body, "login_key": crypto.b64e(made.keys.login_key)})
    assert no_csrf.status_code == 403 and no_csrf.get_json()["error"] == "csrf"
    assert sign_in(app.test_client(), "grace@example.org", PASSWORD)[0] == 200  # nothing refused changed anything

    changed = phone.post(
        "/api/account/password",
        json={**body, "login_key": crypto.b64e(made.keys.login_key)},
        headers={auth.CSRF_HEADER: csrf},
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["sessions_ended"] == 2  # the laptop and the check sign-in above
    assert open_mk(changed.get_json()["account"], "a new password") == made.master_key
    assert phone.get("/api/account").status_code == 200  # this device stays signed in
    ended = laptop.get("/api/account")
    assert ended.status_code == 401 and ended.get_json()["error"] == "signed_out"
    status, answer = sign_in(laptop, "grace@example.org", PASSWORD)
    assert status == 401 and answer["error"] == "wrong_login"
    status, answer = sign_in(laptop, "grace@example.org", "a new password")
    assert status == 200 and open_mk(answer["account"], "a new password") == made.master_key

    # The old password's proof again, now that it is stale: refused, and the new password stays.
    stale = phone.post(
        "/api/account/password",
        json={**new_password_body(made, "third"), "login_key": crypto.b64e(made.keys.login_key)},
        headers={auth.CSRF_HEADER: csrf},
    )
    assert stale.status_code == 401
    assert sign_in(app.test_client(), "grace@example.org", "a new password")[0] == 200


def test_recovery_sets_a_new_password_and_everything_stays_readable(app, client):
    made, csrf = sign_up(client)
    mine = Owner(client, "", master_key=made.master_key)
    mine.call = lambda method, path, **kw: client.open(  # type: ignore[method-assign]
        path, method=method, headers={auth.CSRF_HEADER: csrf, **kw.pop("headers", {})}, **kw
    )
    album_id, ak = mine.album("Kept through recovery")
    link_id, secret = mine.link(album_id, ak)

    stranger = app.test_client()
    words = crypto.recovery_words(made.recovery_key)
    wrong_key = crypto.recovery_keys(crypto.recovery_key(crypto.recovery_words(crypto.random_key()))).login_key
    wrong = stranger.post(
        "/api/account/recover", json={"email": "grace@example.org", "recovery_login_key": crypto.b64e(wrong_key)}
    )
    assert wrong.status_code == 401
    assert wrong.get_json()["message"] == "The e-mail address or the recovery key is not right."
    unknown = stranger.post(
        "/api/account/recover", json={"email": "nobody@example.org", "recovery_login_key": crypto.b64e(os.urandom(32))}
    )
    assert unknown.status_code == 401 and unknown.get_json()["error"] == "wrong_recovery_key"

    recovery = crypto.recovery_keys(crypto.recovery_key(words))
    step = stranger.post(
        "/api/account/recover", json={"email": "grace@example.org", "recovery_login_key": crypto.b64e(recovery.login_key)}
    )
    assert step.status_code == 200
    mk = crypto.open_master_key_recovery(recovery.kek, crypto.b64d(step.get_json()["sealed_mk_rk"]), made.account_id)
    assert mk == made.master_key
    reset = stranger.post(
        "/api/account/recover/reset",
        json={
            "email": "grace@example.org",
            "recovery_login_key": crypto.b64e(recovery.login_key),
            **new_password_body(made, "after recovery"),
        },
    )
    assert reset.status_code == 200, reset.get_json()
    assert client.get("/api/account").status_code == 401  # every other device is signed out
    assert stranger.get("/api/account").status_code == 200  # and the one that recovered is signed in

    assert sign_in(app.test_client(), "grace@example.org", PASSWORD)[0] == 401
    status, answer = sign_in(client, "grace@example.org", "after recovery")
    assert status == 200
    mk = open_mk(answer["account"], "after recovery")
    # Every album and link still opens, from the account's own copies.
    albums = client.get("/api/owner/albums").get_json()["albums"]
    assert crypto.open_owner_album_key(mk, crypto.b64d(albums[0]["owner_key"]), album_id) == ak
    links = client.get(f"/api/owner/albums/{album_id}/links").get_json()["links"]
    assert crypto.open_owner_link_secret(mk, crypto.b64d(links[0]["owner_secret"]), link_id) == secret
    assert unlock(client, link_id, secret).status_code == 200


def test_the_recovery_key_is_shown_again_only_after_the_password(app, client):
    made, csrf = sign_up(client)
    wrong = client.post(
        "/api/account/recovery-key",
        json={"login_key": crypto.b64e(os.urandom(32))},
        headers={auth.CSRF_HEADER: csrf},
    )
    assert wrong.status_code == 401 and "sealed_rk" not in wrong.get_json()
    assert client.post("/api/account/recovery-key", json={"login_key": crypto.b64e(made.keys.login_key)}).status_code == 403
    shown = client.post(
        "/api/account/recovery-key", json={"login_key": crypto.b64e(made.keys.login_key)}, headers={auth.CSRF_HEADER: csrf}
    )
    assert shown.status_code == 200
    rk = crypto.open_recovery_key(made.master_key, crypto.b64d(shown.get_json()["sealed_rk"]), made.account_id)
    assert crypto.recovery_words(rk) == made.recovery_words
    assert app.test_client().post("/api/account/recovery-key", json={"login_key": "x"}).status_code == 401


def test_signed_in_devices_are_listed_and_signed_out_one_by_one(app):
    phone, laptop = app.test_client(), app.test_client()
    _made, csrf = sign_up(phone)
    status, answer = sign_in(laptop, "grace@example.org", PASSWORD)
    assert status == 200
    laptop_csrf = answer["csrf_token"]
    listed = phone.get("/api/account/sessions").get_json()["sessions"]
    assert len(listed) == 2 and sum(row["current"] for row in listed) == 1
    other = next(row for row in listed if not row["current"])
    assert other["session_id"] == answer["session_id"] and other["label"]

    assert phone.delete(f"/api/account/sessions/{other['session_id']}").status_code == 403  # CSRF
    out = phone.delete(f"/api/account/sessions/{other['session_id']}", headers={auth.CSRF_HEADER: csrf})
    assert out.status_code == 200 and "fragment_session" not in out.headers.get("Set-Cookie", "")
    assert laptop.get("/api/account").status_code == 401
    again = phone.delete(f"/api/account/sessions/{other['session_id']}", headers={auth.CSRF_HEADER: csrf})
    assert again.status_code == 404 and again.get_json()["message"] == "This signed-in device does not exist."
    bad = phone.delete("/api/account/sessions/not-an-id", headers={auth.CSRF_HEADER: csrf})
    assert bad.status_code == 400

    # Another account's device cannot be signed out from here.
    sign_up(laptop, "ada@example.org")
    ada = laptop.get("/api/account/sessions").get_json()["sessions"][0]["session_id"]
    assert phone.delete(f"/api/account/sessions/{ada}", headers={auth.CSRF_HEADER: csrf}).status_code == 404
    assert laptop.get("/api/account").status_code == 200
    assert laptop_csrf != csrf

    me = phone.get("/api/account/sessions").get_json()["sessions"][0]["session_id"]
    out = phone.delete(f"/api/account/sessions/{me}", headers={auth.CSRF_HEADER: csrf})
    assert out.status_code == 200 and "fragment_session=;" in out.headers["Set-Cookie"]
    assert phone.get("/api/account").status_code == 401


def test_an_accounts_owner_tokens(app, client):
    made, csrf = sign_up(client)
    assert client.post("/api/account/tokens", json={"label": "backup"}).status_code == 403
    created = client.post("/api/account/tokens", json={"label": "  backup script "}, headers={auth.CSRF_HEADER: csrf})
    assert created.status_code == 201
    token, token_id = created.get_json()["token"], created.get_json()["token_id"]
    assert created.get_json()["label"] == "backup script"
    listed = client.get("/api/account/tokens").get_json()["tokens"]
    assert listed == [{"token_id": token_id, "label": "backup script", "created_at": listed[0]["created_at"]}]

    script = Owner(app.test_client(), token, master_key=made.master_key)
    album_id, _ak = script.album("From a script")
    assert [a["album_id"] for a in client.get("/api/owner/albums").get_json()["albums"]] == [album_id]
    # A token cannot make more tokens: that needs the signed-in owner.
    assert script.call("POST", "/api/account/tokens", json={}).status_code == 401

    bad = client.post("/api/account/tokens", json={"label": "x" * 81}, headers={auth.CSRF_HEADER: csrf})
    assert bad.status_code == 400
    assert client.delete("/api/account/tokens/zz", headers={auth.CSRF_HEADER: csrf}).status_code == 400
    gone = client.delete(f"/api/account/tokens/{token_id}", headers={auth.CSRF_HEADER: csrf})
    assert gone.status_code == 200
    assert script.call("GET", "/api/owner/albums").status_code == 401
    again = client.delete(f"/api/account/tokens/{token_id}", headers={auth.CSRF_HEADER: csrf})
    assert again.status_code == 404 and again.get_json()["message"] == "This token does not exist."


def test_account_albums_and_links_carry_the_accounts_copies(app, client, owner):
    made, csrf = sign_up(client)
    headers = {auth.CSRF_HEADER: csrf}
    album_id = crypto.new_id()
    body = {"album_id": album_id, "meta": crypto.b64e(os.urandom(64))}
    missing = client.post("/api/owner/albums", json=body, headers=headers)
    assert missing.status_code == 400 and missing.get_json()["message"] == "The field 'owner_key' is missing."
    # A token of no account has no master key to seal under: the field is refused, not ignored.
    legacy = owner.call("POST", "/api/owner/albums", json={**body, "owner_key": crypto.b64e(os.urandom(72))})
    assert legacy.status_code == 400
    with app.app_context():
        assert db.session().get(db.Album, album_id) is None

    mine = Owner(client, "", master_key=made.master_key)
    mine.call = lambda method, path, **kw: client.open(path, method=method, headers=headers, **kw)  # type: ignore[method-assign]
    album_id, ak = mine.album("Mine")
    link_body = {"link_id": crypto.new_id(), "wrapped_album_key": crypto.b64e(os.urandom(72))}
    link_body |= {"verifier": crypto.b64e(os.urandom(32)), "link_verifier": crypto.b64e(os.urandom(32))}
    no_copy = client.post(f"/api/owner/albums/{album_id}/links", json=link_body, headers=headers)
    assert no_copy.status_code == 400 and no_copy.get_json()["message"] == "The field 'owner_secret' is missing."
    link_id, secret = mine.link(album_id, ak)
    shown = client.get(f"/api/owner/albums/{album_id}").get_json()
    assert crypto.open_owner_album_key(made.master_key, crypto.b64d(shown["owner_key"]), album_id) == ak
    (link,) = client.get(f"/api/owner/albums/{album_id}/links").get_json()["links"]
    assert crypto.open_owner_link_secret(made.master_key, crypto.b64d(link["owner_secret"]), link_id) == secret
    assert link["owner_label"] is None and link["last_opened_at"] is None

    # A label, sealed under MK: the server keeps and returns it, and cannot read it.
    label = crypto.b64e(crypto.seal_owner_link_label(made.master_key, "Grandparents", link_id))
    changed = client.patch(f"/api/owner/links/{link_id}", json={"owner_label": label}, headers=headers)
    sealed_label = crypto.b64d(changed.get_json()["owner_label"])
    assert crypto.open_owner_link_label(made.master_key, sealed_label, link_id) == "Grandparents"
    with app.app_context():
        assert b"Grandparents" not in (db.session().get_one(db.Link, link_id).owner_label or b"")
    too_big = client.patch(f"/api/owner/links/{link_id}", json={"owner_label": crypto.b64e(os.urandom(2000))}, headers=headers)
    assert too_big.status_code == 413
    legacy_album, legacy_key = owner.album("No account")
    legacy_link, _ = owner.link(legacy_album, legacy_key)
    assert owner.call("PATCH", f"/api/owner/links/{legacy_link}", json={"owner_label": label}).status_code == 400

    # The owner sees when the link last opened the album.
    assert unlock(client, link_id, secret).status_code == 200
    (link,) = client.get(f"/api/owner/albums/{album_id}/links").get_json()["links"]
    assert link["last_opened_at"] is not None and link["owner_label"] == changed.get_json()["owner_label"]


def test_an_album_of_no_account_moves_into_an_account(app, client, owner):
    legacy_id, ak = owner.album("Made before accounts")
    owner.add_file(legacy_id, ak, os.urandom(3000))
    live_link, secret = owner.link(legacy_id, ak)
    dead_link, _ = owner.link(legacy_id, ak)
    assert owner.call("DELETE", f"/api/owner/links/{dead_link}").status_code == 200
    made, csrf = sign_up(client)
    headers = {auth.CSRF_HEADER: csrf}
    body = {
        "owner_token": owner.token,
        "owner_key": crypto.b64e(crypto.seal_owner_album_key(made.master_key, ak, legacy_id)),
        "links": {live_link: crypto.b64e(crypto.seal_owner_link_secret(made.master_key, secret, live_link))},
    }
    path = f"/api/owner/albums/{legacy_id}/import"

    for refused, status in (
        ({**body, "owner_token": "fo_made-up"}, 403),
        ({**body, "links": {}}, 400),  # every live link needs its copy
        ({**body, "owner_key": "AAAA"}, 400),
    ):
        answer = client.post(path, json=refused, headers=headers)
        assert answer.status_code == status, answer.get_json()
    assert owner.call("POST", path, json=body).status_code == 403  # a token of no account has nowhere to move it
    with app.app_context():
        assert db.session().get_one(db.Album, legacy_id).account_id is None

    moved = client.post(path, json=body, headers=headers)
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["files"] == 1
    me = client.get("/api/account").get_json()["account"]
    assert me["bytes_used"] == moved.get_json()["bytes"] > 3000
    assert owner.call("GET", f"/api/owner/albums/{legacy_id}").status_code == 404  # no longer the old token's
    assert client.post(path, json=body, headers=headers).status_code == 404  # moved once only
    assert unlock(client, live_link, secret).status_code == 200  # recipients notice nothing


@pytest.mark.settings(ACCOUNT_QUOTA_BYTES=1000)
def test_an_album_that_does_not_fit_is_not_moved(app, client, owner):
    legacy_id, ak = owner.album("Too big")
    owner.add_file(legacy_id, ak, os.urandom(3000))
    made, csrf = sign_up(client)
    body = {"owner_token": owner.token, "owner_key": crypto.b64e(crypto.seal_owner_album_key(made.master_key, ak, legacy_id))}
    answer = client.post(f"/api/owner/albums/{legacy_id}/import", json=body, headers={auth.CSRF_HEADER: csrf})
    assert answer.status_code == 413 and answer.get_json()["error"] == "account_full"
    refused = answer.get_json()
    assert refused["message"].startswith("Your storage is full: 0.0 MB of 0.0 MB used, and this album needs")
    assert refused["bytes_used"] == 0 and refused["quota_bytes"] == 1000
    with app.app_context():
        assert db.session().get_one(db.Album, legacy_id).account_id is None
        assert db.session().get_one(db.Account, made.account_id).bytes_used == 0


def test_operator_commands(app, client):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["accounts", "list"])
    assert listed.exit_code == 0 and "No accounts yet" in listed.output
    invited = runner.invoke(args=["accounts", "invite", "--count", "2"])
    assert invited.exit_code == 0
    codes = invited.stdout.split()
    assert len(codes) == 2 and codes[0] != codes[1]
    made, _csrf = sign_up(client)

    assert runner.invoke(args=["accounts", "admin", "Grace@Example.org"]).output == "grace@example.org is now an administrator.\n"
    assert client.get("/api/account").get_json()["account"]["is_admin"] is True
    quota = runner.invoke(args=["accounts", "quota", "grace@example.org", "2GB"])
    assert quota.exit_code == 0 and "may store 2.0 GB" in quota.output
    assert client.get("/api/account").get_json()["account"]["quota_bytes"] == 2 * 10**9
    bad = runner.invoke(args=["accounts", "quota", "grace@example.org", "lots"])
    assert bad.exit_code == 2 and "is not a size" in bad.output
    nobody = runner.invoke(args=["accounts", "admin", "nobody@example.org"])
    assert nobody.exit_code == 1 and "There is no account with the address nobody@example.org" in nobody.output
    listed = runner.invoke(args=["accounts", "list"])
    assert "grace@example.org\tadmin\t0 B of 2.0 GB\t0 album(s)" in listed.output
    assert runner.invoke(args=["accounts", "quota", "grace@example.org", "default"]).exit_code == 0
    with app.app_context():
        assert accounts.quota_of(db.session().get_one(db.Account, made.account_id)) == app.config["ACCOUNT_QUOTA_BYTES"]
    assert runner.invoke(args=["accounts", "admin", "grace@example.org", "--revoke"]).exit_code == 0
    assert client.get("/api/account").get_json()["account"]["is_admin"] is False


def test_the_status_says_whether_this_browser_is_signed_in_always_with_200(app):
    browser = app.test_client()
    signed_out = browser.get("/api/account/status")
    assert signed_out.status_code == 200 and signed_out.get_json() == {"signed_in": False}
    made, csrf = sign_up(browser)
    signed_in = browser.get("/api/account/status").get_json()
    # The CSRF token too, so a tab that did not sign in (a link opened from a mail) can act for the account.
    assert signed_in["signed_in"] is True and signed_in["csrf_token"] == csrf
    assert signed_in["account"]["account_id"] == made.account_id
    assert browser.post("/api/account/logout", headers={auth.CSRF_HEADER: csrf}).status_code == 200
    assert browser.get("/api/account/status").get_json() == {"signed_in": False}
    # A page of another origin gets nothing (the same check as every account route).
    assert app.test_client().get("/api/account/status", headers={"Origin": "https://evil.example"}).status_code == 403
