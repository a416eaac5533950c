"""A guest's upload of 50 photos: the encrypted album page against a plaintext upload.

Starts gunicorn from the Procfile, serving ``bench.plain_app:app`` (the real app plus
a plaintext upload page), publishes a one-photo album with the owner's command line,
and makes 50 phone-sized photos once (4000x3000 JPEG, quality 90, with EXIF: about
3.7 MB each). Then, in Debian's Chromium, each in a fresh context and page:

* **encrypted**: the album link, opened by a guest whose name the page already knows
  (``fragment:<link_id>:guest-name`` in localStorage, as after their first upload).
  The 50 files are chosen with the page's own ``#file-input``; static/js/upload/uploads.js
  prepares each in the upload Worker (EXIF, a 480 px JPEG thumb and a 2048 px JPEG
  preview, encryption) and sends it as docs/api.md says (reserve, PUT parts,
  complete), three files at a time. Each run has a fresh link (``fragment links add
  --allow-uploads``), so the guest quota of one run never touches another.
* **plaintext** (baseline): ``/bench/plain-upload`` on the same server, where the
  same 50 files are chosen with the same kind of input and each is sent as it is,
  its ``File`` as the body of one ``PUT``, three at a time, into the same blob store.

The time runs in the page, with ``performance.now()``, from the input's ``change``
event (the files chosen) until the page's progress line says "50 of 50 files added",
that is when the server has answered for the last file: a script Playwright adds
before the page's own (outside the page's CSP) records both. Alongside, the CPU time
the Chromium and gunicorn processes used meanwhile (from /proc), and what was sent.

Runs alternate which page goes first; one warm-up of each (5 files) is not counted.
Run: .venv/bin/python -m bench.upload_throughput [--photos 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from bench import common
from tests.support.media_fixtures import _exif

PHOTO_SIZE = (4000, 3000)  # 12 MP, a phone's
QUALITY = 90
THUMB_EDGE, PREVIEW_EDGE = 480, 2048  # static/js/upload/prepare.js
GUEST = "Bench Guest"
WARMUP_FILES = 5
SETTLE = 1.0  # seconds of quiet before choosing the files
TIMEOUT_MS = 600_000

# Records when the files are chosen and when the page says they are all added.
TIMING_JS = """
(() => {
  const DONE = %s;
  const state = (window.__upload = { start: null, end: null, failed: null });
  document.addEventListener("change", (event) => {
    if (event.target.id === "file-input" && state.start === null) state.start = performance.now();
  }, true);
  new MutationObserver(() => {
    if (state.start === null || state.end !== null) return;
    const summary = document.querySelector("#uploads [data-slot=summary]");
    if (!summary) return;
    if (summary.textContent.startsWith(DONE)) state.end = performance.now();
    else if (summary.textContent.includes("not added")) state.failed = summary.textContent;
  }).observe(document, { subtree: true, childList: true, characterData: true });
})();
"""

# upload-worker.js's drawing of one photo, step by step with the same code
# (static/js/upload/draw.js), for the files of a file input: where a photo's preparation goes.
STEPS_JS = """
async (input) => {
  const draw = await import("/static/js/upload/draw.js");
  const { PREVIEW_EDGE, THUMB_EDGE } = await import("/static/js/upload/prepare.js");
  const steps = [];
  for (const file of input.files) {
    const type = draw.imageTypeFor(file.type === "image/jpeg");
    const t0 = performance.now();
    const bitmap = await createImageBitmap(file);
    const t1 = performance.now();
    await draw.render(bitmap, PREVIEW_EDGE, type, draw.PREVIEW_QUALITY);
    const t2 = performance.now();
    await draw.render(bitmap, THUMB_EDGE, type, draw.THUMB_QUALITY);
    const t3 = performance.now();
    bitmap.close();
    steps.push({ type, decode: t1 - t0, preview: t2 - t1, thumb: t3 - t2 });
  }
  return steps;
}
"""


# --- the photos ---------------------------------------------------------------------


def photo(seed: int) -> Image.Image:
    """A distinct 12 MP picture that compresses like a photo: gradients, blotchy texture, grain."""
    rng = random.Random(seed)
    w, h = PHOTO_SIZE
    channels = [Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270))).resize(PHOTO_SIZE) for _ in range(2)]
    background = Image.merge("RGB", [*channels, Image.radial_gradient("L").resize(PHOTO_SIZE)])
    small = (w // 8, h // 8)
    coarse = Image.frombytes("RGB", small, rng.randbytes(small[0] * small[1] * 3)).resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
    grain = Image.frombytes("L", PHOTO_SIZE, rng.randbytes(w * h)).convert("RGB")
    return Image.blend(Image.blend(background, coarse, 0.3), grain, 0.06)


def _write_photo(args: tuple[Path, int]) -> Path:
    folder, index = args
    taken = f"2025:{index % 12 + 1:02d}:{index % 28 + 1:02d} 14:{index % 60:02d}:00"
    gps = (45.764 + index / 1000, 4.8357) if index % 2 == 0 else None
    exif = _exif(orientation=1, taken=taken, make="Google", model="Pixel 8", gps=gps)
    path = folder / f"PXL_2025_{index:04d}.jpg"
    photo(index).save(path, format="JPEG", quality=QUALITY, exif=exif.tobytes())
    return path


def make_photos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(_write_photo, [(folder, i) for i in range(count)]))


# --- CPU time ---------------------------------------------------------------------------


def cpu_seconds() -> dict[str, float]:
    """User+system CPU seconds so far of this process's live descendants: Chromium's and gunicorn's."""
    tick = os.sysconf("SC_CLK_TCK")
    table: dict[int, tuple[int, float, bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # proc(5): from field 3, "state", on
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, cmdline)
    totals = {"browser": 0.0, "server": 0.0}
    for pid, (_, cpu, cmdline) in table.items():
        ancestor = pid
        while ancestor in table and ancestor != os.getpid():
            ancestor = table[ancestor][0]
        if ancestor != os.getpid():
            continue
        if b"gunicorn" in cmdline:
            totals["server"] += cpu
        elif b"chromium" in cmdline:
            totals["browser"] += cpu
    return totals


# --- one upload ---------------------------------------------------------------------


def upload(browser, url: str, files: list[Path], kind: str, link_id: str | None = None) -> dict:
    """Open url in a fresh context, choose the files, and time until every one is added."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    done = f"{len(files)} of {len(files)} {'file' if len(files) == 1 else 'files'} added"
    context.add_init_script(TIMING_JS % json.dumps(done))
    errors: list[str] = []
    sent: list = []
    page = context.new_page()
    page.on("console", lambda m: errors.extend([m.text] if m.type == "error" else []))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: sent.append((time.monotonic(), r.method)))
    try:
        page.goto(url)
        if kind == "encrypted":
            # The guest gave their name before, on this device (upload-ui.js keeps it per link).
            page.evaluate("([key, name]) => localStorage.setItem(key, name)", [f"fragment:{link_id}:guest-name", GUEST])
            page.locator("#add-photos").wait_for(state="visible", timeout=60_000)
        page.wait_for_load_state("networkidle")
        time.sleep(SETTLE)
        before, chosen = cpu_seconds(), time.monotonic()
        page.locator("#file-input").set_input_files([str(f) for f in files])
        page.wait_for_function(
            "() => window.__upload.end !== null || window.__upload.failed || window.__plainUpload?.error",
            timeout=TIMEOUT_MS,
            polling=250,
        )
        after = cpu_seconds()
        result = page.evaluate("() => ({ ...window.__upload, plain: window.__plainUpload || null })")
        if result["failed"]:
            raise SystemExit(f"Error: the {kind} upload failed: {result['failed']}")
        if result["plain"] and result["plain"].get("error"):
            raise SystemExit(f"Error: the plaintext upload failed: {result['plain']['error']}")
        result["cpu"] = {name: after[name] - before[name] for name in after}
        result["requests"] = sum(1 for at, method in sent if at >= chosen and method in ("PUT", "POST"))
    finally:
        context.close()
    if errors:
        raise SystemExit(f"Error: the {kind} page logged errors: {errors}")
    result["ms"] = result["end"] - result["start"]
    return result


def preparation_steps(browser, url: str, files: list[Path]) -> dict[str, float]:
    """Median ms of each drawing step of upload-worker.js for these files, one after another, in a page."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.evaluate("() => document.body.insertAdjacentHTML('beforeend', '<input type=file id=steps multiple>')")
        page.locator("#steps").set_input_files([str(f) for f in files])
        steps = page.locator("#steps").evaluate(STEPS_JS, timeout=TIMEOUT_MS)
    finally:
        context.close()
    medians = {name: common.median([s[name] for s in steps]) for name in ("decode", "preview", "thumb")}
    return {**medians, "type": steps[0]["type"].split("/")[1].upper()}


def stored(data_dir: Path, link_id: str) -> dict[str, int]:
    """How many complete files a link's guest added, and the bytes of each kind of blob."""
    db = sqlite3.connect(data_dir / "fragment.db")
    try:
        row = db.execute(
            "SELECT COUNT(*), SUM(thumb_size), SUM(preview_size), SUM(original_size) FROM files WHERE via_link = ? AND complete",
            (link_id,),
        ).fetchone()
    finally:
        db.close()
    return dict(zip(("files", "thumb", "preview", "original"), (v or 0 for v in row), strict=True))


@contextmanager
def server_errors_shown(base: Path):
    """On a failed run, print what the server logged about it (a 500's traceback)."""
    try:
        yield
    except SystemExit:
        for log in base.glob("gunicorn-*.log"):
            lines = log.read_text(errors="replace").splitlines()
            print(
                "\n".join(line for line in lines if " 500 " in line or not line.startswith("127.0.0.1"))[-5000:], file=sys.stderr
            )
        raise


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with common.workdir("upload") as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        photos = make_photos(base / "photos", args.photos)
        made = time.perf_counter()
        album = base / "album"
        album.mkdir()
        photo(-1).resize((800, 600)).save(album / "cover.jpg", quality=85)
        data_dir = base / "data"
        with common.gunicorn(data_dir, app_spec="bench.plain_app:app") as url:
            owner = common.Owner(base / "keyring.json", url, data_dir)
            title = "Upload benchmark"
            owner.publish(album, title)

            def guest_link() -> tuple[str, str]:
                link = owner("links", "add", title, "--allow-uploads").strip().splitlines()[-1]
                return link, link.split("/a/")[1].split("#")[0]

            plain_url = f"{url}/bench/plain-upload"
            original_bytes = sum(p.stat().st_size for p in photos)
            results: dict[str, list[dict]] = {"encrypted": [], "plaintext": []}
            with common.chromium() as browser, server_errors_shown(base):
                # Warm-up: gunicorn's workers, the disk, Chromium's caches of compiled code.
                link, link_id = guest_link()
                upload(browser, link, photos[:WARMUP_FILES], "encrypted", link_id)
                upload(browser, plain_url, photos[:WARMUP_FILES], "plaintext")
                for run in range(args.runs):
                    order = ("plaintext", "encrypted") if run % 2 == 0 else ("encrypted", "plaintext")
                    for kind in order:
                        time.sleep(SETTLE)
                        if kind == "encrypted":
                            link, link_id = guest_link()
                            result = upload(browser, link, photos, kind, link_id)
                            result["stored"] = stored(data_dir, link_id)
                            if result["stored"]["files"] != len(photos):
                                raise SystemExit(
                                    f"Error: the server holds {result['stored']['files']} complete files, not {len(photos)}"
                                )
                        else:
                            result = upload(browser, plain_url, photos, kind)
                            if result["plain"] != {"files": len(photos), "bytes": original_bytes}:
                                raise SystemExit(
                                    f"Error: the plaintext upload stored {result['plain']}, "
                                    f"not {len(photos)} files of {original_bytes} bytes"
                                )
                        results[kind].append(result)
                        # Other work on the machine stretches the times (not the CPU figures): say how busy it was.
                        load = os.getloadavg()[0]
                        print(
                            f"  run {run + 1} {kind}: {result['ms'] / 1000:.1f} s (load average {load:.1f})",
                            file=sys.stderr,
                            flush=True,
                        )
                steps = preparation_steps(browser, plain_url, photos[:WARMUP_FILES])
    print(
        f"{len(photos)} JPEG photos of {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} (quality {QUALITY}, with EXIF), "
        f"{original_bytes / len(photos) / 1e6:.1f} MB each, {original_bytes / 1e6:.0f} MB in all, "
        f"made in {made - started:.0f} s. "
        f"Gunicorn on loopback, {os.cpu_count()} cores.\n",
        flush=True,
    )
    report(results, len(photos), original_bytes, args.runs, steps)


def report(results: dict[str, list[dict]], count: int, original_bytes: int, runs: int, steps: dict[str, float]) -> None:
    times = {kind: [r["ms"] for r in rs] for kind, rs in results.items()}
    base = common.median(times["plaintext"])
    print(
        f"Chromium, a fresh context per run, from choosing the files until the page says all {count} are added; "
        f"median of {runs} runs (min-max)\n"
    )
    print("| upload | total time | MB/s of originals | per photo | vs baseline |")
    print("|---|---:|---:|---:|---:|")
    labels = {
        "plaintext": "plaintext `PUT` of each file, same server (baseline)",
        "encrypted": "encrypted guest upload (album page)",
    }
    for kind in ("plaintext", "encrypted"):
        ms = common.median(times[kind])
        span = f"{min(times[kind]) / 1000:.1f}-{max(times[kind]) / 1000:.1f}"
        rate = original_bytes / 1e6 / (ms / 1000)
        print(
            f"| {labels[kind]} | {ms / 1000:.1f} s ({span}) | {rate:.{1 if rate < 10 else 0}f} "
            f"| {ms / count:.0f} ms | {ms / base:.2f}x |"
        )

    def med(kind: str, get) -> float:
        return common.median([get(r) for r in results[kind]])

    blobs = results["encrypted"][0]["stored"]
    print("\nWhere it goes (per run, median):\n")
    print("| | plaintext | encrypted |")
    print("|---|---:|---:|")
    print(
        f"| bytes sent | {original_bytes / 1e6:.0f} MB | {(blobs['thumb'] + blobs['preview'] + blobs['original']) / 1e6:.0f} MB "
        f"(originals {blobs['original'] / 1e6:.0f}, previews {blobs['preview'] / 1e6:.0f}, thumbs {blobs['thumb'] / 1e6:.1f}) |"
    )
    print(
        f"| upload requests (PUT, POST) | {med('plaintext', lambda r: r['requests']):.0f} "
        f"| {med('encrypted', lambda r: r['requests']):.0f} |"
    )
    for who, label in (("browser", "CPU time in Chromium"), ("server", "CPU time in gunicorn")):
        cells = [f"{common.median([r['cpu'][who] for r in results[kind]]):.1f} s" for kind in ("plaintext", "encrypted")]
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    # How much of the machine the browser kept busy: one Worker draws and encrypts every file.
    cells = [
        f"{common.median([r['cpu']['browser'] / (r['ms'] / 1000) for r in results[kind]]):.2f}"
        for kind in ("plaintext", "encrypted")
    ]
    print(f"| cores busy in Chromium (its CPU time / total time) | {cells[0]} | {cells[1]} |")

    per_photo = common.median(times["encrypted"]) / count
    print(
        f"\nDrawing one photo as upload-worker.js does, one step after another on one thread (median of {WARMUP_FILES} photos): "
        f"decoding the JPEG {steps['decode']:.0f} ms, the {PREVIEW_EDGE} px {steps['type']} preview {steps['preview']:.0f} ms, "
        f"the {THUMB_EDGE} px {steps['type']} thumb {steps['thumb']:.0f} ms: "
        f"{steps['decode'] + steps['preview'] + steps['thumb']:.0f} ms, "
        f"against {per_photo:.0f} ms per photo in the encrypted upload."
    )


if __name__ == "__main__":
    main()
