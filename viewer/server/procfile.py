"""The Procfile, read in one place: ``make demo``, the tests and the benchmarks all start
gunicorn from its web line, so that what they run is what production runs."""

from __future__ import annotations

import re
from pathlib import Path

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"
APP_SPEC = "app:app"


class ProcfileError(Exception):
    """The Procfile lacks the process, or its command does not name the app once."""


def command(process: str = "web", app_spec: str = APP_SPEC) -> str:
    """The shell command of one Procfile process, serving `app_spec` (a WSGI "module:object") in place of app:app."""
    for line in PROCFILE.read_text().splitlines():
        name, _, found = line.partition(":")
        if name.strip() == process:
            found = found.strip()
            if app_spec == APP_SPEC:
                return found
            replaced, count = re.subn(rf"(?<=\s){re.escape(APP_SPEC)}(?=\s|$)", app_spec, found)
            if count != 1:
                raise ProcfileError(f"expected one {APP_SPEC!r} in the Procfile's {process} line: {found!r}")
            return replaced
    raise ProcfileError(f"the Procfile has no {process!r} process")
