"""Behaviour of viewer.owner.media: upright, metadata-free previews and the metadata we read."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from tests.support.media_fixtures import (
    REQUIRE_SERVICES_ENV,
    UNICODE_NAME,
    has_ffmpeg,
    make_album_dir,
    make_heic,
    make_jpeg_with_orientation,
    make_mp4,
    make_png,
    require_ffmpeg,
    run_ffmpeg,
)
from viewer.owner.media import (
    PHOTO_EXTENSIONS,
    PREVIEW_SIZE,
    THUMB_SIZE,
    VIDEO_EXTENSIONS,
    MediaError,
    Prepared,
    is_media,
    prepare,
)


@pytest.fixture
def ffmpeg():
    """ffmpeg for video tests: skipped without it, unless FRAGMENT_REQUIRE_SERVICES makes that a failure."""
    require_ffmpeg()


def alpha_at(im: Image.Image, xy: tuple[int, int]) -> int:
    """The alpha of one pixel of an RGBA image."""
    pixel = im.getpixel(xy)
    assert isinstance(pixel, tuple), pixel
    return pixel[3]


def decode(data: bytes) -> Image.Image:
    """Decode WebP bytes fully, failing the test if they are not a valid WebP."""
    im = Image.open(io.BytesIO(data))
    assert im.format == "WEBP"
    im.load()
    return im


def is_red(pixel) -> bool:
    """True for the fixture's red marker, allowing for JPEG and WebP loss."""
    r, g, b = pixel[:3]
    return r > 200 and g < 70 and b < 70


def assert_no_metadata(data: bytes) -> None:
    """The WebP carries no EXIF, XMP or ICC chunk and no camera strings."""
    im = decode(data)
    assert not im.getexif()
    for key in ("exif", "xmp", "icc_profile"):
        assert not im.info.get(key), key
    for needle in (b"EXIF", b"Exif", b"XMP ", b"ICCP", b"Canon", b"Apple"):
        assert needle not in data


# --- names and types --------------------------------------------------------------------


def test_is_media_by_suffix_case_insensitive():
    assert is_media(Path("a/IMG_1.JPG"))
    assert is_media(Path("clip.MoV"))
    assert is_media(Path(UNICODE_NAME))
    assert not is_media(Path("notes.txt"))
    assert not is_media(Path("jpg"))
    assert not is_media(Path("._IMG_1.jpg"))  # macOS AppleDouble sidecar


def test_extension_sets():
    assert PHOTO_EXTENSIONS == {".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".heif", ".tif", ".tiff"}
    assert VIDEO_EXTENSIONS == {".mp4", ".mov", ".m4v", ".webm", ".mkv"}


def test_unknown_extension_raises(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    with pytest.raises(MediaError, match=r"notes.txt"):
        prepare(f)


# --- photos -----------------------------------------------------------------------------


def test_jpeg_orientation_6_is_upright(tmp_path):
    p = make_jpeg_with_orientation(tmp_path / "o6.jpg", size=(640, 480), orientation=6)
    r = prepare(p)
    assert isinstance(r, Prepared)
    assert (r.kind, r.mime) == ("photo", "image/jpeg")
    assert (r.width, r.height) == (480, 640)
    assert (r.thumb_type, r.preview_type) == ("image/webp", "image/webp")
    thumb = decode(r.thumb).convert("RGB")
    assert thumb.size == (360, 480)
    # Orientation 6 means "rotate 90 degrees clockwise": the stored top-left corner is
    # shown top-right.
    assert is_red(thumb.getpixel((thumb.width - 5, 5)))
    assert not is_red(thumb.getpixel((5, 5)))
    assert not is_red(thumb.getpixel((5, thumb.height - 5)))
    # Never upscaled: the preview is the full upright picture.
    assert decode(r.preview).size == (480, 640)


# Where the stored top-left corner appears once each EXIF orientation is applied.
CORNER_AFTER_ORIENTATION = {
    1: "top-left",
    2: "top-right",  # mirrored horizontally
    3: "bottom-right",  # rotated 180
    4: "bottom-left",  # mirrored vertically
    5: "top-left",  # transposed
    6: "top-right",  # rotated 90 clockwise
    7: "bottom-right",  # transversed
    8: "bottom-left",  # rotated 90 counter-clockwise
}


@pytest.mark.parametrize("orientation", sorted(CORNER_AFTER_ORIENTATION))
def test_every_exif_orientation(tmp_path, orientation):
    p = make_jpeg_with_orientation(tmp_path / f"o{orientation}.jpg", size=(600, 300), orientation=orientation)
    r = prepare(p)
    expected_size = (300, 600) if orientation >= 5 else (600, 300)
    assert (r.width, r.height) == expected_size
    preview = decode(r.preview).convert("RGB")
    assert preview.size == expected_size
    w, h = preview.size
    corners = {
        "top-left": (3, 3),
        "top-right": (w - 4, 3),
        "bottom-left": (3, h - 4),
        "bottom-right": (w - 4, h - 4),
    }
    red = {name for name, xy in corners.items() if is_red(preview.getpixel(xy))}
    assert red == {CORNER_AFTER_ORIENTATION[orientation]}


def test_large_photo_is_bounded(tmp_path):
    p = make_jpeg_with_orientation(tmp_path / "big.jpg", size=(3000, 2000), orientation=1)
    r = prepare(p)
    assert (r.width, r.height) == (3000, 2000)
    assert decode(r.thumb).size == (THUMB_SIZE, 320)
    assert decode(r.preview).size == (PREVIEW_SIZE, 1365)


def test_tiny_photo_is_not_upscaled(tmp_path):
    p = make_jpeg_with_orientation(tmp_path / "tiny.jpg", size=(100, 80), orientation=1)
    r = prepare(p)
    assert (r.width, r.height) == (100, 80)
    assert decode(r.thumb).size == (100, 80)
    assert decode(r.preview).size == (100, 80)


def test_exif_date_camera_and_gps(tmp_path):
    p = make_jpeg_with_orientation(
        tmp_path / "gps.jpg", taken="2021:03:04 05:06:07", make="NIKON", model="Z 6", gps=(-33.8568, 151.2153)
    )
    r = prepare(p)
    assert r.taken_at == "2021-03-04T05:06:07"
    assert r.camera == "NIKON Z 6"
    assert r.location == pytest.approx((-33.8568, 151.2153), abs=1e-4)
    assert r.duration is None


def test_gps_western_hemisphere(tmp_path):
    p = make_jpeg_with_orientation(tmp_path / "w.jpg", gps=(40.6892, -74.0445))
    assert prepare(p).location == pytest.approx((40.6892, -74.0445), abs=1e-4)


def test_camera_model_that_repeats_the_make(tmp_path):
    p = make_jpeg_with_orientation(tmp_path / "c.jpg", make="Canon", model="Canon EOS R5")
    assert prepare(p).camera == "Canon EOS R5"


def test_missing_exif_gives_none(tmp_path):
    p = make_jpeg_with_orientation(tmp_path / "bare.jpg", orientation=None, taken=None, make=None, model=None)
    r = prepare(p)
    assert (r.taken_at, r.camera, r.location) == (None, None, None)
    assert (r.width, r.height) == (640, 480)


def test_unset_exif_date_is_ignored(tmp_path):
    p = make_jpeg_with_orientation(tmp_path / "zero.jpg", taken="0000:00:00 00:00:00")
    assert prepare(p).taken_at is None


def test_thumb_and_preview_carry_no_metadata(tmp_path):
    p = make_jpeg_with_orientation(tmp_path / "meta.jpg", gps=(48.8584, 2.2945))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with Image.open(p) as im:  # add an ICC profile and a comment on top of the EXIF
        im.save(p, format="JPEG", exif=im.info["exif"], icc_profile=srgb, comment=b"Canon secret")
    r = prepare(p)
    assert r.location is not None  # the metadata was there to be stripped
    assert_no_metadata(r.thumb)
    assert_no_metadata(r.preview)


def test_heic_gives_webp_preview(tmp_path):
    p = make_heic(tmp_path / "IMG_0002.heic", size=(400, 300))
    r = prepare(p)
    assert (r.kind, r.mime) == ("photo", "image/heic")
    assert (r.width, r.height) == (400, 300)
    assert decode(r.preview).size == (400, 300)
    assert decode(r.thumb).size == (400, 300)
    assert r.taken_at == "2023-12-24T18:05:00"
    assert r.camera == "Apple iPhone 15 Pro"
    assert_no_metadata(r.preview)


def test_heif_suffix_mime(tmp_path):
    p = make_heic(tmp_path / "photo.HEIF")
    assert prepare(p).mime == "image/heif"


def test_png_alpha_is_preserved(tmp_path):
    p = make_png(tmp_path / "alpha.png", size=(300, 200))
    r = prepare(p)
    assert (r.mime, r.width, r.height) == ("image/png", 300, 200)
    for data in (r.thumb, r.preview):
        im = decode(data)
        assert im.mode == "RGBA"
        assert alpha_at(im, (2, 100)) == 0  # the transparent left strip
        assert alpha_at(im, (297, 100)) > 240  # the opaque right edge


@pytest.mark.parametrize(
    "mode, suffix, alpha",
    [
        ("CMYK", ".jpg", False),
        ("L", ".jpg", False),
        ("P", ".gif", True),
        ("grey-palette", ".gif", True),
        ("LA", ".png", True),
        ("I;16", ".png", False),
        ("1", ".tif", False),
        ("RGB", ".webp", False),
        ("RGBA", ".tiff", True),
    ],
)
def test_other_modes_and_formats(tmp_path, mode, suffix, alpha):
    base = Image.radial_gradient("L").resize((200, 120))
    # Alpha images get a fully transparent left strip; an all-opaque alpha channel
    # would rightly be dropped by the WebP encoder.
    mask = Image.new("L", base.size, 255)
    mask.paste(0, (0, 0, 20, 120))
    if mode == "P":
        colourful = Image.merge("RGB", (base, base.rotate(90), base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
        im = colourful.quantize(64)
        im.paste(0, (0, 0, 20, 120))  # palette index 0 is the transparent colour
        im.info["transparency"] = 0
    elif mode == "grey-palette":
        # Pillow reads a GIF with a grey palette back as mode "L" plus a transparency index.
        im = base.convert("P")
        im.paste(0, (0, 0, 20, 120))
        im.info["transparency"] = 0
    elif mode == "LA":
        im = Image.merge("LA", (base, mask))
    elif mode == "RGBA":
        im = base.convert("RGBA")
        im.putalpha(mask)
    elif mode == "I;16":
        im = base.convert("I").point(lambda v: v * 257).convert("I;16")
    else:
        im = base.convert(mode)
    p = tmp_path / f"img{suffix}"
    im.save(p)
    r = prepare(p)
    assert (r.width, r.height) == (200, 120)
    thumb = decode(r.thumb)
    assert thumb.size == (200, 120)
    assert thumb.mode == ("RGBA" if alpha else "RGB")
    if alpha:
        assert alpha_at(thumb, (5, 60)) == 0
        assert alpha_at(thumb, (195, 60)) == 255
    if mode == "I;16":
        # 16-bit values are scaled down, not clipped to white.
        darkest = thumb.convert("L").getextrema()[0]
        assert isinstance(darkest, int) and darkest < 64


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (60, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    r = prepare(p)
    assert (r.mime, r.width, r.height) == ("image/gif", 60, 40)
    assert is_red(decode(r.thumb).convert("RGB").getpixel((30, 20)))


def test_corrupt_jpeg_raises_naming_the_file(tmp_path):
    p = tmp_path / "broken photo.jpg"
    p.write_bytes(random.Random(1).randbytes(4096))
    with pytest.raises(MediaError, match=r"broken photo.jpg"):
        prepare(p)


def test_truncated_jpeg_raises(tmp_path):
    p = make_jpeg_with_orientation(tmp_path / "cut.jpg")
    p.write_bytes(p.read_bytes()[:5000])
    with pytest.raises(MediaError, match=r"cut.jpg"):
        prepare(p)


def test_missing_file_raises(tmp_path):
    with pytest.raises(MediaError, match=r"gone.jpg"):
        prepare(tmp_path / "gone.jpg")


def test_unicode_file_name(tmp_path):
    p = make_jpeg_with_orientation(tmp_path / UNICODE_NAME, orientation=1)
    r = prepare(p)
    assert (r.width, r.height) == (640, 480)


# --- videos -----------------------------------------------------------------------------


@pytest.mark.slow
def test_mp4_video(tmp_path, ffmpeg):
    p = make_mp4(tmp_path / "clip.mp4", seconds=2)
    r = prepare(p)
    assert (r.kind, r.mime) == ("video", "video/mp4")
    assert (r.width, r.height) == (320, 240)
    assert r.duration == pytest.approx(2.0, abs=0.2)
    assert r.taken_at == "2024-06-01T12:30:00+00:00"
    assert (r.thumb_type, r.preview_type) == ("image/webp", "image/webp")
    poster = decode(r.thumb).convert("RGB")
    assert poster.size == (320, 240)
    colors = poster.getcolors(320 * 240)
    assert colors is not None and len(colors) > 50  # a real test-pattern frame, not a blank one
    assert decode(r.preview).size == (320, 240)
    assert_no_metadata(r.preview)


@pytest.mark.slow
def test_rotated_video_swaps_dimensions(tmp_path, ffmpeg):
    src = make_mp4(tmp_path / "clip.mp4", seconds=1)
    p = tmp_path / "portrait.mov"
    # A phone held upright stores landscape pixels plus a rotation in the display matrix.
    run_ffmpeg("-i", src, "-c copy -metadata:s:v:0 rotate=90 -metadata location=+48.8584+002.2945/", p, timeout=60)
    r = prepare(p)
    assert r.mime == "video/quicktime"
    assert (r.width, r.height) == (240, 320)
    assert decode(r.thumb).size == (240, 320)
    assert r.location == pytest.approx((48.8584, 2.2945))


@pytest.mark.slow
def test_very_short_video_still_gets_a_poster(tmp_path, ffmpeg):
    p = tmp_path / "blink.mp4"
    run_ffmpeg("-f lavfi -i testsrc=size=160x120:rate=25:duration=0.12 -c:v libx264 -pix_fmt yuv420p", p, timeout=60)
    r = prepare(p)
    assert r.duration is not None and r.duration < 0.5
    assert decode(r.thumb).size == (160, 120)
    assert r.taken_at is None


@pytest.mark.slow
def test_corrupt_video_raises_naming_the_file(tmp_path, ffmpeg):
    p = tmp_path / "broken clip.mp4"
    p.write_bytes(random.Random(2).randbytes(4096))
    with pytest.raises(MediaError, match=r"broken clip.mp4"):
        prepare(p)


@pytest.mark.parametrize(
    "env, outcome",
    [(None, pytest.skip.Exception), ("", pytest.skip.Exception), ("0", pytest.skip.Exception), ("1", pytest.fail.Exception)],
)
def test_missing_ffmpeg_skips_unless_required(tmp_path, monkeypatch, env, outcome):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert not has_ffmpeg()
    if env is None:
        monkeypatch.delenv(REQUIRE_SERVICES_ENV, raising=False)
    else:
        monkeypatch.setenv(REQUIRE_SERVICES_ENV, env)
    with pytest.raises(outcome):
        require_ffmpeg()


def test_video_without_ffmpeg_says_to_install_it(tmp_path, monkeypatch):
    p = tmp_path / "clip.mp4"
    p.write_bytes(b"\x00" * 64)  # never opened: the tool check comes first
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MediaError, match="install ffmpeg"):
        prepare(p)


# --- the round-trip album ---------------------------------------------------------------


@pytest.mark.slow
def test_album_dir_fixture(tmp_path, ffmpeg):
    files = make_album_dir(tmp_path / "album")
    assert UNICODE_NAME in files
    kinds = {name: prepare(path).kind for name, path in files.items()}
    assert sorted(kinds.values()) == ["photo"] * 4 + ["video"]
    assert prepare(files["IMG_0001.jpg"]).height == 640  # the orientation-6 photo

    # A 64-byte run from the middle of each file occurs once in it and nowhere else,
    # so tests can search ciphertext for plaintext without false alarms.
    contents = {name: path.read_bytes() for name, path in files.items()}
    for name, data in contents.items():
        middle = len(data) // 2
        probe = data[middle : middle + 64]
        assert data.count(probe) == 1, name
        assert not any(probe in other for n, other in contents.items() if n != name), name
        assert os.path.getsize(files[name]) > 10_000, name
