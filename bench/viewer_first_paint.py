"""Time to the first screen of thumbnails: the encrypted viewer against plaintext <img>.

Publishes a 1,000-photo album with the owner's command line to gunicorn started
from the Procfile, serving ``bench.plain_app:app`` (the real app plus a plaintext
gallery page), and opens both pages in Debian's Chromium, each in a fresh context
(empty cache, first visit) with a 1280x800 viewport:

* **encrypted**: the album link. The page loads its modules, a Worker compiles
  libsodium, unlocks the link, lists the files, then fetches and decrypts the
  thumbnails near the viewport (static/js/album/grid.js).
* **plaintext** (baseline): the same thumbnails, the very bytes the viewer decrypts,
  as plain ``<img loading=lazy>`` tags in rows of the same tile size, under the
  same header and stylesheets, from the same server process. (Lazy, as a good
  gallery page is; with all 1,000 fetched eagerly it is slower.)

"First screen painted" is the first animation frame at which every tile that
intersects the viewport holds a loaded image (``img.complete`` and a non-zero
``naturalWidth``; in the viewer, the tile's decrypted ``<img>``). It is taken in
the page with ``performance.now()``, whose zero is the navigation's start, by a
script Playwright adds before the page's own (it runs outside the page's CSP).
The viewer's images then fade in for 0.25 s (viewer.css); that is not counted.

Runs alternate which page goes first; one warm-up of each is not counted.
Run: .venv/bin/python -m bench.viewer_first_paint [--photos 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import requests
from PIL import Image, ImageDraw, ImageFilter

from bench import common
from viewer import crypto

VIEWPORT = {"width": 1280, "height": 800}
PHOTO_SIZE = (800, 600)
SETTLE = 1.0  # seconds between page loads, for the previous one's requests to drain

# Polls once per animation frame until every tile in the viewport shows its image.
FIRST_SCREEN_JS = """
(() => {
  const SELECTOR = %s;
  const imageOf = (el) => (el.tagName === "IMG" ? el : el.querySelector("img"));
  const onScreen = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth;
  };
  const frame = () => {
    const tiles = [...document.querySelectorAll(SELECTOR)].filter(onScreen);
    const ready = tiles.length > 0 && tiles.every((el) => {
      const img = imageOf(el);
      return img && img.complete && img.naturalWidth > 0;
    });
    if (ready) {
      window.__firstScreen = { ms: performance.now(), tiles: tiles.length, timeOrigin: performance.timeOrigin };
    } else {
      requestAnimationFrame(frame);
    }
  };
  requestAnimationFrame(frame);
})();
"""

SELECTORS = {"encrypted": "#grid .tile", "plaintext": ".plain-grid img"}


# --- the album ----------------------------------------------------------------------


def photo(seed: int) -> Image.Image:
    """A distinct 800x600 picture: coloured shapes on a gradient, blotchy texture and grain."""
    rng = random.Random(seed)
    w, h = PHOTO_SIZE[0] // 5, PHOTO_SIZE[1] // 5
    top, bottom = (tuple(rng.randrange(256) for _ in range(3)) for _ in range(2))
    im = Image.composite(
        Image.new("RGB", (w, h), bottom), Image.new("RGB", (w, h), top), Image.linear_gradient("L").resize((w, h))
    )
    draw = ImageDraw.Draw(im)
    for _ in range(rng.randrange(5, 10)):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(6, 50)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        else:
            draw.polygon([(x, y), *((x + rng.randrange(-70, 70), y + rng.randrange(-50, 50)) for _ in range(2))], fill=colour)
    im = im.filter(ImageFilter.GaussianBlur(1.5)).resize(PHOTO_SIZE, Image.Resampling.BILINEAR)
    # Texture at two scales, so the thumbnails weigh what a photo's do (~18 KB of WebP).
    small = (PHOTO_SIZE[0] // 8, PHOTO_SIZE[1] // 8)
    coarse = Image.frombytes("RGB", small, rng.randbytes(small[0] * small[1] * 3)).resize(PHOTO_SIZE, Image.Resampling.BILINEAR)
    grain = Image.frombytes("L", PHOTO_SIZE, rng.randbytes(PHOTO_SIZE[0] * PHOTO_SIZE[1])).convert("RGB")
    return Image.blend(Image.blend(im, coarse, 0.3), grain, 0.06)


def _write_photo(args: tuple[Path, int]) -> None:
    folder, index = args
    exif = Image.Exif()
    exif[0x0132] = f"2025:{index % 12 + 1:02d}:{index % 28 + 1:02d} 12:{index % 60:02d}:00"  # DateTime
    photo(index).save(folder / f"IMG_{index:04d}.jpg", quality=85, exif=exif)


def make_photos(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(_write_photo, [(folder, i) for i in range(count)], chunksize=25))


def decrypt_thumbs(link: str, out: Path, title: str) -> list[dict]:
    """Every thumbnail of the album, decrypted through the public API as a recipient would, in album order."""
    server, rest = link.split("/a/")
    link_id, fragment = rest.split("#")
    keys = crypto.link_keys(crypto.decode_link_secret(fragment))
    http = requests.Session()
    api = f"{server}/api/links/{link_id}"
    challenge = http.post(f"{api}/challenge").json()["challenge"]
    unlocked = http.post(
        f"{api}/unlock", json={"challenge": challenge, "proof": crypto.sign_proof(keys, link_id, challenge)}
    ).json()
    http.headers["Authorization"] = f"Bearer {unlocked['access_token']}"
    album_id = unlocked["album_id"]
    album_key = crypto.unwrap_album_key(keys.wrap_key, crypto.b64d(unlocked["wrapped_album_key"]), link_id)
    out.mkdir(parents=True, exist_ok=True)
    thumbs: list[dict] = []
    after = None
    while True:
        page = http.get(f"{api}/files", params={"limit": 1000, **({"after": after} if after else {})}).json()
        for entry in page["files"]:
            file_id = entry["file_id"]
            fk = crypto.unwrap_file_key(album_key, crypto.b64d(entry["wrapped_key"]), album_id, file_id)
            blob = http.get(f"{api}/files/{file_id}/blobs/thumb")
            blob.raise_for_status()
            data = crypto.decrypt_blob_bytes(fk, file_id, "thumb", blob.content)
            name = f"{len(thumbs):04d}.webp"
            (out / name).write_bytes(data)
            with Image.open(out / name) as im:
                assert im.format == "WEBP"
                thumbs.append({"name": name, "width": im.width, "height": im.height, "bytes": len(data)})
        after = page["next"]
        if not after:
            break
    (out / "index.json").write_text(json.dumps({"title": title, "thumbs": thumbs}))
    return thumbs


# --- one page load ------------------------------------------------------------------


def load(browser, url: str, kind: str) -> dict:
    """Open url in a fresh context; the ms from navigation start to the first screen painted, and when requests ended."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(FIRST_SCREEN_JS % json.dumps(SELECTORS[kind]))
    finished: list = []
    context.on("requestfinished", lambda request: finished.append(request))
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: errors.extend([m.text] if m.type == "error" else []))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_function("() => window.__firstScreen", timeout=120_000, polling=100)
        result = page.evaluate("() => window.__firstScreen")
        # Playwright's request timing is in epoch ms; the page's clock starts at timeOrigin.
        requests_ = []
        for request in list(finished):  # noqa: PERF101 - a copy: Playwright appends to it from its event handler
            timing = request.timing
            start = timing["startTime"] - result["timeOrigin"]
            end = start + timing["responseEnd"] if timing["responseEnd"] >= 0 else None
            requests_.append({"url": request.url, "method": request.method, "start": start, "end": end})
        result["requests"] = requests_
    finally:
        context.close()
    if errors:
        raise SystemExit(f"Error: the {kind} page logged errors: {errors}")
    return result


def milestones(result: dict, kind: str) -> dict[str, float | None]:
    """When each step of a page load happened, in ms after navigation start (from its requests)."""
    reqs = [r for r in result["requests"] if r["end"] is not None]

    def ends(test) -> float | None:
        found = [r["end"] for r in reqs if test(r["url"], r["method"])]
        return min(found) if found else None

    def starts(test) -> float | None:
        found = [r["start"] for r in reqs if test(r["url"], r["method"])]
        return min(found) if found else None

    thumb = (lambda u, m: u.endswith("/blobs/thumb")) if kind == "encrypted" else (lambda u, m: "/bench/plain/" in u)
    return {
        "HTML received": ends(lambda u, m: "/a/" in u or "/bench/plain?" in u),
        "page's modules run, Worker started": starts(lambda u, m: u.endswith("/album-worker.js")),
        "libsodium loaded in the Worker": ends(lambda u, m: u.endswith("/libsodium-sumo.mjs")),
        "link unlocked (POST unlock answered)": ends(lambda u, m: u.endswith("/unlock")),
        "first page of the listing (200 files) received": ends(lambda u, m: "/files?" in u),
        "first thumbnail requested": starts(thumb),
        "first screen painted": result["ms"],
    }


def grid_columns(browser, link: str) -> int:
    """How many tiles the viewer puts in its first row at this viewport."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(link)
        page.wait_for_selector("#grid .grid-row", timeout=120_000)
        return page.evaluate("document.querySelector('#grid .grid-row').children.length")
    finally:
        context.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    title = f"{args.photos:,} photos"
    with common.workdir("paint") as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        make_photos(base / "photos", args.photos)
        made = time.perf_counter()
        env = {"BENCH_PLAIN_THUMBS": str(base / "plain")}
        with common.gunicorn(base / "data", env=env, app_spec="bench.plain_app:app") as url:
            owner = common.Owner(base / "keyring.json", url, base / "data")
            link = owner.publish(base / "photos", title)
            published = time.perf_counter()
            thumbs = decrypt_thumbs(link, base / "plain", title)
            thumb_kb = sum(t["bytes"] for t in thumbs) / len(thumbs) / 1000
            print(
                f"{len(thumbs):,} JPEG photos of {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, made in {made - started:.0f} s "
                f"and published with `fragment publish` in {published - made:.0f} s; "
                f"their thumbnails are {thumbs[0]['width']}x{thumbs[0]['height']} "
                f"WebP, {thumb_kb:.1f} KB on average.",
                flush=True,
            )
            with common.chromium() as browser:
                cols = grid_columns(browser, link)
                pages = {"encrypted": link, "plaintext": f"{url}/bench/plain?cols={cols}"}
                for kind in ("encrypted", "plaintext"):  # warm-up: the server's caches, not the browser's
                    load(browser, pages[kind], kind)
                    time.sleep(SETTLE)
                results: dict[str, list[dict]] = {"encrypted": [], "plaintext": []}
                for run in range(args.runs):
                    order = ("encrypted", "plaintext") if run % 2 == 0 else ("plaintext", "encrypted")
                    for kind in order:
                        results[kind].append(load(browser, pages[kind], kind))
                        time.sleep(SETTLE)
    report(results, args.runs)


def report(results: dict[str, list[dict]], runs: int) -> None:
    times = {kind: [r["ms"] for r in rs] for kind, rs in results.items()}
    tiles = {kind: sorted({r["tiles"] for r in rs}) for kind, rs in results.items()}
    base = common.median(times["plaintext"])
    print(
        f"Chromium at {VIEWPORT['width']}x{VIEWPORT['height']}, a fresh context (first visit) per load, "
        f"median of {runs} loads (min-max)\n"
    )
    print("| page | first screen painted | tiles on it | vs baseline |")
    print("|---|---:|---:|---:|")
    labels = {"plaintext": "plaintext `<img>`, same server (baseline)", "encrypted": "encrypted album viewer"}
    for kind in ("plaintext", "encrypted"):
        ms = common.median(times[kind])
        span = f"{min(times[kind]):.0f}-{max(times[kind]):.0f}"
        print(f"| {labels[kind]} | {ms:.0f} ms ({span}) | {'/'.join(map(str, tiles[kind]))} | {ms / base:.2f}x |")
    steps = {kind: [milestones(r, kind) for r in rs] for kind, rs in results.items()}
    print("\nWhen each step happened (median ms after navigation start):\n")
    print("| step | plaintext | encrypted |")
    print("|---|---:|---:|")
    for name in steps["encrypted"][0]:
        cells = []
        for kind in ("plaintext", "encrypted"):
            values = [v for s in steps[kind] if (v := s[name]) is not None]
            cells.append(f"{common.median(values):.0f}" if values else "")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
