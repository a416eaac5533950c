"""Sharing albums with people: members and roles, invitations by e-mail, new album keys, contacts.

The server keeps who has which role and each member's copy of the album key, sealed to that
member's public key by a client; it never has an album key (docs/design.md, "Sharing with people";
docs/format.md, "Sharing"). Every change that can race another (adding a member, accepting an
invitation, a new album key, a role change) is one transaction that first takes the album row with
a conditional UPDATE on its key epoch, so of two such changes one wins and the other is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from flask import Blueprint, current_app, g, request
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from .. import crypto
from . import accounts, auth, db, epochs, inputs, policy, uploads
from .api_owner import LINK_DROP_KEY_BYTES, album_json, get_album, new_drop_key, public_base
from .api_public import _viewer as public_viewer
from .api_public import bp as public_bp
from .errors import ApiError, bad_request, not_found
from .inputs import b64_field, bool_field, check_id, int_field, iso, json_body

bp = Blueprint("sharing", __name__, url_prefix="/api/owner")
invitations_bp = Blueprint("invitations", __name__, url_prefix="/api/invitations")

#: A sealed box (ephemeral key 32, MAC 16) of the label, the album id and the album key.
MEMBER_KEY_BYTES = crypto.MEMBER_KEY_BYTES
MAX_SEALED_BYTES = 64 * 1024


@bp.before_request
def require_account() -> None:
    """Sharing is between accounts: an owner token of no account has nobody to share with."""
    g.owner = auth.require_owner()
    if g.owner.account_id is None:
        raise ApiError(403, "needs_account", "Sharing with people needs an account: sign in.")


def _whole(data: dict, name: str) -> int:
    """A required whole number that fits an Integer column with one more added (an epoch, a version)."""
    value = int_field(data, name, minimum=0, maximum=inputs.MAX_KEY_EPOCH)
    if value is None:
        raise bad_request(f"The field {name!r} is required.", "bad_field")
    return value


def _role(data: dict, *, allowed: tuple[str, ...] = tuple(db.ROLES)) -> str:
    role = data.get("role")
    if role not in allowed:
        raise bad_request(f"`role` is one of {', '.join(allowed)}.", "bad_field")
    return role


def _grantable(album: db.Album, role: str) -> None:
    """Only the owner makes (or unmakes) admins: an admin manages viewers and collaborators."""
    if g.album_role != "owner" and role == "admin":
        raise ApiError(403, "role", "Only the album's owner can make someone an admin.", role=g.album_role)


def _person(account: db.Account) -> dict:
    """A person as others see them: the address and the public keys to compare."""
    return {
        "account_id": account.id,
        "email": account.email,
        "box_pk": crypto.b64e(account.box_pk),
        "sign_pk": crypto.b64e(account.sign_pk),
    }


# --- people ------------------------------------------------------------------------


@bp.get("/people")
def find_person():
    """The account with an e-mail address, with its public keys, so a client can seal an album key to it."""
    email = accounts.normalize_email(request.args.get("email"))
    # A lookup tells whether an address has an account (it must: the sharer needs its keys), so each
    # account may make only so many (docs/design.md, "Sharing with people": what the server learns).
    limit = current_app.config["PEOPLE_LOOKUPS_PER_HOUR"]
    policy.take_allowance(
        f"lookup:{g.owner.account_id}", limit, 3600, f"You have looked up {limit} addresses in the last hour, the most allowed."
    )
    db.session().commit()
    account = accounts.by_email(email)
    if account is None:
        raise ApiError(404, "no_account", "Nobody has an account with this address yet: send them an invitation.")
    return _person(account)


def _sealed_name(name: str) -> str:
    if name not in db.SEALED_VALUES:
        raise not_found("This value")
    return name


@bp.get("/sealed/<name>")
def get_sealed(name: str):
    """One of the requester's values sealed under their MK (contacts, favorites), and its version (0: none yet)."""
    row = db.session().get(db.SealedValue, (g.owner.account_id, _sealed_name(name)))
    return {"sealed": None if row is None else crypto.b64e(row.sealed), "version": 0 if row is None else row.version}


@bp.put("/sealed/<name>")
def put_sealed(name: str):
    """Replace the value if nobody changed it since `version` (409 otherwise: read, merge, and save again)."""
    name = _sealed_name(name)
    data = json_body()
    sealed = b64_field(data, "sealed", max_length=MAX_SEALED_BYTES)
    version = _whole(data, "version")
    session = db.session()
    account_id = g.owner.account_id
    if version == 0:  # the first one: an INSERT, which only one of two racing requests wins
        session.add(db.SealedValue(account_id=account_id, name=name, sealed=sealed, version=1))
        try:
            session.commit()
            changed = 1
        except IntegrityError:
            session.rollback()
            changed = 0
    else:
        changed = db.rowcount(
            session.execute(
                update(db.SealedValue)
                .where(db.SealedValue.account_id == account_id, db.SealedValue.name == name, db.SealedValue.version == version)
                .values(sealed=sealed, version=db.SealedValue.version + 1)
                .execution_options(synchronize_session=False)
            )
        )
        session.commit()
    if changed != 1:
        raise ApiError(409, "changed", "This was changed on another device meanwhile: read it again.")
    return {"version": version + 1}


# --- shared with me ----------------------------------------------------------------


@bp.get("/shared")
def shared_with_me():
    """The albums others share with the requester: each with its role, who shares it, and the member's key."""
    session = db.session()
    rows = session.execute(
        select(db.AlbumMember, db.Album, db.Account)
        .join(db.Album, db.Album.id == db.AlbumMember.album_id)
        .join(db.Account, db.Account.id == db.Album.account_id)
        .where(db.AlbumMember.account_id == g.owner.account_id)
        .order_by(db.AlbumMember.created_at, db.Album.id)
    ).all()
    albums = []
    for member, album, owner in rows:
        item = album_json(album, member)
        item["owner"] = _person(owner)
        item["shared_at"] = iso(member.created_at)
        albums.append(item)
    return {"albums": albums}


# --- members -------------------------------------------------------------------------


def _members_json(album: db.Album) -> dict:
    session = db.session()
    session.expire_all()  # the conditional UPDATEs above bypass the loaded rows (synchronize_session=False)
    members = session.execute(
        select(db.AlbumMember, db.Account)
        .join(db.Account, db.Account.id == db.AlbumMember.account_id)
        .where(db.AlbumMember.album_id == album.id)
        .order_by(db.AlbumMember.created_at, db.Account.email)
    ).all()
    owner = session.get_one(db.Account, album.account_id)
    result: dict = {
        "owner": _person(owner),
        "members": [
            {**_person(account), "role": m.role, "added_at": iso(m.created_at), "key_epoch": m.key_epoch}
            for m, account in members
        ],
        "invitations": [],
        "key_epoch": album.key_epoch,
        "rekey_pending": album.rekey_pending,
    }
    if g.album_role == "owner" or "manage" in db.ROLES[g.album_role]:
        invites = session.scalars(
            select(db.ShareInvitation)
            .where(db.ShareInvitation.album_id == album.id, db.ShareInvitation.expires_at > db.now())
            .order_by(db.ShareInvitation.created_at)
        )
        result["invitations"] = [_invitation_json(i) for i in invites]
    return result


@bp.get("/albums/<album_id>/members")
def list_members(album_id: str):
    """Who has access: the owner, the members with their roles, and (for those who manage) open invitations."""
    return _members_json(get_album(album_id, "view"))


@bp.post("/albums/<album_id>/members")
def add_member(album_id: str):
    """Share the album with an account: its role, and the album key sealed to its public key by the client."""
    album = get_album(album_id, "manage")
    data = json_body()
    account_id = check_id(data.get("account_id"), "account id")
    role = _role(data)
    _grantable(album, role)
    sealed = b64_field(data, "sealed_key", MEMBER_KEY_BYTES)
    epoch = _whole(data, "key_epoch")
    session = db.session()
    if account_id in (album.account_id, g.owner.account_id):
        raise bad_request("This person has this album already.", "bad_field")
    if session.get(db.Account, account_id) is None:
        raise not_found("This account")
    album_id, by = album.id, g.owner.account_id
    epochs.hold(album_id, epoch)
    _check_room(album_id)
    _insert_member(
        db.AlbumMember(album_id=album_id, account_id=account_id, role=role, sealed_key=sealed, key_epoch=epoch, added_by=by),
        ApiError(409, "exists", "This person has access to the album already: change their role instead."),
    )
    return _members_json(session.get_one(db.Album, album_id)), 201


def _check_room(album_id: str) -> None:
    """409 if the album is shared with ALBUM_PEOPLE_MAX people (members and open invitations) already.

    Called after epochs.hold, whose conditional UPDATE of the album row makes every other addition
    to this album wait for this transaction, so the count cannot be passed by adding at once.
    """
    session = db.session()
    limit = current_app.config["ALBUM_PEOPLE_MAX"]
    members = session.scalar(select(func.count()).select_from(db.AlbumMember).where(db.AlbumMember.album_id == album_id)) or 0
    invited = (
        session.scalar(
            select(func.count())
            .select_from(db.ShareInvitation)
            .where(db.ShareInvitation.album_id == album_id, db.ShareInvitation.expires_at > db.now())
        )
        or 0
    )
    if members + invited >= limit:
        session.rollback()
        raise ApiError(
            409,
            "album_full",
            f"This album is shared with {limit} people already, the most it can be: "
            "remove someone or cancel an invitation first.",
        )


def _insert_member(member: db.AlbumMember, exists: ApiError) -> None:
    """Add the member in the transaction that already holds the album row at its key epoch (epochs.hold), and commit.

    The primary key makes a second copy for the same person fail: `exists` is raised then.
    """
    session = db.session()
    session.add(member)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise exists from None


def _member_of(album: db.Album, account_id: str) -> db.AlbumMember:
    check_id(account_id, "account id")
    member = db.session().get(db.AlbumMember, (album.id, account_id))
    if member is None:
        raise not_found("This member")
    return member


@bp.patch("/albums/<album_id>/members/<account_id>")
def change_member(album_id: str, account_id: str):
    """Change a member's role (one conditional UPDATE on the role that was read)."""
    album = get_album(album_id, "manage")
    member = _member_of(album, account_id)
    role = _role(json_body())
    _grantable(album, role)
    _grantable(album, member.role)
    session = db.session()
    changed = db.rowcount(
        session.execute(
            update(db.AlbumMember)
            .where(
                db.AlbumMember.album_id == album.id,
                db.AlbumMember.account_id == member.account_id,
                db.AlbumMember.role == member.role,
            )
            .values(role=role)
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    if changed != 1:
        raise ApiError(409, "changed", "Someone changed this person's access meanwhile: look again.")
    return _members_json(album)


def _files_of(album_id: str, account_ids: list[str]) -> list[db.File]:
    return list(db.session().scalars(select(db.File).where(db.File.album_id == album_id, db.File.added_by.in_(account_ids))))


def _remove_files(files: list[db.File]) -> int:
    """Delete the files of people who lost access, when the owner asked for it; how many went."""
    for file in files:
        uploads.delete_file(file)
    return len(files)


@bp.delete("/albums/<album_id>/members/<account_id>")
def remove_member(album_id: str, account_id: str):
    """Remove a member (those who manage), or leave (the member themselves).

    The server refuses the person at once; the album key they had stays valid for what it already
    sealed until the owner's client makes a new key (``rekey_pending``; see rekey below, which the
    owner's own removals use directly). `?files=remove` also deletes the photos they added.
    """
    leaving = account_id == g.owner.account_id
    album = get_album(album_id, "view" if leaving else "manage")
    member = _member_of(album, account_id)
    if not leaving:
        _grantable(album, member.role)
    files = request.args.get("files", "keep")
    if files not in ("keep", "remove"):
        raise bad_request("`files` is `keep` or `remove`.", "bad_query")
    session = db.session()
    gone = db.rowcount(
        session.execute(
            delete(db.AlbumMember).where(db.AlbumMember.album_id == album.id, db.AlbumMember.account_id == member.account_id)
        )
    )
    if gone:
        session.execute(
            update(db.Album)
            .where(db.Album.id == album.id)
            .values(rekey_pending=True)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    removed = _remove_files(_files_of(album.id, [member.account_id])) if files == "remove" else 0
    return {"removed": bool(gone), "files_removed": removed}


# --- invitations ---------------------------------------------------------------------


def claim_hash(claim_key: bytes) -> str:
    """What the server keeps of an invitation's claim key (as for tokens: SHA-256; the key is 256 random bits)."""
    return hashlib.sha256(b"fragment.share-invitation:" + claim_key).hexdigest()


def _invitation_json(invite: db.ShareInvitation, *, manager: bool = True) -> dict:
    """An invitation; for those who manage the album, with the owner's sealed copy of its secret."""
    data = {
        "invite_id": invite.id,
        "email": invite.email,
        "role": invite.role,
        "created_at": iso(invite.created_at),
        "expires_at": iso(invite.expires_at),
    }
    if manager:
        data["owner_secret"] = crypto.b64e(invite.owner_secret)
    return data


def invitation_url(invite_id: str, signup_code: str | None) -> str:
    """The invitation's address without its fragment (the secret, which the client appends)."""
    query = f"?invitation={quote(signup_code)}" if signup_code else ""
    return f"{public_base()}/join/{invite_id}{query}"


def _mail_invitation(inviter: db.Account, invite: db.ShareInvitation, url: str) -> str | None:
    """Send the invitation by e-mail; None if it went, else why not (the owner then sends the link by hand)."""
    from . import mail

    config = current_app.config
    if not mail.configured(config):
        return "This server sends no e-mail: copy the invitation link and send it yourself."
    expires = iso(invite.expires_at)
    text = (
        f"{inviter.email} shared an album with you on Fragment.\n\n"
        f"Open this link to see it. You will be asked to create an account, or to sign in:\n\n{url}\n\n"
        f"The link holds the key to the album, so do not forward it. It works once, and until {expires}.\n"
    )
    try:
        mail.send(config, invite.email, f"{inviter.email} shared an album with you", text, reply_to=inviter.email)
    except mail.MailError as exc:
        current_app.logger.warning("invitation %s not mailed: %s", invite.id, exc)
        return f"The invitation could not be sent by e-mail ({exc}): copy the link and send it yourself."
    return None


@bp.post("/albums/<album_id>/invitations")
def invite(album_id: str):
    """Share the album with an address that has no account yet.

    The client sends the album key sealed under the invitation's key, and the claim key; both are
    derived from a secret that only the invitation link's fragment carries. To mail the link, the
    client sends that secret too (`invite_secret`): it is put in the message and forgotten, never
    stored or logged (docs/design.md, "Sharing with people", says what this costs).
    """
    album = get_album(album_id, "manage")
    data = json_body()
    invite_id = check_id(data.get("invite_id"), "invitation id")
    email = accounts.normalize_email(data.get("email"))
    role = _role(data)
    _grantable(album, role)
    sealed = b64_field(data, "sealed_key", crypto.WRAPPED_KEY_BYTES)
    claim_key = b64_field(data, "claim_key", crypto.KEY_BYTES)
    owner_secret = b64_field(data, "owner_secret", crypto.OWNER_INVITE_SECRET_BYTES)
    epoch = _whole(data, "key_epoch")
    secret = data.get("invite_secret")
    if secret is not None:
        try:
            claim = crypto.invitation_keys(crypto.decode_invite_secret(secret)).claim_key
        except (crypto.FormatError, TypeError, ValueError):
            raise bad_request("`invite_secret` is not an invitation secret.", "bad_field") from None
        if not hmac.compare_digest(claim, claim_key):
            raise bad_request("`invite_secret` is not the secret of this claim key.", "bad_field")
    session = db.session()
    now = db.now()
    existing = accounts.by_email(email)
    if existing is not None:
        raise ApiError(
            409, "has_account", "This address has an account: share the album with them directly.", account_id=existing.id
        )
    album_id, inviter_id = album.id, g.owner.account_id
    # Each invitation may send an e-mail from this server: counted per inviter in this transaction,
    # so a refused invitation costs nothing.
    limit = current_app.config["SHARE_INVITATIONS_PER_DAY"]
    policy.take_allowance(f"invite:{inviter_id}", limit, 86400, f"You have sent {limit} invitations today, the most allowed.")
    epochs.hold(album_id, epoch)
    _check_room(album_id)
    row = db.ShareInvitation(
        id=invite_id,
        album_id=album_id,
        email=email,
        role=role,
        sealed_key=sealed,
        key_epoch=epoch,
        claim_hash=claim_hash(claim_key),
        owner_secret=owner_secret,
        invited_by=inviter_id,
        created_at=now,
        expires_at=now + current_app.config["INVITE_SECONDS"],
    )
    session.add(row)
    # Where sign-up needs an invitation code, an album invitation brings one, so the invitee can join.
    code = accounts.new_invitation() if current_app.config["SIGNUP"] == "invite" else None
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ApiError(409, "exists", "An invitation with this id exists already.") from None
    url = invitation_url(invite_id, code)
    problem = None
    if secret is not None:
        problem = _mail_invitation(session.get_one(db.Account, inviter_id), row, f"{url}#{secret}")
    return {**_invitation_json(row), "url": url, "mailed": secret is not None and problem is None, "mail_problem": problem}, 201


@bp.delete("/albums/<album_id>/invitations/<invite_id>")
def cancel_invitation(album_id: str, invite_id: str):
    album = get_album(album_id, "manage")
    check_id(invite_id, "invitation id")
    session = db.session()
    gone = db.rowcount(
        session.execute(
            delete(db.ShareInvitation).where(db.ShareInvitation.id == invite_id, db.ShareInvitation.album_id == album.id)
        )
    )
    session.commit()
    return {"cancelled": bool(gone)}


def _live_invitation(invite_id: str) -> db.ShareInvitation:
    check_id(invite_id, "invitation id")
    invite = db.session().get(db.ShareInvitation, invite_id)
    if invite is None or invite.expires_at <= db.now():
        raise ApiError(410, "gone", "This invitation was used already, cancelled, or has expired. Ask for a new one.")
    return invite


@invitations_bp.get("/<invite_id>")
def show_invitation(invite_id: str):
    """What the invitation page needs before anyone signs in: who invites, to what (sealed), and as what."""
    invite = _live_invitation(invite_id)
    session = db.session()
    album = session.get_one(db.Album, invite.album_id)
    inviter = session.get(db.Account, invite.invited_by) if invite.invited_by else None
    return {
        **_invitation_json(invite, manager=False),
        "album_id": album.id,
        "album_meta": crypto.b64e(album.meta),
        "sealed_key": crypto.b64e(invite.sealed_key),
        "key_epoch": invite.key_epoch,
        "inviter": None if inviter is None else _person(inviter),
    }


@bp.post("/invitations/<invite_id>/accept")
def accept_invitation(invite_id: str):
    """Take the album: the claim key proves the invitation link, and the client seals the album key to itself."""
    invite = _live_invitation(invite_id)
    data = json_body()
    claim_key = b64_field(data, "claim_key", crypto.KEY_BYTES)
    sealed = b64_field(data, "sealed_key", MEMBER_KEY_BYTES)
    if not hmac.compare_digest(claim_hash(claim_key), invite.claim_hash):
        raise ApiError(403, "bad_claim", "This invitation link is not complete. Open the whole link from the invitation.")
    session = db.session()
    account_id = g.owner.account_id
    album_id, role, epoch, by = invite.album_id, invite.role, invite.key_epoch, invite.invited_by
    owner_id = session.scalar(select(db.Album.account_id).where(db.Album.id == album_id))
    if owner_id == account_id or session.get(db.AlbumMember, (album_id, account_id)) is not None:
        raise ApiError(409, "exists", "You have this album already.")
    epochs.hold(album_id, epoch)
    # One conditional DELETE spends the invitation: of two accepts, exactly one finds the row.
    spent = db.rowcount(
        session.execute(
            delete(db.ShareInvitation).where(
                db.ShareInvitation.id == invite_id,
                db.ShareInvitation.claim_hash == claim_hash(claim_key),
                db.ShareInvitation.expires_at > db.now(),
            )
        )
    )
    if spent != 1:
        session.rollback()
        raise ApiError(410, "gone", "This invitation was used already, cancelled, or has expired. Ask for a new one.")
    _insert_member(
        db.AlbumMember(album_id=album_id, account_id=account_id, role=role, sealed_key=sealed, key_epoch=epoch, added_by=by),
        ApiError(409, "exists", "You have this album already."),
    )
    album = session.get_one(db.Album, album_id)
    g.album_role = role
    return album_json(album, session.get(db.AlbumMember, (album_id, account_id))), 201


# --- a new album key -----------------------------------------------------------------


def _sealed_map(data: dict, name: str, length: int) -> dict[str, bytes]:
    raw = data.get(name) or {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise bad_request(f"`{name}` maps ids to sealed keys.", "bad_field")
    return {check_id(key, "id"): b64_field(raw, key, length) for key in raw}


def _people_changed() -> ApiError:
    return ApiError(409, "people_changed", "Who has access changed meanwhile: the new key was not saved. Try again.")


@bp.post("/albums/<album_id>/rekey")
def rekey(album_id: str):
    """Give the album a new key, which people who lost access never receive (the owner only).

    The owner's client makes AK', seals the old key under it (the chain), re-seals the album
    metadata, its own copy, every remaining member's and invitation's copy, and every live link's
    wrapped key; `remove` (optional) takes people out in the same transaction. Files keep their
    wrapped keys under the epoch they were made in. If anyone was added or left meanwhile, the set
    of copies no longer matches and nothing is saved (409): the client reads again and retries.

    File drops (links with a drop_epoch) hold no album key: they are not in `links` but in
    `link_drop_keys`, each the album's new drop key (`drop_key`, made for the new epoch) sealed under
    the link's wrap key. A removed person knew the old album key, hence the old drop key's secret, so
    files dropped from now on go to a key they never had (docs/design.md, "File drop").
    """
    album = get_album(album_id)
    data = json_body()
    epoch = _whole(data, "from_epoch")
    chain = b64_field(data, "chain", crypto.WRAPPED_KEY_BYTES)
    meta = b64_field(data, "meta", max_length=current_app.config["MAX_META_BYTES"])
    owner_key = b64_field(data, "owner_key", crypto.WRAPPED_KEY_BYTES)
    members = _sealed_map(data, "members", MEMBER_KEY_BYTES)
    invites = _sealed_map(data, "invitations", crypto.WRAPPED_KEY_BYTES)
    links = _sealed_map(data, "links", crypto.WRAPPED_KEY_BYTES)
    link_owner_keys = _sealed_map(data, "link_wrap_keys", crypto.WRAPPED_KEY_BYTES)
    link_drop_keys = _sealed_map(data, "link_drop_keys", LINK_DROP_KEY_BYTES)
    drop_key = new_drop_key(data)
    if link_drop_keys and drop_key is None:
        raise bad_request("`link_drop_keys` seal the album's new drop key, so `drop_key` must come with them.", "bad_field")
    remove = data.get("remove") or []
    if not isinstance(remove, list) or not all(isinstance(a, str) for a in remove):
        raise bad_request("`remove` lists the account ids of people to take out.", "bad_field")
    remove = [check_id(a, "account id") for a in remove]
    remove_files = bool_field(data, "remove_files", False)
    session = db.session()
    album_id = album.id
    new_epoch = epoch + 1
    moved = db.rowcount(
        session.execute(
            update(db.Album)
            .where(db.Album.id == album_id, db.Album.key_epoch == epoch)
            .values(key_epoch=new_epoch, meta=meta, owner_key=owner_key, rekey_pending=False)
            .execution_options(synchronize_session=False)
        )
    )
    if moved != 1:
        session.rollback()
        raise epochs.stale_key()
    if remove:
        session.execute(delete(db.AlbumMember).where(db.AlbumMember.album_id == album_id, db.AlbumMember.account_id.in_(remove)))
    remaining = set(session.scalars(select(db.AlbumMember.account_id).where(db.AlbumMember.album_id == album_id)))
    now = db.now()
    session.execute(
        delete(db.ShareInvitation).where(db.ShareInvitation.album_id == album_id, db.ShareInvitation.expires_at <= now)
    )
    open_invites = set(session.scalars(select(db.ShareInvitation.id).where(db.ShareInvitation.album_id == album_id)))
    live = session.execute(
        select(db.Link.id, db.Link.drop_epoch).where(db.Link.album_id == album_id, db.Link.revoked_at.is_(None))
    ).all()
    live_links = {link_id for link_id, drop_epoch in live if drop_epoch is None}
    live_drops = {link_id for link_id, drop_epoch in live if drop_epoch is not None}
    if (
        remaining != set(members)
        or open_invites != set(invites)
        or live_links != set(links)
        or not set(link_owner_keys) <= live_links | live_drops
    ):
        session.rollback()
        raise _people_changed()
    if live_drops != set(link_drop_keys):
        session.rollback()
        raise ApiError(
            409,
            "links_changed",
            "Every live file drop link needs the album's new drop key (`link_drop_keys`), and only those: "
            "the new key was not saved. Read the album's links again and try again.",
        )
    for account_id, sealed in members.items():
        session.execute(
            update(db.AlbumMember)
            .where(db.AlbumMember.album_id == album_id, db.AlbumMember.account_id == account_id)
            .values(sealed_key=sealed, key_epoch=new_epoch)
        )
    for invite_id, sealed in invites.items():
        session.execute(
            update(db.ShareInvitation).where(db.ShareInvitation.id == invite_id).values(sealed_key=sealed, key_epoch=new_epoch)
        )
    for link_id, wrapped in links.items():
        values: dict = {"wrapped_album_key": wrapped, "version": db.Link.version + 1}
        if link_id in link_owner_keys:
            values["owner_wrap_key"] = link_owner_keys[link_id]
        # A new version ends every access token, so open pages unlock again and get the new key.
        session.execute(update(db.Link).where(db.Link.id == link_id).values(**values))
    for link_id, wrapped in link_drop_keys.items():
        values = {"wrapped_drop_key": wrapped, "drop_epoch": new_epoch, "version": db.Link.version + 1}
        if link_id in link_owner_keys:
            values["owner_wrap_key"] = link_owner_keys[link_id]
        # As above: open guest pages get 401 token_stale, unlock again, and seal to the new drop key.
        session.execute(update(db.Link).where(db.Link.id == link_id).values(**values))
    session.add(db.AlbumKeyChain(album_id=album_id, epoch=new_epoch, sealed_prev=chain))
    if drop_key is not None:
        # Kept even with no drop link left (one revoked meanwhile): the next drop link of this epoch uses it.
        public_key, sealed_secret = drop_key
        session.add(db.AlbumDropKey(album_id=album_id, epoch=new_epoch, public_key=public_key, sealed_secret=sealed_secret))
    # No other drop key of new_epoch can exist: making one holds the album row at that epoch (epochs.hold),
    # which only this transaction's conditional UPDATE above reached.
    session.commit()
    removed = _remove_files(_files_of(album_id, remove)) if remove and remove_files else 0
    session.expire_all()
    result = album_json(session.get_one(db.Album, album_id))
    result["files_removed"] = removed
    return result


# --- joining from a public link ------------------------------------------------------


def _join_role(link: db.Link, data: dict) -> str:
    """The role a link's visitor may take: a viewer, or a collaborator where the link allows uploads."""
    role = _role(data, allowed=("viewer", "collaborator"))
    if role == "collaborator" and not link.uploads:
        raise ApiError(403, "uploads_off", "This link does not allow adding photos, so you can join the album only as a viewer.")
    return role


@public_bp.post("/<link_id>/join")
def join_from_link(link_id: str):
    """A signed-in visitor of a link adds its album to their "Shared with me" (docs/design.md, "Sharing with people").

    It needs both the link's access token (so, the link secret and its password: what any visitor
    already has, which reads the album anyway) and the account's session with its CSRF token (so a
    page of another site cannot add an album to someone's account). An upload-only link is refused:
    its visitors must not see the album. The visitor's client seals the album key to its own
    public key, checked against its own identity, so the server never has the album key.
    """
    link = public_viewer(link_id)  # 401 without a valid token, 403 upload_only
    account, _row = auth.require_session()
    data = json_body()
    role = _join_role(link, data)
    sealed = b64_field(data, "sealed_key", MEMBER_KEY_BYTES)
    epoch = _whole(data, "key_epoch")
    session = db.session()
    album_id, account_id = link.album_id, account.id
    owner_id = session.scalar(select(db.Album.account_id).where(db.Album.id == album_id))
    if owner_id == account_id or session.get(db.AlbumMember, (album_id, account_id)) is not None:
        raise ApiError(409, "exists", "You have this album already.", album_id=album_id)
    # As add_member: the album row is taken at this key epoch first, so a new key commits before
    # (and this copy is refused as stale) or after (and it was sealed before anyone lost access).
    epochs.hold(album_id, epoch)
    _check_room(album_id)
    _insert_member(
        db.AlbumMember(album_id=album_id, account_id=account_id, role=role, sealed_key=sealed, key_epoch=epoch, added_by=None),
        ApiError(409, "exists", "You have this album already.", album_id=album_id),
    )
    g.album_role = role
    return album_json(session.get_one(db.Album, album_id), session.get(db.AlbumMember, (album_id, account_id))), 201
