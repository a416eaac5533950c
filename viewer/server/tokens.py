"""Signed, short-lived tokens: unlock challenges and access tokens.

All are itsdangerous signatures (HMAC-SHA1 over the payload with a per-purpose
salt, itsdangerous docs "Signing Interface") keyed with the app's SECRET_KEY, so
any app server can check them without shared state. They are signed with the first
key and checked with every key listed, so the secret can be rotated. They are opaque to clients.
Each purpose has its own salt, so a token of one kind never passes as another
(itsdangerous docs, "The Salt").

Owner tokens are different: random bearer secrets, of which the database keeps
only a SHA-256, so a database leak does not hand out owner access.
"""

from __future__ import annotations

import hashlib
import os

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .. import crypto


def secret_keys() -> list[str]:
    """Every configured secret, the signing one first, then those still accepted (docs/design.md, "The secret key")."""
    config = current_app.config
    return [config["SECRET_KEY"], *config.get("SECRET_KEY_FALLBACKS", ())]


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    # itsdangerous takes "a list of keys, oldest to newest", signs with the newest and accepts any (Serializer docs).
    return URLSafeTimedSerializer(list(reversed(secret_keys())), salt=f"fragment.{purpose}")


def new_challenge(link_id: str) -> str:
    """A fresh, signed, timestamped challenge for one link."""
    return _serializer("challenge").dumps([link_id, crypto.b64e(os.urandom(16))])


def check_challenge(challenge: object, link_id: str) -> str | None:
    """The challenge's random nonce if it is ours, for this link, and not older than CHALLENGE_TTL; else None.

    The signature alone allows replays within the TTL; the caller makes the challenge
    single-use by recording the nonce (policy.spend_challenge).
    """
    if not isinstance(challenge, str) or len(challenge) > 200 or not challenge.isascii():
        return None
    try:
        data = _serializer("challenge").loads(challenge, max_age=current_app.config["CHALLENGE_TTL"])
    except (BadSignature, SignatureExpired):
        return None
    if isinstance(data, list) and len(data) == 2 and data[0] == link_id and crypto.is_id(data[1]):
        return data[1]
    return None


def new_access_token(link_id: str, version: int, device_id: str) -> str:
    """An access token bound to link, link version and device."""
    return _serializer("access").dumps({"l": link_id, "v": version, "d": device_id})


class TokenProblem(Exception):
    """Why an access token was refused: 'expired', 'stale' or 'invalid'."""


def read_access_token(token: str, link_id: str, version: int) -> dict:
    """The token's payload, or TokenProblem."""
    try:
        data = _serializer("access").loads(token, max_age=current_app.config["ACCESS_TOKEN_TTL"])
    except SignatureExpired:
        raise TokenProblem("expired") from None
    except BadSignature:
        raise TokenProblem("invalid") from None
    if not isinstance(data, dict) or data.get("l") != link_id:
        raise TokenProblem("invalid")
    if data.get("v") != version:
        raise TokenProblem("stale")
    return data


def new_owner_token() -> str:
    """A fresh owner token (shown once, stored hashed)."""
    return "fo_" + crypto.b64e(os.urandom(32))


def hash_owner_token(token: str) -> str:
    """What the database keeps of an owner token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
