"""Link policy: what the server checks on every request to a link.

Nothing here is cached: each request reloads the link row, so expiry, revocation,
password changes and device admission take effect on the very next request
(DESIGN.md, "Link policy, enforced by the server").

Attempt limits are checked before a proof is verified, and also when a challenge
is handed out, so a locked-out client is refused before it spends time on Argon2
and before the server does any work beyond one indexed count (OWASP Authentication
Cheat Sheet, "Protect Against Automated Attacks").
"""

from __future__ import annotations

from flask import current_app, request
from sqlalchemy import delete, func, select, update

from . import crypto, db, tokens
from .errors import ApiError
from .inputs import check_id, iso


def client_address() -> str:
    """The client's address, trusting X-Forwarded-For only as far as TRUST_PROXY says."""
    hops = current_app.config["TRUST_PROXY"]
    if hops:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops][:64]
    return (request.remote_addr or "unknown")[:64]


def load_link(link_id: str, *, lock: bool = False) -> db.Link:
    """The link, or the clear refusal every request on a dead link gets."""
    check_id(link_id, "link id")
    query = select(db.Link).where(db.Link.id == link_id)
    link = db.session().scalars(query).first()
    if link is None:
        raise ApiError(404, "not_found", "This link does not exist. Check that you copied all of it.")
    if link.revoked_at is not None:
        raise ApiError(410, "revoked", "The owner has revoked this link.")
    if link.expires_at is not None and db.now() >= link.expires_at:
        raise ApiError(410, "expired", f"This link expired on {iso(link.expires_at)}.")
    return link


def public_info(link: db.Link) -> dict:
    """All that someone who knows only the link id may learn."""
    return {
        "link_id": link.id,
        "format": crypto.FORMAT_VERSION,
        "password": password_params(link),
        "expires_at": iso(link.expires_at),
        "downloads": link.downloads,
        "uploads": link.uploads,
        "upload_only": link.upload_only,
        "device_limit": link.device_limit,
    }


def password_params(link: db.Link) -> dict | None:
    """The public Argon2id parameters, or None for a link without a password."""
    if link.pw_salt is None:
        return None
    return crypto.PasswordParams(link.pw_salt, link.pw_opslimit, link.pw_memlimit).to_json()


def check_attempts(link_id: str) -> None:
    """429 when this link or this client has failed too often lately."""
    config = current_app.config
    since = db.now() - config["UNLOCK_WINDOW_SECONDS"]
    session = db.session()
    per_link = session.scalar(
        select(func.count()).select_from(db.UnlockFailure).where(db.UnlockFailure.link_id == link_id, db.UnlockFailure.at >= since)
    )
    per_client = session.scalar(
        select(func.count()).select_from(db.UnlockFailure).where(db.UnlockFailure.client == client_address(), db.UnlockFailure.at >= since)
    )
    if per_link >= config["UNLOCK_MAX_FAILURES_PER_LINK"] or per_client >= config["UNLOCK_MAX_FAILURES_PER_CLIENT"]:
        minutes = max(1, config["UNLOCK_WINDOW_SECONDS"] // 60)
        raise ApiError(
            429,
            "too_many_attempts",
            f"Too many wrong attempts. Wait {minutes} minutes before trying again.",
            headers={"Retry-After": str(config["UNLOCK_WINDOW_SECONDS"])},
        )


def record_failure(link_id: str) -> None:
    """Count one failed unlock, and forget failures older than the window."""
    session = db.session()
    session.execute(delete(db.UnlockFailure).where(db.UnlockFailure.at < db.now() - current_app.config["UNLOCK_WINDOW_SECONDS"]))
    session.add(db.UnlockFailure(link_id=link_id, client=client_address()))
    session.commit()


def admit_device(link: db.Link, device_token: object) -> str:
    """The admitted device id: known by its token, or given a new slot if one is free."""
    device_id = tokens.read_device_token(device_token, link.id)
    if device_id is not None:
        return device_id
    if link.device_limit is not None:
        session = db.session()
        # One conditional UPDATE: atomic in SQLite and PostgreSQL, so concurrent
        # unlocks cannot take more slots than the limit.
        taken = session.execute(
            update(db.Link)
            .where(db.Link.id == link.id, db.Link.devices_used < db.Link.device_limit)
            .values(devices_used=db.Link.devices_used + 1)
        ).rowcount
        session.commit()
        if taken != 1:
            raise ApiError(
                403,
                "device_limit",
                f"This link can be opened on {link.device_limit} device(s), and all are taken. Ask the owner for a new link.",
            )
    return crypto.new_id()


def bearer() -> str | None:
    """The bearer token of the request, if any."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None
    return None


def authorize(link_id: str) -> tuple[db.Link, dict]:
    """Load the link and check the request's access token against it."""
    link = load_link(link_id)
    token = bearer()
    if token is None:
        raise ApiError(401, "unauthorized", "Unlock the link first: this needs an access token.")
    try:
        claims = tokens.read_access_token(token, link.id, link.version)
    except tokens.TokenProblem as problem:
        messages = {
            "expired": ("token_expired", "Your access has timed out. Open the link again."),
            "stale": ("token_stale", "The owner changed this link's settings. Open the link again."),
            "invalid": ("unauthorized", "The access token is not valid for this link."),
        }
        code, message = messages[str(problem)]
        raise ApiError(401, code, message) from None
    return link, claims
