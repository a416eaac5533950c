"""HTML pages and the health check.

The album page is served the same for every link id: the key is in the fragment,
which the browser never sends, so the server could not tailor it if it wanted to.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import text

from . import crypto, db

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/a/<link_id>")
def album(link_id: str):
    # A person who follows a broken link gets a page that says so, not JSON.
    if not crypto.is_id(link_id):
        return render_template("album.html", bad_link=True), 404
    return render_template("album.html", bad_link=False)


@bp.get("/healthz")
def healthz():
    db.session().execute(text("SELECT 1"))
    return {"ok": True}
