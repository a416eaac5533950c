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
