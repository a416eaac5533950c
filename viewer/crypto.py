"""Format v1: the keys, wrappings and blob encryption shared with the browser.

This module is the Python half of the byte-level contract in ``docs/format.md``;
``static/js/core/crypto.js`` is the other half, and both are tested against the same
vectors. It touches neither Flask nor files: bytes in, bytes out.

Primitives all come from libsodium (through PyNaCl), so that the browser can use
the very same functions from libsodium.js:

* XChaCha20-Poly1305-IETF for every encryption. Its 192-bit nonce may be chosen
  at random without a birthday worry (libsodium docs, "XChaCha20-Poly1305
  construction").
* BLAKE2b for hashing and ``crypto_kdf_derive_from_key`` for subkeys, written
  out here as BLAKE2b with salt and personalisation exactly as libsodium does it
  (libsodium ``src/libsodium/crypto_kdf/blake2b/kdf_blake2b.c``).
* Argon2id13 (``crypto_pwhash``) for the password factor.
* Ed25519 for the unlock proofs (link, password, device), so the server keeps
  public keys as verifiers and never anything that could stand in for a secret.
* For accounts (docs/format.md, "Accounts"): the same Argon2id, KDF and sealing, an
  X25519 (``crypto_box``) and an Ed25519 key pair per account, and BIP39 words
  (the ``mnemonic`` package, the reference implementation) for the recovery key.
* For sharing (docs/format.md, "Sharing"): libsodium's anonymous sealed box
  (``crypto_box_seal``) to a member's X25519 key, and the same sealing for the album key
  chain, invitations, contacts and the owner's link wrap keys.

Blobs use the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár,
"Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015),
as age does (age-encryption.org/v1, "Payload"): fixed-size chunks, a nonce made
of a per-blob random prefix and the chunk counter, and a last-chunk flag, so
truncation, reordering and splicing fail while any chunk decrypts on its own.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
import os
import re
import struct
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import BinaryIO

from mnemonic import Mnemonic
from nacl import bindings as sodium
from nacl.exceptions import BadSignatureError, CryptoError

FORMAT_VERSION = 1

ID_BYTES = 16  # 128-bit random ids: album, file, link (docs/design.md, "Key hierarchy": ids of 128 bits)
KEY_BYTES = 32
NONCE_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES  # 24
TAG_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES  # 16
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES  # 72: a sealed AK or FK ("Sealed values")
SALT_BYTES = 16  # crypto_pwhash_SALTBYTES
SIGNATURE_BYTES = 64

ARGON2ID13 = sodium.crypto_pwhash_ALG_ARGON2ID13
# Defaults for new password links: libsodium's "interactive" memory with one more
# pass. 64 MiB stays usable on phones; the salt and cost travel with the link, so
# they can rise later without breaking old links.
PW_OPSLIMIT = 3
PW_MEMLIMIT = 64 * 1024 * 1024
# Floors: OWASP Password Storage Cheat Sheet, Argon2id minimum "m=19456 (19 MiB), t=2, p=1".
# Both clients refuse server-sent parameters below them before computing anything (a malicious
# server could otherwise collect proofs that are cheap to brute-force offline), and the server
# refuses them for new links and password changes (docs/format.md, "Argon2id floor").
PW_OPSLIMIT_MIN = 2
PW_MEMLIMIT_MIN = 19 * 1024 * 1024
# Ceilings, so a link cannot make every visitor's browser run out of memory.
PW_OPSLIMIT_MAX = 10
PW_MEMLIMIT_MAX = 1024 * 1024 * 1024

KDF_CONTEXT_LINK = b"fraglink"
SUBKEY_WRAP = 1
SUBKEY_ACCESS = 2
SUBKEY_LINK = 3  # of master0 = H32(link_secret) alone: the link proof, with or without a password

AD_ALBUM_KEY = b"fragment/v1/album-key\x00"
AD_FILE_KEY = b"fragment/v1/file-key\x00"
AD_ALBUM_META = b"fragment/v1/album-meta\x00"
AD_FILE_META = b"fragment/v1/file-meta\x00"
PROOF_PREFIX = b"fragment/v1/unlock\x00"
LINK_PROOF_PREFIX = b"fragment/v1/unlock-link\x00"
DEVICE_PROOF_PREFIX = b"fragment/v1/device\x00"
DEVICE_ID_BYTES = 16  # BLAKE2b-128 of the device public key, written like every id

# Accounts (docs/format.md, "Accounts"). Each context is 8 bytes, as crypto_kdf requires.
KDF_CONTEXT_ACCOUNT = b"fragacct"  # of root = Argon2id(password): 1 kek, 2 login_key
KDF_CONTEXT_RECOVERY = b"fragrcvr"  # of the recovery key: 1 rk_kek, 2 recovery_login_key
KDF_CONTEXT_IDENTITY = b"fragidty"  # of the identity seed: 1 X25519 seed, 2 Ed25519 seed
SUBKEY_KEK = 1
SUBKEY_LOGIN = 2
SUBKEY_BOX = 1
SUBKEY_SIGN = 2
AD_MASTER_KEY = b"fragment/v1/master-key\x00"
AD_MASTER_KEY_RECOVERY = b"fragment/v1/master-key-recovery\x00"
AD_RECOVERY_KEY = b"fragment/v1/recovery-key\x00"
AD_IDENTITY = b"fragment/v1/identity\x00"
AD_OWNER_ALBUM_KEY = b"fragment/v1/owner-album-key\x00"
AD_OWNER_LINK_SECRET = b"fragment/v1/owner-link-secret\x00"
AD_OWNER_LINK_LABEL = b"fragment/v1/owner-link-label\x00"
MAX_LINK_LABEL = 200  # characters

# Sharing (docs/format.md, "Sharing"): new labels and one new KDF context inside v1.
MEMBER_ALBUM_KEY_LABEL = b"fragment/v1/member-album-key\x00"  # inside the sealed box's plaintext, not AD
AD_ALBUM_KEY_CHAIN = b"fragment/v1/album-key-chain\x00"
AD_INVITE_ALBUM_KEY = b"fragment/v1/invite-album-key\x00"
AD_CONTACTS = b"fragment/v1/contacts\x00"
AD_FAVORITES = b"fragment/v1/favorites\x00"
AD_OWNER_LINK_WRAP_KEY = b"fragment/v1/owner-link-wrap-key\x00"
AD_ALBUM_DROP_KEY = b"fragment/v1/album-drop-key\x00"
AD_LINK_DROP_KEY = b"fragment/v1/link-drop-key\x00"
DROP_FILE_KEY_LABEL = b"fragment/v1/drop-file-key\x00"  # inside the sealed box's plaintext, not AD
KDF_CONTEXT_INVITE = b"fraginvt"  # of the invitation secret: 1 invite_key, 2 claim_key
SUBKEY_INVITE = 1
SUBKEY_CLAIM = 2
BOX_SEAL_BYTES = sodium.crypto_box_SEALBYTES  # 48: the ephemeral public key (32) and the MAC (16)
# 48 + 29 + 16 + 32 = 125: the sealed box of label || album_id || AK
MEMBER_KEY_BYTES = BOX_SEAL_BYTES + len(MEMBER_ALBUM_KEY_LABEL) + ID_BYTES + KEY_BYTES
OWNER_INVITE_SECRET_LABEL = b"fragment/v1/owner-invite-secret\x00"  # inside the sealed box's plaintext, not AD
OWNER_INVITE_SECRET_BYTES = BOX_SEAL_BYTES + len(OWNER_INVITE_SECRET_LABEL) + ID_BYTES + KEY_BYTES
# A guest's file key sealed to the album's drop key: label || album_id || file_id || FK in a sealed box.
DROP_FILE_KEY_BYTES = BOX_SEAL_BYTES + len(DROP_FILE_KEY_LABEL) + 2 * ID_BYTES + KEY_BYTES  # 138
MAX_EPOCH = 2**31 - 1  # epochs are 0 .. 2^31 - 1, so they fit a u32 and a JS number without surprise
RECOVERY_WORD_COUNT = 24  # BIP39: 256 bits of entropy + 8 checksum bits = 24 words of 11 bits
# 12 groups of 5 digits: 60 decimal digits (about 199 bits) of H32(box_pk || sign_pk), as
# Signal's safety numbers show 5-digit groups (Signal, "Safety number updates", 2016).
FINGERPRINT_GROUPS = 12
FINGERPRINT_GROUP_DIGITS = 5

# Sealed metadata is padded with spaces to padme(max(L, META_PAD_MIN)) bytes (docs/format.md, "Padding").
META_PAD_MIN = 256

BLOB_MAGIC = b"FRB1"
BLOB_HEADER_BYTES = 24  # magic(4) | chunk_size u32be(4) | nonce prefix(16)
BLOB_PREFIX_BYTES = 16
# 64 KiB chunks: a thumb fits in one or two, a Range request wastes at most
# 128 KiB, and per-chunk overhead is 0.02 %. The size is in each blob's header,
# so a later measurement can change it without a format bump.
DEFAULT_CHUNK_SIZE = 64 * 1024
MIN_CHUNK_SIZE = 1024
MAX_CHUNK_SIZE = 4 * 1024 * 1024

BLOB_KINDS = {"thumb": 1, "preview": 2, "original": 3}


class FormatError(ValueError):
    """Input that is not well-formed format v1 (bad length, encoding, header)."""


class WeakPasswordParams(FormatError):
    """Argon2id parameters below the floor: refused before anything is computed."""


WEAK_PARAMS_MESSAGE = (
    "This link's password settings are weaker than Fragment allows, so the password could be guessed offline. "
    "Ask the owner for a new link."
)


class DecryptionError(Exception):
    """Authentication failed: a wrong key, or tampered, truncated or reordered data."""


class RecoveryWordsError(FormatError):
    """Words that are not a recovery key; the message is meant for the person who typed them."""


# --- encodings --------------------------------------------------------------

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64e(data: bytes) -> str:
    """Base64url without padding (RFC 4648 section 5), as used everywhere in v1."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str, length: int | None = None) -> bytes:
    """Decode canonical unpadded base64url, optionally of an exact byte length."""
    if not isinstance(text, str) or not _B64URL.match(text) or len(text) % 4 == 1:
        raise FormatError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - regex guards
        raise FormatError("not base64url") from exc
    # Only one spelling per value, so ids compare as strings (no trailing bits).
    if b64e(data) != text:
        raise FormatError("not canonical base64url")
    if length is not None and len(data) != length:
        raise FormatError(f"expected {length} bytes, got {len(data)}")
    return data


def new_id() -> str:
    """A fresh random 128-bit id, base64url (22 characters), never beginning with '-'.

    An id that began with '-' would be read as an option by `fragment pull <id>` (docs/format.md, Ids).
    """
    while True:
        text = b64e(os.urandom(ID_BYTES))
        if not text.startswith("-"):
            return text


def is_id(text: object) -> bool:
    """True if text is a well-formed v1 id."""
    try:
        b64d(text, ID_BYTES)  # type: ignore[arg-type]
    except FormatError:
        return False
    return True


def random_key() -> bytes:
    """32 random bytes for AK, FK or a link secret."""
    return os.urandom(KEY_BYTES)


# --- primitives ---------------------------------------------------------------


def kdf(master: bytes, subkey_id: int, context: bytes, length: int = KEY_BYTES) -> bytes:
    """libsodium crypto_kdf_derive_from_key (BLAKE2b with salt and personal)."""
    if len(master) != KEY_BYTES or len(context) != 8:
        raise FormatError("kdf needs a 32-byte key and an 8-byte context")
    return sodium.crypto_generichash_blake2b_salt_personal(
        b"",
        digest_size=length,
        key=master,
        salt=struct.pack("<Q", subkey_id) + bytes(8),
        person=context + bytes(8),
    )


def seal(key: bytes, plaintext: bytes, ad: bytes, nonce: bytes | None = None) -> bytes:
    """nonce(24) || XChaCha20-Poly1305(plaintext, ad) with a random nonce."""
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    return nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key)


def open_sealed(key: bytes, sealed: bytes, ad: bytes) -> bytes:
    """Inverse of seal; DecryptionError if anything was changed."""
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("sealed data is too short")
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[NONCE_BYTES:], ad, sealed[:NONCE_BYTES], key)
    except CryptoError as exc:
        raise DecryptionError("authentication failed") from exc


# --- links --------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordParams:
    """The public Argon2id parameters of a password link."""

    salt: bytes
    opslimit: int = PW_OPSLIMIT
    memlimit: int = PW_MEMLIMIT

    @classmethod
    def new(cls, opslimit: int = PW_OPSLIMIT, memlimit: int = PW_MEMLIMIT) -> PasswordParams:
        """Fresh parameters with a random salt."""
        return cls(os.urandom(SALT_BYTES), opslimit, memlimit)

    def to_json(self) -> dict:
        """The shape the API carries."""
        return {"alg": "argon2id13", "salt": b64e(self.salt), "opslimit": self.opslimit, "memlimit": self.memlimit}

    @classmethod
    def from_json(cls, data: dict) -> PasswordParams:
        """Parse and bound-check the API shape."""
        try:
            if data.get("alg", "argon2id13") != "argon2id13":
                raise FormatError("unknown password algorithm")
            params = cls(b64d(data["salt"], SALT_BYTES), int(data["opslimit"]), int(data["memlimit"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"bad password parameters: {exc}") from exc
        # Below the floor is its own error, so clients can say why (a weak link, not a broken one).
        if params.opslimit < PW_OPSLIMIT_MIN or params.memlimit < PW_MEMLIMIT_MIN:
            raise WeakPasswordParams(
                f"password parameters below the floor (opslimit >= {PW_OPSLIMIT_MIN}, memlimit >= {PW_MEMLIMIT_MIN} bytes)"
            )
        if params.opslimit > PW_OPSLIMIT_MAX:
            raise FormatError("password opslimit out of range")
        if params.memlimit > PW_MEMLIMIT_MAX:
            raise FormatError("password memlimit out of range")
        return params


def normalize_password(password: str) -> bytes:
    """UTF-8 of the NFC form, so the same password typed on any device matches."""
    return unicodedata.normalize("NFC", password).encode("utf-8")


def password_factor(password: str, params: PasswordParams) -> bytes:
    """pw_factor = Argon2id13(password, salt, cost), 32 bytes (no floor here: the vectors use a cheap cost)."""
    return sodium.crypto_pwhash_alg(
        KEY_BYTES, normalize_password(password), params.salt, params.opslimit, params.memlimit, ARGON2ID13
    )


@dataclass(frozen=True)
class LinkKeys:
    """The subkeys a link secret (and password factor) yields."""

    wrap_key: bytes
    access_seed: bytes
    verifier: bytes  # Ed25519 public key of access_seed; the server keeps it
    signing_key: bytes  # libsodium's 64-byte secret key (seed || public key)
    link_seed: bytes  # from the link secret alone, so a wrong password still proves "has the link"
    link_verifier: bytes  # Ed25519 public key of link_seed; the server keeps it too
    link_signing_key: bytes


def link_keys(link_secret: bytes, pw_factor: bytes = b"") -> LinkKeys:
    """Derive wrap, access and link-proof keys from link_secret (|| pw_factor) (docs/format.md, "Link keys")."""
    if len(link_secret) != KEY_BYTES or len(pw_factor) not in (0, KEY_BYTES):
        raise FormatError("bad link secret or password factor length")
    master = sodium.crypto_generichash_blake2b_salt_personal(link_secret + pw_factor, digest_size=KEY_BYTES)
    wrap_key = kdf(master, SUBKEY_WRAP, KDF_CONTEXT_LINK)
    access_seed = kdf(master, SUBKEY_ACCESS, KDF_CONTEXT_LINK)
    verifier, signing_key = sodium.crypto_sign_seed_keypair(access_seed)
    # master0 is the no-password master of v1; subkey 3 of it is new, so v1's subkeys 1 and 2 are unchanged.
    master0 = sodium.crypto_generichash_blake2b_salt_personal(link_secret, digest_size=KEY_BYTES)
    link_seed = kdf(master0, SUBKEY_LINK, KDF_CONTEXT_LINK)
    link_verifier, link_signing_key = sodium.crypto_sign_seed_keypair(link_seed)
    return LinkKeys(wrap_key, access_seed, verifier, signing_key, link_seed, link_verifier, link_signing_key)


def proof_message(link_id: str, challenge: str) -> bytes:
    """What the client signs to unlock: prefix || link_id bytes || challenge (ASCII)."""
    return PROOF_PREFIX + b64d(link_id, ID_BYTES) + challenge.encode("ascii")


def sign_proof(keys: LinkKeys, link_id: str, challenge: str) -> str:
    """The unlock proof: a detached Ed25519 signature, base64url."""
    return _sign(proof_message(link_id, challenge), keys.signing_key)


def _sign(message: bytes, signing_key: bytes) -> str:
    """A detached Ed25519 signature, base64url."""
    return b64e(sodium.crypto_sign(message, signing_key)[:SIGNATURE_BYTES])


def _verify(public_key: bytes, message_of, signature: object) -> bool:
    """Check a detached signature of message_of() (which may raise on a bad link id or challenge)."""
    try:
        sig = b64d(signature, SIGNATURE_BYTES)  # type: ignore[arg-type]
        if len(public_key) != KEY_BYTES:
            return False
        sodium.crypto_sign_open(sig + message_of(), public_key)
    except (FormatError, BadSignatureError, UnicodeEncodeError, ValueError, TypeError, AttributeError):
        return False
    return True


def verify_proof(verifier: bytes, link_id: str, challenge: str, signature: object) -> bool:
    """Check an unlock proof against the stored verifier."""
    return _verify(verifier, lambda: proof_message(link_id, challenge), signature)


def link_message(link_id: str, challenge: str) -> bytes:
    """What the link proof signs: "fragment/v1/unlock-link" 0x00 || link_id bytes || challenge (ASCII)."""
    return LINK_PROOF_PREFIX + b64d(link_id, ID_BYTES) + challenge.encode("ascii")


def sign_link_proof(keys: LinkKeys, link_id: str, challenge: str) -> str:
    """The link proof: shows the link secret is held, whatever password is typed."""
    return _sign(link_message(link_id, challenge), keys.link_signing_key)


def verify_link_proof(link_verifier: bytes, link_id: str, challenge: str, signature: object) -> bool:
    """Check a link proof against the stored link verifier."""
    return _verify(link_verifier, lambda: link_message(link_id, challenge), signature)


# --- device keys -----------------------------------------------------------------


@dataclass(frozen=True)
class DeviceKey:
    """One device's Ed25519 key pair for one link (the command line's; browsers keep theirs in WebCrypto)."""

    seed: bytes
    public_key: bytes
    signing_key: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> DeviceKey:
        """The key pair of a 32-byte seed."""
        if len(seed) != KEY_BYTES:
            raise FormatError("a device seed is 32 bytes")
        public_key, signing_key = sodium.crypto_sign_seed_keypair(seed)
        return cls(seed, public_key, signing_key)

    @classmethod
    def new(cls) -> DeviceKey:
        """A fresh random device key."""
        return cls.from_seed(os.urandom(KEY_BYTES))

    @property
    def device_id(self) -> str:
        """The id the server knows this device by."""
        return device_id(self.public_key)

    def sign(self, link_id: str, challenge: str) -> str:
        """The device proof for one challenge."""
        return _sign(device_message(link_id, challenge), self.signing_key)


def device_message(link_id: str, challenge: str) -> bytes:
    """What the device proof signs: "fragment/v1/device" 0x00 || link_id bytes || challenge (ASCII)."""
    return DEVICE_PROOF_PREFIX + b64d(link_id, ID_BYTES) + challenge.encode("ascii")


def device_id(public_key: bytes) -> str:
    """b64(BLAKE2b-128(device public key)): 22 characters, like every id."""
    return b64e(sodium.crypto_generichash_blake2b_salt_personal(public_key, digest_size=DEVICE_ID_BYTES))


def verify_device_proof(public_key: bytes, link_id: str, challenge: str, signature: object) -> bool:
    """Check a device proof against the device key the client sent."""
    return _verify(public_key, lambda: device_message(link_id, challenge), signature)


def wrap_album_key(wrap_key: bytes, album_key: bytes, link_id: str, nonce: bytes | None = None) -> bytes:
    """AK sealed for one link: the copy a revocation deletes."""
    return seal(wrap_key, album_key, AD_ALBUM_KEY + b64d(link_id, ID_BYTES), nonce)


def unwrap_album_key(wrap_key: bytes, wrapped: bytes, link_id: str) -> bytes:
    """Recover AK from a link's wrapped copy."""
    return open_sealed(wrap_key, wrapped, AD_ALBUM_KEY + b64d(link_id, ID_BYTES))


def encode_link_secret(secret: bytes) -> str:
    """The fragment: base64url of the 32-byte link secret."""
    return b64e(secret)


def decode_link_secret(fragment: str) -> bytes:
    """Parse the fragment; FormatError for anything but 32 bytes of base64url."""
    return b64d(fragment, KEY_BYTES)


# --- album and file keys and metadata ------------------------------------------


def wrap_file_key(album_key: bytes, file_key: bytes, album_id: str, file_id: str, nonce: bytes | None = None) -> bytes:
    """FK sealed under AK, bound to its album and file ids."""
    return seal(album_key, file_key, AD_FILE_KEY + b64d(album_id, ID_BYTES) + b64d(file_id, ID_BYTES), nonce)


def unwrap_file_key(album_key: bytes, wrapped: bytes, album_id: str, file_id: str) -> bytes:
    """Recover FK."""
    return open_sealed(album_key, wrapped, AD_FILE_KEY + b64d(album_id, ID_BYTES) + b64d(file_id, ID_BYTES))


def padme(length: int) -> int:
    """Padmé: round up so at most O(log log L) bits of the length show (Nikitin et al., PETS 2019, section 4)."""
    if length < 2:
        return length
    e = length.bit_length() - 1  # floor(log2 L)
    s = e.bit_length()  # floor(log2 E) + 1
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask


def pad_meta(data: bytes) -> bytes:
    """The JSON padded with ASCII spaces to padme(max(L, 256)) bytes, so its length hides names and titles.

    JSON allows trailing whitespace (RFC 8259 section 2), so old readers read padded metadata as is.
    """
    return data + b" " * (padme(max(len(data), META_PAD_MIN)) - len(data))


def _dump(meta: dict) -> bytes:
    return json.dumps(meta, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _load(data: bytes) -> dict:
    """Parse metadata, padded (trailing spaces) or not."""
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError("metadata is not UTF-8 JSON") from exc
    if not isinstance(meta, dict) or meta.get("v") != FORMAT_VERSION:
        raise FormatError("metadata is not a v1 object")
    return meta


def seal_album_meta(album_key: bytes, album_id: str, meta: dict, nonce: bytes | None = None) -> bytes:
    """Album metadata (title, description, cover) sealed under AK."""
    return seal(album_key, pad_meta(_dump({"v": FORMAT_VERSION, **meta})), AD_ALBUM_META + b64d(album_id, ID_BYTES), nonce)


def open_album_meta(album_key: bytes, album_id: str, sealed: bytes) -> dict:
    """Decrypt and parse album metadata."""
    return _load(open_sealed(album_key, sealed, AD_ALBUM_META + b64d(album_id, ID_BYTES)))


def seal_file_meta(file_key: bytes, album_id: str, file_id: str, meta: dict, nonce: bytes | None = None) -> bytes:
    """File metadata (name, type, size, dates, uploader...) sealed under FK."""
    ad = AD_FILE_META + b64d(album_id, ID_BYTES) + b64d(file_id, ID_BYTES)
    return seal(file_key, pad_meta(_dump({"v": FORMAT_VERSION, **meta})), ad, nonce)


def open_file_meta(file_key: bytes, album_id: str, file_id: str, sealed: bytes) -> dict:
    """Decrypt and parse file metadata."""
    ad = AD_FILE_META + b64d(album_id, ID_BYTES) + b64d(file_id, ID_BYTES)
    return _load(open_sealed(file_key, sealed, ad))


# --- accounts -------------------------------------------------------------------


@dataclass(frozen=True)
class AccountKeys:
    """The two subkeys of a secret: kek seals the master key, login_key signs in (docs/format.md, "Accounts").

    Of the password: kek and login_key. Of the recovery key: rk_kek and recovery_login_key.
    """

    kek: bytes  # never leaves the client
    login_key: bytes  # sent at sign-in; the server keeps only an Argon2id hash of it


def _account_subkeys(root: bytes, context: bytes) -> AccountKeys:
    return AccountKeys(kdf(root, SUBKEY_KEK, context), kdf(root, SUBKEY_LOGIN, context))


def account_keys(password: str, params: PasswordParams) -> AccountKeys:
    """kek and login_key of a password: subkeys 1 and 2 of root = Argon2id(NFC(password), salt, cost).

    root is password_factor's Argon2id (no floor here, for the vectors); callers parse server-sent
    parameters with PasswordParams.from_json, which refuses any below the floor.
    """
    return _account_subkeys(password_factor(password, params), KDF_CONTEXT_ACCOUNT)


def recovery_keys(recovery_key: bytes) -> AccountKeys:
    """rk_kek and recovery_login_key of the recovery key (256 random bits: no Argon2id needed)."""
    if len(recovery_key) != KEY_BYTES:
        raise FormatError("a recovery key is 32 bytes")
    return _account_subkeys(recovery_key, KDF_CONTEXT_RECOVERY)


def _account_ad(prefix: bytes, the_id: str) -> bytes:
    return prefix + b64d(the_id, ID_BYTES)


def _seal_key(key: bytes, value: bytes, ad: bytes, nonce: bytes | None) -> bytes:
    """Seal a 32-byte value: always 72 bytes, like a wrapped AK."""
    if len(value) != KEY_BYTES:
        raise FormatError("the sealed value must be 32 bytes")
    return seal(key, value, ad, nonce)


def _open_key(key: bytes, sealed: bytes, ad: bytes) -> bytes:
    value = open_sealed(key, sealed, ad)
    if len(value) != KEY_BYTES:  # only a key holder could have sealed it, but say so plainly
        raise FormatError("the sealed value is not a 32-byte key")
    return value


def seal_master_key(kek: bytes, master_key: bytes, account_id: str, nonce: bytes | None = None) -> bytes:
    """sealed_mk: MK under the password's kek, bound to the account."""
    return _seal_key(kek, master_key, _account_ad(AD_MASTER_KEY, account_id), nonce)


def open_master_key(kek: bytes, sealed: bytes, account_id: str) -> bytes:
    """MK from sealed_mk; DecryptionError for a wrong password (or another account's copy)."""
    return _open_key(kek, sealed, _account_ad(AD_MASTER_KEY, account_id))


def seal_master_key_recovery(rk_kek: bytes, master_key: bytes, account_id: str, nonce: bytes | None = None) -> bytes:
    """sealed_mk_rk: MK under the recovery key's rk_kek."""
    return _seal_key(rk_kek, master_key, _account_ad(AD_MASTER_KEY_RECOVERY, account_id), nonce)


def open_master_key_recovery(rk_kek: bytes, sealed: bytes, account_id: str) -> bytes:
    """MK from sealed_mk_rk; DecryptionError for a wrong recovery key."""
    return _open_key(rk_kek, sealed, _account_ad(AD_MASTER_KEY_RECOVERY, account_id))


def seal_recovery_key(master_key: bytes, recovery_key: bytes, account_id: str, nonce: bytes | None = None) -> bytes:
    """sealed_rk: RK under MK, so the account page can show the words again after the password."""
    return _seal_key(master_key, recovery_key, _account_ad(AD_RECOVERY_KEY, account_id), nonce)


def open_recovery_key(master_key: bytes, sealed: bytes, account_id: str) -> bytes:
    """RK from sealed_rk."""
    return _open_key(master_key, sealed, _account_ad(AD_RECOVERY_KEY, account_id))


def seal_identity(master_key: bytes, identity: bytes, account_id: str, nonce: bytes | None = None) -> bytes:
    """sealed_identity: the identity seed (both secret keys) under MK."""
    return _seal_key(master_key, identity, _account_ad(AD_IDENTITY, account_id), nonce)


def open_identity(master_key: bytes, sealed: bytes, account_id: str) -> bytes:
    """The identity seed from sealed_identity."""
    return _open_key(master_key, sealed, _account_ad(AD_IDENTITY, account_id))


def seal_owner_album_key(master_key: bytes, album_key: bytes, album_id: str, nonce: bytes | None = None) -> bytes:
    """The owner's copy of AK on the server, under MK and bound to the album."""
    return _seal_key(master_key, album_key, _account_ad(AD_OWNER_ALBUM_KEY, album_id), nonce)


def open_owner_album_key(master_key: bytes, sealed: bytes, album_id: str) -> bytes:
    """AK from the owner's copy."""
    return _open_key(master_key, sealed, _account_ad(AD_OWNER_ALBUM_KEY, album_id))


def seal_owner_link_secret(master_key: bytes, link_secret: bytes, link_id: str, nonce: bytes | None = None) -> bytes:
    """The owner's copy of a link secret on the server, under MK and bound to the link."""
    return _seal_key(master_key, link_secret, _account_ad(AD_OWNER_LINK_SECRET, link_id), nonce)


def open_owner_link_secret(master_key: bytes, sealed: bytes, link_id: str) -> bytes:
    """A link secret from the owner's copy."""
    return _open_key(master_key, sealed, _account_ad(AD_OWNER_LINK_SECRET, link_id))


def seal_owner_link_label(master_key: bytes, label: str, link_id: str, nonce: bytes | None = None) -> bytes:
    """The owner's label for a link ("Family"), under MK and bound to the link (format.md, "Accounts")."""
    text = unicodedata.normalize("NFC", label)
    if not 0 < len(text) <= MAX_LINK_LABEL:
        raise FormatError(f"a link label is 1 to {MAX_LINK_LABEL} characters")
    return seal(master_key, text.encode(), _account_ad(AD_OWNER_LINK_LABEL, link_id), nonce)


def open_owner_link_label(master_key: bytes, sealed: bytes, link_id: str) -> str:
    """The owner's label of a link."""
    return open_sealed(master_key, sealed, _account_ad(AD_OWNER_LINK_LABEL, link_id)).decode()


@dataclass(frozen=True)
class Identity:
    """An account's two key pairs, both from one 32-byte seed sealed under MK."""

    seed: bytes
    box_public_key: bytes  # X25519, in clear on the server (sharing)
    box_secret_key: bytes
    sign_public_key: bytes  # Ed25519, in clear on the server (comments)
    sign_secret_key: bytes  # libsodium's 64 bytes (seed || public key)

    @property
    def fingerprint(self) -> str:
        """What two people compare to know they have the same keys."""
        return fingerprint(self.box_public_key, self.sign_public_key)


def identity_keypairs(identity: bytes) -> Identity:
    """crypto_box_seed_keypair(KDF(identity, 1, "fragidty")), crypto_sign_seed_keypair(KDF(identity, 2, "fragidty"))."""
    if len(identity) != KEY_BYTES:
        raise FormatError("an identity seed is 32 bytes")
    box_pk, box_sk = sodium.crypto_box_seed_keypair(kdf(identity, SUBKEY_BOX, KDF_CONTEXT_IDENTITY))
    sign_pk, sign_sk = sodium.crypto_sign_seed_keypair(kdf(identity, SUBKEY_SIGN, KDF_CONTEXT_IDENTITY))
    return Identity(identity, box_pk, box_sk, sign_pk, sign_sk)


def fingerprint_hash(box_public_key: bytes, sign_public_key: bytes) -> bytes:
    """H32(box_pk || sign_pk): both keys are 32 bytes, so the concatenation is unambiguous."""
    if len(box_public_key) != KEY_BYTES or len(sign_public_key) != KEY_BYTES:
        raise FormatError("public keys are 32 bytes")
    return sodium.crypto_generichash_blake2b_salt_personal(box_public_key + sign_public_key, digest_size=KEY_BYTES)


def fingerprint(box_public_key: bytes, sign_public_key: bytes) -> str:
    """The hash as a big-endian integer mod 10^60, in 12 groups of 5 digits separated by spaces.

    2^256 / 10^60 is about 10^17, so the reduction's bias is about 10^-17: every digit is as good as random.
    """
    digits = FINGERPRINT_GROUPS * FINGERPRINT_GROUP_DIGITS
    number = int.from_bytes(fingerprint_hash(box_public_key, sign_public_key), "big") % 10**digits
    text = str(number).zfill(digits)
    return " ".join(text[i : i + FINGERPRINT_GROUP_DIGITS] for i in range(0, digits, FINGERPRINT_GROUP_DIGITS))


@cache
def _bip39() -> Mnemonic:
    """The BIP39 English list (read once from the mnemonic package's own data)."""
    return Mnemonic("english")


def recovery_words(recovery_key: bytes) -> str:
    """The 24 BIP39 English words of a 32-byte recovery key, separated by single spaces."""
    if len(recovery_key) != KEY_BYTES:
        raise FormatError("a recovery key is 32 bytes")
    return _bip39().to_mnemonic(recovery_key)


def recovery_key(words: str) -> bytes:
    """The recovery key of 24 words: any case and spacing, but every word on the list and the checksum right."""
    typed = words.lower().split() if isinstance(words, str) else []
    if len(typed) != RECOVERY_WORD_COUNT:
        raise RecoveryWordsError(
            f"This is not a recovery key: it has {len(typed)} words, a recovery key has {RECOVERY_WORD_COUNT}"
        )
    listed = set(_bip39().wordlist)
    for number, word in enumerate(typed, 1):
        if word not in listed:
            raise RecoveryWordsError(f"This is not a recovery key: word {number} is not in the list")
    try:
        return bytes(_bip39().to_entropy(typed))
    except ValueError as exc:  # the 8 checksum bits (SHA-256 of the key) do not match
        raise RecoveryWordsError("The words do not match: check for a typo") from exc


@dataclass(frozen=True)
class NewAccount:
    """Everything a sign-up makes. The server gets the public and sealed parts and the two login keys."""

    account_id: str
    params: PasswordParams
    keys: AccountKeys  # of the password
    recovery: AccountKeys  # of the recovery key
    master_key: bytes
    recovery_key: bytes
    identity: Identity
    sealed_master_key: bytes
    sealed_master_key_recovery: bytes
    sealed_recovery_key: bytes
    sealed_identity: bytes

    @property
    def recovery_words(self) -> str:
        """What the sign-up shows once (and the account page again, after the password)."""
        return recovery_words(self.recovery_key)


def new_account(password: str, params: PasswordParams | None = None) -> NewAccount:
    """A fresh account: random id, salt, MK, RK and identity, each sealed as docs/format.md, "Accounts" says."""
    params = PasswordParams.new() if params is None else params
    account_id, master_key, rk, seed = new_id(), random_key(), random_key(), random_key()
    keys, recovery = account_keys(password, params), recovery_keys(rk)
    return NewAccount(
        account_id=account_id,
        params=params,
        keys=keys,
        recovery=recovery,
        master_key=master_key,
        recovery_key=rk,
        identity=identity_keypairs(seed),
        sealed_master_key=seal_master_key(keys.kek, master_key, account_id),
        sealed_master_key_recovery=seal_master_key_recovery(recovery.kek, master_key, account_id),
        sealed_recovery_key=seal_recovery_key(master_key, rk, account_id),
        sealed_identity=seal_identity(master_key, seed, account_id),
    )


@dataclass(frozen=True)
class PasswordChange:
    """What a new password replaces on the server: the parameters, the login key's hash and sealed_mk."""

    params: PasswordParams
    keys: AccountKeys
    sealed_master_key: bytes


def change_password(master_key: bytes, account_id: str, password: str, params: PasswordParams | None = None) -> PasswordChange:
    """Re-seal MK under a new password with a new salt; nothing else changes (also the end of a recovery)."""
    params = PasswordParams.new() if params is None else params
    keys = account_keys(password, params)
    return PasswordChange(params, keys, seal_master_key(keys.kek, master_key, account_id))


# --- sharing (docs/format.md, "Sharing") ------------------------------------------------


def _box_public_key(public_key: bytes) -> bytes:
    if not isinstance(public_key, bytes) or len(public_key) != KEY_BYTES:
        raise FormatError("an X25519 public key is 32 bytes")
    return public_key


def seal_member_album_key(album_key: bytes, album_id: str, box_public_key: bytes) -> bytes:
    """AK for one member: crypto_box_seal of label || album_id || AK to the member's box_pk, 125 bytes.

    A sealed box has no associated data, so the label and the album id are inside the plaintext and
    open_member_album_key checks them. The box is randomised by its ephemeral key: no nonce argument.
    The caller must have checked box_pk against the contact it remembers (format.md, "Sharing").
    """
    if len(album_key) != KEY_BYTES:
        raise FormatError("an album key is 32 bytes")
    plaintext = MEMBER_ALBUM_KEY_LABEL + b64d(album_id, ID_BYTES) + album_key
    try:
        return sodium.crypto_box_seal(plaintext, _box_public_key(box_public_key))
    except CryptoError as exc:  # libsodium refuses a low-order point (an all-zero shared secret)
        raise FormatError("not a usable X25519 public key") from exc


def open_member_album_key(sealed: bytes, album_id: str, box_public_key: bytes, box_secret_key: bytes) -> bytes:
    """AK from a member's sealed copy; DecryptionError if it does not open, or is for another album or role."""
    expected = MEMBER_ALBUM_KEY_LABEL + b64d(album_id, ID_BYTES)
    _box_public_key(box_public_key)
    if len(box_secret_key) != KEY_BYTES:
        raise FormatError("an X25519 secret key is 32 bytes")
    if len(sealed) != MEMBER_KEY_BYTES:
        raise DecryptionError("authentication failed")
    try:
        plaintext = sodium.crypto_box_seal_open(sealed, box_public_key, box_secret_key)
    except CryptoError as exc:
        raise DecryptionError("authentication failed") from exc
    # Anyone can seal to a public key: the label and the album id are what bind it (compare_digest: habit).
    if len(plaintext) != MEMBER_KEY_BYTES - BOX_SEAL_BYTES or not hmac.compare_digest(plaintext[: len(expected)], expected):
        raise DecryptionError("authentication failed")
    return plaintext[len(expected) :]


def seal_owner_invite_secret(invite_secret: bytes, invite_id: str, owner_box_public_key: bytes) -> bytes:
    """An invitation's secret for the album's owner: crypto_box_seal of label || invite_id || secret, 128 bytes.

    Sealed to the owner's box_pk (not under an MK), so an admin's invitation can be re-sealed by the
    owner when the album gets a new key; the label and the id inside bind it, as for a member's key.
    """
    if len(invite_secret) != KEY_BYTES:
        raise FormatError("an invitation secret is 32 bytes")
    plaintext = OWNER_INVITE_SECRET_LABEL + b64d(invite_id, ID_BYTES) + invite_secret
    try:
        return sodium.crypto_box_seal(plaintext, _box_public_key(owner_box_public_key))
    except CryptoError as exc:
        raise FormatError("not a usable X25519 public key") from exc


def open_owner_invite_secret(sealed: bytes, invite_id: str, box_public_key: bytes, box_secret_key: bytes) -> bytes:
    """The invitation secret from the owner's sealed copy; DecryptionError if it does not open or is for another one."""
    expected = OWNER_INVITE_SECRET_LABEL + b64d(invite_id, ID_BYTES)
    _box_public_key(box_public_key)
    if len(sealed) != OWNER_INVITE_SECRET_BYTES or len(box_secret_key) != KEY_BYTES:
        raise DecryptionError("authentication failed")
    try:
        plaintext = sodium.crypto_box_seal_open(sealed, box_public_key, box_secret_key)
    except CryptoError as exc:
        raise DecryptionError("authentication failed") from exc
    if len(plaintext) != OWNER_INVITE_SECRET_BYTES - BOX_SEAL_BYTES or not hmac.compare_digest(
        plaintext[: len(expected)], expected
    ):
        raise DecryptionError("authentication failed")
    return plaintext[len(expected) :]


def _epoch(epoch: object, lowest: int) -> int:
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not lowest <= epoch <= MAX_EPOCH:
        raise FormatError(f"an album key epoch is an integer from {lowest} to {MAX_EPOCH}")
    return epoch


def _chain_ad(album_id: str, epoch: int) -> bytes:
    return AD_ALBUM_KEY_CHAIN + b64d(album_id, ID_BYTES) + struct.pack(">I", _epoch(epoch, 1))


def seal_album_key_chain(new_key: bytes, old_key: bytes, album_id: str, epoch: int, nonce: bytes | None = None) -> bytes:
    """chain_e: AK_{e-1} sealed under AK_e (e >= 1), 72 bytes, so the newest key opens every older one."""
    if len(new_key) != KEY_BYTES:
        raise FormatError("an album key is 32 bytes")
    return _seal_key(new_key, old_key, _chain_ad(album_id, epoch), nonce)


def open_album_key_chain(new_key: bytes, sealed: bytes, album_id: str, epoch: int) -> bytes:
    """AK_{e-1} from chain_e and AK_e."""
    return _open_key(new_key, sealed, _chain_ad(album_id, epoch))


def album_keys(current_key: bytes, current_epoch: int, album_id: str, chain: dict[int, bytes]) -> dict[int, bytes]:
    """Every album key from the current one down to epoch 0: {e: AK_e}.

    chain maps e to chain_e for 1..current_epoch (entries outside that range are not used). A missing
    entry is a FormatError, one that does not open a DecryptionError, both naming the epoch.
    """
    epoch = _epoch(current_epoch, 0)
    if len(current_key) != KEY_BYTES:
        raise FormatError("an album key is 32 bytes")
    keys = {epoch: current_key}
    for e in range(epoch, 0, -1):
        if e not in chain:
            raise FormatError(f"the album key chain has no entry for epoch {e}")
        try:
            keys[e - 1] = open_album_key_chain(keys[e], chain[e], album_id, e)
        except DecryptionError as exc:
            raise DecryptionError(f"the album key chain entry for epoch {e} does not open") from exc
    return keys


@dataclass(frozen=True)
class InvitationKeys:
    """The two subkeys of an invitation secret: invite_key seals AK; claim_key's hash is what the server keeps."""

    invite_key: bytes
    claim_key: bytes


def invitation_keys(invite_secret: bytes) -> InvitationKeys:
    """invite_key = KDF(secret, 1, "fraginvt"), claim_key = KDF(secret, 2, "fraginvt")."""
    if len(invite_secret) != KEY_BYTES:
        raise FormatError("an invitation secret is 32 bytes")
    return InvitationKeys(
        kdf(invite_secret, SUBKEY_INVITE, KDF_CONTEXT_INVITE), kdf(invite_secret, SUBKEY_CLAIM, KDF_CONTEXT_INVITE)
    )


# The invitation secret travels in the invitation link's fragment exactly as a link secret does.
encode_invite_secret = encode_link_secret
decode_invite_secret = decode_link_secret


def _invite_ad(invite_id: str, album_id: str) -> bytes:
    return AD_INVITE_ALBUM_KEY + b64d(invite_id, ID_BYTES) + b64d(album_id, ID_BYTES)


def seal_invitation_album_key(
    invite_key: bytes, album_key: bytes, invite_id: str, album_id: str, nonce: bytes | None = None
) -> bytes:
    """AK sealed under invite_key, bound to the invitation and the album: 72 bytes."""
    return _seal_key(invite_key, album_key, _invite_ad(invite_id, album_id), nonce)


def open_invitation_album_key(invite_key: bytes, sealed: bytes, invite_id: str, album_id: str) -> bytes:
    """AK from an invitation's sealed copy."""
    return _open_key(invite_key, sealed, _invite_ad(invite_id, album_id))


CONTACT_FIELDS = {"email": str, "box_pk": str, "sign_pk": str, "first_seen": int, "verified": bool}


def _check_contacts(contacts: object) -> dict:
    """The contacts mapping if it has the documented shape (extra fields in an entry are kept)."""
    if not isinstance(contacts, dict):
        raise FormatError("contacts are an object of account id to contact")
    for account_id, entry in contacts.items():
        if not is_id(account_id):
            raise FormatError("a contact's key is an account id")
        if not isinstance(entry, dict):
            raise FormatError("a contact is an object")
        for field, kind in CONTACT_FIELDS.items():
            value = entry.get(field)
            # bool is an int in Python; first_seen must not be one, verified must be one.
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise FormatError(f"a contact's {field} is missing or not a {kind.__name__}")
        b64d(entry["box_pk"], KEY_BYTES)
        b64d(entry["sign_pk"], KEY_BYTES)
        if entry["first_seen"] < 0:
            raise FormatError("a contact's first_seen is unix seconds")
    return contacts


def seal_contacts(master_key: bytes, account_id: str, contacts: dict, nonce: bytes | None = None) -> bytes:
    """The public keys one person has seen for others, as padded JSON under MK, bound to their account."""
    data = pad_meta(_dump({"v": FORMAT_VERSION, "contacts": _check_contacts(contacts)}))
    return seal(master_key, data, _account_ad(AD_CONTACTS, account_id), nonce)


def open_contacts(master_key: bytes, sealed: bytes, account_id: str) -> dict:
    """The contacts mapping {account_id: {email, box_pk, sign_pk, first_seen, verified}} from sealed_contacts."""
    meta = _load(open_sealed(master_key, sealed, _account_ad(AD_CONTACTS, account_id)))
    return _check_contacts(meta.get("contacts"))


def _check_favorites(favorites: object) -> dict:
    """{album_id: [file_id, ...]}: the favorite photos of one person, by album."""
    if not isinstance(favorites, dict):
        raise FormatError("favorites are an object of album id to a list of file ids")
    for album_id, files in favorites.items():
        if not is_id(album_id) or not isinstance(files, list) or not all(is_id(f) for f in files):
            raise FormatError("favorites map an album id to a list of file ids")
    return favorites


def seal_favorites(master_key: bytes, account_id: str, favorites: dict, nonce: bytes | None = None) -> bytes:
    """One person's favorite photos, as padded JSON under MK, bound to their account: the server sees a size only."""
    data = pad_meta(_dump({"v": FORMAT_VERSION, "favorites": _check_favorites(favorites)}))
    return seal(master_key, data, _account_ad(AD_FAVORITES, account_id), nonce)


def open_favorites(master_key: bytes, sealed: bytes, account_id: str) -> dict:
    """The favorites mapping {album_id: [file_id, ...]} from sealed favorites."""
    meta = _load(open_sealed(master_key, sealed, _account_ad(AD_FAVORITES, account_id)))
    return _check_favorites(meta.get("favorites"))


def contact_status(contacts: dict, account_id: str, box_public_key: bytes, sign_public_key: bytes) -> str:
    """Trust on first use: "new" (never seen), "same" (the keys seen first) or "changed" (warn, do not share)."""
    entry = contacts.get(account_id)
    if entry is None:
        return "new"
    same = entry["box_pk"] == b64e(box_public_key) and entry["sign_pk"] == b64e(sign_public_key)
    return "same" if same else "changed"


def seal_owner_link_wrap_key(master_key: bytes, wrap_key: bytes, link_id: str, nonce: bytes | None = None) -> bytes:
    """The owner's copy of a link's wrap_key under MK, so a new AK can be wrapped for a password link."""
    return _seal_key(master_key, wrap_key, _account_ad(AD_OWNER_LINK_WRAP_KEY, link_id), nonce)


def open_owner_link_wrap_key(master_key: bytes, sealed: bytes, link_id: str) -> bytes:
    """A link's wrap_key from the owner's copy."""
    return _open_key(master_key, sealed, _account_ad(AD_OWNER_LINK_WRAP_KEY, link_id))


# --- file drop (docs/format.md, "File drop") ---------------------------------------
# An upload-only link can be made so that it holds no album key: its guests seal each file key to an
# X25519 key pair of the album (one per key epoch), whose secret only album-key holders can open. The
# public key reaches the guest sealed under the link's wrap key, which the server never has, so the
# server cannot hand guests a key of its own (docs/format.md, "File drop": why the public key is sealed).


@dataclass(frozen=True)
class DropKey:
    """The album's drop key pair of one epoch, and its secret sealed under that epoch's album key."""

    public_key: bytes
    secret_key: bytes
    sealed_secret: bytes


def _drop_ad(prefix: bytes, ids: tuple[str, ...], epoch: int) -> bytes:
    return prefix + b"".join(b64d(the_id, ID_BYTES) for the_id in ids) + struct.pack(">I", _epoch(epoch, 0))


def new_drop_key(album_key: bytes, album_id: str, epoch: int, seed: bytes | None = None, nonce: bytes | None = None) -> DropKey:
    """A fresh drop key pair for the album's epoch (crypto_box_keypair; a seed and a nonce for the vectors only)."""
    if len(album_key) != KEY_BYTES:
        raise FormatError("an album key is 32 bytes")
    public_key, secret_key = sodium.crypto_box_seed_keypair(seed) if seed is not None else sodium.crypto_box_keypair()
    sealed = _seal_key(album_key, secret_key, _drop_ad(AD_ALBUM_DROP_KEY, (album_id,), epoch), nonce)
    return DropKey(public_key, secret_key, sealed)


def open_drop_secret(album_key: bytes, album_id: str, epoch: int, sealed_secret: bytes) -> bytes:
    """The drop secret key of an epoch from its sealed copy and that epoch's album key (72 bytes in)."""
    return _open_key(album_key, sealed_secret, _drop_ad(AD_ALBUM_DROP_KEY, (album_id,), epoch))


def drop_public_key(secret_key: bytes) -> bytes:
    """The X25519 public key of a drop secret key: what the listed public key must equal."""
    if len(secret_key) != KEY_BYTES:
        raise FormatError("an X25519 secret key is 32 bytes")
    return sodium.crypto_scalarmult_base(secret_key)


def seal_link_drop_key(
    wrap_key: bytes, public_key: bytes, link_id: str, album_id: str, epoch: int, nonce: bytes | None = None
) -> bytes:
    """The album's drop public key of an epoch for one link, under the link's wrap key: 72 bytes."""
    ad = _drop_ad(AD_LINK_DROP_KEY, (link_id, album_id), epoch)
    return _seal_key(wrap_key, _box_public_key(public_key), ad, nonce)


def open_link_drop_key(wrap_key: bytes, sealed: bytes, link_id: str, album_id: str, epoch: int) -> bytes:
    """The drop public key from a link's sealed copy; DecryptionError if the server changed it."""
    return _open_key(wrap_key, sealed, _drop_ad(AD_LINK_DROP_KEY, (link_id, album_id), epoch))


def seal_drop_file_key(file_key: bytes, album_id: str, file_id: str, public_key: bytes) -> bytes:
    """FK sealed to the album's drop key: crypto_box_seal of label || album_id || file_id || FK, 138 bytes.

    As for a member's key, a sealed box has no associated data: the label and both ids are inside the
    plaintext, and open_drop_file_key checks them, so a box cannot be moved to another file or album.
    """
    if len(file_key) != KEY_BYTES:
        raise FormatError("a file key is 32 bytes")
    plaintext = DROP_FILE_KEY_LABEL + b64d(album_id, ID_BYTES) + b64d(file_id, ID_BYTES) + file_key
    try:
        return sodium.crypto_box_seal(plaintext, _box_public_key(public_key))
    except CryptoError as exc:  # libsodium refuses a low-order point
        raise FormatError("not a usable X25519 public key") from exc


def open_drop_file_key(sealed: bytes, album_id: str, file_id: str, public_key: bytes, secret_key: bytes) -> bytes:
    """FK from a dropped file's sealed key; DecryptionError if it does not open or is for another file."""
    expected = DROP_FILE_KEY_LABEL + b64d(album_id, ID_BYTES) + b64d(file_id, ID_BYTES)
    _box_public_key(public_key)
    if len(secret_key) != KEY_BYTES:
        raise FormatError("an X25519 secret key is 32 bytes")
    if len(sealed) != DROP_FILE_KEY_BYTES:
        raise DecryptionError("authentication failed")
    try:
        plaintext = sodium.crypto_box_seal_open(sealed, public_key, secret_key)
    except CryptoError as exc:
        raise DecryptionError("authentication failed") from exc
    if not hmac.compare_digest(plaintext[: len(expected)], expected):
        raise DecryptionError("authentication failed")
    return plaintext[len(expected) :]


# --- comments and reactions (docs/format.md, "Comments and reactions") ------------------
# A note is padded JSON sealed under a key derived from the album key of its epoch, signed by its
# author (a member's account key, or a link visitor's key made in the browser). The author's public
# key is in the associated data and in the signed message, so the server, which has no album key,
# can neither write a note nor move one to another author, album, note or version.

KDF_CONTEXT_COMMENTS = b"fragcmnt"
SUBKEY_COMMENTS = 1
AD_NOTE = b"fragment/v1/note\x00"
NOTE_SIGNATURE_PREFIX = b"fragment/v1/note-sig\x00"
NOTE_KINDS = ("comment", "reaction")
NOTE_EMOJI = ("\u2764\ufe0f", "\U0001f44d", "\U0001f602", "\U0001f62e", "\U0001f622", "\U0001f389")  # ❤️ 👍 😂 😮 😢 🎉
MAX_NOTE_TEXT = 4000  # characters
MAX_GUEST_NAME = 80  # characters
MAX_NOTE_VERSION = 2**31 - 1


class BadNote(DecryptionError):
    """A note whose signature does not verify, or that does not open: not shown as genuine."""


def comment_key(album_key: bytes) -> bytes:
    """CK_e = KDF(AK_e, 1, "fragcmnt"): the key that seals the notes of the album key's epoch."""
    if len(album_key) != KEY_BYTES:
        raise FormatError("an album key is 32 bytes")
    return kdf(album_key, SUBKEY_COMMENTS, KDF_CONTEXT_COMMENTS)


def guest_note_keys(guest_seed: bytes) -> tuple[bytes, bytes]:
    """A link visitor's Ed25519 key pair (public, secret) from the 32-byte seed their browser keeps for the link."""
    if len(guest_seed) != KEY_BYTES:
        raise FormatError("a guest seed is 32 bytes")
    return sodium.crypto_sign_seed_keypair(guest_seed)


def _note_binding(album_id: str, note_id: str, epoch: int, version: int, author_pk: bytes) -> bytes:
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_NOTE_VERSION:
        raise FormatError(f"a note version is an integer from 1 to {MAX_NOTE_VERSION}")
    if len(author_pk) != KEY_BYTES:
        raise FormatError("an author's public key is 32 bytes")
    ids = b64d(album_id, ID_BYTES) + b64d(note_id, ID_BYTES)
    return ids + struct.pack(">II", _epoch(epoch, 0), version) + author_pk


def _check_note(note: object) -> dict:
    """The note's fields as docs/format.md lists them, or FormatError; unknown keys are kept."""
    if not isinstance(note, dict):
        raise FormatError("a note is a JSON object")
    kind = note.get("kind")
    if kind not in NOTE_KINDS:
        raise FormatError("a note's kind is comment or reaction")
    if note.get("on") is not None and not is_id(note["on"]):
        raise FormatError("a note's `on` is a file id or null")
    name = note.get("name")
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= MAX_GUEST_NAME):
        raise FormatError(f"a note's name is 1 to {MAX_GUEST_NAME} characters or null")
    at = note.get("at")
    if not isinstance(at, int) or isinstance(at, bool) or at < 0:
        raise FormatError("a note's `at` is Unix seconds")
    if kind == "comment":
        text = note.get("text")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_NOTE_TEXT:
            raise FormatError(f"a comment's text is 1 to {MAX_NOTE_TEXT} characters")
        if note.get("reply_to") is not None and not is_id(note["reply_to"]):
            raise FormatError("a comment's `reply_to` is a note id or null")
    elif note.get("emoji") not in NOTE_EMOJI:
        raise FormatError("a reaction's emoji is one of " + " ".join(NOTE_EMOJI))
    return note


def seal_note(
    album_key: bytes,
    album_id: str,
    note_id: str,
    epoch: int,
    version: int,
    author_pk: bytes,
    author_sk: bytes,
    note: dict,
    nonce: bytes | None = None,
) -> tuple[bytes, bytes]:
    """(sealed, signature): the note as padded JSON under CK_e, then signed by its author (64 bytes)."""
    binding = _note_binding(album_id, note_id, epoch, version, author_pk)
    data = pad_meta(_dump({**_check_note(note), "v": FORMAT_VERSION}))
    sealed = seal(comment_key(album_key), data, AD_NOTE + binding, nonce)
    signature = sodium.crypto_sign(NOTE_SIGNATURE_PREFIX + binding + sealed, author_sk)[:SIGNATURE_BYTES]
    return sealed, signature


def open_note(
    album_key: bytes, album_id: str, note_id: str, epoch: int, version: int, author_pk: bytes, sealed: bytes, signature: bytes
) -> dict:
    """The note, once its signature verifies with the author's key and it opens under CK_e; BadNote otherwise."""
    binding = _note_binding(album_id, note_id, epoch, version, author_pk)
    if len(signature) != SIGNATURE_BYTES:
        raise BadNote("the note's signature does not verify")
    try:
        sodium.crypto_sign_open(signature + NOTE_SIGNATURE_PREFIX + binding + sealed, author_pk)
    except (BadSignatureError, ValueError) as exc:
        raise BadNote("the note's signature does not verify") from exc
    try:
        data = open_sealed(comment_key(album_key), sealed, AD_NOTE + binding)
    except DecryptionError as exc:
        raise BadNote("the note does not open with the album key") from exc
    return _check_note(_load(data))


def verify_note_signature(
    album_id: str, note_id: str, epoch: int, version: int, author_pk: bytes, sealed: bytes, signature: bytes
) -> bool:
    """Whether the note's signature verifies with the author's key: what open_note checks first, without the album key.

    The server checks this before it stores a note (it has every input of the signed message), so
    it keeps no note its author did not sign; it still cannot open one.
    """
    try:
        binding = _note_binding(album_id, note_id, epoch, version, author_pk)
    except FormatError:
        return False
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        sodium.crypto_sign_open(signature + NOTE_SIGNATURE_PREFIX + binding + sealed, author_pk)
    except (BadSignatureError, ValueError):
        return False
    return True


NOTE_DELETE_PREFIX = b"fragment/v1/note-delete\x00"


def _note_delete_message(album_id: str, note_id: str, version: int) -> bytes:
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_NOTE_VERSION:
        raise FormatError(f"a note version is an integer from 1 to {MAX_NOTE_VERSION}")
    return NOTE_DELETE_PREFIX + b64d(album_id, ID_BYTES) + b64d(note_id, ID_BYTES) + struct.pack(">I", version)


def sign_note_delete(album_id: str, note_id: str, version: int, guest_sk: bytes) -> bytes:
    """A link visitor's proof that they delete their own note (its current version): 64 bytes."""
    return sodium.crypto_sign(_note_delete_message(album_id, note_id, version), guest_sk)[:SIGNATURE_BYTES]


def verify_note_delete(album_id: str, note_id: str, version: int, guest_pk: bytes, signature: bytes) -> bool:
    """Whether `signature` is the guest's (guest_pk) deletion of this version of the note."""
    if len(guest_pk) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        sodium.crypto_sign_open(signature + _note_delete_message(album_id, note_id, version), guest_pk)
    except (BadSignatureError, ValueError, FormatError):
        return False
    return True


# --- blobs (STREAM) ---------------------------------------------------------------


def chunk_count(plain_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Chunks for a plaintext: at least one, so an empty blob still has a last chunk."""
    return max(1, -(-plain_size // chunk_size))


def ciphertext_size(plain_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Blob length for a plaintext length."""
    return BLOB_HEADER_BYTES + plain_size + TAG_BYTES * chunk_count(plain_size, chunk_size)


def plaintext_size(blob_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Plaintext length for a blob length; FormatError if no plaintext has that blob length."""
    body = blob_size - BLOB_HEADER_BYTES
    if body < TAG_BYTES:
        raise FormatError("blob is too short")
    chunks = -(-body // (chunk_size + TAG_BYTES))
    plain = body - TAG_BYTES * chunks
    if plain < 0 or ciphertext_size(plain, chunk_size) != blob_size:
        raise FormatError("blob length is impossible for its chunk size")
    return plain


@dataclass(frozen=True)
class BlobHeader:
    """The 24 bytes that open every blob."""

    chunk_size: int
    prefix: bytes

    def to_bytes(self) -> bytes:
        """Serialise."""
        return BLOB_MAGIC + struct.pack(">I", self.chunk_size) + self.prefix

    @classmethod
    def parse(cls, data: bytes) -> BlobHeader:
        """Parse and check magic and chunk size."""
        if len(data) < BLOB_HEADER_BYTES or data[:4] != BLOB_MAGIC:
            raise FormatError("not a v1 blob (bad magic)")
        (chunk_size,) = struct.unpack(">I", data[4:8])
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise FormatError("blob chunk size out of range")
        return cls(chunk_size, bytes(data[8:BLOB_HEADER_BYTES]))


def _kind_byte(kind: str) -> bytes:
    try:
        return bytes([BLOB_KINDS[kind]])
    except KeyError:
        raise FormatError(f"unknown blob kind {kind!r}") from None


def _chunk_nonce(header: BlobHeader, index: int) -> bytes:
    return header.prefix + struct.pack(">Q", index)


def _chunk_ad(header: BlobHeader, file_id: str, kind: str, last: bool) -> bytes:
    return header.to_bytes() + b64d(file_id, ID_BYTES) + _kind_byte(kind) + (b"\x01" if last else b"\x00")


def encrypt_chunk(file_key: bytes, file_id: str, kind: str, header: BlobHeader, index: int, chunk: bytes, last: bool) -> bytes:
    """Encrypt one chunk of a blob."""
    return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        chunk, _chunk_ad(header, file_id, kind, last), _chunk_nonce(header, index), file_key
    )


def decrypt_chunk(file_key: bytes, file_id: str, kind: str, header: BlobHeader, index: int, chunk: bytes, last: bool) -> bytes:
    """Decrypt one chunk on its own: the basis of random access."""
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            chunk, _chunk_ad(header, file_id, kind, last), _chunk_nonce(header, index), file_key
        )
    except CryptoError as exc:
        raise DecryptionError(f"chunk {index} failed to authenticate") from exc


def _read_full(stream: BinaryIO, size: int) -> bytes:
    parts, want = [], size
    while want:
        part = stream.read(want)
        if not part:
            break
        parts.append(part)
        want -= len(part)
    return b"".join(parts)


def encrypt_blob(
    file_key: bytes,
    file_id: str,
    kind: str,
    stream: BinaryIO,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    prefix: bytes | None = None,
) -> Iterator[bytes]:
    """Yield the header, then each encrypted chunk, reading the plaintext once."""
    header = BlobHeader(chunk_size, os.urandom(BLOB_PREFIX_BYTES) if prefix is None else prefix)
    yield header.to_bytes()
    index, current = 0, _read_full(stream, chunk_size)
    while True:
        # Read one chunk ahead: the last chunk is only known once the next read is empty.
        following = _read_full(stream, chunk_size) if len(current) == chunk_size else b""
        last = not following
        yield encrypt_chunk(file_key, file_id, kind, header, index, current, last)
        if last:
            return
        index, current = index + 1, following


def encrypt_blob_bytes(file_key: bytes, file_id: str, kind: str, data: bytes, **kwargs) -> bytes:
    """encrypt_blob for data already in memory."""
    return b"".join(encrypt_blob(file_key, file_id, kind, io.BytesIO(data), **kwargs))


def decrypt_blob(file_key: bytes, file_id: str, kind: str, stream: BinaryIO) -> Iterator[bytes]:
    """Yield plaintext chunks; DecryptionError on any tampering, truncation or trailing data."""
    header = BlobHeader.parse(_read_full(stream, BLOB_HEADER_BYTES))
    size = header.chunk_size + TAG_BYTES
    index, current = 0, _read_full(stream, size)
    if len(current) < TAG_BYTES:
        raise DecryptionError("blob is truncated (no chunks)")
    while True:
        following = _read_full(stream, size) if len(current) == size else b""
        last = not following
        yield decrypt_chunk(file_key, file_id, kind, header, index, current, last)
        if last:
            return
        index, current = index + 1, following


def decrypt_blob_bytes(file_key: bytes, file_id: str, kind: str, blob: bytes) -> bytes:
    """decrypt_blob for a blob already in memory."""
    return b"".join(decrypt_blob(file_key, file_id, kind, io.BytesIO(blob)))


@dataclass(frozen=True)
class ChunkSpan:
    """Which ciphertext bytes hold a plaintext range [start, end)."""

    first: int  # first chunk index
    last: int  # last chunk index (inclusive)
    ct_start: int  # byte offset in the blob
    ct_end: int  # exclusive
    skip: int  # plaintext bytes to drop from the first chunk


def chunk_span(start: int, end: int, blob_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ChunkSpan:
    """Map a plaintext byte range to the chunks that hold it, for a Range request."""
    plain = plaintext_size(blob_size, chunk_size)
    if not 0 <= start < end <= plain:
        raise FormatError("range outside the plaintext")
    first, last = start // chunk_size, (end - 1) // chunk_size
    stride = chunk_size + TAG_BYTES
    ct_start = BLOB_HEADER_BYTES + first * stride
    ct_end = min(BLOB_HEADER_BYTES + (last + 1) * stride, blob_size)
    return ChunkSpan(first, last, ct_start, ct_end, start - first * chunk_size)


def check_blob_shape(head: bytes, blob_size: int) -> BlobHeader:
    """What the server can check without keys: magic, chunk size, and a possible length."""
    header = BlobHeader.parse(head)
    plaintext_size(blob_size, header.chunk_size)
    return header
