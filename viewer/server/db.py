"""The metadata database: SQLAlchemy models and one session per request.

The server stores only what format v1 lets it see: ids, sealed blobs of
metadata and keys, sizes, counts and times. Times are integer Unix seconds, so
SQLite and PostgreSQL compare them the same way.

Counters that enforce policy (device slots, guest quota) are changed with a
single conditional ``UPDATE ... WHERE used < limit``, which both engines apply
atomically, so two workers can never both take the last slot.
"""

from __future__ import annotations

import math
import time
from typing import Any, cast

from flask import Flask, g
from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    create_engine,
    event,
    false,
    true,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

ID = String(22)


def now() -> int:
    """Current Unix time in seconds."""
    return int(time.time())


class Base(DeclarativeBase):
    """Declarative base."""


class Account(Base):
    """An owner's account: what docs/format.md, "What the server stores", lists, and no more.

    The e-mail address is the one thing here in the clear that a person chose; the rest is
    public parameters and keys, ciphertext under keys the server never has, and argon2-cffi
    hashes of the two login keys.
    """

    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # normalised: viewer/server/accounts.py
    pw_salt: Mapped[bytes] = mapped_column(LargeBinary)
    pw_opslimit: Mapped[int] = mapped_column(Integer)
    pw_memlimit: Mapped[int] = mapped_column(BigInteger)
    login_hash: Mapped[str] = mapped_column(String(255))
    recovery_hash: Mapped[str] = mapped_column(String(255))
    sealed_mk: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_mk_rk: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_rk: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_identity: Mapped[bytes] = mapped_column(LargeBinary)
    box_pk: Mapped[bytes] = mapped_column(LargeBinary)
    sign_pk: Mapped[bytes] = mapped_column(LargeBinary)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # NULL: the operator's default (ACCOUNT_QUOTA_BYTES). bytes_used counts the ciphertext of every
    # file in the account's albums, reserved ones included, changed only with the file's own transition.
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bytes_used: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


#: What an account keeps sealed under its MK, one value each (docs/format.md, "Sharing"): the public
#: keys it has seen for others (trust on first use), and its favorite photos.
SEALED_VALUES = ("contacts", "favorites")


class SealedValue(Base):
    """One of an account's own values sealed under its MK; `version` makes each change one conditional UPDATE."""

    __tablename__ = "sealed_values"
    account_id: Mapped[str] = mapped_column(ID, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer)


class AccountSession(Base):
    """A signed-in browser or command line, known by the SHA-256 of its cookie's secret."""

    __tablename__ = "account_sessions"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # public: names the device in the account's list
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(ID, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    last_seen_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class Invitation(Base):
    """A one-time sign-up code (SIGNUP=invite), kept only as its SHA-256."""

    __tablename__ = "invitations"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_by: Mapped[str | None] = mapped_column(ID, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class OwnerToken(Base):
    """An owner API token, kept only as its SHA-256.

    A token of an account (``account_id``) acts for that account; one without (made by the
    ``create-owner-token`` command before accounts) manages only the albums of no account.
    """

    __tablename__ = "owner_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    account_id: Mapped[str | None] = mapped_column(ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True, index=True)
    label: Mapped[str | None] = mapped_column(String(80), nullable=True)


class Album(Base):
    """An album: its id and sealed metadata."""

    __tablename__ = "albums"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    meta: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    # NULL for an album of no account (owner tokens of before accounts). owner_key is its AK sealed
    # under the account's MK (docs/format.md, "Sealed account values"), so every device of the owner opens it.
    account_id: Mapped[str | None] = mapped_column(ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True, index=True)
    owner_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Which album key is the current one: 0 until a member is removed, then one more at each new key
    # (docs/format.md, "Sharing"). Files, members' keys and links name the epoch they are sealed for.
    key_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Someone lost access (left, or was removed by an admin) and the owner's client has not yet
    # made a new album key: it does so the next time the owner opens the album.
    rekey_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


#: Roles of the people an album is shared with (docs/design.md, "Sharing with people"), each
#: with what it may do; the owner may do all of it and more (links, deleting the album, new keys).
ROLES = {
    "viewer": frozenset({"view"}),
    "collaborator": frozenset({"view", "add"}),
    "admin": frozenset({"view", "add", "manage"}),
}


class AlbumMember(Base):
    """A person an album is shared with: their role and the album key sealed to their public key."""

    __tablename__ = "album_members"
    album_id: Mapped[str] = mapped_column(ID, ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[str] = mapped_column(ID, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(12))
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)  # crypto_box_seal to the member's box_pk
    key_epoch: Mapped[int] = mapped_column(Integer)
    added_by: Mapped[str | None] = mapped_column(ID, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class ShareInvitation(Base):
    """An album shared with an e-mail address that has no account yet.

    `sealed_key` is the album key under a key derived from the invitation's secret, which only the
    link in the invitation carries; the server keeps the SHA-256 of the claim key derived from it.
    """

    __tablename__ = "share_invitations"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    album_id: Mapped[str] = mapped_column(ID, ForeignKey("albums.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(12))
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_epoch: Mapped[int] = mapped_column(Integer)
    claim_hash: Mapped[str] = mapped_column(String(64))
    # The invitation's secret sealed to the album owner's public key, so the owner can re-seal the
    # album key for it when the album gets a new key (docs/format.md, "Sharing").
    owner_secret: Mapped[bytes] = mapped_column(LargeBinary)
    invited_by: Mapped[str | None] = mapped_column(ID, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class AlbumKeyChain(Base):
    """The album key of epoch ``epoch - 1``, sealed under the key of ``epoch``: the newest key opens every older one."""

    __tablename__ = "album_key_chain"
    album_id: Mapped[str] = mapped_column(ID, ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed_prev: Mapped[bytes] = mapped_column(LargeBinary)


#: A file's life, each step one conditional UPDATE/DELETE that only one request can win
#: (viewer/server/uploads.py): pending -> completing -> complete; pending -> aborted (the row is deleted).
FILE_STATES = ("pending", "completing", "complete")


class File(Base):
    """A file of an album; listed only once complete. ``seq`` is the stable listing order."""

    __tablename__ = "files"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # A file's id is the one its blobs are bound to (docs/format.md, "Blobs"), so a file added to
    # another album by reference keeps it: an id is unique within an album, not across albums.
    id: Mapped[str] = mapped_column(ID)
    album_id: Mapped[str] = mapped_column(ID, ForeignKey("albums.id", ondelete="CASCADE"))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    meta: Mapped[bytes] = mapped_column(LargeBinary)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)  # True exactly when state == "complete"
    state: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    via_link: Mapped[str | None] = mapped_column(ID, nullable=True)
    # A guest's file waiting for the owner's approval (the link's hold_uploads): only the owner sees it.
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The album key epoch its wrapped key is sealed under, and the account that added it (the owner or a member).
    key_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    added_by: Mapped[str | None] = mapped_column(ID, nullable=True)
    # A reference to a file of another album: the album whose folder of the store holds the blobs
    # (NULL: this row's own album). See BlobRef.
    blob_album: Mapped[str | None] = mapped_column(ID, nullable=True)
    # Whether the file's bytes count against its album owner's storage: False for a reference while
    # the file it points at still counts for someone; set when that one is deleted.
    charged: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # wrapped_key is a sealed box to the album's drop key of epoch key_epoch (an upload-only link's
    # guest holds no album key: docs/format.md, "File drop"), not a key sealed under AK.
    drop: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    thumb_size: Mapped[int] = mapped_column(BigInteger)
    preview_size: Mapped[int] = mapped_column(BigInteger)
    original_size: Mapped[int] = mapped_column(BigInteger)
    thumb_received: Mapped[int] = mapped_column(BigInteger, default=0)
    preview_received: Mapped[int] = mapped_column(BigInteger, default=0)
    original_received: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    # pending: when the reservation lapses; completing: when the finishing request's lease runs out.
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("ix_files_listing", "album_id", "complete", "seq"),
        Index("ix_files_pending", "complete", "expires_at"),
        Index("ix_files_id", "id"),
        UniqueConstraint("album_id", "id", name="uq_files_album_file"),
    )

    @property
    def total_size(self) -> int:
        """Ciphertext bytes of all three blobs."""
        return self.thumb_size + self.preview_size + self.original_size


class BlobRef(Base):
    """How many file rows use the blobs in one file's folder of the store, once a reference shares them.

    There is a row only for blobs in use by more than one file row (the first reference makes it with
    2); each deletion takes one off in a conditional UPDATE, and the one that takes the last deletes
    the blobs (viewer/server/uploads.py), so they are deleted exactly once and never while in use.
    """

    __tablename__ = "blob_refs"
    album_id: Mapped[str] = mapped_column(ID, primary_key=True)  # the folder: <album_id>/<file_id>/
    file_id: Mapped[str] = mapped_column(ID, primary_key=True)
    refs: Mapped[int] = mapped_column(Integer)


class AlbumDropKey(Base):
    """The album's X25519 key pair for one key epoch: guests of an upload-only link seal file keys to it.

    ``sealed_secret`` is its secret key sealed under that epoch's album key (docs/format.md, "File drop").
    """

    __tablename__ = "album_drop_keys"
    album_id: Mapped[str] = mapped_column(ID, ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)


class Link(Base):
    """A public link and everything the server enforces for it."""

    __tablename__ = "links"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    album_id: Mapped[str] = mapped_column(ID, ForeignKey("albums.id", ondelete="CASCADE"), index=True)
    wrapped_album_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    verifier: Mapped[bytes] = mapped_column(LargeBinary)
    # The link proof's public key (docs/format.md, "Link proof"); NULL for links made before it (legacy).
    link_verifier: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    pw_salt: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    pw_opslimit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pw_memlimit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    device_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    devices_used: Mapped[int] = mapped_column(Integer, default=0)
    downloads: Mapped[bool] = mapped_column(Boolean, default=True)
    uploads: Mapped[bool] = mapped_column(Boolean, default=False)
    upload_only: Mapped[bool] = mapped_column(Boolean, default=False)
    quota_files: Mapped[int] = mapped_column(Integer)
    quota_bytes: Mapped[int] = mapped_column(BigInteger)
    max_file_size: Mapped[int] = mapped_column(BigInteger)
    files_used: Mapped[int] = mapped_column(Integer, default=0)
    bytes_used: Mapped[int] = mapped_column(BigInteger, default=0)
    # Bumped by every change of password or policy; access tokens carry it, so a
    # change takes effect on the very next request.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    # The link secret sealed under the owner's MK, so any device of the account can show the link again.
    owner_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The owner's label for the link, sealed under MK (docs/format.md, "Accounts"); opaque here.
    owner_label: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # When an unlock through the link last succeeded: the owner's "last opened".
    last_opened_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # How many unlocks succeeded through the link, counted in the same UPDATE as last_opened_at.
    opens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Guests' files wait for the owner's approval before the link's other visitors see them.
    hold_uploads: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The link's wrap key sealed under the owner's MK, so a new album key can be wrapped for a
    # link with a password the owner does not keep (docs/format.md, "Sharing").
    owner_wrap_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # An upload-only link made as a file drop holds no album key (wrapped_album_key is NULL): it holds
    # the album's drop public key of epoch drop_epoch, sealed under the link's wrap key so that the
    # server cannot put its own in its place (docs/format.md, "File drop").
    wrapped_drop_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    drop_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Whether the link's visitors may write notes (comments and reactions): 'off', 'on', or 'held'
    # (a visitor's note waits for the owner's approval, like hold_uploads); and how many new notes
    # the link's visitors may write per hour between them.
    comments: Mapped[str] = mapped_column(String(8), default="off", server_default="off")
    notes_per_hour: Mapped[int] = mapped_column(Integer, default=30, server_default="30")


#: A link's `comments` setting: off (the default), on, or held for the owner's approval.
LINK_COMMENTS = ("off", "on", "held")


class Note(Base):
    """A comment or a reaction: ciphertext under the album's comment key, signed by its author.

    The author is an account (``author_account``: a member or the owner, whose ``sign_pk`` verifies
    it) or a link's visitor (``author_link`` and the guest's own Ed25519 ``guest_pk``). The server
    checks the signature before it stores a note, but cannot open it (docs/format.md, "Comments and
    reactions"). ``version`` makes each edit one conditional UPDATE; ``seq`` is the listing order.
    """

    __tablename__ = "notes"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID)
    album_id: Mapped[str] = mapped_column(ID, ForeignKey("albums.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    author_account: Mapped[str | None] = mapped_column(ID, nullable=True)
    author_link: Mapped[str | None] = mapped_column(ID, nullable=True)
    guest_pk: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    # Hidden by the owner or an admin: listed to them alone. Held: a visitor's note awaiting approval.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)

    __table_args__ = (
        Index("ix_notes_listing", "album_id", "seq"),
        UniqueConstraint("album_id", "id", name="uq_notes_album_note"),
    )


#: What an activity row records (migrations/versions/0008_activity.py writes them by trigger):
#: a file shown, a note shown, a member added or joined, a member gone.
ACTIVITY_KINDS = ("file", "note", "joined", "left")


class Activity(Base):
    """One thing that happened in an album, written by the database's triggers in the same transaction.

    Only what the server knew already: the album, the acting account (``actor_account``) or link
    (``actor_link``: a guest), and ``subject``: the file or note id, or for a join who added the
    member (NULL: they joined from a link). ``seq`` orders the feed and is what markers count to
    (docs/design.md, "Activity and digests"). No foreign key: the album's own trigger deletes its rows.
    """

    __tablename__ = "activity"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    album_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(8))
    actor_account: Mapped[str | None] = mapped_column(ID, nullable=True)
    actor_link: Mapped[str | None] = mapped_column(ID, nullable=True)
    subject: Mapped[str | None] = mapped_column(ID, nullable=True)
    at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_activity_album", "album_id", "seq"),
        Index("ix_activity_actor", "album_id", "actor_account", "kind"),
        {"sqlite_autoincrement": True},
    )


class AlbumSeen(Base):
    """How far an account has seen an album's activity: moved only forward, by one conditional upsert."""

    __tablename__ = "album_seen"
    account_id: Mapped[str] = mapped_column(ID, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    album_id: Mapped[str] = mapped_column(ID, ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)


class Digest(Base):
    """A person's e-mail digests: opted in or not (off by default), and the last activity seq a digest covered.

    ``seq`` is claimed with one conditional UPDATE before a digest is sent (viewer/server/digest.py),
    so two servers running the digest at once send one mail, not two.
    """

    __tablename__ = "digests"
    account_id: Mapped[str] = mapped_column(ID, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sent_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class UnlockCounter(Base):
    """Counted wrong passwords of one link (``link:<id>``) or of one client on one link (``client:<id>:<address>``).

    ``next_at`` is when the next attempt may be checked: claims are conditional UPDATEs on it
    (viewer/server/policy.py), so concurrent requests cannot check more than the counter allows.
    """

    __tablename__ = "unlock_counters"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[int] = mapped_column(BigInteger, default=0)


class SpentChallenge(Base):
    """The nonce of a challenge already used by an unlock: a second use is a replay."""

    __tablename__ = "spent_challenges"
    nonce: Mapped[str] = mapped_column(ID, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, default=now, index=True)


class LinkDevice(Base):
    """A device admitted to a device-limited link, known by the hash of its public key."""

    __tablename__ = "link_devices"
    link_id: Mapped[str] = mapped_column(ID, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ID, primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers run during a write, and busy_timeout makes concurrent
    # gunicorn workers wait for the write lock instead of failing at once
    # (sqlite.org/wal.html, sqlite.org/c3ref/busy_timeout.html).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


#: Nullable columns the account models added to tables that databases made before migrations already had
#: (viewer/server/migrate.py completes such a database with them; migrations/versions/0002_accounts.py adds them).
ACCOUNT_COLUMNS = (
    ("albums", "account_id", "VARCHAR(22) REFERENCES accounts(id) ON DELETE CASCADE"),
    ("albums", "owner_key", "BLOB"),
    ("links", "owner_secret", "BLOB"),
    ("owner_tokens", "account_id", "VARCHAR(22) REFERENCES accounts(id) ON DELETE CASCADE"),
    ("owner_tokens", "label", "VARCHAR(80)"),
)


def make_engine(url: str, settings: dict[str, Any] | None = None) -> Engine:
    """An engine for the URL, with SQLite tuned for several workers, and a shared database's pool
    and timeouts from the settings (DB_POOL_SIZE and the rest; SQLAlchemy's defaults without them)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    settings = settings or {}
    pool: dict[str, Any] = {}
    if "DB_POOL_SIZE" in settings:
        # Per process: each gunicorn worker has its own pool (docs/settings.md says how to size it).
        pool = {
            "pool_size": settings["DB_POOL_SIZE"],
            "max_overflow": settings["DB_MAX_OVERFLOW"],
            "pool_timeout": settings["DB_POOL_TIMEOUT"],
        }
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        # libpq takes whole seconds (PostgreSQL docs, "Parameter Key Words": connect_timeout), and
        # statement_timeout as a server setting sent at connect, in milliseconds ("options", "-c").
        connect_args["connect_timeout"] = max(2, math.ceil(settings.get("DB_CONNECT_TIMEOUT") or 10))
        if settings.get("DB_STATEMENT_TIMEOUT"):
            connect_args["options"] = f"-c statement_timeout={math.ceil(settings['DB_STATEMENT_TIMEOUT'] * 1000)}"
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **pool)


def session() -> Session:
    """The request's session, opened on first use."""
    if "db_session" not in g:
        from flask import current_app

        g.db_session = current_app.extensions["fragment.sessionmaker"]()
    return g.db_session


def dialect_insert(session: Session) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (SQLite and PostgreSQL alike)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert
    return sqlite_insert


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched: Session.execute is typed as Result, and runs DML as a CursorResult."""
    # https://docs.sqlalchemy.org/en/20/tutorial/data_update.html#getting-affected-row-count-from-update-delete
    return cast("CursorResult[Any]", result).rowcount


def init_app(app: Flask) -> None:
    """Create the engine, bring the schema up to date (or check it), and close the session after each request."""
    import click

    from . import migrate

    engine = make_engine(app.config["DATABASE_URL"], app.config)
    if click.get_current_context(silent=True) is None:
        try:
            migrate.at_start(engine, app.config["MIGRATE"])  # a server (gunicorn, tests): SchemaError refuses to start
        except BaseException:
            engine.dispose()
            raise
    else:
        migrate.defer_to_commands(app)  # the flask command line: when the command runs, and not for `db`
    # Start with an empty pool: gunicorn --preload forks after this, and a
    # connection must never be shared across processes (SQLAlchemy docs,
    # "Using Connection Pools with Multiprocessing or os.fork()").
    engine.dispose()
    app.extensions["fragment.engine"] = engine
    app.extensions["fragment.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        db_session = g.pop("db_session", None)
        if db_session is not None:
            db_session.close()
