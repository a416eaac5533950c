"""Security headers, asserted as exact values: pages, static files, API answers, HSTS."""

from __future__ import annotations

import pytest

from viewer.server import create_app, headers

EXPECTED_COMMON = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


def make_client(tmp_path, **overrides):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": "test-secret", **overrides})
    return app.test_client()


@pytest.mark.parametrize("path", ["/api/links/AAAAAAAAAAAAAAAAAAAAAA", "/api/nothing", "/api/owner/albums"])
def test_api_answers_run_nothing_and_are_sandboxed(tmp_path, path):
    response = make_client(tmp_path).get(path)
    assert response.status_code in (401, 404)
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox; frame-ancestors 'none'"
    assert response.headers["Cache-Control"] == "no-store"
    for name, value in EXPECTED_COMMON.items():
        assert response.headers[name] == value
    assert "Strict-Transport-Security" not in response.headers


def test_pages_get_the_page_policy_and_every_common_header(tmp_path):
    client = make_client(tmp_path)
    response = client.get("/a/AAAAAAAAAAAAAAAAAAAAAA")
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'; script-src 'self' 'wasm-unsafe-eval' 'sha256-")
    assert csp.endswith(
        "; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
        "worker-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    for name, value in EXPECTED_COMMON.items():
        assert response.headers[name] == value


def test_hsts_only_when_the_public_url_is_https(tmp_path):
    secure = make_client(tmp_path / "a", PUBLIC_URL="https://photos.example.org")
    for path in ("/", "/api/links/AAAAAAAAAAAAAAAAAAAAAA", "/static/css/site.css"):
        assert secure.get(path).headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = make_client(tmp_path / "b", PUBLIC_URL="http://photos.example.org")
    assert "Strict-Transport-Security" not in plain.get("/").headers
    assert headers.HSTS == "max-age=31536000"


def test_the_data_folder_and_database_are_private(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "fragment.db").touch(mode=0o644)
    client = make_client(tmp_path)
    client.get("/api/links/AAAAAAAAAAAAAAAAAAAAAA")  # opens the database, which makes the -wal and -shm files
    assert data.stat().st_mode & 0o777 == 0o700
    for name in ("fragment.db", "fragment.db-wal", "fragment.db-shm", "secret_key"):
        path = data / name
        if path.exists():
            assert path.stat().st_mode & 0o777 == 0o600, name
    assert (data / "fragment.db").exists()


def test_a_new_data_folder_is_private_from_the_start(tmp_path):
    make_client(tmp_path, SECRET_KEY=None).get("/")
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "data" / "fragment.db").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
