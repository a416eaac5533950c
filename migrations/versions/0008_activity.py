"""Activity (issue 14): what happened in each album, unread markers, e-mail digests, and link opens.

``activity`` is written by the database itself, by triggers on the tables whose changes it
records, in the same transaction as the change: a file becoming visible (completed, or a held one
approved), a note becoming visible (written, or a held one approved), a member added or joining, a
member gone. So no code path that adds a file, a note or a member can forget to record it, and a
change that rolls back records nothing. Each row holds only what the server knew already: ids,
the acting account or link, and a time (docs/design.md, "Activity and digests").

``album_seen`` is each account's "seen up to" marker per album, ``digests`` the opt-in to e-mail
digests and the last activity each person's digest covered; links get ``opens``, counted at unlock.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.String(22)

# --- triggers ---------------------------------------------------------------------------------
# One statement each (op.execute sends one at a time). The time is the database's clock in Unix
# seconds, as the app's own (db.now) is elsewhere.

SQLITE_NOW = "CAST(strftime('%s', 'now') AS INTEGER)"

_SQLITE_INSERT = "INSERT INTO activity (album_id, kind, actor_account, actor_link, subject, at) VALUES "

SQLITE_TRIGGERS = {
    # A file is shown once it is complete and not held: on completion, on approval, or when added
    # complete at once (a copy or a reference from another album).
    "activity_file_added": f"""
        CREATE TRIGGER activity_file_added AFTER INSERT ON files
        WHEN NEW.state = 'complete' AND NEW.held = 0
        BEGIN {_SQLITE_INSERT} (NEW.album_id, 'file', NEW.added_by, NEW.via_link, NEW.id, {SQLITE_NOW}); END""",
    "activity_file_shown": f"""
        CREATE TRIGGER activity_file_shown AFTER UPDATE OF state, held ON files
        WHEN NEW.state = 'complete' AND NEW.held = 0 AND (OLD.state <> 'complete' OR OLD.held <> 0)
        BEGIN {_SQLITE_INSERT} (NEW.album_id, 'file', NEW.added_by, NEW.via_link, NEW.id, {SQLITE_NOW}); END""",
    "activity_note_added": f"""
        CREATE TRIGGER activity_note_added AFTER INSERT ON notes
        WHEN NEW.held = 0
        BEGIN {_SQLITE_INSERT} (NEW.album_id, 'note', NEW.author_account, NEW.author_link, NEW.id, {SQLITE_NOW}); END""",
    "activity_note_approved": f"""
        CREATE TRIGGER activity_note_approved AFTER UPDATE OF held ON notes
        WHEN OLD.held <> 0 AND NEW.held = 0
        BEGIN {_SQLITE_INSERT} (NEW.album_id, 'note', NEW.author_account, NEW.author_link, NEW.id, {SQLITE_NOW}); END""",
    # subject: who added them (NULL: they joined from a link).
    "activity_member_joined": f"""
        CREATE TRIGGER activity_member_joined AFTER INSERT ON album_members
        BEGIN {_SQLITE_INSERT} (NEW.album_id, 'joined', NEW.account_id, NULL, NEW.added_by, {SQLITE_NOW}); END""",
    # Not when the album itself goes (its members go with it by cascade).
    "activity_member_left": f"""
        CREATE TRIGGER activity_member_left AFTER DELETE ON album_members
        WHEN EXISTS (SELECT 1 FROM albums WHERE albums.id = OLD.album_id)
        BEGIN {_SQLITE_INSERT} (OLD.album_id, 'left', OLD.account_id, NULL, NULL, {SQLITE_NOW}); END""",
    "activity_album_gone": """
        CREATE TRIGGER activity_album_gone AFTER DELETE ON albums
        BEGIN DELETE FROM activity WHERE album_id = OLD.id; END""",
}

PG_NOW = "CAST(extract(epoch FROM clock_timestamp()) AS BIGINT)"
_PG_INSERT = "INSERT INTO activity (album_id, kind, actor_account, actor_link, subject, at) VALUES "

PG_FUNCTIONS = {
    "fragment_activity_files": f"""
        CREATE FUNCTION fragment_activity_files() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.state = 'complete' AND NOT NEW.held
               AND (TG_OP = 'INSERT' OR OLD.state <> 'complete' OR OLD.held) THEN
                {_PG_INSERT} (NEW.album_id, 'file', NEW.added_by, NEW.via_link, NEW.id, {PG_NOW});
            END IF;
            RETURN NULL;
        END $$""",
    "fragment_activity_notes": f"""
        CREATE FUNCTION fragment_activity_notes() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT NEW.held AND (TG_OP = 'INSERT' OR OLD.held) THEN
                {_PG_INSERT} (NEW.album_id, 'note', NEW.author_account, NEW.author_link, NEW.id, {PG_NOW});
            END IF;
            RETURN NULL;
        END $$""",
    "fragment_activity_members": f"""
        CREATE FUNCTION fragment_activity_members() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                {_PG_INSERT} (NEW.album_id, 'joined', NEW.account_id, NULL, NEW.added_by, {PG_NOW});
            ELSIF EXISTS (SELECT 1 FROM albums WHERE albums.id = OLD.album_id) THEN
                {_PG_INSERT} (OLD.album_id, 'left', OLD.account_id, NULL, NULL, {PG_NOW});
            END IF;
            RETURN NULL;
        END $$""",
    "fragment_activity_albums": """
        CREATE FUNCTION fragment_activity_albums() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM activity WHERE album_id = OLD.id;
            RETURN NULL;
        END $$""",
}

PG_TRIGGERS = {
    "activity_files": "CREATE TRIGGER activity_files AFTER INSERT OR UPDATE OF state, held ON files "
    "FOR EACH ROW EXECUTE FUNCTION fragment_activity_files()",
    "activity_notes": "CREATE TRIGGER activity_notes AFTER INSERT OR UPDATE OF held ON notes "
    "FOR EACH ROW EXECUTE FUNCTION fragment_activity_notes()",
    "activity_members": "CREATE TRIGGER activity_members AFTER INSERT OR DELETE ON album_members "
    "FOR EACH ROW EXECUTE FUNCTION fragment_activity_members()",
    "activity_albums": "CREATE TRIGGER activity_albums AFTER DELETE ON albums "
    "FOR EACH ROW EXECUTE FUNCTION fragment_activity_albums()",
}

PG_TRIGGER_TABLES = {
    "activity_files": "files",
    "activity_notes": "notes",
    "activity_members": "album_members",
    "activity_albums": "albums",
}


def upgrade() -> None:
    op.create_table(
        "activity",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        # No foreign key: rows are written by triggers, also while an album's members are deleted
        # with it; the album's own trigger deletes its rows.
        sa.Column("album_id", ID, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("actor_account", ID, nullable=True),
        sa.Column("actor_link", ID, nullable=True),
        sa.Column("subject", ID, nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        # A seq is never given twice (SQLite AUTOINCREMENT), so a marker never covers a later event.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_activity_album", "activity", ["album_id", "seq"])
    op.create_index("ix_activity_actor", "activity", ["album_id", "actor_account", "kind"])
    op.create_table(
        "album_seen",
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("album_id", ID, sa.ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False),
    )
    op.create_table(
        "digests",
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("seq", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
    )
    op.add_column("links", sa.Column("opens", sa.Integer(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        for statement in (*PG_FUNCTIONS.values(), *PG_TRIGGERS.values()):
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS.values():
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in PG_TRIGGER_TABLES.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    # Plain ALTER TABLE ... DROP COLUMN, as 0007: link_devices references links.
    op.drop_column("links", "opens")
    op.drop_table("digests")
    op.drop_table("album_seen")
    op.drop_index("ix_activity_actor", table_name="activity")
    op.drop_index("ix_activity_album", table_name="activity")
    op.drop_table("activity")
