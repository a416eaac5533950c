"""The data folder and the SQLite database file are private to the server's user.

They hold ciphertext and counters, not keys, but the database also holds the owner
token hashes and the folder the generated secret key, and nothing in them is anyone
else's business on a shared machine (CIS Debian Benchmark 6.1, "file permissions";
OWASP "Secure Configuration"). SQLite creates its -wal and -shm files with the same
mode as the database file (sqlite.org, "os_unix.c: findCreateFileMode"), so making
the database file 0600 before SQLite opens it covers all three.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create the folder as 0700, or tighten it to 0700 if it exists and is ours."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid():
        os.chmod(path, DIR_MODE)


def private_sqlite_file(url: str) -> None:
    """Create (or tighten) the SQLite database file of `url` as 0600 before SQLite opens it."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    if not path.parent.is_dir():
        return  # SQLite will say so itself, with the path
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(fd)
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if name.exists() and name.stat().st_uid == os.getuid():
            os.chmod(name, FILE_MODE)
