"""The owner's web app in Chromium, against the real app under gunicorn (issue 12).

A newcomer signs up, keeps the recovery key, makes an album by dropping photos and a video,
makes a password link and copies it; another browser opens that link; a third signs in to
the same account and finds the album and its link. Then the album is edited and a recipient
who reloads sees exactly that; the password is changed and recovered. Every page is also
checked for what never leaves the browser: the password, the master key, the recovery words,
album keys and link secrets.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
import requests

from tests.support import servers
from tests.support.browser import TIMEOUT, decoded_thumbs, wait_for_thumbs
from tests.support.media_fixtures import make_jpeg_with_orientation, make_mp4, require_ffmpeg
from tests.support.owner_cli import Fragment, split
from viewer import crypto

pytestmark = pytest.mark.slow

EMAIL = "newcomer@example.org"
PASSWORD = "a long and unusual passphrase"
TITLE = "Summer in Lyon"
LINK_PASSWORD = "for the family"
ARGON2 = 60_000  # Argon2id at the default cost, in a Worker, on a shared machine


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app under gunicorn with open sign-up, on SQLite and a local folder."""
    data = tmp_path_factory.mktemp("owner-app") / "data"
    with servers.gunicorn(data, env={"FRAGMENT_SIGNUP": "open"}) as url:
        yield {"url": url, "data_dir": data}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Twenty photos taken on distinct days (out of name order) and a short video."""
    require_ffmpeg()
    folder = tmp_path_factory.mktemp("owner-media")
    days = [(i * 7) % 20 + 1 for i in range(20)]
    photos = [
        make_jpeg_with_orientation(folder / f"IMG_{i:02}.jpg", size=(320, 240), orientation=1, taken=f"2025:07:{day:02} 10:00:00")
        for i, day in enumerate(days)
    ]
    return {"photos": photos, "video": make_mp4(folder / "clip.mp4", seconds=1)}


def context(browser, server, network=None):
    # A tall window, so that every tile of a 21-file album is on screen and its thumb decodes
    # (the viewer decodes thumbs as they scroll into view).
    ctx = browser.new_context(
        base_url=server["url"], permissions=["clipboard-read", "clipboard-write"], viewport={"width": 1400, "height": 3000}
    )
    if network is not None:
        network.attach(ctx)
    return ctx


def drop_files(page, paths: list[Path]) -> None:
    """Drop files on the page as a person drags them from a file manager (a DataTransfer of Files)."""
    files = [{"name": p.name, "type": "image/jpeg", "data": base64.b64encode(p.read_bytes()).decode()} for p in paths]
    page.evaluate(
        """(files) => {
            const transfer = new DataTransfer();
            for (const f of files) {
              const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
              transfer.items.add(new File([bytes], f.name, { type: f.type }));
            }
            for (const type of ["dragenter", "dragover", "drop"]) {
              document.body.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
            }
        }""",
        files,
    )


def sign_up(page) -> str:
    """Sign up through the page; the recovery words it shows."""
    page.goto("/signup")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Save your recovery key").wait_for(timeout=ARGON2)
    words = page.locator("[data-slot=words] li").all_inner_texts()
    assert len(words) == 24
    continue_button = page.get_by_role("button", name="Continue to my albums")
    assert continue_button.is_disabled()  # not before the words are saved
    page.get_by_label("I have saved my recovery key").check()
    continue_button.click()
    page.get_by_role("heading", name="Your albums").wait_for(timeout=TIMEOUT)
    return " ".join(words)


def sign_in(page, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def new_album(page, title: str) -> None:
    page.get_by_role("button", name="New album").click()
    page.get_by_role("dialog").get_by_label("Title").fill(title)
    page.get_by_role("dialog").get_by_role("button", name="Create").click()
    page.get_by_role("heading", name=title).wait_for(timeout=TIMEOUT)


def wait_added(page, count: int, timeout: int = 120_000) -> None:
    try:
        tiles = "(n) => document.querySelectorAll('.file-grid .file-tile').length >= n"
        page.wait_for_function(tiles, arg=count, timeout=timeout)
    except Exception:
        # Say what the page said, not only that it did not get there.
        raise AssertionError(f"files not added; the upload panel says: {page.locator('#uploads').inner_text()!r}") from None


def make_link(page, password: str | None = None, devices: int | None = None, label: str | None = None) -> str:
    """Make a link with the dialog; the address the page copied."""
    page.get_by_role("button", name="New link").click()
    dialog = page.get_by_role("dialog", name="New link")
    if label:
        dialog.get_by_label("Label").fill(label)
    if password:
        dialog.get_by_label("Ask for a password").check()
        dialog.get_by_label("Password", exact=True).fill(password)
    if devices:
        dialog.get_by_label("Devices that may open it").fill(str(devices))
    dialog.get_by_role("button", name="Create link").click()
    page.get_by_text("The link is made and copied.").wait_for(timeout=ARGON2)
    return page.evaluate("navigator.clipboard.readText()")


def all_thumbs(page, count: int) -> set[str]:
    """The names of the decoded grid thumbs, scrolling down the album as a visitor would.

    The grid draws only the rows near the screen (static/js/album/grid.js), so the names are
    gathered on the way down.
    """
    wait_for_thumbs(page, 1)
    seen: set[str] = set()
    for _ in range(60):
        seen |= set(decoded_thumbs(page))
        if len(seen) >= count:
            break
        page.mouse.wheel(0, 1500)
        page.wait_for_timeout(250)
    return seen


def db(server) -> sqlite3.Connection:
    return sqlite3.connect(Path(server["data_dir"]) / "fragment.db")


def test_a_newcomer_shares_an_album_and_a_second_device_finds_it(browser, server, media, network):
    # 1. A newcomer signs up and makes an album by dropping 20 photos, then choosing a video.
    owner_ctx = context(browser, server, network)
    page = owner_ctx.new_page()
    words = sign_up(page)
    new_album(page, TITLE)
    drop_files(page, media["photos"])
    page.locator("#file-input").set_input_files([str(media["video"])])
    wait_added(page, 21)
    page.wait_for_function(
        "() => document.querySelector('#uploads [data-slot=summary]').textContent.startsWith('21 of 21 files added')",
        timeout=60_000,
    )
    link = make_link(page, LINK_PASSWORD, devices=5, label="Family in Lyon")
    assert link.startswith(f"{server['url']}/a/") and "#" in link
    row = page.locator(".link-row").first
    assert "Family in Lyon" in row.inner_text() and "never opened yet" in row.inner_text()
    assert "Password" in row.inner_text() and "0 of 5 devices" in row.inner_text()

    # 2. Someone else opens the link with the password and sees every photo and the video.
    guest_ctx = context(browser, server)
    guest = guest_ctx.new_page()
    guest.goto(link)
    guest.get_by_label("Password", exact=True).fill(LINK_PASSWORD)
    guest.get_by_role("button", name="Open").click()
    guest.get_by_role("heading", name=TITLE).wait_for(timeout=ARGON2)
    assert len(all_thumbs(guest, 21)) == 21
    guest_ctx.close()

    # 3. The same owner on another browser signs in, sees the album and its link, re-copies it, and it opens.
    other_ctx = context(browser, server)
    other = other_ctx.new_page()
    sign_in(other)
    other.get_by_role("heading", name="Your albums").wait_for(timeout=ARGON2)
    card = other.locator(".album-card").filter(has_text=TITLE)
    card.wait_for(timeout=TIMEOUT)
    assert "21 photos and videos" in card.inner_text() and "1 link" in card.inner_text()
    other.wait_for_function("() => document.querySelector('.album-card img:not([hidden])')?.naturalWidth > 0", timeout=TIMEOUT)
    card.click()
    other.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    other_row = other.locator(".link-row").first
    other_row.wait_for(timeout=TIMEOUT)
    assert "1 of 5 devices" in other_row.inner_text()  # the guest's browser
    assert "Family in Lyon" in other_row.inner_text() and "last opened" in other_row.inner_text()
    other_row.get_by_role("button", name="QR code").click()
    qr = other.get_by_role("img", name="QR code of the link")
    qr.wait_for(timeout=TIMEOUT)
    # Drawn on this device: a square of modules, some dark, some light (lean-qr's toCanvas).
    dark, light, side = other.evaluate(
        """() => {
            const c = document.querySelector('canvas.qr');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let dark = 0, light = 0;
            for (let i = 0; i < d.length; i += 4) (d[i] < 128 && d[i + 3] > 128 ? dark++ : light++);
            return [dark, light, c.width === c.height ? c.width : -1];
        }"""
    )
    assert dark > 100 and light > 100 and side >= 21
    other.get_by_role("dialog").get_by_role("button", name="Done").click()
    other_row.get_by_role("button", name="Copy link").click()
    assert other.evaluate("navigator.clipboard.readText()") == link
    again = other_ctx.new_page()
    open_album_with_password(again, link)
    assert len(all_thumbs(again, 21)) == 21
    other_ctx.close()

    # 4. Nothing the owner typed or the browser made left it in the clear.
    _server, _link_id, fragment = split(link)
    secret = crypto.decode_link_secret(fragment)
    for value in (PASSWORD, LINK_PASSWORD, words, words.split()[5] + " " + words.split()[6], fragment, secret):
        network.assert_never_sent(value)
    mk = page.evaluate("sessionStorage.getItem('fragment.mk')")
    assert mk
    network.assert_never_sent(mk)
    network.assert_never_sent(crypto.b64d(mk))
    owner_ctx.close()

    # 5. The server holds no title, file name, password or recovery word.
    connection = db(server)
    try:
        dump = "\n".join(connection.iterdump())
    finally:
        connection.close()
    for value in (TITLE, "Family in Lyon", "IMG_03.jpg", "clip.mp4", PASSWORD, LINK_PASSWORD, " ".join(words.split()[:2])):
        assert value not in dump
    # Nor does the blob store hold any 64-byte run of a photo or of the video.
    stored = b"".join(p.read_bytes() for p in (Path(server["data_dir"]) / "blobs").rglob("*") if p.is_file())
    assert len(stored) > sum(p.stat().st_size for p in media["photos"])
    for original in [*media["photos"], media["video"]]:
        data = original.read_bytes()
        for at in range(0, len(data) - 64, 997):
            assert data[at : at + 64] not in stored, f"{original.name} at {at}"


def open_album_with_password(page, link: str) -> None:
    page.goto(link)
    page.get_by_label("Password", exact=True).fill(LINK_PASSWORD)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("heading", name=TITLE).wait_for(timeout=ARGON2)


def test_a_wrong_password_is_refused_and_signed_out_pages_send_to_sign_in(browser, server):
    ctx = context(browser, server)
    page = ctx.new_page()
    page.goto("/app")
    page.wait_for_url("**/login?next=%2Fapp", timeout=TIMEOUT)
    sign_in(page, "not the password at all")
    alert = page.get_by_role("alert")
    alert.wait_for(timeout=ARGON2)
    assert alert.inner_text() == "The e-mail address or the password is not right."
    ctx.close()


def watched(ctx, console: list[str]):
    """A new page of the context whose console errors and uncaught exceptions are collected.

    Chromium logs every 4xx answer as an error; the 401s of a wrong password or an ended sign-in
    are answers the page handles and explains, so only they are let through.
    """
    page = ctx.new_page()

    def on_console(message) -> None:
        if message.type == "error" and "status of 401" not in message.text:
            console.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.append(f"uncaught: {error}"))
    return page


def test_password_change_then_recovery_keep_every_album_readable(browser, server, media, network):
    email = "changer@example.org"
    console: list[str] = []
    ctx = context(browser, server, network)
    page = watched(ctx, console)
    page.goto("/signup")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD + "x")
    page.get_by_role("button", name="Create account").click()
    assert page.get_by_role("alert").inner_text() == "The two passwords are not the same."
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Save your recovery key").wait_for(timeout=ARGON2)
    words = " ".join(page.locator("[data-slot=words] li").all_inner_texts())
    page.get_by_label("I have saved my recovery key").check()
    page.get_by_role("button", name="Continue to my albums").click()
    new_album(page, "Kept through it all")
    page.locator("#file-input").set_input_files([str(media["photos"][0])])
    wait_added(page, 1)
    link = make_link(page)

    # The account page: storage used, the recovery words again after the password, this device.
    page.get_by_role("link", name="Account").click()
    page.get_by_role("heading", name="Your account").wait_for(timeout=TIMEOUT)
    assert "used" in page.locator("[data-slot=storage]").inner_text()
    assert "This device" in page.locator(".device-row").first.inner_text()
    page.locator("#rk-form").get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Show my recovery key").click()
    page.get_by_text("That is not your current password.").wait_for(timeout=ARGON2)
    page.locator("#rk-form").get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Show my recovery key").click()
    page.locator("#rk-title ~ [data-slot=words] li").first.wait_for(timeout=ARGON2)
    assert " ".join(page.locator("#account [data-slot=words] li").all_inner_texts()) == words

    # An owner token for scripts: shown once, works, and stops working once revoked.
    page.get_by_label("Name").fill("Backup script")
    page.get_by_role("button", name="Create a token").click()
    token = page.locator("[data-slot=token]")
    token.wait_for(timeout=TIMEOUT)
    auth = {"Authorization": f"Bearer {token.inner_text()}"}
    listed = requests.get(f"{server['url']}/api/owner/albums", headers=auth, timeout=10)
    assert listed.status_code == 200 and len(listed.json()["albums"]) == 1
    page.locator(".device-row").filter(has_text="Backup script").get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    page.locator(".device-row").filter(has_text="Backup script").wait_for(state="detached", timeout=TIMEOUT)
    assert requests.get(f"{server['url']}/api/owner/albums", headers=auth, timeout=10).status_code == 401

    # A second device is signed in; the password change signs it out.
    laptop_ctx = context(browser, server)
    laptop = watched(laptop_ctx, console)
    laptop.goto("/login")
    laptop.get_by_label("E-mail address").fill(email)
    laptop.get_by_label("Password").fill(PASSWORD)
    laptop.get_by_role("button", name="Sign in").click()
    laptop.get_by_role("heading", name="Your albums").wait_for(timeout=ARGON2)
    page.reload()
    page.locator(".device-row").nth(1).wait_for(timeout=TIMEOUT)

    new_password = "the second passphrase"
    form = page.locator("#password-form")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_label("New password", exact=True).fill(new_password)
    form.get_by_label("New password again").fill(new_password)
    form.get_by_role("button", name="Change password").click()
    page.get_by_text("Your password is changed. One other device was signed out.").wait_for(timeout=ARGON2)
    laptop.reload()
    laptop.wait_for_url("**/login?next=%2Fapp", timeout=TIMEOUT)

    # The old password fails, the new one works.
    laptop.get_by_label("E-mail address").fill(email)
    laptop.get_by_label("Password").fill(PASSWORD)
    laptop.get_by_role("button", name="Sign in").click()
    laptop.get_by_role("alert").wait_for(timeout=ARGON2)
    assert laptop.get_by_role("alert").inner_text() == "The e-mail address or the password is not right."

    # Forgot the new one: a wrong recovery key is refused, the right one sets a third password.
    laptop.goto("/recover")
    laptop.get_by_label("E-mail address").fill(email)
    wrong = words.split()
    wrong[0], wrong[1] = wrong[1], wrong[0]
    laptop.get_by_label("Recovery key (24 words)").fill(" ".join(wrong) if wrong != words.split() else "abandon " * 24)
    laptop.get_by_label("New password", exact=True).fill("the third passphrase")
    laptop.get_by_label("New password again").fill("the third passphrase")
    laptop.get_by_role("button", name="Set the new password").click()
    alert = laptop.get_by_role("alert")
    alert.wait_for(timeout=ARGON2)
    assert alert.inner_text() in (
        "The words do not match: check for a typo",
        "The e-mail address or the recovery key is not right.",
    )
    laptop.get_by_label("Recovery key (24 words)").fill("  " + words.upper().replace(" ", "\n") + " ")
    laptop.get_by_role("button", name="Set the new password").click()
    laptop.get_by_role("heading", name="Your albums").wait_for(timeout=ARGON2)
    laptop.locator(".album-card").filter(has_text="Kept through it all").click()
    laptop.get_by_role("heading", name="Kept through it all").wait_for(timeout=TIMEOUT)
    laptop.wait_for_function("() => document.querySelector('.file-tile img:not([hidden])')?.naturalWidth > 0", timeout=TIMEOUT)
    row = laptop.locator(".link-row").first
    row.wait_for(timeout=TIMEOUT)
    assert row.locator("[data-slot=url]").input_value() == link

    # The first device was signed out by the recovery; the newest password is the one that works.
    page.reload()
    page.wait_for_url("**/login?next=%2Fapp%2Faccount", timeout=TIMEOUT)
    for password, works in ((new_password, False), ("the third passphrase", True)):
        page.get_by_label("E-mail address").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        if works:
            page.get_by_role("heading", name="Your account").wait_for(timeout=ARGON2)
        else:
            page.get_by_role("alert").wait_for(timeout=ARGON2)

    for secret in (PASSWORD, new_password, "the third passphrase", words, " ".join(words.split()[:2])):
        network.assert_never_sent(secret)
    assert console == []
    laptop_ctx.close()
    ctx.close()


def sign_up_as(page, email: str) -> None:
    page.goto("/signup")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_label("I have saved my recovery key").check(timeout=ARGON2)
    page.get_by_role("button", name="Continue to my albums").click()
    page.get_by_role("heading", name="Your albums").wait_for(timeout=TIMEOUT)


def tile_named(page, name: str):
    return page.locator(".file-tile").filter(has=page.locator(f"[data-slot=name]:text-is('{name}')"))


def test_edits_in_the_browser_are_what_a_recipient_sees_after_a_reload(browser, server, media, network):
    console: list[str] = []
    ctx = context(browser, server, network)
    page = watched(ctx, console)
    sign_up_as(page, "editor@example.org")
    new_album(page, "Draft title")
    photos = media["photos"]
    page.locator("#file-input").set_input_files([str(p) for p in photos[:3]])
    wait_added(page, 3)
    link = make_link(page)

    recipient_ctx = context(browser, server)
    recipient = watched(recipient_ctx, console)
    recipient.goto(link)
    recipient.get_by_role("heading", name="Draft title").wait_for(timeout=TIMEOUT)
    assert set(wait_for_thumbs(recipient, 3)) == {p.name for p in photos[:3]}

    # Add 3, remove 1, rename and describe.
    page.locator("#file-input").set_input_files([str(p) for p in photos[3:6]])
    wait_added(page, 6)
    page.wait_for_function("() => document.querySelector('#uploads [data-slot=summary]').textContent.startsWith('6 of 6')")
    tile_named(page, photos[1].name).get_by_role("button", name="Remove").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    page.get_by_text(f"{photos[1].name} was removed.").wait_for(timeout=TIMEOUT)
    page.get_by_role("button", name="Rename or describe").click()
    dialog = page.get_by_role("dialog", name="Rename or describe")
    dialog.get_by_label("Title").fill("Lyon, July")
    dialog.get_by_label("Description").fill("Five days by the rivers")
    dialog.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="Lyon, July").wait_for(timeout=TIMEOUT)
    page.get_by_text("Saved. Visitors see the change when they reload.").wait_for(timeout=TIMEOUT)

    # Reorder by name, then by hand (drag IMG_05 before IMG_00), and choose the cover.
    page.get_by_label("Order").select_option("name")
    page.get_by_text("The new order is saved.").wait_for(timeout=TIMEOUT)
    names = page.locator(".file-tile [data-slot=name]")
    assert names.all_inner_texts() == ["IMG_00.jpg", "IMG_02.jpg", "IMG_03.jpg", "IMG_04.jpg", "IMG_05.jpg"]
    tile_named(page, "IMG_05.jpg").drag_to(tile_named(page, "IMG_00.jpg"))
    page.wait_for_function("() => document.querySelector('.file-tile [data-slot=name]').textContent === 'IMG_05.jpg'")
    assert page.get_by_label("Order").input_value() == "custom"
    tile_named(page, "IMG_03.jpg").get_by_role("button", name="Move earlier").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.file-tile [data-slot=name]')].map((n) => n.textContent).join() ==="
        " 'IMG_05.jpg,IMG_00.jpg,IMG_03.jpg,IMG_02.jpg,IMG_04.jpg'"
    )
    tile_named(page, "IMG_04.jpg").get_by_role("button", name="Set as cover").click()
    page.get_by_text("IMG_04.jpg is now the album's cover.").wait_for(timeout=TIMEOUT)
    assert tile_named(page, "IMG_04.jpg").get_by_text("Cover", exact=True).is_visible()

    # The owner's own view after a reload keeps all of it.
    page.reload()
    page.get_by_role("heading", name="Lyon, July").wait_for(timeout=TIMEOUT)
    page.locator(".file-tile").nth(4).wait_for(timeout=TIMEOUT)
    assert names.all_inner_texts() == ["IMG_05.jpg", "IMG_00.jpg", "IMG_03.jpg", "IMG_02.jpg", "IMG_04.jpg"]

    # The recipient reloads: the new title and description, exactly these five files.
    recipient.reload()
    recipient.get_by_role("heading", name="Lyon, July").wait_for(timeout=TIMEOUT)
    recipient.get_by_text("Five days by the rivers").wait_for(timeout=TIMEOUT)
    assert set(wait_for_thumbs(recipient, 5)) == {"IMG_00.jpg", "IMG_02.jpg", "IMG_03.jpg", "IMG_04.jpg", "IMG_05.jpg"}
    # In exactly the owner's order, and with the chosen cover beside the title.
    shown = recipient.evaluate("() => [...document.querySelectorAll('#grid .tile img')].map((img) => img.alt)")
    assert shown == ["IMG_05.jpg", "IMG_00.jpg", "IMG_03.jpg", "IMG_02.jpg", "IMG_04.jpg"]
    recipient.wait_for_function("() => document.querySelector('#album-cover')?.naturalWidth > 0", timeout=TIMEOUT)
    cover_src = recipient.locator("#album-cover").get_attribute("src")
    assert cover_src == recipient.locator("#grid .tile img[alt='IMG_04.jpg']").get_attribute("src")

    # Deleting the album ends the link too.
    page.get_by_role("button", name="Delete album").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete album").click()
    page.get_by_role("heading", name="Your albums").wait_for(timeout=TIMEOUT)
    assert page.locator(".album-card").count() == 0
    assert page.get_by_text("No albums yet.").is_visible()
    recipient.reload()
    recipient.get_by_role("heading", name="This album link does not exist").wait_for(timeout=TIMEOUT)
    _server, _link_id, fragment = split(link)
    network.assert_never_sent(fragment)
    assert [line for line in console if "status of 404" not in line] == []
    recipient_ctx.close()
    ctx.close()


def test_the_browser_and_the_command_line_manage_each_others_albums(browser, server, media, tmp_path):
    email = "both@example.org"
    console: list[str] = []
    ctx = context(browser, server)
    page = watched(ctx, console)
    sign_up_as(page, email)
    new_album(page, "Made in the browser")
    page.locator("#file-input").set_input_files([str(media["photos"][0])])
    wait_added(page, 1)

    # The command line signs in to the same account, on a machine that never saw the album.
    fragment = Fragment(tmp_path / "keyring.json")
    fragment("login", server["url"], "--email", email, "--password-stdin", input=PASSWORD + "\n")
    fragment("albums", "add", "Made in the browser", media["photos"][1], media["photos"][2])
    fragment("albums", "rename", "Made in the browser", "Renamed from the command line")
    link = fragment.link("links", "add", "Renamed from the command line")
    page.reload()
    page.get_by_role("heading", name="Renamed from the command line").wait_for(timeout=TIMEOUT)
    assert page.locator(".file-tile").count() == 3
    rows = page.locator(".link-row")
    rows.first.wait_for(timeout=TIMEOUT)
    assert rows.first.locator("[data-slot=url]").input_value() == link

    # And the other way round: published from the command line, managed in the browser.
    folder = tmp_path / "cli-album"
    folder.mkdir()
    for photo in media["photos"][3:5]:
        (folder / photo.name).write_bytes(photo.read_bytes())
    published = fragment.publish(folder, "--title", "Published from the command line", "--server", server["url"])
    page.goto("/app")
    card = page.locator(".album-card").filter(has_text="Published from the command line")
    card.wait_for(timeout=TIMEOUT)
    card.click()
    page.get_by_role("heading", name="Published from the command line").wait_for(timeout=TIMEOUT)
    page.locator(".link-row").first.wait_for(timeout=TIMEOUT)
    assert page.locator(".link-row [data-slot=url]").first.input_value() == published
    page.get_by_role("button", name="Rename or describe").click()
    page.get_by_role("dialog", name="Rename or describe").get_by_label("Title").fill("Renamed in the browser")
    page.get_by_role("dialog", name="Rename or describe").get_by_role("button", name="Save").click()
    page.get_by_text("Saved. Visitors see the change when they reload.").wait_for(timeout=TIMEOUT)
    _code, listing = fragment("albums", "list")
    assert "Renamed in the browser" in listing and "Renamed from the command line" in listing
    assert console == []
    ctx.close()


def test_guest_uploads_held_for_approval_appear_for_others_once_approved(browser, server, media):
    console: list[str] = []
    ctx = context(browser, server)
    page = watched(ctx, console)
    sign_up_as(page, "reviewer@example.org")
    new_album(page, "Reviewed wedding")
    page.locator("#file-input").set_input_files([str(media["photos"][0])])
    wait_added(page, 1)
    viewing = make_link(page, label="To look")
    page.get_by_role("button", name="New link").click()
    dialog = page.get_by_role("dialog", name="New link")
    dialog.get_by_label("Add photos and videos").check()
    dialog.get_by_label("Hold what guests add until I approve it").check()
    dialog.get_by_role("button", name="Create link").click()
    page.get_by_text("you approve what they add").wait_for(timeout=TIMEOUT)
    adding = page.evaluate("navigator.clipboard.readText()")

    # A guest adds a photo, and is told it waits for the owner.
    guest_ctx = context(browser, server)
    guest = watched(guest_ctx, console)
    guest.goto(adding)
    guest.get_by_role("heading", name="Reviewed wedding").wait_for(timeout=TIMEOUT)
    guest.locator("#file-input").set_input_files([str(media["photos"][7])])
    name = guest.get_by_role("dialog", name="What is your name?")
    name.get_by_label("Your name").fill("Zoé")
    name.get_by_role("button", name="Continue").click()
    guest.get_by_text("your files appear for everyone once they are approved").wait_for(timeout=TIMEOUT)
    guest.wait_for_function(
        "() => document.querySelector('#uploads [data-slot=summary]').textContent.startsWith('1 of 1')", timeout=60_000
    )

    # Someone with the other link does not see it yet.
    visitor_ctx = context(browser, server)
    visitor = watched(visitor_ctx, console)
    visitor.goto(viewing)
    visitor.get_by_role("heading", name="Reviewed wedding").wait_for(timeout=TIMEOUT)
    assert set(wait_for_thumbs(visitor, 1)) == {media["photos"][0].name}

    # The owner sees it waiting, who added it, and approves it; then the visitor sees it.
    page.reload()
    held = tile_named(page, media["photos"][7].name)
    held.wait_for(timeout=TIMEOUT)
    assert "Waiting for your approval" in held.inner_text() and "Added by Zoé" in held.inner_text()
    held.get_by_role("button", name="Approve").click()
    page.get_by_text("is approved: every visitor sees it now.").wait_for(timeout=TIMEOUT)
    assert held.get_by_text("Waiting for your approval").is_hidden()
    visitor.reload()
    visitor.get_by_role("heading", name="Reviewed wedding").wait_for(timeout=TIMEOUT)
    assert set(wait_for_thumbs(visitor, 2)) == {media["photos"][0].name, media["photos"][7].name}
    assert console == []
    for each in (visitor_ctx, guest_ctx, ctx):
        each.close()
