"""Guest uploads in Chromium, against the real app under gunicorn.

A guest opens a link that allows uploads, picks files as a person would (the page's
own file input), gives a name, and watches the progress; then the owner's command
line pulls what arrived. Assertions are about what the guest sees, what the server
holds (nothing half-stored), and the owner's bytes.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
from PIL import Image, ImageStat

from tests.support.browser import TIMEOUT, Held, current_slide_image, open_album, wait_for_thumbs
from tests.support.media_fixtures import make_heic, make_jpeg_with_orientation, make_mp4, require_ffmpeg
from tests.support.owner_cli import publish, split, unlock_link

pytestmark = pytest.mark.slow

GUEST = "Zoé Martin"
# Orientation 6 on every third photo: its thumb must come out upright (portrait).
DATES = [f"2025:0{1 + i % 9}:{10 + i:02} 1{i % 10}:15:00" for i in range(10)]
TALL = {"width": 1280, "height": 4000}


@pytest.fixture(scope="module")
def guest_files(tmp_path_factory):
    """Ten photos with EXIF (dates, camera, some rotated, one with GPS) and a short video."""
    require_ffmpeg()
    folder = tmp_path_factory.mktemp("guest-files")
    files = []
    for i, taken in enumerate(DATES):
        files.append(
            make_jpeg_with_orientation(
                folder / f"guest {i:02}.jpg",
                size=(800, 600),
                orientation=6 if i % 3 == 0 else 1,
                taken=taken,
                make="FUJIFILM",
                model="X-T5",
                gps=(45.764, 4.8357) if i == 0 else None,
            )
        )
    files.append(make_mp4(folder / "guest clip.mp4", seconds=2))
    return files


def db_rows(server: dict, sql: str, *args) -> list[tuple]:
    db = sqlite3.connect(Path(server["data_dir"]) / "fragment.db")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def guest_files_stored(server: dict, link: str) -> dict[str, int]:
    """{"complete": n, "pending": n} of files uploaded through this link."""
    rows = db_rows(server, "SELECT complete, COUNT(*) FROM files WHERE via_link = ? GROUP BY complete", split(link)[1])
    got = {bool(complete): n for complete, n in rows}
    return {"complete": got.get(True, 0), "pending": got.get(False, 0)}


def staged_parts(server: dict) -> list[Path]:
    staging = Path(server["data_dir"]) / "blobs" / "staging"
    return [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []


def choose(page, files, name: str | None = GUEST) -> None:
    """Pick files with the page's own input, and give a name if the page asks."""
    page.locator("#file-input").set_input_files([str(f) for f in files])
    if name is not None:
        dialog = page.get_by_role("dialog", name="What is your name?")
        dialog.wait_for()
        dialog.get_by_label("Your name").fill(name)
        dialog.get_by_role("button", name="Continue").click()


def wait_summary(page, text: str, timeout: int = 60_000) -> None:
    page.wait_for_function(
        "(t) => document.querySelector('#uploads [data-slot=summary]').textContent.includes(t)", arg=text, timeout=timeout
    )


def row(page, name: str):
    return page.locator("#uploads .upload-item").filter(has=page.locator(f"[data-slot=name]:text-is('{name}')"))


# --- a guest upload, end to end ----------------------------------------------------------


def test_a_guest_uploads_photos_and_a_video_and_the_owner_pulls_them_back(page, live_server, owner_cli, guest_files, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Guests welcome", "--allow-uploads")
    open_album(page, link, "Guests welcome")
    wait_for_thumbs(page, 1)
    add = page.get_by_role("button", name="Add photos")
    assert add.is_visible()
    # The button opens the system's picker; Playwright answers it as a person would.
    with page.expect_file_chooser() as chooser:
        add.click()
    chooser.value.set_files([str(f) for f in guest_files])
    dialog = page.get_by_role("dialog", name="What is your name?")
    dialog.get_by_label("Your name").fill(GUEST)
    dialog.get_by_role("button", name="Continue").click()

    # Progress shows while it works, then every file is added.
    page.locator("#uploads progress[data-slot=overall]").wait_for()
    wait_summary(page, "11 of 11 files added")
    assert page.locator("#uploads .upload-item[data-state=done]").count() == 11
    assert page.locator("#uploads [data-slot=guest]").inner_text() == GUEST

    # The guest's grid shows the new files at once, each thumbnail decoded at its real size:
    # 480 px on the long side, portrait for the rotated photos. (Twelve days taken, each under
    # its date heading: a window tall enough for all, as the grid renders only what is near it.)
    page.set_viewport_size(TALL)
    thumbs = wait_for_thumbs(page, 12)
    assert thumbs["guest 00.jpg"] == (360, 480)
    assert thumbs["guest 01.jpg"] == (480, 360)
    assert thumbs["guest clip.mp4"][0] > 0
    # The video's length came from the guest's browser: the tile shows it.
    assert page.locator("#grid .tile:has(img[alt='guest clip.mp4'])").get_by_text("▶ 0:02").is_visible()
    assert "11 photos, 1 video" in page.locator("#album-stats").inner_text()

    # Another visitor sees them too, after a reload of their own.
    other = page.context.browser.new_page(viewport=TALL)
    try:
        open_album(other, link, "Guests welcome")
        assert len(wait_for_thumbs(other, 12)) == 12
    finally:
        other.close()

    # The owner pulls every file back, byte for byte, under the guest's name, dated.
    out = tmp_path / "pulled"
    owner_cli("pull", "Guests welcome", "--out", out)
    pulled = {p.name: p for p in (out / GUEST).iterdir()}
    assert set(pulled) == {f.name for f in guest_files}
    for original in guest_files:
        assert pulled[original.name].read_bytes() == original.read_bytes(), original.name
    for i, taken in enumerate(DATES):
        expected = datetime.strptime(taken, "%Y:%m:%d %H:%M:%S").timestamp()
        assert pulled[f"guest {i:02}.jpg"].stat().st_mtime == expected
    assert guest_files_stored(live_server, link) == {"complete": 11, "pending": 0}


def test_the_info_panel_says_who_added_a_photo_and_when(page, live_server, owner_cli, guest_files, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Who added it", "--allow-uploads")
    open_album(page, link, "Who added it")
    choose(page, guest_files[:1])
    wait_summary(page, "1 of 1 file added")
    page.locator("#grid .tile:has(img[alt='guest 00.jpg'])").click()
    current_slide_image(page).wait_for(timeout=TIMEOUT)
    page.keyboard.press("i")
    panel = page.locator(".pswp__fragment-info-panel")
    panel.wait_for()
    text = panel.inner_text()
    assert f"Added by\na guest: {GUEST}" in text  # the server's guest flag, then the name the guest gave
    assert "2025" in text and "FUJIFILM X-T5" in text


def test_nothing_the_guest_adds_reaches_the_server_in_the_clear(page, network, live_server, owner_cli, guest_files, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Sealed guests", "--allow-uploads")
    open_album(page, link, "Sealed guests")
    choose(page, guest_files[:2])
    wait_summary(page, "2 of 2 files added")
    # Not the key, not the guest's name, not a file name, not a camera: only ciphertext.
    for secret in (split(link)[2], GUEST, "guest 00.jpg", "FUJIFILM"):
        network.assert_never_sent(secret)
    # Nor a run of the photo's own bytes (past its EXIF header, which holds the camera).
    network.assert_never_sent(guest_files[0].read_bytes()[20_000:20_064])


# --- limits, and what the guest is told ---------------------------------------------------


def big_photo(folder: Path, name: str, size=(3000, 2000)) -> Path:
    """A photo of a few MB: several 1 MiB parts on the test server."""
    return make_jpeg_with_orientation(folder / name, size=size, orientation=1)


def test_a_file_over_the_size_limit_is_refused_before_any_byte_is_sent(
    page, console, network, live_server, owner_cli, guest_files, tmp_path
):
    link = publish(owner_cli, live_server, tmp_path, "Small files only", "--allow-uploads", "--max-file-mb", "1")
    big = big_photo(tmp_path, "too big.jpg")
    # The owner changes the link mid-visit: the old token is refused once, then renewed.
    console.expect(r"status of 401")
    note = tmp_path / "notes.txt"
    note.write_text("not a photo")
    open_album(page, link, "Small files only")
    page.locator("#uploads [data-slot=limits]").get_by_text("each up to 1.0 MB").wait_for(state="attached")
    choose(page, [big, guest_files[1], note])
    wait_summary(page, "1 of 3 files added · 2 files not added")
    assert "the largest file this link takes is 1.0 MB" in row(page, "too big.jpg").inner_text()
    assert "Only photos and videos can be added." in row(page, "notes.txt").inner_text()
    # Refused on the page: no reservation was even asked for the big file.
    reservations = [r for r in network.requests if r.method == "POST" and r.url.endswith("/files")]
    assert len(reservations) == 1
    assert guest_files_stored(live_server, link) == {"complete": 1, "pending": 0}

    # Neither can succeed as it is, so neither is offered a Retry; the overall bar is full, since
    # nothing more can be sent (issue 15: it stayed at a few percent).
    for name in ("too big.jpg", "notes.txt"):
        assert row(page, name).get_by_role("button", name="Retry").is_hidden()
    assert page.get_by_role("button", name="Retry failed").is_hidden()
    assert page.locator("#uploads [data-slot=overall]").evaluate("bar => bar.value") == 1
    # Once the owner allows larger files, choosing it again adds it, in its own row.
    owner_cli("links", "change", link, "--max-file-mb", "10")
    choose(page, [big], name=None)  # the page knows the guest's name by now
    wait_summary(page, "2 of 3 files added")
    assert guest_files_stored(live_server, link) == {"complete": 2, "pending": 0}
    # What cannot be added can be taken off the list.
    row(page, "notes.txt").get_by_role("button", name="Remove").click()
    wait_summary(page, "2 of 2 files added")
    assert row(page, "notes.txt").count() == 0


def test_going_over_the_quota_is_explained_and_stores_nothing(page, console, live_server, owner_cli, guest_files, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Two at most", "--allow-uploads", "--quota-files", "2")
    console.expect(r"status of (401|413)")  # the refused reservation; the token renewed after the owner's change
    open_album(page, link, "Two at most")
    choose(page, guest_files[:3])
    wait_summary(page, "2 of 3 files added · 1 file not added")
    failed = page.locator("#uploads .upload-item[data-state=failed]")
    assert "upload space" in failed.inner_text()
    assert guest_files_stored(live_server, link) == {"complete": 2, "pending": 0}
    assert staged_parts(live_server) == []
    page.locator("#uploads [data-slot=limits]").get_by_text("no more files can be added").wait_for()

    owner_cli("links", "change", link, "--quota-files", "5")
    page.get_by_role("button", name="Retry failed").click()
    wait_summary(page, "3 of 3 files added")
    assert guest_files_stored(live_server, link) == {"complete": 3, "pending": 0}

    # On a phone, the summary beside both buttons keeps whole lines (it wrapped a word a line).
    page.set_viewport_size({"width": 360, "height": 740})
    lines = page.evaluate(
        """() => {
          const box = document.querySelector('#uploads .uploads-overall');
          for (const button of box.querySelectorAll('button')) button.hidden = false;
          box.querySelector('[data-slot=summary]').textContent = '12 of 30 files added · 3 files not added';
          const p = box.querySelector('p');
          return p.getBoundingClientRect().height / parseFloat(getComputedStyle(p).lineHeight || '20');
        }"""
    )
    assert lines <= 2.2, lines


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_uploads_turned_off_mid_upload_stop_cleanly_and_retry_works_when_back_on(page, console, live_server, owner_cli, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Switched off", "--allow-uploads")
    big = big_photo(tmp_path, "midway.jpg")
    console.expect(r"status of (401|403|404)")  # stale token, uploads off, the discarded reservation
    open_album(page, link, "Switched off")
    held = Held(page.context, "**/blobs/original", method="PUT")
    choose(page, [big])
    held.wait(page)
    assert guest_files_stored(live_server, link) == {"complete": 0, "pending": 1}

    owner_cli("links", "change", link, "--no-uploads")
    held.release()
    failed = row(page, "midway.jpg")
    failed.get_by_text("The owner has turned off adding photos to this album.").wait_for(timeout=TIMEOUT)
    # Nothing half-stored: the reservation, its parts and its quota are gone.
    assert guest_files_stored(live_server, link) == {"complete": 0, "pending": 0}
    assert staged_parts(live_server) == []
    assert db_rows(live_server, "SELECT files_used, bytes_used FROM links WHERE id = ?", split(link)[1]) == [(0, 0)]

    owner_cli("links", "change", link, "--uploads")
    failed.get_by_role("button", name="Retry").click()
    wait_summary(page, "1 of 1 file added")
    assert guest_files_stored(live_server, link) == {"complete": 1, "pending": 0}


def test_a_reservation_gone_from_the_server_fails_that_file_only(page, console, live_server, owner_cli, guest_files, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Expired reservation", "--allow-uploads")
    console.expect(r"status of 404")  # the PUT to the reservation that is gone
    big = big_photo(tmp_path, "abandoned.jpg")
    open_album(page, link, "Expired reservation")
    held = Held(page.context, "**/blobs/original", method="PUT")
    choose(page, [big, guest_files[5]])
    held.wait(page, count=2)
    # The server drops the big file's reservation meanwhile (as UPLOAD_TTL would).
    server, link_id, _ = split(link)
    (gone,) = db_rows(
        live_server, "SELECT id FROM files WHERE via_link = ? AND complete = 0 AND original_size > 2000000", link_id
    )
    _, auth = unlock_link(link)
    assert requests.delete(f"{server}/api/links/{link_id}/files/{gone[0]}", headers=auth, timeout=10).status_code == 200
    held.release()
    item = row(page, "abandoned.jpg")
    item.get_by_text("This upload is no longer on the server").wait_for(timeout=TIMEOUT)
    # The other file was not stopped with it.
    wait_summary(page, "1 of 2 files added · 1 file not added")
    item.get_by_role("button", name="Retry").click()
    wait_summary(page, "2 of 2 files added")
    assert guest_files_stored(live_server, link) == {"complete": 2, "pending": 0}


def original_offsets(network) -> list[int]:
    """Upload-Offset of every PUT of an original's part, in order."""
    return [
        int(r.headers.get("upload-offset", "0"))
        for r in network.requests
        if r.method == "PUT" and r.url.endswith("/blobs/original")
    ]


def test_a_failing_network_is_retried_then_explained_and_retry_continues_where_it_stopped(
    page, console, network, live_server, owner_cli, tmp_path
):
    link = publish(owner_cli, live_server, tmp_path, "Flaky network", "--allow-uploads")
    console.expect(r"ERR_CONNECTION_RESET")
    big = big_photo(tmp_path, "flaky.jpg")
    open_album(page, link, "Flaky network")
    sent = []

    def first_part_only(route):
        if route.request.method != "PUT":
            return route.continue_()
        sent.append(route.request.headers.get("upload-offset"))
        return route.continue_() if len(sent) == 1 else route.abort("connectionreset")

    # The album Worker's request (it makes every API call), so routed on the context.

    page.context.route("**/blobs/original", first_part_only)
    choose(page, [big])
    item = row(page, "flaky.jpg")
    item.get_by_text("Connection lost, trying again").wait_for(timeout=TIMEOUT)
    item.get_by_text("The connection was lost. Check it, then try again.").wait_for(timeout=40_000)
    # The second part was tried 5 times (once, then 4 retries) before the page gave up.
    assert len(sent) == 6 and set(sent[1:]) == {sent[1]} and int(sent[1]) > 0
    assert guest_files_stored(live_server, link) == {"complete": 0, "pending": 1}

    page.context.unroute("**/blobs/original")
    item.get_by_role("button", name="Retry").click()
    wait_summary(page, "1 of 1 file added")
    # It went on from the part the server had, not from the start.
    offsets = original_offsets(network)
    assert offsets.count(0) == 1
    out = tmp_path / "pulled"
    owner_cli("pull", "Flaky network", "--out", out)
    assert (out / GUEST / "flaky.jpg").read_bytes() == big.read_bytes()


def test_an_upload_resumes_after_a_reload_when_the_same_file_is_chosen(page, network, live_server, owner_cli, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Reloaded", "--allow-uploads")
    big = big_photo(tmp_path, "long one.jpg")
    open_album(page, link, "Reloaded")
    passed: list = []

    def one_part_then_hang(route):
        if route.request.method == "PUT" and passed:
            return None  # never answered: the page is reloaded while it waits
        passed.append(route.request.url)
        return route.continue_()

    # The album Worker's request (it makes every API call), so routed on the context.

    page.context.route("**/blobs/original", one_part_then_hang)
    choose(page, [big])
    wait_until(lambda: page.wait_for_timeout(50) or len(original_offsets(network)) >= 2)
    page.context.unroute("**/blobs/original")
    page.on("dialog", lambda dialog: dialog.accept())  # "leave the page?" while uploading
    page.reload()
    page.get_by_role("heading", name="Reloaded").wait_for(timeout=TIMEOUT)
    notice = page.locator("#uploads [data-slot=unfinished]")
    notice.get_by_text("did not finish last time (long one.jpg)").wait_for()

    choose(page, [big], name=None)  # the name is remembered
    wait_summary(page, "1 of 1 file added")
    assert notice.is_hidden()
    offsets = original_offsets(network)
    assert offsets.count(0) == 1 and offsets[2] > 0, offsets
    out = tmp_path / "pulled"
    owner_cli("pull", "Reloaded", "--out", out)
    assert (out / GUEST / "long one.jpg").read_bytes() == big.read_bytes()


def test_resuming_with_another_file_of_the_same_name_size_and_date_starts_over(page, network, live_server, owner_cli, tmp_path):
    """Same name, size and mtime, other bytes: re-encrypting them under the old key and nonces would reuse the keystream."""
    link = publish(owner_cli, live_server, tmp_path, "Swapped", "--allow-uploads")
    big = big_photo(tmp_path, "same name.jpg")
    open_album(page, link, "Swapped")
    passed: list = []

    def one_part_then_hang(route):
        if route.request.method == "PUT" and passed:
            return None
        passed.append(route.request.url)
        return route.continue_()

    # The album Worker's request (it makes every API call), so routed on the context.

    page.context.route("**/blobs/original", one_part_then_hang)
    choose(page, [big])
    wait_until(lambda: page.wait_for_timeout(50) or len(original_offsets(network)) >= 2)
    page.context.unroute("**/blobs/original")
    page.on("dialog", lambda dialog: dialog.accept())
    page.reload()
    page.get_by_role("heading", name="Swapped").wait_for(timeout=TIMEOUT)
    page.locator("#uploads [data-slot=unfinished]").get_by_text("did not finish last time (same name.jpg)").wait_for()
    # Another photo under the same name, of the same size, with the same date.
    stat = big.stat()
    other = bytearray(big.read_bytes())
    middle = len(other) // 2
    other[middle : middle + 64] = bytes(b ^ 0x5A for b in other[middle : middle + 64])
    big.write_bytes(bytes(other))
    os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    before = len(original_offsets(network))

    choose(page, [big], name=None)
    row(page, "same name.jpg").get_by_text("not the file the last upload began with").wait_for(timeout=TIMEOUT)
    wait_summary(page, "1 of 1 file added")
    assert original_offsets(network)[before] == 0  # sent anew from the first byte, under a new key
    wait_until(lambda: guest_files_stored(live_server, link) == {"complete": 1, "pending": 0})  # the old one was cancelled
    out = tmp_path / "pulled"
    owner_cli("pull", "Swapped", "--out", out)
    assert (out / GUEST / "same name.jpg").read_bytes() == bytes(other)


def test_a_full_server_is_explained_and_the_part_is_not_sent_again(page, console, network, live_server, owner_cli, tmp_path):
    # The server's own 507 on a real full disk is tested in tests/test_cleanup.py; here its answer is given to the page.
    link = publish(owner_cli, live_server, tmp_path, "Full disk", "--allow-uploads")
    console.expect(r"507")
    big = big_photo(tmp_path, "no room.jpg")
    open_album(page, link, "Full disk")
    message = "The server has no room left to store this upload. Try again later, or tell the album's owner."

    def full(route):
        if route.request.method != "PUT":
            return route.continue_()
        return route.fulfill(
            status=507, content_type="application/json", body=json.dumps({"error": "storage_full", "message": message})
        )

    more = [big_photo(tmp_path, f"waiting {i}.jpg", size=(1200, 800)) for i in range(3)]
    # The album Worker's request (it makes every API call), so routed on the context.
    page.context.route("**/blobs/original", full)
    choose(page, [big, *more])  # three files at a time: the fourth is still waiting when the first 507 comes
    for name in ["no room.jpg"] + [f.name for f in more]:
        row(page, name).get_by_text(message).wait_for(timeout=TIMEOUT)
    page.wait_for_timeout(3000)  # longer than the first retry's wait: nothing more is sent
    sent = original_offsets(network)
    assert sent == [0] * len(sent) and len(sent) <= 3  # each part at most once, and the waiting file never started
    assert page.locator("#uploads").get_by_text("trying again").count() == 0
    wait_until(lambda: guest_files_stored(live_server, link) == {"complete": 0, "pending": 0})  # reservations given back
    page.context.unroute("**/blobs/original")


def test_cancel_gives_everything_back(page, live_server, owner_cli, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Changed my mind", "--allow-uploads")
    big = big_photo(tmp_path, "not this one.jpg")
    open_album(page, link, "Changed my mind")
    held = Held(page.context, "**/blobs/original", method="PUT")
    choose(page, [big])
    held.wait(page)
    item = row(page, "not this one.jpg")
    item.get_by_role("button", name="Cancel").click()
    item.get_by_text("Cancelled: nothing of it was kept.").wait_for()
    wait_until(lambda: guest_files_stored(live_server, link) == {"complete": 0, "pending": 0})
    assert db_rows(live_server, "SELECT files_used, bytes_used FROM links WHERE id = ?", split(link)[1]) == [(0, 0)]
    assert page.locator("#grid .tile").count() == 1


# --- upload-only links and files the browser cannot draw ------------------------------------


def test_an_upload_only_link_shows_nothing_of_the_album(page, network, live_server, owner_cli, guest_files, tmp_path):
    publish(owner_cli, live_server, tmp_path, "Drop box", count=2)
    link = owner_cli.link("links", "add", "Drop box", "--allow-uploads", "--upload-only")
    open_album(page, link, "Drop box")
    page.get_by_text("This link is for adding photos and videos to the album.").wait_for()
    choose(page, guest_files[:2])
    wait_summary(page, "2 of 2 files added")
    # The guest sees their own two files (thumbnails made on this device), and none of the album's.
    assert page.locator("#grid .tile").count() == 0
    assert page.locator("#uploads img.upload-thumb:not([hidden])").count() == 2
    assert not [r for r in network.requests if r.method == "GET" and "/files" in r.url and "/upload" not in r.url]
    # The API refuses to list the album to this link.
    server, link_id, _ = split(link)
    _, auth = unlock_link(link)
    refused = requests.get(f"{server}/api/links/{link_id}/files", headers=auth, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"] == "upload_only"
    out = tmp_path / "pulled"
    owner_cli("pull", "Drop box", "--out", out)
    assert sorted(p.name for p in (out / GUEST).iterdir()) == ["guest 00.jpg", "guest 01.jpg"]


def test_a_heic_photo_gets_a_real_thumbnail_and_uploads_as_is(page, live_server, owner_cli, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "From an iPhone", "--allow-uploads")
    heic = make_heic(tmp_path / "IMG_4242.HEIC", size=(600, 400))
    open_album(page, link, "From an iPhone")
    choose(page, [heic])
    wait_summary(page, "1 of 1 file added")
    # Chromium cannot draw HEIC; libheif (WebAssembly, in the upload Worker) decodes it,
    # so the tile is the photo itself at thumb size (not the 480x360 placeholder card),
    # with the photo's colours.
    thumbs = wait_for_thumbs(page, 2)
    assert thumbs["IMG_4242.HEIC"] == (480, 320)
    mean = page.evaluate(
        """() => { const img = [...document.querySelectorAll('#grid .tile img')].find((i) => i.alt === 'IMG_4242.HEIC');
                   const c = new OffscreenCanvas(480, 320); const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                   const d = g.getImageData(200, 120, 80, 80).data; const m = [0, 0, 0];
                   for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) m[k] += d[i + k] / (d.length / 4);
                   return m; }"""
    )
    region = Image.open(heic).convert("RGB").resize((480, 320)).crop((200, 120, 280, 200))
    expected = ImageStat.Stat(region).mean
    assert all(abs(a - b) < 12 for a, b in zip(mean, expected, strict=True)), (mean, expected)
    out = tmp_path / "pulled"
    owner_cli("pull", "From an iPhone", "--out", out)
    assert (out / GUEST / "IMG_4242.HEIC").read_bytes() == heic.read_bytes()


def test_a_photo_the_browser_cannot_draw_still_uploads_with_a_placeholder(page, live_server, owner_cli, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Raw files", "--allow-uploads")
    raw = tmp_path / "DSC_0001.dng"
    raw.write_bytes(b"II*\x00" + bytes(range(256)) * 40)  # not a real DNG: nothing can draw it
    open_album(page, link, "Raw files")
    choose(page, [raw])
    wait_summary(page, "1 of 1 file added")
    # The tile is a 480x360 card that says why there is no preview.
    assert wait_for_thumbs(page, 2)["DSC_0001.dng"] == (480, 360)
    out = tmp_path / "pulled"
    owner_cli("pull", "Raw files", "--out", out)
    assert (out / GUEST / "DSC_0001.dng").read_bytes() == raw.read_bytes()


def test_files_dropped_anywhere_on_the_page_are_added(page, live_server, owner_cli, guest_files, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Drag and drop", "--allow-uploads")
    open_album(page, link, "Drag and drop")
    photo = guest_files[2]
    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
            return transfer;
        }""",
        [photo.name, base64.b64encode(photo.read_bytes()).decode()],
    )
    page.dispatch_event("#grid", "dragenter", {"dataTransfer": transfer})
    overlay = page.get_by_text("Drop photos and videos to add them to the album")
    overlay.wait_for()
    page.dispatch_event("#grid", "drop", {"dataTransfer": transfer})
    assert overlay.is_hidden()
    dialog = page.get_by_role("dialog", name="What is your name?")
    dialog.get_by_label("Your name").fill(GUEST)
    dialog.get_by_role("button", name="Continue").click()
    wait_summary(page, "1 of 1 file added")
    assert "guest 02.jpg" in wait_for_thumbs(page, 2)


def test_the_guest_must_give_a_name_and_can_back_out(page, live_server, owner_cli, guest_files, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "Named", "--allow-uploads")
    open_album(page, link, "Named")
    page.locator("#file-input").set_input_files([str(guest_files[3])])
    dialog = page.get_by_role("dialog", name="What is your name?")
    dialog.get_by_role("button", name="Continue").click()
    dialog.get_by_text("Type a name, so that people know who added these photos.").wait_for()
    dialog.get_by_role("button", name="Cancel").click()
    # Backing out adds nothing.
    assert dialog.is_hidden() and page.locator("#uploads").is_hidden()
    assert guest_files_stored(live_server, link) == {"complete": 0, "pending": 0}


def test_a_whole_folder_can_be_added(page, live_server, owner_cli, guest_files, tmp_path):
    link = publish(owner_cli, live_server, tmp_path, "A folder", "--allow-uploads")
    folder = tmp_path / "holiday"
    folder.mkdir()
    for photo in guest_files[4:7]:
        (folder / photo.name).write_bytes(photo.read_bytes())
    open_album(page, link, "A folder")
    add_folder = page.get_by_role("button", name="Add a folder")
    with page.expect_file_chooser() as chooser:
        add_folder.click()
    chooser.value.set_files(str(folder))
    dialog = page.get_by_role("dialog", name="What is your name?")
    dialog.get_by_label("Your name").fill(GUEST)
    dialog.get_by_role("button", name="Continue").click()
    wait_summary(page, "3 of 3 files added")
    page.set_viewport_size(TALL)  # four days taken, four date headings
    assert {"guest 04.jpg", "guest 05.jpg", "guest 06.jpg"} <= set(wait_for_thumbs(page, 4))
