"""Album key epochs: which album key is current, the chain to the older ones, and the lock that orders changes.

An album's key changes when someone loses access (api_sharing.rekey). Anything a client seals under
the album key (a file's wrapped key, a member's or an invitation's copy) names the epoch it used, and
is accepted only in a transaction that first took the album row at that epoch (`hold`): so a new
key commits either before it (and it is refused as stale) or after it (and it was sealed before
anyone lost access). docs/format.md, "Sharing", has the chain's bytes.
"""

from __future__ import annotations

from sqlalchemy import select, update

from .. import crypto
from . import db
from .errors import ApiError, not_found


def stale_key() -> ApiError:
    """409 for something sealed under an album key that is no longer the album's current one."""
    return ApiError(409, "stale_key", "This album has a new key since you opened it: reload the page and try again.")


def hold(album_id: str, epoch: int) -> None:
    """Take the album row if its key is still `epoch`: else roll back and raise 409 (a new key) or 404 (no album).

    The UPDATE changes nothing, but it locks the row until commit (PostgreSQL; SQLite has one writer
    at a time), so a concurrent new key waits for this transaction, or this one finds the new epoch.
    """
    session = db.session()
    held = db.rowcount(
        session.execute(
            update(db.Album)
            .where(db.Album.id == album_id, db.Album.key_epoch == epoch)
            .values(key_epoch=db.Album.key_epoch)
            .execution_options(synchronize_session=False)
        )
    )
    if held != 1:
        session.rollback()
        if session.get(db.Album, album_id) is None:
            raise not_found("This album")
        raise stale_key()


def key_chain(album: db.Album) -> dict[str, str]:
    """The album's older keys, each sealed under the next one, by epoch (empty for an album never rekeyed)."""
    if album.key_epoch == 0:
        return {}
    rows = db.session().scalars(select(db.AlbumKeyChain).where(db.AlbumKeyChain.album_id == album.id))
    return {str(row.epoch): crypto.b64e(row.sealed_prev) for row in rows}
