"""The recipient's album follows the owner's order and cover (issue 12; part of issue 15).

An album is published with the owner's command line from photos whose dates taken are
out of upload order, a guest adds one through the link, and the owner's album metadata
(`sort`, `order`, `cover`: docs/format.md, "Album metadata") is re-sealed and sent with
PATCH /api/owner/albums/<id>, as `fragment albums` does (viewer/owner/edit.py). A
recipient who reloads sees the grid in that order, with date headings when it is by
date taken, the cover beside the title, and a hostile metadata changes nothing but the
order, which falls back to the date taken.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from tests.support.browser import TIMEOUT, current_slide_image, open_album
from tests.support.media_fixtures import make_jpeg_with_orientation
from tests.support.owner_cli import Fragment, split, unlock_link
from viewer import crypto
from viewer.owner import cli, keyring

pytestmark = pytest.mark.slow

TITLE = "Order of things"
GUEST = "party.jpg"
# name -> (EXIF DateTimeOriginal, size): upload order is the folder's, by name.
PHOTOS = {
    "IMG_10.jpg": ("2024:06:03 09:00:00", (320, 240)),
    "IMG_2.jpg": ("2024:06:01 18:00:00", (240, 320)),
    "beach.jpg": ("2024:06:01 08:00:00", (400, 240)),
    "nodate.jpg": (None, (300, 300)),
}
GUEST_TAKEN = "2024:06:02 12:00:00"

BY_TAKEN = ["beach.jpg", "IMG_2.jpg", GUEST, "IMG_10.jpg", "nodate.jpg"]
# Intl.Collator with numeric: IMG_2 before IMG_10, and case does not put capitals first.
BY_NAME = ["beach.jpg", "IMG_2.jpg", "IMG_10.jpg", "nodate.jpg", GUEST]

# The grid as a person reads it: date headings ("# ...") and tiles, in document order.
GRID = r"""() => [...document.querySelectorAll('#grid .grid-heading, #grid .tile')].map((el) =>
  el.classList.contains('grid-heading') ? '# ' + el.textContent : el.querySelector('img') ? el.querySelector('img').alt : '?')"""

# The slide PhotoSwipe shows now is the file of that name.
SLIDE_IS = """(alt) => {
  const img = document.querySelector(".pswp__item[aria-hidden='false'] img.pswp__img:not(.pswp__img--placeholder)");
  return img && img.alt === alt;
}"""


@pytest.fixture(scope="module")
def album(live_server, owner_cli: Fragment, tmp_path_factory) -> dict:
    """The album, published with uploads allowed, plus one guest upload; ids by name and the server's order."""
    folder = tmp_path_factory.mktemp("order-photos")
    for name, (taken, size) in PHOTOS.items():
        make_jpeg_with_orientation(folder / name, size=size, orientation=1, taken=taken)
    link = owner_cli.publish(folder, "--title", TITLE, "--allow-uploads", "--server", live_server["url"])
    guest_dir = tmp_path_factory.mktemp("order-guest")
    make_jpeg_with_orientation(guest_dir / GUEST, size=(320, 200), orientation=1, taken=GUEST_TAKEN)
    owner_cli("upload", link, guest_dir / GUEST, "--name", "Ana")

    server, link_id, fragment = split(link)
    unlocked, auth = unlock_link(link)
    keys = crypto.link_keys(crypto.decode_link_secret(fragment))
    album_id = unlocked["album_id"]
    album_key = crypto.unwrap_album_key(keys.wrap_key, crypto.b64d(unlocked["wrapped_album_key"]), link_id)
    listed = requests.get(f"{server}/api/links/{link_id}/files", headers=auth, timeout=10).json()["files"]
    names = []
    ids = {}
    for entry in listed:
        fk = crypto.unwrap_file_key(album_key, crypto.b64d(entry["wrapped_key"]), album_id, entry["file_id"])
        name = crypto.open_file_meta(fk, album_id, entry["file_id"], crypto.b64d(entry["meta"]))["name"]
        names.append(name)
        ids[name] = entry["file_id"]
    assert names[-1] == GUEST and sorted(names) == sorted([*PHOTOS, GUEST])
    # The date order is not the upload order, or the test would prove nothing.
    assert names != BY_TAKEN and names != BY_NAME
    return {"link": link, "album_id": album_id, "ids": ids, "upload_order": names, "server": live_server["url"]}


def set_meta(owner_cli: Fragment, album: dict, meta: dict) -> None:
    """Seal `meta` as the album's metadata and send it, as the owner's tool does (edit.put_meta)."""
    ring = keyring.load(Path(owner_cli.env["FRAGMENT_KEYRING"]))
    owner = cli.owner_client(ring, album["server"])
    album_key = ring.album_key(album["album_id"])
    owner.patch_album(album["album_id"], crypto.b64e(crypto.seal_album_meta(album_key, album["album_id"], meta)))


def grid_when_listed(page) -> list[str]:
    """The grid once every file is listed and every thumbnail decrypted."""
    page.wait_for_function(
        """(n) => !document.querySelector('#album-stats').textContent.includes('loading')
             && [...document.querySelectorAll('#grid .tile img')].filter((i) => i.complete && i.naturalWidth > 0).length >= n""",
        arg=len(PHOTOS) + 1,
        timeout=TIMEOUT,
    )
    return page.evaluate(GRID)


def tiles_only(grid: list[str]) -> list[str]:
    return [item for item in grid if not item.startswith("# ")]


@pytest.fixture
def page_gb(browser, console):
    """A page in British English, so the date headings read one known way."""
    context = browser.new_context(locale="en-GB", timezone_id="America/New_York")
    tab = context.new_page()
    console.attach(tab)
    yield tab
    context.close()


def test_by_date_taken_with_headings_then_by_name_upload_and_custom(page_gb, album, owner_cli):
    page = page_gb
    # No `sort` yet: by date taken, the guest's photo in its place by date, not at the end;
    # a heading per day (the camera's day, not shifted by the visitor's time zone), the undated last.
    set_meta(owner_cli, album, {"title": TITLE})
    open_album(page, album["link"], TITLE)
    # British English, whichever comma this ICU puts after the weekday.
    assert [item.replace(",", "") for item in grid_when_listed(page)] == [
        "# Saturday 1 June 2024",
        "beach.jpg",
        "IMG_2.jpg",
        "# Sunday 2 June 2024",
        GUEST,
        "# Monday 3 June 2024",
        "IMG_10.jpg",
        "# Date unknown",
        "nodate.jpg",
    ]
    # Real headings, for screen readers' heading navigation.
    headings = page.locator("#grid").get_by_role("heading", level=2)
    days = ["Saturday 1 June 2024", "Sunday 2 June 2024", "Monday 3 June 2024", "Date unknown"]
    assert [text.replace(",", "") for text in headings.all_inner_texts()] == days
    assert page.locator("#album-cover").is_hidden()  # no cover chosen

    # By name: numeric collation, no headings; the lightbox walks the same order.
    set_meta(owner_cli, album, {"title": TITLE, "sort": "name"})
    page.reload()
    open_album(page, album["link"], TITLE)
    assert grid_when_listed(page) == BY_NAME
    page.locator("#grid .tile").first.click()
    slide = current_slide_image(page)
    slide.wait_for(timeout=TIMEOUT)
    assert slide.get_attribute("alt") == BY_NAME[0]
    for name in BY_NAME[1:3]:
        page.keyboard.press("ArrowRight")
        page.wait_for_function(SLIDE_IS, arg=name, timeout=TIMEOUT)
    assert page.locator(".pswp__counter").inner_text() == f"3 of {len(BY_NAME)}"
    page.keyboard.press("Escape")
    page.locator(".pswp").wait_for(state="detached")

    # In upload order: the server's.
    set_meta(owner_cli, album, {"title": TITLE, "sort": "upload"})
    page.reload()
    open_album(page, album["link"], TITLE)
    assert grid_when_listed(page) == album["upload_order"]

    # Custom: these first, in this order; the others after, by date taken. And the cover.
    ids = album["ids"]
    set_meta(
        owner_cli,
        album,
        {"title": TITLE, "sort": "custom", "order": [ids["nodate.jpg"], ids[GUEST]], "cover": ids["IMG_10.jpg"]},
    )
    page.reload()
    open_album(page, album["link"], TITLE)
    assert grid_when_listed(page) == ["nodate.jpg", GUEST, "beach.jpg", "IMG_2.jpg", "IMG_10.jpg"]
    cover = page.locator("#album-cover")
    cover.wait_for(timeout=TIMEOUT)
    page.wait_for_function("() => { const c = document.querySelector('#album-cover'); return c.complete && c.naturalWidth > 0; }")
    # The cover is IMG_10's thumbnail, decrypted: the very image its tile shows.
    tile_src = page.locator("#grid .tile img[alt='IMG_10.jpg']").get_attribute("src")
    assert cover.get_attribute("src") == tile_src
    assert page.evaluate("() => document.querySelector('#album-cover').naturalWidth") == 320


def test_hostile_metadata_falls_back_to_date_taken(page_gb, album, owner_cli, console):
    page = page_gb
    by_taken = ["beach.jpg", "IMG_2.jpg", GUEST, "IMG_10.jpg", "nodate.jpg"]
    ids = album["ids"]
    # Not strings, ids of no file, duplicates, a list as long as the 64 KiB limit allows,
    # and a cover that names no file of the album (removed since): what names a file counts.
    junk = [5, None, {"id": ids["beach.jpg"]}, ["x"], "not an id", ids["IMG_10.jpg"], ids["IMG_10.jpg"]]
    junk += [crypto.new_id() for _ in range(2000)]
    set_meta(owner_cli, album, {"title": TITLE, "sort": "custom", "order": junk, "cover": crypto.new_id()})
    open_album(page, album["link"], TITLE)
    assert tiles_only(grid_when_listed(page)) == ["IMG_10.jpg", *[n for n in by_taken if n != "IMG_10.jpg"]]
    assert page.locator("#album-cover").is_hidden()

    for meta in (
        {"title": TITLE, "sort": "bogus", "order": "abc", "cover": 42},
        {"title": TITLE, "sort": ["name"], "order": {"length": 1e9}, "cover": ["x"]},
        {"title": TITLE, "sort": "custom", "order": None},
    ):
        set_meta(owner_cli, album, meta)
        page.reload()
        open_album(page, album["link"], TITLE)
        assert tiles_only(grid_when_listed(page)) == by_taken, meta
        assert page.locator("#album-cover").is_hidden()
        # An unknown sort is the default one, with its date headings; a custom order has none.
        assert page.locator("#grid .grid-heading").count() == (0 if meta["sort"] == "custom" else 4)
    # And the page said nothing went wrong: the console fixture fails the test on any error.

    # The comparison of capture times (static/js/album/order.js): with an offset, in UTC;
    # without, as written; files without a date after the dated ones; ties by upload order.
    order = page.evaluate(
        """async () => {
      const { albumOrder } = await import('/static/js/album/order.js');
      const f = (name, text, seq) => ({ name, seq, id: null, info: { name, takenAt: text ? { text, wall: 0 } : null } });
      const files = [
        f('tokyo', '2024-06-01T09:00:00+09:00', 0),   // 00:00 UTC
        f('paris', '2024-06-01T08:00:00+02:00', 1),   // 06:00 UTC
        f('local', '2024-06-01T03:00:00', 2),         // as written
        f('none', null, 3),
        f('zulu', '2024-06-01T00:00:00Z', 4),         // 00:00 UTC, after tokyo by upload order
        f('bad', '2024-13-45T99:00:00', 5),
      ];
      return files.sort(albumOrder({ sort: 'taken' }).compare).map((x) => x.name);
    }"""
    )
    assert order == ["tokyo", "zulu", "local", "paris", "none", "bad"]
    assert not [e for e in console.errors if re.search("order", e)]


# The album page's own Grid (static/js/album/grid.js) on 400 files, scrolled to the middle;
# then 100 files land before what is on screen, as a later page of the listing does when
# sorted by date taken. What the visitor looks at must not move, and the grid stays in order.
GRID_INSERT = r"""async () => {
  const { Grid } = await import('/static/js/album/grid.js');
  const { dateHeadings } = await import('/static/js/album/order.js');
  document.querySelector('#grid').remove();  // the album's own grid, out of the way
  const box = document.createElement('div');
  box.style.cssText = 'position: relative; width: 900px';
  document.body.prepend(box);
  const day = (n) => ({ wall: Date.UTC(2024, 0, 1 + Math.floor(n / 20)), text: '' });
  const make = (n) => ({ id: 'f' + n, n, broken: false, guest: false, thumb: { state: 'loading', url: null },
                         info: { name: 'f' + n, kind: 'photo', width: 400, height: 300, takenAt: day(n) }, alt: 'f' + n });
  const files = [];
  for (let n = 100; n < 500; n += 1) files.push(make(n));
  files.forEach((f, i) => { f.index = i; });
  const grid = new Grid(box, { files, fetchThumb: () => new Promise(() => {}), onOpen: () => {}, label: (f) => f.alt,
                               headingOf: dateHeadings(false) });
  grid.relayout();
  const tileOf = (name) => [...box.querySelectorAll('.tile')].find((t) => t.getAttribute('aria-label') === name);
  window.scrollTo(0, box.getBoundingClientRect().top + window.scrollY + 3000);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const seen = [...box.querySelectorAll('.tile')].find((t) => t.getBoundingClientRect().top >= 0);
  const name = seen.getAttribute('aria-label');
  const before = seen.getBoundingClientRect().top;
  for (let n = 0; n < 100; n += 1) files.push(make(n));
  files.sort((a, b) => a.n - b.n);
  files.forEach((f, i) => { f.index = i; });
  grid.relayout();
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const moved = tileOf(name);  // gone from the DOM if it was scrolled far away
  const after = moved ? moved.getBoundingClientRect().top : null;
  const shown = [...box.querySelectorAll('.grid-heading, .tile')].map((el) =>
    el.classList.contains('grid-heading') ? '#' : Number(el.getAttribute('aria-label').slice(1)));
  window.scrollTo(0, 0);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const top = [...box.querySelectorAll('.grid-heading, .tile')].slice(0, 3)
    .map((el) => el.textContent || el.getAttribute('aria-label'));
  return { name, before, after, shown, top, height: box.style.height };
}"""


def test_files_inserted_above_do_not_move_what_is_on_screen(page_gb, album):
    page = page_gb
    open_album(page, album["link"], TITLE)
    grid_when_listed(page)
    result = page.evaluate(GRID_INSERT)
    # (Within a pixel: rows are fractions of a pixel high, and scrolling rounds.)
    assert result["after"] is not None and abs(result["before"] - result["after"]) < 1, result["name"]
    # What is rendered is in order, a heading before every 20 files (one day each).
    numbers = [n for n in result["shown"] if n != "#"]
    assert numbers == sorted(numbers) and len(numbers) > 20
    assert all(result["shown"][i + 1] % 20 == 0 for i, n in enumerate(result["shown"][:-1]) if n == "#")
    # Back at the top, the new first day and its files come first.
    assert result["top"][0].replace(",", "") == "Monday 1 January 2024"
    assert result["top"][1:] == ["f0", "f1"]
