"""Accounts on the server: e-mail addresses, login-key hashes, attempt counters, quotas, invitations.

The server never sees a password. It sees a login key (docs/format.md, "Accounts"), keeps
only its argon2-cffi hash, and hands the sealed master key only to a client that proved the
login key. What it stores is in docs/format.md, "What the server stores"; why, in
docs/design.md, "Accounts".
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g
from sqlalchemy import func, select, update

from .. import crypto
from . import db, policy
from .errors import ApiError, bad_request
from .inputs import iso

MAX_EMAIL = 254  # RFC 5321's path limit, less the angle brackets
# Deliberately loose (one @, a dot in the domain, no spaces): the only real check of an
# address is mail reaching it, and a stricter pattern refuses addresses that work (RFC 5322).
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
SEALED_BYTES = crypto.WRAPPED_KEY_BYTES  # every sealed account value: nonce, 32 bytes, tag
PUBLIC_KEY_BYTES = 32


@cache
def hasher() -> PasswordHasher:
    """The hasher of login keys.

    A login key is 256 random bits, so no cost makes it guessable or not; the hash exists so a
    copy of the database cannot be replayed to sign in (docs/format.md). The cost is therefore
    OWASP's minimum for Argon2id (m=19 MiB, t=2, p=1; Password Storage Cheat Sheet), not more,
    so that sign-ins do not tie up the server.
    """
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_login_key(login_key: bytes) -> str:
    """The PHC string the database keeps of a login key."""
    return hasher().hash(login_key)


@cache
def _decoy_hash() -> str:
    # Checked against when the address has no account, so that the answer takes as long.
    return hash_login_key(os.urandom(32))


def verify(stored: str | None, login_key: bytes) -> bool:
    """Whether `login_key` matches the stored hash (None: an unknown address, checked against a decoy)."""
    try:
        return hasher().verify(stored or _decoy_hash(), login_key) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def normalize_email(value: object) -> str:
    """The address as the database keys it: NFC, trimmed, lower case; 400 if it cannot be one."""
    if not isinstance(value, str):
        raise bad_request("Give an e-mail address.", "bad_email")
    email = unicodedata.normalize("NFC", value).strip().lower()
    if len(email) > MAX_EMAIL or not EMAIL_PATTERN.match(email):
        raise bad_request("This is not an e-mail address.", "bad_email")
    return email


def email_key(email: str) -> str:
    """A fixed-length key for counters of one address, known or not (it keeps the address out of that table)."""
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def by_email(email: str) -> db.Account | None:
    """The account with this (normalised) address."""
    return db.session().scalars(select(db.Account).where(db.Account.email == email)).first()


def params_of(account: db.Account) -> crypto.PasswordParams:
    """The account's Argon2id parameters."""
    return crypto.PasswordParams(account.pw_salt, account.pw_opslimit, account.pw_memlimit)


def decoy_params(email: str) -> crypto.PasswordParams:
    """Made-up parameters for an address without an account: the same for the same address every time.

    So the parameters step does not tell who has an account (docs/format.md, "Sign-in"). The
    salt is an HMAC of the address under the server's secret, so nobody else can predict it;
    under the signing key only, so it changes once when the key is rotated (docs/design.md, "The secret key").
    """
    key = current_app.config["SECRET_KEY"].encode()
    salt = hmac.new(key, f"fragment.decoy-salt:{email}".encode(), hashlib.sha256).digest()[: crypto.SALT_BYTES]
    return crypto.PasswordParams(salt)


def parse_params(data: dict, name: str = "params") -> crypto.PasswordParams:
    """Argon2id parameters of a request, at or above the floor (docs/format.md, "Argon2id floor")."""
    raw = data.get(name)
    if not isinstance(raw, dict):
        raise bad_request(f"`{name}` must be the Argon2id parameters.", "bad_field")
    try:
        return crypto.PasswordParams.from_json(raw)
    except crypto.WeakPasswordParams:
        raise bad_request(
            f"The password parameters are below the floor (opslimit {crypto.PW_OPSLIMIT_MIN}, "
            f"memlimit {crypto.PW_MEMLIMIT_MIN} bytes).",
            "weak_params",
        ) from None
    except crypto.FormatError as exc:
        raise bad_request(f"The password parameters are not valid: {exc}.", "bad_field") from None


# --- attempts ----------------------------------------------------------------------
# Wrong login keys and recovery keys are counted as wrong link passwords are (policy.py):
# per (address, client) and per address, with doubling delays rather than a lockout that
# anyone could set off (OWASP Authentication Cheat Sheet, "Account Lockout"). Addresses
# without an account are counted too, so the answers do not tell them apart.


def _counters(email: str) -> list[tuple[str, int]]:
    config = current_app.config
    key = email_key(email)
    return [
        (f"login-client:{key}:{policy.client_address()}", config["LOGIN_FREE_ATTEMPTS_PER_CLIENT"]),
        (f"login:{key}", config["LOGIN_FREE_ATTEMPTS_PER_ACCOUNT"]),
    ]


def check_login_key(email: str, account: db.Account | None, login_key: bytes, *, recovery: bool = False) -> db.Account:
    """The account if `login_key` (or the recovery login key) is right; else 401, after counting the attempt.

    The attempt is claimed before the hash is checked, so a burst of guesses is checked no more
    often than the counters allow, and a right key gives the claim back.
    """
    policy.claim_counters(_counters(email))
    stored = None if account is None else (account.recovery_hash if recovery else account.login_hash)
    if account is None or not verify(stored, login_key):
        if recovery:
            raise ApiError(401, "wrong_recovery_key", "The e-mail address or the recovery key is not right.")
        raise ApiError(401, "wrong_login", "The e-mail address or the password is not right.")
    (client_key, _), (shared_key, _) = _counters(email)
    policy.forgive_counters(client_key, shared_key)
    # The hash that was checked, for a change that must not undo another device's (api_account._new_password).
    g.verified_hash = stored
    return account


# --- quota -------------------------------------------------------------------------


def quota_of(account: db.Account) -> int:
    """The account's storage limit in bytes."""
    return current_app.config["ACCOUNT_QUOTA_BYTES"] if account.quota_bytes is None else account.quota_bytes


def take_bytes(account_id: str, total: int) -> bool:
    """Count `total` bytes against the account in one conditional UPDATE; whether they fit. The caller commits."""
    quota = func.coalesce(db.Account.quota_bytes, current_app.config["ACCOUNT_QUOTA_BYTES"])
    return (
        db.rowcount(
            db.session().execute(
                update(db.Account)
                .where(db.Account.id == account_id, db.Account.bytes_used + total <= quota)
                .values(bytes_used=db.Account.bytes_used + total)
                .execution_options(synchronize_session=False)
            )
        )
        == 1
    )


def give_back_bytes(album_id: str, total: int) -> None:
    """Give `total` bytes back to the account of the album, if it has one. The caller commits.

    Called only by the request that won a file's deletion, so bytes come back exactly once.
    """
    owner = select(db.Album.account_id).where(db.Album.id == album_id).scalar_subquery()
    db.session().execute(
        update(db.Account)
        .where(db.Account.id == owner)
        .values(bytes_used=db.Account.bytes_used - total)
        .execution_options(synchronize_session=False)
    )


# --- invitations -------------------------------------------------------------------


def new_invitation() -> str:
    """A fresh sign-up code (shown once, stored hashed); the caller commits."""
    code = crypto.b64e(os.urandom(18))
    now = db.now()
    db.session().add(
        db.Invitation(code_hash=_code_hash(code), created_at=now, expires_at=now + current_app.config["INVITE_SECONDS"])
    )
    return code


def _code_hash(code: str) -> str:
    return hashlib.sha256(f"fragment.invite:{code}".encode("utf-8", "replace")).hexdigest()


def use_invitation(code: object, account_id: str) -> None:
    """Spend a sign-up code for the (flushed) account in one conditional UPDATE, or 403."""
    spent = 0
    if isinstance(code, str) and 0 < len(code) <= 100:
        invitation = db.Invitation
        spent = db.rowcount(
            db.session().execute(
                update(invitation)
                .where(
                    invitation.code_hash == _code_hash(code.strip()),
                    invitation.used_by.is_(None),
                    invitation.expires_at > db.now(),
                )
                .values(used_by=account_id, used_at=db.now())
                .execution_options(synchronize_session=False)
            )
        )
    if spent != 1:
        raise ApiError(
            403, "bad_invitation", "This invitation is not valid: it was used already, it has expired, or it is mistyped."
        )


# --- views -------------------------------------------------------------------------


def account_json(account: db.Account) -> dict:
    """What the signed-in owner's client gets: public values and ciphertext (never a hash)."""
    return {
        "account_id": account.id,
        "email": account.email,
        "params": params_of(account).to_json(),
        "sealed_mk": crypto.b64e(account.sealed_mk),
        "sealed_identity": crypto.b64e(account.sealed_identity),
        "box_pk": crypto.b64e(account.box_pk),
        "sign_pk": crypto.b64e(account.sign_pk),
        "is_admin": account.is_admin,
        "quota_bytes": quota_of(account),
        "bytes_used": account.bytes_used,
        "created_at": iso(account.created_at),
    }
