"""WSGI entry point: `gunicorn app:app` (see Procfile)."""

from viewer.server import create_app

app = create_app()
