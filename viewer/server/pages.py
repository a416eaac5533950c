"""HTML pages and the health check.

The album page is served the same for every link id: the key is in the fragment,
which the browser never sends, so the server could not tailor it if it wanted to.
It is also all a link-preview bot sees: a generic card with no album data (the
server has none), and no unlock, because unlocking (and so taking a device slot)
happens only in the page's JavaScript, after a person acts where a link has a
device limit.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
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


# --- the owner's web app ---------------------------------------------------------------
# One template, one section per view (templates/owner.html); static/js/owner/app.js does the
# work. The pages carry no account data: the browser asks the account API for it, with the
# session cookie, and decrypts it with a master key that only the browser holds.
OWNER_VIEWS = {"signup", "login", "recover", "albums", "album", "account", "activity"}


def _owner_page(view: str, **context):
    return (
        render_template("owner.html", view=view, signup_mode=current_app.config["SIGNUP"], **context),
        200,
        NOINDEX,
    )


@bp.get("/signup")
def signup():
    return _owner_page("signup")


@bp.get("/login")
def login():
    return _owner_page("login")


@bp.get("/recover")
def recover():
    return _owner_page("recover")


@bp.get("/app")
def owner_albums():
    return _owner_page("albums")


@bp.get("/app/albums/<album_id>")
def owner_album(album_id: str):
    if not crypto.is_id(album_id):
        return render_template("owner.html", view="missing", signup_mode=current_app.config["SIGNUP"]), 404, NOINDEX
    return _owner_page("album", album_id=album_id)


@bp.get("/join/<invite_id>")
def join(invite_id: str):
    """An invitation to a shared album; the page reads its secret from the fragment (docs/design.md, "Sharing with people")."""
    if not crypto.is_id(invite_id):
        return render_template("owner.html", view="missing", signup_mode=current_app.config["SIGNUP"]), 404, NOINDEX
    return _owner_page("join", invite_id=invite_id)


@bp.get("/app/account")
def owner_account():
    return _owner_page("account")


@bp.get("/app/activity")
def owner_activity():
    """What happened in the account's albums (the owner app's activity view)."""
    return _owner_page("activity")


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


@bp.get("/readyz")
def readyz():
    """Whether this instance may take requests: the database and the blob store both answer.

    /healthz stays a liveness check, so a store outage takes instances out of the load balancer's
    rotation instead of having them restarted. The answer names what fails and nothing more: no
    address, bucket or error text that would tell a visitor about the credentials behind it.
    """
    failing = []
    try:
        db.session().execute(text("SELECT 1"))
    except Exception:  # unreachable, refused, timed out: all "not ready"
        current_app.logger.warning("readyz: the database does not answer", exc_info=True)
        failing.append("database")
    if not current_app.extensions["fragment.store"].ready():
        current_app.logger.warning("readyz: the blob store does not answer")
        failing.append("store")
    headers = {"Cache-Control": "no-store"}
    if failing:
        return {"ok": False, "failing": failing}, 503, headers
    return {"ok": True}, 200, headers
