"""Who is asking: an account's signed-in session (a cookie), or an owner token (a bearer header).

Sessions are random secrets in an HttpOnly cookie; the database keeps only their SHA-256, so
a copy of it signs no one in (as for owner tokens). The cookie is ``SameSite=Lax`` and, over
https, ``Secure`` (OWASP Session Management Cheat Sheet, "Cookies").

Every state-changing request made with the cookie must also carry the session's CSRF token
in ``X-CSRF-Token``: an HMAC of the session's id under the server's secret, so it needs no
storage and no other session's token passes (OWASP CSRF Prevention Cheat Sheet,
"Synchronizer Token Pattern" and "Signed Double-Submit Cookie"). A cross-site form cannot set
that header, and a cross-site ``fetch`` with it needs a CORS preflight this server never
grants. As a second line, requests that a browser marks as cross-site (``Sec-Fetch-Site``,
W3C Fetch Metadata) or that come with another ``Origin`` are refused before anything else,
which also covers sign-in and sign-up, where there is no session yet ("login CSRF").

A bearer token is never sent by a browser on its own, so requests that carry one need no
CSRF token (OWASP CSRF Prevention Cheat Sheet, "Employing Custom Request Headers for AJAX/API").
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Response, current_app, g, request
from sqlalchemy import delete, select, update

from .. import crypto
from . import db, tokens
from .errors import ApiError
from .policy import bearer

COOKIE = "fragment_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_seen_at is written at most this often, so reading pages does not turn into a write each time.
TOUCH_SECONDS = 60


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def csrf_token(session_id: str, key: str | None = None) -> str:
    """The CSRF token of one session (sent in X-CSRF-Token), under the signing secret or `key`."""
    secret = (key or current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, f"fragment.csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def _secure() -> bool:
    """Whether the cookie gets Secure: the request came over https, or the public URL is https."""
    public = current_app.config["PUBLIC_URL"] or ""
    return request.is_secure or public.startswith("https://")


def _expected_origin() -> str:
    public = current_app.config["PUBLIC_URL"]
    parts = urlsplit(public if public else request.host_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_same_origin() -> None:
    """403 for a request a browser made from another site (Fetch Metadata, then Origin)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise ApiError(403, "cross_site", "This request came from another site and was refused.")
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null" and origin.rstrip("/").lower() != _expected_origin():
        raise ApiError(403, "cross_site", "This request came from another site and was refused.")


_BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Mac OS X", "macOS"), ("Windows", "Windows"))


def device_label(explicit: object = None) -> str:
    """A short, human name for the signing-in device: the client's own, or one read off its User-Agent."""
    if isinstance(explicit, str) and explicit.strip():
        return re.sub(r"\s+", " ", explicit.strip())[:80]
    agent = request.headers.get("User-Agent", "")
    if agent.startswith(("fragment/", "fragment-cli/")):
        return "Command line"
    browser = next((name for token, name in _BROWSERS if token in agent), "A browser")
    system = next((name for token, name in _SYSTEMS if token in agent), "Linux" if "Linux" in agent else None)
    return f"{browser} on {system}" if system else browser


def start_session(account_id: str, label: object = None) -> tuple[db.AccountSession, str]:
    """A new signed-in session for the account and the secret for its cookie; the caller commits."""
    secret = "fs_" + crypto.b64e(os.urandom(32))
    now = db.now()
    row = db.AccountSession(
        id=crypto.new_id(),
        token_hash=_hash(secret),
        account_id=account_id,
        label=device_label(label),
        created_at=now,
        last_seen_at=now,
        expires_at=now + current_app.config["SESSION_SECONDS"],
    )
    db.session().add(row)
    return row, secret


def set_cookie(response: Response, secret: str) -> Response:
    """Give the browser its session cookie."""
    response.set_cookie(
        COOKIE,
        secret,
        max_age=current_app.config["SESSION_SECONDS"],
        path="/",
        secure=_secure(),
        httponly=True,
        samesite="Lax",
    )
    return response


def clear_cookie(response: Response) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(COOKIE, path="/", secure=_secure(), httponly=True, samesite="Lax")


def current_session() -> db.AccountSession | None:
    """The request's live session, from its cookie, or None; a used session lives SESSION_SECONDS longer."""
    if "account_session" in g:
        return g.account_session
    found: db.AccountSession | None = None
    secret = request.cookies.get(COOKIE)
    if secret and len(secret) < 200:
        session = db.session()
        now = db.now()
        found = session.scalars(
            select(db.AccountSession).where(db.AccountSession.token_hash == _hash(secret), db.AccountSession.expires_at > now)
        ).first()
        if found is not None and found.last_seen_at < now - TOUCH_SECONDS:
            session.execute(
                update(db.AccountSession)
                .where(db.AccountSession.id == found.id)
                .values(last_seen_at=now, expires_at=now + current_app.config["SESSION_SECONDS"])
                .execution_options(synchronize_session=False)
            )
            session.commit()
            found.last_seen_at = now
    g.account_session = found
    return found


def check_csrf(session_id: str) -> None:
    """403 unless a state-changing request carries this session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER, "").encode("utf-8", "replace")
    # A token made under a key being rotated out still counts (docs/design.md, "The secret key").
    if not any(hmac.compare_digest(given, csrf_token(session_id, key).encode()) for key in tokens.secret_keys()):
        raise ApiError(
            403, "csrf", f"This request needs the {CSRF_HEADER} header of your sign-in. Reload the page and try again."
        )


def require_session() -> tuple[db.Account, db.AccountSession]:
    """The signed-in account and its session (CSRF-checked), or 401."""
    check_same_origin()
    row = current_session()
    if row is None:
        raise ApiError(401, "signed_out", "You are not signed in, or your sign-in has ended. Sign in again.")
    check_csrf(row.id)
    account = db.session().get(db.Account, row.account_id)
    if account is None:
        raise ApiError(401, "signed_out", "You are not signed in, or your sign-in has ended. Sign in again.")
    return account, row


@dataclass(frozen=True)
class Owner:
    """Who manages albums in this request: an account, or (``account_id`` None) a token of no account."""

    account_id: str | None
    via: str  # "token" or "session"


def require_owner() -> Owner:
    """The owner of this owner-API request: a bearer owner token, else a signed-in session; or 401."""
    token = bearer()
    if token is not None:
        digest = tokens.hash_owner_token(token)
        row = (
            db.session()
            .execute(select(db.OwnerToken.token_hash, db.OwnerToken.account_id).where(db.OwnerToken.token_hash == digest))
            .first()
        )
        # Compared again in constant time, so the answer's timing says nothing about the hash.
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            raise ApiError(401, "unauthorized", "The owner token is not valid on this server.")
        return Owner(row.account_id, "token")
    if request.cookies.get(COOKIE):
        account, _row = require_session()
        return Owner(account.id, "session")
    raise ApiError(401, "unauthorized", "Sign in, or send an owner token: Authorization: Bearer <token>.")


def end_sessions(account_id: str, keep: str | None = None) -> int:
    """Sign the account out everywhere (but `keep`); the caller commits. How many sessions ended."""
    query = delete(db.AccountSession).where(db.AccountSession.account_id == account_id)
    if keep is not None:
        query = query.where(db.AccountSession.id != keep)
    return db.rowcount(db.session().execute(query))
