"""The deployment guide's files say what the tests run: docs/deploy.md, deploy/nginx, deploy/systemd.

nginx's file itself is run in front of gunicorn by tests/test_behind_nginx.py; here, the guide
shows that very file, and the systemd units start the Procfile's command and pass
systemd's own checker.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from viewer.server import procfile

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "deploy.md"
UNITS = sorted((DEPLOY / "systemd").iterdir())
PREFIX = "/srv/fragment"


def test_the_guide_shows_the_nginx_file_the_tests_run_word_for_word():
    guide = GUIDE.read_text()
    for name in ("fragment.conf", "site.conf"):
        assert (DEPLOY / "nginx" / name).read_text().strip() in guide, f"docs/deploy.md does not show deploy/nginx/{name}"


def test_the_app_unit_starts_the_procfiles_web_line_with_its_defaults():
    unit = (DEPLOY / "systemd" / "fragment.service").read_text()
    start = re.search(r"^ExecStart=(.*)$", unit, re.M)
    assert start is not None
    # ${NAME:-default} as sh expands it with nothing set.
    expected = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", procfile.command("web"))
    assert start.group(1) == f"{PREFIX}/.venv/bin/{expected}"
    assert f"ExecStartPre={PREFIX}/.venv/bin/{procfile.command('release')}" in unit


def test_every_guide_file_is_named_in_the_guide():
    guide = GUIDE.read_text()
    for path in [*UNITS, *(DEPLOY / "nginx").iterdir()]:
        assert path.relative_to(ROOT).as_posix() in guide


def test_the_systemd_units_pass_systemds_own_checks(tmp_path: Path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The units with the install folder moved here, where their commands exist (the venv's).
    bin_dir = tmp_path / "srv" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("gunicorn", "flask"):
        real = Path(shutil.which(tool, path=str(ROOT / ".venv" / "bin")) or shutil.which(tool) or "")
        assert real.is_file(), f"{tool} is not installed"
        (bin_dir / tool).symlink_to(real)
    units = tmp_path / "units"
    units.mkdir()
    for unit in UNITS:
        (units / unit.name).write_text(unit.read_text().replace(PREFIX, str(tmp_path / "srv")))
    checked = subprocess.run(
        [analyze, "verify", *sorted(str(p) for p in units.iterdir())], capture_output=True, text=True, timeout=60
    )
    # verify fails on a command that is not there, and only warns on a misspelt key: both count.
    assert checked.returncode == 0, checked.stderr
    assert "Unknown" not in checked.stderr and "ignoring" not in checked.stderr, checked.stderr
