"""Turn one local photo or video into what the owner's command line encrypts and uploads.

This module is pure: no Flask, no network, no crypto. `prepare()` reads a file, pulls out
the metadata we may show (dimensions, date, camera, location) and renders two WebP images,
a grid-sized `thumb` and a screen-sized `preview`. Those are what recipients see when
downloads are off, so they carry no metadata at all: location and camera reach a
recipient only through the encrypted metadata the owner chooses to share.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

import pillow_heif
from PIL import Image, ImageCms, ImageOps

# Registered once at import so that Image.open() reads .heic/.heif like any other format.
pillow_heif.register_heif_opener()

THUMB_SIZE = 480
PREVIEW_SIZE = 2048
THUMB_QUALITY = 75
PREVIEW_QUALITY = 82
WEBP = "image/webp"

# Timeouts for ffprobe/ffmpeg: generous for large local files, but a hung decoder must
# not hang the whole publish.
PROBE_TIMEOUT = 60
FRAME_TIMEOUT = 120

MIME_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    # .m4v is an MP4 container; "video/mp4" lets every browser play it, whereas Apple's
    # unregistered "video/x-m4v" is refused by some.
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
}
PHOTO_EXTENSIONS = frozenset(s for s, m in MIME_TYPES.items() if m.startswith("image/"))
VIDEO_EXTENSIONS = frozenset(s for s, m in MIME_TYPES.items() if m.startswith("video/"))

# EXIF tag numbers (TIFF/EXIF 2.3).
_ORIENTATION = 0x0112
_MAKE = 0x010F
_MODEL = 0x0110
_DATETIME = 0x0132
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 0x9003
_DATETIME_DIGITIZED = 0x9004
_OFFSET_TIME = 0x9010
_OFFSET_TIME_ORIGINAL = 0x9011
_OFFSET_TIME_DIGITIZED = 0x9012
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4


class MediaError(Exception):
    """A file could not be read or decoded; the message names the file."""


@dataclass
class Prepared:
    """Everything the uploader needs from one media file, ready to encrypt.

    The fields other than the two images become the file metadata of docs/format.md
    under the same names; the uploader adds "name", "size" and, for guests, "uploader".
    """

    kind: str  # "photo" or "video", the metadata's "kind"
    mime: str
    width: int | None
    height: int | None
    duration: float | None
    taken_at: str | None
    camera: str | None
    location: tuple[float, float] | None
    thumb: bytes
    thumb_type: str
    preview: bytes
    preview_type: str


def is_media(path: Path) -> bool:
    """Tell by name alone whether `path` is a photo or video we can publish."""
    path = Path(path)
    # "._IMG_0001.jpg" files are macOS AppleDouble resource forks, never pictures.
    if path.name.startswith("._"):
        return False
    return path.suffix.lower() in PHOTO_EXTENSIONS | VIDEO_EXTENSIONS


def prepare(path: Path) -> Prepared:
    """Read one photo or video and render its metadata, thumb and preview."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PHOTO_EXTENSIONS:
        return _prepare_image(path)
    if suffix in VIDEO_EXTENSIONS:
        return _prepare_video(path)
    raise MediaError(f"{path}: not a supported photo or video (unknown extension {suffix!r})")


# --- photos -----------------------------------------------------------------------------


def _prepare_image(path: Path) -> Prepared:
    """Decode a photo, read its EXIF and render upright, metadata-free WebPs."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            orientation = exif.get(_ORIENTATION, 1)
            width, height = im.size
            # Rotations by 90 degrees (EXIF 5-8) swap the displayed dimensions.
            if orientation in (5, 6, 7, 8):
                width, height = height, width
            _draft(im, PREVIEW_SIZE)
            im.load()
            upright = ImageOps.exif_transpose(im)
            preview_im = _render_ready(upright, PREVIEW_SIZE)
    except MediaError:
        raise
    except Exception as exc:  # Pillow signals bad input with many types; all mean "unreadable".
        raise MediaError(f"{path}: cannot decode image: {exc}") from exc

    thumb_im = _render_ready(preview_im, THUMB_SIZE)
    return Prepared(
        kind="photo",
        mime=MIME_TYPES[path.suffix.lower()],
        width=width,
        height=height,
        duration=None,
        taken_at=_exif_taken_at(exif),
        camera=_exif_camera(exif),
        location=_exif_location(exif),
        thumb=_webp(thumb_im, THUMB_QUALITY),
        thumb_type=WEBP,
        preview=_webp(preview_im, PREVIEW_QUALITY),
        preview_type=WEBP,
    )


def _draft(im: Image.Image, size: int) -> None:
    """Let the JPEG decoder downscale by 1/2..1/8 while the longest edge stays >= size."""
    if im.format != "JPEG":
        return
    w, h = im.size
    longest = max(w, h)
    if longest <= size:
        return
    # draft() keeps both dimensions >= the request, so ask for the aspect-correct box
    # whose longest edge is `size` (a square box would forbid any reduction of panoramas).
    im.draft(None, (math.ceil(w * size / longest), math.ceil(h * size / longest)))


def _render_ready(im: Image.Image, size: int) -> Image.Image:
    """Return an sRGB RGB/RGBA copy of `im` whose longest edge is at most `size`."""
    im = _normalize_mode(im)
    out = im.copy()
    # thumbnail() only ever shrinks, so small images are never upscaled.
    out.thumbnail((size, size), Image.Resampling.LANCZOS)
    out.info = dict(im.info)  # keep icc_profile for _to_srgb(); dropped right after
    out = _to_srgb(out)
    # A fresh info dict: nothing from the original file (EXIF, XMP, ICC, comments) can
    # reach the encoder, whatever Pillow's save() does by default in some version.
    out.info = {}
    return out


def _normalize_mode(im: Image.Image) -> Image.Image:
    """Bring any Pillow mode to RGB, RGBA, L or CMYK without losing transparency."""
    mode = im.mode
    if mode in ("P", "L", "RGB") and "transparency" in im.info:
        # GIFs and PNGs may mark one colour or palette entry as transparent (Pillow
        # even opens grey-palette GIFs as "L" with such a marker).
        return im.convert("RGBA")
    if mode in ("RGB", "RGBA", "L", "CMYK"):
        return im
    if mode in ("LA", "La", "PA", "RGBa"):
        return im.convert("RGBA")
    if mode == "P":
        return im.convert("RGB")
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I") or mode == "F":
        # 16-bit greyscale (PNG, TIFF) or float: scale to 8 bits instead of clipping
        # everything above 255 to white. "I;16*" is 16-bit by definition; "I" and "F"
        # only hold a range, guessed from the values (0..1 floats, 16-bit, or 8-bit).
        # One band in these modes, so getextrema() is (min, max), not a pair per band.
        hi = cast(float, im.getextrema()[1])
        if mode.startswith("I;16") or hi > 255:
            scale = 255 / 65535
        elif mode == "F" and hi <= 1.0:
            scale = 255.0
        else:
            scale = 1.0
        return im.convert("F").point(lambda v: v * scale).convert("L")
    # YCbCr, LAB, HSV and other rarities.
    return im.convert("RGB")


def _to_srgb(im: Image.Image) -> Image.Image:
    """Convert to sRGB RGB/RGBA, honouring an embedded ICC profile (e.g. Display P3)."""
    out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
    icc = im.info.get("icc_profile")
    if icc:
        # Previews are stripped of their profile, so colours must be baked into sRGB
        # now or wide-gamut phone photos would look dull in the browser.
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(im, src, dst, outputMode=out_mode)
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken or mismatched profile: plain conversion below is still fine
    return im if im.mode == out_mode else im.convert(out_mode)


def _webp(im: Image.Image, quality: int) -> bytes:
    """Encode as WebP with no metadata (alpha kept when present)."""
    buf = io.BytesIO()
    im.save(buf, format="WEBP", quality=quality, method=4)
    return buf.getvalue()


def _exif_taken_at(exif: Image.Exif) -> str | None:
    """ISO 8601 capture time from EXIF, with its UTC offset when the camera wrote one."""
    sub = exif.get_ifd(_EXIF_IFD)
    # DateTimeOriginal is the shutter time; the others are fallbacks for scanners and
    # editors that write only those. Each has its own OffsetTime* companion tag.
    candidates = (
        (sub.get(_DATETIME_ORIGINAL), sub.get(_OFFSET_TIME_ORIGINAL)),
        (sub.get(_DATETIME_DIGITIZED), sub.get(_OFFSET_TIME_DIGITIZED)),
        (exif.get(_DATETIME), sub.get(_OFFSET_TIME)),
    )
    for raw, raw_offset in candidates:
        text = _exif_text(raw)
        if not text:
            continue
        try:
            when = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            continue  # e.g. the "0000:00:00 00:00:00" some cameras write when unset
        offset = _exif_text(raw_offset) or ""
        return when.isoformat() + (offset if re.fullmatch(r"[+-]\d\d:\d\d", offset) else "")
    return None


def _exif_camera(exif: Image.Exif) -> str | None:
    """ "Make Model" from EXIF, without repeating the make when the model already has it."""
    make = _exif_text(exif.get(_MAKE))
    model = _exif_text(exif.get(_MODEL))
    if make and model and model.lower().startswith(make.lower()):
        return model
    return " ".join(p for p in (make, model) if p) or None


def _exif_location(exif: Image.Exif) -> tuple[float, float] | None:
    """(lat, lon) in decimal degrees from the EXIF GPS block, or None."""
    gps = exif.get_ifd(_GPS_IFD)
    lat = _dms_to_degrees(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), "S")
    lon = _dms_to_degrees(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return (lat, lon)


def _dms_to_degrees(dms, ref, negative_ref: str) -> float | None:
    """Convert EXIF (degrees, minutes, seconds) rationals to signed decimal degrees."""
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    if not math.isfinite(value):  # IFDRational with a zero denominator is NaN
        return None
    if (_exif_text(ref) or "").upper().startswith(negative_ref):
        value = -value
    return round(value, 7)


def _exif_text(value) -> str | None:
    """EXIF ASCII value as a clean str (cameras pad with NULs and spaces)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", "").strip()
    return text or None


# --- videos -----------------------------------------------------------------------------


def _prepare_video(path: Path) -> Prepared:
    """Probe a video with ffprobe and render a poster frame with ffmpeg."""
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    info = _ffprobe(path)
    stream = next(
        (
            s
            for s in info.get("streams", [])
            if s.get("codec_type") == "video"
            # Cover art inside .m4v/.mkv is a "video" stream too, but not the video.
            and not s.get("disposition", {}).get("attached_pic")
        ),
        None,
    )
    if stream is None:
        raise MediaError(f"{path}: no video stream found")
    fmt = info.get("format", {})
    tags = {**stream.get("tags", {}), **fmt.get("tags", {})}

    width, height = _display_size(stream)
    duration = _float(fmt.get("duration")) or _float(stream.get("duration"))

    # ~1 s in skips black fade-ins; 10% keeps very short clips from seeking past the end.
    at = min(1.0, duration * 0.1) if duration else 0.0
    frame = _poster_frame(path, at)
    if frame is None and at:
        frame = _poster_frame(path, 0.0)  # the duration was wrong; the first frame exists
    if frame is None:
        raise MediaError(f"{path}: ffmpeg could not extract a poster frame")
    try:
        with Image.open(io.BytesIO(frame)) as poster:
            poster.load()
            shown: Image.Image = poster
            if width and height and poster.size != (width, height):
                # ffmpeg applies rotation but not non-square pixels; stretch to display size.
                shown = poster.resize((width, height), Image.Resampling.LANCZOS)
            preview_im = _render_ready(shown, PREVIEW_SIZE)
    except Exception as exc:
        raise MediaError(f"{path}: cannot decode the poster frame: {exc}") from exc
    thumb_im = _render_ready(preview_im, THUMB_SIZE)

    return Prepared(
        kind="video",
        mime=MIME_TYPES[path.suffix.lower()],
        width=width or preview_im.width,
        height=height or preview_im.height,
        duration=round(duration, 3) if duration else None,
        taken_at=_video_taken_at(tags),
        camera=_video_camera(tags),
        location=_iso6709(tags.get("com.apple.quicktime.location.ISO6709") or tags.get("location")),
        thumb=_webp(thumb_im, THUMB_QUALITY),
        thumb_type=WEBP,
        preview=_webp(preview_im, PREVIEW_QUALITY),
        preview_type=WEBP,
    )


def _tool(name: str) -> str:
    """Absolute path of an ffmpeg tool, or a MediaError telling the owner to install it."""
    found = shutil.which(name)
    if not found:
        raise MediaError(
            f"{name} not found: install ffmpeg (which provides ffmpeg and ffprobe) to "
            "publish videos, e.g. `apt install ffmpeg` or `brew install ffmpeg`"
        )
    return found


def _ffprobe(path: Path) -> dict:
    """Run ffprobe on `path` and return its parsed JSON."""
    cmd = [
        _tool("ffprobe"),
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        "--",
        str(path),
    ]
    result = _run(cmd, path, PROBE_TIMEOUT, "ffprobe")
    if result.returncode != 0:
        raise MediaError(f"{path}: ffprobe cannot read this video: {_stderr(result)}")
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise MediaError(f"{path}: ffprobe returned unreadable output") from exc


def _poster_frame(path: Path, at: float) -> bytes | None:
    """One frame at `at` seconds as PNG bytes (already rotated by ffmpeg), or None."""
    cmd = [
        _tool("ffmpeg"),
        "-nostdin",
        "-v",
        "error",
        # -ss before -i seeks by keyframe then decodes to the exact time: fast and precise.
        "-ss",
        f"{at:.3f}",
        "-i",
        str(path),
        "-frames:v",
        "1",
        "-an",
        "-sn",
        "-dn",
        # rgb24 so 10-bit/HDR sources still give an 8-bit PNG Pillow reads.
        "-pix_fmt",
        "rgb24",
        "-c:v",
        "png",
        "-f",
        "image2pipe",
        "-",
    ]
    result = _run(cmd, path, FRAME_TIMEOUT, "ffmpeg")
    if result.returncode != 0:
        raise MediaError(f"{path}: ffmpeg cannot decode this video: {_stderr(result)}")
    return result.stdout or None


def _run(cmd: list[str], path: Path, timeout: int, name: str) -> subprocess.CompletedProcess:
    """Run a command without a shell, turning timeouts and OS errors into MediaError."""
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"{path}: {name} timed out after {timeout} s") from exc
    except OSError as exc:
        raise MediaError(f"{path}: cannot run {name}: {exc}") from exc


def _stderr(result: subprocess.CompletedProcess) -> str:
    """The last line of a tool's stderr, which is where ffmpeg puts the reason."""
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def _display_size(stream: dict) -> tuple[int | None, int | None]:
    """Width and height as shown: non-square pixels applied, 90-degree rotations swapped."""
    width, height = stream.get("width"), stream.get("height")
    if not width or not height:
        return None, None
    sar = re.fullmatch(r"(\d+):(\d+)", stream.get("sample_aspect_ratio") or "")
    if sar and int(sar[1]) and int(sar[2]) and sar[1] != sar[2]:
        width = round(width * int(sar[1]) / int(sar[2]))
    if _rotation(stream) % 180 == 90:
        width, height = height, width
    return int(width), int(height)


def _rotation(stream: dict) -> int:
    """Rotation in degrees from the display matrix (new ffmpeg) or the rotate tag (old)."""
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return round(_float(side["rotation"]) or 0)
    return round(_float(stream.get("tags", {}).get("rotate")) or 0)


def _video_taken_at(tags: dict) -> str | None:
    """ISO 8601 recording time; Apple's local-time tag beats the UTC creation_time."""
    for key in ("com.apple.quicktime.creationdate", "creation_time"):
        value = tags.get(key)
        if not value:
            continue
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            continue
        # Muxers write the QuickTime/Unix epoch when nobody set a date.
        if when.year <= 1970:
            continue
        return when.replace(microsecond=0).isoformat()
    return None


def _video_camera(tags: dict) -> str | None:
    """ "Make Model" from QuickTime tags (phones write these), or None."""
    make = (tags.get("com.apple.quicktime.make") or "").strip()
    model = (tags.get("com.apple.quicktime.model") or "").strip()
    if make and model.lower().startswith(make.lower()):
        return model
    return " ".join(p for p in (make, model) if p) or None


def _iso6709(value: str | None) -> tuple[float, float] | None:
    """Parse an ISO 6709 point such as "+48.8584+002.2945+035.000/" to (lat, lon)."""
    if not value:
        return None
    match = re.match(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)", value.strip())
    if not match:
        return None
    lat, lon = _iso6709_part(match[1], 2), _iso6709_part(match[2], 3)
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return (lat, lon)


def _iso6709_part(text: str, degree_digits: int) -> float | None:
    """One ISO 6709 coordinate; the integer digit count tells D, DM or DMS apart."""
    sign = -1 if text[0] == "-" else 1
    whole, _, frac = text[1:].partition(".")
    frac = f".{frac}" if frac else ""
    extra = len(whole) - degree_digits
    if extra == 0:
        value = float(whole + frac)
    elif extra == 2:
        value = int(whole[:degree_digits]) + float(whole[degree_digits:] + frac) / 60
    elif extra == 4:
        d, m, s = whole[:degree_digits], whole[degree_digits:-2], whole[-2:] + frac
        value = int(d) + int(m) / 60 + float(s) / 3600
    else:
        return None
    return round(sign * value, 7)


def _float(value) -> float | None:
    """float(value), or None for missing and non-numeric values such as "N/A"."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None
