"""The server wing: the Flask app that stores ciphertext and enforces link policy.

``create_app`` is the application factory (Flask docs, "Application Factories"):
settings come from ``config.load`` (the environment, once), and each concern
registers itself from its own module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import click
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

# The repository: templates/ and static/ sit beside the viewer package.
ROOT = Path(__file__).resolve().parents[2]


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, with `overrides` (tests) on top."""
    from . import (
        account_commands,
        api_account,
        api_activity,
        api_library,
        api_notes,
        api_owner,
        api_public,
        api_sharing,
        assets,
        commands,
        config,
        db,
        digest,
        errors,
        headers,
        pages,
        private,
        slowclients,
        storage,
    )

    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    settings = config.load(overrides=overrides)
    private.private_dir(Path(settings["DATA_DIR"]))
    private.private_sqlite_file(settings["DATABASE_URL"])
    if not settings["SECRET_KEY"]:
        # A server on a shared database must not make up a key of its own: it would refuse every
        # other server's tokens, with no warning (issue 10). The command line signs nothing that
        # outlives it, so there the data folder's key will do (docs/design.md, "The secret key").
        if config.is_shared_database(settings["DATABASE_URL"]) and click.get_current_context(silent=True) is None:
            config.refuse_without_secret()
        settings["SECRET_KEY"] = config.secret_key(Path(settings["DATA_DIR"]))
    app.config.update(settings)
    # Werkzeug refuses larger bodies before a view reads them; the views check
    # their own, smaller limits too, with a clearer message.
    app.config["MAX_CONTENT_LENGTH"] = max(settings["UPLOAD_PART_BYTES"], settings["MAX_JSON_BYTES"]) + 1024
    cast(DefaultJSONProvider, app.json).sort_keys = False  # Flask's provider unless one is configured

    db.init_app(app)
    app.extensions["fragment.store"] = storage.store_from_config(settings)
    errors.init_app(app)
    assets.init_app(app)
    headers.init_app(app)
    app.register_blueprint(api_account.bp)
    app.register_blueprint(api_owner.bp)
    app.register_blueprint(api_library.bp)
    app.register_blueprint(api_public.bp)
    app.register_blueprint(api_sharing.bp)
    app.register_blueprint(api_sharing.invitations_bp)
    app.register_blueprint(api_notes.owner_bp)
    app.register_blueprint(api_notes.public_bp)
    app.register_blueprint(api_activity.bp)
    app.register_blueprint(pages.bp)
    commands.init_app(app)
    account_commands.init_app(app)
    digest.init_app(app)
    if settings["PROXIES"]:
        # Only as many X-Forwarded-* values as there are proxies that set them: without a proxy a
        # client could forge its address, scheme and host (docs/design.md, "Proxies in front").
        hops = settings["PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.wsgi_app = slowclients.BodyPace(  # type: ignore[method-assign]
        app.wsgi_app, settings["BODY_GRACE_SECONDS"], settings["BODY_MIN_RATE"], drain_limit=app.config["MAX_CONTENT_LENGTH"]
    )
    return app
