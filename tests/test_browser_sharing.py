"""Sharing with people in Chromium (issue 13): several browser contexts as several people, against
the real app under gunicorn, with a real SMTP server process (aiosmtpd) receiving the invitation.

The owner shares an album with a registered viewer and invites a collaborator by e-mail; the
collaborator signs up from the mail's link and adds photos, which everyone sees under their name;
the viewer cannot add, in the page or through the API. A public key swapped in the database makes
the owner's client refuse to share, and say why. Removing the viewer gives the album a new key
the viewer never gets; a link's visitors still see every photo; the collaborator leaves.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import requests

from tests.support import servers
from tests.support.browser import TIMEOUT, wait_for_thumbs
from tests.support.media_fixtures import make_jpeg_with_orientation
from tests.support.smtp import smtp_env, start_smtp_server
from tests.test_accounts import signup_body
from tests.test_browser_owner import ARGON2, PASSWORD, context, make_link, new_album, sign_up_as, tile_named, wait_added, watched
from viewer import crypto

pytestmark = pytest.mark.slow

TITLE = "Lake weekend"


@pytest.fixture(scope="module")
def mail(tmp_path_factory):
    with start_smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory, mail):
    data = tmp_path_factory.mktemp("sharing-app") / "data"
    with servers.gunicorn(data, env={"FRAGMENT_SIGNUP": "open", **smtp_env(mail)}) as url:
        yield {"url": url, "data_dir": data}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sharing-media")
    return [
        make_jpeg_with_orientation(folder / f"LAKE_{i}.jpg", size=(320, 240), orientation=1, taken=f"2025:08:{i + 1:02} 10:00:00")
        for i in range(7)
    ]


def query(server, sql: str, *args):
    connection = sqlite3.connect(Path(server["data_dir"]) / "fragment.db")
    try:
        with connection:
            return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


def open_album_card(page, title: str) -> None:
    page.goto("/app")
    card = page.locator(".album-card").filter(has_text=title)
    card.wait_for(timeout=TIMEOUT)
    card.click()
    page.get_by_role("heading", name=title).wait_for(timeout=TIMEOUT)


def share(page, email: str, role: str, *, by_mail: bool = True):
    """Fill the share dialog; the dialog, once the page has answered (a result, or an error or warning)."""
    page.get_by_role("button", name="Share", exact=True).click()
    dialog = page.get_by_role("dialog", name="Share this album")
    dialog.get_by_label("Their e-mail address").fill(email)
    dialog.get_by_label("They can").select_option(role)
    if not by_mail:
        dialog.get_by_label("If they have no account yet, e-mail them an invitation").uncheck()
    dialog.get_by_role("button", name="Share", exact=True).click()
    dialog.locator(
        "[data-slot=result]:not([hidden]), [data-slot=error]:not([hidden]), [data-slot=changed]:not([hidden])"
    ).wait_for(timeout=TIMEOUT)
    return dialog


def safety_number_of(page) -> str:
    page.goto("/app/account")
    number = page.locator("#account [data-slot=safety]")
    number.wait_for(timeout=TIMEOUT)
    return number.inner_text()


def test_an_album_shared_with_a_viewer_and_an_invited_collaborator(browser, server, mail, photos, network):
    console: list[str] = []
    # The owner makes the album with two photos; the viewer already has an account.
    owner_ctx = context(browser, server, network)
    owner = watched(owner_ctx, console)
    sign_up_as(owner, "olga@example.org")
    new_album(owner, TITLE)
    owner.locator("#file-input").set_input_files([str(p) for p in photos[:2]])
    wait_added(owner, 2)
    link = make_link(owner, label="Everyone at the lake")
    album_id = owner.url.rsplit("/", 1)[1]
    viewer_ctx = context(browser, server, network)
    viewer = watched(viewer_ctx, console)
    sign_up_as(viewer, "vic@example.org")
    vic_number = safety_number_of(viewer)

    # 1. Shared with the viewer: the owner is shown the viewer's safety number, the one on the viewer's account page.
    open_album_card(owner, TITLE)
    dialog = share(owner, "vic@example.org", "viewer")
    assert "Shared with vic@example.org. Compare this safety number" in dialog.inner_text()
    assert dialog.locator("[data-slot=result-number]").inner_text() == vic_number
    dialog.get_by_role("button", name="Close").click()

    # 2. The collaborator has no account: the invitation goes out by e-mail, with nothing from inside the album.
    dialog = share(owner, "cleo@example.org", "collaborator")
    assert "an invitation is on its way by e-mail" in dialog.inner_text()
    dialog.get_by_role("button", name="Close").click()
    (message,) = mail.wait_for(1, timeout=20)
    assert message["To"] == "cleo@example.org" and message["Subject"] == "olga@example.org shared an album with you"
    body = message.get_content()
    assert TITLE not in body and "LAKE_" not in body
    found = re.search(r"(http://\S+/join/\S+#\S+)", body)
    assert found, body
    invitation = found.group(1)
    people = owner.locator("[data-slot=people]")
    people.get_by_text("cleo@example.org").wait_for(timeout=TIMEOUT)
    assert "has not joined yet" in people.inner_text()

    # 3. The collaborator opens the mail's link, signs up from it, takes the album and adds three photos.
    collab_ctx = context(browser, server, network)
    collab = watched(collab_ctx, console)
    collab.goto(invitation)
    collab.get_by_text(f"olga@example.org shares “{TITLE}” with you").wait_for(timeout=TIMEOUT)
    assert "#" not in collab.url  # the invitation's key left the address bar
    collab.get_by_role("link", name="Create an account").click()
    collab.get_by_label("E-mail address").fill("cleo@example.org")
    collab.get_by_label("Password", exact=True).fill(PASSWORD)
    collab.get_by_label("Password again").fill(PASSWORD)
    collab.get_by_role("button", name="Create account").click()
    collab.get_by_label("I have saved my recovery key").check(timeout=ARGON2)
    collab.get_by_role("button", name="Continue to my albums").click()
    collab.get_by_role("button", name="Add it to my albums").click()
    collab.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    collab.locator("#file-input").set_input_files([str(p) for p in photos[2:5]])
    wait_added(collab, 5)

    # 4. The owner and the viewer see them under the collaborator's name; the viewer has no way to add.
    owner.reload()
    owner.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    wait_added(owner, 5)
    for photo in photos[2:5]:
        assert "Added by cleo@example.org" in tile_named(owner, photo.name).inner_text()
    assert "Added by" not in tile_named(owner, photos[0].name).inner_text()
    open_album_card(viewer, TITLE)
    assert "olga@example.org shares this album with you: you can see the album." in viewer.locator("#album").inner_text()
    wait_added(viewer, 5)
    assert "Added by cleo@example.org" in tile_named(viewer, photos[3].name).inner_text()
    for name in ("Add photos", "Share", "Delete album", "Rename or describe"):
        assert viewer.get_by_role("button", name=name, exact=True).is_hidden()
    assert viewer.locator("[data-slot=links-section]").is_hidden()
    refused = viewer.evaluate(
        """async (albumId) => {
            const r = await fetch(`/api/owner/albums/${albumId}/files`, {
              method: "POST",
              headers: {"Content-Type": "application/json", "X-CSRF-Token": sessionStorage.getItem("fragment.csrf")},
              body: JSON.stringify({file_id: "AAAAAAAAAAAAAAAAAAAAAA", wrapped_key: "A".repeat(96), meta: "AAAA",
                                    blobs: {thumb: 100, preview: 100, original: 100}}),
            });
            return [r.status, (await r.json()).message];
        }""",
        album_id,
    )
    assert refused == [403, "You are a viewer of this album: you cannot add photos to it."]
    # The viewer keeps a favorite (sealed under the viewer's own key): it is there after a reload, and filters.
    tile_named(viewer, photos[3].name).get_by_role("button", name="Favorite").click()
    viewer.get_by_text(f"{photos[3].name} is a favorite.").wait_for(timeout=TIMEOUT)
    viewer.reload()
    wait_added(viewer, 5)
    star = tile_named(viewer, photos[3].name).get_by_role("button", name="Favorite")
    assert star.get_attribute("aria-pressed") == "true"
    viewer.get_by_label("Only my favorites").check()
    assert viewer.locator(".file-grid .file-tile").count() == 1
    favorite_id = query(server, "SELECT id FROM files WHERE album_id = ? ORDER BY seq LIMIT 1 OFFSET 3", album_id)[0][0]
    (sealed_favorites,) = query(server, "SELECT sealed FROM sealed_values WHERE name = 'favorites'")[0]
    assert favorite_id.encode() not in sealed_favorites

    # 5. A public key swapped by the server: the owner's client refuses to share with it, and says why.
    dan, made = signup_body("dan@example.org")
    assert requests.post(f"{server['url']}/api/account/signup", json=dan, timeout=30).status_code == 201
    owner.goto("/app")
    new_album(owner, "Dan's first album")
    share(owner, "dan@example.org", "viewer").get_by_role("button", name="Close").click()
    seen_number = crypto.fingerprint(made.identity.box_public_key, made.identity.sign_public_key)
    swapped = crypto.identity_keypairs(b"\x07" * 32)
    query(
        server,
        "UPDATE accounts SET box_pk = ?, sign_pk = ? WHERE email = 'dan@example.org'",
        swapped.box_public_key,
        swapped.sign_public_key,
    )
    owner.goto("/app")
    new_album(owner, "Dan's second album")
    dialog = share(owner, "dan@example.org", "viewer")
    warning = dialog.locator("[data-slot=changed]")
    assert warning.is_visible()
    assert "the server now gives a different key for dan@example.org" in warning.inner_text().lower()
    assert "Nothing was shared with that key" in warning.inner_text()
    assert dialog.locator("[data-slot=old-number]").inner_text() == seen_number
    assert dialog.locator("[data-slot=new-number]").inner_text() == swapped.fingerprint
    dialog.get_by_role("button", name="Close").click()
    also = query(server, "SELECT id FROM albums ORDER BY created_at DESC, rowid DESC LIMIT 1")[0][0]
    assert query(server, "SELECT COUNT(*) FROM album_members WHERE album_id = ?", also) == [(0,)]

    # 6. The owner removes the viewer: refused at once, and the album gets a key the viewer never receives.
    vic_id = query(server, "SELECT id FROM accounts WHERE email = 'vic@example.org'")[0][0]
    (vic_old_key,) = query(
        server, "SELECT sealed_key FROM album_members WHERE album_id = ? AND account_id = ?", album_id, vic_id
    )[0]
    open_album_card(owner, TITLE)
    person = owner.locator(".person-row").filter(has_text="vic@example.org")
    person.get_by_role("button", name="Remove").click()
    owner.get_by_role("dialog", name="Remove vic@example.org?").get_by_role("button", name="Remove").click()
    owner.get_by_text("vic@example.org no longer has this album.").wait_for(timeout=TIMEOUT)
    assert query(server, "SELECT key_epoch FROM albums WHERE id = ?", album_id) == [(1,)]
    viewer.reload()
    viewer.get_by_text("This album does not exist, or it is not shared with you.").wait_for(timeout=TIMEOUT)
    collab.reload()
    collab.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    wait_added(collab, 5)
    collab.locator("#file-input").set_input_files([str(photos[5])])
    wait_added(collab, 6)
    new_file = query(
        server, "SELECT id, wrapped_key, key_epoch FROM files WHERE album_id = ? ORDER BY seq DESC LIMIT 1", album_id
    )[0]
    assert new_file[2] == 1
    # The viewer's own copy of the old key (opened with the viewer's identity) opens nothing added since.
    vic_mk = crypto.b64d(viewer.evaluate("sessionStorage.getItem('fragment.mk')"))
    (sealed_identity,) = query(server, "SELECT sealed_identity FROM accounts WHERE id = ?", vic_id)[0]
    vic = crypto.identity_keypairs(crypto.open_identity(vic_mk, sealed_identity, vic_id))
    old_key = crypto.open_member_album_key(vic_old_key, album_id, vic.box_public_key, vic.box_secret_key)
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_file_key(old_key, new_file[1], album_id, new_file[0])
    assert query(server, "SELECT COUNT(*) FROM album_members WHERE account_id = ?", vic_id) == [(0,)]

    # 7. The link made before the new key shows every photo, old and new (the chain).
    visitor_ctx = context(browser, server, network)
    visitor = watched(visitor_ctx, console)
    visitor.goto(link)
    visitor.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    assert set(wait_for_thumbs(visitor, 6)) == {p.name for p in photos[:6]}

    # 8. The collaborator leaves; the owner's next visit gives the album another new key.
    collab.get_by_role("button", name="Leave album").click()
    collab.get_by_role("dialog", name="Leave this album?").get_by_role("button", name="Leave").click()
    collab.get_by_role("heading", name="Your albums").wait_for(timeout=TIMEOUT)
    assert collab.locator("[data-slot=shared-section]").is_hidden()
    open_album_card(owner, TITLE)
    wait_added(owner, 6)
    assert query(server, "SELECT key_epoch, rekey_pending FROM albums WHERE id = ?", album_id) == [(2, 0)]

    # 9. Nothing secret left a browser, and the server holds no title or file name.
    for page in (owner, viewer, collab):
        mk = page.evaluate("sessionStorage.getItem('fragment.mk')")
        if mk:
            network.assert_never_sent(mk)
            network.assert_never_sent(crypto.b64d(mk))
    network.assert_never_sent(PASSWORD)
    dump_connection = sqlite3.connect(Path(server["data_dir"]) / "fragment.db")
    try:
        dump = "\n".join(dump_connection.iterdump())
    finally:
        dump_connection.close()
    for value in (TITLE, "Dan's first album", "Everyone at the lake", *(p.name for p in photos)):
        assert value not in dump
    stored = b"".join(p.read_bytes() for p in (Path(server["data_dir"]) / "blobs").rglob("*") if p.is_file())
    for photo in photos[:6]:
        data = photo.read_bytes()
        for at in range(0, len(data) - 64, 997):
            assert data[at : at + 64] not in stored
    # Chromium logs every 4xx as an error: these three are answers the pages handle and explain (the lookup
    # of an address with no account, the viewer's refused add, the removed viewer's album); nothing else.
    statuses = [status.group(1) if (status := re.search(r"status of (\d+)", m)) else m for m in console]
    assert statuses == ["404", "403", "404"], console
    for each in (visitor_ctx, collab_ctx, viewer_ctx, owner_ctx):
        each.close()
