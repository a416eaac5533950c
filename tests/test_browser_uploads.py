"""Guest uploads in Chromium, against the real app under gunicorn.

A guest opens a link that allows uploads, picks files as a person would (the page's
own file input), gives a name, and watches the progress; then the owner's command
line pulls what arrived. Assertions are about what the guest sees, what the server
holds (nothing half-stored), and the owner's bytes.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest
from browser import TIMEOUT, current_slide_image, open_album, wait_for_thumbs
from media_fixtures import make_jpeg_with_orientation, make_mp4, require_ffmpeg
from owner_cli import publish, split

pytestmark = pytest.mark.slow

GUEST = "Zoé Martin"
# Orientation 6 on every third photo: its thumb must come out upright (portrait).
DATES = [f"2025:0{1 + i % 9}:{10 + i:02} 1{i % 10}:15:00" for i in range(10)]


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


def summary(page) -> str:
    return page.locator("#uploads [data-slot=summary]").inner_text()


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
    # 480 px on the long side, portrait for the rotated photos.
    thumbs = wait_for_thumbs(page, 12)
    assert thumbs["guest 00.jpg"] == (360, 480)
    assert thumbs["guest 01.jpg"] == (480, 360)
    assert thumbs["guest clip.mp4"][0] > 0
    assert "11 photos, 1 video" in page.locator("#album-stats").inner_text()

    # Another visitor sees them too, after a reload of their own.
    other = page.context.browser.new_page()
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
    assert f"Added by\n{GUEST}" in text or f"Added by {GUEST}" in text
    assert "2025" in text and "FUJIFILM X-T5" in text
