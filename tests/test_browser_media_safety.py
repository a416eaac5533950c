"""A guest's file never runs script on the album's origin, and never passes for the owner's.

A guest chooses the `mime`, `thumb_type` and `preview_type` that other visitors decrypt
(docs/format.md, "File metadata"). These tests upload hostile files exactly as a guest
could, through the public API with metadata sealed by viewer/crypto.py, then open the
album in Chromium against the real app under gunicorn, and check what a visitor would
meet: a video declared text/html opened as a page ("Open video in new tab"), an SVG
thumb, an HTML page declared as a JPEG or as text/html. Also here: the guest label, and
a Service Worker that never installs.
"""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image
from playwright.sync_api import Error as PlaywrightError

from tests.support.browser import TIMEOUT, Held, current_slide_image, open_album, tile
from tests.support.media_fixtures import make_jpeg_with_orientation, make_mp4_with_free_box, require_ffmpeg
from tests.support.owner_cli import split, unlock_link
from viewer import crypto

pytestmark = pytest.mark.slow

TITLE = "Guests and their files"
SANDBOX = "default-src 'none'; sandbox"
OCTET = "application/octet-stream"
VIDEO = ".pswp__item[aria-hidden='false'] video"
VIDEO_STATUS = ".pswp__item[aria-hidden='false'] .fragment-video-status"
NO_FILE_PICKER = "delete Window.prototype.showSaveFilePicker; delete window.showSaveFilePicker;"

# What a hostile file would do on the album's origin: mark the window, copy what the
# album keeps in localStorage, and call the server.
SCRIPT = (
    "window.__pwned = 1;"
    "try { localStorage.setItem('pwned', JSON.stringify(Object.keys(localStorage))); } catch (e) {}"
    "fetch('/api/pwned').catch(() => {});"
)
HTML = f"<!doctype html><html><body><h1>PWNED</h1><script>{SCRIPT}</script></body></html>".encode()
SVG = (
    f'<svg xmlns="http://www.w3.org/2000/svg" width="480" height="360" onload="{SCRIPT}"><rect width="480" height="360"/></svg>'
).encode()

# Every blob: URL the page makes, with the type of its Blob (recorded before the page's own scripts run).
RECORD_BLOBS = """
(() => {
  window.__blobs = [];
  const make = URL.createObjectURL.bind(URL);
  URL.createObjectURL = (object) => {
    const url = make(object);
    window.__blobs.push({ url, type: object.type, size: object.size });
    return url;
  };
})();
"""


def jpeg(size=(480, 360), seed: int = 0) -> bytes:
    """A small real JPEG (a thumb or a preview)."""
    out = io.BytesIO()
    Image.new("RGB", size, (40 + seed * 30, 120, 200)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def guest_upload(link: str, *, original: bytes, meta: dict, thumb: bytes, preview: bytes) -> str:
    """Add one file as a guest would, through the public API; its metadata sealed as given. Returns its id."""
    server, link_id, fragment = split(link)
    unlocked, auth = unlock_link(link)
    keys = crypto.link_keys(crypto.decode_link_secret(fragment))
    album_id = unlocked["album_id"]
    album_key = crypto.unwrap_album_key(keys.wrap_key, crypto.b64d(unlocked["wrapped_album_key"]), link_id)
    file_id, file_key = crypto.new_id(), crypto.random_key()
    plain = {"thumb": thumb, "preview": preview, "original": original}
    blobs = {kind: crypto.encrypt_blob_bytes(file_key, file_id, kind, data) for kind, data in plain.items()}
    fields = {
        "v": 1,
        "size": len(original),
        "width": 480,
        "height": 360,
        "duration": None,
        "taken_at": None,
        "camera": None,
        "location": None,
        **meta,
    }
    body = {
        "file_id": file_id,
        "wrapped_key": crypto.b64e(crypto.wrap_file_key(album_key, file_key, album_id, file_id)),
        "meta": crypto.b64e(crypto.seal_file_meta(file_key, album_id, file_id, fields)),
        "blobs": {kind: len(blob) for kind, blob in blobs.items()},
    }
    base = f"{server}/api/links/{link_id}/files"
    response = requests.post(base, json=body, headers=auth, timeout=10)
    assert response.status_code == 201, response.text
    for kind, blob in blobs.items():
        response = requests.put(f"{base}/{file_id}/blobs/{kind}", data=blob, headers={**auth, "Upload-Offset": "0"}, timeout=10)
        assert response.status_code == 200, response.text
    response = requests.post(f"{base}/{file_id}/complete", headers=auth, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["guest"] is True
    return file_id


@pytest.fixture(scope="module")
def hostile(live_server, owner_cli, tmp_path_factory):
    """An album with one photo of the owner's, and the files a hostile guest added to it."""
    require_ffmpeg()
    folder = tmp_path_factory.mktemp("media-safety") / "owner"
    folder.mkdir()
    make_jpeg_with_orientation(folder / "owner photo.jpg", size=(320, 240), orientation=1)
    link = owner_cli.publish(folder, "--title", TITLE, "--server", live_server["url"], "--allow-uploads")
    video = make_mp4_with_free_box(tmp_path_factory.mktemp("hostile") / "evil.mp4", HTML)
    photo = {"kind": "photo", "thumb_type": "image/jpeg", "preview_type": "image/jpeg"}
    guest_upload(
        link,
        original=video.read_bytes(),
        thumb=jpeg(seed=1),
        preview=jpeg(seed=1),
        meta={**photo, "name": "evil.mp4", "kind": "video", "mime": "text/html", "duration": 1.0, "uploader": "Mallory"},
    )
    guest_upload(
        link,
        original=jpeg(seed=2),
        thumb=SVG,
        preview=jpeg(seed=2),
        meta={**photo, "name": "svg thumb.jpg", "mime": "image/jpeg", "thumb_type": "image/svg+xml", "uploader": "Owner"},
    )
    guest_upload(
        link, original=HTML, thumb=jpeg(seed=3), preview=jpeg(seed=3), meta={**photo, "name": "page.jpg", "mime": "image/jpeg"}
    )
    guest_upload(
        link, original=HTML, thumb=jpeg(seed=4), preview=jpeg(seed=4), meta={**photo, "name": "page.html", "mime": "text/html"}
    )
    return {"link": link}


def recorded_blobs(page) -> list[dict]:
    return page.evaluate("() => window.__blobs")


def wait_blob(page, size: int) -> dict:
    """The blob: URL the page made for a Blob of this many bytes."""
    page.wait_for_function("(n) => window.__blobs.some((b) => b.size === n)", arg=size, timeout=TIMEOUT)
    return next(b for b in recorded_blobs(page) if b["size"] == size)


def open_in_new_tab(context, url: str):
    """What a visitor gets from "Open in new tab": (the tab, its response or None when it became a download)."""
    other = context.new_page()
    try:
        return other, other.goto(url)
    except PlaywrightError as error:
        # A blob: URL whose type no browser renders is saved, not shown.
        assert "Download is starting" in str(error), error
        return other, None


def assert_nothing_ran(page, other, network) -> None:
    """The hostile script did not run: not in the tab, not on the album's storage, not against the server."""
    assert other.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => localStorage.getItem('pwned')") is None
    assert not [u for u in network.urls() if "pwned" in u]


# --- script on the album's origin -----------------------------------------------------------


def test_a_video_declared_as_html_plays_but_its_stream_never_opens_as_a_page(page, browser_context, hostile, network):
    open_album(page, hostile["link"], TITLE)
    tile(page, "evil.mp4").click()
    video = page.locator(VIDEO)
    playing = f'() => {{ const v = document.querySelector("{VIDEO}"); return v && v.readyState >= 2; }}'
    page.wait_for_function(playing, timeout=TIMEOUT)
    src = video.get_attribute("src")
    assert "/a/stream/" in src

    # What the <video> gets: the bytes, typed octet-stream (text/html is not a media type), never sniffed.
    answer = page.evaluate(
        """async (src) => { const r = await fetch(src, { headers: { Range: 'bytes=0-99' } });
             return { status: r.status, headers: Object.fromEntries(r.headers) }; }""",
        src,
    )
    assert answer["status"] == 206
    assert answer["headers"]["content-type"] == OCTET
    assert answer["headers"]["content-security-policy"] == SANDBOX
    assert answer["headers"]["x-content-type-options"] == "nosniff"
    # Without a Range, the whole file: a download ("Save video as"), with a safe name.
    whole = page.evaluate(
        """async (src) => { const r = await fetch(src); await r.arrayBuffer();
             return { status: r.status, headers: Object.fromEntries(r.headers) }; }""",
        src,
    )
    assert whole["status"] == 200
    assert whole["headers"]["content-disposition"] == "attachment; filename=\"evil.mp4\"; filename*=UTF-8''evil.mp4"
    assert whole["headers"]["content-type"] == OCTET
    assert whole["headers"]["content-security-policy"] == SANDBOX

    # "Open video in new tab": a navigation to the stream, refused with a page that says why.
    other, response = open_in_new_tab(browser_context, src)
    assert response is not None
    assert response.status == 403
    assert response.headers["content-security-policy"] == SANDBOX
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"].startswith("text/plain")
    assert "only be played on the album page" in other.inner_text("body")
    assert_nothing_ran(page, other, network)

    # A zip address as a page is refused the same way, before the worker looks for the zip.
    zip_url = src.split("/a/stream/")[0] + "/a/zip/AAAAAAAAAAAAAAAAAAAAAA/album.zip"
    other, response = open_in_new_tab(browser_context, zip_url)
    assert response is not None and response.status == 403
    assert response.headers["content-security-policy"] == SANDBOX
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "can only be started from the album page" in other.inner_text("body")


# The table mediatypes.js decides by: (declared type, first bytes as hex) -> the type given.
ENC = bytes.hex
TYPES = [
    ("image/jpeg", "ffd8ffe000104a464946", "image/jpeg"),
    ("IMAGE/JPEG; charset=x", "ffd8ffdb", "image/jpeg"),
    ("image/jpeg", ENC(b"<html><script>"), OCTET),
    ("image/png", "89504e470d0a1a0a0000000d49484452", "image/png"),
    ("image/png", "ffd8ffe0", OCTET),
    ("image/gif", ENC(b"GIF89a"), "image/gif"),
    ("image/gif", ENC(b"GIF87a"), "image/gif"),
    ("image/webp", ENC(b"RIFF\x10\0\0\0WEBPVP8 "), "image/webp"),
    ("image/webp", ENC(b"RIFF\x10\0\0\0WAVEfmt "), OCTET),
    ("image/avif", ENC(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"), "image/avif"),
    ("image/heic", ENC(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), "image/heic"),
    ("image/avif", ENC(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), OCTET),
    ("video/mp4", ENC(b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41"), "video/mp4"),
    ("video/quicktime", ENC(b"\0\0\0\x14ftypqt  \0\0\0\0qt  "), "video/quicktime"),
    ("video/quicktime", ENC(b"\0\0\0\x08wide"), "video/quicktime"),
    ("video/mp4", ENC(b"\0\0\0\x08wide"), OCTET),
    ("video/webm", "1a45dfa3", "video/webm"),
    ("video/webm", ENC(b"<!doctype html>"), OCTET),
    ("text/html", ENC(b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41"), OCTET),
    ("image/svg+xml", ENC(b"<svg xmlns='http://www.w3.org/2000/svg'>"), OCTET),
    ("application/pdf", ENC(b"%PDF-1.7"), OCTET),
    ("text/plain", ENC(b"hello"), OCTET),
    (None, "ffd8ffe0", OCTET),
    ("image/jpeg", "", OCTET),
]


def test_the_allowlist_and_the_first_bytes_decide_the_type(page, hostile):
    open_album(page, hostile["link"], TITLE)
    got = page.evaluate(
        """async (table) => {
             const { safeType } = await import('/static/js/core/mediatypes.js');
             const bytes = (hex) => new Uint8Array((hex.match(/../g) || []).map((b) => parseInt(b, 16)));
             return table.map(([declared, hex]) => safeType(declared, bytes(hex)));
           }""",
        [[declared, hexed] for declared, hexed, _ in TYPES],
    )
    assert got == [expected for _, _, expected in TYPES]
    # The module is served like every other, pinned by the import map's integrity list.
    importmap = page.evaluate("() => JSON.parse(document.querySelector('script[type=importmap]').textContent)")
    assert any(url.endswith("/static/js/core/mediatypes.js") for url in importmap["integrity"])


def test_an_svg_thumb_is_never_an_svg_blob(page, browser_context, hostile, network, console):
    console.expect(r"blob:")  # the <img> may say it could not decode an octet-stream thumb
    page.add_init_script(RECORD_BLOBS)
    open_album(page, hostile["link"], TITLE)
    page.locator("#grid .tile img[alt='svg thumb.jpg']").wait_for(state="attached", timeout=TIMEOUT)
    blob = wait_blob(page, len(SVG))
    assert blob["type"] == OCTET
    assert not [b for b in recorded_blobs(page) if "svg" in b["type"]]
    other, _response = open_in_new_tab(browser_context, blob["url"])
    assert_nothing_ran(page, other, network)


def test_an_html_page_declared_as_a_jpeg_is_never_rendered(page, browser_context, hostile, network):
    page.add_init_script(RECORD_BLOBS)
    open_album(page, hostile["link"], TITLE)
    tile(page, "page.jpg").click()
    # The lightbox fetches the original to show it in place of the preview (a "JPEG" shows in a browser).
    blob = wait_blob(page, len(HTML))
    assert blob["type"] == OCTET
    other, _response = open_in_new_tab(browser_context, blob["url"])
    assert_nothing_ran(page, other, network)
    # The preview stays: bytes that are not a JPEG are not drawn as one.
    assert current_slide_image(page).get_attribute("data-quality") == "preview"


def test_a_text_html_original_downloads_and_is_never_rendered(page, browser_context, hostile, network):
    page.add_init_script(RECORD_BLOBS)
    open_album(page, hostile["link"], TITLE)
    tile(page, "page.html").click()
    with page.expect_download(timeout=TIMEOUT) as info:
        page.get_by_role("button", name="Download this file").click()
    assert info.value.suggested_filename == "page.html"
    blob = wait_blob(page, len(HTML))
    assert blob["type"] == OCTET
    other, _response = open_in_new_tab(browser_context, blob["url"])
    assert_nothing_ran(page, other, network)


# --- a guest's file never passes for the owner's ---------------------------------------------


def info_panel(page, name: str) -> str:
    tile(page, name).click()
    current_slide_image(page).wait_for(timeout=TIMEOUT)
    panel = page.locator(".pswp__fragment-info-panel")
    if panel.is_hidden():  # it stays open from one opening of the lightbox to the next
        page.keyboard.press("i")
    panel.get_by_text(name).wait_for(timeout=TIMEOUT)
    return panel.inner_text()


def test_a_guest_who_calls_themselves_owner_is_shown_as_a_guest(page, hostile):
    open_album(page, hostile["link"], TITLE)
    page.locator("#grid .tile img[alt='page.jpg']").wait_for(timeout=TIMEOUT)
    # The grid says which tiles a guest added, from the server's flag, to the eye and to screen readers.
    guest_tile = page.locator("#grid .tile:has(img[alt='svg thumb.jpg'])")
    assert guest_tile.locator(".tile-guest").inner_text() == "Guest"
    assert "added by a guest" in guest_tile.get_attribute("aria-label")
    owner_tile = tile(page, "owner photo.jpg")
    assert owner_tile.locator(".tile-guest").count() == 0
    assert "guest" not in owner_tile.get_attribute("aria-label")

    text = info_panel(page, "svg thumb.jpg")
    assert "Added by\na guest: Owner" in text
    page.keyboard.press("Escape")
    page.locator(".pswp").wait_for(state="detached")
    # No name given: still a guest.
    text = info_panel(page, "page.jpg")
    assert "Added by\na guest" in text and "a guest:" not in text
    page.keyboard.press("Escape")
    page.locator(".pswp").wait_for(state="detached")
    # The owner's own photo says nothing of the kind.
    assert "Added by" not in info_panel(page, "owner photo.jpg")


# --- a Service Worker that never installs ----------------------------------------------------


def test_a_service_worker_that_never_installs_gives_a_clear_message(page, browser_context, hostile, console):
    console.expect(r"Service ?Worker|sw\.js")
    page.add_init_script(NO_FILE_PICKER)  # no File System Access API: "Download all" needs the Service Worker
    # The worker's script never arrives, so it never installs (context routes cover the
    # browser's own fetch of it; a page route does not).
    worker = Held(browser_context, "**/static/js/download/sw.js")
    originals = Held(browser_context, "**/blobs/original")
    try:
        open_album(page, hostile["link"], TITLE)
        page.get_by_role("button", name="Download all").click()
        status = page.locator("#download-all-status")
        status.get_by_text("could not start", exact=False).wait_for(timeout=TIMEOUT)
        assert "Reload the page" in status.inner_text()
        assert not page.get_by_role("button", name="Download all").is_disabled()

        # A video says that it is decrypted whole, and plays once it is.
        tile(page, "evil.mp4").click()
        page.locator(VIDEO_STATUS).get_by_text("Streaming is unavailable", exact=False).wait_for(timeout=TIMEOUT)
        originals.release()
        page.wait_for_function(
            f'() => {{ const v = document.querySelector("{VIDEO}");'
            " return v && v.src.startsWith('blob:') && v.readyState >= 2; }",
            timeout=TIMEOUT,
        )
    finally:
        originals.release()
        worker.release()
