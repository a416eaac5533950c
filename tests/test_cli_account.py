"""The command line signed in to an account (issue 12), against gunicorn with the real crypto.

An account is made over HTTP as the browser makes one (tests/test_accounts.py's signup_body,
with an invitation from the operator's `flask accounts invite`); then the real `fragment`
signs in with its password, and what it and the server hand each other is checked by
opening it with the account's master key: albums and links made by the command line carry
the account's copies of their keys, albums and links made elsewhere are managed and shown
again by a keyring that never saw them, and albums of an owner token of no account move
into the account.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from tests.support import servers
from tests.support.media_fixtures import make_jpeg_with_orientation
from tests.support.owner_cli import Fragment, publish, split, unlock_link
from tests.test_accounts import signup_body
from viewer import crypto
from viewer.owner import links as linking

PASSWORD = "correct horse battery staple"
CSRF = "X-CSRF-Token"


def sign_up(live_server: dict, email: str) -> crypto.NewAccount:
    """A new account on the live server, made with the real crypto and an operator's invitation."""
    invitation = servers.flask_cli(live_server["data_dir"], "accounts", "invite").split()[0]
    body, made = signup_body(email, PASSWORD, invitation=invitation)
    answer = requests.post(f"{live_server['url']}/api/account/signup", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    return made


def browser_session(live_server: dict, email: str) -> tuple[requests.Session, dict]:
    """Signed in as the browser is: a cookie, and the CSRF header on every change."""
    session = requests.Session()
    url = live_server["url"]
    params = crypto.PasswordParams.from_json(session.post(f"{url}/api/account/params", json={"email": email}).json()["params"])
    keys = crypto.account_keys(PASSWORD, params)
    answer = session.post(f"{url}/api/account/login", json={"email": email, "login_key": crypto.b64e(keys.login_key)})
    assert answer.status_code == 200, answer.text
    session.headers[CSRF] = answer.json()["csrf_token"]
    return session, answer.json()["account"]


def browser_album(session: requests.Session, url: str, master_key: bytes, title: str) -> tuple[str, bytes]:
    """An album as the owner's web app makes one: title sealed under AK, AK sealed under MK."""
    album_id, album_key = crypto.new_id(), crypto.random_key()
    body = {
        "album_id": album_id,
        "meta": crypto.b64e(crypto.seal_album_meta(album_key, album_id, {"title": title})),
        "owner_key": crypto.b64e(crypto.seal_owner_album_key(master_key, album_key, album_id)),
    }
    answer = session.post(f"{url}/api/owner/albums", json=body)
    assert answer.status_code == 201, answer.text
    return album_id, album_key


def browser_link(session: requests.Session, url: str, master_key: bytes, album_id: str, album_key: bytes) -> tuple[str, bytes]:
    """A link without a password, with the account's copy of its secret."""
    link_id, secret = crypto.new_id(), crypto.random_key()
    body = {
        "link_id": link_id,
        **linking.password_fields(secret, album_key, link_id, None),
        "owner_secret": crypto.b64e(crypto.seal_owner_link_secret(master_key, secret, link_id)),
    }
    answer = session.post(f"{url}/api/owner/albums/{album_id}/links", json=body)
    assert answer.status_code == 201, answer.text
    return link_id, secret


def keyring_of(fragment: Fragment) -> dict:
    return json.loads(Path(fragment.env["FRAGMENT_KEYRING"]).read_text())


def signed_in_cli(tmp_path: Path, live_server: dict, email: str, name: str = "cli") -> Fragment:
    fragment = Fragment(tmp_path / name / "keyring.json")
    fragment("login", live_server["url"], "--email", email, "--password-stdin", input=PASSWORD + "\n")
    return fragment


def owner_get(live_server: dict, token: str, path: str) -> dict:
    answer = requests.get(f"{live_server['url']}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def photos(folder: Path, count: int, stem: str = "photo") -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        make_jpeg_with_orientation(folder / f"{stem} {i + 1}.jpg", size=(320, 240), orientation=1)
    return folder


@pytest.mark.slow
def test_login_with_a_password_and_publish_with_the_accounts_copies(live_server, tmp_path):
    made = sign_up(live_server, "ada@example.org")
    url = live_server["url"]
    fragment = Fragment(tmp_path / "cli" / "keyring.json")

    # A wrong password: the server's sentence, exit 1, no traceback, and no keyring written.
    status, output = fragment(
        "login", url, "--email", "ada@example.org", "--password-stdin", input="not the password\n", ok=False
    )
    assert status == 1
    assert "Error: The e-mail address or the password is not right." in output
    assert not Path(fragment.env["FRAGMENT_KEYRING"]).exists()

    _, output = fragment("login", url, "--email", "Ada@Example.org", "--password-stdin", input=PASSWORD + "\n")
    assert output.strip().splitlines()[-1] == f"Signed in to {url} as ada@example.org."
    entry = keyring_of(fragment)["servers"][url]
    assert entry["account"]["account_id"] == made.account_id
    assert crypto.b64d(entry["account"]["master_key"]) == made.master_key
    assert "legacy_token" not in entry
    assert PASSWORD not in Path(fragment.env["FRAGMENT_KEYRING"]).read_text()

    # The CLI's own token is listed on the account page; the sign-in's session was ended.
    session, _account = browser_session(live_server, "ada@example.org")
    tokens = session.get(f"{url}/api/account/tokens").json()["tokens"]
    assert [t["label"] for t in tokens] == [entry["account"]["token_label"]]
    assert entry["account"]["token_label"].startswith("Command line on ")
    signed_in = session.get(f"{url}/api/account/sessions").json()["sessions"]
    assert [row["label"] for row in signed_in] == ["A browser", "A browser"]  # sign-up's and this check's; not the CLI's

    link = publish(fragment, live_server, tmp_path, "Lisbon")
    _server, link_id, fragment_text = split(link)
    (album,) = owner_get(live_server, entry["owner_token"], "/api/owner/albums")["albums"]
    album_key = crypto.open_owner_album_key(made.master_key, crypto.b64d(album["owner_key"]), album["album_id"])
    assert crypto.open_album_meta(album_key, album["album_id"], crypto.b64d(album["meta"]))["title"] == "Lisbon"
    (listed,) = owner_get(live_server, entry["owner_token"], f"/api/owner/albums/{album['album_id']}/links")["links"]
    secret = crypto.open_owner_link_secret(made.master_key, crypto.b64d(listed["owner_secret"]), link_id)
    assert crypto.encode_link_secret(secret) == fragment_text
    # `links add` seals its secret too.
    second = fragment.link("links", "add", "Lisbon")
    links = owner_get(live_server, entry["owner_token"], f"/api/owner/albums/{album['album_id']}/links")["links"]
    again = next(row for row in links if row["link_id"] == split(second)[1])
    assert (
        crypto.encode_link_secret(
            crypto.open_owner_link_secret(made.master_key, crypto.b64d(again["owner_secret"]), again["link_id"])
        )
        == split(second)[2]
    )

    # A wrong password once signed in leaves the keyring as it was, byte for byte.
    before = Path(fragment.env["FRAGMENT_KEYRING"]).read_bytes()
    status, output = fragment("login", url, "--email", "ada@example.org", "--password-stdin", input="wrong\n", ok=False)
    assert status == 1 and "The e-mail address or the password is not right." in output
    assert Path(fragment.env["FRAGMENT_KEYRING"]).read_bytes() == before
    # Signing in again replaces this machine's token rather than adding one.
    fragment("login", url, "--email", "ada@example.org", "--password-stdin", input=PASSWORD + "\n")
    assert len(session.get(f"{url}/api/account/tokens").json()["tokens"]) == 1

    _, output = fragment("logout")
    label = entry["account"]["token_label"]
    assert f"Signed out locally; revoke the token '{label}' on the account page to end it on the server." in output
    assert url not in keyring_of(fragment)["servers"]
    status, output = fragment("albums", "list", "--server", url, ok=False)
    assert status == 1 and "not logged in" in output


@pytest.mark.slow
def test_an_album_made_in_the_browser_is_managed_from_a_keyring_that_never_saw_it(live_server, tmp_path):
    made = sign_up(live_server, "grace@example.org")
    url = live_server["url"]
    session, _account = browser_session(live_server, "grace@example.org")
    album_id, album_key = browser_album(session, url, made.master_key, "Made in the browser")
    link_id, secret = browser_link(session, url, made.master_key, album_id, album_key)

    fragment = signed_in_cli(tmp_path, live_server, "grace@example.org")
    _, output = fragment("albums", "list")
    assert album_id in output and "Made in the browser" in output and "key not in this keyring" not in output

    # `links list` shows the whole link again, with its #fragment, and it opens.
    _, output = fragment("links", "list", "Made in the browser")
    full = linking.link_url(url, link_id, secret)
    assert full in output
    unlocked, _headers = unlock_link(full)
    assert unlocked["album_id"] == album_id

    # A fresh keyring, signed in: rename by the title it has never seen, add files by id.
    other = signed_in_cli(tmp_path, live_server, "grace@example.org", "other")
    other("albums", "rename", "Made in the browser", "Renamed from the command line")
    other("albums", "add", album_id, photos(tmp_path / "more", 2))
    shown = session.get(f"{url}/api/owner/albums/{album_id}").json()
    assert shown["files"] == 2
    meta = crypto.open_album_meta(album_key, album_id, crypto.b64d(shown["meta"]))
    assert meta["title"] == "Renamed from the command line"
    # A link made elsewhere gets a password from a keyring that had neither it nor its album's key before.
    third = signed_in_cli(tmp_path, live_server, "grace@example.org", "third")
    _, output = third("links", "change", link_id, "--password", "a link password")
    assert "password:  yes" in output and full in output
    recipient = Fragment(tmp_path / "recipient" / "keyring.json")
    _, output = recipient("open", full, "--out", tmp_path / "opened", "--password", "a link password")
    assert sorted(p.name for p in (tmp_path / "opened").iterdir()) == ["photo 1.jpg", "photo 2.jpg"]
    # The first keyring finds it by its new title too (its cached title follows the server's).
    _, output = fragment("links", "list", "Renamed from the command line")
    assert full in output

    # And the other way round: what the command line publishes, the browser's MK opens.
    publish(other, live_server, tmp_path, "From the command line")
    albums = session.get(f"{url}/api/owner/albums").json()["albums"]
    titles = set()
    for album in albums:
        key = crypto.open_owner_album_key(made.master_key, crypto.b64d(album["owner_key"]), album["album_id"])
        titles.add(crypto.open_album_meta(key, album["album_id"], crypto.b64d(album["meta"]))["title"])
    assert titles == {"Renamed from the command line", "From the command line"}


@pytest.mark.slow
def test_account_import_moves_albums_of_an_owner_token_of_no_account(live_server, tmp_path):
    url = live_server["url"]
    legacy = servers.flask_cli(live_server["data_dir"], "create-owner-token").strip()
    fragment = Fragment(tmp_path / "cli" / "keyring.json")
    fragment("login", url, "--token-stdin", input=legacy + "\n")
    kept = publish(fragment, live_server, tmp_path, "Before accounts")
    big = publish(fragment, live_server, tmp_path, "Too big", count=2)

    made = sign_up(live_server, "linus@example.org")
    fragment("login", url, "--email", "linus@example.org", "--password-stdin", input=PASSWORD + "\n")
    entry = keyring_of(fragment)["servers"][url]
    assert entry["legacy_token"] == legacy and entry["owner_token"] != legacy
    _, output = fragment("albums", "list")  # the account has none yet; the keyring's are said to be movable
    assert "Before accounts - not in your account yet (`fragment account import` moves it)" in output

    # Room for the small album only: the big one is refused with the figures, and stays.
    # (A token of no account sees every album of no account: other tests' too.)
    before_id = unlocked_id(kept)
    small_bytes = owner_get(live_server, legacy, f"/api/owner/albums/{before_id}")["bytes"]
    servers.flask_cli(live_server["data_dir"], "accounts", "quota", "linus@example.org", str(small_bytes + 1000))
    status, output = fragment("account", "import", "--yes", ok=False)
    assert status == 1
    assert f"Moved album 'Before accounts' ({before_id}) into your account: 1 file(s)" in output
    # The import's 413 carries no figures yet (viewer/server/api_owner.py): the CLI says what it knows.
    assert re.search(r"Album 'Too big' does not fit in your account's storage \((.+ of .+ used|it needs .+ MB)\)\.", output)

    mine = owner_get(live_server, entry["owner_token"], "/api/owner/albums")["albums"]
    assert [a["album_id"] for a in mine] == [before_id]
    album_key = crypto.open_owner_album_key(made.master_key, crypto.b64d(mine[0]["owner_key"]), before_id)
    (link,) = owner_get(live_server, entry["owner_token"], f"/api/owner/albums/{before_id}/links")["links"]
    secret = crypto.open_owner_link_secret(made.master_key, crypto.b64d(link["owner_secret"]), link["link_id"])
    assert crypto.encode_link_secret(secret) == split(kept)[2]
    assert album_key  # opened: the account's copy is the album key the link wraps
    assert unlock_link(kept)[0]["album_id"] == before_id  # recipients notice nothing
    # The big album is still the old token's.
    legacy_ids = [a["album_id"] for a in owner_get(live_server, legacy, "/api/owner/albums")["albums"]]
    assert unlocked_id(big) in legacy_ids and before_id not in legacy_ids

    # A keyring that lacks the secret of a live link of an album says which, and moves nothing of it.
    ring = json.loads(Path(fragment.env["FRAGMENT_KEYRING"]).read_text())
    ring["albums"][unlocked_id(big)]["links"] = {}
    Path(fragment.env["FRAGMENT_KEYRING"]).write_text(json.dumps(ring))
    status, output = fragment("account", "import", "--yes", ok=False)
    assert status == 1
    assert f"the secret of its link {split(big)[1]} is not in this keyring" in output


def unlocked_id(link: str) -> str:
    """The album id behind a link without a password."""
    return unlock_link(link)[0]["album_id"]


def test_login_refuses_weak_parameters_and_a_bad_master_key(monkeypatch, tmp_path):
    """A server that asks for parameters below the floor, or whose sealed_mk does not open, is refused."""
    from viewer.owner import client

    weak = crypto.PasswordParams.new(opslimit=1, memlimit=crypto.PW_MEMLIMIT_MIN).to_json()
    fair = crypto.PasswordParams.new(opslimit=2, memlimit=crypto.PW_MEMLIMIT_MIN).to_json()
    answers: dict[str, dict] = {}

    def fake_json(self, method, path, body=None, **kwargs):
        return answers[path]

    monkeypatch.setattr(client.AccountClient, "json", fake_json)
    fragment = Fragment(tmp_path / "keyring.json")
    answers["/api/account/params"] = {"params": weak}
    status, output = fragment(
        "login", "http://127.0.0.1:9", "--email", "a@example.org", "--password-stdin", input="pw\n", ok=False
    )
    assert status == 1
    assert "This server asks for password parameters below the safe minimum; refusing to sign in." in output

    answers["/api/account/params"] = {"params": fair}
    account = {"account_id": crypto.new_id(), "email": "a@example.org", "sealed_mk": crypto.b64e(bytes(72))}
    answers["/api/account/login"] = {"account": account, "csrf_token": "x", "session_id": "y"}
    answers["/api/account/logout"] = {"signed_out": True}
    status, output = fragment(
        "login", "http://127.0.0.1:9", "--email", "a@example.org", "--password-stdin", input="pw\n", ok=False
    )
    assert status == 1 and "The server's answer does not open your master key: refusing." in output
    assert not (tmp_path / "keyring.json").exists()

    def locked_out(self, method, path, body=None, **kwargs):
        if path == "/api/account/login":
            raise client.ApiError(429, "too_many_attempts", "Too many wrong passwords. Try again in 15 minutes.", retry_after=900)
        return answers[path]

    monkeypatch.setattr(client.AccountClient, "json", locked_out)
    status, output = fragment(
        "login", "http://127.0.0.1:9", "--email", "a@example.org", "--password-stdin", input="pw\n", ok=False
    )
    assert status == 1 and "Error: Too many wrong attempts; try again in 15 minutes." in output


def test_a_refused_import_gives_the_servers_figures_when_it_has_them():
    from viewer.owner import account, client

    full = client.ApiError(413, "account_full", "x", {"bytes_used": 900_000, "quota_bytes": 1_000_000})
    assert (
        account.account_full(full, "Trip", 200_000)
        == "Album 'Trip' does not fit in your account's storage (0.9 MB of 1.0 MB used)."
    )
    left = client.ApiError(413, "account_full", "x", {"bytes_left": 100_000})
    assert account.account_full(left, "Trip", 200_000).endswith("(it needs 0.2 MB, 0.1 MB is left).")
