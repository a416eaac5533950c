"""Link policy: what the server checks on every request to a link.

Nothing here is cached: each request reloads the link row, so expiry, revocation,
password changes and device admission take effect on the very next request
(docs/design.md, "Link policy, enforced by the server").

Password attempts are claimed on two counters before the password proof is checked, and
peeked at when a challenge is handed out, so a client that must wait is refused before it
spends time on Argon2 (OWASP Authentication Cheat Sheet, "Protect Against Automated Attacks").
Nothing is counted for a request without the link secret: its link proof fails first.
"""

from __future__ import annotations

import secrets

from flask import current_app, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from .. import crypto
from . import db, tokens
from .errors import ApiError, bad_request
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
        # expired_at lets a page say when in the visitor's own words and time zone (issue 15).
        raise ApiError(410, "expired", f"This link expired on {iso(link.expires_at)}.", expired_at=iso(link.expires_at))
    return link


def password_params(link: db.Link) -> dict | None:
    """The public Argon2id parameters, or None for a link without a password."""
    if link.pw_salt is None:
        return None
    # The owner API stores the salt and both limits together (api_owner._password).
    if link.pw_opslimit is None or link.pw_memlimit is None:
        raise RuntimeError(f"link {link.id} has a password salt but no Argon2id limits")
    return crypto.PasswordParams(link.pw_salt, link.pw_opslimit, link.pw_memlimit).to_json()


# --- attempt counters -----------------------------------------------------------------
# Only wrong passwords from holders of the link secret are counted (the link proof comes first),
# per link and per (link, client), with delays that double rather than one long lock (OWASP
# Authentication Cheat Sheet, "Account Lockout": a lockout others can trigger is a denial of
# service, and an exponentially growing wait limits guessing without one). Each claim is a conditional UPDATE on a row
# locked for the transaction, so a burst of concurrent requests is checked at most as often
# as the counter allows, on SQLite (one writer at a time) and PostgreSQL (SELECT ... FOR UPDATE).


def _insert():
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING (SQLite and PostgreSQL alike)."""
    return db.dialect_insert(db.session())


def _counters(link_id: str) -> list[tuple[str, int]]:
    """The two counters of an attempt on this link by this client, with their free attempts, in lock order."""
    config = current_app.config
    return [
        (f"client:{link_id}:{client_address()}", config["UNLOCK_FREE_ATTEMPTS_PER_CLIENT"]),
        (f"link:{link_id}", config["UNLOCK_FREE_ATTEMPTS_PER_LINK"]),
    ]


def delay(failures: int, free: int) -> int:
    """Seconds to wait after the `failures`-th counted wrong password: none while free, then 1, 2, 4... up to the cap."""
    if failures < free:
        return 0
    return min(current_app.config["UNLOCK_MAX_DELAY"], 2 ** min(failures - free, 30))


def _wait_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    if seconds <= 90 * 60:
        minutes = -(-seconds // 60)
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    hours = -(-seconds // 3600)
    return f"{hours} hour{'' if hours == 1 else 's'}"


def too_many(seconds: int) -> ApiError:
    """429 with Retry-After (RFC 9110 section 10.2.3) and the wait in words."""
    seconds = max(1, int(seconds))
    return ApiError(
        429,
        "too_many_attempts",
        f"Too many wrong passwords. Try again in {_wait_words(seconds)}.",
        headers={"Retry-After": str(seconds)},
        retry_after=seconds,
    )


def peek_attempts(link: db.Link) -> None:
    """429 if this client would have to wait before its next password is checked (nothing is claimed)."""
    if link.pw_salt is not None:
        peek_counters([key for key, _free in _counters(link.id)])


def peek_counters(keys: list[str]) -> None:
    """429 if any of these counters makes its next attempt wait (nothing is claimed)."""
    now = db.now()
    forget = now - current_app.config["UNLOCK_FORGET_SECONDS"]
    rows = (
        db.session()
        .execute(
            select(db.UnlockCounter.next_at).where(
                db.UnlockCounter.key.in_(keys), db.UnlockCounter.last_at >= forget, db.UnlockCounter.next_at > now
            )
        )
        .all()
    )
    if rows:
        raise too_many(max(row.next_at for row in rows) - now)


def claim_attempt(link_id: str) -> None:
    """Count one password attempt on both counters, in one transaction, or 429 if either must wait."""
    claim_counters(_counters(link_id))


def claim_counters(counters: list[tuple[str, int]]) -> None:
    """Count one attempt on each (key, free attempts) counter, in one transaction, or 429 if any must wait.

    Counters are taken in the order given; callers give them in one fixed order (client first),
    so two transactions never wait for each other's rows.
    """
    session = db.session()
    now = db.now()
    forget = now - current_app.config["UNLOCK_FORGET_SECONDS"]
    counter = db.UnlockCounter
    try:
        for key, free in counters:
            # The INSERT also takes SQLite's write lock, so the rest of the transaction runs alone.
            session.execute(
                _insert()(counter)
                .values(key=key, failures=0, next_at=0, last_at=0)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            for _ in range(5):
                row = session.execute(
                    select(counter.failures, counter.next_at, counter.last_at).where(counter.key == key).with_for_update()
                ).one()
                if row.next_at > now:
                    raise too_many(row.next_at - now)
                failures = (row.failures if row.last_at >= forget else 0) + 1
                claimed = db.rowcount(
                    session.execute(
                        update(counter)
                        .where(counter.key == key, counter.failures == row.failures, counter.last_at == row.last_at)
                        .where(counter.next_at <= now)
                        .values(failures=failures, next_at=now + delay(failures, free), last_at=now)
                        .execution_options(synchronize_session=False)
                    )
                )
                if claimed == 1:
                    break
            else:
                raise too_many(1)
        session.commit()
    except BaseException:
        session.rollback()
        raise


def forgive_attempt(link_id: str) -> None:
    """The right password: this client starts again from zero, and the link gets its claimed attempt back."""
    (client_key, _), (link_key, _) = _counters(link_id)
    forgive_counters(client_key, link_key)


def forgive_counters(client_key: str, shared_key: str) -> None:
    """A right answer: the client's counter starts again from zero; the shared one gets its claimed attempt back."""
    session = db.session()
    counter = db.UnlockCounter
    session.execute(
        update(counter)
        .where(counter.key == client_key)
        .values(failures=0, next_at=0)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(counter)
        .where(counter.key == shared_key, counter.failures > 0)
        .values(failures=counter.failures - 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()


# --- allowances ------------------------------------------------------------------------------


def take_allowance(name: str, limit: int, window: int, message: str) -> None:
    """Count one use of `name` (e.g. ``invite:<account id>``) in the current window of `window` seconds, or 429.

    One conditional UPDATE (``WHERE failures < limit``) on the window's counter row, so concurrent
    requests can never take more than `limit` between them. `message` says what ran out; the answer
    adds when it comes back (Retry-After, RFC 9110 section 10.2.3). The caller commits. The rows live in
    unlock_counters (``failures`` counts the uses), so `flask cleanup` forgets them as it forgets those.
    """
    now = db.now()
    start = now - now % window
    key = f"{name}:{start}"
    counter = db.UnlockCounter
    session = db.session()
    session.execute(
        _insert()(counter).values(key=key, failures=0, next_at=0, last_at=now).on_conflict_do_nothing(index_elements=["key"])
    )
    taken = db.rowcount(
        session.execute(
            update(counter)
            .where(counter.key == key, counter.failures < limit)
            .values(failures=counter.failures + 1, last_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    if taken != 1:
        session.rollback()
        wait = max(1, start + window - now)
        raise ApiError(
            429,
            "too_many",
            f"{message} Try again in {_wait_words(wait)}.",
            headers={"Retry-After": str(wait)},
            retry_after=wait,
        )


# --- challenges ---------------------------------------------------------------------------


def spend_challenge(nonce: str) -> None:
    """Record a challenge as used; 401 if it was used before (a replayed unlock)."""
    session = db.session()
    try:
        session.execute(_insert()(db.SpentChallenge).values(nonce=nonce, at=db.now()))
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ApiError(401, "bad_challenge", "This unlock was already used. Try again.") from None
    if secrets.randbelow(64) == 0:  # now and then, so the table stays small without `cleanup`
        try:
            forget_spent_challenges()
        except DBAPIError:
            session.rollback()  # another request is deleting the same rows; it will finish the job


def forget_spent_challenges() -> int:
    """Delete spent challenges older than CHALLENGE_TTL: they fail the signature's age check anyway."""
    session = db.session()
    # A nonce is spent after its challenge was issued, so a row older than the TTL (plus a second
    # for the timestamps' rounding) belongs to a challenge that has expired.
    cutoff = db.now() - current_app.config["CHALLENGE_TTL"] - 1
    count = db.rowcount(session.execute(delete(db.SpentChallenge).where(db.SpentChallenge.at < cutoff)))
    session.commit()
    return count


# --- devices ------------------------------------------------------------------------------


def device_key(link: db.Link, data: dict) -> bytes | None:
    """The request's device public key (checked for shape only); 400 when a device-limited link lacks one."""
    raw = data.get("device_key")
    if raw is None:
        if link.device_limit is not None:
            raise ApiError(
                400,
                "device_key_required",
                "This link can be opened on a limited number of devices, so the unlock must carry this device's key. "
                "Update Fragment, or reload the page.",
            )
        return None
    try:
        return crypto.b64d(raw, crypto.KEY_BYTES)
    except crypto.FormatError:
        raise bad_request("The field 'device_key' must be a 32-byte Ed25519 public key in base64url.", "bad_field") from None


def _admitted(link_id: str, device_id: str) -> bool:
    return db.session().get(db.LinkDevice, (link_id, device_id), populate_existing=True) is not None


def admit_device(link: db.Link, key: bytes | None, challenge: str, proof: object) -> str:
    """The admitted device id: a key seen before, or a new slot if one is free (one transaction)."""
    if key is None:
        return crypto.new_id()
    if not crypto.verify_device_proof(key, link.id, challenge, proof):
        raise ApiError(401, "bad_device_proof", "This device's key did not sign the unlock. Reload the page and try again.")
    device_id = crypto.device_id(key)
    if link.device_limit is None or _admitted(link.id, device_id):
        return device_id
    session = db.session()
    limit = link.device_limit
    try:
        # One conditional UPDATE: atomic in SQLite and PostgreSQL, so concurrent unlocks
        # cannot take more slots than the limit; the device row is inserted with it.
        taken = db.rowcount(
            session.execute(
                update(db.Link)
                .where(db.Link.id == link.id, db.Link.devices_used < db.Link.device_limit)
                .values(devices_used=db.Link.devices_used + 1)
                .execution_options(synchronize_session=False)
            )
        )
        if taken == 1:
            session.add(db.LinkDevice(link_id=link.id, device_id=device_id))
            session.commit()
            return device_id
        session.rollback()
    except IntegrityError:
        session.rollback()
        return device_id  # a concurrent unlock with the same key admitted it first
    if _admitted(link.id, device_id):  # ... and took the last slot
        return device_id
    raise ApiError(403, "device_limit", device_limit_message(limit))


def device_limit_message(limit: int) -> str:
    """The one sentence a device that finds no slot left reads."""
    if limit == 1:
        return "This link can be opened on 1 device, and it is taken."
    return f"This link can be opened on {limit} devices, and all are taken."


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
    # A device-limited link admits only devices that still have their row, so removing
    # devices (a password change) takes effect on the very next request.
    if link.device_limit is not None and not (isinstance(claims.get("d"), str) and _admitted(link.id, claims["d"])):
        raise ApiError(401, "token_stale", "This device is no longer admitted to this link. Open the link again.")
    return link, claims
