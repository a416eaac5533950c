"""Comments and reactions through the API (issue 14), with real crypto (viewer/crypto.py seal_note / open_note).

Olga owns an album shared with Vic as a viewer; two visitors of a link write as guests with keys of
their own. Every note is sealed under the album key and signed by its author; what each person lists
opens with crypto.open_note under the listed author's key, and what the server refuses or withholds
is what a person would notice: the status, the sentence, the notes that show.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.support.api_helpers import bearer, unlock
from tests.test_sharing_api import Person, person, share
from viewer import crypto
from viewer.server import db

pytestmark = pytest.mark.settings(SIGNUP="open")

TEXT = "Quel beau coucher de soleil \u2013 \U0001f305 sur le port"


@dataclass
class Writer:
    """Someone who writes notes: a signed-in member (through the owner API) or a link's visitor (public API)."""

    send: Callable[..., Any]  # (method, path, json) -> response
    base: str
    album_id: str
    ak: bytes
    public_key: bytes
    secret_key: bytes
    guest: bool
    versions: dict = field(default_factory=dict)

    def call(self, method: str, path: str = "", body: dict | None = None):
        return self.send(method, self.base + path, body)

    def body(self, note_id: str, version: int, note: dict, epoch: int = 0, **extra) -> dict:
        sealed, signature = crypto.seal_note(
            self.ak, self.album_id, note_id, epoch, version, self.public_key, self.secret_key, note
        )
        body = {"note_id": note_id, "epoch": epoch, "version": version, "sealed": b64(sealed), "signature": b64(signature)}
        if self.guest:
            body["guest_pk"] = b64(self.public_key)
        return {**body, **extra}

    def comment(self, text: str = TEXT, on: str | None = None, reply_to: str | None = None, epoch: int = 0, **extra):
        note_id = crypto.new_id()
        note = {"kind": "comment", "on": on, "reply_to": reply_to, "text": text, "name": "Ana" if self.guest else None, "at": 1}
        return note_id, self.call("POST", "", self.body(note_id, 1, note, epoch, **extra))

    def react(self, emoji: str = crypto.NOTE_EMOJI[0], on: str | None = None):
        note_id = crypto.new_id()
        note = {"kind": "reaction", "on": on, "emoji": emoji, "name": None, "at": 1}
        return note_id, self.call("POST", "", self.body(note_id, 1, note))

    def edit(self, note_id: str, version: int, text: str):
        note = {"kind": "comment", "on": None, "reply_to": None, "text": text, "name": None, "at": 2}
        return self.call("PUT", f"/{note_id}", self.body(note_id, version, note))

    def listing(self) -> list[dict]:
        answer = self.call("GET")
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()["notes"]


def b64(data: bytes) -> str:
    return crypto.b64e(data)


def member_writer(who: Person, album_id: str, ak: bytes) -> Writer:
    identity = who.made.identity

    def send(method, path, body):
        return who.call(method, path, json=body) if body is not None else who.call(method, path)

    keys = identity.sign_public_key, identity.sign_secret_key
    return Writer(send, f"/api/owner/albums/{album_id}/notes", album_id, ak, *keys, False)


def guest_writer(app, link_id: str, secret: bytes, album_id: str, ak: bytes) -> Writer:
    client = app.test_client()
    answer = unlock(client, link_id, secret)
    assert answer.status_code == 200, answer.get_json()
    headers = bearer(answer.get_json()["access_token"])
    public_key, secret_key = crypto.guest_note_keys(os.urandom(32))

    def send(method, path, body):
        return client.open(path, method=method, headers=headers, json=body)

    return Writer(send, f"/api/links/{link_id}/notes", album_id, ak, public_key, secret_key, True)


def opened(note: dict, album_id: str, ak: bytes) -> dict:
    """What a reader's client does: the author's key from the listing (a member's sign_pk, a guest's key), then open_note."""
    author = note["author"]
    key = author["sign_pk"] if author["kind"] == "member" else author["guest_pk"]
    return crypto.open_note(
        ak,
        album_id,
        note["note_id"],
        note["epoch"],
        note["version"],
        crypto.b64d(key),
        crypto.b64d(note["sealed"]),
        crypto.b64d(note["signature"]),
    )


@pytest.fixture
def world(app):
    """Olga's album, shared with Vic (viewer) and Cleo (admin); a link with comments on; two visitors through it."""
    olga, vic, cleo = person(app, "olga@example.org"), person(app, "vic@example.org"), person(app, "cleo@example.org")
    album_id, ak = olga.as_owner().album("Harbour")
    assert share(olga, album_id, ak, vic, "viewer").status_code == 201
    assert share(olga, album_id, ak, cleo, "admin").status_code == 201
    link_id, secret = olga.as_owner().link(album_id, ak, comments="on")
    writers = {
        "olga": member_writer(olga, album_id, ak),
        "vic": member_writer(vic, album_id, ak),
        "cleo": member_writer(cleo, album_id, ak),
        "ana": guest_writer(app, link_id, secret, album_id, ak),
        "bo": guest_writer(app, link_id, secret, album_id, ak),
    }
    return olga, album_id, ak, link_id, secret, writers


def test_members_and_guests_see_each_others_notes_and_each_opens_under_its_authors_key(app, world):
    olga, album_id, ak, link_id, _secret, w = world
    photo = olga.as_owner().add_file(album_id, ak, b"a photo", "port.jpg")
    first, answer = w["olga"].comment("Welcome to the harbour")
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["author"] == {
        "kind": "member",
        "account_id": olga.id,
        "email": "olga@example.org",
        "sign_pk": b64(olga.made.identity.sign_public_key),
    }
    written = {first: ("olga", "Welcome to the harbour")}
    for name, text in (("vic", "Lovely"), ("ana", "Merci \U0001f305"), ("bo", "Wow")):
        note_id, answer = w[name].comment(text, on=photo)
        assert answer.status_code == 201, answer.get_json()
        written[note_id] = (name, text)
    reply, answer = w["ana"].comment("Yes, Olga!", reply_to=first)
    assert answer.status_code == 201
    written[reply] = ("ana", "Yes, Olga!")
    heart, answer = w["vic"].react(crypto.NOTE_EMOJI[0], on=photo)
    assert answer.status_code == 201
    party, answer = w["bo"].react(crypto.NOTE_EMOJI[5])
    assert answer.status_code == 201

    for name in ("olga", "vic", "ana", "bo"):
        notes = w[name].listing()
        assert [n["note_id"] for n in notes] == [*written, heart, party]  # in the order written
        by_id = {n["note_id"]: n for n in notes}
        for note_id, (author, text) in written.items():
            note = by_id[note_id]
            assert opened(note, album_id, ak)["text"] == text
            assert note["author"]["kind"] == ("guest" if w[author].guest else "member")
            assert note["version"] == 1 and note["hidden"] is False and note["held"] is False
        # A link's visitors do not learn the members' e-mail addresses; members do.
        emails = {n["author"]["email"] for n in notes if n["author"]["kind"] == "member"}
        assert emails == ({None} if w[name].guest else {"olga@example.org", "vic@example.org"}), (name, emails)
        guests = {n["author"]["guest_pk"] for n in notes if n["author"]["kind"] == "guest"}
        assert guests == {b64(w["ana"].public_key), b64(w["bo"].public_key)}
        assert all(n["author"]["link_id"] == link_id for n in notes if n["author"]["kind"] == "guest")
        assert opened(by_id[reply], album_id, ak)["reply_to"] == first
        assert opened(by_id[heart], album_id, ak) | {"v": 1} == {
            "kind": "reaction",
            "on": photo,
            "emoji": "\u2764\ufe0f",
            "name": None,
            "at": 1,
            "v": 1,
        }
        assert opened(by_id[party], album_id, ak)["emoji"] == "\U0001f389"
    # The link says comments are on, so its page offers them.
    info = w["ana"].send("GET", f"/api/links/{link_id}", None).get_json()
    assert info["comments"] == "on"


def test_an_edit_replaces_and_only_the_next_version_from_the_author_is_taken(app, world):
    _olga, album_id, ak, _link, _secret, w = world
    note_id, answer = w["vic"].comment("Frist")
    assert answer.status_code == 201
    edited = w["vic"].edit(note_id, 2, "First")
    assert edited.status_code == 200, edited.get_json()
    (note,) = w["olga"].listing()
    assert note["version"] == 2 and opened(note, album_id, ak)["text"] == "First"
    # The version replayed, an older one, one that skips ahead: each is refused, and the note stays.
    for version in (2, 1, 4):
        stale = w["vic"].edit(note_id, version, "Evil")
        assert stale.status_code == 409 and stale.get_json()["error"] == "changed", version
        assert stale.get_json()["message"] == "This comment was changed or deleted since you read it: reload and try again."
    replay = w["vic"].call("PUT", f"/{note_id}", w["vic"].body(note_id, 1, {"kind": "reaction", "emoji": "👍", "at": 1}))
    assert replay.status_code == 409
    # Another author cannot edit it, signing as themselves or not.
    for other in ("olga", "cleo", "ana"):
        refused = w[other].edit(note_id, 3, "Mine now")
        assert refused.status_code == 403 and refused.get_json()["message"] == "You can change only your own comments.", other
    guest_note, answer = w["ana"].comment("Bonjour")
    assert answer.status_code == 201
    assert w["bo"].edit(guest_note, 2, "Bo's words").status_code == 403  # the other visitor, same link
    assert w["ana"].edit(guest_note, 2, "Bonjour \u00e0 tous").status_code == 200
    listed = {n["note_id"]: n for n in w["bo"].listing()}
    assert opened(listed[note_id], album_id, ak)["text"] == "First"
    assert opened(listed[guest_note], album_id, ak)["text"] == "Bonjour \u00e0 tous"


def test_delete_by_the_author_or_the_owner_and_replies_stay(app, world):
    _olga, album_id, ak, _link, _secret, w = world
    top, _ = w["vic"].comment("Top")
    reply, _ = w["ana"].comment("A reply", reply_to=top)
    other, _ = w["bo"].comment("Bo's")
    # A viewer cannot delete another's note; the author can.
    refused = w["vic"].call("DELETE", f"/{other}")
    assert refused.status_code == 403 and refused.get_json()["message"] == "You can delete only your own comments."
    assert w["vic"].call("DELETE", f"/{top}").status_code == 200
    listed = w["bo"].listing()
    assert [n["note_id"] for n in listed] == [reply, other]
    assert opened(listed[0], album_id, ak)["reply_to"] == top  # clients show "a deleted comment"
    # A visitor deletes their own with a signature of their key; another visitor's signature is refused.
    forged = crypto.sign_note_delete(album_id, reply, 1, w["bo"].secret_key)
    answer = w["bo"].call("DELETE", f"/{reply}", {"version": 1, "signature": b64(forged)})
    assert answer.status_code == 403
    mine = crypto.sign_note_delete(album_id, reply, 1, w["ana"].secret_key)
    wrong_version = w["ana"].call("DELETE", f"/{reply}", {"version": 2, "signature": b64(mine)})
    assert wrong_version.status_code == 409
    assert w["ana"].call("DELETE", f"/{reply}", {"version": 1, "signature": b64(mine)}).status_code == 200
    # The owner deletes anyone's (moderation); the admin too.
    assert w["olga"].call("DELETE", f"/{other}").status_code == 200
    last, _ = w["ana"].comment("Again")
    assert w["cleo"].call("DELETE", f"/{last}").status_code == 200
    assert w["olga"].listing() == []
    gone = w["olga"].call("DELETE", f"/{last}")
    assert gone.status_code == 404 and gone.get_json()["message"] == "This comment does not exist."


def test_a_hidden_note_disappears_for_members_and_visitors_but_stays_for_the_owner(app, world):
    _olga, _album_id, _ak, _link, _secret, w = world
    rude, _ = w["bo"].comment("Rude")
    kind, _ = w["vic"].comment("Kind")
    refused = w["vic"].call("PATCH", f"/{rude}", {"hidden": True})
    assert refused.status_code == 403
    assert refused.get_json()["message"] == "Only the album's owner and admins can hide or approve comments."
    hidden = w["olga"].call("PATCH", f"/{rude}", {"hidden": True})
    assert hidden.status_code == 200 and hidden.get_json()["hidden"] is True
    for name in ("vic", "ana", "bo"):
        assert [n["note_id"] for n in w[name].listing()] == [kind], name
    for name in ("olga", "cleo"):
        assert [(n["note_id"], n["hidden"]) for n in w[name].listing()] == [(rude, True), (kind, False)], name
    # Its author cannot edit it back into view either: it stays hidden.
    assert w["bo"].edit(rude, 2, "Still rude").status_code == 404
    assert w["cleo"].call("PATCH", f"/{rude}", {"hidden": False}).status_code == 200
    assert [n["note_id"] for n in w["ana"].listing()] == [rude, kind]


def test_a_held_visitors_note_is_invisible_until_approved(app, world):
    olga, _album_id, _ak, link_id, secret, w = world
    assert olga.call("PATCH", f"/api/owner/links/{link_id}", json={"comments": "held"}).get_json()["comments"] == "held"
    ana = guest_writer(app, link_id, secret, w["olga"].album_id, w["olga"].ak)  # the change made old tokens stale
    waiting, answer = ana.comment("Please approve")
    assert answer.status_code == 201 and answer.get_json()["held"] is True
    member_note, answer = w["vic"].comment("Members are not held")
    assert answer.status_code == 201 and answer.get_json()["held"] is False
    assert [n["note_id"] for n in ana.listing()] == [member_note]
    assert [n["note_id"] for n in w["vic"].listing()] == [member_note]
    assert [(n["note_id"], n["held"]) for n in w["olga"].listing()] == [(waiting, True), (member_note, False)]
    refused = w["olga"].call("PATCH", f"/{waiting}", {"held": True})
    assert refused.status_code == 400
    approved = w["olga"].call("PATCH", f"/{waiting}", {"held": False})
    assert approved.status_code == 200 and approved.get_json()["held"] is False
    assert [n["note_id"] for n in ana.listing()] == [waiting, member_note]
    assert [n["note_id"] for n in w["vic"].listing()] == [waiting, member_note]


def test_comments_are_off_by_default_and_an_upload_only_link_refuses_them(app, world):
    olga, album_id, ak, _link, _secret, _w = world
    plain, secret = olga.as_owner().link(album_id, ak)
    links = {link["link_id"]: link for link in olga.call("GET", f"/api/owner/albums/{album_id}/links").get_json()["links"]}
    assert links[plain]["comments"] == "off" and links[plain]["notes_per_hour"] == 30
    visitor = guest_writer(app, plain, secret, album_id, ak)
    assert visitor.send("GET", f"/api/links/{plain}", None).get_json()["comments"] == "off"
    for answer in (visitor.comment()[1], visitor.react()[1], visitor.call("GET")):
        assert answer.status_code == 403
        assert answer.get_json() == {"error": "comments_off", "message": "Comments are off for this link."}
    dropbox, drop_secret = olga.as_owner().link(album_id, ak, uploads=True, upload_only=True, comments="on")
    guest = guest_writer(app, dropbox, drop_secret, album_id, ak)
    assert guest.comment()[1].get_json()["error"] == "comments_off"
    # The owner's settings are checked.
    for bad in ({"comments": "yes"}, {"comments": None}, {"notes_per_hour": 0}, {"notes_per_hour": 1001}):
        assert olga.call("PATCH", f"/api/owner/links/{plain}", json=bad).status_code == 400, bad


def test_refusals_bad_signature_sizes_epoch_and_ids(app, world):
    _olga, _album_id, _ak, _link, _secret, w = world
    vic, ana = w["vic"], w["ana"]
    note = {"kind": "comment", "on": None, "reply_to": None, "text": "hi", "name": None, "at": 1}
    note_id = crypto.new_id()
    good = vic.body(note_id, 1, note)

    def post(writer, body):
        return writer.call("POST", "", body)

    # Signed by someone else (a guest's key, sent as Vic's note), or altered after signing.
    signed_by_ana = ana.body(note_id, 1, note)
    for body in (
        {**good, "signature": signed_by_ana["signature"], "sealed": signed_by_ana["sealed"]},
        {**good, "epoch": 1},  # it was signed for epoch 0... and 1 is not the album's epoch either: signature first
        {**good, "sealed": b64(crypto.b64d(good["sealed"])[:-1] + b"\x00")},
    ):
        answer = post(vic, body)
        assert answer.status_code == 400, answer.get_json()
        assert answer.get_json() == {"error": "bad_signature", "message": "This comment's signature does not verify."}
    assert post(ana, {**signed_by_ana, "guest_pk": b64(w["bo"].public_key)}).get_json()["error"] == "bad_signature"
    truncated = post(vic, {**good, "signature": b64(crypto.b64d(good["signature"])[:63])})
    assert truncated.status_code == 400 and truncated.get_json()["error"] == "bad_field"
    small = post(vic, {**good, "sealed": b64(os.urandom(295))})
    assert small.status_code == 400 and "at least 296 bytes" in small.get_json()["message"]
    large = post(vic, {**good, "sealed": b64(os.urandom(app.config["MAX_NOTE_BYTES"] + 1))})
    assert large.status_code == 413 and large.get_json()["error"] == "too_large"
    # The longest comment, of 4-byte characters, fits.
    assert vic.comment("\U0001f305" * crypto.MAX_NOTE_TEXT)[1].status_code == 201
    # Sealed and signed under an epoch the album is not at: 409, reload.
    stale = post(vic, vic.body(crypto.new_id(), 1, note, epoch=1))
    assert stale.status_code == 409 and stale.get_json()["error"] == "stale_key"
    for bad_id in ("short", "A" * 23, 5, None):
        answer = post(vic, {**good, "note_id": bad_id})
        assert answer.status_code == 400 and answer.get_json()["error"] in ("bad_id",), bad_id
    assert vic.call("PUT", "/not-an-id", good).get_json()["error"] == "bad_id"
    assert w["olga"].call("DELETE", "/x").status_code == 400
    # A new note is version 1; the same id twice is refused.
    assert post(vic, vic.body(crypto.new_id(), 2, note)).status_code == 400
    assert post(vic, good).status_code == 201
    again = post(vic, good)
    assert again.status_code == 409 and again.get_json()["error"] == "exists"
    # A guest without a key, and visitors without a token.
    assert post(ana, {key: value for key, value in signed_by_ana.items() if key != "guest_pk"}).status_code == 400
    anonymous = app.test_client().get(ana.base)
    assert anonymous.status_code == 401


def test_a_note_altered_in_the_database_still_lists_and_does_not_open(app, world):
    olga, album_id, ak, _link, _secret, w = world
    altered, _ = w["vic"].comment("Vic said this")
    moved, _ = w["vic"].comment("Vic said that too")
    guest, _ = w["ana"].comment("Ana said this")
    with app.app_context():
        session = db.session()
        row = session.scalars(select(db.Note).where(db.Note.id == altered)).one()
        flipped = bytearray(row.sealed)
        flipped[40] ^= 1
        session.execute(update(db.Note).where(db.Note.id == altered).values(sealed=bytes(flipped)))
        cleo = session.scalars(select(db.Account).where(db.Account.email == "cleo@example.org")).one()
        session.execute(update(db.Note).where(db.Note.id == moved).values(author_account=cleo.id))
        # A guest's note said to be a member's: the key listed is then Olga's.
        session.execute(update(db.Note).where(db.Note.id == guest).values(author_account=olga.id))
        session.commit()
    for name in ("olga", "vic", "bo"):
        listed = {n["note_id"]: n for n in w[name].listing()}
        assert set(listed) == {altered, moved, guest}
        # Members read the new author's address; a link's visitor is not told it.
        assert listed[moved]["author"]["email"] == (None if w[name].guest else "cleo@example.org")
        for note_id in (altered, moved, guest):
            with pytest.raises(crypto.BadNote):
                opened(listed[note_id], album_id, ak)


def test_a_scan_of_the_database_finds_no_comment_text(app, world):
    _olga, _album_id, _ak, _link, _secret, w = world
    secret_words = "Marmelade-Zebra-Quokka"
    assert w["vic"].comment(f"{secret_words} in the text")[1].status_code == 201
    assert w["ana"].comment(f"{secret_words} from a guest")[1].status_code == 201
    assert len(w["olga"].listing()) == 2
    engine = app.extensions["fragment.engine"]
    needles = (secret_words.lower(), secret_words.encode().hex())
    # Every row of every table, as text (binary values as hex), on both engines.
    with engine.connect() as connection:
        rows = [
            " ".join(value.hex() if isinstance(value, bytes | memoryview) else str(value) for value in row)
            for table in db.Base.metadata.sorted_tables
            for row in connection.execute(select(table))
        ]
    assert len(rows) > 10
    assert not [row for row in rows if any(needle in row.lower() for needle in needles)]
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            dump = "\n".join(connection.connection.driver_connection.iterdump()).lower()
        assert 'insert into "notes"' in dump or "insert into notes" in dump
        assert not [needle for needle in needles if needle in dump]
        raw = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///")).read_bytes()
        assert secret_words.encode() not in raw


def test_album_deletion_takes_its_notes_and_a_removed_member_leaves_theirs(app, world):
    olga, album_id, ak, _link, _secret, w = world
    note_id, answer = w["vic"].comment("Before I go")
    assert answer.status_code == 201
    vic_id = _account_id(app, "vic@example.org")
    assert olga.call("DELETE", f"/api/owner/albums/{album_id}/members/{vic_id}").status_code == 200
    assert w["vic"].call("GET").status_code == 404  # no longer a member
    # The album gets a new key (as the owner's client does after a removal): the note stays, under its epoch.
    with app.app_context():
        db.session().execute(update(db.Album).where(db.Album.id == album_id).values(key_epoch=1))
        db.session().commit()
    (note,) = w["olga"].listing()
    assert note["note_id"] == note_id and note["epoch"] == 0 and opened(note, album_id, ak)["text"] == "Before I go"
    stale = w["olga"].comment("Under the old key")[1]
    assert stale.status_code == 409 and stale.get_json()["error"] == "stale_key"
    assert w["olga"].comment("Under the new key", epoch=1)[1].status_code == 201
    assert olga.call("DELETE", f"/api/owner/albums/{album_id}").status_code == 200
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(db.Note)) == 0


def _account_id(app, email: str) -> str:
    with app.app_context():
        return db.session().scalars(select(db.Account.id).where(db.Account.email == email)).one()


def test_an_owner_token_of_no_account_lists_but_cannot_sign(owner):
    album_id, _ak = owner.album()
    assert owner.call("GET", f"/api/owner/albums/{album_id}/notes").get_json() == {"notes": [], "next": None}
    answer = owner.call("POST", f"/api/owner/albums/{album_id}/notes", json={})
    assert answer.status_code == 403 and answer.get_json()["error"] == "needs_account"


def test_pages_by_seq_and_the_unlock_answer_says_comments(app, world):
    _olga, _album_id, _ak, link_id, secret, w = world
    written = [w["vic"].comment(f"note {n}")[0] for n in range(5)]
    first = w["ana"].call("GET", "?limit=2").get_json()
    assert [n["note_id"] for n in first["notes"]] == written[:2] and first["next"] is not None
    rest = w["ana"].call("GET", f"?after={first['next']}&limit=10").get_json()
    assert [n["note_id"] for n in rest["notes"]] == written[2:] and rest["next"] is None
    assert w["olga"].call("GET", "?limit=0").status_code == 400
    assert unlock(app.test_client(), link_id, secret).get_json()["info"]["comments"] == "on"


def test_a_links_visitors_write_at_most_notes_per_hour_new_notes(app, world):
    olga, album_id, ak, _link, _secret, w = world
    link_id, secret = olga.as_owner().link(album_id, ak, comments="on", notes_per_hour=2)
    ana, bo = guest_writer(app, link_id, secret, album_id, ak), guest_writer(app, link_id, secret, album_id, ak)
    first, answer = ana.comment("one")
    assert answer.status_code == 201
    assert bo.react()[1].status_code == 201
    refused = ana.comment("three")[1]
    assert refused.status_code == 429 and refused.get_json()["error"] == "too_many"
    assert refused.get_json()["message"].startswith(
        "This link's visitors have written 2 comments and reactions in the last hour, the most allowed. Try again in "
    )
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert ana.edit(first, 2, "one, edited").status_code == 200  # edits are not new notes
    assert w["vic"].comment("members are not counted")[1].status_code == 201
    assert len(ana.listing()) == 3


def test_on_a_held_link_a_visitors_edit_waits_again_and_a_visitor_deletes_after_comments_are_off(app, world):
    olga, album_id, ak, link_id, secret, w = world
    note_id, _ = w["ana"].comment("Approved words")
    assert olga.call("PATCH", f"/api/owner/links/{link_id}", json={"comments": "held"}).status_code == 200
    ana = guest_writer(app, link_id, secret, album_id, ak)
    ana.public_key, ana.secret_key = w["ana"].public_key, w["ana"].secret_key  # the same browser: its key for the link
    edited = ana.edit(note_id, 2, "New words, not approved")
    assert edited.status_code == 200 and edited.get_json()["held"] is True
    assert ana.listing() == []
    assert w["olga"].call("PATCH", f"/{note_id}", {"held": False}).status_code == 200
    assert [opened(n, album_id, ak)["text"] for n in ana.listing()] == ["New words, not approved"]
    # Comments turned off: nothing listed or written, but the visitor can still take their words back.
    assert olga.call("PATCH", f"/api/owner/links/{link_id}", json={"comments": "off"}).status_code == 200
    ana = guest_writer(app, link_id, secret, album_id, ak)
    ana.public_key, ana.secret_key = w["ana"].public_key, w["ana"].secret_key
    assert ana.call("GET").get_json()["error"] == "comments_off"
    proof = crypto.sign_note_delete(album_id, note_id, 2, ana.secret_key)
    assert ana.call("DELETE", f"/{note_id}", {"version": 2, "signature": b64(proof)}).status_code == 200
    assert w["olga"].listing() == []
