"""The album page in Chromium, against the real app under gunicorn.

Albums are published with the owner's command line, exactly as an owner would, and
opened by their links in Debian's Chromium with the server's real headers (CSP
included). Every assertion is about what a person sees or what went over the
network: decoded image sizes rather than the presence of an <img>, the text of each
message, and a log of every request the browser made.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sqlite3
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from PIL import Image

from tests.support.browser import SLIDE_IMG, TIMEOUT, current_slide_image, open_album, tile, wait_for_thumbs
from tests.support.media_fixtures import (
    UNICODE_NAME,
    make_album_dir,
    make_jpeg_with_orientation,
    make_long_mp4,
    make_mp4,
    require_ffmpeg,
)
from tests.support.owner_cli import Fragment, publish, split, unlock_link
from tests.support.servers import flask_cli
from viewer import crypto
from viewer.owner import media

pytestmark = pytest.mark.slow

TITLE = "Sommer in Lyon ☀ – 2026"
BROKEN = "This file could not be decrypted: it may be damaged or tampered with"


# --- publishing -------------------------------------------------------------------


@pytest.fixture(scope="module")
def album(live_server, owner_cli, tmp_path_factory):
    """The round-trip folder (JPEG with GPS, PNG, HEIC, MP4, a Unicode name), published once."""
    require_ffmpeg()
    folder = tmp_path_factory.mktemp("viewer-photos")
    files = make_album_dir(folder)
    link = owner_cli.publish(folder, "--title", TITLE, "--server", live_server["url"])
    thumbs = {name: Image.open(io.BytesIO(media.prepare(path).thumb)).size for name, path in files.items()}
    return {"link": link, "files": files, "thumbs": thumbs}


def api_files(link: str) -> tuple[str, dict[str, str]]:
    """The album id and {file name: file id}, read through the public API as a recipient."""
    server, link_id, fragment = split(link)
    unlocked, auth = unlock_link(link)
    keys = crypto.link_keys(crypto.decode_link_secret(fragment))
    album_id = unlocked["album_id"]
    album_key = crypto.unwrap_album_key(keys.wrap_key, crypto.b64d(unlocked["wrapped_album_key"]), link_id)
    names = {}
    for entry in requests.get(f"{server}/api/links/{link_id}/files", headers=auth).json()["files"]:
        fk = crypto.unwrap_file_key(album_key, crypto.b64d(entry["wrapped_key"]), album_id, entry["file_id"])
        names[crypto.open_file_meta(fk, album_id, entry["file_id"], crypto.b64d(entry["meta"]))["name"]] = entry["file_id"]
    return album_id, names


# This browser's device key for a link (static/js/core/device.js), read by the page itself:
# null if there is none; else whether WebCrypto lets the private key out.
DEVICE_KEY = r"""async (linkId) => {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open('fragment');
    // No database yet: do not create one (device.js makes it with its store).
    open.onupgradeneeded = () => open.transaction.abort();
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => resolve(null);
  });
  if (!db || !db.objectStoreNames.contains('devices')) return null;
  const entry = await new Promise((resolve, reject) => {
    const get = db.transaction('devices').objectStore('devices').get(linkId);
    get.onsuccess = () => resolve(get.result);
    get.onerror = () => reject(get.error);
  });
  db.close();
  if (!entry) return null;
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', entry.publicKey));
  const tries = await Promise.all(['pkcs8', 'jwk'].map((format) =>
    crypto.subtle.exportKey(format, entry.privateKey).then(() => 'exported', (e) => e.name)));
  const b64url = btoa(String.fromCharCode(...raw)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return { extractable: entry.privateKey.extractable, exports: tries, publicKey: b64url };
}"""


def device_key(page, link: str) -> dict | None:
    """This browser's device key for the link, as the page sees it (None if it has none)."""
    return page.evaluate(DEVICE_KEY, split(link)[1])


def devices_used(server: dict, link: str) -> int:
    db = sqlite3.connect(Path(server["data_dir"]) / "fragment.db")
    try:
        return db.execute("SELECT devices_used FROM links WHERE id = ?", (split(link)[1],)).fetchone()[0]
    finally:
        db.close()


# --- the page -----------------------------------------------------------------------


# --- the album opens --------------------------------------------------------------


def test_the_album_opens_and_every_thumbnail_decrypts(page, album):
    open_album(page, album["link"], TITLE)
    stats = page.locator("#album-stats")
    stats.get_by_text("4 photos, 1 video").wait_for()
    # The date range comes from the photos' decrypted taken_at: December 2023 (HEIC) to June 2024.
    assert "2023" in stats.inner_text() and "2024" in stats.inner_text()
    thumbs = wait_for_thumbs(page, len(album["files"]))
    # Each decoded image has exactly the size of the thumb the owner's tool rendered:
    # only a correct decryption of the right blob gives that.
    assert thumbs == album["thumbs"]
    assert UNICODE_NAME in thumbs
    # The address bar keeps the whole link (issue 15), and the album's title is kept out of
    # the tab title (which browsers store in their history, and may sync).
    assert page.url == album["link"]
    assert page.title() == "Shared album · Fragment"
    # The video tile says it is one, with its length.
    assert tile(page, "clip.mp4").get_by_text("▶ 0:02").is_visible()


def test_the_lightbox_opens_the_clicked_photo_then_its_original(page, album):
    open_album(page, album["link"], TITLE)
    wait_for_thumbs(page, len(album["files"]))
    tile(page, UNICODE_NAME).click()
    image = current_slide_image(page)
    image.wait_for(timeout=TIMEOUT)
    assert image.get_attribute("alt") == UNICODE_NAME
    # By date taken (the default order): the HEIC of 2023, then IMG_0001 and the video (same time, upload order).
    assert page.locator(".pswp__counter").inner_text() == "4 of 5"
    # Preview first, then the original (downloads are on, and a JPEG shows in a browser).
    page.wait_for_function(
        "() => { const i = document.querySelector("
        "\".pswp__item[aria-hidden='false'] img.pswp__img:not(.pswp__img--placeholder)\");"
        " return i && i.dataset.quality === 'original' && i.complete && i.naturalWidth === 500; }",
        timeout=TIMEOUT,
    )
    # Arrow keys move to the neighbour; Esc closes.
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.querySelector('.pswp__counter').textContent === '3 of 5'")
    page.keyboard.press("Escape")
    page.locator(".pswp").wait_for(state="detached")


def test_the_info_panel_shows_name_date_size_camera_and_location(page, album):
    open_album(page, album["link"], TITLE)
    tile(page, "IMG_0001.jpg").click()
    current_slide_image(page).wait_for(timeout=TIMEOUT)
    panel = page.locator(".pswp__fragment-info-panel")
    assert panel.is_hidden()
    page.keyboard.press("i")
    panel.wait_for()
    text = panel.inner_text()
    size = album["files"]["IMG_0001.jpg"].stat().st_size
    assert "IMG_0001.jpg" in text
    assert "2024" in text and "12:30" in text
    assert f"{size / 1000:.1f} KB" in text or f"{size / 1000:.0f} KB" in text
    assert "480 × 640" in text  # upright, after EXIF orientation 6
    assert "Canon EOS R6" in text
    assert "48.85840° N, 2.29450° E" in text
    # The button toggles it too.
    page.get_by_role("button", name="Information (i)").click()
    panel.wait_for(state="hidden")


def test_a_heic_original_is_not_fetched_and_its_preview_stays(page, album, network):
    _album_id, ids = api_files(album["link"])
    open_album(page, album["link"], TITLE)
    tile(page, "IMG_0002.heic").click()
    image = current_slide_image(page)
    image.wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        "() => { const i = document.querySelector("
        "\".pswp__item[aria-hidden='false'] img.pswp__img:not(.pswp__img--placeholder)\");"
        " return i && i.complete && i.naturalWidth === 400; }",
        timeout=TIMEOUT,
    )
    time.sleep(1)
    assert image.get_attribute("data-quality") == "preview"
    assert not [u for u in network.urls() if f"/files/{ids['IMG_0002.heic']}/blobs/original" in u]


def test_the_slideshow_advances_by_itself(page, album):
    open_album(page, album["link"], TITLE)
    tile(page, "IMG_0001.jpg").click()
    current_slide_image(page).wait_for(timeout=TIMEOUT)
    assert page.locator(".pswp__counter").inner_text() == "2 of 5"  # by date taken, after the HEIC of 2023
    page.get_by_role("button", name="Start slideshow").click()
    page.wait_for_function("() => document.querySelector('.pswp__counter').textContent === '3 of 5'", timeout=10_000)
    page.get_by_role("button", name="Pause slideshow").click()
    time.sleep(5)
    assert page.locator(".pswp__counter").inner_text() == "3 of 5"


def test_the_video_plays_in_the_lightbox(page, album):
    open_album(page, album["link"], TITLE)
    wait_for_thumbs(page, len(album["files"]))
    tile(page, "clip.mp4").click()
    video = page.locator(".pswp__item[aria-hidden='false'] video")
    video.wait_for(timeout=TIMEOUT)
    assert video.get_attribute("aria-label") == "clip.mp4"
    page.wait_for_function(
        "() => { const v = document.querySelector(\".pswp__item[aria-hidden='false'] video\");"
        " return v && v.currentTime > 0.3; }",
        timeout=TIMEOUT,
    )
    assert page.evaluate("() => document.querySelector(\".pswp__item[aria-hidden='false'] video\").duration") == pytest.approx(
        2, abs=0.2
    )


def test_download_one_file_gives_the_original_bytes(page, album):
    open_album(page, album["link"], TITLE)
    tile(page, UNICODE_NAME).click()
    current_slide_image(page).wait_for(timeout=TIMEOUT)
    with page.expect_download(timeout=TIMEOUT) as info:
        page.get_by_role("button", name="Download this file").click()
    download = info.value
    assert download.suggested_filename == UNICODE_NAME
    assert Path(download.path()).read_bytes() == album["files"][UNICODE_NAME].read_bytes()


def test_keyboard_alone_tab_to_a_tile_enter_opens_esc_closes(page, album):
    open_album(page, album["link"], TITLE)
    wait_for_thumbs(page, len(album["files"]))
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('tile')"):
            break
    focused = page.evaluate("() => document.activeElement.querySelector('img').alt")
    # The focus is visible.
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("ArrowRight")
    second = page.evaluate("() => document.activeElement.querySelector('img').alt")
    assert second != focused
    page.keyboard.press("Enter")
    image = current_slide_image(page)
    image.wait_for(timeout=TIMEOUT)
    assert image.get_attribute("alt") == second
    page.keyboard.press("Escape")
    page.locator(".pswp").wait_for(state="detached")
    assert page.evaluate("() => document.activeElement.querySelector('img')?.alt") == second


def test_it_fits_a_phone_screen(browser, album, console):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        console.attach(phone)
        open_album(phone, album["link"], TITLE)
        wait_for_thumbs(phone, len(album["files"]))
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
        right = phone.evaluate(
            "() => Math.max(...[...document.querySelectorAll('.tile')].map((t) => t.getBoundingClientRect().right))"
        )
        assert right <= 390
    finally:
        context.close()


# --- what leaves the browser, and the CSP ----------------------------------------


def test_the_fragment_never_leaves_the_browser(page, album, network):
    open_album(page, album["link"], TITLE)
    wait_for_thumbs(page, len(album["files"]))
    tile(page, UNICODE_NAME).click()
    current_slide_image(page).wait_for(timeout=TIMEOUT)
    with page.expect_download(timeout=TIMEOUT):
        page.get_by_role("button", name="Download this file").click()
    page.keyboard.press("Escape")
    page.locator(".pswp").wait_for(state="detached")
    # Share, its QR code and "Copy link" are drawn and copied on this device only.
    page.get_by_role("button", name="Share").click()
    dialog = page.get_by_role("dialog", name="Scan to open on another device")
    dialog.wait_for(timeout=TIMEOUT)
    dialog.get_by_role("button", name="Copy link").click()
    dialog.get_by_role("status").filter(has_text=re.compile(r"\S")).wait_for(timeout=TIMEOUT)
    dialog.get_by_role("button", name="Done").click()

    # The log covers the Worker's requests too: every thumbnail was fetched there.
    assert len([u for u in network.urls() if u.endswith("/blobs/thumb")]) == len(album["files"])
    _server, _link_id, fragment = split(album["link"])
    secret = crypto.decode_link_secret(fragment)
    standard = base64.b64encode(secret).decode()
    spellings = {
        fragment,
        standard,
        standard.rstrip("="),
        secret.hex(),
        secret.hex().upper(),
        quote(standard, safe=""),
        fragment[:20],  # a part of it is a leak too
        fragment[-20:],
    }
    for spelling in spellings:
        network.assert_never_sent(spelling)
    network.assert_never_sent(secret)  # raw bytes in a body


# --- a link that can be passed on (issue 15) -----------------------------------------

SHARE_DIALOG = "Scan to open on another device"

# The QR code on the canvas, read back module by module (lean-qr draws one pixel per module
# inside a four-module quiet zone), next to the code lean-qr makes of `link` itself: the
# page drew the code of exactly that text. No QR decoder is installed to read it otherwise.
QR_MATCHES = r"""async (link) => {
  const { generate } = await import('lean-qr');
  const code = generate(link);
  const canvas = document.querySelector('#share-dialog canvas');
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const dark = (x, y) => d[(y * canvas.width + x) * 4] < 128;
  let wrong = 0;
  for (let y = 0; y < code.size; y++) for (let x = 0; x < code.size; x++) if (dark(x + 4, y + 4) !== code.get(x, y)) wrong++;
  for (let i = 0; i < canvas.width; i++) if (dark(i, 0) || dark(0, i) || dark(i, 3) || dark(3, i)) wrong++;
  const box = canvas.getBoundingClientRect();
  return { size: code.size, width: canvas.width, height: canvas.height, shown: [box.width, box.height], wrong };
}"""


def test_the_address_keeps_the_whole_link_which_opens_the_album_elsewhere(page, browser, album, console):
    open_album(page, album["link"], TITLE)
    wait_for_thumbs(page, len(album["files"]))
    assert page.url == album["link"]
    assert TITLE not in page.title() and "Sommer" not in page.evaluate("document.title")
    # A reload keeps it (the address is what the page reads), and so does the history entry.
    page.reload()
    page.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    assert page.url == album["link"]
    # A tab whose address lost the key (as this page once took it out) gets it back from the tab's storage.
    page.goto(album["link"].split("#")[0])
    page.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)
    assert page.url == album["link"]
    # The copied address opens the album in a browser that never saw it.
    other = browser.new_context()
    try:
        fresh = other.new_page()
        console.attach(fresh)
        open_album(fresh, page.url, TITLE)
        wait_for_thumbs(fresh, len(album["files"]))
        assert fresh.title() == "Shared album · Fragment"
    finally:
        other.close()


def test_share_copies_the_link_and_shows_its_qr_code(page, browser_context, album, network):
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_album(page, album["link"], TITLE)
    wait_for_thumbs(page, len(album["files"]))
    assert page.evaluate("typeof navigator.share") == "undefined"  # Chromium on Linux: the clipboard path
    page.get_by_role("button", name="Share").click()
    dialog = page.get_by_role("dialog", name=SHARE_DIALOG)
    dialog.wait_for(timeout=TIMEOUT)
    dialog.get_by_role("status").get_by_text("Link copied.", exact=True).wait_for(timeout=TIMEOUT)
    assert page.evaluate("navigator.clipboard.readText()") == album["link"]
    # The link's text, beside the code, and the code itself: the whole link, drawn at a size one can scan.
    assert dialog.locator("[data-slot=link]").inner_text() == album["link"]
    assert page.get_by_role("img", name="QR code of the link").is_visible()
    qr = page.evaluate(QR_MATCHES, album["link"])
    assert qr["wrong"] == 0 and qr["width"] == qr["height"] == qr["size"] + 8
    assert qr["shown"][0] >= 150 and qr["shown"][0] == qr["shown"][1]
    assert dialog.get_by_text("They will need the password too.").is_hidden()  # no password on this link
    # The link's text is selectable, to copy by hand.
    selected = page.evaluate(
        """() => { const p = document.querySelector('#share-dialog [data-slot=link]');
                   getSelection().selectAllChildren(p); return getSelection().toString(); }"""
    )
    assert selected == album["link"]
    dialog.get_by_role("button", name="Done").click()
    dialog.wait_for(state="hidden")
    assert page.get_by_role("button", name="Share").evaluate("(b) => b === document.activeElement")
    assert_fragment_never_sent(network, album["link"])


def test_share_says_so_when_the_clipboard_is_refused(page, album):
    page.add_init_script(
        "navigator.clipboard.writeText = () => Promise.reject(new DOMException('Write permission denied.', 'NotAllowedError'));"
    )
    open_album(page, album["link"], TITLE)
    page.get_by_role("button", name="Share").click()
    dialog = page.get_by_role("dialog", name=SHARE_DIALOG)
    dialog.get_by_role("status").get_by_text(
        "This browser did not let the page copy the link: select it above and copy it yourself."
    ).wait_for(timeout=TIMEOUT)
    # The link is selected for them, whole.
    assert page.evaluate("getSelection().toString()") == album["link"]


def test_share_uses_the_system_share_sheet_where_there_is_one(page, album, network):
    """A phone's Web Share API (stood in for here: Chromium on Linux has none) gets the link, and nothing else."""
    page.add_init_script(
        """window.__shared = []; window.__copied = [];
           navigator.canShare = (data) => Boolean(data && data.url);
           navigator.share = async (data) => { window.__shared.push(JSON.parse(JSON.stringify(data))); };
           navigator.clipboard.writeText = async (text) => { window.__copied.push(text); };"""
    )
    open_album(page, album["link"], TITLE)
    page.get_by_role("button", name="Share").click()
    page.get_by_role("dialog", name=SHARE_DIALOG).wait_for(timeout=TIMEOUT)
    page.wait_for_function("window.__shared.length > 0", timeout=TIMEOUT)
    # Only the address: not the album's title, which would go to the app it is shared with.
    assert page.evaluate("window.__shared") == [{"url": album["link"]}]
    assert page.evaluate("window.__copied") == []
    assert_fragment_never_sent(network, album["link"])


def test_a_password_links_share_says_the_password_is_needed_and_never_holds_it(
    page, browser_context, owner_cli, live_server, tmp_path, network
):
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"])
    link = publish(owner_cli, live_server, tmp_path, "Locked trip", "--password-stdin", input="geheim-42\n")
    page.goto(link)
    page.get_by_label("Password", exact=True).fill("geheim-42")
    page.get_by_role("button", name="Open").click()
    page.get_by_role("heading", name="Locked trip").wait_for(timeout=TIMEOUT)
    assert page.url == link
    page.get_by_role("button", name="Share").click()
    dialog = page.get_by_role("dialog", name=SHARE_DIALOG)
    dialog.get_by_text("They will need the password too.", exact=True).wait_for(timeout=TIMEOUT)
    dialog.get_by_role("status").get_by_text("Link copied.", exact=True).wait_for(timeout=TIMEOUT)
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert "geheim" not in dialog.inner_text()
    assert page.evaluate(QR_MATCHES, link)["wrong"] == 0
    network.assert_never_sent("geheim-42")
    assert_fragment_never_sent(network, link)


def test_an_upload_only_link_has_no_share_button(page, owner_cli, live_server, tmp_path):
    publish(owner_cli, live_server, tmp_path, "Only a drop")
    link = owner_cli.link("links", "add", "Only a drop", "--allow-uploads", "--upload-only")
    open_album(page, link, "Only a drop")
    page.get_by_text("This link is for adding photos and videos to the album.").wait_for(timeout=TIMEOUT)
    assert page.get_by_role("button", name="Share").count() == 0
    assert page.locator("#share").is_hidden()


def test_a_mistyped_address_gets_the_sites_page_and_keeps_its_fragment(page, live_server, network, console):
    """Issue 15: the site's own 404 page, under the real CSP, and what follows # still stays in the browser."""
    console.expect(r"status of 404")  # Chromium logs the page's own 404 status
    secret = "k" * 43
    answer = page.goto(f"{live_server['url']}/a-typo/in-the-link#{secret}")
    assert answer is not None and answer.status == 404
    page.get_by_role("heading", name="Nothing here").wait_for(timeout=TIMEOUT)
    assert "check that you copied all of it" in page.locator("main").inner_text()
    assert page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "704px"  # site.css: 44rem
    network.assert_never_sent(secret)


def test_the_page_works_under_the_real_csp(page, album, live_server):
    response = requests.get(album["link"].split("#")[0])
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval'" not in csp.replace("wasm-unsafe-eval'", "")
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert 'style="' not in response.text and "<style" not in response.text
    page.add_init_script(
        "window.__violations = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    open_album(page, album["link"], TITLE)
    wait_for_thumbs(page, len(album["files"]))
    tile(page, "IMG_0001.jpg").click()
    current_slide_image(page).wait_for(timeout=TIMEOUT)
    page.keyboard.press("i")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Escape")
    page.locator(".pswp").wait_for(state="detached")
    assert page.evaluate("window.__violations") == []
    # (The console fixture fails the test on any console error, CSP reports included.)


# --- password -----------------------------------------------------------------------


def test_password_link_wrong_then_right(page, owner_cli, live_server, tmp_path, console, network):
    link = publish(owner_cli, live_server, tmp_path, "Secret trip", "--password-stdin", input="pässwort\n")
    console.expect(r"status of 401")
    page.goto(link)
    page.get_by_role("heading", name="This album is protected by a password").wait_for(timeout=TIMEOUT)
    page.get_by_label("Password", exact=True).fill("Passwort")
    page.get_by_role("button", name="Open").click()
    # Argon2 runs in a Worker while a progress indicator shows.
    page.get_by_text("Checking the password…").wait_for()
    page.get_by_text("That password is not right").wait_for(timeout=TIMEOUT)
    assert page.get_by_label("Password", exact=True).is_visible()
    assert page.get_by_text("Checking the password…").is_hidden()
    page.get_by_label("Password", exact=True).fill("pässwort")
    page.get_by_role("button", name="Open").click()
    page.get_by_role("heading", name="Secret trip").wait_for(timeout=TIMEOUT)
    wait_for_thumbs(page, 1)
    network.assert_never_sent("pässwort")
    network.assert_never_sent("pässwort".encode())


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    """A server whose access tokens live 3 seconds, with the default attempt counters (5 free per client)."""
    from tests.support import servers

    base = tmp_path_factory.mktemp("viewer-strict")
    env = {"FRAGMENT_ACCESS_TOKEN_TTL": "3", "FRAGMENT_UNLOCK_FREE_ATTEMPTS_PER_CLIENT": "5"}
    with servers.gunicorn(base / "data", env=env) as url:
        yield {"url": url, "data_dir": base / "data"}


@pytest.fixture(scope="module")
def strict_owner(strict_server, tmp_path_factory):
    owner = Fragment(tmp_path_factory.mktemp("viewer-strict-owner") / "owner.json")
    owner("login", strict_server["url"], "--token-stdin", input=flask_cli(strict_server["data_dir"], "create-owner-token"))
    return owner


def test_six_wrong_passwords_from_one_browser_make_it_wait_without_running_argon2(
    page, browser_context, strict_server, strict_owner, tmp_path, console, network
):
    link = publish(strict_owner, strict_server, tmp_path, "Locked", "--password-stdin", input="right one\n")
    console.expect(r"status of (401|429)")
    refused = []
    browser_context.on("response", lambda r: refused.append(r.url) if r.status == 429 else None)
    page.goto(link)
    field = page.get_by_label("Password", exact=True)
    field.wait_for(timeout=TIMEOUT)
    message = page.locator(".password-form [data-slot=message]")
    button = page.get_by_role("button", name="Open")

    def attempt(password: str) -> str:
        field.fill(password)
        button.click()
        page.wait_for_function(
            "() => !document.querySelector('.password-form button').disabled"
            " && document.querySelector('.password-form [data-slot=message]').textContent !== ''",
            timeout=TIMEOUT,
        )
        return message.inner_text()

    argon2 = lambda: len([u for u in network.urls() if u.endswith("/keys-worker.js")])  # noqa: E731
    # Five wrong passwords are each checked (UNLOCK_FREE_ATTEMPTS_PER_CLIENT = 5)...
    for _ in range(5):
        assert attempt("wrong") == "That password is not right. Check it and try again."
    assert argon2() == 5 and refused == []
    # ...then the delays start (1, 2, 4 seconds...) and grow with each failure: an attempt made
    # at once is told to wait, at the challenge, before its password is hashed.
    for _ in range(3):
        before = argon2()
        said = attempt("wrong")
        if said.startswith("Too many wrong passwords."):
            break
        assert said.startswith("That password is not right")
    assert re.fullmatch(r"Too many wrong passwords\. Try again in (1 second|\d+ seconds)\.", said), said
    assert argon2() == before, "no password hash for a refused attempt"
    assert refused and all(u.endswith("/challenge") for u in refused), refused
    # A delay, not a lock: once it has passed, the right password opens the album.
    seconds = re.search(r"\d+", said)
    assert seconds, said
    time.sleep(int(seconds.group()) + 1)
    field.fill("right one")
    button.click()
    page.get_by_role("heading", name="Locked").wait_for(timeout=TIMEOUT)


def test_the_wait_is_said_in_minutes_from_retry_after(page, owner_cli, live_server, tmp_path, console, network):
    link = publish(owner_cli, live_server, tmp_path, "Wait a bit", "--password-stdin", input="pw\n")
    console.expect(r"status of 429")
    body = {"error": "too_many_attempts", "message": "Too many wrong passwords. Try again in 2 minutes."}
    # The album Worker's request (it makes every API call), so routed on the context.
    page.context.route(
        "**/challenge",
        lambda route: route.fulfill(
            status=429, headers={"Retry-After": "120"}, content_type="application/json", body=json.dumps(body)
        ),
    )
    page.goto(link)
    page.get_by_label("Password", exact=True).fill("pw")
    page.get_by_role("button", name="Open").click()
    page.locator(".password-form [data-slot=message]").get_by_text(
        "Too many wrong passwords. Try again in 2 minutes.", exact=True
    ).wait_for(timeout=TIMEOUT)
    assert not [u for u in network.urls() if u.endswith("/keys-worker.js")]


def test_argon2_parameters_below_the_floor_are_refused_before_any_hashing(page, owner_cli, live_server, tmp_path, network):
    link = publish(owner_cli, live_server, tmp_path, "Cheap hash", "--password-stdin", input="pw\n")
    link_id = split(link)[1]

    def weaken(route):
        # A malicious server asks for 1 pass over 8 KiB, to collect a proof cheap to brute-force.
        answer = route.fetch()
        info = answer.json()
        info["password"] = {**info["password"], "opslimit": 1, "memlimit": 8192}
        route.fulfill(response=answer, json=info)

    # The album Worker's request (it makes every API call), so routed on the context.

    page.context.route(f"**/api/links/{link_id}", weaken)
    page.goto(link)
    page.get_by_role("heading", name="This link's password settings are too weak").wait_for(timeout=TIMEOUT)
    assert page.get_by_text(
        "This link's password settings are weaker than Fragment allows, so the password could be guessed offline. "
        "Ask the owner for a new link."
    ).is_visible()
    assert not page.get_by_label("Password", exact=True).is_visible()
    urls = network.urls()
    assert not [u for u in urls if u.endswith(("/keys-worker.js", "/challenge", "/unlock"))], urls


def test_an_expired_access_token_is_renewed_without_asking_again(page, strict_server, strict_owner, tmp_path, console, network):
    link = publish(strict_owner, strict_server, tmp_path, "Long visit", "--password-stdin", "--device-limit", "1", input="pw\n")
    page.goto(link)
    page.get_by_label("Password", exact=True).fill("pw")
    page.get_by_role("button", name="Open").click()
    page.get_by_role("heading", name="Long visit").wait_for(timeout=TIMEOUT)
    wait_for_thumbs(page, 1)
    console.expect(r"status of 401")
    time.sleep(4)  # the access token has expired
    tile(page, "Long visit 1.jpg").click()
    page.wait_for_function(
        f"() => {{ const i = document.querySelector(\".pswp__item[aria-hidden='false'] {SLIDE_IMG}\");"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=TIMEOUT,
    )
    unlocks = [r for r in network.requests if r.url.endswith("/unlock")]
    assert len(unlocks) == 2  # the password's unlock, then one renewal with the keys already derived
    assert len([u for u in network.urls() if u.endswith("/keys-worker.js")]) == 1  # no second Argon2
    assert devices_used(strict_server, link) == 1  # the same device, not a new one
    # Both unlocks proved the link key, the password and this browser's device key; no device token.
    bodies = [json.loads(r.body) for r in unlocks]
    assert all({"challenge", "link_proof", "proof", "device_key", "device_proof"} <= set(b) for b in bodies)
    key = device_key(page, link)
    assert key is not None and bodies[0]["device_key"] == bodies[1]["device_key"] == key["publicKey"]
    assert bodies[0]["challenge"] != bodies[1]["challenge"]
    assert not any("device_token" in b for b in bodies)


def test_a_renewal_told_to_wait_a_little_waits_and_renews(page, browser_context, strict_server, strict_owner, tmp_path, console):
    """Others' wrong passwords can make a password link wait; a visitor's token renewal waits it out once."""
    link = publish(strict_owner, strict_server, tmp_path, "Busy link", "--password-stdin", input="pw\n")
    page.goto(link)
    page.get_by_label("Password", exact=True).fill("pw")
    page.get_by_role("button", name="Open").click()
    page.get_by_role("heading", name="Busy link").wait_for(timeout=TIMEOUT)
    wait_for_thumbs(page, 1)
    refused: list[str] = []

    def wait_once(route):
        if refused:
            route.continue_()
            return
        refused.append(route.request.url)
        body = {"error": "too_many_attempts", "message": "Too many wrong passwords. Try again in 1 second."}
        route.fulfill(status=429, headers={"Retry-After": "1"}, content_type="application/json", body=json.dumps(body))

    browser_context.route("**/challenge", wait_once)  # the album Worker's request, routed on the context
    console.expect(r"status of (401|429)")
    time.sleep(4)  # the access token has expired
    tile(page, "Busy link 1.jpg").click()
    page.wait_for_function(
        f"() => {{ const i = document.querySelector(\".pswp__item[aria-hidden='false'] {SLIDE_IMG}\");"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=TIMEOUT,
    )
    assert len(refused) == 1


# --- link policy pages --------------------------------------------------------------


def test_an_expired_link_says_so(page, owner_cli, live_server, tmp_path, console):
    link = publish(owner_cli, live_server, tmp_path, "Old news", "--expires", "1d")
    db = sqlite3.connect(Path(live_server["data_dir"]) / "fragment.db")
    expires_at = int(time.time()) - 60
    db.execute("UPDATE links SET expires_at = ? WHERE id = ?", (expires_at, split(link)[1]))
    db.commit()
    db.close()
    console.expect(r"status of 410")
    page.goto(link)
    page.get_by_role("heading", name="This link has expired").wait_for(timeout=TIMEOUT)
    section = page.locator("[data-state=expired]")
    assert section.get_by_text("Ask them for a new link").is_visible()
    # When, in words and in the visitor's time zone (the browser's: UTC here), not an ISO timestamp.
    detail = section.locator("[data-slot=detail]").inner_text()
    expired = datetime.fromtimestamp(expires_at, UTC)
    assert detail.startswith("It stopped working on ") and "T" not in detail.split(" on ", 1)[1], detail
    assert f"{expired:%B} {expired.day}, {expired.year}" in detail, detail


def test_a_revoked_link_says_so(page, owner_cli, live_server, tmp_path, console):
    link = publish(owner_cli, live_server, tmp_path, "Taken back")
    owner_cli("links", "revoke", link, "--yes")
    console.expect(r"status of 410")
    page.goto(link)
    page.get_by_role("heading", name="This link has been revoked").wait_for(timeout=TIMEOUT)
    assert page.get_by_text("The owner turned this link off").is_visible()


def test_a_link_revoked_during_the_visit_replaces_the_album_with_its_page(page, owner_cli, live_server, tmp_path, console):
    link = publish(owner_cli, live_server, tmp_path, "Short lived", count=2)
    open_album(page, link, "Short lived")
    wait_for_thumbs(page, 2)
    owner_cli("links", "revoke", link, "--yes")
    console.expect(r"status of 410")
    tile(page, "Short lived 2.jpg").click()
    page.get_by_role("heading", name="This link has been revoked").wait_for(timeout=TIMEOUT)
    assert page.locator("#grid .tile").count() == 0
    page.locator(".pswp").wait_for(state="detached", timeout=5_000)  # the lightbox closes over it


def test_a_link_changed_during_the_visit_reloads_with_its_new_settings(page, owner_cli, live_server, tmp_path, console):
    link = publish(owner_cli, live_server, tmp_path, "Changing", count=2)
    open_album(page, link, "Changing")
    wait_for_thumbs(page, 2)
    notice = page.get_by_text("The owner turned off downloads: you see screen-size previews")
    assert notice.is_hidden()
    owner_cli("links", "change", link, "--no-downloads")
    console.expect(r"status of 401")
    tile(page, "Changing 2.jpg").click()
    notice.wait_for(timeout=TIMEOUT)
    wait_for_thumbs(page, 2)


def test_a_network_failure_says_so_and_offers_to_try_again(page, album, console):
    console.expect(r"ERR_FAILED|ERR_INTERNET_DISCONNECTED")
    # The album Worker's request (it makes every API call), so routed on the context.
    page.context.route("**/api/links/**", lambda route: route.abort())
    page.goto(album["link"])
    page.get_by_role("heading", name="Could not reach the server").wait_for(timeout=TIMEOUT)
    page.context.unroute("**/api/links/**")
    page.get_by_role("button", name="Try again").click()
    page.get_by_role("heading", name=TITLE).wait_for(timeout=TIMEOUT)


def test_an_unknown_link_says_it_does_not_exist(page, live_server, console):
    console.expect(r"status of 404")
    page.goto(f"{live_server['url']}/a/{crypto.new_id()}#{crypto.encode_link_secret(crypto.random_key())}")
    page.get_by_role("heading", name="This album link does not exist").wait_for(timeout=TIMEOUT)


def test_a_link_whose_key_was_changed_says_it_does_not_fit(page, owner_cli, live_server, tmp_path, console):
    """A well-formed but wrong key fails the link proof (bad_link_key), with or without a password."""
    plain = publish(owner_cli, live_server, tmp_path, "Right key")
    guarded = publish(owner_cli, live_server, tmp_path, "Right key too", "--password-stdin", input="pw\n")
    console.expect(r"status of 401")
    for link in (plain, guarded):
        page.goto("about:blank")
        page.goto(link.split("#")[0] + "#" + crypto.encode_link_secret(crypto.random_key()))
        if link == guarded:
            page.get_by_label("Password", exact=True).fill("pw")
            page.get_by_role("button", name="Open").click()
        page.get_by_role("heading", name="This link's key does not fit").wait_for(timeout=TIMEOUT)
    # Not counted as wrong passwords: the real key and password still open it at once.
    page.goto("about:blank")
    page.goto(guarded)
    page.get_by_label("Password", exact=True).fill("pw")
    page.get_by_role("button", name="Open").click()
    page.get_by_role("heading", name="Right key too").wait_for(timeout=TIMEOUT)


def test_a_link_made_before_the_link_proof_still_opens(page, owner_cli, live_server, tmp_path):
    """A v1 link has no link_verifier (NULL): the browser's link proof is ignored and its password proof opens it."""
    link = publish(owner_cli, live_server, tmp_path, "Made in v1", "--password-stdin", "--device-limit", "1", input="old pw\n")
    db = sqlite3.connect(Path(live_server["data_dir"]) / "fragment.db")
    db.execute("UPDATE links SET link_verifier = NULL WHERE id = ?", (split(link)[1],))
    db.commit()
    db.close()
    page.goto(link)
    page.get_by_label("Password", exact=True).fill("old pw")
    page.get_by_role("button", name="Open").click()
    page.get_by_role("heading", name="Made in v1").wait_for(timeout=TIMEOUT)
    wait_for_thumbs(page, 1)
    assert devices_used(live_server, link) == 1


def test_a_missing_or_damaged_key_is_refused_before_any_request(page, album, network):
    bare = album["link"].split("#")[0]
    page.goto(bare)
    page.get_by_role("heading", name="This link is missing its key").wait_for(timeout=TIMEOUT)
    page.goto(bare + "#" + split(album["link"])[2][:-3])
    page.get_by_role("heading", name="This link's key is damaged").wait_for(timeout=TIMEOUT)
    assert not [u for u in network.urls() if "/api/" in u]


def test_device_limit_asks_before_taking_a_slot_and_refuses_the_next_device(browser, owner_cli, live_server, tmp_path, console):
    link = publish(owner_cli, live_server, tmp_path, "Two eyes only", "--device-limit", "1")
    first = browser.new_context()
    second = browser.new_context()
    try:
        page = first.new_page()
        console.attach(page)
        page.goto(link)
        page.get_by_role("heading", name="Open this album on this device?").wait_for(timeout=TIMEOUT)
        assert page.get_by_text("This link can be opened on 1 device.").is_visible()
        # Loading the page (as a preview bot that runs scripts would) took no slot.
        assert devices_used(live_server, link) == 0
        assert device_key(page, link) is None
        page.get_by_role("button", name="Open album").click()
        page.get_by_role("heading", name="Two eyes only").wait_for(timeout=TIMEOUT)
        assert devices_used(live_server, link) == 1
        # The slot is held by a key this browser made and cannot give out: WebCrypto refuses
        # to export its private half in any format.
        key = device_key(page, link)
        assert key is not None and key["extractable"] is False
        assert key["exports"] == ["InvalidAccessError", "InvalidAccessError"]
        # The same browser comes back without asking and without a new slot: after a reload,
        # and in a new tab (no session storage), since the key lives in IndexedDB.
        page.reload()
        page.get_by_role("heading", name="Two eyes only").wait_for(timeout=TIMEOUT)
        assert devices_used(live_server, link) == 1
        tab = first.new_page()
        console.attach(tab)
        tab.goto(link)
        tab.get_by_role("heading", name="Two eyes only").wait_for(timeout=TIMEOUT)
        assert devices_used(live_server, link) == 1
        again = device_key(tab, link)
        assert again is not None and again["publicKey"] == key["publicKey"]

        # Another device hears at once that no slot is left, once, before being asked anything.
        other = second.new_page()
        console.attach(other)
        other.goto(link)
        other.get_by_role("heading", name="This link has reached its device limit").wait_for(timeout=TIMEOUT)
        section = other.locator("[data-state=devicelimit]")
        assert section.inner_text().count("1 device") == 1, section.inner_text()
        assert other.get_by_text("This link can be opened on 1 device, and it is taken.").is_visible()
        assert other.get_by_text("ask the owner for a new link.").first.is_visible()
        assert other.get_by_role("button", name="Open album").is_hidden()
        assert devices_used(live_server, link) == 1
        assert device_key(other, link) is None  # nothing was asked of the server for it
    finally:
        first.close()
        second.close()


# Prepended to the album Worker: a browser whose WebCrypto has no Ed25519 (as before Chrome 137).
NO_ED25519 = b"""const realGenerate = crypto.subtle.generateKey.bind(crypto.subtle);
crypto.subtle.generateKey = (algorithm, ...rest) => (algorithm && algorithm.name === 'Ed25519'
  ? Promise.reject(new DOMException('Unrecognized name.', 'NotSupportedError')) : realGenerate(algorithm, ...rest));
"""


def test_a_browser_without_ed25519_opens_plain_links_and_says_why_it_cannot_open_limited_ones(
    browser_context, page, owner_cli, live_server, tmp_path, console
):
    plain = publish(owner_cli, live_server, tmp_path, "Any browser")
    limited = publish(owner_cli, live_server, tmp_path, "Keyed browsers", "--device-limit", "2")

    def without_ed25519(route):
        original = route.fetch()
        route.fulfill(response=original, body=NO_ED25519 + original.body())

    # Workers have no integrity check (viewer/server/assets.py), so the patched script runs.
    browser_context.route("**/static/js/album/album-worker.js", without_ed25519)
    open_album(page, plain, "Any browser")  # no device limit: it opens without a device key
    console.expect(r"status of 400")
    page.goto(limited)
    page.get_by_role("button", name="Open album").click()
    page.get_by_role("heading", name="This browser cannot open the album").wait_for(timeout=TIMEOUT)
    assert page.get_by_text("This browser cannot make the device key this link needs (Ed25519 in WebCrypto).").is_visible()
    assert devices_used(live_server, limited) == 0


def test_a_link_preview_bot_gets_a_generic_card_and_no_device_slot(owner_cli, live_server, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Bot bait", "--device-limit", "1")
    response = requests.get(link.split("#")[0], headers={"User-Agent": "Slackbot-LinkExpanding 1.0"})
    assert response.status_code == 200
    assert '<meta property="og:title" content="A shared album">' in response.text
    assert "Bot bait" not in response.text
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert devices_used(live_server, link) == 0


def test_downloads_off_shows_previews_only_and_the_server_refuses_originals(
    page, owner_cli, live_server, tmp_path, console, network
):
    link = publish(owner_cli, live_server, tmp_path, "Look only", "--no-downloads")
    _album_id, ids = api_files(link)
    with page.expect_response(lambda r: r.url.endswith("/unlock")) as unlocked:
        open_album(page, link, "Look only")
    token = unlocked.value.json()["access_token"]
    assert page.get_by_text("The owner turned off downloads: you see screen-size previews").is_visible()
    wait_for_thumbs(page, 1)
    tile(page, "Look only 1.jpg").click()
    image = current_slide_image(page)
    image.wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        "() => { const i = document.querySelector("
        "\".pswp__item[aria-hidden='false'] img.pswp__img:not(.pswp__img--placeholder)\");"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=TIMEOUT,
    )
    assert page.locator(".pswp__button--fragment-download").count() == 0
    assert page.get_by_role("button", name="Download this file").count() == 0
    time.sleep(1)
    assert image.get_attribute("data-quality") == "preview"
    assert not [u for u in network.urls() if u.endswith("/blobs/original")]
    # Even asked directly, with a valid token, the server refuses the original.
    console.expect(r"status of 403")
    _server, link_id, _fragment = split(link)
    answer = page.evaluate(
        """async ([url, token]) => { const r = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
             return [r.status, (await r.json()).error]; }""",
        [f"/api/links/{link_id}/files/{ids['Look only 1.jpg']}/blobs/original", token],
    )
    assert answer == [403, "downloads_off"]


def test_a_tampered_blob_gives_one_broken_tile_and_the_rest_works(page, owner_cli, live_server, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Tamper", count=3)
    album_id, ids = api_files(link)
    victim = next(Path(live_server["data_dir"]).rglob(f"{album_id}/{ids['Tamper 2.jpg']}/thumb"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))

    open_album(page, link, "Tamper")
    thumbs = wait_for_thumbs(page, 2)
    page.locator(".tile.is-broken").wait_for(timeout=TIMEOUT)
    assert page.locator(".tile.is-broken").count() == 1
    assert page.locator(".tile.is-broken").get_by_text(BROKEN).is_visible()
    assert set(thumbs) == {"Tamper 1.jpg", "Tamper 3.jpg"}
    # The rest keeps working: the next photo opens in the lightbox.
    tile(page, "Tamper 3.jpg").click()
    image = current_slide_image(page)
    image.wait_for(timeout=TIMEOUT)
    assert image.get_attribute("alt") == "Tamper 3.jpg"


# --- forget -----------------------------------------------------------------------


def test_forget_this_album_locks_it_and_clears_storage(page, album):
    open_album(page, album["link"], TITLE)
    wait_for_thumbs(page, len(album["files"]))
    _server, link_id, fragment = split(album["link"])
    stored = page.evaluate("() => [...Object.keys(localStorage), ...Object.keys(sessionStorage)]")
    assert f"fragment:{link_id}:key" in stored
    assert device_key(page, album["link"]) is not None
    page.get_by_role("button", name="Forget this album on this device").click()
    page.get_by_role("button", name="Forget", exact=True).click()
    page.get_by_role("heading", name="This album is locked on this device").wait_for(timeout=TIMEOUT)
    left = page.evaluate(
        """() => [...Object.keys(localStorage), ...Object.keys(sessionStorage),
                  ...Object.values(localStorage), ...Object.values(sessionStorage)].join(' ')"""
    )
    assert link_id not in left and fragment not in left
    assert device_key(page, album["link"]) is None  # the device key is gone too
    assert page.locator("#grid .tile").count() == 0
    # The complete link opens it again.
    page.goto("about:blank")
    open_album(page, album["link"], TITLE)
    wait_for_thumbs(page, len(album["files"]))


# --- a large album ------------------------------------------------------------------

LARGE = 230  # more than the first page of the listing (200), so paging is exercised


@pytest.fixture(scope="module")
def large_album(live_server, owner_cli, tmp_path_factory):
    folder = tmp_path_factory.mktemp("viewer-large")
    for i in range(LARGE):
        # Tiny photos of varied shapes: the layout, not the pixels, is under test.
        make_jpeg_with_orientation(
            folder / f"p{i:04}.jpg", size=(64 + (i % 5) * 16, 48), orientation=1, taken=None, make=None, model=None
        )
    return owner_cli.publish(folder, "--title", "Many", "--server", live_server["url"])


def test_a_large_album_keeps_only_tiles_near_the_screen(browser, large_album, console, network):
    context = browser.new_context(viewport={"width": 800, "height": 600})
    network.attach(context)
    try:
        page = context.new_page()
        console.attach(page)
        open_album(page, large_album, "Many")
        page.locator("#album-stats").get_by_text(f"{LARGE} photos", exact=True).wait_for(timeout=TIMEOUT)
        assert [u for u in network.urls() if "/files?" in u and "after=" in u], "the listing was read page by page"
        wait_for_thumbs(page, 10)
        # Only rows within about a screen of the viewport exist, and only their thumbnails were fetched.
        assert page.locator("#grid .tile").count() < LARGE / 3
        assert len([u for u in network.urls() if u.endswith("/blobs/thumb")]) < LARGE / 3
        # The grid is as tall as all its rows, so the scrollbar tells the album's size.
        assert page.evaluate("() => document.getElementById('grid').offsetHeight") > 20 * 600
        page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
        last = f"p{LARGE - 1:04}.jpg"
        page.wait_for_function(
            "(alt) => { const i = document.querySelector(`#grid img[alt='${alt}']`);"
            " return i && i.complete && i.naturalWidth > 0; }",
            arg=last,
            timeout=TIMEOUT,
        )
        assert page.locator("#grid .tile").count() < LARGE / 3
        assert page.locator("#grid img[alt='p0000.jpg']").count() == 0  # the first rows are gone from the DOM
        tile(page, last).click()
        current_slide_image(page).wait_for(timeout=TIMEOUT)
        assert page.locator(".pswp__counter").inner_text() == f"{LARGE} of {LARGE}"
    finally:
        context.close()


# --- video streaming and "download all" through the Service Worker --------------------

NO_FILE_PICKER = "delete Window.prototype.showSaveFilePicker; delete window.showSaveFilePicker;"
VIDEO = ".pswp__item[aria-hidden='false'] video"


@pytest.fixture(scope="module")
def video_album(live_server, owner_cli, tmp_path_factory):
    """A three-minute, ~22 MB video and a photo, published once."""
    require_ffmpeg()
    folder = tmp_path_factory.mktemp("viewer-video")
    video = make_long_mp4(folder / "long walk.mp4")
    make_jpeg_with_orientation(folder / "still.jpg", size=(320, 240), orientation=1)
    link = owner_cli.publish(folder, "--title", "Long video", "--server", live_server["url"])
    return {"link": link, "video": video}


def stored_blob(server: dict, link: str, name: str, kind: str = "original") -> Path:
    """The ciphertext file of one blob in the server's data folder."""
    album_id, ids = api_files(link)
    return next(Path(server["data_dir"]).rglob(f"{album_id}/{ids[name]}/{kind}"))


def assert_fragment_never_sent(network, link: str) -> None:
    """No request (page, Worker or Service Worker) carried the link secret, in any spelling."""
    _server, _link_id, fragment = split(link)
    secret = crypto.decode_link_secret(fragment)
    standard = base64.b64encode(secret).decode()
    for spelling in {
        fragment,
        standard,
        standard.rstrip("="),
        secret.hex(),
        secret.hex().upper(),
        quote(standard, safe=""),
        fragment[:20],
        fragment[-20:],
    }:
        network.assert_never_sent(spelling)
    network.assert_never_sent(secret)


def ranges_fetched(network, file_id: str) -> list[tuple[int, int]]:
    """The (first, last) byte ranges of every request for one original; a request without Range fails."""
    out = []
    for request in network.requests:
        if f"/files/{file_id}/blobs/original" not in request.url:
            continue
        value = request.headers.get("range")
        assert value, f"a request for the whole original: {request.method} {request.url}"
        first, last = value.removeprefix("bytes=").split("-")
        out.append((int(first), int(last)))
    return out


def test_a_video_streams_and_seeks_without_fetching_the_whole_blob(page, video_album, live_server, network):
    link = video_album["link"]
    page.add_init_script(
        "window.__violations = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    blob = stored_blob(live_server, link, "long walk.mp4")
    _album_id, ids = api_files(link)
    open_album(page, link, "Long video")
    wait_for_thumbs(page, 2)
    tile(page, "long walk.mp4").click()
    page.locator(VIDEO).wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        f'() => {{ const v = document.querySelector("{VIDEO}"); return v && v.currentTime > 0.5; }}', timeout=TIMEOUT
    )
    # Played through the Service Worker's stream URL (a random id, no key), not a blob: URL.
    src = page.evaluate(f'() => document.querySelector("{VIDEO}").src')
    assert src.startswith(f"{live_server['url']}/a/stream/") and src.endswith("/long%20walk.mp4")
    assert page.evaluate("() => Boolean(navigator.serviceWorker.controller)")
    duration = page.evaluate(f'() => document.querySelector("{VIDEO}").duration')
    assert duration == pytest.approx(180, abs=1)

    # Seek to the middle: it plays on from there.
    page.evaluate(f'() => {{ document.querySelector("{VIDEO}").currentTime = {duration / 2}; }}')
    page.wait_for_function(
        f'() => {{ const v = document.querySelector("{VIDEO}"); return !v.seeking && v.currentTime > {duration / 2 + 1}; }}',
        timeout=TIMEOUT,
    )
    at = page.evaluate(f'() => document.querySelector("{VIDEO}").currentTime')
    assert duration / 2 <= at < duration / 2 + 10
    page.wait_for_function(f'() => document.querySelector("{VIDEO}").currentTime > {at + 0.5}', timeout=TIMEOUT)
    assert page.evaluate(f'() => document.querySelector("{VIDEO}").paused') is False

    # Every request for the original (made by the Service Worker) asked for a range, and
    # together they fetched well under the whole blob, part of it from the middle.
    ranges = ranges_fetched(network, ids["long walk.mp4"])
    size = blob.stat().st_size
    fetched = sum(last - first + 1 for first, last in ranges)
    assert len(ranges) >= 3
    assert fetched < size / 2, (fetched, size)
    assert any(size * 0.4 < first < size * 0.6 for first, _last in ranges), ranges
    assert page.evaluate("window.__violations") == []
    assert_fragment_never_sent(network, link)


def test_download_all_streams_a_zip_of_the_originals(page, album, network):
    page.add_init_script(NO_FILE_PICKER)  # headless Chromium has no save dialog: the Service Worker path
    open_album(page, album["link"], TITLE)
    button = page.get_by_role("button", name="Download all")
    button.wait_for(timeout=TIMEOUT)
    with page.expect_download(timeout=TIMEOUT) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == f"{TITLE}.zip"
    path = Path(download.path())
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(album["files"])
        for name, original in album["files"].items():
            assert archive.read(name) == original.read_bytes(), name
    page.get_by_text("Downloaded 5 files").wait_for(timeout=TIMEOUT)
    # The originals were fetched by the Service Worker, whose requests the log records too.
    assert len([u for u in network.urls() if u.endswith("/blobs/original")]) >= len(album["files"])
    assert_fragment_never_sent(network, album["link"])


def test_download_all_skips_a_file_that_does_not_decrypt_and_says_so(page, owner_cli, live_server, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Zip Tamper", count=3)
    victim = stored_blob(live_server, link, "Zip Tamper 2.jpg")
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))

    page.add_init_script(NO_FILE_PICKER)
    open_album(page, link, "Zip Tamper")
    wait_for_thumbs(page, 3)
    with page.expect_download(timeout=TIMEOUT) as info:
        page.get_by_role("button", name="Download all").click()
    with zipfile.ZipFile(info.value.path()) as archive:
        names = archive.namelist()
        assert sorted(names) == ["FILES THAT COULD NOT BE DECRYPTED.txt", "Zip Tamper 1.jpg", "Zip Tamper 3.jpg"]
        assert "Zip Tamper 2.jpg: it failed to decrypt" in archive.read("FILES THAT COULD NOT BE DECRYPTED.txt").decode()
    status = page.locator("#download-all-status")
    status.get_by_text("1 file could not be decrypted").wait_for(timeout=TIMEOUT)
    assert "Zip Tamper 2.jpg" in status.inner_text()


def test_downloads_off_has_no_download_all_and_no_service_worker(page, owner_cli, live_server, tmp_path, network):
    require_ffmpeg()
    folder = tmp_path / "Sealed"
    folder.mkdir()
    make_jpeg_with_orientation(folder / "still.jpg", size=(320, 240), orientation=1)
    make_mp4(folder / "clip.mp4")
    link = owner_cli.publish(folder, "--title", "Sealed", "--server", live_server["url"], "--no-downloads")
    open_album(page, link, "Sealed")
    wait_for_thumbs(page, 2)
    assert page.locator("#download-all").is_hidden()
    assert page.get_by_role("button", name="Download all").count() == 0
    tile(page, "clip.mp4").click()
    page.get_by_text("The owner turned off downloads, so this video cannot be played").wait_for(timeout=TIMEOUT)
    time.sleep(1)
    assert page.evaluate("async () => (await navigator.serviceWorker.getRegistrations()).length") == 0
    assert not [u for u in network.urls() if u.endswith(("/blobs/original", "/sw.js")) or "/a/stream/" in u]


def test_a_video_that_does_not_decrypt_says_so_in_its_slide(page, owner_cli, live_server, tmp_path, console):
    require_ffmpeg()
    folder = tmp_path / "Broken video"
    folder.mkdir()
    make_mp4(folder / "clip.mp4")
    link = owner_cli.publish(folder, "--title", "Broken video", "--server", live_server["url"])
    victim = stored_blob(live_server, link, "clip.mp4")
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01  # inside the first chunk, which every player reads
    victim.write_bytes(bytes(data))
    console.expect(r"status of 502")
    open_album(page, link, "Broken video")
    tile(page, "clip.mp4").click()
    page.locator(".pswp__item[aria-hidden='false'] .fragment-video-status").get_by_text(BROKEN).wait_for(timeout=TIMEOUT)


def test_forget_also_clears_the_service_worker(page, album):
    open_album(page, album["link"], TITLE)
    page.wait_for_function("() => Boolean(navigator.serviceWorker.controller)", timeout=TIMEOUT)
    page.get_by_role("button", name="Forget this album on this device").click()
    page.get_by_role("button", name="Forget", exact=True).click()
    page.get_by_role("heading", name="This album is locked on this device").wait_for(timeout=TIMEOUT)
    assert page.evaluate("async () => (await navigator.serviceWorker.getRegistrations()).length") == 0
