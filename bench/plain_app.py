"""The app, plus a plaintext gallery: the baseline of bench/viewer_first_paint.py.

Run by gunicorn with the Procfile's command and ``bench.plain_app:app`` in place of
``app:app``, so that one server process serves both the encrypted album viewer and
this page, with the same headers (the real CSP included). It exists only for the
benchmark: the app itself never serves plaintext, and never imports this module.

``BENCH_PLAIN_THUMBS`` names a folder holding the album's thumbnails, decrypted
(the very bytes the viewer decrypts) and an ``index.json`` listing them in album
order with their sizes. ``/bench/plain?cols=N`` shows them as plain ``<img>`` tags
in rows of N, the same tile size and header as the viewer's grid: the page uses
the viewer's own stylesheets, plus ``/bench/plain.css`` for the rows (no inline
style: the CSP has ``style-src 'self'``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Blueprint, Response, abort, request, send_from_directory
from markupsafe import Markup, escape

from viewer import create_app
from viewer.assets import stylesheet

THUMBS = Path(os.environ.get("BENCH_PLAIN_THUMBS", "bench-plain-thumbs"))
GAP = 6  # grid.js: the gap between tiles on a wide screen

bp = Blueprint("bench_plain", __name__)


def _cols() -> int:
    cols = request.args.get("cols", "4")
    if not cols.isdigit() or not 1 <= int(cols) <= 12:
        abort(400)
    return int(cols)


@bp.get("/bench/plain")
def gallery():
    index = json.loads((THUMBS / "index.json").read_text())
    cols = _cols()
    # Lazy, as a good gallery does: the browser fetches only images near the viewport.
    loading = "eager" if request.args.get("loading") == "eager" else "lazy"
    images = Markup("\n").join(
        Markup('<img src="/bench/plain/{}" width="{}" height="{}" loading="{}" alt="Photo {} of {}">').format(
            t["name"], t["width"], t["height"], loading, i + 1, len(index["thumbs"])
        )
        for i, t in enumerate(index["thumbs"])
    )
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Plaintext baseline</title>
{stylesheet("static/css/site.css")}
{stylesheet("static/css/viewer.css")}
<link rel="stylesheet" href="/bench/plain.css?cols={cols}">
</head>
<body>
<main>
<header class="album-header"><div class="album-heading">
<h1>{escape(index["title"])}</h1>
<p class="album-stats">{len(index["thumbs"]):,} photos, plaintext</p>
</div></header>
<div class="plain-grid">
{images}
</div>
</main>
</body>
</html>
"""
    return Response(page, mimetype="text/html")


@bp.get("/bench/plain.css")
def css():
    cols = _cols()
    # The margins and gap of .grid in static/css/viewer.css and grid.js; rows of
    # `cols` tiles of the thumbnails' own aspect ratio (from width/height).
    body = f""".plain-grid {{ display: flex; flex-wrap: wrap; gap: {GAP}px; margin: 0 clamp(.2rem, 2vw, 2rem); }}
.plain-grid img {{ display: block; width: calc((100% - {(cols - 1) * GAP}px) / {cols}); height: auto; border-radius: 3px; background: var(--tile); }}
"""
    return Response(body, mimetype="text/css")


@bp.get("/bench/plain/<name>")
def thumb(name: str):
    return send_from_directory(THUMBS, name, mimetype="image/webp")


app = create_app()
app.register_blueprint(bp)
