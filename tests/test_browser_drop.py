"""A file drop in Chromium (issue 13): an upload-only link that holds no album key, against the real
app under gunicorn, with several browser contexts as several people.

The owner makes an "Only add" link in the web app; a guest adds two photos through it. The guest's
page is never given the album key, the album's metadata or any other file (the unlock answer and every
response are checked), and its requests never carry the link's key. The owner's album shows the two
photos, and the owner's own code opens their originals byte for byte. After the owner shares the album
with someone and removes them (a new album key, and a new drop key the removed person never had), the
guest's page, still open, adds another photo: refused once as stale, it unlocks again, seals the file
key to the new drop key, and the owner opens it.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest

from tests.support import servers
from tests.support.browser import TIMEOUT
from tests.support.media_fixtures import make_jpeg_with_orientation
from tests.support.owner_cli import split
from tests.test_browser_owner import ARGON2, context, new_album, sign_up_as, tile_named, wait_added, watched
from tests.test_browser_sharing import open_album_card, share
from tests.test_browser_uploads import choose, wait_summary
from tests.test_browser_viewer import assert_fragment_never_sent
from viewer import crypto

pytestmark = pytest.mark.slow

TITLE = "Wedding drop box"
HINT = "Guests can add photos but cannot see any, not even with the link's key."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("drop-app") / "data"
    with servers.gunicorn(data, env={"FRAGMENT_SIGNUP": "open"}) as url:
        yield {"url": url, "data_dir": data}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drop-media")
    return [
        make_jpeg_with_orientation(folder / f"DROP_{i}.jpg", size=(320, 240), orientation=1, taken=f"2025:09:{i + 1:02} 12:00:00")
        for i in range(4)
    ]


def query(server, sql: str, *args):
    connection = sqlite3.connect(Path(server["data_dir"]) / "fragment.db")
    try:
        with connection:
            return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


def make_drop_link(page) -> str:
    """An "Only add" link made with the dialog, which explains what it is; the address the page copied."""
    page.get_by_role("button", name="New link").click()
    dialog = page.get_by_role("dialog", name="New link")
    assert dialog.get_by_text(HINT).is_visible()
    dialog.get_by_label("Only add: they do not see the album").check()
    dialog.get_by_role("button", name="Create link").click()
    page.get_by_text("The link is made and copied.").wait_for(timeout=ARGON2)
    return page.evaluate("navigator.clipboard.readText()")


def originals(page, album_id: str) -> dict[str, bytes]:
    """{name: original bytes} of every file of the album, opened by the owner's own web app code (keys.js)."""
    found = page.evaluate(
        """async (albumId) => {
            const k = await import('/static/js/owner/keys.js');
            const o = await import('/static/js/owner/owner-api.js');
            const c = await import('/static/js/core/crypto.js');
            await c.ready();
            const album = k.openAlbum(await o.owner.album(albumId), k.masterKey());
            const out = {};
            for (const entry of await o.owner.files(albumId)) {
              const file = k.openFile(album, entry);
              if (!file) { out[entry.file_id] = null; continue; }
              const response = await o.fetchBlob(o.owner.blobPath(albumId, file.id, 'original'));
              const plain = c.decryptBlob(file.key, file.id, 'original', new Uint8Array(await response.arrayBuffer()));
              out[file.info.name] = c.b64e(plain);
            }
            return out;
        }""",
        album_id,
    )
    assert None not in found.values(), f"files the owner could not open: {found}"
    return {name: crypto.b64d(text) for name, text in found.items()}


class Responses:
    """Every response a browser context received (pages and Workers), to read what the server gave it."""

    def __init__(self, ctx) -> None:
        self.all: list = []
        # A function of our own: Playwright marks the handler it is given, which a bound builtin cannot take.
        ctx.on("response", lambda response: self.all.append(response))

    def bodies(self) -> list[tuple[str, bytes]]:
        out = []
        for response in self.all:
            try:
                out.append((response.url, response.body()))
            except Exception:  # a redirect or a response whose body is gone: nothing was kept of it
                continue
        return out

    def unlocks(self) -> list[dict]:
        return [response.json() for response in self.all if response.url.endswith("/unlock") and response.ok]


def test_a_file_drop_holds_no_album_key_and_survives_a_new_album_key(browser, server, photos, network):
    console: list[str] = []
    # The owner's album has a photo of the owner's own, which no guest of the drop may ever get.
    owner_ctx = context(browser, server)
    owner = watched(owner_ctx, console)
    sign_up_as(owner, "odile@example.org")
    new_album(owner, TITLE)
    owner.locator("#file-input").set_input_files([str(photos[0])])
    wait_added(owner, 1)
    album_id = owner.url.rsplit("/", 1)[1]
    link = make_drop_link(owner)
    _, link_id, fragment = split(link)
    (own_file,) = query(server, "SELECT id FROM files WHERE album_id = ?", album_id)[0]
    # The link row holds the drop key sealed under the link's wrap key, and no album key.
    (wrapped_album_key, wrapped_drop_key, drop_epoch) = query(
        server, "SELECT wrapped_album_key, wrapped_drop_key, drop_epoch FROM links WHERE id = ?", link_id
    )[0]
    assert wrapped_album_key is None and drop_epoch == 0 and len(wrapped_drop_key) == 72
    assert "add only, holds no album key" in owner.locator(f"[data-link-id='{link_id}']").inner_text()

    # 1. The guest adds two photos: the page says what the link is for, and shows the guest's own files only.
    guest_ctx = context(browser, server, network)
    responses = Responses(guest_ctx)
    guest = watched(guest_ctx, console)
    guest.goto(link)
    guest.get_by_role("heading", name="Add photos and videos").wait_for(timeout=TIMEOUT)
    assert TITLE not in guest.locator("body").inner_text()
    guest.get_by_text("This link is for adding photos and videos to the album.").wait_for()
    choose(guest, photos[1:3])
    wait_summary(guest, "2 of 2 files added")
    assert guest.locator("#uploads img.upload-thumb:not([hidden])").count() == 2
    assert guest.locator("#grid .tile").count() == 0

    # The unlock answer held no album key, no key chain and no album metadata; only the sealed drop key.
    (unlock,) = responses.unlocks()
    assert unlock["wrapped_album_key"] is None
    assert not unlock.get("key_chain") and not unlock.get("album_meta") and not unlock.get("drop_keys")
    assert crypto.b64d(unlock["wrapped_drop_key"]) == wrapped_drop_key and unlock["drop_epoch"] == 0
    # No response named the owner's own file, nor carried the album key or its metadata, in any spelling.
    mk = crypto.b64d(owner.evaluate("sessionStorage.getItem('fragment.mk')"))
    (owner_key, meta) = query(server, "SELECT owner_key, meta FROM albums WHERE id = ?", album_id)[0]
    album_key = crypto.open_owner_album_key(mk, owner_key, album_id)
    for url, body in responses.bodies():
        for secret in (own_file.encode(), album_key, crypto.b64e(album_key).encode(), crypto.b64e(meta).encode()):
            assert secret not in body, url
    assert not [r for r in network.requests if r.method == "GET" and "/files" in r.url and "/upload" not in r.url]
    # The drops are sealed boxes (138 bytes) to the album's drop key, marked as such.
    dropped = query(server, 'SELECT id, wrapped_key, key_epoch, "drop" FROM files WHERE via_link = ? ORDER BY seq', link_id)
    assert [(len(w), e, d) for _, w, e, d in dropped] == [(crypto.DROP_FILE_KEY_BYTES, 0, 1)] * 2

    # 2. The owner sees them, decrypted: the thumbnails named, and the originals byte for byte.
    owner.reload()
    owner.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    wait_added(owner, 3)
    for photo in photos[1:3]:
        tile_named(owner, photo.name).wait_for(timeout=TIMEOUT)
    opened = originals(owner, album_id)
    for photo in photos[:3]:
        assert opened[photo.name] == photo.read_bytes(), photo.name

    # 3. Shared with someone, who is then removed: a new album key, and a new drop key for the link.
    member_ctx = context(browser, server)
    member = watched(member_ctx, console)
    sign_up_as(member, "max@example.org")
    open_album_card(owner, TITLE)
    share(owner, "max@example.org", "viewer", by_mail=False).get_by_role("button", name="Close").click()
    # The member opens the drops too (the drop key's secret is sealed under the album key they hold).
    open_album_card(member, TITLE)
    wait_added(member, 3)
    tile_named(member, photos[1].name).wait_for(timeout=TIMEOUT)
    person = owner.locator(".person-row").filter(has_text="max@example.org")
    person.get_by_role("button", name="Remove").click()
    owner.get_by_role("dialog", name="Remove max@example.org?").get_by_role("button", name="Remove").click()
    owner.get_by_text("max@example.org no longer has this album.").wait_for(timeout=TIMEOUT)
    assert query(server, "SELECT key_epoch FROM albums WHERE id = ?", album_id) == [(1,)]
    (new_wrapped_drop_key, new_drop_epoch) = query(
        server, "SELECT wrapped_drop_key, drop_epoch FROM links WHERE id = ?", link_id
    )[0]
    assert new_drop_epoch == 1 and new_wrapped_drop_key != wrapped_drop_key
    assert query(server, "SELECT wrapped_album_key FROM links WHERE id = ?", link_id) == [(None,)]

    # 4. The guest's page, open since before, adds another photo: it goes under the new drop key.
    choose(guest, photos[3:4], name=None)
    wait_summary(guest, "3 of 3 files added")
    (new_id, new_wrapped, new_epoch, new_drop) = query(
        server, 'SELECT id, wrapped_key, key_epoch, "drop" FROM files WHERE via_link = ? ORDER BY seq DESC LIMIT 1', link_id
    )[0]
    assert (len(new_wrapped), new_epoch, new_drop) == (crypto.DROP_FILE_KEY_BYTES, 1, 1)
    # The removed member knew the old album key, hence the old drop key: it does not open the new drop.
    (old_public, old_sealed) = query(
        server, "SELECT public_key, sealed_secret FROM album_drop_keys WHERE album_id = ? AND epoch = 0", album_id
    )[0]
    old_secret = crypto.open_drop_secret(album_key, album_id, 0, old_sealed)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_drop_file_key(new_wrapped, album_id, new_id, old_public, old_secret)
    owner.reload()
    owner.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    wait_added(owner, 4)
    assert originals(owner, album_id)[photos[3].name] == photos[3].read_bytes()

    # 5. The link's key with the server's whole database: the drop's public key, and nothing that decrypts.
    keys = crypto.link_keys(crypto.decode_link_secret(fragment))
    public = crypto.open_link_drop_key(keys.wrap_key, new_wrapped_drop_key, link_id, album_id, 1)
    assert query(server, "SELECT public_key FROM album_drop_keys WHERE album_id = ? AND epoch = 1", album_id) == [(public,)]
    assert_fragment_never_sent(network, link)
    network.assert_never_sent(base64.b64encode(album_key).decode())
    # Chromium logs every 4xx as an error: the one refusal here is the guest's stale reservation, which the page handled.
    assert all("status of 409" in message for message in console), console
    for each in (guest_ctx, member_ctx, owner_ctx):
        each.close()
