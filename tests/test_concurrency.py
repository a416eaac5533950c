"""Policy counters under real concurrency: gunicorn workers and threads racing for the last slot."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from servers import flask_cli

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


def make_link(album, **settings) -> tuple[str, crypto.LinkKeys]:
    url, auth, album_id, ak = album
    link_id, keys = crypto.new_id(), crypto.link_keys(os.urandom(32))
    body = {
        "link_id": link_id,
        "wrapped_album_key": crypto.b64e(crypto.wrap_album_key(keys.wrap_key, ak, link_id)),
        "verifier": crypto.b64e(keys.verifier),
        **settings,
    }
    assert requests.post(f"{url}/api/owner/albums/{album_id}/links", json=body, headers=auth).status_code == 201
    return link_id, keys


def unlock(url: str, link_id: str, keys: crypto.LinkKeys) -> requests.Response:
    challenge = requests.post(f"{url}/api/links/{link_id}/challenge").json()["challenge"]
    proof = crypto.sign_proof(keys, link_id, challenge)
    return requests.post(f"{url}/api/links/{link_id}/unlock", json={"challenge": challenge, "proof": proof})


def test_parallel_unlocks_never_take_more_devices_than_the_limit(album):
    url = album[0]
    link_id, keys = make_link(album, device_limit=3)
    with ThreadPoolExecutor(12) as pool:
        statuses = sorted(r.status_code for r in pool.map(lambda _: unlock(url, link_id, keys), range(12)))
    assert statuses == [200] * 3 + [403] * 9


def test_parallel_guest_reservations_never_pass_the_quota(album):
    url, _auth, album_id, ak = album
    link_id, keys = make_link(album, uploads=True, quota_files=2)
    token = unlock(url, link_id, keys).json()["access_token"]

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
