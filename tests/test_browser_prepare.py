"""static/js/upload/prepare.js in Chromium, against viewer/owner/media.py on the same photos.

A guest's browser and the owner's command line must describe the same photo alike
(docs/format.md, "File metadata"). So each fixture JPEG is read twice: by Python's
``viewer.owner.media.prepare(path)``, and on a real page of the app under gunicorn (its
real CSP) by what static/js/upload/upload-worker.js runs: exifr's lite build with
prepare.js's EXIF_OPTIONS, prepare.js's ``takenAt``/``camera``/``location``/``fileMeta``, and
``createImageBitmap`` for the upright size. The two must agree field for field.

As in test_browser_crypto.py, the modules are imported by the page itself
(``await import('/static/js/upload/prepare.js')``) and bytes cross as base64.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.support.browser import ModulePage
from tests.support.media_fixtures import make_jpeg_with_orientation
from viewer.owner import media

ROOT = Path(__file__).resolve().parent.parent
PREPARE_JS = ROOT / "static" / "js" / "upload" / "prepare.js"

pytestmark = pytest.mark.slow

PRELUDE = """
const p = await import('/static/js/upload/prepare.js');
const { default: exifr } = await import('/vendor/exifr/dist/lite.esm.mjs');
const bytesOf = (b64) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
"""

# EXIF tag numbers, for the tags make_jpeg_with_orientation does not write.
DATETIME = 0x0132  # IFD0 DateTime, exifr's "ModifyDate"
EXIF_IFD = 0x8769
DATETIME_DIGITIZED = 0x9004  # exifr's "CreateDate"
OFFSET_TIME = 0x9010
OFFSET_TIME_ORIGINAL = 0x9011
OFFSET_TIME_DIGITIZED = 0x9012


@pytest.fixture
def js(page, live_server):
    page.goto(live_server["url"] + "/")
    return ModulePage(page, PRELUDE)


def retag(path: Path, ifd0: dict | None = None, exif_ifd: dict | None = None) -> Path:
    """Add EXIF tags the fixture maker does not write (offsets, fallback dates), in place."""
    with Image.open(path) as im:
        im.load()
        exif = im.getexif()
        for tag, value in (ifd0 or {}).items():
            exif[tag] = value
        sub = exif.get_ifd(EXIF_IFD)
        for tag, value in (exif_ifd or {}).items():
            sub[tag] = value
        im.save(path, format="JPEG", quality=90, exif=exif.tobytes())
    return path


# name -> (make_jpeg_with_orientation arguments, extra IFD0 tags, extra EXIF tags, what both must say)
PHOTOS: dict[str, tuple[Any, ...]] = {
    "north-east.jpg": (
        {
            "size": (640, 480),
            "orientation": 1,
            "taken": "2024:06:01 12:30:00",
            "make": "Canon",
            "model": "Canon EOS R5",
            "gps": (48.8584, 2.2945),
        },
        {},
        {},
        {"taken_at": "2024-06-01T12:30:00", "camera": "Canon EOS R5", "location": (48.8584, 2.2945), "width": 640, "height": 480},
    ),
    "south-west-rotated-6.jpg": (
        {
            "size": (800, 600),
            "orientation": 6,
            "taken": "2023:12:31 23:59:59",
            "make": "FUJIFILM",
            "model": "X-T5",
            "gps": (-33.8568, -151.2153),
        },
        {},
        {OFFSET_TIME_ORIGINAL: "+0200"},  # not ±HH:MM: ignored by both
        {
            "taken_at": "2023-12-31T23:59:59",
            "camera": "FUJIFILM X-T5",
            "location": (-33.8568, -151.2153),
            "width": 600,
            "height": 800,
        },
    ),
    "no-date-rotated-8.jpg": (
        {"size": (500, 300), "orientation": 8, "taken": None, "make": "NIKON CORPORATION", "model": "NIKON Z 6", "gps": None},
        {},
        {},
        {"taken_at": None, "camera": "NIKON CORPORATION NIKON Z 6", "location": None, "width": 300, "height": 500},
    ),
    "unset-date.jpg": (
        {"size": (320, 240), "orientation": 1, "taken": "0000:00:00 00:00:00", "make": None, "model": None, "gps": None},
        {},
        {},
        {"taken_at": None, "camera": None, "location": None, "width": 320, "height": 240},
    ),
    "offset-original.jpg": (
        {
            "size": (400, 300),
            "orientation": 6,
            "taken": "2024:06:01 12:30:00",
            "make": "Apple",
            "model": "iPhone 15 Pro",
            "gps": (0.5, -0.25),
        },
        {},
        {OFFSET_TIME_ORIGINAL: "+02:00"},
        {
            "taken_at": "2024-06-01T12:30:00+02:00",
            "camera": "Apple iPhone 15 Pro",
            "location": (0.5, -0.25),
            "width": 300,
            "height": 400,
        },
    ),
    "digitized-only.jpg": (
        {"size": (360, 240), "orientation": 1, "taken": None, "make": "  Canon  ", "model": "canon PowerShot G7 X", "gps": None},
        {},
        {DATETIME_DIGITIZED: "2022:02:28 08:00:00", OFFSET_TIME_DIGITIZED: "-05:00"},
        {
            "taken_at": "2022-02-28T08:00:00-05:00",
            "camera": "canon PowerShot G7 X",
            "location": None,
            "width": 360,
            "height": 240,
        },
    ),
    "modified-after-unset-original.jpg": (
        {"size": (300, 300), "orientation": 1, "taken": "0000:00:00 00:00:00", "make": "SONY", "model": "ILCE-7M4", "gps": None},
        {DATETIME: "2021:07:04 18:45:10"},
        {OFFSET_TIME_ORIGINAL: "+09:00", OFFSET_TIME: "+05:30"},
        {"taken_at": "2021-07-04T18:45:10+05:30", "camera": "SONY ILCE-7M4", "location": None, "width": 300, "height": 300},
    ),
    "leap-day.jpg": (
        {
            "size": (240, 320),
            "orientation": 1,
            "taken": "2024:02:29 06:00:00",
            "make": "Google",
            "model": "Pixel 8",
            "gps": (89.9999999, 179.9999999),
        },
        {},
        {},
        {
            "taken_at": "2024-02-29T06:00:00",
            "camera": "Google Pixel 8",
            "location": (89.9999999, 179.9999999),
            "width": 240,
            "height": 320,
        },
    ),
    "t-separator.jpg": (
        # EXIF writes a space between date and time; Python's strptime takes nothing else.
        {"size": (200, 300), "orientation": 8, "taken": "2024:06:01T12:30:00", "make": None, "model": "Pixel 8", "gps": None},
        {DATETIME: "2024:06:02 08:00:00"},
        {},
        {"taken_at": "2024-06-02T08:00:00", "camera": "Pixel 8", "location": None, "width": 300, "height": 200},
    ),
    "impossible-date.jpg": (
        # 30 February is no date: both fall back to the next candidate, IFD0 DateTime.
        {"size": (300, 200), "orientation": 1, "taken": "2024:02:30 10:00:00", "make": "Canon", "model": "EOS R6", "gps": None},
        {DATETIME: "2024:03:01 09:00:00"},
        {},
        {"taken_at": "2024-03-01T09:00:00", "camera": "Canon EOS R6", "location": None, "width": 300, "height": 200},
    ),
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("prepare-photos")
    out = {}
    for name, (kwargs, ifd0, exif_ifd, _) in PHOTOS.items():
        path = make_jpeg_with_orientation(folder / name, **kwargs)
        if ifd0 or exif_ifd:
            retag(path, ifd0, exif_ifd)
        out[name] = path
    return out


PARITY_SNIPPET = """
const out = {};
for (const [name, b64] of Object.entries(arg.files)) {
  const blob = new Blob([bytesOf(b64)], { type: 'image/jpeg' });
  const tags = await exifr.parse(blob, p.EXIF_OPTIONS);
  const bitmap = await createImageBitmap(blob);
  const [width, height] = [bitmap.width, bitmap.height];
  bitmap.close();
  out[name] = {
    taken_at: p.takenAt(tags),
    camera: p.camera(tags),
    location: p.location(tags),
    width,
    height,
    meta: p.fileMeta({
      name, mime: p.mediaType(name, ''), size: blob.size, kind: 'photo', width, height,
      duration: undefined, tags, thumbType: 'image/webp', previewType: 'image/webp',
    }),
  };
}
return out;
"""


def browser_read(js, photos: dict[str, Path]) -> dict:
    files = {name: base64.b64encode(path.read_bytes()).decode() for name, path in photos.items()}
    return js.run(PARITY_SNIPPET, {"files": files})


def python_fields(prepared: media.Prepared) -> dict:
    return {
        "taken_at": prepared.taken_at,
        "camera": prepared.camera,
        "location": list(prepared.location) if prepared.location is not None else None,
        "width": prepared.width,
        "height": prepared.height,
    }


def test_prepare_js_is_pure():
    """No DOM, no network, no imports: the same module serves the Worker and these tests."""
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", PREPARE_JS.read_text(), flags=re.DOTALL)
    for word in ("document", "window", "fetch", "XMLHttpRequest", "localStorage", "indexedDB", "import ", "import(", "eval("):
        assert word not in code, word


def test_python_reads_the_fixtures_as_intended(photos):
    """The Python side of the parity test says what each fixture was made to say."""
    for name, path in photos.items():
        want = PHOTOS[name][3]
        got = python_fields(media.prepare(path))
        assert got["taken_at"] == want["taken_at"], name
        assert got["camera"] == want["camera"], name
        assert (got["width"], got["height"]) == (want["width"], want["height"]), name
        if want["location"] is None:
            assert got["location"] is None, name
        else:
            assert got["location"] == pytest.approx(list(want["location"]), abs=1e-6), name


def test_browser_and_python_describe_each_photo_alike(js, photos):
    """exifr + prepare.js + createImageBitmap == viewer.owner.media.prepare, field for field."""
    browser = browser_read(js, photos)
    assert set(browser) == set(photos)
    for name, path in photos.items():
        python = python_fields(media.prepare(path))
        seen = browser[name]
        assert {k: seen[k] for k in python} == python, name
        if python["location"] is not None:  # both already at 7 decimals, so equal to the last one
            assert [round(x, 7) for x in seen["location"]] == seen["location"], name


def test_file_meta_of_a_photo_is_the_owners(js, photos):
    """The whole metadata object fileMeta builds matches what the owner's CLI would seal."""
    browser = browser_read(js, photos)
    for name, path in photos.items():
        prepared = media.prepare(path)
        assert browser[name]["meta"] == {
            "name": name,
            "mime": prepared.mime,
            "size": path.stat().st_size,
            "kind": prepared.kind,
            "width": prepared.width,
            "height": prepared.height,
            "duration": prepared.duration,
            "taken_at": prepared.taken_at,
            "camera": prepared.camera,
            "location": list(prepared.location) if prepared.location is not None else None,
            "thumb_type": prepared.thumb_type,
            "preview_type": prepared.preview_type,
        }, name


# --- the same rules on EXIF values no camera here writes -----------------------------------

EXIF_NAMES = {  # exifr's names -> (IFD, tag) as viewer/owner/media.py reads them
    "DateTimeOriginal": (EXIF_IFD, 0x9003),
    "OffsetTimeOriginal": (EXIF_IFD, OFFSET_TIME_ORIGINAL),
    "CreateDate": (EXIF_IFD, DATETIME_DIGITIZED),
    "OffsetTimeDigitized": (EXIF_IFD, OFFSET_TIME_DIGITIZED),
    "ModifyDate": (None, DATETIME),
    "OffsetTime": (EXIF_IFD, OFFSET_TIME),
    "Make": (None, 0x010F),
    "Model": (None, 0x0110),
    "GPSLatitudeRef": (0x8825, 0x0001),
    "GPSLatitude": (0x8825, 0x0002),
    "GPSLongitudeRef": (0x8825, 0x0003),
    "GPSLongitude": (0x8825, 0x0004),
}


def as_exif(tags: dict) -> Image.Exif:
    """The Pillow Exif that exifr would have described as `tags` (raw values)."""
    exif = Image.Exif()
    for name, value in tags.items():
        ifd, tag = EXIF_NAMES[name]
        (exif if ifd is None else exif.get_ifd(ifd))[tag] = tuple(value) if isinstance(value, list) else value
    return exif


def python_rules(tags: dict) -> dict:
    exif = as_exif(tags)
    where = media._exif_location(exif)
    return {
        "taken_at": media._exif_taken_at(exif),
        "camera": media._exif_camera(exif),
        "location": list(where) if where is not None else None,
    }


RULES_SNIPPET = "return arg.map((tags) => ({ taken_at: p.takenAt(tags), camera: p.camera(tags), location: p.location(tags) }));"

DATE_CASES: list[dict] = [
    {"DateTimeOriginal": "2024:06:01 12:30:00"},
    {"DateTimeOriginal": "2024:06:01 12:30:00.123"},  # sub-seconds after the 19 characters
    {"DateTimeOriginal": "2024:06:01 12:30:00\x00\x00  "},
    {"DateTimeOriginal": "  "},
    {"DateTimeOriginal": "2024:06:01 24:00:00", "ModifyDate": "2024:06:02 00:00:00"},
    {"DateTimeOriginal": "2024:06:01 12:60:00"},
    {"DateTimeOriginal": "2024:06:01 12:30:60"},
    {"DateTimeOriginal": "2024:13:01 12:30:00"},
    {"DateTimeOriginal": "2024:06:31 12:30:00"},
    {"DateTimeOriginal": "2023:02:29 12:30:00"},
    {"DateTimeOriginal": "1900:02:29 12:30:00"},  # not a leap year
    {"DateTimeOriginal": "2000:02:29 12:30:00"},  # a leap year
    {"DateTimeOriginal": "0001:01:01 00:00:00"},
    {"DateTimeOriginal": "2024-06-01 12:30:00"},
    {"DateTimeOriginal": "2024:06:01T12:30:00"},
    {"DateTimeOriginal": "not a date", "CreateDate": "2024:06:01 12:30:00", "OffsetTimeDigitized": "+01:00"},
    {"DateTimeOriginal": "2024:06:01 12:30:00", "OffsetTimeOriginal": "-03:30", "OffsetTime": "+09:00"},
    {"DateTimeOriginal": "2024:06:01 12:30:00", "OffsetTimeOriginal": " +02:00\x00"},
    {"DateTimeOriginal": "2024:06:01 12:30:00", "OffsetTimeOriginal": "Z"},
    {"DateTimeOriginal": "2024:06:01 12:30:00", "OffsetTimeOriginal": "+2:00"},
    {"DateTimeOriginal": "2024:06:01 12:30:00", "OffsetTime": "+02:00"},  # not the original's companion
    {"ModifyDate": "2019:11:11 11:11:11", "OffsetTime": "+11:00", "OffsetTimeOriginal": "+01:00"},
    {"CreateDate": "0000:00:00 00:00:00", "ModifyDate": "2019:11:11 11:11:11"},
]

CAMERA_CASES: list[dict] = [
    {"Make": "Canon", "Model": "Canon EOS R5"},
    {"Make": "Canon", "Model": "EOS R5"},
    {"Make": "CANON", "Model": "Canon EOS R5"},
    {"Make": "Canon\x00\x00", "Model": " Canon EOS R5\x00 "},
    {"Make": "NIKON CORPORATION", "Model": "NIKON Z 6"},
    {"Make": "Apple"},
    {"Model": "iPhone 15 Pro"},
    {"Make": "  \x00", "Model": "X100V"},
    {"Make": "\x00", "Model": " "},
    {},
]

LOCATION_CASES: list[dict] = [
    {"GPSLatitudeRef": "N", "GPSLatitude": [48, 51, 30.24], "GPSLongitudeRef": "E", "GPSLongitude": [2, 17, 40.2]},
    {"GPSLatitudeRef": "S", "GPSLatitude": [33, 51, 24.48], "GPSLongitudeRef": "W", "GPSLongitude": [151, 12, 55.08]},
    {"GPSLatitudeRef": "s", "GPSLatitude": [1, 2, 3], "GPSLongitudeRef": "w", "GPSLongitude": [4, 5, 6]},
    {"GPSLatitude": [10, 0, 0], "GPSLongitude": [20, 0, 0]},  # no refs: north and east
    {"GPSLatitudeRef": "N", "GPSLatitude": [91, 0, 0], "GPSLongitudeRef": "E", "GPSLongitude": [2, 0, 0]},
    {"GPSLatitudeRef": "N", "GPSLatitude": [45, 0, 0], "GPSLongitudeRef": "W", "GPSLongitude": [180, 0, 1]},
    {"GPSLatitudeRef": "N", "GPSLatitude": [45, 0], "GPSLongitudeRef": "E", "GPSLongitude": [2, 0, 0]},
    {"GPSLatitudeRef": "N", "GPSLatitude": [45, 0, 0]},
    {},
]


def test_rules_agree_with_python_on_odd_values(js):
    """takenAt, camera and location against _exif_taken_at, _exif_camera, _exif_location."""
    cases = DATE_CASES + CAMERA_CASES + LOCATION_CASES
    out = js.run(RULES_SNIPPET, cases)
    for tags, seen in zip(cases, out, strict=True):
        assert seen == python_rules(tags), tags
    assert js.run("return [p.takenAt(null), p.camera(undefined), p.location(null)];") == [None, None, None]


def test_location_rounds_as_python_does(js):
    """Seconds as cameras write them (hundredths, ten-thousandths): the same 7 decimals."""
    import random

    rng = random.Random(2024)
    cases = []
    for _ in range(2000):
        scale = rng.choice([100, 10_000, 1_000_000])
        cases.append(
            {
                "GPSLatitudeRef": rng.choice("NS"),
                "GPSLatitude": [rng.randrange(90), rng.randrange(60), rng.randrange(60 * scale) / scale],
                "GPSLongitudeRef": rng.choice("EW"),
                "GPSLongitude": [rng.randrange(180), rng.randrange(60), rng.randrange(60 * scale) / scale],
            }
        )
    out = js.run("return arg.map((tags) => p.location(tags));", cases)
    mismatches = [(tags, seen) for tags, seen in zip(cases, out, strict=True) if seen != python_rules(tags)["location"]]
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ, e.g. {mismatches[:3]}"


# --- mediaType, fitWithin, fileMeta --------------------------------------------------------


def test_media_type(js):
    cases = [
        (["IMG_0001.HEIC", ""], "image/heic"),
        (["IMG_0002.heif", None], "image/heif"),
        (["clip.MOV", ""], "video/quicktime"),
        (["notes.txt", ""], None),
        (["notes.txt", "text/plain"], None),
        (["no-extension", ""], None),
        (["photo.jpg", "image/png"], "image/png"),  # the browser's type wins over the name
        (["photo.jpeg", "IMAGE/JPEG"], "image/jpeg"),
        (["photo.jpeg", "application/octet-stream"], "image/jpeg"),  # not a media type: the name decides
        (["archive.tar.mp4", ""], "video/mp4"),
    ]
    out = js.run("return arg.map(([name, type]) => p.mediaType(name, type));", [args for args, _ in cases])
    assert out == [want for _, want in cases]


def test_media_type_guesses_as_python_names_every_extension(js):
    """For each extension the CLI publishes, a typeless file gets the CLI's MIME type."""
    names = {
        f"file{suffix.upper() if i % 2 else suffix}": mime for i, (suffix, mime) in enumerate(sorted(media.MIME_TYPES.items()))
    }
    out = js.run("return Object.fromEntries(arg.map((name) => [name, p.mediaType(name, '')]));", list(names))
    assert out == names


def test_fit_within(js):
    cases = [
        ([4000, 3000, 480], [480, 360]),
        ([3000, 4000, 480], [360, 480]),
        ([1, 5000, 480], [1, 480]),
        ([5000, 1, 480], [480, 1]),
        ([300, 200, 480], [300, 200]),  # never enlarged
        ([480, 480, 480], [480, 480]),
        ([4032, 3024, 2048], [2048, 1536]),
        ([1000, 333, 480], [480, 160]),  # 159.84: rounded, not truncated
        ([333, 1000, 480], [160, 480]),
    ]
    out = js.run("return arg.map(([w, h, edge]) => p.fitWithin(w, h, edge));", [args for args, _ in cases])
    assert out == [want for _, want in cases]
    assert js.run("return [p.THUMB_EDGE, p.PREVIEW_EDGE];") == [media.THUMB_SIZE, media.PREVIEW_SIZE]


FILE_META_SNIPPET = """
const base = { name: 'IMG_1.jpg', mime: 'image/jpeg', size: 1234, kind: 'photo', width: 640, height: 480,
  duration: undefined, tags: null, thumbType: 'image/webp', previewType: 'image/webp' };
const tags = { DateTimeOriginal: '2024:06:01 12:30:00', OffsetTimeOriginal: '+02:00', Make: 'Canon', Model: 'Canon EOS R5',
  GPSLatitude: [48, 51, 30.24], GPSLatitudeRef: 'N', GPSLongitude: [2, 17, 40.2], GPSLongitudeRef: 'W' };
const video = { ...base, name: 'clip.mp4', mime: 'video/mp4', kind: 'video' };
const meta = (extra) => p.fileMeta({ ...base, ...extra });
return {
  plain: meta({}),
  tagged: meta({ tags }),
  windows: meta({ name: 'C:\\\\Users\\\\zoe\\\\Pictures\\\\IMG_1.jpg' }).name,
  posix: meta({ name: 'holiday/day 1/IMG 2.jpg' }).name,
  uploaders: ['  Zoé Martin \\n', 'Zoé', '   ', '', undefined, null, 42].map((uploader) => meta({ uploader })),
  photoDuration: meta({ duration: 12.3456 }).duration,
  videoDurations: [12.34567, 2, 0.0004, NaN, Infinity, undefined].map((duration) => p.fileMeta({ ...video, duration }).duration),
  noSize: meta({ width: 0, height: undefined }),
};
"""


def test_file_meta(js):
    out = js.run(FILE_META_SNIPPET)
    assert out["plain"] == {
        "name": "IMG_1.jpg",
        "mime": "image/jpeg",
        "size": 1234,
        "kind": "photo",
        "width": 640,
        "height": 480,
        "duration": None,
        "taken_at": None,
        "camera": None,
        "location": None,
        "thumb_type": "image/webp",
        "preview_type": "image/webp",
    }
    assert out["tagged"] == {
        **out["plain"],
        "taken_at": "2024-06-01T12:30:00+02:00",
        "camera": "Canon EOS R5",
        "location": [48.8584, -2.2945],
    }
    # Folders are the guest's own business: only the file's name is kept.
    assert out["windows"] == "IMG_1.jpg"
    assert out["posix"] == "IMG 2.jpg"
    # `uploader` only when the guest gave a name, trimmed.
    uploaders = out["uploaders"]
    assert [m.get("uploader") for m in uploaders] == ["Zoé Martin", "Zoé", None, None, None, None, None]
    assert ["uploader" in m for m in uploaders] == [True, True, False, False, False, False, False]
    assert all(set(m) - {"uploader"} == set(out["plain"]) for m in uploaders)
    # Photos have no duration; videos have it to the millisecond when it is a number.
    assert out["photoDuration"] is None
    assert out["videoDurations"] == [12.346, 2, 0, None, None, None]
    assert (out["noSize"]["width"], out["noSize"]["height"]) == (None, None)
