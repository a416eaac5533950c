"""A stopped clock for the app under gunicorn: tests of the unlock delays, without waiting or timing.

Used two ways: as a gunicorn config file (``GUNICORN_CMD_ARGS=-c tests/support/gunicorn_clock.py``, which
gunicorn reads next to the Procfile's own arguments), whose ``post_fork`` hook makes every worker's
``viewer.server.db.now`` read the time from a file; and as a module, whose ``Clock`` writes that file.
A delay that has started then never ends by itself while a burst of requests or a slow command
runs, and the test moves time forward by writing the file.
"""

from __future__ import annotations

import os
from pathlib import Path


def post_fork(server, worker) -> None:
    """In each gunicorn worker: read the app's clock from FRAGMENT_TEST_CLOCK."""
    from viewer.server import db

    path = Path(os.environ["FRAGMENT_TEST_CLOCK"])

    def now() -> int:
        return int(path.read_text())

    db.now = now


class Clock:
    """The file the clocked server reads its time from."""

    def __init__(self, path: Path, start: int = 1_800_000_000):
        self.path = path
        self.set(start)

    def set(self, when: int) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(when))
        os.replace(tmp, self.path)  # atomic, so a worker never reads half a number
        self.now = when

    def advance(self, seconds: int) -> None:
        self.set(self.now + seconds)

    def env(self) -> dict[str, str]:
        """The environment that starts gunicorn on this clock."""
        return {"FRAGMENT_TEST_CLOCK": str(self.path), "GUNICORN_CMD_ARGS": f"-c {Path(__file__).resolve()}"}
