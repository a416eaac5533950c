"""Build albums, files and links through the API in-process, the way the owner's tool does.

These helpers seal and wrap with viewer/crypto.py, so the API tests exercise the
real format. Passwords use the smallest cost the server accepts (OWASP's Argon2id floor)
to keep tests quick.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import requests
from flask.testing import FlaskClient

from viewer import crypto

FAST_PW = {"opslimit": crypto.PW_OPSLIMIT_MIN, "memlimit": crypto.PW_MEMLIMIT_MIN}


def b64(data: bytes) -> str:
    return crypto.b64e(data)


@dataclass
class Owner:
    """An owner talking to a Flask test client with an owner token.

    With `master_key` (an owner of an account), albums and links carry the account's sealed copies
    of their keys, as an account's clients send them.
    """

    client: FlaskClient
    token: str
    albums: dict = field(default_factory=dict)
    master_key: bytes | None = None

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, **kwargs):
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def album(self, title: str = "Holiday") -> tuple[str, bytes]:
        album_id, ak = crypto.new_id(), crypto.random_key()
        meta = crypto.seal_album_meta(ak, album_id, {"v": 1, "title": title})
        body = {"album_id": album_id, "meta": b64(meta)}
        if self.master_key is not None:
            body["owner_key"] = b64(crypto.seal_owner_album_key(self.master_key, ak, album_id))
        response = self.call("POST", "/api/owner/albums", json=body)
        assert response.status_code == 201, response.json
        return album_id, ak

    def file_payload(self, album_id: str, ak: bytes, original: bytes, name: str = "a.jpg") -> tuple[dict, dict]:
        """The reserve body and the three encrypted blobs of a file."""
        file_id, fk = crypto.new_id(), crypto.random_key()
        blobs = {
            "thumb": crypto.encrypt_blob_bytes(fk, file_id, "thumb", b"thumb of " + name.encode()),
            "preview": crypto.encrypt_blob_bytes(fk, file_id, "preview", b"preview of " + name.encode()),
            "original": crypto.encrypt_blob_bytes(fk, file_id, "original", original),
        }
        meta = crypto.seal_file_meta(fk, album_id, file_id, {"v": 1, "name": name, "size": len(original)})
        body = {
            "file_id": file_id,
            "wrapped_key": b64(crypto.wrap_file_key(ak, fk, album_id, file_id)),
            "meta": b64(meta),
            "blobs": {kind: len(blob) for kind, blob in blobs.items()},
        }
        return body, blobs

    def add_file(self, album_id: str, ak: bytes, original: bytes, name: str = "a.jpg") -> str:
        """Reserve, send and complete one file; return its id."""
        body, blobs = self.file_payload(album_id, ak, original, name)
        base = f"/api/owner/albums/{album_id}/files"
        response = self.call("POST", base, json=body)
        assert response.status_code == 201, response.json
        for kind, blob in blobs.items():
            response = self.call("PUT", f"{base}/{body['file_id']}/blobs/{kind}", data=blob)
            assert response.status_code == 200, response.json
        response = self.call("POST", f"{base}/{body['file_id']}/complete")
        assert response.status_code == 200, response.json
        return body["file_id"]

    def link(self, album_id: str, ak: bytes, password: str | None = None, **settings) -> tuple[str, bytes]:
        """Create a link; return its id and secret."""
        link_id, secret = crypto.new_id(), os.urandom(32)
        params = crypto.PasswordParams.new(**FAST_PW) if password else None
        keys = crypto.link_keys(secret, crypto.password_factor(password, params) if password and params else b"")
        body = {
            "link_id": link_id,
            "wrapped_album_key": b64(crypto.wrap_album_key(keys.wrap_key, ak, link_id)),
            "verifier": b64(keys.verifier),
            "link_verifier": b64(keys.link_verifier),
            "password": params.to_json() if params else None,
            **settings,
        }
        if self.master_key is not None:
            body["owner_secret"] = b64(crypto.seal_owner_link_secret(self.master_key, secret, link_id))
        response = self.call("POST", f"/api/owner/albums/{album_id}/links", json=body)
        assert response.status_code == 201, response.json
        return link_id, secret


def unlock(
    client,
    link_id: str,
    secret: bytes,
    password: str | None = None,
    device: crypto.DeviceKey | None = None,
    **extra,
):
    """Run the public unlock exchange as a client does (link proof, password proof, device key); return the response.

    Each call without `device` is a new device (a fresh key), like a fresh browser.
    """
    info = client.get(f"/api/links/{link_id}").json
    factor = b""
    if password is not None:
        factor = crypto.password_factor(password, crypto.PasswordParams.from_json(info["password"]))
    keys = crypto.link_keys(secret, factor)
    challenge = client.post(f"/api/links/{link_id}/challenge")
    if challenge.status_code != 200:
        return challenge
    text = challenge.json["challenge"]
    body = unlock_body(keys, link_id, text, device or crypto.DeviceKey.new(), **extra)
    return client.post(f"/api/links/{link_id}/unlock", json=body)


def unlock_body(keys: crypto.LinkKeys, link_id: str, challenge: str, device: crypto.DeviceKey | None, **extra) -> dict:
    """The unlock request of docs/api.md for a challenge."""
    body = {
        "challenge": challenge,
        "link_proof": crypto.sign_link_proof(keys, link_id, challenge),
        "proof": crypto.sign_proof(keys, link_id, challenge),
    }
    if device is not None:
        body.update(device_key=b64(device.public_key), device_proof=device.sign(link_id, challenge))
    return {**body, **extra}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- the same against a live server (gunicorn), over HTTP ------------------------------------


def make_link(album: tuple[str, dict, str, bytes], **settings) -> tuple[str, crypto.LinkKeys]:
    """A new link (with `settings`) on a live server's album, given as (url, auth headers, album id, album key)."""
    url, auth, album_id, ak = album
    link_id, keys = crypto.new_id(), crypto.link_keys(os.urandom(32))
    body = {
        "link_id": link_id,
        "wrapped_album_key": crypto.b64e(crypto.wrap_album_key(keys.wrap_key, ak, link_id)),
        "verifier": crypto.b64e(keys.verifier),
        "link_verifier": crypto.b64e(keys.link_verifier),
        **settings,
    }
    assert requests.post(f"{url}/api/owner/albums/{album_id}/links", json=body, headers=auth).status_code == 201
    return link_id, keys


def unlock_live(url: str, link_id: str, keys: crypto.LinkKeys, device: crypto.DeviceKey | None = None) -> requests.Response:
    """One unlock on a live server; without `device`, as a new device (a fresh key)."""
    challenge = requests.post(f"{url}/api/links/{link_id}/challenge").json()["challenge"]
    body = unlock_body(keys, link_id, challenge, device or crypto.DeviceKey.new())
    return requests.post(f"{url}/api/links/{link_id}/unlock", json=body)
