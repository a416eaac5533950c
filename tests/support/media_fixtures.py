"""Generate real photos and videos for tests: EXIF-tagged JPEG, alpha PNG, HEIC, MP4.

Images are seeded noise over gradients, so they compress like photographs: any 64-byte
run from the middle of a file is unique, which keeps "is this plaintext in the
ciphertext?" searches meaningful. The seed comes from the file name, so two fixtures
with different names never share content and a given name always yields the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pillow_heif
from PIL import Image, ImageDraw, TiffImagePlugin

pillow_heif.register_heif_opener()

# Where the red marker block sits in the *stored* pixels of every generated JPEG, so
# orientation tests can check where it lands once the image is turned upright.
MARKER_FRACTION = 6  # the block covers 1/6 of the stored width and height
MARKER_COLOR = (255, 0, 0)

UNICODE_NAME = "Été à Zürich – ßpaß.jpg"


def has_ffmpeg() -> bool:
    """True when both ffmpeg and ffprobe are on PATH."""
    return bool(shutil.which("ffmpeg") and shutil.which("ffprobe"))


#: Set (to anything but "" or "0") where ffmpeg must be present, as in CI: then a
#: missing ffmpeg fails the video tests instead of skipping them.
REQUIRE_SERVICES_ENV = "FRAGMENT_REQUIRE_SERVICES"


def require_ffmpeg() -> None:
    """Skip the calling test without ffmpeg, or fail it when FRAGMENT_REQUIRE_SERVICES is set."""
    import pytest

    if has_ffmpeg():
        return
    message = "ffmpeg/ffprobe not on PATH (apt-get install -y ffmpeg)"
    if os.environ.get(REQUIRE_SERVICES_ENV, "") not in ("", "0"):
        pytest.fail(f"{message}, and {REQUIRE_SERVICES_ENV} is set", pytrace=False)
    pytest.skip(message)


def _seed(path: Path) -> int:
    """A stable per-file seed, derived from the file name."""
    return int.from_bytes(hashlib.sha256(Path(path).name.encode()).digest()[:8], "big")


def _photo(size: tuple[int, int], seed: int) -> Image.Image:
    """An RGB image of smooth gradients overlaid with seeded noise, like a photograph."""
    w, h = size
    rng = random.Random(seed)
    noise = Image.frombytes("RGB", size, rng.randbytes(w * h * 3))
    # Three differently oriented gradients make a colourful, non-repeating background.
    horizontal = Image.linear_gradient("L").rotate(90).resize(size)
    vertical = Image.linear_gradient("L").resize(size)
    radial = Image.radial_gradient("L").resize(size)
    background = Image.merge("RGB", (horizontal, vertical, radial))
    return Image.blend(background, noise, 0.35)


def _exif(orientation=None, taken=None, make=None, model=None, gps=None) -> Image.Exif:
    """Build an Exif block with the given tags (None leaves a tag out)."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal, "YYYY:MM:DD HH:MM:SS"
    if gps is not None:
        lat, lon = gps
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[0x0000] = b"\x02\x03\x00\x00"  # GPSVersionID 2.3
        gps_ifd[0x0001] = "N" if lat >= 0 else "S"
        gps_ifd[0x0002] = _dms(abs(lat))
        gps_ifd[0x0003] = "E" if lon >= 0 else "W"
        gps_ifd[0x0004] = _dms(abs(lon))
    return exif


def _dms(value: float) -> tuple:
    """Decimal degrees as the three EXIF rationals (degrees, minutes, seconds)."""
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = Fraction((value - degrees - minutes / 60) * 3600).limit_denominator(10000)
    rational = TiffImagePlugin.IFDRational
    return (rational(degrees, 1), rational(minutes, 1), rational(seconds.numerator, seconds.denominator))


def make_jpeg_with_orientation(
    path,
    size=(640, 480),
    orientation=6,
    taken="2024:06:01 12:30:00",
    make="Canon",
    model="EOS R6",
    gps=None,
) -> Path:
    """Write a photo-like JPEG with real EXIF; a red block marks the stored top-left corner."""
    path = Path(path)
    im = _photo(size, _seed(path))
    w, h = size
    ImageDraw.Draw(im).rectangle((0, 0, w // MARKER_FRACTION - 1, h // MARKER_FRACTION - 1), fill=MARKER_COLOR)
    exif = _exif(orientation=orientation, taken=taken, make=make, model=model, gps=gps)
    im.save(path, format="JPEG", quality=90, exif=exif.tobytes())
    return path


def make_png(path, size=(300, 200)) -> Path:
    """Write an RGBA PNG whose left half fades to fully transparent."""
    path = Path(path)
    im = _photo(size, _seed(path)).convert("RGBA")
    w, h = size
    alpha = Image.linear_gradient("L").rotate(90).resize(size)  # 0 on the left, 255 on the right
    alpha.paste(0, (0, 0, max(1, w // 4), h))  # a fully transparent strip for sure
    im.putalpha(alpha)
    im.save(path, format="PNG")
    return path


def make_heic(path, size=(400, 300)) -> Path:
    """Write a real HEIC (HEVC-coded) photo with EXIF, using pillow-heif's bundled x265."""
    path = Path(path)
    im = _photo(size, _seed(path))
    exif = _exif(taken="2023:12:24 18:05:00", make="Apple", model="iPhone 15 Pro")
    im.save(path, format="HEIF", quality=85, exif=exif.tobytes())
    return path


def run_ffmpeg(*args: str | Path, timeout: int = 120) -> None:
    """Run ffmpeg without stdin, quiet but for errors, overwriting its output; CalledProcessError if it fails.

    A str argument is split on whitespace, so options read as on a command line (none of
    ours holds a space); a Path stays one argument, whatever its name holds.
    """
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    for arg in args:
        cmd += [str(arg)] if isinstance(arg, Path) else arg.split()
    subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)


def make_mp4(path, seconds=2) -> Path:
    """Write a small H.264 + AAC MP4 (320x240, a 440 Hz tone) with ffmpeg's test sources."""
    path = Path(path)
    if not has_ffmpeg():
        raise RuntimeError("ffmpeg and ffprobe are needed to make test videos: apt-get install -y ffmpeg")
    run_ffmpeg(
        f"-f lavfi -i testsrc=size=320x240:rate=25:duration={seconds}",
        f"-f lavfi -i sine=frequency=440:duration={seconds}",
        "-c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -b:a 64k -shortest",
        "-metadata creation_time=2024-06-01T12:30:00Z -movflags +faststart",
        path,
    )
    return path


def make_long_mp4(path: Path, seconds: int = 180) -> Path:
    """An H.264 + AAC MP4 of about 1 Mbit/s (noise does not compress): ~22 MB for 180 s, moov first.

    Large enough that a player fetches it in many Range requests and does not buffer it all.
    """
    path = Path(path)
    run_ffmpeg(
        f"-f lavfi -i testsrc2=size=320x240:rate=25:duration={seconds}",
        f"-f lavfi -i sine=frequency=440:duration={seconds}",
        "-vf noise=alls=40:allf=t -c:v libx264 -preset ultrafast -b:v 900k -maxrate 900k -bufsize 900k",
        "-pix_fmt yuv420p -c:a aac -b:a 64k -shortest -movflags +faststart",
        path,
        timeout=300,
    )
    return path


def make_album_dir(dirpath) -> dict[str, Path]:
    """Fill `dirpath` with the round-trip album: JPEG (orientation 6), PNG, HEIC, MP4, unicode name."""
    dirpath = Path(dirpath)
    dirpath.mkdir(parents=True, exist_ok=True)
    files = {
        "IMG_0001.jpg": lambda p: make_jpeg_with_orientation(p, orientation=6, gps=(48.8584, 2.2945)),
        "transparent.png": make_png,
        "IMG_0002.heic": make_heic,
        "clip.mp4": make_mp4,
        UNICODE_NAME: lambda p: make_jpeg_with_orientation(p, size=(500, 400), orientation=1),
    }
    return {name: make(dirpath / name) for name, make in files.items()}


def make_mp4_with_free_box(path, payload: bytes, seconds=1) -> Path:
    """A playable MP4 (make_mp4) with `payload` appended in a `free` box, which players skip (ISO/IEC 14496-12 8.1.2)."""
    path = make_mp4(path, seconds=seconds)
    with open(path, "ab") as out:
        out.write((8 + len(payload)).to_bytes(4, "big") + b"free" + payload)
    return path
