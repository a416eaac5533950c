"""Comments and reactions (issue 14): notes, sealed under the album's comment key and signed by their authors.

The server cannot open a note (docs/format.md, "Comments and reactions"), but it has every input of
the signed message, so it verifies each note's signature with its author's key before storing it:
a member's account ``sign_pk``, or the Ed25519 key a link's visitor made in their browser. It keeps
the latest version of each note, and refuses another author or an older version. What it can do is
what docs/design.md, "Comments and reactions", lists: withhold, delete, or serve an older version.

Two blueprints: the owner API (the album's owner and its members, signed in) and the public API (a
link's visitors, with the link's access token, where the owner turned comments on for the link).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g
from sqlalchemy import and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from .. import crypto
from . import auth, db, epochs, inputs, policy
from .api_owner import get_album, may
from .errors import ApiError, bad_request, not_found
from .inputs import b64_field, bool_field, check_id, int_field, iso, json_body, page_args

owner_bp = Blueprint("notes", __name__, url_prefix="/api/owner")
public_bp = Blueprint("public_notes", __name__, url_prefix="/api/links")

SIGNATURE_BYTES = crypto.SIGNATURE_BYTES
GUEST_KEY_BYTES = crypto.KEY_BYTES
# Padding means a note never seals to less than nonce + tag + 256 bytes (docs/format.md, "Padding").
MIN_NOTE_BYTES = crypto.NONCE_BYTES + crypto.TAG_BYTES + 256  # 296
MAX_NOTE_VERSION = crypto.MAX_NOTE_VERSION


@owner_bp.before_request
def require_owner() -> None:
    g.owner = auth.require_owner()


# --- checks --------------------------------------------------------------------------


def _note_id(note_id: str) -> str:
    return check_id(note_id, "note id")


def _version(data: dict) -> int:
    value = int_field(data, "version", minimum=1, maximum=MAX_NOTE_VERSION)
    if value is None:
        raise bad_request("The field 'version' is missing.", "missing_field")
    return value


def _epoch(data: dict) -> int:
    value = int_field(data, "epoch", minimum=0, maximum=inputs.MAX_KEY_EPOCH)
    if value is None:
        raise bad_request("The field 'epoch' is missing.", "missing_field")
    return value


def _sealed(data: dict) -> bytes:
    """The sealed note: at most MAX_NOTE_BYTES (413), and never smaller than padding makes one (400)."""
    limit = current_app.config["MAX_NOTE_BYTES"]
    sealed = b64_field(data, "sealed", max_length=limit)
    if len(sealed) < MIN_NOTE_BYTES:
        raise bad_request(f"A sealed comment is at least {MIN_NOTE_BYTES} bytes (it is padded).", "bad_field")
    return sealed


def _signature(data: dict) -> bytes:
    return b64_field(data, "signature", SIGNATURE_BYTES)


def _signed(album_id: str, note_id: str, epoch: int, version: int, author_pk: bytes, sealed: bytes, signature: bytes) -> None:
    """400 unless the author signed exactly this note (docs/format.md: the signed message)."""
    if not crypto.verify_note_signature(album_id, note_id, epoch, version, author_pk, sealed, signature):
        raise bad_request("This comment's signature does not verify.", "bad_signature")


def _changed() -> ApiError:
    return ApiError(409, "changed", "This comment was changed or deleted since you read it: reload and try again.")


def _not_author() -> ApiError:
    return ApiError(403, "not_author", "You can change only your own comments.")


def _get_note(album_id: str, note_id: str) -> db.Note:
    note = db.session().scalars(select(db.Note).where(db.Note.album_id == album_id, db.Note.id == note_id)).first()
    if note is None:
        raise not_found("This comment")
    return note


# --- what a listing shows ----------------------------------------------------------------


def note_json(note: db.Note, people: dict[str, db.Account], *, emails: bool = True) -> dict:
    """A note as docs/api.md shows it: the author's key is what readers verify it with.

    Without `emails` (a link's visitors), a member's address is left out: whoever holds a link must
    not learn the addresses of the people the album is shared with (docs/design.md, "Comments and reactions").
    """
    if note.author_account is not None:
        account = people.get(note.author_account)
        author: dict = {
            "kind": "member",
            "account_id": note.author_account,
            "email": None if account is None or not emails else account.email,
            "sign_pk": None if account is None else crypto.b64e(account.sign_pk),
        }
    else:
        author = {
            "kind": "guest",
            "link_id": note.author_link,
            "guest_pk": None if note.guest_pk is None else crypto.b64e(note.guest_pk),
        }
    return {
        "note_id": note.id,
        "epoch": note.epoch,
        "version": note.version,
        "author": author,
        "sealed": crypto.b64e(note.sealed),
        "signature": crypto.b64e(note.signature),
        "created_at": iso(note.created_at),
        "updated_at": iso(note.updated_at),
        "hidden": note.hidden,
        "held": note.held,
    }


def _people(notes: list[db.Note]) -> dict[str, db.Account]:
    ids = {note.author_account for note in notes if note.author_account is not None}
    if not ids:
        return {}
    return {account.id: account for account in db.session().scalars(select(db.Account).where(db.Account.id.in_(ids)))}


def list_notes(album_id: str, *, moderator: bool, emails: bool = True) -> dict:
    """One page of the album's notes by seq (keyset pagination, as files are listed).

    Hidden and held notes are listed to the owner and admins only (with `hidden` / `held` true).
    """
    after, limit = page_args()
    query = select(db.Note).where(db.Note.album_id == album_id, db.Note.seq > after)
    if not moderator:
        query = query.where(db.Note.hidden.is_(False), db.Note.held.is_(False))
    rows = db.session().scalars(query.order_by(db.Note.seq).limit(limit + 1)).all()
    page = list(rows[:limit])
    people = _people(page)
    return {
        "notes": [note_json(note, people, emails=emails) for note in page],
        "next": str(page[-1].seq) if len(rows) > limit else None,
    }


# --- writing -------------------------------------------------------------------------------


def _insert(note: db.Note, link: db.Link | None) -> None:
    """Store a new note under the album row's hold at its epoch; a link's visitors take one of its hourly allowance."""
    session = db.session()
    # Only under the album's current key: one sealed under an older key would be readable to whoever
    # lost access since (docs/design.md, "Sharing with people"); a new key commits before or after this.
    epochs.hold(note.album_id, note.epoch)
    if link is not None:
        limit = link.notes_per_hour
        policy.take_allowance(
            f"notes:{link.id}",
            limit,
            3600,
            f"This link's visitors have written {limit} comments and reactions in the last hour, the most allowed.",
        )
    session.add(note)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # the allowance taken goes back with it
        raise ApiError(409, "exists", "A comment with this id exists already.") from None


def _new_note(album_id: str, data: dict, author_pk: bytes, **author) -> db.Note:
    note_id = check_id(data.get("note_id"), "note id")
    epoch = _epoch(data)
    version = int_field(data, "version", minimum=1, maximum=1, default=1) or 1
    sealed, signature = _sealed(data), _signature(data)
    _signed(album_id, note_id, epoch, version, author_pk, sealed, signature)
    now = db.now()
    return db.Note(
        id=note_id,
        album_id=album_id,
        epoch=epoch,
        version=version,
        sealed=sealed,
        signature=signature,
        created_at=now,
        updated_at=now,
        **author,
    )


def _edit(note: db.Note, data: dict, author_pk: bytes, *, authored, held: bool | None = None) -> db.Note:
    """The next version of the note, from its author: one conditional UPDATE on the version read (409 when it lost)."""
    epoch, version = _epoch(data), _version(data)
    sealed, signature = _sealed(data), _signature(data)
    if version != note.version + 1:
        raise _changed()  # an older or replayed version, or one that skips ahead
    _signed(note.album_id, note.id, epoch, version, author_pk, sealed, signature)
    session = db.session()
    epochs.hold(note.album_id, epoch)
    values: dict = {"epoch": epoch, "version": version, "sealed": sealed, "signature": signature, "updated_at": db.now()}
    if held is not None:
        values["held"] = held
    won = db.rowcount(
        session.execute(
            update(db.Note)
            .where(db.Note.album_id == note.album_id, db.Note.id == note.id, db.Note.version == version - 1, authored)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    )
    if won != 1:
        session.rollback()
        raise _changed()
    session.commit()
    return session.scalars(
        select(db.Note).where(db.Note.album_id == note.album_id, db.Note.id == note.id).execution_options(populate_existing=True)
    ).one()


def _forget(note: db.Note, *conditions) -> None:
    """Delete the note (its replies stay: clients show 'a deleted comment'), in one conditional DELETE."""
    session = db.session()
    gone = db.rowcount(
        session.execute(
            delete(db.Note)
            .where(db.Note.album_id == note.album_id, db.Note.id == note.id, *conditions)
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    if gone != 1:
        raise _changed()


# --- the owner API: the album's owner and members ------------------------------------------


def _account() -> db.Account:
    """The signed-in account: a member signs notes with its key, so an owner token of no account cannot write one."""
    account_id = g.owner.account_id
    account = None if account_id is None else db.session().get(db.Account, account_id)
    if account is None:
        raise ApiError(403, "needs_account", "Comments are signed with an account's key: sign in to comment.")
    return account


def _moderator() -> bool:
    """The owner and admins moderate (docs/design.md, "Sharing with people": an admin manages the album)."""
    return may("manage")


@owner_bp.get("/albums/<album_id>/notes")
def owner_list(album_id: str):
    album = get_album(album_id, "view")
    return list_notes(album.id, moderator=_moderator())


@owner_bp.post("/albums/<album_id>/notes")
def owner_create(album_id: str):
    album = get_album(album_id, "view")
    account = _account()
    note = _new_note(album.id, json_body(), account.sign_pk, author_account=account.id)
    _insert(note, None)
    return note_json(note, {account.id: account}), 201


@owner_bp.put("/albums/<album_id>/notes/<note_id>")
def owner_edit(album_id: str, note_id: str):
    album = get_album(album_id, "view")
    account = _account()
    note = _get_note(album.id, _note_id(note_id))
    if (note.hidden or note.held) and not _moderator():
        raise not_found("This comment")  # listed to the owner and admins only
    data = json_body()
    if note.author_account != account.id:
        raise _not_author()
    note = _edit(note, data, account.sign_pk, authored=db.Note.author_account == account.id)
    return note_json(note, {account.id: account})


@owner_bp.patch("/albums/<album_id>/notes/<note_id>")
def owner_moderate(album_id: str, note_id: str):
    """Hide or show a note, or approve a held one: the owner and admins."""
    album = get_album(album_id, "view")
    note = _get_note(album.id, _note_id(note_id))
    if not _moderator():
        raise ApiError(403, "role", "Only the album's owner and admins can hide or approve comments.", role=g.album_role)
    data = json_body()
    values: dict = {}
    if "hidden" in data:
        values["hidden"] = bool_field(data, "hidden", False)
    if "held" in data:
        if data["held"] is not False:
            raise bad_request("`held` can only be set to false: that approves the comment.", "bad_field")
        values["held"] = False
    if not values:
        raise bad_request("Send `hidden` (true or false) or `held: false`.", "missing_field")
    session = db.session()
    session.execute(
        update(db.Note)
        .where(db.Note.album_id == album.id, db.Note.id == note.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    note = _get_note(album.id, note.id)
    session.refresh(note)
    return note_json(note, _people([note]))


@owner_bp.delete("/albums/<album_id>/notes/<note_id>")
def owner_delete(album_id: str, note_id: str):
    """The author deletes their note; the owner and admins delete any (moderation)."""
    album = get_album(album_id, "view")
    note = _get_note(album.id, _note_id(note_id))
    if _moderator():
        _forget(note)
    elif g.owner.account_id is not None and note.author_account == g.owner.account_id:
        _forget(note, db.Note.author_account == g.owner.account_id)
    else:
        raise ApiError(403, "not_author", "You can delete only your own comments.")
    return {"deleted": True}


# --- the public API: a link's visitors -----------------------------------------------------


def _comments_off() -> ApiError:
    return ApiError(403, "comments_off", "Comments are off for this link.")


def _visitor(link_id: str) -> db.Link:
    """An authorized viewing link whose owner turned comments on ('on' or 'held')."""
    link, _claims = policy.authorize(link_id)
    # An upload-only link (a file drop above all) shows no album, so there is nothing to comment on.
    if link.upload_only or link.drop_epoch is not None or link.comments not in ("on", "held"):
        raise _comments_off()
    return link


def _guest_pk(data: dict) -> bytes:
    return b64_field(data, "guest_pk", GUEST_KEY_BYTES)


def _guest_note(link: db.Link, note_id: str) -> db.Note:
    """A note the link's visitors see: hidden and held ones are not listed to them, so they are not found."""
    note = _get_note(link.album_id, _note_id(note_id))
    if note.held or note.hidden:
        raise not_found("This comment")
    return note


@public_bp.get("/<link_id>/notes")
def public_list(link_id: str):
    link = _visitor(link_id)
    return list_notes(link.album_id, moderator=False, emails=False)


@public_bp.post("/<link_id>/notes")
def public_create(link_id: str):
    link = _visitor(link_id)
    data = json_body()
    guest_pk = _guest_pk(data)
    note = _new_note(link.album_id, data, guest_pk, author_link=link.id, guest_pk=guest_pk, held=link.comments == "held")
    _insert(note, link)
    return note_json(note, {}), 201


def _guest_authored(link: db.Link, guest_pk: bytes):
    """The SQL condition that a note is this visitor's: written through this link with this key."""
    return and_(db.Note.author_link == link.id, db.Note.guest_pk == guest_pk, db.Note.author_account.is_(None))


@public_bp.put("/<link_id>/notes/<note_id>")
def public_edit(link_id: str, note_id: str):
    link = _visitor(link_id)
    note = _guest_note(link, note_id)
    data = json_body()
    guest_pk = _guest_pk(data)
    if note.author_account is not None or note.author_link != link.id or note.guest_pk != guest_pk:
        raise _not_author()
    # On a link that holds visitors' notes, an edit waits for approval again: it is new words.
    note = _edit(note, data, guest_pk, authored=_guest_authored(link, guest_pk), held=link.comments == "held")
    return note_json(note, {})


@public_bp.delete("/<link_id>/notes/<note_id>")
def public_delete(link_id: str, note_id: str):
    """A visitor deletes their own note, proving it with their key (crypto.sign_note_delete over its current version).

    Allowed even where comments were turned off since: taking one's words back is always possible.
    """
    link, _claims = policy.authorize(link_id)
    if link.upload_only or link.drop_epoch is not None:
        raise _comments_off()
    note = _get_note(link.album_id, _note_id(note_id))
    data = json_body()
    version, signature = _version(data), _signature(data)
    if note.author_account is not None or note.author_link != link.id or note.guest_pk is None:
        raise _not_author()
    if version != note.version:
        raise _changed()
    if not crypto.verify_note_delete(note.album_id, note.id, version, note.guest_pk, signature):
        raise ApiError(403, "not_author", "This deletion is not signed by the comment's author.")
    _forget(note, db.Note.version == version, _guest_authored(link, note.guest_pk))
    return {"deleted": True}
