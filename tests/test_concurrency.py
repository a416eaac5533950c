"""Policy counters under real concurrency: gunicorn workers and threads racing for the last slot or attempt."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import create_engine

from tests.support import gunicorn_clock, servers
from tests.support.api_helpers import make_link, unlock_body, unlock_live
from tests.support.servers import flask_cli
from viewer import crypto

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def album(live_server):
    url = live_server["url"]
    auth = {"Authorization": "Bearer " + flask_cli(live_server["data_dir"], "create-owner-token").strip()}
    album_id, ak = crypto.new_id(), crypto.random_key()
    meta = crypto.b64e(crypto.seal_album_meta(ak, album_id, {"v": 1, "title": "race"}))
    assert requests.post(f"{url}/api/owner/albums", json={"album_id": album_id, "meta": meta}, headers=auth).status_code == 201
    return url, auth, album_id, ak


def test_parallel_unlocks_never_take_more_devices_than_the_limit(album):
    url = album[0]
    link_id, keys = make_link(album, device_limit=3)
    with ThreadPoolExecutor(12) as pool:
        statuses = sorted(r.status_code for r in pool.map(lambda _: unlock_live(url, link_id, keys), range(12)))
    assert statuses == [200] * 3 + [403] * 9


def test_parallel_guest_reservations_never_pass_the_quota(album):
    url, _auth, album_id, ak = album
    link_id, keys = make_link(album, uploads=True, quota_files=2)
    token = unlock_live(url, link_id, keys).json()["access_token"]

    def reserve(_):
        file_id, fk = crypto.new_id(), crypto.random_key()
        blob = crypto.encrypt_blob_bytes(fk, file_id, "thumb", b"x")
        body = {
            "file_id": file_id,
            "wrapped_key": crypto.b64e(crypto.wrap_file_key(ak, fk, album_id, file_id)),
            "meta": crypto.b64e(crypto.seal_file_meta(fk, album_id, file_id, {"v": 1, "name": "x"})),
            "blobs": {"thumb": len(blob), "preview": len(blob), "original": len(blob)},
        }
        return requests.post(f"{url}/api/links/{link_id}/files", json=body, headers={"Authorization": f"Bearer {token}"})

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(reserve, range(10)))
    assert sorted(r.status_code for r in answers) == [201] * 2 + [413] * 8
    assert {r.json()["error"] for r in answers if r.status_code == 413} == {"quota_exceeded"}


# --- the unlock under bursts: a stopped clock, so every delay lasts the whole burst -------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def clocked(request, tmp_path_factory):
    """gunicorn on a stopped clock (tests/support/gunicorn_clock.py) behind one trusted proxy, on SQLite or PostgreSQL."""
    base = tmp_path_factory.mktemp(f"unlock-{request.param}")
    clock = gunicorn_clock.Clock(base / "clock")
    env = {"FRAGMENT_TRUST_PROXY": "1", **clock.env()}
    if request.param == "postgresql":
        pg_url = request.getfixturevalue("pg_url")
        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql("DROP DATABASE IF EXISTS unlocks")
            connection.exec_driver_sql("CREATE DATABASE unlocks")
        admin.dispose()
        env["FRAGMENT_DATABASE_URL"] = pg_url.rsplit("/", 1)[0] + "/unlocks"
    data = base / "data"
    with servers.gunicorn(data, env=env) as url:
        auth = {"Authorization": "Bearer " + flask_cli(data, "create-owner-token", env=env).strip()}
        album_id, ak = crypto.new_id(), crypto.random_key()
        meta = crypto.b64e(crypto.seal_album_meta(ak, album_id, {"v": 1, "title": "unlocks"}))
        created = requests.post(f"{url}/api/owner/albums", json={"album_id": album_id, "meta": meta}, headers=auth)
        assert created.status_code == 201
        yield {"album": (url, auth, album_id, ak), "clock": clock}


PASSWORD = crypto.PasswordParams.new(crypto.PW_OPSLIMIT_MIN, crypto.PW_MEMLIMIT_MIN)


def password_link(album, password: str = "right", **settings) -> tuple[str, bytes]:
    """A password link; its id and secret."""
    url, auth, album_id, ak = album
    link_id, secret = crypto.new_id(), os.urandom(32)
    keys = crypto.link_keys(secret, crypto.password_factor(password, PASSWORD))
    body = {
        "link_id": link_id,
        "wrapped_album_key": crypto.b64e(crypto.wrap_album_key(keys.wrap_key, ak, link_id)),
        "verifier": crypto.b64e(keys.verifier),
        "link_verifier": crypto.b64e(keys.link_verifier),
        "password": PASSWORD.to_json(),
        **settings,
    }
    assert requests.post(f"{url}/api/owner/albums/{album_id}/links", json=body, headers=auth).status_code == 201
    return link_id, secret


def prepared(url: str, link_id: str, keys: crypto.LinkKeys, count: int, device: crypto.DeviceKey | None = None) -> list[dict]:
    """`count` unlock bodies, each on its own fresh challenge (fetched one by one, before the burst)."""
    bodies = []
    for _ in range(count):
        challenge = requests.post(f"{url}/api/links/{link_id}/challenge").json()["challenge"]
        bodies.append(unlock_body(keys, link_id, challenge, device or crypto.DeviceKey.new()))
    return bodies


def burst(url: str, link_id: str, bodies: list[dict], addresses: list[str]) -> list[requests.Response]:
    """Send every body at once (a barrier releases the threads together), each from its client address."""
    start = threading.Barrier(len(bodies))

    def send(job):
        body, address = job
        start.wait()
        return requests.post(f"{url}/api/links/{link_id}/unlock", json=body, headers={"X-Forwarded-For": address}, timeout=60)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, zip(bodies, addresses, strict=True)))


def outcome(answers: list[requests.Response]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for answer in answers:
        code = answer.json()["error"] if answer.status_code != 200 else "ok"
        counts[code] = counts.get(code, 0) + 1
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) >= 1
    return counts


def test_a_burst_of_wrong_passwords_from_one_client_is_checked_exactly_free_times(clocked):
    url = clocked["album"][0]
    for round_ in range(3):
        link_id, secret = password_link(clocked["album"])
        wrong = crypto.link_keys(secret, crypto.password_factor("wrong", PASSWORD))
        answers = burst(url, link_id, prepared(url, link_id, wrong, 60), [f"198.51.100.{round_}"] * 60)
        assert outcome(answers) == {"wrong_password": 5, "too_many_attempts": 55}  # UNLOCK_FREE_ATTEMPTS_PER_CLIENT
        # Once the delay has passed, the recipient with the right password gets in.
        clocked["clock"].advance(max(int(a.headers["Retry-After"]) for a in answers if a.status_code == 429))
        right = crypto.link_keys(secret, crypto.password_factor("right", PASSWORD))
        again = burst(url, link_id, prepared(url, link_id, right, 1), [f"198.51.100.{round_}"])
        assert again[0].status_code == 200, again[0].text


def test_a_burst_from_many_clients_is_checked_exactly_the_links_free_times(clocked):
    url = clocked["album"][0]
    for round_ in range(2):
        link_id, secret = password_link(clocked["album"])
        wrong = crypto.link_keys(secret, crypto.password_factor("wrong", PASSWORD))
        addresses = [f"203.0.{round_}.{n}" for n in range(60)]
        answers = burst(url, link_id, prepared(url, link_id, wrong, 60), addresses)
        assert outcome(answers) == {"wrong_password": 30, "too_many_attempts": 30}  # UNLOCK_FREE_ATTEMPTS_PER_LINK


def test_a_burst_of_junk_proofs_locks_nothing(clocked):
    url = clocked["album"][0]
    link_id, secret = password_link(clocked["album"])
    junk = crypto.link_keys(os.urandom(32), crypto.password_factor("right", PASSWORD))  # the link id alone
    answers = burst(url, link_id, prepared(url, link_id, junk, 100), ["192.0.2.1"] * 100)
    assert outcome(answers) == {"bad_link_key": 100}
    right = crypto.link_keys(secret, crypto.password_factor("right", PASSWORD))
    assert burst(url, link_id, prepared(url, link_id, right, 1), ["192.0.2.1"])[0].status_code == 200


def test_a_challenge_and_proof_sent_many_times_at_once_unlock_once(clocked):
    url = clocked["album"][0]
    for _ in range(5):
        link_id, keys = make_link(clocked["album"])
        body = prepared(url, link_id, keys, 1)[0]
        assert outcome(burst(url, link_id, [body] * 10, ["192.0.2.2"] * 10)) == {"ok": 1, "bad_challenge": 9}


def test_one_device_key_unlocking_many_times_at_once_takes_one_slot(clocked):
    url, auth, album_id, _ak = clocked["album"]
    for _ in range(3):
        link_id, keys = make_link(clocked["album"], device_limit=1)
        device = crypto.DeviceKey.new()
        assert outcome(burst(url, link_id, prepared(url, link_id, keys, 10, device), ["192.0.2.3"] * 10)) == {"ok": 10}
        links = requests.get(f"{url}/api/owner/albums/{album_id}/links", headers=auth).json()["links"]
        assert next(link["devices_used"] for link in links if link["link_id"] == link_id) == 1
        refused = unlock_live(url, link_id, keys)
        assert refused.status_code == 403 and refused.json()["message"] == "This link can be opened on 1 device, and it is taken."
