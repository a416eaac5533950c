"""The account API: sign-up, sign-in and sign-out, for the owner's browser and command line.

What travels is what docs/format.md, "Sign-up, sign-in, password change and recovery", says:
public parameters and keys, sealed values, and login keys, which the server hashes and
forgets (viewer/server/accounts.py). The session is a cookie (viewer/server/auth.py).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import IntegrityError

from . import accounts, auth, db
from .errors import ApiError
from .inputs import b64_field, check_id, json_body

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


@bp.post("/logout")
def logout():
    _account, row = auth.require_session()
    session = db.session()
    session.delete(row)
    session.commit()
    response = jsonify({"signed_out": True})
    auth.clear_cookie(response)
    return response
