"""Activity (issue 14): what happened in the albums a person can see, what they have not seen yet, and links opened.

The rows come from the ``activity`` table, which the database's own triggers fill in the same
transaction as the change they record (migrations/versions/0008_activity.py): a file shown, a
note shown, a member added, joined or gone. Everything here is what the server knew already: ids,
who acted (an account, or a link for its guests), and when. Titles, file names, guests' names,
link labels and what a note says are sealed; the answer carries the sealed values (a file's meta,
a note's ciphertext and signature) so that the reader's client opens them (docs/design.md,
"Activity and digests").

Who sees what: the owner sees every event of their albums; a member, of any role, the events of
the albums they are in from their own (latest) join on. Notes hidden or held, and files held, show
only to those who moderate them (the owner and admins), as in the listings.
"""

from __future__ import annotations

import re

from flask import Blueprint, current_app, g, request
from sqlalchemy import Boolean, and_, exists, func, literal, or_, select, union_all, update
from sqlalchemy.sql import Select

from .. import crypto
from . import auth, db, inputs, mail
from .api_notes import note_json
from .api_owner import get_album
from .errors import ApiError, bad_request
from .inputs import bool_field, iso, json_body
from .uploads import file_json

bp = Blueprint("activity", __name__, url_prefix="/api/owner")

A = db.Activity
MAX_LIMIT = 100
DEFAULT_LIMIT = 50


@bp.before_request
def require_owner() -> None:
    g.owner = auth.require_owner()


# --- who sees which album, from when ------------------------------------------------------


def scope(account_id: str | None, album_id: str | None = None):
    """The albums `account_id` sees activity of: (album_id, bound, moderator, own) rows, as a subquery.

    ``bound`` is the first seq they see: 0 for the owner; for a member, the seq of their latest
    join (a member from before activity was recorded joined before every row, so 0).
    """
    owned = select(
        db.Album.id.label("album_id"),
        literal(0).label("bound"),
        literal(True, Boolean).label("moderator"),
        literal(True, Boolean).label("own"),
    ).where(db.Album.account_id.is_(None) if account_id is None else db.Album.account_id == account_id)
    if album_id is not None:
        owned = owned.where(db.Album.id == album_id)
    if account_id is None:
        return owned.subquery("scope")
    M = db.AlbumMember
    joined = (
        select(func.max(A.seq))
        .where(A.album_id == M.album_id, A.actor_account == M.account_id, A.kind == "joined")
        .scalar_subquery()
    )
    members = select(
        M.album_id.label("album_id"),
        func.coalesce(joined, 0).label("bound"),
        (M.role == "admin").label("moderator"),
        literal(False, Boolean).label("own"),
    ).where(M.account_id == account_id)
    if album_id is not None:
        members = members.where(M.album_id == album_id)
    return union_all(owned, members).subquery("scope")


def visible(moderator):
    """The SQL condition that an activity row is shown: its file or note is still there and shown to this reader."""
    F, N = db.File, db.Note
    file_shown = exists().where(
        F.album_id == A.album_id, F.id == A.subject, F.state == "complete", or_(moderator, F.held.is_(False))
    )
    note_shown = exists().where(
        N.album_id == A.album_id, N.id == A.subject, or_(moderator, and_(N.hidden.is_(False), N.held.is_(False)))
    )
    return or_(A.kind.in_(("joined", "left")), and_(A.kind == "file", file_shown), and_(A.kind == "note", note_shown))


def events(account_id: str | None, album_id: str | None = None) -> tuple[Select, object]:
    """SELECT of the activity rows the reader sees (with the scope's columns), and the scope."""
    where = scope(account_id, album_id)
    query = (
        select(A, where.c.moderator, where.c.own)
        .join(where, and_(where.c.album_id == A.album_id, A.seq >= where.c.bound))
        .where(visible(where.c.moderator))
    )
    return query, where


def not_mine(account_id: str | None):
    """What counts as new to someone: what others did (their own uploads and comments are not news to them)."""
    if account_id is None:
        return literal(True, Boolean)
    return or_(A.actor_account.is_(None), A.actor_account != account_id)


def unread_counts(account_id: str, album_id: str | None = None) -> dict[str, int]:
    """Per album, how many shown events by others come after the account's "seen up to" marker."""
    where = scope(account_id, album_id)
    S = db.AlbumSeen
    query = (
        select(A.album_id, func.count())
        .join(where, and_(where.c.album_id == A.album_id, A.seq >= where.c.bound))
        .outerjoin(S, and_(S.account_id == account_id, S.album_id == A.album_id))
        .where(visible(where.c.moderator), A.seq > func.coalesce(S.seq, 0), not_mine(account_id))
        .group_by(A.album_id)
    )
    return {row[0]: int(row[1]) for row in db.session().execute(query)}


# --- the feed ------------------------------------------------------------------------------


def _before() -> int | None:
    """The `before` cursor: the `next` of the previous page (a seq), or none for the newest."""
    raw = request.args.get("before", "")
    if raw == "":
        return None
    if not re.fullmatch(r"[0-9]{1,10}", raw) or not 1 <= int(raw) <= inputs.MAX_AFTER:
        raise bad_request("`before` must be the `next` of an activity page.", "bad_cursor")
    return int(raw)


def _limit() -> int:
    raw = request.args.get("limit", "")
    if raw == "":
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad_request(f"`limit` must be a whole number from 1 to {MAX_LIMIT}.", "bad_query")
    return int(raw)


def _person(account_id: str | None, emails: dict[str, str]) -> dict | None:
    return None if account_id is None else {"account_id": account_id, "email": emails.get(account_id)}


def feed(account_id: str | None, album_id: str | None = None) -> dict:
    """One page of activity, newest first: ``{"activity": [...], "next": cursor or null}``."""
    before, limit = _before(), _limit()
    query, _where = events(account_id, album_id)
    if before is not None:
        query = query.where(A.seq < before)
    session = db.session()
    rows = session.execute(query.order_by(A.seq.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    files = _rows(db.File, [(row[0].album_id, row[0].subject) for row in page if row[0].kind == "file"])
    notes = _rows(db.Note, [(row[0].album_id, row[0].subject) for row in page if row[0].kind == "note"])
    people = {row[0].actor_account for row in page} | {row[0].subject for row in page if row[0].kind == "joined"}
    people |= {note.author_account for note in notes.values()} | {file.added_by for file in files.values()}
    ids = {person for person in people if person is not None}
    accounts = {a.id: a for a in session.scalars(select(db.Account).where(db.Account.id.in_(ids)))} if ids else {}
    emails = {key: account.email for key, account in accounts.items()}
    out = []
    for event, moderator, own in page:
        entry: dict = {
            "seq": str(event.seq),
            "album_id": event.album_id,
            "kind": event.kind,
            "at": iso(event.at),
            "actor": (
                {"kind": "guest", "link_id": event.actor_link}
                if event.actor_account is None and event.actor_link is not None
                else _person(event.actor_account, emails)
            ),
            "mine": account_id is not None and event.actor_account == account_id,
            "own_album": bool(own),
        }
        key = (event.album_id, event.subject)
        if event.kind == "file":
            if key not in files:
                continue  # deleted between the two queries: nothing left to show
            entry["file"] = file_json(files[key], owner=bool(moderator), people=emails)
        elif event.kind == "note":
            if key not in notes:
                continue
            # The server cannot tell a comment from a reaction: the client opens the note to say which.
            entry["note"] = note_json(notes[key], accounts)
        elif event.kind == "joined":
            entry["added_by"] = _person(event.subject, emails)  # null: they joined from a link
        out.append(entry)
    return {"activity": out, "next": str(page[-1][0].seq) if len(rows) > limit else None}


def _rows(model, keys: list[tuple[str, str | None]]) -> dict:
    """Files or notes by (album id, id), for the page's entries."""
    wanted = {key for key in keys if key[1] is not None}
    if not wanted:
        return {}
    album_ids = {album for album, _ in wanted}
    ids = {row_id for _, row_id in wanted}
    found = db.session().scalars(select(model).where(model.album_id.in_(album_ids), model.id.in_(ids)))
    return {(row.album_id, row.id): row for row in found if (row.album_id, row.id) in wanted}


def links_json(album_id: str) -> list[dict]:
    """Each link of the album: when it was last opened, how many unlocks, and how many devices hold a slot.

    ``devices`` is known only for device-limited links, whose devices the server admits one by one
    (link_devices); for the others it is null: the server never told their devices apart.
    """
    session = db.session()
    devices = dict(
        session.execute(
            select(db.LinkDevice.link_id, func.count())
            .join(db.Link, db.Link.id == db.LinkDevice.link_id)
            .where(db.Link.album_id == album_id)
            .group_by(db.LinkDevice.link_id)
        ).all()
    )
    links = session.scalars(select(db.Link).where(db.Link.album_id == album_id).order_by(db.Link.created_at, db.Link.id))
    return [
        {
            "link_id": link.id,
            "owner_label": None if link.owner_label is None else crypto.b64e(link.owner_label),
            "revoked": link.revoked_at is not None,
            "opens": link.opens,
            "last_opened_at": iso(link.last_opened_at),
            "device_limit": link.device_limit,
            "devices": None if link.device_limit is None else int(devices.get(link.id, 0)),
        }
        for link in links
    ]


@bp.get("/activity")
def all_activity():
    """The activity of every album the requester owns or is a member of."""
    return feed(g.owner.account_id)


@bp.get("/albums/<album_id>/activity")
def album_activity(album_id: str):
    """One album's activity; its owner also gets its links' opens."""
    album = get_album(album_id, "view")
    answer = feed(g.owner.account_id, album.id)
    if g.album_role == "owner":
        answer["links"] = links_json(album.id)
    if g.owner.account_id is not None:
        answer["unread"] = unread_counts(g.owner.account_id, album.id).get(album.id, 0)
    return answer


# --- unread counts and "seen up to" --------------------------------------------------------


def _account_id() -> str:
    account_id = g.owner.account_id
    if account_id is None:
        raise ApiError(403, "needs_account", "Unread counts and digests belong to an account: sign in.")
    return account_id


@bp.get("/activity/unread")
def unread():
    """Unread counts per album and in all; an owner token of no account has none."""
    account_id = g.owner.account_id
    counts = {} if account_id is None else unread_counts(account_id)
    return {"albums": counts, "total": sum(counts.values())}


@bp.post("/albums/<album_id>/seen")
def mark_seen(album_id: str):
    """Move the account's marker of the album forward, to `up_to` (a seq) or to the newest event; never back."""
    album = get_album(album_id, "view")
    account_id = _account_id()
    data = json_body()  # {} for an empty body
    up_to = inputs.int_field(data, "up_to", minimum=0, maximum=inputs.MAX_AFTER)
    session = db.session()
    newest = session.scalar(select(func.max(A.seq)).where(A.album_id == album.id)) or 0
    # Never past the album's newest event: a marker ahead would hide events still to come.
    target = newest if up_to is None else min(up_to, newest)
    insert = db.dialect_insert(session)(db.AlbumSeen).values(account_id=account_id, album_id=album.id, seq=target)
    seen_table = db.AlbumSeen.__table__
    # One statement that only moves forward: a slower request with an older marker changes nothing.
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[seen_table.c.account_id, seen_table.c.album_id],
            set_={"seq": insert.excluded.seq},
            where=seen_table.c.seq < insert.excluded.seq,
        )
    )
    session.commit()
    seen = session.scalar(
        select(db.AlbumSeen.seq).where(db.AlbumSeen.account_id == account_id, db.AlbumSeen.album_id == album.id)
    )
    return {"album_id": album.id, "seen": str(seen or 0), "unread": unread_counts(account_id, album.id).get(album.id, 0)}


# --- e-mail digests: the setting -------------------------------------------------------------


def _digest_json(account_id: str) -> dict:
    row = db.session().get(db.Digest, account_id, populate_existing=True)
    return {
        "enabled": bool(row and row.enabled),
        "last_sent_at": None if row is None else iso(row.sent_at),
        "mail": mail.configured(current_app.config),
    }


@bp.get("/activity/digest")
def get_digest():
    return _digest_json(_account_id())


@bp.put("/activity/digest")
def put_digest():
    """Opt in or out of e-mail digests. Turning them on starts from now: the first digest tells only what comes next."""
    account_id = _account_id()
    data = json_body()
    if "enabled" not in data:
        raise bad_request("Send `enabled`: true or false.", "missing_field")
    enabled = bool_field(data, "enabled", False)
    session = db.session()
    if enabled:
        newest = session.scalar(select(func.max(A.seq))) or 0
        insert = db.dialect_insert(session)(db.Digest).values(account_id=account_id, enabled=True, seq=newest)
        table = db.Digest.__table__
        # Only a change from off moves the marker; turning it on twice keeps what is still to send.
        session.execute(
            insert.on_conflict_do_update(
                index_elements=[table.c.account_id],
                set_={"enabled": True, "seq": insert.excluded.seq},
                where=table.c.enabled.is_(False),
            )
        )
    else:
        session.execute(
            update(db.Digest)
            .where(db.Digest.account_id == account_id)
            .values(enabled=False)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return _digest_json(account_id)
