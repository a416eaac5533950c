"""WSGI entry point: `gunicorn app:app` (see Procfile)."""

from viewer import create_app

app = create_app()
