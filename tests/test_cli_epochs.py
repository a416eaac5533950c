"""The command line follows an album's new key (issue 13), against gunicorn with the real crypto.

An account album is made with files and links by the real `fragment`; then the owner's web client
is simulated through the API (as tests/test_sharing_api.py does): it opens the album key and each
link's wrap key from the account's copies, makes a new album key, and POSTs .../rekey with the
chain, the re-sealed metadata, its own copy and every link's wrapped key. From then on the command
line must open old and new files, wrap new files under the new key (also when the key changes just
as it reserves one), and a link's visitors get every file. The last tests check, without a server,
what the command line refuses: an older key than it has seen, a chain that does not lead back to
its key, a new key with no account to open it, a file under a key the album does not reach.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import requests

from tests.support.media_fixtures import make_jpeg_with_orientation
from tests.support.owner_cli import split
from tests.test_cli_account import browser_session, keyring_of, photos, sign_up, signed_in_cli
from viewer import crypto
from viewer.owner import albums, client, epochs, keyring, links
from viewer.owner.report import Quiet

LINK_PASSWORD = "a link password"


def rekey(session: requests.Session, url: str, master_key: bytes, album_id: str, **meta_changes) -> bytes:
    """What the owner's web client does when someone loses access: a new album key for everything; the new key."""
    album = session.get(f"{url}/api/owner/albums/{album_id}").json()
    epoch = album["key_epoch"]
    old = crypto.open_owner_album_key(master_key, crypto.b64d(album["owner_key"]), album_id)
    meta = {k: v for k, v in crypto.open_album_meta(old, album_id, crypto.b64d(album["meta"])).items() if k != "v"}
    new = crypto.random_key()
    wrapped = {}
    for link in session.get(f"{url}/api/owner/albums/{album_id}/links").json()["links"]:
        if link["revoked_at"]:
            continue
        # The account's copy of the wrap key: the only way to re-wrap for a password link without its password.
        wrap_key = crypto.open_owner_link_wrap_key(master_key, crypto.b64d(link["owner_wrap_key"]), link["link_id"])
        wrapped[link["link_id"]] = crypto.b64e(crypto.wrap_album_key(wrap_key, new, link["link_id"]))
    body = {
        "from_epoch": epoch,
        "chain": crypto.b64e(crypto.seal_album_key_chain(new, old, album_id, epoch + 1)),
        "meta": crypto.b64e(crypto.seal_album_meta(new, album_id, {**meta, **meta_changes})),
        "owner_key": crypto.b64e(crypto.seal_owner_album_key(master_key, new, album_id)),
        "members": {},
        "invitations": {},
        "links": wrapped,
    }
    answer = session.post(f"{url}/api/owner/albums/{album_id}/rekey", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["key_epoch"] == epoch + 1
    return new


def file_rows(live_server: dict, album_id: str) -> dict[str, tuple[int, bytes]]:
    """{file id: (key_epoch, wrapped_key)} of the album's files, as the database keeps them."""
    with sqlite3.connect(Path(live_server["data_dir"]) / "fragment.db") as db:
        rows = db.execute("SELECT id, key_epoch, wrapped_key FROM files WHERE album_id = ?", (album_id,)).fetchall()
    return {file_id: (epoch, bytes(wrapped)) for file_id, epoch, wrapped in rows}


def saved(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def jpeg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    make_jpeg_with_orientation(path, size=(320, 240), orientation=1)
    return path


def owner_wrap_key_opens(session: requests.Session, url: str, master_key: bytes, album_id: str, link_id: str, wrap_key: bytes):
    (link,) = [x for x in session.get(f"{url}/api/owner/albums/{album_id}/links").json()["links"] if x["link_id"] == link_id]
    assert link["owner_wrap_key"] is not None
    assert crypto.open_owner_link_wrap_key(master_key, crypto.b64d(link["owner_wrap_key"]), link_id) == wrap_key


@pytest.mark.slow
def test_the_command_line_follows_a_new_album_key(live_server, tmp_path, monkeypatch):
    url = live_server["url"]
    made = sign_up(live_server, "epochs@example.org")
    mk = made.master_key
    fragment = signed_in_cli(tmp_path, live_server, "epochs@example.org")
    session, _account = browser_session(live_server, "epochs@example.org")

    # An account album with two photos and a link that takes guests' photos, all by the command line.
    folder = photos(tmp_path / "Trip", 2)
    link = fragment.publish(folder, "--title", "Trip", "--server", url, "--allow-uploads")
    _server, link_id, fragment_text = split(link)
    secret = crypto.decode_link_secret(fragment_text)
    album_id = next(iter(keyring_of(fragment)["albums"]))
    owner_wrap_key_opens(session, url, mk, album_id, link_id, crypto.link_keys(secret).wrap_key)
    # A second link, with a password: its account copy of the wrap key is the password-derived one.
    protected = fragment.link("links", "add", "Trip", "--password-stdin", input=LINK_PASSWORD + "\n")
    _server, protected_id, protected_fragment = split(protected)
    info = requests.get(f"{url}/api/links/{protected_id}", timeout=30).json()
    factor = crypto.password_factor(LINK_PASSWORD, crypto.PasswordParams.from_json(info["password"]))
    protected_secret = crypto.decode_link_secret(protected_fragment)
    owner_wrap_key_opens(session, url, mk, album_id, protected_id, crypto.link_keys(protected_secret, factor).wrap_key)
    # A guest adds a photo through the first link before anyone loses access.
    fragment("upload", link, jpeg(tmp_path / "guest" / "guest before.jpg"), "--name", "Gus")
    first = set(file_rows(live_server, album_id))
    assert len(first) == 3 and {epoch for epoch, _ in file_rows(live_server, album_id).values()} == {0}
    ak0 = crypto.b64d(keyring_of(fragment)["albums"][album_id]["album_key"])

    # The owner's web client gives the album a new key (and a new title, sealed under it).
    ak1 = rekey(session, url, mk, album_id, title="Trip, shared")

    # The command line adds a file: under the new key, at epoch 1, and the keyring follows.
    fragment("albums", "add", album_id, jpeg(tmp_path / "more" / "after.jpg"))
    rows = file_rows(live_server, album_id)
    (added,) = set(rows) - first
    epoch, wrapped = rows[added]
    assert epoch == 1
    crypto.unwrap_file_key(ak1, wrapped, album_id, added)
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_file_key(ak0, wrapped, album_id, added)  # nothing the removed person had opens it
    entry = keyring_of(fragment)["albums"][album_id]
    assert crypto.b64d(entry["album_key"]) == ak1 and entry["key_epoch"] == 1
    _, listing = fragment("albums", "--server", url)
    assert "Trip, shared" in listing  # the metadata sealed under the new key opens

    # The key changes again just as the command line reserves a file: it reads the album again and retries once.
    reserve = client.UploadTarget.reserve
    refused: list[str] = []

    def rekey_first(self, body):
        if not refused:
            refused.append(body["file_id"])
            rekey(session, url, mk, album_id)
        return reserve(self, body)

    monkeypatch.setattr(client.UploadTarget, "reserve", rekey_first)
    fragment("albums", "add", album_id, jpeg(tmp_path / "more" / "raced.jpg"))
    monkeypatch.setattr(client.UploadTarget, "reserve", reserve)
    assert file_rows(live_server, album_id)[refused[0]][0] == 2
    assert keyring_of(fragment)["albums"][album_id]["key_epoch"] == 2
    # So does a new title sealed just as the key changes.
    patch = client.OwnerClient.patch_album
    patched: list[int | None] = []

    def rekey_before_patch(self, album, meta, key_epoch=None):
        if not patched:
            rekey(session, url, mk, album_id)
        patched.append(key_epoch)
        return patch(self, album, meta, key_epoch)

    monkeypatch.setattr(client.OwnerClient, "patch_album", rekey_before_patch)
    fragment("albums", "rename", album_id, "Trip, renamed")
    monkeypatch.setattr(client.OwnerClient, "patch_album", patch)
    assert patched == [2, 3]
    ak3 = crypto.open_owner_album_key(
        mk, crypto.b64d(session.get(f"{url}/api/owner/albums/{album_id}").json()["owner_key"]), album_id
    )
    shown = session.get(f"{url}/api/owner/albums/{album_id}").json()
    assert crypto.open_album_meta(ak3, album_id, crypto.b64d(shown["meta"]))["title"] == "Trip, renamed"

    # A guest's photo after the new keys: the link's unlock answer gives the current epoch.
    fragment("upload", link, jpeg(tmp_path / "guest" / "guest after.jpg"), "--name", "Gus")
    rows = file_rows(live_server, album_id)
    assert sorted(epoch for epoch, _ in rows.values()) == [0, 0, 0, 1, 2, 3]

    # The owner's command line opens every file, whatever its epoch: by name, and pulling guests' photos.
    _, output = fragment("albums", "cover", album_id, "photo 1.jpg")
    assert "The cover of" in output
    fragment("pull", album_id, "--out", tmp_path / "pulled")
    originals = {p.name: p.read_bytes() for p in (tmp_path / "guest").iterdir()}
    assert saved(tmp_path / "pulled") == originals

    # A visitor of either link gets every file, old and new (the link was re-wrapped from its owner_wrap_key).
    expected = {
        **{p.name: p.read_bytes() for p in folder.iterdir()},
        **{p.name: p.read_bytes() for p in (tmp_path / "more").iterdir()},
        **originals,
    }
    _, output = fragment("open", link, "--out", tmp_path / "opened")
    assert "Album: Trip, renamed" in output
    assert saved(tmp_path / "opened") == expected
    fragment("open", protected, "--out", tmp_path / "opened-with-password", "--password-stdin", input=LINK_PASSWORD + "\n")
    assert saved(tmp_path / "opened-with-password") == expected

    # A new password for a link wraps the current key, with the account's copy of the new wrap key.
    fragment("links", "change", link_id, "--password-stdin", input=LINK_PASSWORD + "\n")
    info = requests.get(f"{url}/api/links/{link_id}", timeout=30).json()
    factor = crypto.password_factor(LINK_PASSWORD, crypto.PasswordParams.from_json(info["password"]))
    owner_wrap_key_opens(session, url, mk, album_id, link_id, crypto.link_keys(secret, factor).wrap_key)
    fragment("open", link, "--out", tmp_path / "opened-again", "--password-stdin", input=LINK_PASSWORD + "\n")
    assert saved(tmp_path / "opened-again") == expected

    # A link made now wraps the current key (epoch 3), with the account's copy of its wrap key.
    late = fragment.link("links", "add", album_id)
    _server, late_id, late_fragment = split(late)
    owner_wrap_key_opens(session, url, mk, album_id, late_id, crypto.link_keys(crypto.decode_link_secret(late_fragment)).wrap_key)
    fragment("open", late, "--out", tmp_path / "opened-late")
    assert saved(tmp_path / "opened-late") == expected


# --- refusals, without a server ---------------------------------------------------------------------


ALBUM_ID = crypto.new_id()
SERVER = "https://photos.example.org"


def chained(master_key: bytes, count: int) -> tuple[list[bytes], dict]:
    """Album keys AK_0..AK_count and the album as the owner API shows it at epoch `count`."""
    keys = [crypto.random_key() for _ in range(count + 1)]
    album = {
        "album_id": ALBUM_ID,
        "key_epoch": count,
        "owner_key": crypto.b64e(crypto.seal_owner_album_key(master_key, keys[count], ALBUM_ID)),
        "key_chain": {
            str(e): crypto.b64e(crypto.seal_album_key_chain(keys[e], keys[e - 1], ALBUM_ID, e)) for e in range(1, count + 1)
        },
    }
    return keys, album


def ring_with(tmp_path: Path, album_key: bytes, epoch: int, master_key: bytes | None) -> keyring.Keyring:
    ring = keyring.Keyring(tmp_path / "keyring.json")
    if master_key is not None:
        ring.set_account(SERVER, "token", {"account_id": crypto.new_id(), "master_key": crypto.b64e(master_key)})
    else:
        ring.set_server(SERVER, "token")
    ring.add_album(ALBUM_ID, SERVER, album_key, "Trip", epoch)
    return ring


def test_the_keys_of_a_rekeyed_album_open_each_files_epoch(tmp_path):
    mk = crypto.random_key()
    keys, album = chained(mk, 2)
    found, moved = epochs.from_album(ring_with(tmp_path, keys[0], 0, mk), SERVER, album)
    assert moved and found.epoch == 2 and found.keys == dict(enumerate(keys))
    file_id, file_key = crypto.new_id(), crypto.random_key()
    old = {
        "file_id": file_id,
        "key_epoch": 0,
        "wrapped_key": crypto.b64e(crypto.wrap_file_key(keys[0], file_key, ALBUM_ID, file_id)),
    }
    assert found.file_key(old) == file_key
    assert found.wrap(file_key, file_id)["key_epoch"] == 2
    with pytest.raises(epochs.AlbumError, match=f"file {file_id} is under album key 7, which the album's keys do not reach"):
        found.file_key({**old, "key_epoch": 7})


def test_an_older_key_than_the_keyring_has_seen_is_refused(tmp_path):
    mk = crypto.random_key()
    _keys, album = chained(mk, 1)
    ring = ring_with(tmp_path, crypto.random_key(), 2, mk)
    with pytest.raises(
        epochs.AlbumError, match=r"offers an older key of album .* \(epoch 1\) than this keyring has seen \(epoch 2\)"
    ):
        epochs.from_album(ring, SERVER, album)


def test_a_new_key_that_does_not_lead_back_to_the_keyrings_is_refused(tmp_path):
    mk = crypto.random_key()
    _keys, album = chained(mk, 1)
    ring = ring_with(tmp_path, crypto.random_key(), 0, mk)
    with pytest.raises(epochs.AlbumError, match="does not lead back to the one in the keyring"):
        epochs.from_album(ring, SERVER, album)


def test_a_new_key_needs_the_account_to_open_it(tmp_path):
    keys, album = chained(crypto.random_key(), 1)
    ring = ring_with(tmp_path, keys[0], 0, None)
    with pytest.raises(
        epochs.AlbumError, match=f"only your account's copy opens it: sign in with `fragment login {SERVER} --email E`"
    ):
        epochs.from_album(ring, SERVER, album)
    # Another account's master key does not open the account's copy either.
    ring = ring_with(tmp_path, keys[0], 0, crypto.random_key())
    with pytest.raises(epochs.AlbumError, match="does not open with your account's key"):
        epochs.from_album(ring, SERVER, album)


# --- files added through an upload-only link of the new kind (drops): tests/test_cli_drops.py opens them ----


class Notes:
    """A report that keeps what the command line would print."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)

    def warn(self, message: str) -> None:
        self.notes.append(f"warning: {message}")

    def progress(self, total: int, label: str):
        return Quiet().progress(total, label)


def listed(album_key: bytes, name: str, **extra) -> dict:
    file_id, file_key = crypto.new_id(), crypto.random_key()
    return {
        "file_id": file_id,
        "key_epoch": 0,
        "wrapped_key": crypto.b64e(crypto.wrap_file_key(album_key, file_key, ALBUM_ID, file_id)),
        "meta": crypto.b64e(crypto.seal_file_meta(file_key, ALBUM_ID, file_id, {"name": name, "size": 3})),
        "blobs": {"original": 3, "preview": 3, "thumb": 3},
        **extra,
    }


def test_a_drop_link_is_refused_in_one_sentence():
    secret = crypto.random_key()
    link_keys = crypto.link_keys(secret)
    answer = {"album_id": ALBUM_ID, "wrapped_album_key": None, "wrapped_drop_key": crypto.b64e(bytes(72)), "drop_epoch": 0}
    with pytest.raises(links.LinkError, match=r"^this upload-only link takes files only through the web app for now"):
        links.Unlocked(client.LinkClient(SERVER, crypto.new_id()), link_keys, {}, answer)


def test_adding_files_while_the_new_key_is_pending_warns(tmp_path):
    mk = crypto.random_key()
    keys, album = chained(mk, 1)
    found, _moved = epochs.from_album(ring_with(tmp_path, keys[1], 1, mk), SERVER, {**album, "rekey_pending": True})
    assert found.rekey_pending
    not_media = tmp_path / "notes.jpg"
    not_media.write_bytes(b"not a photo")
    report = Notes()
    albums.upload_files(None, found, ALBUM_ID, [not_media], report)  # type: ignore[arg-type]  # nothing is sent
    assert report.notes[0] == (
        "warning: someone lost access to this album and it has no new key yet: open it in the web app to make one, "
        "as until then the files added now open with the key they had"
    )
