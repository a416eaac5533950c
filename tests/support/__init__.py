"""What the tests share, and bench/ imports: real servers (gunicorn, PostgreSQL, S3), Chromium, media, the owner CLI."""
