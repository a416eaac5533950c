"""The owner's album operations: publish a folder, send files, and save an album's files back to disk.

Everything is encrypted or decrypted here, on the person's machine, with ``viewer.crypto``;
the server only ever sees ciphertext (docs/design.md, "Threat model"). The HTTP is
``client.py``'s, names and atomic writes are ``disk.py``'s, and what a person sees of
it goes through a ``report.Report``.

- ``publish``: a folder as an album, resumable after any interruption; the link comes last.
- ``upload_files`` / ``send_file``: prepare, encrypt and upload files (``publish`` and a guest's ``upload``).
- ``save_files`` / ``save_blob``: download, check and decrypt files (``pull`` of guest uploads, ``open`` of a link).
- ``Drops`` / ``openable``: the files guests added through a file drop, opened with the album's drop keys.
- ``delete_album``: on the server first, then its keys in the keyring.

Which album key opens a file, and which wraps a new one, is ``epochs.py``'s (an album shared with
people gets a new key when someone loses access); functions here take an ``epochs.AlbumKeys``, or
a bare album key for an album never rekeyed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import requests

from .. import crypto
from . import client, epochs, keyring, media
from .client import ApiError, OwnerClient, UploadTarget
from .disk import atomic_file, clean_text, preview_name, safe_name, unique_path
from .epochs import AlbumError, AlbumKeys
from .keyring import KeyringError
from .links import Unlocked, create_link, link_url
from .report import Report, naming, one_line, quoted

# The failures an operation expects, as opposed to bugs: the server's refusals, the network,
# the disk, the keyring, a file media cannot read, and data that does not decrypt.
EXPECTED = (
    ApiError,
    KeyringError,
    crypto.DecryptionError,
    crypto.FormatError,
    media.MediaError,
    requests.RequestException,
    OSError,
)


class FileError(AlbumError):
    """One file failed (sending or saving it): `cause` is why; nothing was kept of it."""

    def __init__(self, name: str, cause: BaseException):
        super().__init__(f"{name}: {cause}")
        self.name, self.cause = name, cause


class AlbumNotDeleted(AlbumError):
    """The server did not delete the album (`cause`): its key stays in the keyring."""

    def __init__(self, album_id: str, cause: BaseException):
        super().__init__(f"the server did not delete album {album_id} ({cause})")
        self.album_id, self.cause = album_id, cause


# --- encrypt and send one file ---------------------------------------------------


@dataclass
class SentFile:
    """What `send_file` uploaded."""

    file_id: str
    meta: dict
    file: dict


def file_meta(path: Path, prepared: Any, extra: dict | None = None) -> dict:
    """The file metadata that is sealed under FK (docs: everything a viewer shows)."""
    meta = {
        "name": path.name,
        "mime": prepared.mime,
        "size": path.stat().st_size,
        # media says "image"; the metadata says "photo", the word people use.
        "kind": "video" if prepared.kind == "video" else "photo",
        "width": prepared.width,
        "height": prepared.height,
        "duration": prepared.duration,
        "taken_at": prepared.taken_at,
        "camera": prepared.camera,
        "location": list(prepared.location) if prepared.location else None,
        "thumb_type": prepared.thumb_type,
        "preview_type": prepared.preview_type,
    }
    meta.update(extra or {})
    return meta


def send_file(
    target: UploadTarget,
    album_key: bytes | AlbumKeys,
    album_id: str,
    path: Path,
    prepared: Any,
    extra_meta: dict | None = None,
    on_progress: client.ProgressFn | None = None,
) -> SentFile:
    """Encrypt a prepared file (thumb, preview, exact original bytes) and upload it: reserve, send, complete.

    The file key is wrapped under the album's current key. If the album got a new key meanwhile
    (409 `stale_key`), its keys are read again and the reservation is tried once more under the new one.
    """
    keys = AlbumKeys.of(album_id, album_key)
    file_id, file_key = crypto.new_id(), crypto.random_key()
    meta = file_meta(path, prepared, extra_meta)
    thumb = crypto.encrypt_blob_bytes(file_key, file_id, "thumb", prepared.thumb)
    preview = crypto.encrypt_blob_bytes(file_key, file_id, "preview", prepared.preview)
    # Originals may be gigabytes: encrypt once to a temporary file and send parts from it.
    with tempfile.TemporaryFile(prefix="fragment-") as original, open(path, "rb") as source:
        for piece in crypto.encrypt_blob(file_key, file_id, "original", source):
            original.write(piece)
        original_size = original.tell()
        if original_size != crypto.ciphertext_size(meta["size"]):
            raise OSError(f"{path.name} changed while it was being read; publish it again")
        blobs: dict[str, tuple[bytes | BinaryIO, int]] = {
            "thumb": (thumb, len(thumb)),
            "preview": (preview, len(preview)),
            "original": (original, original_size),
        }
        body = {
            "file_id": file_id,
            **keys.wrap(file_key, file_id),
            "meta": crypto.b64e(crypto.seal_file_meta(file_key, album_id, file_id, meta)),
            "blobs": {kind: size for kind, (_, size) in blobs.items()},
        }
        try:
            reservation = target.reserve(body)
        except ApiError as exc:
            # Refused before anything was stored: the same file, its key wrapped under the new album key.
            if not epochs.is_stale(exc) or not keys.refresh():
                raise
            reservation = target.reserve({**body, **keys.wrap(file_key, file_id)})
        if isinstance(reservation.get("part_size"), int) and reservation["part_size"] > 0:
            target.part_size = min(target.part_size, reservation["part_size"])  # a server may say its limit
        for kind, (data, size) in blobs.items():
            target.part_size = client.upload_blob(
                lambda k, off, part: target.put_part(file_id, k, off, part),
                lambda: target.status(file_id),
                kind,
                data,
                size,
                part_size=target.part_size,
                on_progress=on_progress if kind == "original" else None,
                on_smaller=target.smaller_parts,
            )
    return SentFile(file_id, {"v": crypto.FORMAT_VERSION, **meta}, target.complete(file_id))


def upload_files(
    target: UploadTarget,
    album_key: bytes | AlbumKeys,
    album_id: str,
    paths: list[Path],
    report: Report,
    extra_meta: dict | None = None,
    *,
    done_bytes: int = 0,
    on_start: Callable[[Path], None] | None = None,
    on_sent: Callable[[Path, SentFile], None] | None = None,
) -> tuple[int, list[str]]:
    """Prepare, encrypt and upload each file; a file media cannot read is skipped with a warning.

    `done_bytes` starts the bar where an earlier run stopped; `on_start` and `on_sent` see each file go.
    Returns how many were sent and the (printable) names of those skipped; FileError for a file that failed.
    """
    keys = AlbumKeys.of(album_id, album_key)  # one object, so a key read again serves the files after it too
    if keys.rekey_pending and paths:
        # The command line cannot make the new key (it would re-seal it for every member, invitation
        # and link); it says so rather than stay silent about who can open these files.
        report.warn(
            "someone lost access to this album and it has no new key yet: open it in the web app to make one, "
            "as until then the files added now open with the key they had"
        )
    if target is not None and target.on_smaller_parts is None:  # None: a caller that sends nothing (tests)
        target.on_smaller_parts = lambda size: report.note(
            f"The server or a proxy in front of it refused a part as too large: sending parts of {size // 1024} KiB."
        )
    sizes = {path: path.stat().st_size for path in paths}
    total = sum(crypto.ciphertext_size(size) for size in sizes.values())
    sent, failed = 0, []
    with report.progress(done_bytes + total, "Uploading") as bar:
        if done_bytes:
            bar.update(done_bytes)
        for path in paths:
            bar.update(0, path.name)
            try:
                prepared = media.prepare(path)
            except media.MediaError as exc:
                report.warn(f"skipped {clean_text(path.name)}: {media_reason(exc, path)}")
                failed.append(clean_text(path.name))
                bar.update(crypto.ciphertext_size(sizes[path]), path.name)
                continue
            if on_start:
                on_start(path)
            try:
                done = send_file(target, keys, album_id, path, prepared, extra_meta, on_progress=naming(bar, path.name))
            except EXPECTED as exc:
                raise FileError(clean_text(path.name), exc) from None
            if on_sent:
                on_sent(path, done)
            sent += 1
    return sent, failed


def media_reason(exc: media.MediaError, path: Path) -> str:
    """MediaError messages start with the path; the warning names the file already."""
    text = str(exc)
    prefix = f"{path}: "
    return one_line(text.removeprefix(prefix))


# --- publish: a folder as an album, resumable --------------------------------------------


@dataclass
class Published:
    """What `publish` did: the link to share, and the files it holds or skipped."""

    url: str
    album_id: str
    title: str
    files: int
    skipped: list[str]


def find_media(directory: Path) -> tuple[list[Path], int]:
    """Top-level photos and videos sorted by name, and how many other files were left out (hidden ones silently)."""
    paths, ignored = [], 0
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or not path.is_file():
            continue
        if media.is_media(path):
            paths.append(path)
        else:
            ignored += 1
    return paths, ignored


def publish(
    ring: keyring.Keyring,
    owner: OwnerClient,
    directory: Path,
    title: str | None,
    restart: bool,
    settings: dict,
    password: str | None,
    report: Report,
) -> Published:
    """Encrypt and upload the photos and videos of `directory` as an album (finishing an interrupted one), then link it."""
    folder = str(directory.resolve())
    with keyring.publish_lock(ring.path, owner.server_url, folder):
        return _publish_locked(ring, owner, directory, folder, title, restart, settings, password, report)


def _publish_locked(
    ring: keyring.Keyring,
    owner: OwnerClient,
    directory: Path,
    folder: str,
    title: str | None,
    restart: bool,
    settings: dict,
    password: str | None,
    report: Report,
) -> Published:
    """`publish`, under its lock: resume or start the album, upload what is missing, make the link."""
    ring = keyring.load(ring.path)  # read again under the lock: a run that just ended may have finished the album
    album_id = ring.unfinished_publish(owner.server_url, folder)
    if album_id and restart:
        report.note(f"Deleting the unfinished album {quoted(ring.album(album_id).get('title', ''))} ({album_id}) to start over.")
        delete_album(owner, album_id)
        album_id = None
    paths, ignored = find_media(directory)
    if not paths:
        raise AlbumError(f"no photos or videos in {directory}")
    if ignored:
        report.note(f"Skipping {ignored} file(s) that are not photos or videos.")
    if album_id:
        keys, title, done = resume_publish(owner, keyring.load(ring.path), album_id, paths, title, report)
    else:
        title = title or directory.resolve().name
        album_id, album_key, done = crypto.new_id(), crypto.random_key(), {}
        # The key and the progress record go to disk before any byte leaves: a crash later never strands an album.
        with keyring.edit(ring.path) as saved:
            saved.add_album(album_id, owner.server_url, album_key, title)
            saved.start_publish(album_id, folder, client.iso_time(datetime.now(UTC)))
        create_album(owner, album_id, album_key, title, ring.master_key(owner.server_url))
        keys = AlbumKeys.of(album_id, album_key)
        new_id = album_id
        keys.reload = lambda: epochs.load(keyring.load(ring.path), owner, new_id)
    target = PublishTarget(owner, album_id, ring.path)
    todo = [path for path in paths if path.name not in done]
    done_bytes = sum(crypto.ciphertext_size(path.stat().st_size) for path in paths if path.name in done)
    sent, failed = upload_files(
        target, keys, album_id, todo, report, done_bytes=done_bytes, on_start=target.begin, on_sent=target.sent
    )
    if not sent and not done:
        with contextlib.suppress(AlbumNotDeleted):
            delete_album(owner, album_id)  # a refusal keeps the key; `fragment albums` shows the album
        raise AlbumError(f"none of the {len(paths)} file(s) could be read; nothing was published")
    # The link comes last: an album without one is unfinished, and `fragment albums` says so.
    url = finish_link(owner, album_id, keys, settings, password, report, resumed=bool(done))
    with keyring.edit(ring.path) as saved:
        saved.finish_publish(album_id)
    return Published(url, album_id, title, sent + len(done), failed)


def create_album(owner: OwnerClient, album_id: str, album_key: bytes, title: str, master_key: bytes | None = None) -> dict:
    """Create the album on the server with its title sealed under the album key.

    Signed in to an account (`master_key`), the album also carries the account's copy of its
    key (`owner_key`), so the account's other devices can open it (docs/format.md, "Accounts").
    """
    meta = crypto.b64e(crypto.seal_album_meta(album_key, album_id, {"title": title}))
    if master_key is None:
        return owner.create_album(album_id, meta)
    return owner.create_album(album_id, meta, crypto.b64e(crypto.seal_owner_album_key(master_key, album_key, album_id)))


def file_state(path: Path) -> dict:
    """What tells a file published earlier from one changed since: size and modification time."""
    info = path.stat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}


def started_on(iso: Any) -> str:
    """'2026-12-02 13:04 UTC' from the ISO time a publish record keeps."""
    try:
        return datetime.fromisoformat(str(iso).replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return "an earlier run"


def resume_publish(
    owner: OwnerClient, ring: keyring.Keyring, album_id: str, paths: list[Path], title: str | None, report: Report
) -> tuple[AlbumKeys, str, dict[str, str]]:
    """(album keys, title, {name: file id} of the files already there) of an unfinished publish, squared with the server."""
    record = ring.publish_record(album_id) or {}
    album_key = ring.album_key(album_id)
    kept = str(ring.album(album_id).get("title", ""))
    if title and title != kept:
        report.note(f"The album keeps the title {quoted(kept)} it was started with.")
    album = owner.find_album(album_id)
    if album is None:  # killed before the server heard of the album
        create_album(owner, album_id, album_key, kept, ring.master_key(owner.server_url))
        keys = AlbumKeys.of(album_id, album_key)
        keys.reload = lambda: epochs.load(ring, owner, album_id)
        on_server: set[str] = set()
    else:
        keys = epochs.of_album(ring, owner, album)
        on_server = {str(entry.get("file_id")) for entry in owner.iter_files(album_id)}
    recorded = dict(record.get("files") or {})
    completed, abandoned = None, None
    pending = record.get("pending") or None
    if pending and pending.get("file_id") in on_server:
        completed = pending  # the server completed it just before the crash: not sent twice
        recorded[pending["name"]] = pending
    elif pending:
        abandoned = pending
        with contextlib.suppress(*EXPECTED):
            owner.delete_file(album_id, pending["file_id"])  # frees its reservation now rather than at cleanup
    present = {path.name: path for path in paths}
    done, resend, gone = {}, [], 0
    for name, entry in recorded.items():
        path = present.get(name)
        if entry.get("file_id") not in on_server:
            resend.append(name)  # gone from the server (deleted by hand?): send it again
        elif path is None:
            gone += 1
        elif file_state(path) != {"size": entry.get("size"), "mtime_ns": entry.get("mtime_ns")}:
            report.note(f"{clean_text(name)} changed since it was uploaded: sending the new version.")
            with contextlib.suppress(*EXPECTED):
                owner.delete_file(album_id, entry["file_id"])
            resend.append(name)
        else:
            done[name] = str(entry["file_id"])
    with keyring.edit(ring.path) as saved:
        if completed:
            state = {key: completed.get(key) for key in ("size", "mtime_ns")}
            saved.publish_done(album_id, completed["name"], completed["file_id"], state)
        if abandoned:
            saved.publish_forget(album_id, abandoned["name"])
        for name in resend:
            saved.publish_forget(album_id, name)
    report.note(
        f"Resuming the publish of {quoted(kept)} started on {started_on(record.get('started_at'))}: "
        f"{len(done)} of {len(paths)} files are already there (`--restart` deletes them and starts over)."
    )
    if gone:
        report.note(f"{gone} file(s) uploaded before are no longer in the folder; they stay in the album.")
    return keys, kept, done


class PublishTarget(UploadTarget):
    """An album's upload routes that keep the keyring's publish record in step with the server."""

    def __init__(self, owner: OwnerClient, album_id: str, ring_path: Path):
        super().__init__(owner, owner.album_path(album_id))
        self.album_id, self.ring_path = album_id, ring_path
        self.path: Path | None = None
        self.state: dict = {}

    def begin(self, path: Path) -> None:
        """The file about to be read; its state is taken before reading, so a later change shows."""
        self.path, self.state = path, file_state(path)

    def reserve(self, body: dict) -> dict:
        # Noted before the server hears of the file: if this process dies from here on, the next
        # run knows which reservation to abandon, or finds the file complete and does not send it twice.
        assert self.path is not None
        with keyring.edit(self.ring_path) as ring:
            ring.publish_pending(self.album_id, self.path.name, body["file_id"], self.state)
        return super().reserve(body)

    def sent(self, path: Path, sent: SentFile) -> None:
        """The server completed the file: note it as done."""
        with keyring.edit(self.ring_path) as ring:
            ring.publish_done(self.album_id, path.name, sent.file_id, self.state)


def finish_link(
    owner: OwnerClient,
    album_id: str,
    album_key: bytes | AlbumKeys,
    settings: dict,
    password: str | None,
    report: Report,
    resumed: bool,
) -> str:
    """The album's link: one made just before an interruption if the server and keyring both have it, else a new one."""
    if resumed:
        ring = keyring.load()
        for link in owner.list_links(album_id):
            secret = ring.link_secret(album_id, str(link.get("link_id")))
            if secret and not link.get("revoked_at"):
                report.note("Its link was made before the interruption; here it is again.")
                return link_url(owner.server_url, link["link_id"], secret, link)
    return create_link(owner, album_id, album_key, settings, password)


def delete_album(owner: OwnerClient, album_id: str) -> bool:
    """Delete an album on the server, and only once the server confirmed, its key and link secrets here.

    The keyring holds the only copy of the album key (docs/design.md, "Key hierarchy"): dropping it
    while the server still holds the album would leave files nobody can open or delete by title.
    False when the server had no such album (any more); AlbumNotDeleted when it refused.
    """
    try:
        existed = owner.delete_album(album_id)
    except EXPECTED as exc:
        raise AlbumNotDeleted(album_id, exc) from None
    with keyring.edit() as ring:
        ring.remove_album(album_id)
    return existed


def sealed_title(ring: keyring.Keyring, album: dict, server: str | None = None) -> str | None:
    """The title in an album's sealed metadata as the server lists it; None when it does not decrypt.

    The metadata is sealed under the album's current key: the keyring's, or (after a new key) the
    account's copy on `server`.
    """
    album_id = album["album_id"]
    try:
        album_key = ring.album_key(album_id)
        if server is not None:
            album_key = epochs.from_album(ring, server, album)[0].current
        meta = crypto.open_album_meta(album_key, album_id, crypto.b64d(album.get("meta", "")))
    except (crypto.DecryptionError, crypto.FormatError, AlbumError):
        return None
    return str(meta.get("title", ""))


# --- download, check and decrypt ----------------------------------------------------


class Saved(NamedTuple):
    """What `save_files` did: files saved, and files already there from an earlier run."""

    saved: int
    present: int


class Drops:
    """The album's drop keys by epoch as the server lists them (`drop_keys`), and what they opened.

    A guest of a file drop seals each file key to the album's drop key of its epoch, not under the
    album key (docs/format.md, "File drop"). The drop secret of epoch e is sealed under AK_e, so the
    album keys open it, and with it the file key; `open_drop_file_key` checks the label and both ids
    inside the box, so a key the server moved from another file or album does not open.
    """

    def __init__(self, album_id: str, listed: object):
        self.album_id = album_id
        self.sealed: dict[int, bytes] = {}
        if isinstance(listed, dict):
            for epoch, item in listed.items():
                # An entry the server garbled is as good as missing: its files are skipped, said in one line.
                with contextlib.suppress(KeyError, TypeError, ValueError, crypto.FormatError):
                    self.sealed[int(epoch)] = crypto.b64d(str(item["sealed_secret"]))
        self.secrets: dict[int, tuple[bytes, bytes]] = {}
        self.file_keys: dict[str, bytes] = {}

    def secret(self, keys: AlbumKeys, epoch: object) -> tuple[bytes, bytes]:
        """(public key, secret key) of the drop key of `epoch`; NoDropKey or DropKeyDamaged if it cannot be had."""
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch not in self.sealed or epoch not in keys.keys:
            raise NoDropKey(epoch)
        if epoch not in self.secrets:
            try:
                secret = crypto.open_drop_secret(keys.keys[epoch], self.album_id, epoch, self.sealed[epoch])
                # The box was sealed to the public key of this secret; the listed one is not trusted for it.
                self.secrets[epoch] = (crypto.drop_public_key(secret), secret)
            except (crypto.DecryptionError, crypto.FormatError):
                raise DropKeyDamaged(epoch) from None
        return self.secrets[epoch]

    def file_key(self, keys: AlbumKeys, entry: dict) -> bytes:
        """The file key of a dropped file; NoDropKey, DropKeyDamaged, or DropFileDamaged for its own sealed key."""
        file_id = str(entry.get("file_id", "?"))
        if file_id not in self.file_keys:
            public_key, secret_key = self.secret(keys, entry.get("key_epoch", 0))
            try:
                sealed = crypto.b64d(str(entry["wrapped_key"]))
                self.file_keys[file_id] = crypto.open_drop_file_key(sealed, self.album_id, file_id, public_key, secret_key)
            except (crypto.DecryptionError, crypto.FormatError, KeyError):
                raise DropFileDamaged(file_id) from None
        return self.file_keys[file_id]


class NoDropKey(AlbumError):
    """The server lists no drop key of this epoch, or the album's keys do not reach it."""

    def __init__(self, epoch: object):
        super().__init__("the server lists no drop key that opens it")
        self.epoch = epoch


class DropKeyDamaged(AlbumError):
    """The drop key of this epoch does not open with the album key of the epoch."""

    def __init__(self, epoch: int):
        super().__init__(f"the album's drop key of epoch {epoch} does not open with its album key (damaged or tampered with)")
        self.epoch = epoch


class DropFileDamaged(AlbumError):
    """A dropped file's own sealed key does not open."""

    def __init__(self, file_id: str):
        super().__init__("its key is damaged or has been tampered with")
        self.file_id = file_id


def openable(entries: list[dict], album_key: bytes | AlbumKeys, album_id: str, drops: Drops | None, report: Report) -> list[dict]:
    """The listed files this command line can open: every file, and each drop whose key opens.

    A drop that cannot be opened is skipped, said in one line per cause (never a traceback): no drop
    key for it, a drop key that does not open (per epoch), a sealed file key that does not (per file).
    The file keys of the others are kept in `drops` for `open_file`.
    """
    keys = AlbumKeys.of(album_id, album_key)
    kept: list[dict] = []
    missing = 0
    damaged: dict[int, int] = {}
    for entry in entries:
        if entry.get("drop") is not True:
            kept.append(entry)
            continue
        try:
            if drops is None:
                raise NoDropKey(entry.get("key_epoch"))
            drops.file_key(keys, entry)
        except NoDropKey:
            missing += 1
        except DropKeyDamaged as exc:
            damaged[exc.epoch] = damaged.get(exc.epoch, 0) + 1
        except DropFileDamaged:
            report.warn(
                f"skipped file {clean_text(str(entry.get('file_id')))}, added through an upload-only link: "
                "its key is damaged or has been tampered with"
            )
        else:
            kept.append(entry)
    if missing:
        report.warn(
            f"skipped {files_added(missing)} through an upload-only link: the server lists no drop key that opens {them(missing)}"
        )
    for epoch, count in sorted(damaged.items()):
        report.warn(
            f"skipped {files_added(count)} through an upload-only link: the album's drop key of epoch {epoch} "
            "does not open with its album key (damaged or tampered with)"
        )
    return kept


def files_added(count: int) -> str:
    return "1 file added" if count == 1 else f"{count} files added"


def them(count: int) -> str:
    return "it" if count == 1 else "them"


def pull(owner: OwnerClient, ring: keyring.Keyring, album_id: str, out: Path, report: Report) -> Saved | None:
    """Save what guests added to an album into OUT/<guest name>/; None when there is nothing yet."""
    ring.album_key(album_id)  # KeyringError first for an album this keyring does not know
    files = list(owner.iter_files(album_id, source="guest"))
    if not files:
        return None
    drops = None
    if any(entry.get("drop") is True for entry in files):
        # Drops open with the album's drop keys, which only the album's JSON lists: read it once, with its keys.
        album = owner.find_album(album_id)
        if album is None:
            raise AlbumError(f"there is no album {album_id} on {owner.server_url} any more")
        keys = epochs.of_album(ring, owner, album)
        drops = Drops(album_id, album.get("drop_keys"))
    else:
        keys = epochs.for_files(ring, owner, album_id, files)
    files = openable(files, keys, album_id, drops, report)
    return save_files(
        files,
        keys,
        album_id,
        lambda file_id, kind: owner.download_blob(album_id, file_id, kind),
        out,
        "original",
        report,
        per_uploader=True,
        keep_taken_time=True,
        drops=drops,
    )


def open_album(opened: Unlocked, out: Path, kind: str, report: Report) -> Saved:
    """Save every file of an unlocked link's album into OUT, as originals or previews (`kind`)."""
    drops = Drops(opened.album_id, opened.drop_keys)  # a viewing link's unlock lists the album's drop keys
    files = openable(list(opened.link.iter_files()), opened.album_keys, opened.album_id, drops, report)
    return save_files(files, opened.album_keys, opened.album_id, opened.download_blob, out, kind, report, drops=drops)


def save_files(
    entries: list[dict],
    album_key: bytes | AlbumKeys,
    album_id: str,
    fetch: Callable[[str, str], requests.Response],
    out: Path,
    kind: str,
    report: Report,
    *,
    per_uploader: bool = False,
    keep_taken_time: bool = False,
    drops: Drops | None = None,
) -> Saved:
    """Download, check and decrypt the `kind` blob of each listed file into `out`, under its own safe name.

    `fetch(file_id, kind)` starts a download. An original of the same name and size from an
    earlier run is not fetched twice; nothing already on disk is overwritten. `per_uploader`
    puts each file in a folder named after its guest; `keep_taken_time` gives it its capture
    time as mtime. FileError names a file that failed (and nothing was kept of it). Drops open with
    `drops` (see ``openable``, which leaves out those that do not).
    """
    out.mkdir(parents=True, exist_ok=True)
    saved = present = 0
    taken: set[Path] = set()
    with report.progress(sum(blob_size(f, kind) for f in entries), "Downloading") as bar:
        for entry in entries:
            file_id, file_key, meta = open_file(album_key, album_id, entry, drops)
            folder = out
            if per_uploader:
                folder = out / safe_name(meta.get("uploader"), "guest")
                folder.mkdir(exist_ok=True)
            name = safe_name(meta.get("name"))
            if kind == "preview":
                name = preview_name(name, meta.get("preview_type"))
            elif already_there(folder / name, meta, taken):
                present += 1
                bar.update(blob_size(entry, kind), name)
                continue
            dest = unique_path(folder, name, taken)
            bar.update(0, name)
            try:
                response = fetch(file_id, kind)
                size = meta_size(meta) if kind == "original" else None
                save_blob(response, file_key, file_id, kind, dest, size, naming(bar, name))
            except EXPECTED as exc:
                raise FileError(name, exc) from None
            if keep_taken_time:
                set_taken_time(dest, meta)
            taken.add(dest)
            saved += 1
    return Saved(saved, present)


def open_file(album_key: bytes | AlbumKeys, album_id: str, entry: dict, drops: Drops | None = None) -> tuple[str, bytes, dict]:
    """(file id, file key, metadata) of a listed file, its key unwrapped under the album key of its epoch.

    A drop's key is opened with the album's drop key of its epoch (`drops`). AlbumError naming the
    file id if it does not decrypt, or if its epoch's key is not among the album's.
    """
    file_id = str(entry.get("file_id", "?"))
    keys = AlbumKeys.of(album_id, album_key)
    try:
        if entry.get("drop") is True:
            if drops is None:
                raise AlbumError(f"file {file_id} was added through an upload-only link, and no drop key was given to open it")
            try:
                file_key = drops.file_key(keys, entry)
            except AlbumError as exc:
                raise AlbumError(f"file {file_id}, added through an upload-only link: {exc}") from None
        else:
            file_key = keys.file_key(entry)
        meta = crypto.open_file_meta(file_key, album_id, file_id, crypto.b64d(entry["meta"]))
    except (crypto.DecryptionError, crypto.FormatError, KeyError, TypeError):
        raise AlbumError(f"file {file_id}: its key or metadata is damaged or has been tampered with") from None
    return file_id, file_key, meta


def save_blob(
    response: requests.Response,
    file_key: bytes,
    file_id: str,
    kind: str,
    dest: Path,
    expected_size: int | None = None,
    on_progress: client.ProgressFn | None = None,
) -> int:
    """Decrypt a streamed blob into `dest`, which appears only once all of it checked out.

    Raises crypto.DecryptionError (nothing is left on disk) when any chunk fails, or
    when the plaintext is not `expected_size` bytes long.
    """
    written = 0
    with atomic_file(dest) as out, response:
        try:
            for chunk in crypto.decrypt_blob(file_key, file_id, kind, client.reader(response, on_progress)):
                out.write(chunk)
                written += len(chunk)
        except crypto.FormatError as exc:  # a mangled header is tampering too
            raise crypto.DecryptionError(str(exc)) from exc
        if expected_size is not None and written != expected_size:
            raise crypto.DecryptionError(f"decrypted {written} bytes where the metadata says {expected_size}")
    return written


def blob_size(entry: dict, kind: str) -> int:
    size = (entry.get("blobs") or {}).get(kind)
    return size if isinstance(size, int) else 0


def meta_size(meta: dict) -> int | None:
    size = meta.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def already_there(path: Path, meta: dict, taken: set[Path]) -> bool:
    """A file of the same name and size from an earlier run: do not fetch it twice."""
    size = meta_size(meta)
    return size is not None and path not in taken and path.is_file() and path.stat().st_size == size


def taken_timestamp(meta: dict) -> float | None:
    """The POSIX time of the metadata's `taken_at`, or None when it is missing or unreadable."""
    value = meta.get("taken_at")
    if not isinstance(value, str):
        return None
    try:
        # Without an offset it is the camera's wall clock, so a naive time is read as local time.
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def set_taken_time(path: Path, meta: dict) -> None:
    """Give a saved file its capture time as mtime, so it sorts by date in a file manager."""
    when = taken_timestamp(meta)
    if when is None:
        return
    # A time the file system cannot hold (guest metadata is untrusted): keep the download time.
    with contextlib.suppress(ValueError, OverflowError, OSError):
        os.utime(path, (when, when))
