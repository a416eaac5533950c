"""Format v1 in Python: the committed vectors, and every way a blob can be broken."""

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from viewer import crypto as c

VECTORS = json.loads((Path(__file__).parent.parent / "docs" / "vectors.json").read_text("utf-8"))
FK = bytes(range(32))
FID = c.new_id()


def test_vectors_match_the_committed_file():
    """The code reproduces docs/vectors.json byte for byte (the browser checks the same file)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_vectors", Path(__file__).parent.parent / "scripts" / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == VECTORS


def test_vectors_decrypt_with_the_documented_inputs():
    """Decrypt each vector from its inputs, independently of the generator."""
    v, inp = VECTORS, VECTORS["inputs"]
    secret = c.decode_link_secret(v["link_url_fragment"])
    keys = c.link_keys(secret)
    assert c.b64e(keys.verifier) == v["link_keys"]["no_password"]["verifier"]
    # The vectors' cost is below the floor (cheap on purpose): the factor function is called directly.
    params = inp["password_params"]
    with pytest.raises(c.WeakPasswordParams):
        c.PasswordParams.from_json(params)
    pw = c.password_factor(inp["password"], c.PasswordParams(c.b64d(params["salt"]), params["opslimit"], params["memlimit"]))
    assert c.b64e(pw) == v["pw_factor"]
    ak = c.unwrap_album_key(keys.wrap_key, c.b64d(v["wrapped_album_key"]["sealed"]), inp["link_id"])
    assert c.b64e(ak) == inp["album_key"]
    fk = c.unwrap_file_key(ak, c.b64d(v["wrapped_file_key"]["sealed"]), inp["album_id"], inp["file_id"])
    assert c.b64e(fk) == inp["file_key"]
    meta = c.open_album_meta(ak, inp["album_id"], c.b64d(v["album_meta"]["sealed"]))
    assert meta["title"] == "Summer \u2013 \u00c9t\u00e9"
    plain = c.decrypt_blob_bytes(fk, inp["file_id"], "original", c.b64d(v["blob"]["blob"]))
    assert plain == c.b64d(v["blob"]["plaintext"])
    assert c.verify_proof(keys.verifier, inp["link_id"], v["unlock_proof"]["challenge"], v["unlock_proof"]["signature"])
    assert c.decrypt_blob_bytes(fk, inp["file_id"], "thumb", c.b64d(v["empty_blob"]["blob"])) == b""


def test_link_and_device_proof_vectors():
    """The link proof (subkey 3 of the no-password master) and the device proof, from the documented inputs."""
    v, inp = VECTORS, VECTORS["inputs"]
    secret = c.decode_link_secret(v["link_url_fragment"])
    pw = c.password_factor(inp["password"], c.PasswordParams(c.b64d(inp["password_params"]["salt"]), 2, 65536))
    for name, keys in (("no_password", c.link_keys(secret)), ("with_password", c.link_keys(secret, pw))):
        assert c.b64e(keys.link_seed) == v["link_keys"][name]["link_seed"]
        assert c.b64e(keys.link_verifier) == v["link_keys"][name]["link_verifier"]
    master0 = c.sodium.crypto_generichash_blake2b_salt_personal(secret, digest_size=32)
    assert c.b64e(c.kdf(master0, 3, b"fraglink")) == v["link_keys"]["no_password"]["link_seed"]
    link_verifier = c.b64d(v["link_keys"]["no_password"]["link_verifier"])
    proof = v["link_proof"]
    assert c.b64d(proof["message"]) == b"fragment/v1/unlock-link\x00" + c.b64d(inp["link_id"]) + proof["challenge"].encode()
    assert c.verify_link_proof(link_verifier, inp["link_id"], proof["challenge"], proof["signature"])
    # A link proof is not a password proof, and the other way round (different prefixes).
    assert not c.verify_proof(link_verifier, inp["link_id"], proof["challenge"], proof["signature"])
    verifier = c.b64d(v["link_keys"]["no_password"]["verifier"])
    assert not c.verify_link_proof(verifier, inp["link_id"], proof["challenge"], v["unlock_proof"]["signature"])
    device, entry = c.DeviceKey.from_seed(bytes((0xE0 + i) % 256 for i in range(32))), v["device_proof"]
    assert c.b64e(device.seed) == entry["device_seed"] and c.b64e(device.public_key) == entry["device_key"]
    assert entry["device_id"] == c.b64e(c.sodium.crypto_generichash_blake2b_salt_personal(device.public_key, digest_size=16))
    assert len(entry["device_id"]) == 22 and c.is_id(entry["device_id"])
    assert c.b64d(entry["message"]) == b"fragment/v1/device\x00" + c.b64d(inp["link_id"]) + entry["challenge"].encode()
    assert c.verify_device_proof(device.public_key, inp["link_id"], entry["challenge"], entry["signature"])
    assert not c.verify_device_proof(c.DeviceKey.new().public_key, inp["link_id"], entry["challenge"], entry["signature"])
    assert not c.verify_device_proof(device.public_key, c.new_id(), entry["challenge"], entry["signature"])


def test_padded_and_unpadded_meta_vectors_open():
    """New metadata is padded with spaces to the Padmé length; metadata sealed before padding still opens."""
    v, inp = VECTORS, VECTORS["inputs"]
    ak, fk = c.b64d(inp["album_key"]), c.b64d(inp["file_key"])
    for name in ("album_meta", "album_meta_unpadded"):
        sealed = c.b64d(v[name]["sealed"])
        assert c.open_album_meta(ak, inp["album_id"], sealed) == {"v": 1, **v[name]["meta"]}
    padded = c.open_sealed(ak, c.b64d(v["album_meta"]["sealed"]), c.AD_ALBUM_META + c.b64d(inp["album_id"]))
    assert len(padded) == v["album_meta"]["padded_length"] == 256 and padded.endswith(b" " * 193)
    unpadded = c.open_sealed(ak, c.b64d(v["album_meta_unpadded"]["sealed"]), c.AD_ALBUM_META + c.b64d(inp["album_id"]))
    assert padded.rstrip(b" ") == unpadded
    file_meta = c.open_file_meta(fk, inp["album_id"], inp["file_id"], c.b64d(v["file_meta"]["sealed"]))
    assert file_meta == {"v": 1, **v["file_meta"]["meta"]}
    assert len(c.b64d(v["file_meta"]["sealed"])) == 24 + v["file_meta"]["padded_length"] + 16
    for length, padded_length in v["padme"]:
        assert c.padme(max(length, 256)) == padded_length


@pytest.mark.parametrize(
    "length, expected", [(1, 1), (2, 2), (256, 256), (257, 272), (300, 304), (1000, 1024), (5000, 5120), (65537, 67584)]
)
def test_padme_matches_the_paper(length, expected):
    """Padmé (Nikitin et al., PETS 2019, section 4): E = floor(log2 L), S = floor(log2 E) + 1, keep the top S bits."""
    assert c.padme(length) == expected


def test_titles_of_different_lengths_seal_to_the_same_size():
    ak, album_id = c.random_key(), c.new_id()
    short = c.seal_album_meta(ak, album_id, {"title": "A"})
    long = c.seal_album_meta(ak, album_id, {"title": "A much longer title, with a description of the trip" * 3})
    assert len(short) == len(long) == 24 + 256 + 16
    fk, file_id = c.random_key(), c.new_id()
    assert len(c.seal_file_meta(fk, album_id, file_id, {"name": "a.jpg"})) == len(
        c.seal_file_meta(fk, album_id, file_id, {"name": "a-very-long-file-name-from-a-phone-camera-0001.jpeg", "size": 123456})
    )
    assert c.open_album_meta(ak, album_id, long)["title"].startswith("A much")
    # Trailing spaces are JSON whitespace (RFC 8259 section 2): a reader takes them, and any JSON that is padded.
    sealed = c.seal(ak, b'{"title":"x","v":1}' + b" " * 300, c.AD_ALBUM_META + c.b64d(album_id))
    assert c.open_album_meta(ak, album_id, sealed) == {"title": "x", "v": 1}


def test_password_changes_every_key_and_nfc_is_applied():
    secret = bytes(32)
    params = c.PasswordParams(bytes(16), 1, 8192)  # below the floor on purpose: password_factor itself has none
    decomposed, composed = "e\u0301t\u00e9", "\u00e9t\u00e9"
    assert c.password_factor(decomposed, params) == c.password_factor(composed, params)
    a, b = c.link_keys(secret), c.link_keys(secret, c.password_factor("x", params))
    assert a.wrap_key != b.wrap_key and a.verifier != b.verifier
    assert a.link_verifier == b.link_verifier  # the link proof ignores the password


def test_wrong_password_cannot_unwrap_or_prove():
    secret, params = c.random_key(), c.PasswordParams.new(1, 8192)
    link_id, ak = c.new_id(), c.random_key()
    right = c.link_keys(secret, c.password_factor("right", params))
    wrong = c.link_keys(secret, c.password_factor("wrong", params))
    wrapped = c.wrap_album_key(right.wrap_key, ak, link_id)
    with pytest.raises(c.DecryptionError):
        c.unwrap_album_key(wrong.wrap_key, wrapped, link_id)
    sig = c.sign_proof(wrong, link_id, "chal")
    assert not c.verify_proof(right.verifier, link_id, "chal", sig)
    assert c.verify_proof(right.verifier, link_id, "chal", c.sign_proof(right, link_id, "chal"))
    # A proof for one link or challenge is worthless for another.
    assert not c.verify_proof(right.verifier, c.new_id(), "chal", c.sign_proof(right, link_id, "chal"))
    assert not c.verify_proof(right.verifier, link_id, "other", c.sign_proof(right, link_id, "chal"))
    assert not c.verify_proof(right.verifier, link_id, "chal", "not-a-signature")


def test_wrapped_keys_are_bound_to_their_ids():
    ak, fk, album, f1, f2 = c.random_key(), c.random_key(), c.new_id(), c.new_id(), c.new_id()
    wrapped = c.wrap_file_key(ak, fk, album, f1)
    assert c.unwrap_file_key(ak, wrapped, album, f1) == fk
    with pytest.raises(c.DecryptionError):
        c.unwrap_file_key(ak, wrapped, album, f2)
    with pytest.raises(c.DecryptionError):
        c.unwrap_album_key(ak, c.wrap_album_key(ak, fk, f1), f2)


@pytest.mark.parametrize("text", ["", "a", "abc=", "a+b/", "AAAA AAAA", "AB", "é", None, 5])
def test_b64d_rejects_non_canonical_input(text):
    with pytest.raises(c.FormatError):
        c.b64d(text, 2)


def test_ids_and_fragments_are_validated():
    assert c.is_id(c.new_id())
    for bad in ["", "../../etc/passwd", c.new_id() + "A", c.new_id()[:-1], "x" * 22, None]:
        assert not c.is_id(bad)
    with pytest.raises(c.FormatError):
        c.decode_link_secret("short")


def blob(data: bytes, kind="original", chunk_size=1024, fid=FID) -> bytes:
    return c.encrypt_blob_bytes(FK, fid, kind, data, chunk_size=chunk_size)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=5000), chunk_size=st.sampled_from([1024, 1500, 4096]))
def test_blob_round_trip_and_sizes(data, chunk_size):
    ct = blob(data, chunk_size=chunk_size)
    assert len(ct) == c.ciphertext_size(len(data), chunk_size)
    assert c.plaintext_size(len(ct), chunk_size) == len(data)
    assert c.decrypt_blob_bytes(FK, FID, "original", ct) == data


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=6000), bounds=st.tuples(st.integers(0, 5999), st.integers(1, 6000)))
def test_any_range_decrypts_without_earlier_chunks(data, bounds):
    start, end = sorted(bounds)
    end = min(end, len(data))
    start = min(start, end - 1)
    if start >= end:
        return
    ct = blob(data)
    span = c.chunk_span(start, end, len(ct), 1024)
    header = c.BlobHeader.parse(ct[: c.BLOB_HEADER_BYTES])
    n = c.chunk_count(len(data), 1024)
    out, stride = b"", 1024 + c.TAG_BYTES
    for i in range(span.first, span.last + 1):
        piece = ct[c.BLOB_HEADER_BYTES + i * stride : c.BLOB_HEADER_BYTES + (i + 1) * stride]
        out += c.decrypt_chunk(FK, FID, "original", header, i, piece, i == n - 1)
    assert out[span.skip : span.skip + end - start] == data[start:end]
    assert span.ct_end <= len(ct)


DATA = bytes(range(256)) * 20  # 5120 bytes: exactly five 1024-byte chunks


def test_truncated_blob_fails_at_a_chunk_boundary_and_mid_chunk():
    ct = blob(DATA + b"tail")  # six chunks, the last partial
    stride = 1024 + c.TAG_BYTES
    for cut in [c.BLOB_HEADER_BYTES + 5 * stride, len(ct) - 1, c.BLOB_HEADER_BYTES + 3, 10]:
        with pytest.raises((c.DecryptionError, c.FormatError)):
            c.decrypt_blob_bytes(FK, FID, "original", ct[:cut])


def test_exact_multiple_of_chunk_size_has_no_empty_tail_and_cannot_be_truncated():
    ct = blob(DATA)
    assert len(ct) == c.BLOB_HEADER_BYTES + 5 * (1024 + c.TAG_BYTES)
    with pytest.raises(c.DecryptionError):
        c.decrypt_blob_bytes(FK, FID, "original", ct[: c.BLOB_HEADER_BYTES + 4 * (1024 + c.TAG_BYTES)])


def test_reordered_chunks_fail():
    ct = blob(DATA + b"x")
    stride, h = 1024 + c.TAG_BYTES, c.BLOB_HEADER_BYTES
    chunks = [ct[h + i * stride : h + (i + 1) * stride] for i in range(6)]
    swapped = ct[:h] + chunks[1] + chunks[0] + b"".join(chunks[2:])
    with pytest.raises(c.DecryptionError):
        c.decrypt_blob_bytes(FK, FID, "original", swapped)


def test_chunks_cannot_move_between_blobs_kinds_or_files():
    a, b = blob(DATA), blob(DATA)
    h = c.BLOB_HEADER_BYTES
    with pytest.raises(c.DecryptionError):  # same key, same file, other blob: other prefix
        c.decrypt_blob_bytes(FK, FID, "original", a[:h] + b[h:])
    with pytest.raises(c.DecryptionError):
        c.decrypt_blob_bytes(FK, FID, "preview", a)
    with pytest.raises(c.DecryptionError):
        c.decrypt_blob_bytes(FK, c.new_id(), "original", a)


def test_flipped_bit_trailing_data_and_bad_header_fail():
    ct = bytearray(blob(DATA))
    ct[500] ^= 1
    with pytest.raises(c.DecryptionError):
        c.decrypt_blob_bytes(FK, FID, "original", bytes(ct))
    good = blob(b"hello")
    with pytest.raises(c.DecryptionError):
        c.decrypt_blob_bytes(FK, FID, "original", good + b"\x00" * 17)
    with pytest.raises(c.FormatError):
        c.decrypt_blob_bytes(FK, FID, "original", b"XXXX" + good[4:])
    with pytest.raises(c.FormatError):
        c.check_blob_shape(good[:24], c.BLOB_HEADER_BYTES + 1040 + 5)  # a last chunk shorter than its tag
    with pytest.raises(c.FormatError):
        c.check_blob_shape(good[:24], 30)
    assert c.check_blob_shape(good[:24], len(good)).chunk_size == 1024


def test_streaming_reads_the_plaintext_once():
    src = io.BytesIO(DATA * 3)
    out = b"".join(c.encrypt_blob(FK, FID, "thumb", src, chunk_size=4096))
    assert src.read() == b""
    assert c.decrypt_blob_bytes(FK, FID, "thumb", out) == DATA * 3


def test_password_params_are_bounded():
    good = c.PasswordParams.new(2, 19 * 1024 * 1024).to_json()
    assert c.PasswordParams.from_json(good).memlimit == 19922944
    changes: list[dict] = [{"opslimit": 11}, {"memlimit": 2**40}, {"salt": "AAAA"}, {"alg": "scrypt"}, {"opslimit": "x"}]
    for change in changes:
        with pytest.raises(c.FormatError):
            c.PasswordParams.from_json({**good, **change})


@pytest.mark.parametrize(
    "change", [{"opslimit": 1}, {"opslimit": 0}, {"memlimit": 19922943}, {"memlimit": 65536}, {"memlimit": 8192}]
)
def test_password_params_below_the_owasp_floor_are_refused_before_hashing(change):
    """OWASP's Argon2id minimum (t=2, 19 MiB): weaker server-sent parameters are refused, with their own error."""
    good = c.PasswordParams.new(2, 19 * 1024 * 1024).to_json()
    with pytest.raises(c.WeakPasswordParams):
        c.PasswordParams.from_json({**good, **change})
    assert "weaker than Fragment allows" in c.WEAK_PARAMS_MESSAGE
