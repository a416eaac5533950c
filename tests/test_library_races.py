"""Add to album (issue 13) under real concurrency: threads against gunicorn, on SQLite + a folder and
PostgreSQL + S3.

A file added to other albums by reference keeps one set of blobs in the folder of the album it was
uploaded to, shared by every row with its id and that folder (viewer/server/sharedblobs.py: one
lock per folder, so exactly the last deleter deletes the blobs, and bytes kept alive always count
for someone). Ann owns the albums the photos are uploaded to and shares them with Ben as a viewer
(the album key sealed to his public key, as tests/test_sharing_api.py does); both add them to albums
of their own, by reference or as a copy, while others delete them. After every round what a person
would notice is checked: the statuses, the bytes that download, the storage each account page
shows, and that the store holds exactly the blobs some row uses.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.test_accounts import signup_body
from tests.test_upload_races import Server, Upload, at_once, running
from viewer import crypto

pytestmark = pytest.mark.slow

ROUNDS = 6
THREADS = 10
FITS = 4  # copies the quota has room for, in the copy race
KINDS = ("thumb", "preview", "original")
DATABASE = "library_races"  # also the S3 bucket's name (running)


class Account:
    """A signed-up account: its id, master key and an API token (as AccountServer signs up)."""

    def __init__(self, url: str, email: str):
        self.url = url
        body, made = signup_body(email, "a password for library races")
        browser = requests.Session()
        signed_in = browser.post(f"{url}/api/account/signup", json=body)
        assert signed_in.status_code == 201, signed_in.text
        csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
        token = browser.post(f"{url}/api/account/tokens", json={"label": "races"}, headers=csrf).json()["token"]
        self.id, self.email, self.master_key = made.account_id, email, made.master_key
        self.auth = {"Authorization": f"Bearer {token}"}

    def album(self, title: str = "races") -> Album:
        album_id, ak = crypto.new_id(), crypto.random_key()
        body = {
            "album_id": album_id,
            "meta": crypto.b64e(crypto.seal_album_meta(ak, album_id, {"v": 1, "title": title})),
            "owner_key": crypto.b64e(crypto.seal_owner_album_key(self.master_key, ak, album_id)),
        }
        answer = requests.post(f"{self.url}/api/owner/albums", json=body, headers=self.auth)
        assert answer.status_code == 201, answer.text
        return Album(self.url, self, album_id, ak)


@dataclass
class Album:
    """One album and its owner; what tests.test_upload_races.Upload needs of a server (url, auth, album_id, ak)."""

    url: str
    owner: Account
    album_id: str
    ak: bytes

    @property
    def auth(self) -> dict:
        return self.owner.auth


@dataclass
class Photo:
    """A file uploaded in full: its id, key, encrypted blobs and the plain original."""

    album: Album
    file_id: str
    fk: bytes
    blobs: dict[str, bytes]
    original: bytes

    @property
    def size(self) -> int:
        return sum(len(blob) for blob in self.blobs.values())


class World(Server):
    """One running app (tests.test_upload_races.running) with two accounts: Ann, who uploads, and Ben."""

    def __init__(self, url: str, data_dir: Path, env: dict, database_url: str, s3: str | None):
        self.url, self.data_dir, self.env, self.database_url, self.s3 = url, data_dir, env, database_url, s3
        self.ann, self.ben = Account(url, "ann@example.org"), Account(url, "ben@example.org")
        found = requests.get(f"{url}/api/owner/people", params={"email": self.ben.email}, headers=self.ann.auth)
        assert found.status_code == 200 and found.json()["account_id"] == self.ben.id, found.text
        self.ben_box_pk = crypto.b64d(found.json()["box_pk"])
        self.accounts = (self.ann, self.ben)

    def shared_album(self, title: str = "shared") -> Album:
        """An album of Ann's that Ben views: he opens its key from what the server gives him."""
        album = self.ann.album(title)
        sealed = crypto.seal_member_album_key(album.ak, album.album_id, self.ben_box_pk)
        body = {"account_id": self.ben.id, "role": "viewer", "sealed_key": crypto.b64e(sealed), "key_epoch": 0}
        answer = requests.post(f"{self.url}/api/owner/albums/{album.album_id}/members", json=body, headers=self.ann.auth)
        assert answer.status_code == 201, answer.text
        return album

    def upload(self, album: Album) -> Photo:
        # An Album has what Upload reads of a server: url, auth, album_id, ak.
        upload = Upload(album)  # type: ignore[arg-type]
        assert upload.reserve().status_code == 201
        upload.send_all()
        assert upload.complete().status_code == 200
        fk = crypto.unwrap_file_key(album.ak, crypto.b64d(str(upload.body["wrapped_key"])), album.album_id, upload.file_id)
        return Photo(album, upload.file_id, fk, upload.blobs, upload.original)

    # --- the database and the store, as the operator would look -------------------------------

    def rows(self, file_id: str) -> list[tuple[str, str, bool, str]]:
        """Every row of the file: (album, folder of its blobs, charged, state), sorted."""
        found = self.sql("SELECT album_id, COALESCE(blob_album, album_id), charged, state FROM files WHERE id = :f", f=file_id)
        return sorted((a, folder, bool(charged), state) for a, folder, charged, state in found)

    def refs(self, file_id: str) -> dict[str, int]:
        """The blob_refs rows of the file: folder -> count."""
        return dict(self.sql("SELECT album_id, refs FROM blob_refs WHERE file_id = :f", f=file_id))

    def keys(self) -> list[str]:
        """Every blob key the store holds (Server.keys reads the bucket of tests.test_upload_races)."""
        if self.s3 is None:
            return super().keys()
        from tests.support.s3server import s3_client

        pages = s3_client(self.s3).get_paginator("list_objects_v2").paginate(Bucket=DATABASE)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))

    def blob_keys(self, folder: str, file_id: str) -> list[str]:
        return [key for key in self.keys() if key.startswith(f"{folder}/{file_id}/")]

    def used(self, account: Account) -> int:
        return int(self.sql("SELECT bytes_used FROM accounts WHERE id = :id", id=account.id)[0][0])

    def charged_total(self, account: Account) -> int:
        """What the account's storage must show: the ciphertext of its albums' charged rows, reserved ones included."""
        total = self.sql(
            "SELECT COALESCE(SUM(f.thumb_size + f.preview_size + f.original_size), 0) FROM files f"
            " JOIN albums a ON a.id = f.album_id WHERE a.account_id = :id AND f.charged = :yes",
            id=account.id,
            yes=True,
        )
        return int(total[0][0])

    def assert_settled(self, where: str) -> None:
        """After a round: each account's storage is exactly its charged rows, and the store holds exactly
        the blobs of the rows (every complete row's three, nothing no row's folder names)."""
        for account in self.accounts:
            assert self.used(account) == self.charged_total(account), f"{where}: {account.email} bytes_used"
        used = {(folder, file_id) for file_id, folder in self.sql("SELECT id, COALESCE(blob_album, album_id) FROM files")}
        complete = self.sql("SELECT id, COALESCE(blob_album, album_id) FROM files WHERE state = :s", s="complete")
        keys = [key for key in self.keys() if not key.startswith("staging/")]
        stray = [key for key in keys if tuple(key.split("/")[:2]) not in used]
        assert stray == [], f"{where}: blobs no row uses"
        present = set(keys)
        missing = [f"{folder}/{file_id}/{kind}" for file_id, folder in complete for kind in KINDS]
        assert [key for key in missing if key not in present] == [], f"{where}: a row's blobs are gone"


def reference(photos: list[Photo], source: Album, target: Album, *, copy: bool = False) -> dict:
    """What the client sends: each file key wrapped under the target's key, the metadata sealed again for it."""
    files = [
        {
            "id": photo.file_id,
            "wrapped_key": crypto.b64e(crypto.wrap_file_key(target.ak, photo.fk, target.album_id, photo.file_id)),
            "meta": crypto.b64e(crypto.seal_file_meta(photo.fk, target.album_id, photo.file_id, {"v": 1, "name": "x.jpg"})),
        }
        for photo in photos
    ]
    return {"source_album": source.album_id, "key_epoch": 0, "copy": copy, "files": files}


def adder(photo: Photo | list[Photo], source: Album, target: Album, *, copy: bool = False) -> Callable[[], requests.Response]:
    """The target's owner adds the photo (or photos, in one request) from `source` (an album they own or view)."""
    body = reference(photo if isinstance(photo, list) else [photo], source, target, copy=copy)
    url = f"{target.url}/api/owner/albums/{target.album_id}/references"
    return lambda: requests.post(url, json=body, headers=target.auth)


def add(photo: Photo, source: Album, target: Album, *, copy: bool = False) -> None:
    answer = adder(photo, source, target, copy=copy)()
    assert answer.status_code == 201 and answer.json()["added"] == [photo.file_id], answer.text


def album_deleter(album: Album) -> Callable[[], requests.Response]:
    url = f"{album.url}/api/owner/albums/{album.album_id}"
    return lambda: requests.delete(url, headers=album.auth)


def deleter(album: Album, file_id: str) -> Callable[[], requests.Response]:
    url = f"{album.url}/api/owner/albums/{album.album_id}/files/{file_id}"
    return lambda: requests.delete(url, headers=album.auth)


def downloads(photo: Photo, album: Album) -> None:
    """The album's owner downloads the three blobs: the very bytes uploaded, and the original decrypts."""
    base = f"{album.url}/api/owner/albums/{album.album_id}/files/{photo.file_id}/blobs"
    got = {kind: requests.get(f"{base}/{kind}", headers=album.auth) for kind in KINDS}
    assert {kind: answer.status_code for kind, answer in got.items()} == dict.fromkeys(KINDS, 200)
    assert {kind: answer.content for kind, answer in got.items()} == photo.blobs
    assert crypto.decrypt_blob_bytes(photo.fk, photo.file_id, "original", got["original"].content) == photo.original


def statuses(answers: list[requests.Response]) -> list[int]:
    return [answer.status_code for answer in answers]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    # Three workers of four threads: a round's requests really run at the same time.
    env = {"FRAGMENT_SIGNUP": "open", "WEB_CONCURRENCY": "3"}
    with running(request, tmp_path_factory, env, database=DATABASE) as started:
        yield World(*started)


def spread(world: World, photo: Photo, count: int, rng: random.Random) -> list[Album]:
    """Add the photo by reference to `count` new albums, Ann's and Ben's; now and then from a reference
    rather than the original (it shares the original's folder all the same)."""
    targets: list[Album] = []
    for n in range(count):
        target = (world.ann if n % 2 == 0 else world.ben).album()
        owned = [album for album in targets if album.owner is target.owner]
        source = rng.choice(owned) if owned and rng.random() < 0.3 else photo.album
        add(photo, source, target)
        targets.append(target)
    assert world.refs(photo.file_id) == {photo.album.album_id: count + 1}
    return targets


def test_deleting_the_original_and_every_reference_at_once_deletes_the_blobs_once(world):
    source = world.shared_album("originals")
    for round_ in range(ROUNDS):
        rng = random.Random(f"all-{round_}")
        photo = world.upload(source)
        targets = spread(world, photo, THREADS - 1, rng)
        albums = [source, *targets]
        rng.shuffle(albums)
        answers = at_once(*(deleter(album, photo.file_id) for album in albums))
        assert statuses(answers) == [200] * THREADS, f"round {round_}: {[a.text for a in answers]}"
        assert world.rows(photo.file_id) == [], f"round {round_}"
        assert world.refs(photo.file_id) == {}, f"round {round_}"
        assert world.blob_keys(source.album_id, photo.file_id) == [], f"round {round_}"
        world.assert_settled(f"round {round_}")


def test_deleting_all_but_one_at_once_keeps_the_survivors_bytes_counted_once(world):
    source = world.shared_album("originals")
    for round_ in range(ROUNDS):
        rng = random.Random(f"survivor-{round_}")
        photo = world.upload(source)
        targets = spread(world, photo, THREADS - 1, rng)
        albums = [source, *targets]
        # Sometimes the original survives, sometimes a reference of Ann's or of Ben's.
        survivor = source if round_ % 3 == 0 else rng.choice(targets)
        doomed = [album for album in albums if album is not survivor]
        before = {account.id: world.used(account) for account in world.accounts}
        answers = at_once(*(deleter(album, photo.file_id) for album in doomed))
        where = f"round {round_} (survivor {'the original' if survivor is source else survivor.owner.email})"
        assert statuses(answers) == [200] * (THREADS - 1), f"{where}: {[a.text for a in answers]}"
        assert world.rows(photo.file_id) == [(survivor.album_id, source.album_id, True, "complete")], where
        assert world.refs(photo.file_id) == {}, where  # one user left: no count
        downloads(photo, survivor)
        # Exactly one charge: Ann's original gave its bytes back, and the survivor's owner counts them.
        world.assert_settled(where)
        for account in world.accounts:
            moved = (photo.size if survivor.owner is account else 0) - (photo.size if account is world.ann else 0)
            assert world.used(account) == before[account.id] + moved, f"{where}: {account.email}"
        # The last user deletes it: the blobs go.
        assert deleter(survivor, photo.file_id)().status_code == 200
        assert world.blob_keys(source.album_id, photo.file_id) == [], where
        world.assert_settled(where)


def test_adding_at_once_to_many_albums_and_to_the_same_album_counts_every_row(world):
    source = world.shared_album("originals")
    same_target = THREADS // 2
    for round_ in range(ROUNDS):
        photo = world.upload(source)
        # Half the threads add it to albums of their own, half to one album of Ben's (or Ann's).
        targets = [(world.ann if n % 2 else world.ben).album() for n in range(THREADS - same_target)]
        shared = (world.ben if round_ % 2 else world.ann).album()
        calls = [adder(photo, source, target) for target in targets] + [adder(photo, source, shared)] * same_target
        answers = at_once(*calls)
        where = f"round {round_}"
        assert statuses(answers) == [201] * THREADS, f"{where}: {[a.text for a in answers]}"
        assert all(a.json() == {"added": [photo.file_id], "already": []} for a in answers[: len(targets)]), where
        into_one = sorted((tuple(a.json()["added"]), tuple(a.json()["already"])) for a in answers[len(targets) :])
        assert into_one == [((), (photo.file_id,))] * (same_target - 1) + [((photo.file_id,), ())], where
        rows = world.rows(photo.file_id)
        assert len(rows) == len(targets) + 2, where  # the original, one per album
        assert {folder for _album, folder, _charged, _state in rows} == {source.album_id}, where
        assert world.refs(photo.file_id) == {source.album_id: len(rows)}, where
        assert [album for album, _folder, charged, _state in rows if charged] == [source.album_id], where
        downloads(photo, shared)
        world.assert_settled(where)


def test_adds_and_deletes_at_once_leave_a_count_that_matches_the_rows(world):
    half = THREADS // 2
    for round_ in range(ROUNDS):
        rng = random.Random(f"mixed-{round_}")
        source = world.shared_album("originals")
        photo = world.upload(source)
        existing = spread(world, photo, half - 1, rng)  # with the original: half rows, all deleted now
        fresh = [(world.ann if n % 2 else world.ben).album() for n in range(half)]
        # Each add comes from the original or from one of the references being deleted, as its adder can see.
        sources = [rng.choice([source] + [a for a in existing if a.owner is target.owner]) for target in fresh]
        adds = [adder(photo, from_, target) for from_, target in zip(sources, fresh, strict=True)]
        deletes = [deleter(album, photo.file_id) for album in [source, *existing]]
        calls = adds + deletes
        order = list(range(len(calls)))
        rng.shuffle(order)
        shuffled = at_once(*(calls[i] for i in order))
        answers = [shuffled[order.index(i)] for i in range(len(calls))]
        where = f"round {round_}"
        texts = [a.text for a in answers]
        assert all(a.status_code < 500 for a in answers), f"{where}: {texts}"
        assert statuses(answers[half:]) == [200] * half, f"{where}: deletes {texts[half:]}"
        assert {a.status_code for a in answers[:half]} <= {201, 404}, f"{where}: adds {texts[:half]}"
        added = [target for target, a in zip(fresh, answers[:half], strict=True) if a.status_code == 201]
        assert all(a.json()["added"] == [photo.file_id] for a in answers[:half] if a.status_code == 201), where
        rows = world.rows(photo.file_id)
        assert sorted(album for album, *_ in rows) == sorted(t.album_id for t in added), f"{where}: {len(added)} adds won"
        refs = world.refs(photo.file_id)
        if len(rows) <= 1:
            assert refs == {}, f"{where}: {len(rows)} rows left, blob_refs {refs}"
        else:
            assert refs == {source.album_id: len(rows)}, f"{where}: {len(rows)} rows left, blob_refs {refs}"
        if rows:
            assert sum(charged for _album, _folder, charged, _state in rows) >= 1, where
            for target in added:
                downloads(photo, target)
        else:
            assert world.blob_keys(source.album_id, photo.file_id) == [], where
        world.assert_settled(where)


def test_batches_added_while_their_photos_are_deleted_are_added_whole_or_not_at_all(world):
    """A request adding several photos locks their folders one after another: a photo whose original is
    deleted meanwhile (its deletion waited for nothing, or for an earlier folder's lock) must fail the
    whole request, and leave no row pointing at blobs that are gone."""
    batch, adds = 6, THREADS // 2
    for round_ in range(ROUNDS):
        rng = random.Random(f"batch-{round_}")
        source = world.shared_album("originals")
        photos = [world.upload(source) for _ in range(batch)]
        doomed = rng.sample(photos, batch // 2)
        fresh = [(world.ann if n % 2 else world.ben).album() for n in range(adds)]
        calls = [adder(photos, source, target) for target in fresh] + [deleter(source, p.file_id) for p in doomed]
        answers = at_once(*calls)
        where = f"round {round_}"
        texts = [a.text for a in answers]
        assert statuses(answers[adds:]) == [200] * len(doomed), f"{where}: deletes {texts[adds:]}"
        assert {a.status_code for a in answers[:adds]} <= {201, 404}, f"{where}: adds {texts[:adds]}"
        won = [target for target, a in zip(fresh, answers[:adds], strict=True) if a.status_code == 201]
        assert all(a.json()["added"] == [p.file_id for p in photos] for a in answers[:adds] if a.status_code == 201), where
        for photo in photos:
            holders = won if photo in doomed else [source, *won]
            rows = world.rows(photo.file_id)
            assert sorted(album for album, *_ in rows) == sorted(a.album_id for a in holders), f"{where}: {len(won)} adds won"
            assert world.refs(photo.file_id) == ({source.album_id: len(rows)} if len(rows) > 1 else {}), where
            for holder in holders:
                downloads(photo, holder)
            if not holders:
                assert world.blob_keys(source.album_id, photo.file_id) == [], where
        world.assert_settled(where)


def test_copies_at_once_take_only_the_storage_the_quota_has(world):
    source = world.shared_album("originals")
    for round_ in range(ROUNDS):
        photo = world.upload(source)
        targets = [world.ben.album() for _ in range(THREADS)]
        before = world.used(world.ben)
        world.sql("UPDATE accounts SET quota_bytes = :q WHERE id = :id", q=before + FITS * photo.size, id=world.ben.id)
        try:
            answers = at_once(*(adder(photo, source, target, copy=True) for target in targets))
        finally:
            world.sql("UPDATE accounts SET quota_bytes = NULL WHERE id = :id", id=world.ben.id)
        where = f"round {round_}"
        assert sorted(statuses(answers)) == [201] * FITS + [413] * (THREADS - FITS), f"{where}: {[a.text for a in answers]}"
        refused = [a.json() for a in answers if a.status_code == 413]
        assert {r["error"] for r in refused} == {"account_full"}, where
        assert all(r["message"].startswith("Your storage is full:") for r in refused), where
        assert world.used(world.ben) == before + FITS * photo.size, where
        copies = [target for target, a in zip(targets, answers, strict=True) if a.status_code == 201]
        # Each copy lives in its own album's folder; a refused one left nothing.
        for target in targets:
            expected = [f"{target.album_id}/{photo.file_id}/{kind}" for kind in KINDS] if target in copies else []
            assert sorted(world.blob_keys(target.album_id, photo.file_id)) == sorted(expected), where
        assert world.refs(photo.file_id) == {}, where  # a copy shares nothing
        # The original goes at the same time as half the copies: the rest keep their own bytes.
        answers = at_once(deleter(source, photo.file_id), *(deleter(c, photo.file_id) for c in copies[::2]))
        assert statuses(answers) == [200] * len(answers), where
        for copy in copies[1::2]:
            downloads(photo, copy)
        assert world.used(world.ben) == before + len(copies[1::2]) * photo.size, where
        world.assert_settled(where)


def test_copies_racing_the_deletion_of_their_original_are_whole_or_leave_nothing(world):
    for round_ in range(ROUNDS):
        source = world.shared_album("originals")
        photo = world.upload(source)
        targets = [(world.ann if n % 2 else world.ben).album() for n in range(THREADS - 1)]
        before = {account.id: world.used(account) for account in world.accounts}
        answers = at_once(deleter(source, photo.file_id), *(adder(photo, source, t, copy=True) for t in targets))
        where = f"round {round_}"
        texts = [a.text for a in answers]
        assert answers[0].status_code == 200, f"{where}: {texts[0]}"
        assert {a.status_code for a in answers[1:]} <= {201, 404}, f"{where}: copies {texts[1:]}"
        copies = [target for target, a in zip(targets, answers[1:], strict=True) if a.status_code == 201]
        assert sorted(album for album, *_ in world.rows(photo.file_id)) == sorted(c.album_id for c in copies), where
        for target in targets:
            expected = [f"{target.album_id}/{photo.file_id}/{kind}" for kind in KINDS] if target in copies else []
            assert sorted(world.blob_keys(target.album_id, photo.file_id)) == sorted(expected), where
        for copy in copies:
            downloads(photo, copy)
        assert world.blob_keys(source.album_id, photo.file_id) == [] and world.refs(photo.file_id) == {}, where
        # Ann got the original's bytes back; each copy that was made counts for its owner, a refused one not.
        for account in world.accounts:
            kept = sum(photo.size for c in copies if c.owner is account)
            assert world.used(account) == before[account.id] + kept - (photo.size if account is world.ann else 0), where
        world.assert_settled(where)


def test_deleting_an_album_at_once_with_references_keeps_the_blobs_exactly_while_used(world):
    for round_ in range(ROUNDS):
        doomed, other = world.shared_album("doomed"), world.shared_album("other")
        gone, kept, visiting = world.upload(doomed), world.upload(doomed), world.upload(other)
        # gone: in the doomed album and three others, all deleted now; kept: also in one of Ben's, which stays;
        # visiting: uploaded elsewhere, added to the doomed album and one of Ben's; its original goes too.
        gone_in = [world.ann.album(), world.ben.album(), world.ben.album()]
        for target in gone_in:
            add(gone, doomed, target)
        keeper = world.ben.album()
        add(kept, doomed, keeper)
        add(visiting, other, doomed)
        visitor = world.ben.album()
        add(visiting, other, visitor)
        # At the same moment Ann adds a photo of the other album to the doomed one, and Ben adds two of
        # the doomed album's photos to albums of his, one by reference and one as a copy.
        incoming, leaving, copied = world.upload(other), world.upload(doomed), world.upload(doomed)
        refuge, shelter = world.ben.album(), world.ben.album()
        calls = [
            album_deleter(doomed),
            *(deleter(target, gone.file_id) for target in gone_in),
            deleter(other, visiting.file_id),
            adder(incoming, other, doomed),
            adder(leaving, doomed, refuge),
            adder(copied, doomed, shelter, copy=True),
        ]
        answers = at_once(*calls)
        where = f"round {round_}"
        texts = [a.text for a in answers]
        assert statuses(answers[:-3]) == [200] * (len(calls) - 3), f"{where}: {texts}"
        assert {a.status_code for a in answers[-3:]} <= {201, 404}, f"{where}: adds {texts[-3:]}"
        assert requests.get(f"{world.url}/api/owner/albums/{doomed.album_id}", headers=world.ann.auth).status_code == 404
        assert world.rows(gone.file_id) == [] and world.refs(gone.file_id) == {}, where
        assert world.blob_keys(doomed.album_id, gone.file_id) == [], where
        # What Ben keeps, he can still open, in the folders it was uploaded to, and it now counts for him.
        assert world.rows(kept.file_id) == [(keeper.album_id, doomed.album_id, True, "complete")], where
        assert world.rows(visiting.file_id) == [(visitor.album_id, other.album_id, True, "complete")], where
        assert world.refs(kept.file_id) == {} and world.refs(visiting.file_id) == {}, where
        downloads(kept, keeper)
        downloads(visiting, visitor)
        # Whether or not it was added before the album went, the incoming photo is in its own album only.
        assert world.rows(incoming.file_id) == [(other.album_id, other.album_id, True, "complete")], where
        assert world.refs(incoming.file_id) == {}, where
        downloads(incoming, other)
        # A photo taken out of the doomed album in time stays with Ben (counted for him), else it is gone.
        for photo, album, folder, answer in (
            (leaving, refuge, doomed.album_id, answers[-2]),
            (copied, shelter, shelter.album_id, answers[-1]),
        ):
            if answer.status_code == 201:
                assert world.rows(photo.file_id) == [(album.album_id, folder, True, "complete")], where
                downloads(photo, album)
            else:
                assert world.rows(photo.file_id) == [], where
                assert world.blob_keys(folder, photo.file_id) == [], where
            assert world.refs(photo.file_id) == {}, where
        assert world.blob_keys(doomed.album_id, copied.file_id) == [], where  # the copy's original went with the album
        world.assert_settled(where)
        for photo, album in ((leaving, refuge), (copied, shelter)):
            assert deleter(album, photo.file_id)().status_code in (200, 404)
        assert deleter(other, incoming.file_id)().status_code == 200
        # Ben deletes them: the last users, so the blobs go.
        assert statuses(at_once(deleter(keeper, kept.file_id), deleter(visitor, visiting.file_id))) == [200, 200]
        assert world.blob_keys(doomed.album_id, kept.file_id) == [], where
        assert world.blob_keys(other.album_id, visiting.file_id) == [], where
        world.assert_settled(where)
