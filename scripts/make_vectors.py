"""Regenerate docs/vectors.json, the test vectors both crypto halves must reproduce.

Every random input (keys, nonces, salts, prefixes) is fixed here, so the output is
deterministic; tests/test_crypto.py checks the committed file against this code.
"""

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from viewer import crypto as c


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
    device = c.DeviceKey.from_seed(fixed(0xE0, 32))
    album_meta = {"title": "Summer \u2013 \u00c9t\u00e9", "description": "A test album"}
    file_meta = {"name": "IMG_0001.jpg", "mime": "image/jpeg", "size": 2500}
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
            name: {
                "wrap_key": c.b64e(keys.wrap_key),
                "access_seed": c.b64e(keys.access_seed),
                "verifier": c.b64e(keys.verifier),
                # From the link secret alone: the same with and without the password.
                "link_seed": c.b64e(keys.link_seed),
                "link_verifier": c.b64e(keys.link_verifier),
            }
            for name, keys in (("no_password", plain), ("with_password", withpw))
        },
        "unlock_proof": {
            "challenge": challenge,
            "message": c.b64e(c.proof_message(link_id, challenge)),
            "signature": c.sign_proof(plain, link_id, challenge),
        },
        "link_proof": {
            "challenge": challenge,
            "message": c.b64e(c.link_message(link_id, challenge)),
            "signature": c.sign_link_proof(plain, link_id, challenge),
        },
        "device_proof": {
            "device_seed": c.b64e(device.seed),
            "device_key": c.b64e(device.public_key),
            "device_id": device.device_id,
            "challenge": challenge,
            "message": c.b64e(c.device_message(link_id, challenge)),
            "signature": device.sign(link_id, challenge),
        },
        "padme": [[n, c.padme(max(n, c.META_PAD_MIN))] for n in (0, 59, 256, 257, 300, 1000, 1025, 5000, 65536)],
        "wrapped_album_key": {
            "nonce": c.b64e(fixed(0xD0, 24)),
            "sealed": c.b64e(c.wrap_album_key(plain.wrap_key, album_key, link_id, fixed(0xD0, 24))),
        },
        "wrapped_file_key": {
            "nonce": c.b64e(fixed(0xD1, 24)),
            "sealed": c.b64e(c.wrap_file_key(album_key, file_key, album_id, file_id, fixed(0xD1, 24))),
        },
        "album_meta": {
            "meta": album_meta,
            "nonce": c.b64e(fixed(0xD2, 24)),
            "padded_length": len(c.pad_meta(c._dump({"v": c.FORMAT_VERSION, **album_meta}))),
            "sealed": c.b64e(c.seal_album_meta(album_key, album_id, album_meta, fixed(0xD2, 24))),
        },
        # Written before padding: readers must still open it (same nonce, the JSON without spaces).
        "album_meta_unpadded": {
            "meta": album_meta,
            "nonce": c.b64e(fixed(0xD2, 24)),
            "sealed": c.b64e(
                c.seal(
                    album_key, c._dump({"v": c.FORMAT_VERSION, **album_meta}), c.AD_ALBUM_META + fixed(0x20, 16), fixed(0xD2, 24)
                )
            ),
        },
        "file_meta": {
            "meta": file_meta,
            "nonce": c.b64e(fixed(0xD3, 24)),
            "padded_length": len(c.pad_meta(c._dump({"v": c.FORMAT_VERSION, **file_meta}))),
            "sealed": c.b64e(c.seal_file_meta(file_key, album_id, file_id, file_meta, fixed(0xD3, 24))),
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
        # Added last, so regenerating shows only additions to the file.
        "account": account(album_id, album_key, link_id, link_secret),
        "sharing": sharing(album_id, album_key, link_id, withpw.wrap_key),
        "drop": drop(album_id, album_key, link_id, plain.wrap_key, file_id, file_key),
        "notes": notes(album_id, file_id),
    }


def account(album_id: str, album_key: bytes, link_id: str, link_secret: bytes) -> dict:
    """docs/format.md, "Accounts": a sign-up, a password change and the owner's copies of a key and a secret."""
    account_id = c.b64e(fixed(0x50, 16))
    password = "an account pa\u0308ssword"  # decomposed on purpose: NFC makes it "p\u00e4ssword"
    params = c.PasswordParams(fixed(0xB0, 16), opslimit=2, memlimit=65536)  # cheap, for tests only
    new_password = "a new password"
    new_params = c.PasswordParams(fixed(0xB8, 16), opslimit=2, memlimit=65536)
    master_key, rk, seed = fixed(0xF0, 32), fixed(0x90, 32), fixed(0x08, 32)
    keys, recovery = c.account_keys(password, params), c.recovery_keys(rk)
    new_keys = c.account_keys(new_password, new_params)
    identity = c.identity_keypairs(seed)
    nonces = {name: fixed(0xD4 + i, 24) for i, name in enumerate(SEALED_ACCOUNT_VALUES)}
    sealed = {
        "sealed_master_key": c.seal_master_key(keys.kek, master_key, account_id, nonces["sealed_master_key"]),
        "sealed_master_key_recovery": c.seal_master_key_recovery(
            recovery.kek, master_key, account_id, nonces["sealed_master_key_recovery"]
        ),
        "sealed_recovery_key": c.seal_recovery_key(master_key, rk, account_id, nonces["sealed_recovery_key"]),
        "sealed_identity": c.seal_identity(master_key, seed, account_id, nonces["sealed_identity"]),
        "owner_album_key": c.seal_owner_album_key(master_key, album_key, album_id, nonces["owner_album_key"]),
        "owner_link_secret": c.seal_owner_link_secret(master_key, link_secret, link_id, nonces["owner_link_secret"]),
        "new_sealed_master_key": c.seal_master_key(new_keys.kek, master_key, account_id, nonces["new_sealed_master_key"]),
    }
    return {
        "inputs": {
            "account_id": account_id,
            "password": password,
            "password_params": params.to_json(),
            "master_key": c.b64e(master_key),
            "recovery_key": c.b64e(rk),
            "identity": c.b64e(seed),
            "new_password": new_password,
            "new_password_params": new_params.to_json(),
            # The owner's copies seal the top-level inputs' album key (for album_id) and link secret (for link_id).
        },
        "root": c.b64e(c.password_factor(password, params)),
        "kek": c.b64e(keys.kek),
        "login_key": c.b64e(keys.login_key),
        "recovery_words": c.recovery_words(rk),
        "rk_kek": c.b64e(recovery.kek),
        "recovery_login_key": c.b64e(recovery.login_key),
        "identity_keys": {
            "box_seed": c.b64e(c.kdf(seed, c.SUBKEY_BOX, c.KDF_CONTEXT_IDENTITY)),
            "box_public_key": c.b64e(identity.box_public_key),
            "box_secret_key": c.b64e(identity.box_secret_key),
            "sign_seed": c.b64e(c.kdf(seed, c.SUBKEY_SIGN, c.KDF_CONTEXT_IDENTITY)),
            "sign_public_key": c.b64e(identity.sign_public_key),
            "fingerprint_hash": c.b64e(c.fingerprint_hash(identity.box_public_key, identity.sign_public_key)),
            "fingerprint": identity.fingerprint,
        },
        "password_change": {
            "root": c.b64e(c.password_factor(new_password, new_params)),
            "kek": c.b64e(new_keys.kek),
            "login_key": c.b64e(new_keys.login_key),
        },
        **{name: {"nonce": c.b64e(nonces[name]), "sealed": c.b64e(value)} for name, value in sealed.items()},
    }


# Each sealed account value and its fixed nonce, fixed(0xD4 + i, 24) in this order.
SEALED_ACCOUNT_VALUES = (
    "sealed_master_key",
    "sealed_master_key_recovery",
    "sealed_recovery_key",
    "sealed_identity",
    "owner_album_key",
    "owner_link_secret",
    "new_sealed_master_key",
)


def sealed_box_with_ephemeral_seed(message: bytes, public_key: bytes, ephemeral_seed: bytes) -> bytes:
    """crypto_box_seal with a fixed ephemeral key pair, so the vector is the same each time it is made.

    libsodium's sealed box is epk || crypto_box_easy(m, nonce = BLAKE2b-192(epk || pk), pk, esk) with a
    fresh random key pair (libsodium docs, "Sealed boxes"; src/libsodium/crypto_box/crypto_box_seal.c);
    only the key pair is fixed here. crypto.py has no such function: a real one must be random.
    """
    epk, esk = c.sodium.crypto_box_seed_keypair(ephemeral_seed)
    nonce = c.sodium.crypto_generichash_blake2b_salt_personal(epk + public_key, digest_size=24)
    return epk + c.sodium.crypto_box(message, nonce, public_key, esk)


def sharing(album_id: str, album_key: bytes, link_id: str, wrap_key: bytes) -> dict:
    """docs/format.md, "Sharing": a member's key, a key chain, an invitation, contacts, an owner's link wrap key.

    The account entry's MK and account id are the owner's; the top-level album is the shared one.
    """
    owner_id, master_key = c.b64e(fixed(0x50, 16)), fixed(0xF0, 32)  # as in account()
    member_id, member_seed, ephemeral_seed = c.b64e(fixed(0x58, 16)), fixed(0x28, 32), fixed(0xE8, 32)
    member = c.identity_keypairs(member_seed)
    member_sealed = sealed_box_with_ephemeral_seed(
        c.MEMBER_ALBUM_KEY_LABEL + c.b64d(album_id) + album_key, member.box_public_key, ephemeral_seed
    )
    assert c.open_member_album_key(member_sealed, album_id, member.box_public_key, member.box_secret_key) == album_key
    # Epoch 0 is the top-level album key; two rekeys (members removed) made epochs 1 and 2.
    epoch_keys = {0: album_key, 1: fixed(0x68, 32), 2: fixed(0x70, 32)}
    nonces = {name: fixed(0xDB + i, 24) for i, name in enumerate(SEALED_SHARING_VALUES)}
    chain = {
        str(e): {
            "nonce": c.b64e(nonces[f"chain_{e}"]),
            "sealed": c.b64e(c.seal_album_key_chain(epoch_keys[e], epoch_keys[e - 1], album_id, e, nonces[f"chain_{e}"])),
        }
        for e in (1, 2)
    }
    invite_id, invite_secret = c.b64e(fixed(0x38, 16)), fixed(0x88, 32)
    invite = c.invitation_keys(invite_secret)
    contacts = {
        member_id: {
            "email": "zo\u00eb@example.org",  # non-ASCII on purpose
            "box_pk": c.b64e(member.box_public_key),
            "sign_pk": c.b64e(member.sign_public_key),
            "first_seen": 1700000000,
            "verified": True,
        }
    }
    contacts_json = c._dump({"v": c.FORMAT_VERSION, "contacts": contacts})
    return {
        "inputs": {
            "owner_account_id": owner_id,
            "owner_master_key": c.b64e(master_key),
            "member_account_id": member_id,
            "member_identity": c.b64e(member_seed),
            "epoch_keys": {str(e): c.b64e(key) for e, key in epoch_keys.items()},
            "invite_id": invite_id,
            "invite_secret": c.b64e(invite_secret),
            "contacts": contacts,
            # The member key and the invitation seal the top-level album_key for album_id; the owner's
            # link wrap key is the top-level link's with_password wrap_key.
        },
        "member_album_key": {
            "box_public_key": c.b64e(member.box_public_key),
            "box_secret_key": c.b64e(member.box_secret_key),
            "ephemeral_seed": c.b64e(ephemeral_seed),
            "plaintext": c.b64e(c.MEMBER_ALBUM_KEY_LABEL + c.b64d(album_id) + album_key),
            "sealed": c.b64e(member_sealed),
        },
        "album_key_chain": {"current_epoch": 2, "chain": chain},
        "invitation": {
            "fragment": c.encode_invite_secret(invite_secret),
            "invite_key": c.b64e(invite.invite_key),
            "claim_key": c.b64e(invite.claim_key),
            "claim_key_sha256": c.b64e(hashlib.sha256(invite.claim_key).digest()),  # what the server keeps
            "nonce": c.b64e(nonces["invitation"]),
            "sealed": c.b64e(
                c.seal_invitation_album_key(invite.invite_key, album_key, invite_id, album_id, nonces["invitation"])
            ),
        },
        "contacts": {
            "json": contacts_json.decode("utf-8"),
            "padded_length": len(c.pad_meta(contacts_json)),
            "nonce": c.b64e(nonces["contacts"]),
            "sealed": c.b64e(c.seal_contacts(master_key, owner_id, contacts, nonces["contacts"])),
        },
        "owner_link_wrap_key": {
            "wrap_key": c.b64e(wrap_key),
            "nonce": c.b64e(nonces["owner_link_wrap_key"]),
            "sealed": c.b64e(c.seal_owner_link_wrap_key(master_key, wrap_key, link_id, nonces["owner_link_wrap_key"])),
        },
    }


def drop(album_id: str, album_key: bytes, link_id: str, wrap_key: bytes, file_id: str, file_key: bytes) -> dict:
    """docs/format.md, "File drop": the album's drop key of epoch 1, a link's sealed copy, a dropped file key.

    The album key of epoch 1 is the sharing vectors' (the drop key sealed for epoch 1 names it); the
    link's wrap key is the top-level link's without a password; the file is the top-level file.
    """
    epoch, epoch_key = 1, fixed(0x68, 32)  # sharing(): epoch_keys[1]
    seed, ephemeral_seed = fixed(0x90, 32), fixed(0x98, 32)
    secret_nonce, link_nonce = fixed(0xF4, 24), fixed(0xF5, 24)
    made = c.new_drop_key(epoch_key, album_id, epoch, seed, secret_nonce)
    plaintext = c.DROP_FILE_KEY_LABEL + c.b64d(album_id) + c.b64d(file_id) + file_key
    sealed_file_key = sealed_box_with_ephemeral_seed(plaintext, made.public_key, ephemeral_seed)
    assert c.open_drop_file_key(sealed_file_key, album_id, file_id, made.public_key, made.secret_key) == file_key
    return {
        "epoch": epoch,
        "album_key": c.b64e(epoch_key),
        "seed": c.b64e(seed),
        "public_key": c.b64e(made.public_key),
        "secret_key": c.b64e(made.secret_key),
        "sealed_secret": {"nonce": c.b64e(secret_nonce), "sealed": c.b64e(made.sealed_secret)},
        "link_drop_key": {
            "nonce": c.b64e(link_nonce),
            "sealed": c.b64e(c.seal_link_drop_key(wrap_key, made.public_key, link_id, album_id, epoch, link_nonce)),
        },
        "drop_file_key": {
            "ephemeral_seed": c.b64e(ephemeral_seed),
            "plaintext": c.b64e(plaintext),
            "sealed": c.b64e(sealed_file_key),
        },
    }


def notes(album_id: str, file_id: str) -> dict:
    """docs/format.md, "Note vectors": a member's comment on the top-level file and its edit, a guest's reaction.

    At epoch 1 (the sharing vectors' AK_1); the member is the account vectors' identity (seed fixed(0x08, 32)).
    """
    epoch, epoch_key = 1, fixed(0x68, 32)  # sharing(): epoch_keys[1]
    member = c.identity_keypairs(fixed(0x08, 32))  # account(): its identity seed
    guest_seed = fixed(0x91, 32)
    guest_pk, guest_sk = c.guest_note_keys(guest_seed)
    comment_id, reaction_id = c.b64e(fixed(0xA0, 16)), c.b64e(fixed(0xA1, 16))
    comment = {"kind": "comment", "on": file_id, "reply_to": None, "text": "Quelle lumière ! 🌅", "name": None, "at": 1764950400}
    edited = {**comment, "text": "Quelle lumière sur le port ! 🌅", "at": 1764950460}
    reaction = {"kind": "reaction", "on": None, "emoji": "\u2764\ufe0f", "name": "Ana", "at": 1764950500}

    def entry(note_id: str, version: int, pk: bytes, sk: bytes, note: dict, nonce: bytes) -> dict:
        sealed, signature = c.seal_note(epoch_key, album_id, note_id, epoch, version, pk, sk, note, nonce)
        assert c.open_note(epoch_key, album_id, note_id, epoch, version, pk, sealed, signature) == {**note, "v": 1}
        return {
            "note_id": note_id,
            "version": version,
            "author_pk": c.b64e(pk),
            "note": note,
            "nonce": c.b64e(nonce),
            "sealed": c.b64e(sealed),
            "signature": c.b64e(signature),
        }

    return {
        "epoch": epoch,
        "album_key": c.b64e(epoch_key),
        "comment_key": c.b64e(c.comment_key(epoch_key)),
        "member_sign_pk": c.b64e(member.sign_public_key),
        "guest_seed": c.b64e(guest_seed),
        "guest_pk": c.b64e(guest_pk),
        "comment": entry(comment_id, 1, member.sign_public_key, member.sign_secret_key, comment, fixed(0xF6, 24)),
        "edit": entry(comment_id, 2, member.sign_public_key, member.sign_secret_key, edited, fixed(0xF7, 24)),
        "reaction": entry(reaction_id, 1, guest_pk, guest_sk, reaction, fixed(0xF8, 24)),
    }


# Each sealed sharing value and its fixed nonce, fixed(0xDB + i, 24) in this order (after the account's).
SEALED_SHARING_VALUES = ("chain_1", "chain_2", "invitation", "contacts", "owner_link_wrap_key")


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "docs" / "vectors.json"
    out.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
