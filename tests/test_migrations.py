"""The schema from Alembic migrations (migrations/, viewer/server/migrate.py), on SQLite and a real PostgreSQL.

A fresh database comes up at head and matches the models; databases made before migrations (of
three ages) holding a real published album are upgraded and the album opens with the same bytes;
MIGRATE=check refuses a schema that is behind until `flask db upgrade`; a schema newer than the
code is refused; several processes starting at once on an empty database all come up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, select, text

from tests.support import servers
from tests.support.api_helpers import bearer, unlock
from tests.support.schema import HEAD
from viewer import crypto
from viewer.server import ROOT, create_app, db, migrate, procfile

PHOTO = os.urandom(150_000)
BASELINE_TABLES = ("owner_tokens", "albums", "files", "links", "unlock_counters", "spent_challenges", "link_devices")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    """The URL of an empty database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fragment.db'}"
    url = request.getfixturevalue("pg_url")
    servers.fresh_pg_schema(url)
    return url


def settings(tmp_path: Path, url: str, **more) -> dict:
    return {"DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": url, "SECRET_KEY": "test-secret", **more}


def differences(engine) -> list:
    """What Alembic's autogenerate would change to make the database match the models (nothing, we want)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        found = compare_metadata(context, db.Base.metadata)
        if engine.dialect.name == "sqlite":
            # SQLite can add a foreign key only inside ADD COLUMN, and SQLAlchemy's SQLite reflection
            # reads ON DELETE only from table-level FOREIGN KEY clauses: such a key shows as one to
            # remove and one to add. Check the real rule with PRAGMA foreign_key_list instead.
            pairs = [d for d in found if d[0] in ("remove_fk", "add_fk")]
            for diff in pairs:
                fk = diff[1]
                rows = connection.execute(text(f"PRAGMA foreign_key_list({fk.table.name})")).mappings().all()
                column = next(iter(fk.columns)).name
                actions = {row["on_delete"] for row in rows if row["from"] == column and row["table"] == fk.referred_table.name}
                if diff[0] == "add_fk":
                    assert actions == {fk.ondelete or "NO ACTION"}, (fk.table.name, column, actions)
            found = [d for d in found if d not in pairs]
    return found


def test_a_fresh_database_comes_up_at_head_and_matches_the_models(database, tmp_path):
    app = create_app(settings(tmp_path, database))
    engine = app.extensions["fragment.engine"]
    try:
        assert migrate.current(engine) == migrate.head() == HEAD
        assert differences(engine) == []
        assert set(inspect(engine).get_table_names()) == set(db.Base.metadata.tables) | {"alembic_version"}
    finally:
        engine.dispose()


# --- databases made before migrations ---------------------------------------------------------

AGES = {
    "before-file-state": "files.state and links.link_verifier missing, the old unlock_failures table, no link_devices",
    "before-accounts": "the baseline exactly (create_all at commit 84a31f8)",
    "accounts-ad-hoc": "the account tables by create_all and their columns by ALTER, without indexes",
}


def make_old_database(url: str, age: str) -> None:
    """A database as a version of before migrations left it: the migrations' tables, then that age's differences."""
    engine = db.make_engine(url)
    with engine.connect() as connection:
        connection.commit()
        command.upgrade(migrate._config(connection), migrate.ACCOUNTS if age == "accounts-ad-hoc" else migrate.BASELINE)
        connection.commit()
        connection.execute(text("DROP TABLE alembic_version"))
        if age == "accounts-ad-hoc":
            connection.execute(text("DROP INDEX ix_albums_account_id"))
            connection.execute(text("DROP INDEX ix_owner_tokens_account_id"))
        if age == "before-file-state":
            connection.execute(text("ALTER TABLE files DROP COLUMN state"))
            connection.execute(text("ALTER TABLE links DROP COLUMN link_verifier"))
            connection.execute(text("DROP TABLE link_devices"))
            connection.execute(text("CREATE TABLE unlock_failures (id INTEGER PRIMARY KEY, link_id VARCHAR(22))"))
        connection.commit()
    engine.dispose()


def publish(app) -> dict:
    """A real album through the owner API: two files and a link; what a recipient should see."""
    token = app.test_cli_runner().invoke(args=["create-owner-token"]).output.strip()
    client = app.test_client()
    auth = bearer(token)
    album_id, ak = crypto.new_id(), crypto.random_key()
    meta = crypto.seal_album_meta(ak, album_id, {"v": 1, "title": "Before migrations"})
    assert (
        client.post("/api/owner/albums", json={"album_id": album_id, "meta": crypto.b64e(meta)}, headers=auth).status_code == 201
    )
    originals = {}
    for name, original in (("sea.jpg", PHOTO), ("note.txt", b"tiny")):
        file_id, fk = crypto.new_id(), crypto.random_key()
        blobs = {
            kind: crypto.encrypt_blob_bytes(fk, file_id, kind, data)
            for kind, data in (("thumb", b"t" + name.encode()), ("preview", b"p" + name.encode()), ("original", original))
        }
        body = {
            "file_id": file_id,
            "wrapped_key": crypto.b64e(crypto.wrap_file_key(ak, fk, album_id, file_id)),
            "meta": crypto.b64e(crypto.seal_file_meta(fk, album_id, file_id, {"v": 1, "name": name, "size": len(original)})),
            "blobs": {kind: len(blob) for kind, blob in blobs.items()},
        }
        base = f"/api/owner/albums/{album_id}/files"
        assert client.post(base, json=body, headers=auth).status_code == 201
        for kind, blob in blobs.items():
            assert client.put(f"{base}/{file_id}/blobs/{kind}", data=blob, headers=auth).status_code == 200
        assert client.post(f"{base}/{file_id}/complete", headers=auth).status_code == 200
        originals[file_id] = (name, original)
    link_id, secret = crypto.new_id(), os.urandom(32)
    keys = crypto.link_keys(secret)
    link = {
        "link_id": link_id,
        "wrapped_album_key": crypto.b64e(crypto.wrap_album_key(keys.wrap_key, ak, link_id)),
        "verifier": crypto.b64e(keys.verifier),
        "link_verifier": crypto.b64e(keys.link_verifier),
    }
    assert client.post(f"/api/owner/albums/{album_id}/links", json=link, headers=auth).status_code == 201
    return {"token": token, "album_id": album_id, "link_id": link_id, "secret": secret, "originals": originals}


def copy_rows(source_url: str, target_url: str) -> None:
    """Every row of the baseline tables, in the columns the target has (as the old version would have written them)."""
    source, target = db.make_engine(source_url), db.make_engine(target_url)
    have, want = MetaData(), MetaData()
    have.reflect(source)
    want.reflect(target)
    with source.connect() as reading, target.begin() as writing:
        for name in BASELINE_TABLES:
            if name not in want.tables:
                continue
            table = want.tables[name]
            columns = [c.name for c in table.columns if c.name in have.tables[name].columns]
            rows = [dict(row._mapping) for row in reading.execute(select(*(have.tables[name].c[c] for c in columns)))]
            if rows:
                writing.execute(table.insert(), rows)
    source.dispose()
    target.dispose()


def opens_with_the_same_bytes(app, album: dict) -> None:
    client = app.test_client()
    unlocked = unlock(client, album["link_id"], album["secret"])
    assert unlocked.status_code == 200, unlocked.json
    album_key = crypto.unwrap_album_key(
        crypto.link_keys(album["secret"]).wrap_key, crypto.b64d(unlocked.json["wrapped_album_key"]), album["link_id"]
    )
    title = crypto.open_album_meta(album_key, album["album_id"], crypto.b64d(unlocked.json["album_meta"]))["title"]
    assert title == "Before migrations"
    access = bearer(unlocked.json["access_token"])
    files = client.get(f"/api/links/{album['link_id']}/files", headers=access).json["files"]
    assert [f["file_id"] for f in files] == list(album["originals"])
    for listed in files:
        file_id = listed["file_id"]
        fk = crypto.unwrap_file_key(album_key, crypto.b64d(listed["wrapped_key"]), album["album_id"], file_id)
        name, original = album["originals"][file_id]
        assert crypto.open_file_meta(fk, album["album_id"], file_id, crypto.b64d(listed["meta"]))["name"] == name
        blob = client.get(f"/api/links/{album['link_id']}/files/{file_id}/blobs/original", headers=access)
        assert blob.status_code == 200
        assert crypto.decrypt_blob_bytes(fk, file_id, "original", blob.data) == original
    owned = client.get("/api/owner/albums", headers=bearer(album["token"])).get_json()["albums"]
    assert [a["album_id"] for a in owned] == [album["album_id"]]


@pytest.mark.parametrize("age", list(AGES))
def test_a_database_made_before_migrations_is_upgraded_and_its_album_opens(database, tmp_path, age):
    source = create_app(settings(tmp_path, f"sqlite:///{tmp_path / 'source.db'}"))
    album = publish(source)
    source.extensions["fragment.engine"].dispose()
    make_old_database(database, age)
    copy_rows(f"sqlite:///{tmp_path / 'source.db'}", database)

    app = create_app(settings(tmp_path, database))  # the same data folder: the same blobs
    engine = app.extensions["fragment.engine"]
    try:
        assert migrate.current(engine) == migrate.head()
        assert differences(engine) == []
        tables = set(inspect(engine).get_table_names())
        assert "unlock_failures" not in tables and "link_devices" in tables
        opens_with_the_same_bytes(app, album)
    finally:
        engine.dispose()


def test_part_of_the_account_tables_is_refused(database, tmp_path):
    make_old_database(database, "accounts-ad-hoc")
    engine = db.make_engine(database)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE invitations"))
    engine.dispose()
    with pytest.raises(migrate.SchemaError, match="only part of the account tables"):
        create_app(settings(tmp_path, database))


# --- MIGRATE=check, and a database ahead of the code --------------------------------------------


def flask_db(tmp_path: Path, url: str, *args: str, migrate_mode: str = "check") -> subprocess.CompletedProcess:
    env = {**os.environ, "FRAGMENT_DATA_DIR": str(tmp_path / "data"), "FRAGMENT_DATABASE_URL": url}
    env.update(FRAGMENT_SECRET_KEY="test-secret", FRAGMENT_MIGRATE=migrate_mode)
    flask = Path(sys.executable).parent / "flask"
    return subprocess.run([flask, "--app", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_check_refuses_a_schema_that_is_behind_until_db_upgrade(database, tmp_path):
    make_old_database(database, "before-accounts")
    message = f"The database was made before migrations (this code needs revision {HEAD}): run `flask --app app db upgrade`."
    with pytest.raises(migrate.SchemaBehind) as refused:
        create_app(settings(tmp_path, database, MIGRATE="check"))
    assert str(refused.value) == message

    checked = flask_db(tmp_path, database, "db", "check")
    assert checked.returncode == 1 and checked.stderr.strip() == f"Error: {message}"
    cleanup = flask_db(tmp_path, database, "cleanup")  # any other command refuses too
    assert cleanup.returncode == 1 and cleanup.stderr.strip() == f"Error: {message}"

    upgraded = flask_db(tmp_path, database, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (
        upgraded.stdout
        == f"Upgraded the database from no revision (an empty database, or one made before migrations) to revision {HEAD}.\n"
    )
    again = flask_db(tmp_path, database, "db", "upgrade")
    assert again.stdout == f"The database is already at the newest revision, {HEAD}.\n"
    assert (
        flask_db(tmp_path, database, "db", "current").stdout
        == f"The database is at revision {HEAD}; this code's newest is {HEAD}.\n"
    )
    assert flask_db(tmp_path, database, "db", "check").stdout == f"The database is at the newest revision, {HEAD}.\n"

    app = create_app(settings(tmp_path, database, MIGRATE="check"))
    app.extensions["fragment.engine"].dispose()


def test_check_refuses_an_older_revision(database, tmp_path):
    engine = db.make_engine(database)
    with engine.connect() as connection:
        command.upgrade(migrate._config(connection), migrate.BASELINE)
        connection.commit()
    engine.dispose()
    with pytest.raises(migrate.SchemaBehind, match=rf"^The database schema is at revision 0001, this code needs {HEAD}: run"):
        create_app(settings(tmp_path, database, MIGRATE="check"))
    create_app(settings(tmp_path, database)).extensions["fragment.engine"].dispose()  # auto: upgraded at start
    create_app(settings(tmp_path, database, MIGRATE="check")).extensions["fragment.engine"].dispose()


def test_a_schema_newer_than_the_code_is_refused(database, tmp_path):
    create_app(settings(tmp_path, database)).extensions["fragment.engine"].dispose()
    engine = db.make_engine(database)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    message = (
        f"The database schema is at revision 0099, which this code does not know (its newest is {HEAD}): "
        "a newer version of Fragment migrated it; run that version."
    )
    for mode in ("auto", "check"):
        with pytest.raises(migrate.SchemaAhead) as refused:
            create_app(settings(tmp_path, database, MIGRATE=mode))
        assert str(refused.value) == message
    upgraded = flask_db(tmp_path, database, "db", "upgrade", migrate_mode="auto")
    assert upgraded.returncode == 1 and upgraded.stderr.strip() == f"Error: {message}"


def test_gunicorn_refuses_to_start_with_one_line(tmp_path):
    """Under gunicorn --preload (the Procfile) the refusal is its exit status and one line in its log."""
    url = f"sqlite:///{tmp_path / 'data' / 'fragment.db'}"
    (tmp_path / "data").mkdir()
    make_old_database(url, "before-accounts")
    env = {"FRAGMENT_MIGRATE": "check", "FRAGMENT_SECRET_KEY": "test-secret"}
    with pytest.raises(RuntimeError, match=r"^gunicorn exited with 1:") as failed, servers.gunicorn(tmp_path / "data", env=env):
        pass
    assert (
        f"Error: The database was made before migrations (this code needs revision {HEAD}): run `flask --app app db upgrade`."
        in str(failed.value)
    )
    assert "Traceback" not in str(failed.value)


# --- several servers at once --------------------------------------------------------------------

START = "from viewer.server import create_app; create_app().extensions['fragment.engine'].dispose()"


def start_at_once(tmp_path: Path, url: str, count: int) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "FRAGMENT_DATA_DIR": str(tmp_path / "data"), "FRAGMENT_DATABASE_URL": url}
    env["FRAGMENT_SECRET_KEY"] = "test-secret"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", START], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


@pytest.mark.slow
def test_servers_started_at_once_on_an_empty_database_all_come_up(database, tmp_path):
    for round_ in range(10):
        if database.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / f'round{round_}.db'}"
        else:
            servers.fresh_pg_schema(database)
            url = database
        results = start_at_once(tmp_path, url, 4)
        assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results if r.returncode]
        engine = db.make_engine(url)
        assert migrate.current(engine) == migrate.head()
        engine.dispose()


def test_the_procfiles_release_line_lets_a_checking_server_start(tmp_path):
    """Heroku-style: the release phase upgrades, then the web line (MIGRATE=check) starts on the upgraded schema."""
    data = tmp_path / "data"
    data.mkdir()
    make_old_database(f"sqlite:///{data / 'fragment.db'}", "before-file-state")
    env = {**os.environ, "FRAGMENT_DATA_DIR": str(data), "FRAGMENT_SECRET_KEY": "test-secret", "FRAGMENT_MIGRATE": "check"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    release = subprocess.run(["sh", "-c", procfile.command("release")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert release.returncode == 0, release.stderr
    assert release.stdout.endswith(f"to revision {HEAD}.\n")
    with servers.gunicorn(data, env={"FRAGMENT_SECRET_KEY": "test-secret", "FRAGMENT_MIGRATE": "check"}) as url:
        assert requests.get(f"{url}/healthz", timeout=5).ok
