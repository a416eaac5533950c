"""The app, plus plaintext baselines: of bench/viewer_first_paint.py and bench/upload_throughput.py.

Run by gunicorn with the Procfile's command and ``bench.plain_app:app`` in place of
``app:app``, so that one server process serves both the encrypted album and these
pages, with the same headers (the real CSP included). It exists only for the
benchmarks: the app itself never serves or takes plaintext, and never imports this
module.

**Gallery.** ``BENCH_PLAIN_THUMBS`` names a folder holding the album's thumbnails,
decrypted (the very bytes the viewer decrypts) and an ``index.json`` listing them in
album order with their sizes. ``/bench/plain?cols=N`` shows them as plain ``<img>``
tags in rows of N, the same tile size and header as the viewer's grid: the page uses
the viewer's own stylesheets, plus ``/bench/plain.css`` for the rows (no inline
style: the CSP has ``style-src 'self'``).

**Upload.** ``/bench/plain-upload`` has a file input like the album's (``#file-input``)
and a progress line like its ``#uploads [data-slot=summary]``. Its script,
``/bench/plain-upload.js`` (a file of its own: the CSP allows no inline script), sends
each chosen file as it is, its ``File`` as the body of one ``PUT``, three files at a
time as static/js/upload/uploads.js does, and says "N of N files added" when the server has
answered for all of them. The server streams each body into the app's own blob store
(``bench-plain/<run>/<n>``), as it stores a guest's parts: written to a temporary
file, fsynced and renamed into place. Each file must fit in one request
(``UPLOAD_PART_BYTES``, 8 MiB by default).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Blueprint, Response, abort, jsonify, request, send_from_directory
from markupsafe import Markup, escape

from viewer.server import create_app
from viewer.server.assets import stylesheet
from viewer.server.storage import InvalidKey
from viewer.server.uploads import READ_PIECE, store

THUMBS = Path(os.environ.get("BENCH_PLAIN_THUMBS", "bench-plain-thumbs"))
GAP = 6  # grid.js: the gap between tiles on a wide screen

bp = Blueprint("bench_plain", __name__)


def _cols() -> int:
    cols = request.args.get("cols", "4")
    if not cols.isdigit() or not 1 <= int(cols) <= 12:
        abort(400)
    return int(cols)


def _page(title: str, head: str, body: str) -> Response:
    """An HTML page (no inline script or style: the app's real CSP applies)."""
    return Response(
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}</title>
{head}</head>
<body>
{body}</body>
</html>
""",
        mimetype="text/html",
    )


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
    head = f"""{stylesheet("static/css/site.css")}
{stylesheet("static/css/viewer.css")}
<link rel="stylesheet" href="/bench/plain.css?cols={cols}">
"""
    body = f"""<main>
<header class="album-header"><div class="album-heading">
<h1>{escape(index["title"])}</h1>
<p class="album-stats">{len(index["thumbs"]):,} photos, plaintext</p>
</div></header>
<div class="plain-grid">
{images}
</div>
</main>
"""
    return _page("Plaintext baseline", head, body)


@bp.get("/bench/plain.css")
def css():
    cols = _cols()
    # The margins and gap of .grid in static/css/viewer.css and grid.js; rows of
    # `cols` tiles of the thumbnails' own aspect ratio (from width/height).
    body = f""".plain-grid {{ display: flex; flex-wrap: wrap; gap: {GAP}px; margin: 0 clamp(.2rem, 2vw, 2rem); }}
.plain-grid img {{ display: block; width: calc((100% - {(cols - 1) * GAP}px) / {cols}); height: auto;
  border-radius: 3px; background: var(--tile); }}
"""
    return Response(body, mimetype="text/css")


@bp.get("/bench/plain/<name>")
def thumb(name: str):
    return send_from_directory(THUMBS, name, mimetype="image/webp")


# --- upload ---------------------------------------------------------------------

# Three files in flight, as static/js/upload/uploads.js (PARALLEL); each sent whole, as it is.
UPLOAD_JS = """// The plaintext upload baseline of bench/upload_throughput.py (served by bench/plain_app.py).
const PARALLEL = 3;
const input = document.getElementById("file-input");
const summary = document.querySelector("#uploads [data-slot=summary]");
let runs = 0;

input.addEventListener("change", async () => {
  const files = [...input.files];
  input.value = "";
  if (!files.length) return;
  runs += 1;
  const run = `${Date.now().toString(36)}-${runs}`;
  let next = 0;
  let done = 0;
  let bytes = 0;
  const show = () => {
    summary.textContent = `${done} of ${files.length} ${files.length === 1 ? "file" : "files"} added`;
  };
  async function lane() {
    while (next < files.length) {
      const index = next++;
      const response = await fetch(`/bench/plain-upload/${run}/${index}`, {
        method: "PUT",
        headers: { "Content-Type": "application/octet-stream" },
        body: files[index],
      });
      if (!response.ok) throw new Error(`${files[index].name}: HTTP ${response.status}`);
      const answer = await response.json();
      bytes += answer.bytes;
      done += 1;
      show();
    }
  }
  show();
  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL, files.length) }, lane));
    window.__plainUpload = { files: done, bytes };
  } catch (error) {
    summary.textContent = `Failed: ${error.message}`;
    window.__plainUpload = { error: error.message };
  }
});
"""


@bp.get("/bench/plain-upload")
def upload_page():
    head = f"""{stylesheet("static/css/site.css")}
<script src="/bench/plain-upload.js" defer></script>
"""
    body = """<main>
<h1>Plaintext upload</h1>
<input type="file" id="file-input" multiple>
<section id="uploads"><p data-slot="summary" role="status"></p></section>
</main>
"""
    return _page("Plaintext upload baseline", head, body)


@bp.get("/bench/plain-upload.js")
def upload_js():
    return Response(UPLOAD_JS, mimetype="text/javascript")


@bp.put("/bench/plain-upload/<run>/<int:index>")
def upload(run: str, index: int):
    """Stream the body, as it is, into the blob store; answer with its size."""
    if request.content_length is None:
        abort(411)
    stream = request.stream
    try:
        size = store().put(f"bench-plain/{run}/{index}", iter(lambda: stream.read(READ_PIECE), b""))
    except InvalidKey:
        abort(400)
    if size != request.content_length:
        abort(400)
    return jsonify(bytes=size)


app = create_app()
app.register_blueprint(bp)
