"""The account API: sign-up, sign-in and sign-out, for the owner's browser and command line.

What travels is what docs/format.md, "Sign-up, sign-in, password change and recovery", says:
public parameters and keys, sealed values, and login keys, which the server hashes and
forgets (viewer/server/accounts.py). The session is a cookie (viewer/server/auth.py).
"""

from __future__ import annotations

import re

from flask import Blueprint, current_app, g, jsonify
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .. import crypto
from . import accounts, auth, db, tokens
from .errors import ApiError, bad_request, not_found
from .inputs import b64_field, check_id, iso, json_body

bp = Blueprint("account", __name__, url_prefix="/api/account")

KEY_BYTES = 32
SEALED_FIELDS = ("sealed_mk", "sealed_mk_rk", "sealed_rk", "sealed_identity")


def _signed_in(account: db.Account, row: db.AccountSession) -> dict:
    """What a signed-in client gets: its account, and the session's id and CSRF token."""
    return {"account": accounts.account_json(account), "session_id": row.id, "csrf_token": auth.csrf_token(row.id)}


@bp.post("/params")
def params():
    """The Argon2id parameters of an address: the account's, or stable made-up ones (docs/design.md, "Accounts")."""
    auth.check_same_origin()
    email = accounts.normalize_email(json_body().get("email"))
    account = accounts.by_email(email)
    found = accounts.params_of(account) if account is not None else accounts.decoy_params(email)
    return {"params": found.to_json()}


@bp.post("/signup")
def signup():
    auth.check_same_origin()
    data = json_body()
    email = accounts.normalize_email(data.get("email"))
    account_id = check_id(data.get("account_id"), "account id")
    chosen = accounts.parse_params(data)
    sealed = {name: b64_field(data, name, accounts.SEALED_BYTES) for name in SEALED_FIELDS}
    box_pk = b64_field(data, "box_pk", accounts.PUBLIC_KEY_BYTES)
    sign_pk = b64_field(data, "sign_pk", accounts.PUBLIC_KEY_BYTES)
    login_key = b64_field(data, "login_key", KEY_BYTES)
    recovery_login_key = b64_field(data, "recovery_login_key", KEY_BYTES)
    if login_key == recovery_login_key:
        raise ApiError(400, "bad_field", "The login key and the recovery login key must differ.")
    invite = current_app.config["SIGNUP"] == "invite"
    if invite and not isinstance(data.get("invitation"), str):
        raise ApiError(403, "invitation_needed", "This server takes new accounts by invitation only. Ask its operator for one.")
    session = db.session()
    account = db.Account(
        id=account_id,
        email=email,
        pw_salt=chosen.salt,
        pw_opslimit=chosen.opslimit,
        pw_memlimit=chosen.memlimit,
        login_hash=accounts.hash_login_key(login_key),
        recovery_hash=accounts.hash_login_key(recovery_login_key),
        box_pk=box_pk,
        sign_pk=sign_pk,
        is_admin=False,
        bytes_used=0,
        **sealed,
    )
    session.add(account)
    try:
        session.flush()  # a taken address or id fails here, before the invitation is spent
        if invite:
            accounts.use_invitation(data.get("invitation"), account_id)
        row, secret = auth.start_session(account_id, data.get("device"))
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ApiError(409, "exists", "An account with this e-mail address exists already. Sign in instead.") from None
    except BaseException:
        session.rollback()
        raise
    return auth.set_cookie(jsonify(_signed_in(account, row)), secret), 201


@bp.post("/login")
def login():
    auth.check_same_origin()
    data = json_body()
    email = accounts.normalize_email(data.get("email"))
    login_key = b64_field(data, "login_key", KEY_BYTES)
    account = accounts.check_login_key(email, accounts.by_email(email), login_key)
    row, secret = auth.start_session(account.id, data.get("device"))
    db.session().commit()
    return auth.set_cookie(jsonify(_signed_in(account, row)), secret)


@bp.get("")
def me():
    account, row = auth.require_session()
    return _signed_in(account, row)


@bp.get("/status")
def status():
    """Whether this browser is signed in, always with 200: for pages that only offer something to the
    signed in (a link's "Add to my albums"), so that a signed-out visit logs no failed request.

    Signed in, it answers as GET /api/account does (the CSRF token too: this tab may not have it
    yet). A page of another origin cannot read the answer (no CORS), and the session cookie is
    SameSite, so this gives nothing to another site.
    """
    auth.check_same_origin()
    row = auth.current_session()
    account = None if row is None else db.session().get(db.Account, row.account_id)
    if row is None or account is None:
        return {"signed_in": False}
    return {"signed_in": True, **_signed_in(account, row)}


@bp.post("/logout")
def logout():
    _account, row = auth.require_session()
    session = db.session()
    session.delete(row)
    session.commit()
    response = jsonify({"signed_out": True})
    auth.clear_cookie(response)
    return response


# --- password change and recovery ---------------------------------------------------------


def _new_password(account: db.Account, verified_hash: str, data: dict) -> None:
    """Replace the account's parameters, login hash and sealed MK (docs/format.md, "Password change").

    One conditional UPDATE on the hash that was just verified: if another device changed the
    password meanwhile, this one is refused rather than silently undoing it. The caller commits.
    """
    params = accounts.parse_params(data, "new_params")
    new_login_key = b64_field(data, "new_login_key", KEY_BYTES)
    sealed_mk = b64_field(data, "sealed_mk", accounts.SEALED_BYTES)
    changed = db.rowcount(
        db.session().execute(
            update(db.Account)
            .where(db.Account.id == account.id, db.Account.login_hash == verified_hash)
            .values(
                pw_salt=params.salt,
                pw_opslimit=params.opslimit,
                pw_memlimit=params.memlimit,
                login_hash=accounts.hash_login_key(new_login_key),
                sealed_mk=sealed_mk,
            )
            .execution_options(synchronize_session=False)
        )
    )
    if changed != 1:
        db.session().rollback()
        raise ApiError(409, "changed", "The password was changed from another device meanwhile. Sign in again.")


@bp.post("/password")
def change_password():
    """A new password, proved by the current one; every other device is signed out."""
    account, row = auth.require_session()
    data = json_body()
    login_key = b64_field(data, "login_key", KEY_BYTES)
    account = accounts.check_login_key(account.email, account, login_key)
    _new_password(account, g.verified_hash, data)
    ended = auth.end_sessions(account.id, keep=row.id)
    db.session().commit()
    db.session().refresh(account)
    return {**_signed_in(account, row), "sessions_ended": ended}


def _recovering(data: dict) -> db.Account:
    email = accounts.normalize_email(data.get("email"))
    recovery_login_key = b64_field(data, "recovery_login_key", KEY_BYTES)
    return accounts.check_login_key(email, accounts.by_email(email), recovery_login_key, recovery=True)


@bp.post("/recover")
def recover():
    """The master key sealed under the recovery key, for the holder of the recovery key ("Forgot password")."""
    auth.check_same_origin()
    account = _recovering(json_body())
    return {"account_id": account.id, "sealed_mk_rk": crypto.b64e(account.sealed_mk_rk)}


@bp.post("/recover/reset")
def recover_reset():
    """A new password, proved by the recovery key: every device is signed out, this one signed in."""
    auth.check_same_origin()
    data = json_body()
    account = _recovering(data)
    _new_password(account, account.login_hash, data)
    auth.end_sessions(account.id)
    row, secret = auth.start_session(account.id, data.get("device"))
    db.session().commit()
    db.session().refresh(account)
    return auth.set_cookie(jsonify(_signed_in(account, row)), secret)


@bp.post("/recovery-key")
def show_recovery_key():
    """The recovery key sealed under the master key, once the password has been typed again."""
    account, _row = auth.require_session()
    login_key = b64_field(json_body(), "login_key", KEY_BYTES)
    account = accounts.check_login_key(account.email, account, login_key)
    return {"sealed_rk": crypto.b64e(account.sealed_rk)}


# --- signed-in devices --------------------------------------------------------------------


@bp.get("/sessions")
def list_sessions():
    account, current = auth.require_session()
    rows = db.session().scalars(
        select(db.AccountSession)
        .where(db.AccountSession.account_id == account.id, db.AccountSession.expires_at > db.now())
        .order_by(db.AccountSession.last_seen_at.desc(), db.AccountSession.id)
    )
    return {
        "sessions": [
            {
                "session_id": row.id,
                "label": row.label,
                "created_at": iso(row.created_at),
                "last_seen_at": iso(row.last_seen_at),
                "expires_at": iso(row.expires_at),
                "current": row.id == current.id,
            }
            for row in rows
        ]
    }


@bp.delete("/sessions/<session_id>")
def end_session(session_id: str):
    """Sign one device out (this one too, which then forgets its cookie)."""
    account, current = auth.require_session()
    check_id(session_id, "session id")
    session = db.session()
    ended = db.rowcount(
        session.execute(
            delete(db.AccountSession).where(db.AccountSession.id == session_id, db.AccountSession.account_id == account.id)
        )
    )
    session.commit()
    if ended != 1:
        raise not_found("This signed-in device")
    response = jsonify({"signed_out": True})
    if session_id == current.id:
        auth.clear_cookie(response)
    return response


# --- owner tokens for scripts -------------------------------------------------------------
# Tokens are named by the start of their SHA-256 (what the database keeps anyway): enough to
# tell them apart, and nothing that helps to guess the token itself.
TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")


def _token_json(row: db.OwnerToken) -> dict:
    return {"token_id": row.token_hash[:16], "label": row.label, "created_at": iso(row.created_at)}


@bp.post("/tokens")
def create_token():
    """A new owner token of this account, shown once."""
    account, _row = auth.require_session()
    label = json_body().get("label")
    if label is not None and (not isinstance(label, str) or not 0 < len(label.strip()) <= 80):
        raise bad_request("A token's label is 1 to 80 characters.", "bad_field")
    token = tokens.new_owner_token()
    row = db.OwnerToken(
        token_hash=tokens.hash_owner_token(token), account_id=account.id, label=(label or "Script").strip(), created_at=db.now()
    )
    session = db.session()
    session.add(row)
    session.commit()
    return {**_token_json(row), "token": token}, 201


@bp.get("/tokens")
def list_tokens():
    account, _row = auth.require_session()
    rows = db.session().scalars(
        select(db.OwnerToken).where(db.OwnerToken.account_id == account.id).order_by(db.OwnerToken.created_at)
    )
    return {"tokens": [_token_json(row) for row in rows]}


@bp.delete("/tokens/<token_id>")
def delete_token(token_id: str):
    account, _row = auth.require_session()
    if not TOKEN_ID.match(token_id):
        raise bad_request("A token id is 16 hexadecimal digits.", "bad_id")
    session = db.session()
    deleted = db.rowcount(
        session.execute(
            delete(db.OwnerToken).where(db.OwnerToken.account_id == account.id, db.OwnerToken.token_hash.startswith(token_id))
        )
    )
    session.commit()
    if deleted == 0:
        raise not_found("This token")
    return {"deleted": True}
