"""Regenerate docs/vectors.json, the test vectors both crypto halves must reproduce.

Every random input (keys, nonces, salts, prefixes) is fixed here, so the output is
deterministic; tests/test_crypto.py checks the committed file against this code.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from viewer import crypto as c  # noqa: E402


def fixed(byte: int, n: int) -> bytes:
    """n bytes counting up from byte, so vectors are easy to type."""
    return bytes((byte + i) % 256 for i in range(n))


def build() -> dict:
    """All vectors, as JSON-ready values."""
    link_id = c.b64e(fixed(0x10, 16))
    album_id = c.b64e(fixed(0x20, 16))
    file_id = c.b64e(fixed(0x30, 16))
    link_secret = fixed(0x40, 32)
    album_key = fixed(0x60, 32)
    file_key = fixed(0x80, 32)
    params = c.PasswordParams(fixed(0xA0, 16), opslimit=2, memlimit=65536)
    password = "correct horse \u00e9t\u00e9"  # NFC, non-ASCII on purpose
    pw_factor = c.password_factor(password, params)
    plain = c.link_keys(link_secret)
    withpw = c.link_keys(link_secret, pw_factor)
    challenge = "AAAAAAAAAAAAAAAAAAAAAA.1700000000.test"
    blob_plain = bytes(i % 251 for i in range(2500))
    prefix = fixed(0xC0, 16)
    return {
        "format": c.FORMAT_VERSION,
        "inputs": {
            "link_id": link_id,
            "album_id": album_id,
            "file_id": file_id,
            "link_secret": c.b64e(link_secret),
            "album_key": c.b64e(album_key),
            "file_key": c.b64e(file_key),
            "password": password,
            "password_params": params.to_json(),
        },
        "link_url_fragment": c.encode_link_secret(link_secret),
        "kdf": {
            "master": c.b64e(fixed(0, 32)),
            "subkey_id": 1,
            "context": "fraglink",
            "subkey": c.b64e(c.kdf(fixed(0, 32), 1, b"fraglink")),
        },
        "pw_factor": c.b64e(pw_factor),
        "link_keys": {
            "no_password": {"wrap_key": c.b64e(plain.wrap_key), "access_seed": c.b64e(plain.access_seed), "verifier": c.b64e(plain.verifier)},
            "with_password": {"wrap_key": c.b64e(withpw.wrap_key), "access_seed": c.b64e(withpw.access_seed), "verifier": c.b64e(withpw.verifier)},
        },
        "unlock_proof": {
            "challenge": challenge,
            "message": c.b64e(c.proof_message(link_id, challenge)),
            "signature": c.sign_proof(plain, link_id, challenge),
        },
        "wrapped_album_key": {"nonce": c.b64e(fixed(0xD0, 24)), "sealed": c.b64e(c.wrap_album_key(plain.wrap_key, album_key, link_id, fixed(0xD0, 24)))},
        "wrapped_file_key": {"nonce": c.b64e(fixed(0xD1, 24)), "sealed": c.b64e(c.wrap_file_key(album_key, file_key, album_id, file_id, fixed(0xD1, 24)))},
        "album_meta": {
            "meta": {"title": "Summer \u2013 \u00c9t\u00e9", "description": "A test album"},
            "nonce": c.b64e(fixed(0xD2, 24)),
            "sealed": c.b64e(c.seal_album_meta(album_key, album_id, {"title": "Summer \u2013 \u00c9t\u00e9", "description": "A test album"}, fixed(0xD2, 24))),
        },
        "file_meta": {
            "meta": {"name": "IMG_0001.jpg", "mime": "image/jpeg", "size": 2500},
            "nonce": c.b64e(fixed(0xD3, 24)),
            "sealed": c.b64e(c.seal_file_meta(file_key, album_id, file_id, {"name": "IMG_0001.jpg", "mime": "image/jpeg", "size": 2500}, fixed(0xD3, 24))),
        },
        "blob": {
            "kind": "original",
            "chunk_size": 1024,
            "prefix": c.b64e(prefix),
            "plaintext": c.b64e(blob_plain),
            "blob": c.b64e(c.encrypt_blob_bytes(file_key, file_id, "original", blob_plain, chunk_size=1024, prefix=prefix)),
        },
        "empty_blob": {
            "kind": "thumb",
            "chunk_size": 65536,
            "prefix": c.b64e(prefix),
            "blob": c.b64e(c.encrypt_blob_bytes(file_key, file_id, "thumb", b"", prefix=prefix)),
        },
    }


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "docs" / "vectors.json"
    out.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
