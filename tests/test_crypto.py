"""Format v1 in Python: the committed vectors, and every way a blob can be broken."""

import io
import json
import re
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


def test_new_ids_never_begin_with_a_dash_so_a_command_line_takes_them():
    # One in 64 random ids would begin with '-', which `fragment pull <id>` would read as an option.
    ids = [c.new_id() for _ in range(4096)]
    assert all(c.is_id(i) and not i.startswith("-") for i in ids)
    assert len({i[0] for i in ids}) == 63


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


# --- accounts (docs/format.md, "Accounts") ------------------------------------------

ACCOUNT = VECTORS["account"]
CHEAP = c.PasswordParams(bytes(range(16)), 2, 65536)  # below the floor on purpose, as the vectors


def account_params(entry: dict) -> c.PasswordParams:
    return c.PasswordParams(c.b64d(entry["salt"], 16), entry["opslimit"], entry["memlimit"])


def test_account_vectors_from_the_documented_inputs():
    """Every derived account value, recomputed from the inputs, partly with other implementations than crypto.py's."""
    import hashlib

    argon2_low_level = pytest.importorskip("argon2.low_level")
    v, inp = ACCOUNT, ACCOUNT["inputs"]
    params = account_params(inp["password_params"])
    # The password in the file is decomposed (a + U+0308) on purpose; NFC makes it the composed "ä".
    assert "a\u0308" in inp["password"] and c.normalize_password(inp["password"]) == "an account p\u00e4ssword".encode()
    # root: the reference Argon2 library (argon2-cffi, memory in KiB), not libsodium.
    root = argon2_low_level.hash_secret_raw(
        c.normalize_password(inp["password"]),
        params.salt,
        time_cost=params.opslimit,
        memory_cost=params.memlimit // 1024,
        parallelism=1,
        hash_len=32,
        type=argon2_low_level.Type.ID,
        version=19,
    )
    assert c.b64e(root) == v["root"]

    def kdf(key: bytes, subkey_id: int, context: bytes) -> str:  # libsodium's crypto_kdf, in hashlib's BLAKE2b
        salt, person = subkey_id.to_bytes(8, "little") + bytes(8), context + bytes(8)
        return c.b64e(hashlib.blake2b(b"", digest_size=32, key=key, salt=salt, person=person).digest())

    assert (kdf(root, 1, b"fragacct"), kdf(root, 2, b"fragacct")) == (v["kek"], v["login_key"])
    keys = c.account_keys(inp["password"], params)
    assert (c.b64e(keys.kek), c.b64e(keys.login_key)) == (v["kek"], v["login_key"])
    rk = c.b64d(inp["recovery_key"], 32)
    assert (kdf(rk, 1, b"fragrcvr"), kdf(rk, 2, b"fragrcvr")) == (v["rk_kek"], v["recovery_login_key"])
    recovery = c.recovery_keys(rk)
    assert (c.b64e(recovery.kek), c.b64e(recovery.login_key)) == (v["rk_kek"], v["recovery_login_key"])
    assert c.recovery_words(rk) == v["recovery_words"] and c.recovery_key(v["recovery_words"]) == rk

    ids, seed = v["identity_keys"], c.b64d(inp["identity"], 32)
    assert (kdf(seed, 1, b"fragidty"), kdf(seed, 2, b"fragidty")) == (ids["box_seed"], ids["sign_seed"])
    identity = c.identity_keypairs(seed)
    # crypto_box_seed_keypair: sk = SHA-512(seed)[:32], pk = X25519(sk, base point).
    box_sk = hashlib.sha512(c.b64d(ids["box_seed"])).digest()[:32]
    assert c.b64e(box_sk) == ids["box_secret_key"] == c.b64e(identity.box_secret_key)
    assert c.b64e(c.sodium.crypto_scalarmult_base(box_sk)) == ids["box_public_key"] == c.b64e(identity.box_public_key)
    sign_pk, _ = c.sodium.crypto_sign_seed_keypair(c.b64d(ids["sign_seed"]))
    assert c.b64e(sign_pk) == ids["sign_public_key"] == c.b64e(identity.sign_public_key)
    digest = hashlib.blake2b(identity.box_public_key + identity.sign_public_key, digest_size=32).digest()
    assert c.b64e(digest) == ids["fingerprint_hash"]
    digits = str(int.from_bytes(digest, "big") % 10**60).zfill(60)
    assert ids["fingerprint"] == " ".join(digits[i : i + 5] for i in range(0, 60, 5)) == identity.fingerprint

    change, new_params = v["password_change"], account_params(inp["new_password_params"])
    assert c.b64e(c.password_factor(inp["new_password"], new_params)) == change["root"]
    new_keys = c.account_keys(inp["new_password"], new_params)
    assert (c.b64e(new_keys.kek), c.b64e(new_keys.login_key)) == (change["kek"], change["login_key"])


def test_account_sealed_vectors_open_to_their_inputs():
    """Each sealed account value: 72 bytes, opens under its documented key and AD, and nothing else opens it."""
    v, inp, top = ACCOUNT, ACCOUNT["inputs"], VECTORS["inputs"]
    account_id, mk = inp["account_id"], c.b64d(inp["master_key"], 32)
    kek, rk_kek = c.b64d(v["kek"]), c.b64d(v["rk_kek"])
    new_kek = c.b64d(v["password_change"]["kek"])
    opened = {
        "sealed_master_key": (c.open_master_key, kek, account_id, inp["master_key"]),
        "sealed_master_key_recovery": (c.open_master_key_recovery, rk_kek, account_id, inp["master_key"]),
        "sealed_recovery_key": (c.open_recovery_key, mk, account_id, inp["recovery_key"]),
        "sealed_identity": (c.open_identity, mk, account_id, inp["identity"]),
        "owner_album_key": (c.open_owner_album_key, mk, top["album_id"], top["album_key"]),
        "owner_link_secret": (c.open_owner_link_secret, mk, top["link_id"], top["link_secret"]),
        "new_sealed_master_key": (c.open_master_key, new_kek, account_id, inp["master_key"]),
    }
    ads = {
        "sealed_master_key": b"fragment/v1/master-key\x00",
        "sealed_master_key_recovery": b"fragment/v1/master-key-recovery\x00",
        "sealed_recovery_key": b"fragment/v1/recovery-key\x00",
        "sealed_identity": b"fragment/v1/identity\x00",
        "owner_album_key": b"fragment/v1/owner-album-key\x00",
        "owner_link_secret": b"fragment/v1/owner-link-secret\x00",
        "new_sealed_master_key": b"fragment/v1/master-key\x00",
    }
    for name, (open_, key, the_id, expected) in opened.items():
        sealed = c.b64d(v[name]["sealed"])
        assert len(sealed) == 72 and sealed[:24] == c.b64d(v[name]["nonce"]), name
        assert c.b64e(open_(key, sealed, the_id)) == expected, name
        # The documented AD, spelled out here rather than taken from crypto.py's constants.
        assert c.b64e(c.open_sealed(key, sealed, ads[name] + c.b64d(the_id))) == expected, name
        with pytest.raises(c.DecryptionError):
            open_(key, sealed, c.new_id())  # another account, album or link
        with pytest.raises(c.DecryptionError):
            open_(c.random_key(), sealed, the_id)
    # The same key and id under another label: a value cannot change roles.
    with pytest.raises(c.DecryptionError):
        c.open_master_key_recovery(kek, c.b64d(v["sealed_master_key"]["sealed"]), account_id)
    with pytest.raises(c.DecryptionError):
        c.open_identity(mk, c.b64d(v["sealed_recovery_key"]["sealed"]), account_id)
    with pytest.raises(c.DecryptionError):  # the old password does not open the new sealed_mk
        c.open_master_key(kek, c.b64d(v["new_sealed_master_key"]["sealed"]), account_id)


def test_recovery_words_match_the_bip39_reference_vectors():
    """BIP-0039's published vectors for 256-bit entropy (trezor/python-mnemonic, vectors.json, "english")."""
    reference = {
        0x00: "abandon " * 23 + "art",
        0x7F: "legal winner thank year wave sausage worth useful " * 2 + "legal winner thank year wave sausage worth title",
        0x80: "letter advice cage absurd amount doctor acoustic avoid " * 2
        + "letter advice cage absurd amount doctor acoustic bless",
        0xFF: "zoo " * 23 + "vote",
    }
    for byte, words in reference.items():
        assert c.recovery_words(bytes([byte]) * 32) == words
        assert c.recovery_key(words) == bytes([byte]) * 32


def test_recovery_words_forgive_case_and_spacing_but_not_the_list_or_the_checksum():
    words = ACCOUNT["recovery_words"].split()
    rk = c.b64d(ACCOUNT["inputs"]["recovery_key"])
    assert len(words) == 24
    assert c.recovery_key("  " + "\n ".join(w.upper() if i % 2 else w.title() for i, w in enumerate(words)) + "\t") == rk
    for bad in (" ".join(words[:23]), " ".join([*words, "abandon"]), "", None):
        with pytest.raises(c.RecoveryWordsError, match="This is not a recovery key: it has"):
            c.recovery_key(bad)  # type: ignore[arg-type]
    typo = [*words[:6], words[6][:-1] + "q", *words[7:]]
    with pytest.raises(c.RecoveryWordsError) as info:
        c.recovery_key(" ".join(typo))
    assert str(info.value) == "This is not a recovery key: word 7 is not in the list"
    swapped = [words[1], words[0], *words[2:]]
    with pytest.raises(c.RecoveryWordsError) as info:
        c.recovery_key(" ".join(swapped))
    assert str(info.value) == "The words do not match: check for a typo"
    assert isinstance(info.value, c.FormatError)
    with pytest.raises(c.FormatError):
        c.recovery_words(bytes(16))  # BIP39 allows 16 bytes; a recovery key is always 32


def test_new_account_opens_with_the_password_and_with_the_recovery_words():
    account = c.new_account("right password", CHEAP)
    aid = account.account_id
    assert c.is_id(aid) and account.params == CHEAP
    assert {len(account.master_key), len(account.recovery_key), len(account.identity.seed)} == {32}
    sealed = (account.sealed_master_key, account.sealed_master_key_recovery, account.sealed_recovery_key, account.sealed_identity)
    assert {len(s) for s in sealed} == {72}
    # Five different keys: nothing sent or stored doubles as a key that seals.
    secrets = {account.keys.kek, account.keys.login_key, account.recovery.kek, account.recovery.login_key, account.master_key}
    assert len(secrets) == 5

    keys = c.account_keys("right password", CHEAP)
    assert keys == account.keys
    mk = c.open_master_key(keys.kek, account.sealed_master_key, aid)
    assert mk == account.master_key
    seed = c.open_identity(mk, account.sealed_identity, aid)
    assert c.identity_keypairs(seed) == account.identity
    words = c.recovery_words(c.open_recovery_key(mk, account.sealed_recovery_key, aid))
    assert words == account.recovery_words
    recovery = c.recovery_keys(c.recovery_key(words))
    assert recovery == account.recovery
    assert c.open_master_key_recovery(recovery.kek, account.sealed_master_key_recovery, aid) == mk

    with pytest.raises(c.DecryptionError):
        c.open_master_key(c.account_keys("wrong password", CHEAP).kek, account.sealed_master_key, aid)
    with pytest.raises(c.DecryptionError):  # the same password with another salt is another key
        c.open_master_key(
            c.account_keys("right password", c.PasswordParams(bytes(16), 2, 65536)).kek, account.sealed_master_key, aid
        )
    with pytest.raises(c.DecryptionError):
        c.open_master_key_recovery(c.recovery_keys(c.random_key()).kek, account.sealed_master_key_recovery, aid)
    with pytest.raises(c.DecryptionError):  # the login key is not the kek
        c.open_master_key(keys.login_key, account.sealed_master_key, aid)
    other = c.new_account("right password", CHEAP)
    with pytest.raises(c.DecryptionError):  # another account's sealed_mk, even under the same password and salt
        c.open_master_key(keys.kek, other.sealed_master_key, aid)


def test_a_password_change_or_a_recovery_reseals_the_master_key_only():
    account = c.new_account("old password", CHEAP)
    aid = account.account_id
    change = c.change_password(account.master_key, aid, "new password", c.PasswordParams(bytes(16), 2, 65536))
    assert change.params.salt != account.params.salt and change.keys.login_key != account.keys.login_key
    assert (
        c.open_master_key(c.account_keys("new password", change.params).kek, change.sealed_master_key, aid) == account.master_key
    )
    with pytest.raises(c.DecryptionError):
        c.open_master_key(c.account_keys("old password", account.params).kek, change.sealed_master_key, aid)
    # Forgot the password: the words give MK, and MK gets a new password; the rest still opens with that MK.
    rk = c.recovery_key(account.recovery_words)
    mk = c.open_master_key_recovery(c.recovery_keys(rk).kek, account.sealed_master_key_recovery, aid)
    reset = c.change_password(mk, aid, "after recovery", CHEAP)
    assert c.open_master_key(c.account_keys("after recovery", CHEAP).kek, reset.sealed_master_key, aid) == account.master_key
    assert c.identity_keypairs(c.open_identity(mk, account.sealed_identity, aid)) == account.identity
    # Default parameters for a new password: a fresh salt and the link defaults, which pass the floor.
    default = c.PasswordParams.new()
    assert (default.opslimit, default.memlimit) == (3, 64 * 1024 * 1024)
    assert c.PasswordParams.from_json(default.to_json()) == default


def test_owner_copies_are_bound_to_their_album_or_link():
    mk, ak, secret, album_id, link_id = c.random_key(), c.random_key(), c.random_key(), c.new_id(), c.new_id()
    sealed_ak = c.seal_owner_album_key(mk, ak, album_id)
    sealed_secret = c.seal_owner_link_secret(mk, secret, link_id)
    assert len(sealed_ak) == len(sealed_secret) == 72
    assert c.open_owner_album_key(mk, sealed_ak, album_id) == ak
    assert c.open_owner_link_secret(mk, sealed_secret, link_id) == secret
    with pytest.raises(c.DecryptionError):
        c.open_owner_album_key(mk, sealed_ak, c.new_id())
    with pytest.raises(c.DecryptionError):
        c.open_owner_album_key(c.random_key(), sealed_ak, album_id)
    with pytest.raises(c.DecryptionError):  # a link's copy is not an album's, even with the same id bytes
        c.open_owner_album_key(mk, c.seal_owner_link_secret(mk, secret, album_id), album_id)
    with pytest.raises(c.DecryptionError):  # nor the link's wrapped AK (its own label, its own key)
        c.open_owner_link_secret(mk, c.wrap_album_key(mk, ak, link_id), link_id)
    with pytest.raises(c.FormatError):
        c.seal_owner_album_key(mk, ak[:31], album_id)
    with pytest.raises(c.FormatError):  # authentic, but not a key: refused all the same
        c.open_owner_album_key(mk, c.seal(mk, b"short", c.AD_OWNER_ALBUM_KEY + c.b64d(album_id)), album_id)


def test_fingerprints_are_twelve_groups_of_five_digits_and_change_with_either_key():
    identity = c.identity_keypairs(c.random_key())
    printed = identity.fingerprint
    assert re.fullmatch(r"\d{5}( \d{5}){11}", printed)
    other = c.identity_keypairs(c.random_key())
    assert c.fingerprint(other.box_public_key, identity.sign_public_key) != printed
    assert c.fingerprint(identity.box_public_key, other.sign_public_key) != printed
    assert c.fingerprint(identity.sign_public_key, identity.box_public_key) != printed  # order matters
    with pytest.raises(c.FormatError):
        c.fingerprint(identity.box_public_key, b"")
    with pytest.raises(c.FormatError):
        c.identity_keypairs(bytes(31))
    with pytest.raises(c.FormatError):
        c.recovery_keys(bytes(31))


# --- sharing (docs/format.md, "Sharing") ---------------------------------------------

SHARING = VECTORS["sharing"]


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def test_sharing_vectors_from_the_documented_inputs():
    """Invitation subkeys, the member's key pair and every sealed value, recomputed from the inputs and opened."""
    import hashlib

    v, inp, top = SHARING, SHARING["inputs"], VECTORS["inputs"]

    def kdf(key: bytes, subkey_id: int, context: bytes) -> str:  # libsodium's crypto_kdf, in hashlib's BLAKE2b
        salt, person = subkey_id.to_bytes(8, "little") + bytes(8), context + bytes(8)
        return c.b64e(hashlib.blake2b(b"", digest_size=32, key=key, salt=salt, person=person).digest())

    secret = c.decode_invite_secret(v["invitation"]["fragment"])
    assert c.b64e(secret) == inp["invite_secret"] and c.encode_invite_secret(secret) == v["invitation"]["fragment"]
    keys = c.invitation_keys(secret)
    assert c.b64e(keys.invite_key) == v["invitation"]["invite_key"] == kdf(secret, 1, b"fraginvt")
    assert c.b64e(keys.claim_key) == v["invitation"]["claim_key"] == kdf(secret, 2, b"fraginvt")
    assert c.b64e(hashlib.sha256(keys.claim_key).digest()) == v["invitation"]["claim_key_sha256"]
    ak, album_id = c.b64d(top["album_key"]), top["album_id"]
    nonce = c.b64d(v["invitation"]["nonce"])
    sealed = c.seal_invitation_album_key(keys.invite_key, ak, inp["invite_id"], album_id, nonce)
    assert c.b64e(sealed) == v["invitation"]["sealed"] and len(sealed) == 72
    assert c.open_invitation_album_key(keys.invite_key, sealed, inp["invite_id"], album_id) == ak
    # The AD as documented, with libsodium's AEAD called directly.
    ad = b"fragment/v1/invite-album-key\x00" + c.b64d(inp["invite_id"]) + c.b64d(album_id)
    assert c.sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[24:], ad, nonce, keys.invite_key) == ak

    mk, owner = c.b64d(inp["owner_master_key"]), inp["owner_account_id"]
    assert mk == c.b64d(ACCOUNT["inputs"]["master_key"]) and owner == ACCOUNT["inputs"]["account_id"]
    entry = v["contacts"]
    assert c.seal_contacts(mk, owner, inp["contacts"], c.b64d(entry["nonce"])) == c.b64d(entry["sealed"])
    assert c.open_contacts(mk, c.b64d(entry["sealed"]), owner) == inp["contacts"]
    plain = c.open_sealed(mk, c.b64d(entry["sealed"]), b"fragment/v1/contacts\x00" + c.b64d(owner))
    assert len(plain) == entry["padded_length"] == 256
    assert plain == entry["json"].encode() + b" " * (256 - len(entry["json"].encode()))
    assert json.loads(entry["json"]) == {"v": 1, "contacts": inp["contacts"]}

    wrap = v["owner_link_wrap_key"]
    assert wrap["wrap_key"] == VECTORS["link_keys"]["with_password"]["wrap_key"]
    wrap_key = c.b64d(wrap["wrap_key"])
    assert c.seal_owner_link_wrap_key(mk, wrap_key, top["link_id"], c.b64d(wrap["nonce"])) == c.b64d(wrap["sealed"])
    assert c.open_owner_link_wrap_key(mk, c.b64d(wrap["sealed"]), top["link_id"]) == wrap_key
    ad = b"fragment/v1/owner-link-wrap-key\x00" + c.b64d(top["link_id"])
    assert c.open_sealed(mk, c.b64d(wrap["sealed"]), ad) == wrap_key


def test_album_key_chain_vectors_open_every_older_key():
    v, inp, album_id = SHARING["album_key_chain"], SHARING["inputs"], VECTORS["inputs"]["album_id"]
    keys = {int(e): c.b64d(k) for e, k in inp["epoch_keys"].items()}
    assert keys[0] == c.b64d(VECTORS["inputs"]["album_key"])
    chain = {int(e): c.b64d(entry["sealed"]) for e, entry in v["chain"].items()}
    for e in (1, 2):
        nonce = c.b64d(v["chain"][str(e)]["nonce"])
        assert c.seal_album_key_chain(keys[e], keys[e - 1], album_id, e, nonce) == chain[e] and len(chain[e]) == 72
        ad = b"fragment/v1/album-key-chain\x00" + c.b64d(album_id) + e.to_bytes(4, "big")
        assert c.sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(chain[e][24:], ad, nonce, keys[e]) == keys[e - 1]
    assert c.album_keys(keys[2], v["current_epoch"], album_id, chain) == keys
    # A member who got AK_1 (and was then removed) opens AK_0 but not AK_2.
    assert c.album_keys(keys[1], 1, album_id, {1: chain[1]}) == {1: keys[1], 0: keys[0]}
    with pytest.raises(c.DecryptionError):
        c.open_album_key_chain(keys[1], chain[2], album_id, 2)
    assert c.album_keys(keys[0], 0, album_id, {}) == {0: keys[0]}  # never rekeyed: no chain


def test_album_key_chain_refuses_another_epoch_album_or_a_changed_entry():
    album_id, k0, k1, k2 = c.new_id(), c.random_key(), c.random_key(), c.random_key()
    chain = {1: c.seal_album_key_chain(k1, k0, album_id, 1), 2: c.seal_album_key_chain(k2, k1, album_id, 2)}
    assert c.album_keys(k2, 2, album_id, chain) == {2: k2, 1: k1, 0: k0}
    with pytest.raises(c.DecryptionError):  # swapped epochs: the AD names the epoch
        c.open_album_key_chain(k2, chain[2], album_id, 3)
    with pytest.raises(c.DecryptionError, match="epoch 1"):  # chain_2 presented as chain_1
        c.album_keys(k2, 2, album_id, {1: chain[2], 2: chain[2]})
    with pytest.raises(c.DecryptionError):
        c.open_album_key_chain(k2, chain[2], c.new_id(), 2)
    with pytest.raises(c.DecryptionError, match="epoch 2"):
        c.album_keys(k2, 2, album_id, {**chain, 2: flip(chain[2], 40)})
    with pytest.raises(c.DecryptionError):
        c.album_keys(k2, 2, album_id, {**chain, 2: chain[2][:71]})
    with pytest.raises(c.FormatError, match="no entry for epoch 1"):
        c.album_keys(k2, 2, album_id, {2: chain[2]})
    with pytest.raises(c.DecryptionError):  # another role's value under the same key: another label
        c.open_album_key_chain(k1, c.seal_owner_album_key(k1, k0, album_id), album_id, 1)
    for bad in (0, -1, 2**31, True, 1.0, "1"):
        with pytest.raises(c.FormatError):
            c.seal_album_key_chain(k1, k0, album_id, bad)  # type: ignore[arg-type]
    for bad in (-1, 2**31, False, "2"):
        with pytest.raises(c.FormatError):
            c.album_keys(k2, bad, album_id, chain)  # type: ignore[arg-type]
    assert c.seal_album_key_chain(k1, k0, album_id, 2**31 - 1) != c.seal_album_key_chain(k1, k0, album_id, 2**31 - 1)


def test_member_album_key_vector_opens_with_pynacl_and_by_hand():
    """The sealed box made once: crypto.py opens it, so do PyNaCl's high-level SealedBox and the construction
    written out (epk || crypto_box(m, nonce = BLAKE2b-192(epk || pk))); nothing else opens it."""
    import hashlib

    from nacl.public import PrivateKey, SealedBox

    v, inp, top = SHARING["member_album_key"], SHARING["inputs"], VECTORS["inputs"]
    member = c.identity_keypairs(c.b64d(inp["member_identity"]))
    assert c.b64e(member.box_public_key) == v["box_public_key"] == inp["contacts"][inp["member_account_id"]]["box_pk"]
    assert c.b64e(member.box_secret_key) == v["box_secret_key"]
    sealed, ak, album_id = c.b64d(v["sealed"]), c.b64d(top["album_key"]), top["album_id"]
    assert len(sealed) == c.MEMBER_KEY_BYTES == 125
    assert c.open_member_album_key(sealed, album_id, member.box_public_key, member.box_secret_key) == ak
    plaintext = b"fragment/v1/member-album-key\x00" + c.b64d(album_id) + ak
    assert c.b64d(v["plaintext"]) == plaintext and len(plaintext) == 77
    assert SealedBox(PrivateKey(member.box_secret_key)).decrypt(sealed) == plaintext
    epk, _ = c.sodium.crypto_box_seed_keypair(c.b64d(v["ephemeral_seed"]))
    assert sealed[:32] == epk
    nonce = hashlib.blake2b(epk + member.box_public_key, digest_size=24).digest()
    assert c.sodium.crypto_box_open(sealed[32:], nonce, epk, member.box_secret_key) == plaintext

    other = c.identity_keypairs(c.random_key())
    refusals = {
        "another album": lambda: c.open_member_album_key(sealed, c.new_id(), member.box_public_key, member.box_secret_key),
        "flipped byte": lambda: c.open_member_album_key(flip(sealed, 60), album_id, member.box_public_key, member.box_secret_key),
        "another recipient": lambda: c.open_member_album_key(sealed, album_id, other.box_public_key, other.box_secret_key),
        "truncated": lambda: c.open_member_album_key(sealed[:124], album_id, member.box_public_key, member.box_secret_key),
        "extended": lambda: c.open_member_album_key(sealed + b"\0", album_id, member.box_public_key, member.box_secret_key),
    }
    for what, attempt in refusals.items():
        with pytest.raises(c.DecryptionError):
            attempt()
        assert what


def test_member_album_key_refuses_another_label_or_album_inside_the_box():
    """A sealed box has no AD: anyone can seal anything to a public key, so the opener checks the label and album."""
    member, ak, album_id = c.identity_keypairs(c.random_key()), c.random_key(), c.new_id()
    pk, sk = member.box_public_key, member.box_secret_key
    sealed = c.seal_member_album_key(ak, album_id, pk)
    assert sealed != c.seal_member_album_key(ak, album_id, pk)  # randomised by its ephemeral key
    assert c.open_member_album_key(sealed, album_id, pk, sk) == ak
    forged = {
        "another label": b"fragment/v1/owner-album-key\x00\x00" + c.b64d(album_id) + ak,
        "no label": bytes(29) + c.b64d(album_id) + ak,
        "another album": c.MEMBER_ALBUM_KEY_LABEL + c.b64d(c.new_id()) + ak,
        "too long": c.MEMBER_ALBUM_KEY_LABEL + c.b64d(album_id) + ak + b"x",
    }
    for what, plaintext in forged.items():
        box = c.sodium.crypto_box_seal(plaintext, pk)
        with pytest.raises(c.DecryptionError):
            c.open_member_album_key(box, album_id, pk, sk)
        assert what
    with pytest.raises(c.FormatError):
        c.seal_member_album_key(ak, album_id, pk[:31])
    with pytest.raises(c.FormatError):
        c.seal_member_album_key(ak[:31], album_id, pk)
    with pytest.raises(c.FormatError):  # a low-order point would make the shared secret public
        c.seal_member_album_key(ak, album_id, bytes(32))
    with pytest.raises(c.FormatError):
        c.seal_member_album_key(ak, "not an id", pk)


def test_invitation_album_key_is_bound_to_its_invitation_and_album():
    secret, ak, invite_id, album_id = c.random_key(), c.random_key(), c.new_id(), c.new_id()
    keys = c.invitation_keys(secret)
    assert keys.invite_key != keys.claim_key
    sealed = c.seal_invitation_album_key(keys.invite_key, ak, invite_id, album_id)
    assert len(sealed) == 72 and c.open_invitation_album_key(keys.invite_key, sealed, invite_id, album_id) == ak
    for attempt in (
        lambda: c.open_invitation_album_key(keys.invite_key, sealed, c.new_id(), album_id),
        lambda: c.open_invitation_album_key(keys.invite_key, sealed, invite_id, c.new_id()),
        lambda: c.open_invitation_album_key(keys.invite_key, sealed, album_id, invite_id),  # ids swapped
        lambda: c.open_invitation_album_key(keys.claim_key, sealed, invite_id, album_id),  # what the server hashes
        lambda: c.open_invitation_album_key(keys.invite_key, flip(sealed, 30), invite_id, album_id),
        lambda: c.open_invitation_album_key(keys.invite_key, sealed[:39], invite_id, album_id),
    ):
        with pytest.raises(c.DecryptionError):
            attempt()
    with pytest.raises(c.FormatError):
        c.invitation_keys(secret[:31])
    with pytest.raises(c.FormatError):
        c.decode_invite_secret(c.b64e(secret) + "A")


def contact(identity: c.Identity, email: str = "ann@example.org") -> dict:
    return {
        "email": email,
        "box_pk": c.b64e(identity.box_public_key),
        "sign_pk": c.b64e(identity.sign_public_key),
        "first_seen": 1700000000,
        "verified": False,
    }


def test_contacts_round_trip_hide_their_size_and_refuse_another_account():
    mk, me = c.random_key(), c.new_id()
    ann, bob = c.identity_keypairs(c.random_key()), c.identity_keypairs(c.random_key())
    contacts = {c.new_id(): contact(ann), c.new_id(): {**contact(bob, "b@example.org"), "verified": True, "note": "x"}}
    sealed = c.seal_contacts(mk, me, contacts)
    assert c.open_contacts(mk, sealed, me) == contacts  # an unknown extra field is kept
    # Padded (Padmé): the size says little; one contact and none seal to the same 256 bytes of JSON.
    assert len(c.seal_contacts(mk, me, {c.new_id(): contact(ann)})) == len(c.seal_contacts(mk, me, {})) == 24 + 256 + 16
    assert len(sealed) == 24 + c.padme(len(c._dump({"v": 1, "contacts": contacts}))) + 16
    with pytest.raises(c.DecryptionError):
        c.open_contacts(mk, sealed, c.new_id())
    with pytest.raises(c.DecryptionError):
        c.open_contacts(c.random_key(), sealed, me)
    with pytest.raises(c.DecryptionError):
        c.open_contacts(mk, flip(sealed, 50), me)
    with pytest.raises(c.DecryptionError):  # the album metadata's label is not the contacts'
        c.open_contacts(mk, c.seal_album_meta(mk, me, {"contacts": {}}), me)


@pytest.mark.parametrize(
    "change",
    [
        {"box_pk": "short"},
        {"sign_pk": None},
        {"email": 5},
        {"first_seen": True},
        {"first_seen": -1},
        {"first_seen": 1.5},
        {"verified": 1},
        {"email": None},
    ],
)
def test_contacts_of_another_shape_are_refused(change):
    mk, me = c.random_key(), c.new_id()
    entry = {**contact(c.identity_keypairs(c.random_key())), **change}
    with pytest.raises(c.FormatError):
        c.seal_contacts(mk, me, {c.new_id(): entry})
    # Also when reading: an authentic value of the wrong shape (written by a buggy client) is a FormatError.
    data = c.pad_meta(c._dump({"v": 1, "contacts": {c.new_id(): entry}}))
    with pytest.raises(c.FormatError):
        c.open_contacts(mk, c.seal(mk, data, c.AD_CONTACTS + c.b64d(me)), me)


def test_contacts_keys_are_account_ids_and_trust_the_key_seen_first():
    mk, me, ann = c.random_key(), c.new_id(), c.identity_keypairs(c.random_key())
    with pytest.raises(c.FormatError):
        c.seal_contacts(mk, me, {"ann@example.org": contact(ann)})
    with pytest.raises(c.FormatError):
        c.seal_contacts(mk, me, [contact(ann)])  # type: ignore[arg-type]
    ann_id, swapped = c.new_id(), c.identity_keypairs(c.random_key())
    contacts = {ann_id: contact(ann)}
    assert c.contact_status(contacts, ann_id, ann.box_public_key, ann.sign_public_key) == "same"
    assert c.contact_status(contacts, c.new_id(), ann.box_public_key, ann.sign_public_key) == "new"
    assert c.contact_status(contacts, ann_id, swapped.box_public_key, ann.sign_public_key) == "changed"
    assert c.contact_status(contacts, ann_id, ann.box_public_key, swapped.sign_public_key) == "changed"


def test_owner_link_wrap_key_is_bound_to_its_link_and_role():
    mk, link_id, wrap_key = c.random_key(), c.new_id(), c.random_key()
    sealed = c.seal_owner_link_wrap_key(mk, wrap_key, link_id)
    assert len(sealed) == 72 and c.open_owner_link_wrap_key(mk, sealed, link_id) == wrap_key
    with pytest.raises(c.DecryptionError):
        c.open_owner_link_wrap_key(mk, sealed, c.new_id())
    with pytest.raises(c.DecryptionError):  # the owner's link secret copy: same key and id, another label
        c.open_owner_link_wrap_key(mk, c.seal_owner_link_secret(mk, wrap_key, link_id), link_id)
    with pytest.raises(c.DecryptionError):
        c.open_owner_link_secret(mk, sealed, link_id)
    with pytest.raises(c.DecryptionError):
        c.open_owner_link_wrap_key(mk, sealed[:71], link_id)
    with pytest.raises(c.FormatError):
        c.seal_owner_link_wrap_key(mk, wrap_key[:31], link_id)
    # What it is for: a new album key wrapped for a password link without the password.
    new_ak = c.random_key()
    rewrapped = c.wrap_album_key(c.open_owner_link_wrap_key(mk, sealed, link_id), new_ak, link_id)
    assert c.unwrap_album_key(wrap_key, rewrapped, link_id) == new_ak


def test_every_sharing_label_is_distinct_and_ends_with_zero():
    labels = [
        c.MEMBER_ALBUM_KEY_LABEL,
        c.AD_ALBUM_KEY_CHAIN,
        c.AD_INVITE_ALBUM_KEY,
        c.AD_CONTACTS,
        c.AD_OWNER_LINK_WRAP_KEY,
        c.AD_ALBUM_KEY,
        c.AD_FILE_KEY,
        c.AD_ALBUM_META,
        c.AD_FILE_META,
        c.AD_OWNER_ALBUM_KEY,
        c.AD_OWNER_LINK_SECRET,
        c.AD_OWNER_LINK_LABEL,
        c.AD_MASTER_KEY,
        c.AD_MASTER_KEY_RECOVERY,
        c.AD_RECOVERY_KEY,
        c.AD_IDENTITY,
    ]
    assert len(set(labels)) == len(labels)
    assert all(label.endswith(b"\x00") and label.count(b"\x00") == 1 for label in labels)
    assert len(c.MEMBER_ALBUM_KEY_LABEL) == 29 and len(c.KDF_CONTEXT_INVITE) == 8


def test_the_owners_copy_of_an_invitation_secret_opens_only_for_that_invitation_and_owner():
    from nacl.public import PrivateKey, SealedBox

    owner, other = c.identity_keypairs(bytes(range(32))), c.identity_keypairs(bytes(32))
    invite_id, secret = c.new_id(), bytes(range(100, 132))
    sealed = c.seal_owner_invite_secret(secret, invite_id, owner.box_public_key)
    assert len(sealed) == c.OWNER_INVITE_SECRET_BYTES == 128
    assert c.open_owner_invite_secret(sealed, invite_id, owner.box_public_key, owner.box_secret_key) == secret
    # Opened by PyNaCl's own SealedBox, the plaintext is the label, the id and the secret.
    plain = SealedBox(PrivateKey(owner.box_secret_key)).decrypt(sealed)
    assert plain == b"fragment/v1/owner-invite-secret\x00" + c.b64d(invite_id) + secret
    refusals = [
        (sealed, c.new_id(), owner),  # another invitation
        (sealed, invite_id, other),  # another person
        (sealed[:-1], invite_id, owner),
        (sealed[:40] + bytes([sealed[40] ^ 1]) + sealed[41:], invite_id, owner),
        (c.seal_member_album_key(secret, invite_id, owner.box_public_key) + b"\0\0\0", invite_id, owner),  # another role
    ]
    for box, the_id, who in refusals:
        with pytest.raises(c.DecryptionError):
            c.open_owner_invite_secret(box, the_id, who.box_public_key, who.box_secret_key)


# --- file drop (docs/format.md, "File drop") ------------------------------------------

DROP = VECTORS["drop"]


def test_drop_vectors_from_the_documented_inputs():
    """The drop key pair from its seed, its sealed secret and a link's sealed public key from their nonces, byte
    for byte; the dropped file key (made once) opens to the top-level file key with the drop secret."""
    v, top = DROP, VECTORS["inputs"]
    album_id, link_id, file_id = top["album_id"], top["link_id"], top["file_id"]
    epoch_key = c.b64d(v["album_key"])
    assert epoch_key == c.b64d(SHARING["inputs"]["epoch_keys"][str(v["epoch"])])
    made = c.new_drop_key(epoch_key, album_id, v["epoch"], c.b64d(v["seed"]), c.b64d(v["sealed_secret"]["nonce"]))
    assert (c.b64e(made.public_key), c.b64e(made.secret_key)) == (v["public_key"], v["secret_key"])
    assert c.b64e(made.sealed_secret) == v["sealed_secret"]["sealed"] and len(made.sealed_secret) == 72
    assert c.open_drop_secret(epoch_key, album_id, v["epoch"], made.sealed_secret) == made.secret_key
    assert c.drop_public_key(made.secret_key) == made.public_key
    wrap_key = c.link_keys(c.b64d(top["link_secret"])).wrap_key
    nonce = c.b64d(v["link_drop_key"]["nonce"])
    sealed_link = c.seal_link_drop_key(wrap_key, made.public_key, link_id, album_id, v["epoch"], nonce)
    assert c.b64e(sealed_link) == v["link_drop_key"]["sealed"]
    assert c.open_link_drop_key(wrap_key, sealed_link, link_id, album_id, v["epoch"]) == made.public_key
    sealed = c.b64d(v["drop_file_key"]["sealed"])
    assert len(sealed) == c.DROP_FILE_KEY_BYTES == 138
    fk = c.open_drop_file_key(sealed, album_id, file_id, made.public_key, made.secret_key)
    assert c.b64e(fk) == top["file_key"]
    assert c.b64d(v["drop_file_key"]["plaintext"]) == b"fragment/v1/drop-file-key\x00" + c.b64d(album_id) + c.b64d(file_id) + fk


def test_drop_values_refuse_another_place_key_or_shape():
    """What binds each drop value: another epoch, album, link or file, a flipped or cut byte, another key pair,
    a box with another label inside; a fresh seal opens, and is different each time."""
    ak, wrap_key, fk = c.random_key(), c.random_key(), c.random_key()
    album_id, link_id, file_id = c.new_id(), c.new_id(), c.new_id()
    made = c.new_drop_key(ak, album_id, 3)
    link_sealed = c.seal_link_drop_key(wrap_key, made.public_key, link_id, album_id, 3)
    sealed = c.seal_drop_file_key(fk, album_id, file_id, made.public_key)
    assert sealed != c.seal_drop_file_key(fk, album_id, file_id, made.public_key)
    assert c.open_drop_file_key(sealed, album_id, file_id, made.public_key, made.secret_key) == fk
    other = c.new_drop_key(ak, album_id, 3)
    inside = b"fragment/v1/member-album-key\x00" + c.b64d(album_id) + c.b64d(file_id) + fk
    forged = c.sodium.crypto_box_seal(inside, made.public_key)
    refusals = {
        "secret of another epoch": lambda: c.open_drop_secret(ak, album_id, 4, made.sealed_secret),
        "secret of another album": lambda: c.open_drop_secret(ak, c.new_id(), 3, made.sealed_secret),
        "secret with another key": lambda: c.open_drop_secret(c.random_key(), album_id, 3, made.sealed_secret),
        "link key of another link": lambda: c.open_link_drop_key(wrap_key, link_sealed, c.new_id(), album_id, 3),
        "link key of another epoch": lambda: c.open_link_drop_key(wrap_key, link_sealed, link_id, album_id, 2),
        "link key flipped": lambda: c.open_link_drop_key(wrap_key, flip(link_sealed, 30), link_id, album_id, 3),
        "file key of another file": lambda: c.open_drop_file_key(sealed, album_id, c.new_id(), made.public_key, made.secret_key),
        "file key of another album": lambda: c.open_drop_file_key(sealed, c.new_id(), file_id, made.public_key, made.secret_key),
        "file key flipped": lambda: c.open_drop_file_key(flip(sealed, 70), album_id, file_id, made.public_key, made.secret_key),
        "file key cut": lambda: c.open_drop_file_key(sealed[:137], album_id, file_id, made.public_key, made.secret_key),
        "another key pair": lambda: c.open_drop_file_key(sealed, album_id, file_id, other.public_key, other.secret_key),
        "public key not the secret's": lambda: c.open_drop_file_key(sealed, album_id, file_id, other.public_key, made.secret_key),
        "another label inside": lambda: c.open_drop_file_key(forged, album_id, file_id, made.public_key, made.secret_key),
    }
    for what, attempt in refusals.items():
        with pytest.raises(c.DecryptionError):
            attempt()
        assert what
    for bad in (lambda: c.new_drop_key(ak, album_id, -1), lambda: c.seal_drop_file_key(fk, album_id, file_id, b"\0" * 31)):
        with pytest.raises(c.FormatError):
            bad()


# --- comments and reactions (docs/format.md, "Comments and reactions") ----------------------


def test_note_vectors_from_the_documented_inputs():
    v = VECTORS["notes"]
    album_id = VECTORS["inputs"]["album_id"]
    member = c.identity_keypairs(bytes((0x08 + i) % 256 for i in range(32)))  # the account vectors' identity seed
    ak = c.b64d(v["album_key"])
    assert c.b64e(c.comment_key(ak)) == v["comment_key"]
    assert c.b64e(member.sign_public_key) == v["member_sign_pk"]
    assert c.b64e(c.guest_note_keys(c.b64d(v["guest_seed"]))[0]) == v["guest_pk"]
    keys = {v["member_sign_pk"]: member.sign_secret_key}
    keys[v["guest_pk"]] = c.guest_note_keys(c.b64d(v["guest_seed"]))[1]
    for name in ("comment", "edit", "reaction"):
        e = v[name]
        pk = c.b64d(e["author_pk"])
        sealed, signature = c.seal_note(
            ak, album_id, e["note_id"], v["epoch"], e["version"], pk, keys[e["author_pk"]], e["note"], c.b64d(e["nonce"])
        )
        assert (c.b64e(sealed), c.b64e(signature)) == (e["sealed"], e["signature"]), name
        opened = c.open_note(ak, album_id, e["note_id"], v["epoch"], e["version"], pk, sealed, signature)
        assert opened == {**e["note"], "v": 1}
    assert len(c.b64d(v["comment"]["sealed"])) == 24 + 256 + 16  # a short comment pads to the smallest size


def _a_note(**overrides):
    ak, album_id, note_id = c.random_key(), c.new_id(), c.new_id()
    member = c.identity_keypairs(bytes(range(32)))
    note = {"kind": "comment", "on": None, "reply_to": None, "text": "hello", "name": None, "at": 1, **overrides}
    sealed, signature = c.seal_note(ak, album_id, note_id, 3, 1, member.sign_public_key, member.sign_secret_key, note)
    return ak, album_id, note_id, member, sealed, signature


def test_a_note_moved_altered_or_reattributed_is_not_genuine():
    ak, album_id, note_id, member, sealed, signature = _a_note()
    pk = member.sign_public_key
    assert c.open_note(ak, album_id, note_id, 3, 1, pk, sealed, signature)["text"] == "hello"
    other_pk = c.guest_note_keys(bytes(32))[0]
    flipped = sealed[:30] + bytes([sealed[30] ^ 1]) + sealed[31:]
    for args in (
        (ak, album_id, note_id, 3, 1, other_pk, sealed, signature),  # another author
        (ak, c.new_id(), note_id, 3, 1, pk, sealed, signature),  # another album
        (ak, album_id, c.new_id(), 3, 1, pk, sealed, signature),  # another note
        (ak, album_id, note_id, 2, 1, pk, sealed, signature),  # another epoch
        (ak, album_id, note_id, 3, 2, pk, sealed, signature),  # another version
        (ak, album_id, note_id, 3, 1, pk, flipped, signature),  # its ciphertext
        (ak, album_id, note_id, 3, 1, pk, sealed, signature[:-1] + bytes([signature[-1] ^ 1])),  # its signature
        (ak, album_id, note_id, 3, 1, pk, sealed, signature[:63]),  # truncated
        (c.random_key(), album_id, note_id, 3, 1, pk, sealed, signature),  # signed, but not under this album key
    ):
        with pytest.raises(c.BadNote):
            c.open_note(*args)
    # Someone with the album key and their own key can write a note, but only as themselves.
    forger_pk, forger_sk = c.guest_note_keys(bytes([7]) * 32)
    note = {"kind": "comment", "on": None, "reply_to": None, "text": "hello", "name": None, "at": 1}
    forged, forged_sig = c.seal_note(ak, album_id, note_id, 3, 1, forger_pk, forger_sk, note)
    with pytest.raises(c.BadNote):
        c.open_note(ak, album_id, note_id, 3, 1, pk, forged, forged_sig)


@pytest.mark.parametrize(
    "overrides",
    [
        {"kind": "poll"},
        {"text": ""},
        {"text": "x" * 4001},
        {"text": 5},
        {"on": "not an id"},
        {"reply_to": "x"},
        {"name": ""},
        {"name": "n" * 81},
        {"at": -1},
        {"at": True},
        {"kind": "reaction", "emoji": "🦄"},
    ],
)
def test_a_malformed_note_is_refused_on_both_ends(overrides):
    with pytest.raises(c.FormatError):
        _a_note(**overrides)


def test_a_note_text_counts_code_points_not_utf16_units():
    _a_note(text="🌅" * 4000)  # 8000 UTF-16 units, 4000 characters: allowed


def test_the_server_verifies_a_notes_signature_without_the_album_key():
    ak, album_id, note_id, member, sealed, signature = _a_note()
    pk = member.sign_public_key
    assert c.verify_note_signature(album_id, note_id, 3, 1, pk, sealed, signature)
    flipped = sealed[:30] + bytes([sealed[30] ^ 1]) + sealed[31:]
    other_pk = c.guest_note_keys(bytes(32))[0]
    for args in (
        (album_id, note_id, 3, 1, other_pk, sealed, signature),  # another author
        (c.new_id(), note_id, 3, 1, pk, sealed, signature),  # another album
        (album_id, c.new_id(), 3, 1, pk, sealed, signature),  # another note
        (album_id, note_id, 2, 1, pk, sealed, signature),  # another epoch
        (album_id, note_id, 3, 2, pk, sealed, signature),  # another version
        (album_id, note_id, 3, 1, pk, flipped, signature),  # its ciphertext
        (album_id, note_id, 3, 1, pk, sealed, signature[:63]),  # truncated
        (album_id, note_id, 3, 0, pk, sealed, signature),  # no such version
        (album_id, note_id, 3, 1, pk[:31], sealed, signature),  # not a key
        ("not an id", note_id, 3, 1, pk, sealed, signature),
    ):
        assert c.verify_note_signature(*args) is False
    # What verifies on the server opens for a reader with the album key.
    assert c.open_note(ak, album_id, note_id, 3, 1, pk, sealed, signature)["text"] == "hello"


def test_a_guest_deletes_only_the_note_and_version_they_sign():
    album_id, note_id = c.new_id(), c.new_id()
    guest_pk, guest_sk = c.guest_note_keys(bytes([0x91]) * 32)
    proof = c.sign_note_delete(album_id, note_id, 2, guest_sk)
    assert len(proof) == 64
    assert c.verify_note_delete(album_id, note_id, 2, guest_pk, proof)
    # The signed message is the documented one (docs/format.md, "Comments and reactions").
    message = b"fragment/v1/note-delete\x00" + c.b64d(album_id) + c.b64d(note_id) + (2).to_bytes(4, "big")
    assert c.sodium.crypto_sign_open(proof + message, guest_pk) == message
    other_pk = c.guest_note_keys(bytes(32))[0]
    for args in (
        (album_id, note_id, 1, guest_pk, proof),  # another version
        (album_id, c.new_id(), 2, guest_pk, proof),  # another note
        (c.new_id(), note_id, 2, guest_pk, proof),  # another album
        (album_id, note_id, 2, other_pk, proof),  # another guest
        (album_id, note_id, 2, guest_pk, proof[:63]),
        (album_id, note_id, 0, guest_pk, proof),
    ):
        assert c.verify_note_delete(*args) is False
    # A note's own signature is not a deletion (another prefix).
    ak = c.random_key()
    note = {"kind": "reaction", "on": None, "emoji": c.NOTE_EMOJI[0], "name": None, "at": 1}
    _sealed, signature = c.seal_note(ak, album_id, note_id, 0, 2, guest_pk, guest_sk, note)
    assert c.verify_note_delete(album_id, note_id, 2, guest_pk, signature) is False
