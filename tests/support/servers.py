"""Real servers for the tests: gunicorn started as the Procfile says, and PostgreSQL.

Each is started by the tests themselves, on a free port, in a temporary folder,
and stopped when the test session ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from viewer.server import procfile

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so a killed run leaves no server behind."""
    import ctypes

    PR_SET_PDEATHSIG = 1  # prctl(2)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text() if log else ''}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout} s:\n{log.read_text() if log else ''}")


@contextmanager
def gunicorn(data_dir: Path, env: dict[str, str] | None = None, app_spec: str = procfile.APP_SPEC) -> Iterator[str]:
    """Run the app (or `app_spec`, for the benchmarks) under gunicorn exactly as the Procfile's web line does; yield its URL."""
    port = free_port()
    full_env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "FRAGMENT_DATA_DIR": str(data_dir), **(env or {})}
    if not (full_env.get("FRAGMENT_DATABASE_URL") or "sqlite").startswith("sqlite"):
        # On PostgreSQL a server refuses to start without a configured key (docs/design.md, "The secret key");
        # a test that wants to see the refusal sets FRAGMENT_SECRET_KEY to "" itself.
        full_env.setdefault("FRAGMENT_SECRET_KEY", "test-secret")
    # The venv's gunicorn comes first on PATH, as it does for `make demo`.
    full_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full_env.get('PATH', '')}"
    log = data_dir.parent / f"gunicorn-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["sh", "-c", "exec " + procfile.command("web", app_spec)],
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(f"{url}/healthz", timeout=1).ok, 30, "gunicorn", proc, log)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except ProcessLookupError:
            pass  # it exited by itself (refused to start), and took its workers with it
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _pg_bin() -> Path | None:
    # Debian keeps the server programs out of PATH, in one folder per version.
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def fresh_pg_schema(url: str) -> None:
    """Drop every table of a PostgreSQL database (the app's, Alembic's, a test's), so that the next app starts on an empty one."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@contextmanager
def postgres(base: Path) -> Iterator[str]:
    """A throwaway PostgreSQL server; yield its SQLAlchemy URL."""
    bindir = _pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql); `make test` installs it")
    base.mkdir(parents=True, exist_ok=True)
    data, sock = base / "pgdata", base / "sock"
    sock.mkdir(exist_ok=True)
    as_user: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root; the Debian package provides the postgres user.
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr or done.stdout}")

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "fragment", "--no-sync")
    log = base / "pg.log"
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "fragment", "fragment")
        yield f"postgresql+psycopg://fragment@127.0.0.1:{port}/fragment"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)


def flask_cli(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `flask --app app ...` as an operator would, on the server's data folder."""
    env = {**os.environ, "FRAGMENT_DATA_DIR": str(data_dir), **(env or {})}
    done = subprocess.run(
        [Path(sys.executable).parent / "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout
