"""The "Download all" button and video streaming in Chromium, where test_browser_viewer.py does not go.

* "Download all" through the File System Access API (static/js/download/download-all.js,
  pickFile/toFile). Headless Chromium has no save dialog, so a stand-in
  `showSaveFilePicker` is installed before the page loads: it records what it was
  asked and keeps what is written to the "file" in page memory, and whether that
  file was closed (kept) or aborted (thrown away), as a real one would be.
* Cancel, on that path and on the Service Worker path (static/js/download/sw.js, a zip
  streamed as a download), while the originals' requests are held unanswered.
* An access token that runs out while a video streams through the Service Worker:
  the worker gets a fresh one from the page (viewer.js renewToken) and plays on.

As in test_browser_viewer.py, albums are published with the owner's command line
and opened by their links, against the real app under gunicorn.
"""

from __future__ import annotations

import base64
import io
import random
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.support import servers
from tests.support.browser import SLIDE_IMG, TIMEOUT, Held, current_slide_image, open_album, tile, wait_for_thumbs
from tests.support.media_fixtures import make_album_dir, make_jpeg_with_orientation, make_long_mp4, require_ffmpeg
from tests.support.owner_cli import Fragment

pytestmark = pytest.mark.slow

TITLE = "Herbst in Genf ☂ – 2025"
BIG = "panorama.png"  # larger than zip.js BUFFER_LIMIT (16 MiB): streamed, not buffered
BUFFER_LIMIT = 16 * 1024 * 1024

# A stand-in for the browser's save dialog and the file it opens (MDN,
# "Window.showSaveFilePicker()", "FileSystemWritableFileStream"). window.__picker.mode
# says what the visitor does: "save" picks a file, "cancel" closes the dialog.
PICKER = r"""
(() => {
  const state = { mode: "save", asked: [], chunks: [], closed: false, aborted: null, writables: 0 };
  window.__picker = state;
  window.showSaveFilePicker = async (options) => {
    state.asked.push(JSON.parse(JSON.stringify(options || {})));
    if (state.mode === "cancel") throw new DOMException("The user aborted a request.", "AbortError");
    return {
      kind: "file",
      name: options.suggestedName,
      async createWritable() {
        state.writables += 1;
        return new WritableStream({
          write(chunk) {
            state.chunks.push(chunk instanceof Uint8Array ? chunk.slice() : new Uint8Array(chunk));
          },
          close() {
            state.closed = true;
          },
          abort(reason) {
            state.aborted = (reason && reason.name) || String(reason);
          },
        });
      },
    };
  };
})();
"""
NO_FILE_PICKER = "delete Window.prototype.showSaveFilePicker; delete window.showSaveFilePicker;"

WRITTEN = """() => {
  const chunks = window.__picker.chunks;
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.length; }
  let text = "";
  for (let i = 0; i < all.length; i += 0x8000) text += String.fromCharCode.apply(null, all.subarray(i, i + 0x8000));
  return btoa(text);
}"""

# What the stand-in saw, without the bytes (serialising those is slow; WRITTEN returns them).
PICKED = "() => { const { chunks, ...rest } = window.__picker; return rest; }"
RESET_PICKER = (
    """(mode) => Object.assign(window.__picker, { mode, asked: [], chunks: [], closed: false, aborted: null, writables: 0 })"""
)

VIDEO = ".pswp__item[aria-hidden='false'] video"
VIDEO_STATUS = ".pswp__item[aria-hidden='false'] .fragment-video-status"


def format_bytes(n: int) -> str:
    """static/js/core/present.js formatBytes, for the exact text the page shows."""
    units = ["bytes", "KB", "MB", "GB", "TB"]
    value, unit = float(n), 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    digits = 0 if unit == 0 or value >= 100 else 1
    return f"{value:.{digits}f} {units[unit]}"


def make_big_png(path: Path, side: int = 2400) -> Path:
    """A noise PNG (noise does not compress): about 17 MB, more than BUFFER_LIMIT."""
    rng = random.Random(path.name)
    Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(path, format="PNG", compress_level=1)
    assert path.stat().st_size > BUFFER_LIMIT
    return path


def status_text(page) -> str:
    return page.locator("#download-all-status [data-slot=text]").inner_text()


def wait_idle(page) -> None:
    """The "Download all" button can be clicked again."""
    page.wait_for_function("() => !document.getElementById('download-all').disabled", timeout=TIMEOUT)


def originals_requested(network) -> list[str]:
    return [u for u in network.urls() if u.endswith("/blobs/original")]


# --- publishing -------------------------------------------------------------------


@pytest.fixture(scope="module")
def album(live_server, owner_cli, tmp_path_factory):
    """JPEG, PNG, HEIC, MP4, a Unicode name, and one original over BUFFER_LIMIT; published once."""
    require_ffmpeg()
    folder = tmp_path_factory.mktemp("downloads-photos")
    files = make_album_dir(folder)
    files[BIG] = make_big_png(folder / BIG)
    link = owner_cli.publish(folder, "--title", TITLE, "--server", live_server["url"])
    return {"link": link, "files": files}


@pytest.fixture(scope="module")
def small_album(live_server, owner_cli, tmp_path_factory):
    """Three photos, for the cancel tests."""
    folder = tmp_path_factory.mktemp("downloads-small") / "Slow zip"
    folder.mkdir()
    files = {}
    for i in range(3):
        name = f"Slow zip {i + 1}.jpg"
        files[name] = make_jpeg_with_orientation(folder / name, size=(320, 240), orientation=1)
    link = owner_cli.publish(folder, "--title", "Slow zip", "--server", live_server["url"])
    return {"link": link, "files": files}


def assert_zip_holds(data: bytes, files: dict[str, Path]) -> None:
    """The zip is sound and holds exactly these files, byte for byte."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(files)
        for name, original in files.items():
            assert archive.read(name) == original.read_bytes(), name


# --- "Download all" with the File System Access API -------------------------------------


def test_download_all_writes_the_zip_to_the_file_the_visitor_picked(page, album, network):
    page.add_init_script(PICKER)
    open_album(page, album["link"], TITLE)
    button = page.get_by_role("button", name="Download all")
    button.click()
    count = len(album["files"])
    total = sum(path.stat().st_size for path in album["files"].values())
    status = page.locator("#download-all-status")
    status.get_by_text(f"Downloaded {count} files ({format_bytes(total)}) as a zip.", exact=True).wait_for(timeout=TIMEOUT)

    picker = page.evaluate(PICKED)
    # The dialog was offered the album's title as the file name, as a zip.
    assert [asked["suggestedName"] for asked in picker["asked"]] == [f"{TITLE}.zip"]
    assert picker["asked"][0]["types"][0]["accept"] == {"application/zip": [".zip"]}
    # The file was written and closed (kept), not aborted.
    assert picker["writables"] == 1
    assert picker["closed"] is True and picker["aborted"] is None
    data = base64.b64decode(page.evaluate(WRITTEN))
    assert_zip_holds(data, album["files"])
    assert album["files"][BIG].stat().st_size > BUFFER_LIMIT  # the streamed path was taken too

    # Nothing went through the Service Worker's zip, and no download was started.
    assert not [u for u in network.urls() if "/a/zip/" in u]
    assert len(originals_requested(network)) == count
    assert page.locator("#download-all-status progress").is_hidden()
    assert page.get_by_role("button", name="Cancel download").is_hidden()
    assert button.is_enabled()


def test_closing_the_save_dialog_leaves_no_message_and_the_button_works_again(page, small_album, network):
    page.add_init_script(PICKER)
    open_album(page, small_album["link"], "Slow zip")
    wait_for_thumbs(page, 3)
    page.evaluate(RESET_PICKER, "cancel")
    button = page.get_by_role("button", name="Download all")
    button.click()
    page.wait_for_function("() => window.__picker.asked.length === 1", timeout=TIMEOUT)
    wait_idle(page)
    status = page.locator("#download-all-status")
    assert status.is_hidden()
    assert status_text(page) == ""
    assert page.locator("#download-all-status progress").is_hidden()
    assert page.get_by_role("button", name="Cancel download").is_hidden()
    time.sleep(0.5)
    # Closing the dialog is not "no File System Access API": no fallback to the Service Worker.
    assert not [u for u in network.urls() if "/a/zip/" in u]
    assert originals_requested(network) == []
    assert page.evaluate("() => window.__picker.writables") == 0

    # The button works again: this time a file is picked.
    page.evaluate(RESET_PICKER, "save")
    button.click()
    status.get_by_text("Downloaded 3 files").wait_for(timeout=TIMEOUT)
    assert page.evaluate("() => window.__picker.closed") is True
    assert_zip_holds(base64.b64decode(page.evaluate(WRITTEN)), small_album["files"])


# --- Cancel -------------------------------------------------------------------------


def test_cancel_with_the_file_system_access_api_aborts_the_file(page, browser_context, small_album):
    page.add_init_script(PICKER)
    open_album(page, small_album["link"], "Slow zip")
    wait_for_thumbs(page, 3)
    held = Held(browser_context, "**/blobs/original")
    try:
        page.get_by_role("button", name="Download all").click()
        held.wait(page)  # the album Worker asked for the first original; the zip waits for it
        status = page.locator("#download-all-status")
        status.get_by_text("Downloading: 0 of 3 files, 0 bytes…", exact=True).wait_for(timeout=TIMEOUT)
        assert page.get_by_role("button", name="Download all").is_disabled()

        page.get_by_role("button", name="Cancel download").click()
        # Said at once, while the server still has not answered.
        status.get_by_text("Download cancelled.", exact=True).wait_for(timeout=5_000)
        assert page.get_by_role("button", name="Cancel download").is_hidden()
        assert page.locator("#download-all-status progress").is_hidden()
        wait_idle(page)
        picker = page.evaluate(PICKED)
        assert picker["aborted"] == "AbortError" and picker["closed"] is False  # nothing is kept

        # The held request comes back late: the cancelled download stays cancelled.
        held.release()
        time.sleep(1)
        assert status_text(page) == "Download cancelled."
        assert page.evaluate("() => window.__picker.closed") is False
    finally:
        held.release()

    # The button works again, and the new zip is whole.
    page.evaluate(RESET_PICKER, "save")
    page.get_by_role("button", name="Download all").click()
    status.get_by_text("Downloaded 3 files").wait_for(timeout=TIMEOUT)
    picker = page.evaluate(PICKED)
    assert picker["closed"] is True and picker["aborted"] is None
    assert_zip_holds(base64.b64decode(page.evaluate(WRITTEN)), small_album["files"])


def test_cancel_through_the_service_worker_fails_the_download(page, browser_context, small_album, network):
    page.add_init_script(NO_FILE_PICKER)  # no File System Access API: the Service Worker path
    open_album(page, small_album["link"], "Slow zip")
    wait_for_thumbs(page, 3)
    page.wait_for_function("() => Boolean(navigator.serviceWorker.controller)", timeout=TIMEOUT)
    held = Held(browser_context, "**/blobs/original")
    try:
        with page.expect_download(timeout=TIMEOUT) as info:
            page.get_by_role("button", name="Download all").click()
        download = info.value
        assert download.suggested_filename == "Slow zip.zip"
        held.wait(page)  # the Service Worker asked for the first original; the zip waits for it
        assert [u for u in network.urls() if "/a/zip/" in u]
        status = page.locator("#download-all-status")
        status.get_by_text("Downloading: 0 of 3 files", exact=False).wait_for(timeout=TIMEOUT)

        page.get_by_role("button", name="Cancel download").click()
        status.get_by_text("Download cancelled.", exact=True).wait_for(timeout=5_000)
        wait_idle(page)
        # The server answers late. A zip that was really stopped stays stopped: the
        # browser's download has failed, and no whole zip lands on disk. (Released before
        # asking, so that a download that was not stopped completes, and fails this
        # test, rather than waiting for ever.)
        held.release()
        failure = download.failure()
        assert failure is not None, "the cancelled download went on and completed"
        assert status_text(page) == "Download cancelled."
    finally:
        held.release()

    # The button works again, and the new zip is whole.
    with page.expect_download(timeout=TIMEOUT) as info:
        page.get_by_role("button", name="Download all").click()
    again = info.value
    assert again.failure() is None
    assert_zip_holds(Path(again.path()).read_bytes(), small_album["files"])
    page.locator("#download-all-status").get_by_text("Downloaded 3 files").wait_for(timeout=TIMEOUT)


# --- an access token that runs out while a video streams ----------------------------------

TTL = 5  # seconds an access token lives on this server


@pytest.fixture(scope="module")
def short_token_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("downloads-ttl")
    with servers.gunicorn(base / "data", env={"FRAGMENT_ACCESS_TOKEN_TTL": str(TTL)}) as url:
        yield {"url": url, "data_dir": base / "data"}


@pytest.fixture(scope="module")
def ttl_video_album(short_token_server, tmp_path_factory):
    """A two-minute, ~15 MB video and five photos, on the short-token server."""
    require_ffmpeg()
    owner = Fragment(tmp_path_factory.mktemp("downloads-ttl-owner") / "owner.json")
    token = servers.flask_cli(short_token_server["data_dir"], "create-owner-token")
    owner("login", short_token_server["url"], "--token-stdin", input=token)
    folder = tmp_path_factory.mktemp("downloads-ttl-video")
    video = make_long_mp4(folder / "evening walk.mp4", seconds=120)
    # Five photos, so that one is far enough from the video in the lightbox's order
    # never to have been preloaded as its neighbour (lightbox.js preload: [1, 2]).
    for i in range(5):
        make_jpeg_with_orientation(folder / f"still {i + 1}.jpg", size=(320, 240), orientation=1)
    link = owner.publish(folder, "--title", "Long evening", "--server", short_token_server["url"])
    return {"link": link, "video": video}


def video_plays_from(page, at: float) -> None:
    """The lightbox's video plays on from `at` (not seeking, time advancing) and shows no error."""
    page.wait_for_function(
        """(at) => { const v = document.querySelector(".pswp__item[aria-hidden='false'] video");
                     return v && !v.seeking && !v.paused && v.currentTime > at + 1; }""",
        arg=at,
        timeout=TIMEOUT,
    )
    state = page.evaluate(
        f"""() => {{ const v = document.querySelector("{VIDEO}");
                    return {{ error: v.error && v.error.code,
                              status: document.querySelector("{VIDEO_STATUS}").textContent }}; }}"""
    )
    assert state == {"error": None, "status": ""}


def seek(page, to: float) -> None:
    page.evaluate("(to) => { document.querySelector(\".pswp__item[aria-hidden='false'] video\").currentTime = to; }", to)


class Answers:
    """What the server answered the browser's requests (pages, Workers and the Service Worker alike)."""

    def __init__(self, context):
        self.responses: list = []
        context.on("response", self._record)

    def _record(self, response) -> None:
        self.responses.append(response)

    def mark(self) -> int:
        return len(self.responses)

    def of(self, ending: str, since: int = 0) -> list[tuple[str, int, str, str | None]]:
        """(url, status, bearer token, Range) of the requests whose URL ends so, in order."""
        out = []
        for response in self.responses[since:]:
            if response.url.endswith(ending):
                auth = response.request.header_value("authorization") or ""
                out.append((response.url, response.status, auth.removeprefix("Bearer "), response.request.header_value("range")))
        return out

    def unlock_tokens(self, since: int = 0) -> list[str]:
        return [r.json()["access_token"] for r in self.responses[since:] if r.url.endswith("/unlock") and r.status == 200]


def test_a_video_streams_on_after_the_access_token_runs_out(page, browser_context, ttl_video_album, network, console):
    answers = Answers(browser_context)
    console.expect(r"status of 401")
    size = ttl_video_album["video"].stat().st_size

    open_album(page, ttl_video_album["link"], "Long evening")
    expires = time.monotonic() + TTL  # the unlock was answered before the title showed
    wait_for_thumbs(page, 6)
    tile(page, "evening walk.mp4").click()
    page.locator(VIDEO).wait_for(timeout=TIMEOUT)
    video_plays_from(page, 0)
    duration = page.evaluate(f'() => document.querySelector("{VIDEO}").duration')
    assert duration == pytest.approx(120, abs=1)
    assert time.monotonic() < expires, "the page took longer than the token's life to start the video"
    [first] = answers.unlock_tokens()
    # The video's original, as the Service Worker asks for it: in Range requests.
    streamed = [a for a in answers.of("/blobs/original") if a[3]]
    assert streamed and all(token == first and status == 206 for _u, status, token, _r in streamed), streamed
    video_url = streamed[0][0]

    # 1. Past the token's life, seek near the end, to bytes nobody fetched yet: the
    # Service Worker is refused, gets a fresh token from the page (one unlock, with the
    # keys the page has), and fetches the end of the video with it.
    time.sleep(max(0.0, expires - time.monotonic()) + 1)
    mark = answers.mark()
    target = duration - 10
    seek(page, target)
    video_plays_from(page, target)
    [second] = answers.unlock_tokens(mark)
    late = answers.of(video_url.rsplit("/api/", 1)[1], mark)
    assert late[0][1:3] == (401, first), late
    fetched = [(int((rng or "").removeprefix("bytes=").split("-")[0]), token) for _u, status, token, rng in late if status == 206]
    assert any(start > size * 0.8 and token == second for start, token in fetched), late

    # 2. Past the new token's life too, a photo the lightbox never loaded (not a
    # neighbour of the video) opens: its preview is fetched, refused, and fetched again
    # with a token from a third unlock.
    page.keyboard.press("Escape")
    page.locator(".pswp").wait_for(state="detached")
    order = page.evaluate("() => [...document.querySelectorAll('#grid .tile img')].map((i) => i.alt)")
    photo = order[(order.index("evening walk.mp4") + 3) % len(order)]
    time.sleep(TTL + 1)
    mark = answers.mark()
    tile(page, photo).click()
    page.wait_for_function(
        f"() => {{ const i = document.querySelector(\".pswp__item[aria-hidden='false'] {SLIDE_IMG}\");"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=TIMEOUT,
    )
    assert current_slide_image(page).get_attribute("alt") == photo
    [third] = answers.unlock_tokens(mark)
    # (Its neighbours' previews may be asked for at the same time, and be refused too.)
    previews = {(status, token) for _u, status, token, _r in answers.of("/blobs/preview", mark)}
    assert previews == {(401, second), (200, third)}, previews

    # 3. The Service Worker still holds the second token, which has run out: refused
    # once, it is handed the page's current token, and no fourth unlock is needed.
    page.keyboard.press("Escape")
    page.locator(".pswp").wait_for(state="detached")
    mark = answers.mark()
    tile(page, "evening walk.mp4").click()
    page.locator(VIDEO).wait_for(timeout=TIMEOUT)
    video_plays_from(page, 0)
    seek(page, duration / 2)  # bytes not fetched yet, so the worker must ask the server
    video_plays_from(page, duration / 2)
    assert answers.unlock_tokens(mark) == [], "the page unlocked again for a token it already had"
    assert len([u for u in network.urls() if u.endswith("/unlock")]) == 3
    again = answers.of(video_url.rsplit("/api/", 1)[1], mark)
    assert again and again[0][1:3] == (401, second), again
    assert all(token == third for _u, status, token, _r in again if status == 206), again
