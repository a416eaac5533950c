"""Several servers that agree (issue 10): one secret (rotated without signing anyone out), readiness,
the proxies in front, the database pool. What an operator or a visitor notices."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import servers
from tests.support.api_helpers import Owner, bearer, unlock
from viewer.server import create_app


def make_app(tmp_path, **overrides):
    return create_app({"DATA_DIR": str(tmp_path / "data"), **overrides})


def owner_of(app) -> Owner:
    result = app.test_cli_runner().invoke(args=["create-owner-token"])
    assert result.exit_code == 0, result.output
    return Owner(app.test_client(), result.output.strip())


def test_a_token_of_the_old_key_opens_while_the_key_is_listed_and_is_refused_once_removed(tmp_path):
    old = make_app(tmp_path, SECRET_KEY="key-A")
    owner = owner_of(old)
    album_id, ak = owner.album()
    owner.add_file(album_id, ak, b"photo")
    link_id, secret = owner.link(album_id, ak)
    token = unlock(old.test_client(), link_id, secret).json["access_token"]

    rotating = make_app(tmp_path, SECRET_KEY="key-B, key-A").test_client()
    listed = rotating.get(f"/api/links/{link_id}/files", headers=bearer(token))
    assert listed.status_code == 200 and len(listed.json["files"]) == 1
    # A token made now is signed with the new key: a server that knows only B takes it.
    fresh = unlock(rotating, link_id, secret).json["access_token"]

    rotated = make_app(tmp_path, SECRET_KEY="key-B").test_client()
    assert rotated.get(f"/api/links/{link_id}/files", headers=bearer(fresh)).status_code == 200
    refused = rotated.get(f"/api/links/{link_id}/files", headers=bearer(token))
    assert refused.status_code == 401
    assert (refused.json["error"], refused.json["message"]) == ("unauthorized", "The access token is not valid for this link.")


def test_a_server_on_postgresql_without_a_secret_refuses_to_start_in_one_sentence(tmp_path, pg_url):
    env = {**os.environ, "FRAGMENT_DATA_DIR": str(tmp_path / "data"), "FRAGMENT_DATABASE_URL": pg_url}
    env.pop("FRAGMENT_SECRET_KEY", None)
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
    env["PORT"] = str(servers.free_port())
    from viewer.server import procfile

    done = subprocess.run(
        ["sh", "-c", "exec " + procfile.command("web")], cwd=servers.ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "FRAGMENT_SECRET_KEY must be set" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "data" / "secret_key").exists()


def test_sqlite_keeps_its_generated_key(tmp_path):
    first = make_app(tmp_path, SECRET_KEY=None)
    again = make_app(tmp_path, SECRET_KEY=None)
    assert first.config["SECRET_KEY"] == again.config["SECRET_KEY"] == (tmp_path / "data" / "secret_key").read_text()


def test_readyz_names_the_store_when_s3_is_unreachable_and_says_nothing_else(tmp_path):
    app = make_app(
        tmp_path,
        SECRET_KEY="x",
        BLOB_STORE="s3",
        S3_BUCKET="photos",
        S3_ENDPOINT_URL=f"http://127.0.0.1:{servers.free_port()}",  # a closed port
        S3_ACCESS_KEY_ID="AKIDSECRETISH",
        S3_SECRET_ACCESS_KEY="very-secret",
        S3_REGION="us-east-1",
    )
    client = app.test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json == {"ok": False, "failing": ["store"]}
    assert client.get("/healthz").status_code == 200  # liveness: the process and its database answer


def test_readyz_is_ok_on_a_writable_folder_and_names_the_database_when_it_is_gone(tmp_path, pg_url):
    servers.fresh_pg_schema(pg_url)
    app = make_app(tmp_path, SECRET_KEY="x", DATABASE_URL=pg_url)
    client = app.test_client()
    assert client.get("/readyz").json == {"ok": True}
    # The same app pointed at a database port where nothing listens.
    app.extensions["fragment.engine"].dispose()
    from sqlalchemy.orm import sessionmaker

    from viewer.server import db

    dead = db.make_engine(pg_url.replace(pg_url.split("@")[1].split("/")[0], f"127.0.0.1:{servers.free_port()}"), app.config)
    app.extensions["fragment.sessionmaker"] = sessionmaker(dead, expire_on_commit=False)
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json == {"ok": False, "failing": ["database"]}


@pytest.mark.parametrize("proxies", [0, 1])
def test_links_use_the_forwarded_scheme_and_host_only_with_a_proxy_in_front(tmp_path, proxies):
    app = make_app(tmp_path, SECRET_KEY="x", PROXIES=proxies)
    owner = owner_of(app)
    album_id, ak = owner.album()
    owner.link(album_id, ak)
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "photos.example.org", "X-Forwarded-For": "203.0.113.9"}
    links = owner.call("GET", f"/api/owner/albums/{album_id}/links", headers=forged).json["links"]
    expected = "https://photos.example.org/a/" if proxies else "http://localhost/a/"
    assert links[0]["url"].startswith(expected)


def test_the_pool_settings_reach_postgresqls_engine(tmp_path, pg_url):
    servers.fresh_pg_schema(pg_url)
    app = make_app(tmp_path, SECRET_KEY="x", DATABASE_URL=pg_url, DB_POOL_SIZE=3, DB_MAX_OVERFLOW=1, DB_POOL_TIMEOUT=2)
    engine = app.extensions["fragment.engine"]
    try:
        assert engine.pool.size() == 3 and engine.pool._max_overflow == 1 and engine.pool._timeout == 2
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        engine.dispose()
