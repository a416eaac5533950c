"""Blobs that several file rows share: a file added to another album by reference (issue 13).

A file's blobs live in one folder of the store, ``<album>/<file id>/``, named by the row's
``blob_album`` (or its own album): every row with that file id and folder uses them. While more than
one row does, ``blob_refs`` has a row for the folder counting them (db.BlobRef); with one user it has
none. Bytes count against storage once, for the rows marked ``charged``: the original, or a copy;
a reference is free until no charged row is left, and then every row that keeps the blobs starts
to count them (docs/design.md, "Adding shared photos to one's own albums").

**One lock per folder.** Everything that adds a user to a folder or removes one first writes that
folder's ``blob_refs`` row with one INSERT ... ON CONFLICT DO UPDATE (``lock``): it creates the row
or takes the existing one, and on PostgreSQL a second writer of the same folder waits for the first
to commit, even when the first only inserted it (an UPDATE would not see, nor wait for, a row
another transaction has inserted but not committed). SQLite runs one writer at a time. So the count,
the rows and the charges of one folder change in one order, and exactly one deleter, the one that
takes the last user away, deletes the blobs: none are deleted while a row still points at them.
Folders are locked in sorted order, and account totals change last, so that requests touching
several folders or accounts cannot wait for each other in a circle.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import and_, delete, func, select, update

from . import db

#: The folder of a file row's blobs, as SQL: its blob_album, or its own album.
FOLDER = func.coalesce(db.File.blob_album, db.File.album_id)
TOTAL = db.File.thumb_size + db.File.preview_size + db.File.original_size


def folder_of(file: db.File) -> str:
    """The album whose folder of the store holds the file's blobs."""
    return file.blob_album or file.album_id


def lock(folder: str, file_id: str, add: int) -> int:
    """Take the folder's lock and count ``add`` more users (1 for a new reference, 0 for a deleter); the users before.

    A folder without a ``blob_refs`` row has one user (the file that was uploaded there).
    """
    ref = db.BlobRef
    session = db.session()
    statement = db.dialect_insert(session)(ref).values(album_id=folder, file_id=file_id, refs=1 + add)
    statement = statement.on_conflict_do_update(
        index_elements=[ref.album_id, ref.file_id], set_={"refs": statement.excluded.refs - 1 + ref.refs}
    ).returning(ref.refs)
    return int(session.execute(statement).scalar_one()) - add


def set_users(folder: str, file_id: str, users: int) -> None:
    """Record how many rows use the folder now: a count from two on, no row for one or none."""
    where = and_(db.BlobRef.album_id == folder, db.BlobRef.file_id == file_id)
    if users <= 1:
        db.session().execute(delete(db.BlobRef).where(where))
    else:
        db.session().execute(update(db.BlobRef).where(where).values(refs=users))


class Ledger:
    """Changes to accounts' storage, made once at the end in account order (see the module docstring)."""

    def __init__(self) -> None:
        self.by_album: defaultdict[str, int] = defaultdict(int)

    def add(self, album_id: str, delta: int) -> None:
        self.by_album[album_id] += delta

    def apply(self) -> None:
        """Move every account's bytes_used by its albums' sum, without a quota check (nothing is lost)."""
        if not self.by_album:
            return
        session = db.session()
        owners = session.execute(select(db.Album.id, db.Album.account_id).where(db.Album.id.in_(list(self.by_album)))).all()
        by_account: defaultdict[str, int] = defaultdict(int)
        for album_id, account_id in owners:
            if account_id is not None:
                by_account[account_id] += self.by_album[album_id]
        for account_id in sorted(by_account):
            if by_account[account_id]:
                session.execute(
                    update(db.Account)
                    .where(db.Account.id == account_id)
                    .values(bytes_used=db.Account.bytes_used + by_account[account_id])
                    .execution_options(synchronize_session=False)
                )
        self.by_album.clear()


def remove_user(folder: str, file_id: str, users: int, charged: bool, ledger: Ledger) -> int:
    """After one row of the folder is deleted (the lock held, ``users`` counted before): how many are left.

    A deleted charged row gives its bytes back; if it was the last charged one and rows are left,
    each of them starts to count the blobs, so that bytes kept alive always count for someone.
    """
    left = users - 1
    set_users(folder, file_id, left)
    if charged and left >= 1:
        session = db.session()
        of_folder = (db.File.id == file_id, FOLDER == folder)
        if session.scalar(select(func.count()).select_from(db.File).where(*of_folder, db.File.charged.is_(True))) == 0:
            moved = session.execute(
                update(db.File)
                .where(*of_folder, db.File.charged.is_(False))
                .values(charged=True)
                .returning(db.File.album_id, TOTAL)
                .execution_options(synchronize_session=False)
            ).all()
            for album_id, total in moved:
                ledger.add(album_id, int(total))
    return left


def delete_row(seq: int, folder: str, file_id: str, *conditions) -> tuple[bool, bool]:
    """Delete one complete file row under its folder's lock, and commit: (whether this call deleted it,
    whether the blobs are now unused and the caller must delete them from the store)."""
    session = db.session()
    users = lock(folder, file_id, 0)
    gone = session.execute(
        delete(db.File).where(db.File.seq == seq, *conditions).returning(db.File.album_id, db.File.charged, TOTAL)
    ).first()
    if gone is None:
        session.rollback()  # another request deleted it: leave the count as it was
        return False, False
    album_id, charged, total = gone
    ledger = Ledger()
    if charged:
        ledger.add(album_id, -int(total))
    left = remove_user(folder, file_id, users, charged, ledger)
    ledger.apply()
    session.commit()
    return True, left == 0


def sorted_keys(keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Folders in the one order every request locks them in."""
    return sorted(set(keys))
