"""What revisions after 0002 added: a database made before migrations began (adopted at 0002) has none of it."""

HEAD = "0008"

LATER_TABLES = (
    "album_members",
    "share_invitations",
    "album_key_chain",
    "sealed_values",
    "blob_refs",
    "album_drop_keys",
    "notes",
    "activity",
    "album_seen",
    "digests",
)

LATER_COLUMNS = (
    ("links", "owner_label"),  # 0003
    ("links", "last_opened_at"),
    ("links", "hold_uploads"),  # 0004
    ("files", "held"),
    ("albums", "key_epoch"),  # 0005
    ("albums", "rekey_pending"),
    ("files", "key_epoch"),
    ("files", "added_by"),
    ("links", "owner_wrap_key"),
    ("files", "blob_album"),  # 0006
    ("files", "charged"),
    ("files", "drop"),
    ("links", "wrapped_drop_key"),
    ("links", "drop_epoch"),
    ("links", "comments"),  # 0007
    ("links", "notes_per_hour"),
    ("links", "opens"),  # 0008
)


def drop_later_triggers(connection) -> None:
    """Drop what 0008 made besides tables and columns (its triggers, on PostgreSQL their functions), before those.

    A database from before migrations had none; left behind, they name the dropped tables.
    """
    import importlib.util
    from pathlib import Path

    from sqlalchemy import text

    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0008_activity.py"
    spec = importlib.util.spec_from_file_location("migration_0008", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if connection.dialect.name == "postgresql":
        for name, table in module.PG_TRIGGER_TABLES.items():
            connection.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
        for name in module.PG_FUNCTIONS:
            connection.execute(text(f"DROP FUNCTION IF EXISTS {name}()"))
    else:
        for name in module.SQLITE_TRIGGERS:
            connection.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
