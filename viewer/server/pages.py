"""HTML pages and the health check.

The album page is served the same for every link id: the key is in the fragment,
which the browser never sends, so the server could not tailor it if it wanted to.
It is also all a link-preview bot sees: a generic card with no album data (the
server has none), and no unlock, because unlocking (and so taking a device slot)
happens only in the page's JavaScript, after a person acts where a link has a
device limit.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from sqlalchemy import text

from .. import crypto
from . import db

bp = Blueprint("pages", __name__)

# Album pages are private by nature: keep them out of search engines even if a
# link leaks onto a public page (Google Search Central, "Block Search indexing
# with noindex": the header form also covers non-HTML crawlers).
NOINDEX = {"X-Robots-Tag": "noindex, nofollow"}


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/a/<link_id>")
def album(link_id: str):
    # A person who follows a broken link gets a page that says so, not JSON.
    if not crypto.is_id(link_id):
        return render_template("album.html", bad_link=True), 404, NOINDEX
    return render_template("album.html", bad_link=False, link_id=link_id), 200, NOINDEX


# The album's Service Worker (static/js/download/sw.js) is served with the other scripts, so
# that its relative imports (crypto.js, libsodium, client-zip) resolve as they do
# everywhere else; this header lets it control the album pages under /a/, above
# its own folder (Service Workers, "Service-Worker-Allowed"; MDN, "Service-Worker-Allowed").
SERVICE_WORKER = "js/download/sw.js"


@bp.after_app_request
def allow_service_worker_scope(response: Response) -> Response:
    if request.endpoint == "static" and (request.view_args or {}).get("filename") == SERVICE_WORKER:
        response.headers["Service-Worker-Allowed"] = f"{request.script_root}/a/"
    return response


@bp.get("/healthz")
def healthz():
    db.session().execute(text("SELECT 1"))
    return {"ok": True}
