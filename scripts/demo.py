"""`make demo`: start the server on the defaults, publish a demo album, print its link.

Runs gunicorn from the Procfile's web line (so the demo is what production runs),
makes a folder of demo photos with Pillow, and publishes it with the owner's
command line, exactly as a user would. The owner keyring of the demo lives in the
data folder, so the demo leaves nothing in your home folder.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from PIL import Image, ImageDraw, ImageFilter

from viewer.server import procfile

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def make_photos(folder: Path) -> None:
    """A few landscape-like pictures: sky gradient, sun, hills, with EXIF dates."""
    folder.mkdir(parents=True, exist_ok=True)
    scenes = [
        ("Sunrise over the hills.jpg", (255, 170, 90), (90, 140, 220), (40, 90, 50)),
        ("Blue hour.jpg", (30, 40, 110), (200, 120, 160), (20, 30, 40)),
        ("Midday meadow.jpg", (120, 190, 255), (235, 245, 255), (70, 150, 60)),
        ("Dünen am Abend.jpg", (250, 120, 60), (250, 210, 120), (190, 150, 90)),
        ("Lake, portrait.jpg", (160, 200, 240), (250, 250, 255), (40, 80, 120)),
    ]
    rng = random.Random(7)
    for index, (name, top, bottom, ground) in enumerate(scenes):
        portrait = "portrait" in name
        width, height = (1200, 1800) if portrait else (2400, 1600)
        image = Image.new("RGB", (width, height))
        draw = ImageDraw.Draw(image)
        for y in range(height):
            t = y / height
            draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
        sun = (int(width * rng.uniform(0.2, 0.8)), int(height * rng.uniform(0.2, 0.45)))
        radius = int(min(width, height) * 0.08)
        draw.ellipse([sun[0] - radius, sun[1] - radius, sun[0] + radius, sun[1] + radius], fill=(255, 240, 200))
        for layer in range(3):
            base = height * (0.6 + 0.12 * layer)
            shade = tuple(max(0, c - 25 * layer) for c in ground)
            points = [
                (x, base + math.sin(x / width * math.tau * (layer + 1) + index) * height * 0.05) for x in range(0, width + 40, 40)
            ]
            draw.polygon([(0, height), *points, (width, height)], fill=shade)
        image = image.filter(ImageFilter.GaussianBlur(1))
        exif = Image.Exif()
        exif[0x0132] = f"2026:0{index + 4}:1{index} 0{index + 6}:30:00"
        image.save(folder / name, quality=88, exif=exif)


def main() -> int:
    data = Path(os.environ.get("FRAGMENT_DATA_DIR", ROOT / "data")).resolve()
    port = os.environ.get("PORT", "8000")
    host = os.environ.get("HOST", "127.0.0.1")
    url = os.environ.get("FRAGMENT_PUBLIC_URL", f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "FRAGMENT_DATA_DIR": str(data),
        "FRAGMENT_KEYRING": str(data / "demo-keyring.json"),
        "PORT": port,
        "HOST": host,
    }
    server = subprocess.Popen(["sh", "-c", "exec " + procfile.command()], cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(300):
            if server.poll() is not None:
                print(f"Error: the server did not start (is port {port} taken? Try PORT=8001 make demo).", file=sys.stderr)
                return 1
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        link_file = data / "demo-link.txt"
        link = link_file.read_text().strip() if link_file.exists() else ""
        link_id = link.split("/a/")[-1].split("#")[0] if link else ""
        if not link or requests.get(f"{url}/api/links/{link_id}", timeout=5).status_code != 200:
            token = subprocess.run(
                [BIN / "flask", "--app", "app", "create-owner-token"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            subprocess.run([BIN / "fragment", "login", url, "--token-stdin"], input=token, text=True, env=env, check=True)
            photos = data / "demo-photos"
            make_photos(photos)
            published = subprocess.run(
                [BIN / "fragment", "publish", str(photos), "--title", "Demo album", "--allow-uploads", "--server", url],
                env=env,
                check=True,
                stdout=subprocess.PIPE,
                text=True,
            )
            link = published.stdout.strip().splitlines()[-1]
            link_file.write_text(link + "\n")
        print("\n  Fragment is running. The demo album's link (the key is after the #):\n")
        print(f"  {link}\n")
        print("  Open it in a browser: it decrypts there, and guests can add photos with Add photos.")
        print(f"  Or from the command line:  {BIN / 'fragment'} open '{link}' --out demo-download")
        invitation = subprocess.run(
            [BIN / "flask", "--app", "app", "accounts", "invite"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        print("  To make and manage albums in the browser, create an account (a one-time invitation):")
        print(f"  {url}/signup?invitation={invitation}\n")
        print("  Stop the server with Ctrl-C.\n", flush=True)
        return server.wait()
    except subprocess.CalledProcessError as exc:
        print(f"Error: {' '.join(map(str, exc.cmd[:3]))} failed (exit {exc.returncode}).", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
