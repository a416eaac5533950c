"""Regenerate docs/screenshot.png: the album viewer showing a small demo album.

Makes a dozen landscape-like pictures with ``make_photos`` from scripts/demo.py (its
five scenes, plus mirrored, recoloured and recropped variants of them), and a short
video (a slow zoom into one scene) when ffmpeg is installed; publishes them with
the owner's command line to gunicorn started from the Procfile; opens the link in
Debian's Chromium at 1280x800 and takes the screenshot once every thumbnail on
screen has been decrypted and has faded in.
Run: .venv/bin/python -m bench.screenshot [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from PIL import Image, ImageOps

from bench import common
from scripts.demo import make_photos
from tests.support.media_fixtures import run_ffmpeg

VIEWPORT = {"width": 1280, "height": 800}
TITLE = "A summer in the hills"

# (new name, scene from make_photos, mirror, hue shift of 256, crop box as fractions, EXIF date)
VARIANTS = [
    ("Ridge at first light.jpg", "Sunrise over the hills.jpg", True, 12, (0.0, 0.1, 1.0, 0.9), "2026:04:10 06:10:00"),
    ("Violet evening.jpg", "Blue hour.jpg", True, 0, (0.2, 0.0, 0.7, 1.0), "2026:05:11 21:40:00"),
    ("Meadow, late spring.jpg", "Midday meadow.jpg", True, 20, (0.0, 0.0, 1.0, 1.0), "2026:06:12 13:05:00"),
    ("Sand and sky.jpg", "Dünen am Abend.jpg", True, 240, (0.1, 0.15, 0.9, 0.85), "2026:07:13 19:20:00"),
    ("Lake in the morning.jpg", "Lake, portrait.jpg", True, 10, (0.0, 0.2, 1.0, 0.8), "2026:08:14 08:45:00"),
    ("Green valley.jpg", "Sunrise over the hills.jpg", False, 0, (0.25, 0.2, 0.85, 1.0), "2026:06:20 10:30:00"),
    ("Blue hour, wide.jpg", "Blue hour.jpg", True, 0, (0.0, 0.12, 1.0, 0.78), "2026:07:21 21:50:00"),
]


def make_album(folder: Path) -> None:
    """make_photos' five scenes, seven variants of them, and a video if ffmpeg is there."""
    make_photos(folder)
    for name, scene, mirror, hue, (left, top, right, bottom), taken in VARIANTS:
        with Image.open(folder / scene) as source:
            im = source.convert("RGB")
        w, h = im.size
        im = im.crop((int(left * w), int(top * h), int(right * w), int(bottom * h)))
        if mirror:
            im = ImageOps.mirror(im)
        if hue:
            hh, s, v = im.convert("HSV").split()
            im = Image.merge("HSV", (hh.point(lambda x: (x + hue) % 256), s, v)).convert("RGB")  # noqa: B023 - used at once
        exif = Image.Exif()
        exif[0x0132] = taken  # DateTime
        im.save(folder / name, quality=88, exif=exif)
    if shutil.which("ffmpeg") and shutil.which("ffprobe"):
        # A slow zoom into the meadow: a real H.264 video, with a poster frame worth showing.
        run_ffmpeg(
            "-loop 1 -i",
            folder / "Midday meadow.jpg",
            "-vf scale=1440:-2,zoompan=z='1+0.002*on':d=1:s=960x640:fps=25 -t 6",
            "-c:v libx264 -preset veryfast -pix_fmt yuv420p -movflags +faststart",
            "-metadata creation_time=2026-06-15T12:00:00Z",
            folder / "Meadow in the wind.mp4",
            timeout=300,
        )
    else:
        print("ffmpeg not found: the album has no video", file=sys.stderr)


# Resolves once every tile in the viewport shows its decrypted image.
PAINTED = """
() => {
  const tiles = [...document.querySelectorAll('#grid .tile')].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.bottom > 0 && r.top < innerHeight;
  });
  return tiles.length > 0 && tiles.every((el) => {
    const img = el.querySelector('img');
    return img && img.complete && img.naturalWidth > 0;
  });
}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=common.ROOT / "docs" / "screenshot.png")
    args = parser.parse_args(argv)
    with common.workdir("screenshot") as tmp:
        base = Path(tmp)
        make_album(base / "photos")
        with common.gunicorn(base / "data") as url:
            link = common.Owner(base / "keyring.json", url, base / "data").publish(base / "photos", TITLE)
            with common.chromium() as browser:
                context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
                page = context.new_page()
                errors: list[str] = []
                page.on("console", lambda m: errors.extend([m.text] if m.type == "error" else []))
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(link)
                page.wait_for_function(PAINTED, timeout=60_000)
                page.wait_for_timeout(800)  # the thumbnails' fade-in (viewer.css)
                if errors:
                    raise SystemExit(f"Error: the page logged errors: {errors}")
                page.screenshot(path=str(args.out))
                context.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
