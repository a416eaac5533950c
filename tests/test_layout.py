"""The wings of viewer/ stay apart (README, "Where things are"), and each installs on its own.

- ``viewer.crypto`` (the format) imports neither wing; ``viewer.server`` never imports
  ``viewer.owner`` and the other way round.
- Each wing's third-party imports are covered by the base dependencies plus its own extra in
  pyproject.toml (``server`` or ``owner``), so an owner's machine needs no psycopg or boto3 and
  a server no Pillow.
- And for real: each wing is imported and run in a fresh interpreter in which the other wing and
  its dependencies cannot be imported at all.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VIEWER = ROOT / "viewer"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved against its package."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
                # `from . import db` imports viewer.server.db, not only the package.
                found.update(f"{module}.{alias.name}" for alias in node.names)
                found.add(module)
            elif node.module:
                found.add(node.module)
    return found


def wing_files(wing: str) -> list[Path]:
    return sorted((VIEWER / wing).rglob("*.py"))


def wing_imports(wing: str) -> dict[str, set[str]]:
    return {module_name(path): imports(path) for path in wing_files(wing)}


def third_party(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names} - set(sys.stdlib_module_names) - {"viewer", "__future__"}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_wings_exist():
    assert len(wing_files("server")) >= 15
    assert len(wing_files("owner")) >= 5
    assert (VIEWER / "crypto.py").is_file()


@pytest.mark.parametrize(("wing", "other"), [("server", "viewer.owner"), ("owner", "viewer.server")])
def test_a_wing_never_imports_the_other(wing, other):
    crossing = {module: sorted(n for n in names if within(n, other)) for module, names in wing_imports(wing).items()}
    assert {module: names for module, names in crossing.items() if names} == {}


def test_the_format_imports_no_wing_and_no_io_framework():
    names = imports(VIEWER / "crypto.py")
    assert {n for n in names if within(n, "viewer")} == set()
    assert third_party(names) == {"nacl", "mnemonic"}  # the recovery words: BIP39 (docs/format.md, "Accounts")


def test_the_blob_stores_do_not_import_flask():
    for path in sorted((VIEWER / "server" / "storage").glob("*.py")):
        assert third_party(imports(path)) & {"flask", "werkzeug"} == set(), path


def declared(extra: str | None) -> set[str]:
    """Distribution names (normalized) of the base dependencies, plus an extra's."""
    requirements = list(PYPROJECT["project"]["dependencies"])
    if extra:
        requirements += PYPROJECT["project"]["optional-dependencies"][extra]
    return {normalize(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for r in requirements}  # type: ignore[union-attr]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def with_their_dependencies(dists: set[str]) -> set[str]:
    """The distributions and what they require (one level: Flask brings Werkzeug, itsdangerous, ...)."""
    found = set(dists)
    for dist in dists:
        for requirement in importlib.metadata.requires(dist) or []:
            if "extra ==" not in requirement:
                found.add(normalize(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)))  # type: ignore[union-attr]
    return found


@pytest.mark.parametrize("wing", ["server", "owner"])
def test_each_wings_imports_come_with_its_extra(wing):
    providers = importlib.metadata.packages_distributions()
    imported = set().union(*wing_imports(wing).values())
    needed = {normalize(providers[name][0]) for name in third_party(imported)}
    assert needed - with_their_dependencies(declared(wing)) == set()


def test_an_owner_installs_no_database_or_s3_driver_and_a_server_no_image_library():
    assert declared("owner") & {"psycopg", "boto3", "sqlalchemy", "flask", "gunicorn"} == set()
    assert declared("server") & {"pillow", "pillow-heif", "requests"} == set()


# A fresh interpreter in which some top-level packages cannot be imported, as on a machine
# that installed only one extra.
BLOCK = """
import importlib.abc, sys
blocked = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            raise ModuleNotFoundError(f"{name} is not installed here", name=name)
        return None
sys.meta_path.insert(0, Block())
"""

SERVER_ONLY = """
import pkgutil, importlib, sys, tempfile, viewer.server
for info in pkgutil.walk_packages(viewer.server.__path__, "viewer.server."):
    importlib.import_module(info.name)
from viewer.server import create_app
app = create_app({"DATA_DIR": tempfile.mkdtemp()})
client = app.test_client()
print(client.get("/healthz").status_code, client.get("/api/links/" + "A" * 22).status_code)
"""

OWNER_ONLY = """
import pkgutil, importlib, viewer.owner
for info in pkgutil.walk_packages(viewer.owner.__path__, "viewer.owner."):
    importlib.import_module(info.name)
from click.testing import CliRunner
from viewer.owner import cli
result = CliRunner().invoke(cli.main, ["--help"])
print(result.exit_code, "publish" in result.output)
"""


def run_blocked(blocked: list[str], program: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK + program, ",".join(blocked)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_server_runs_without_the_owner_wing_or_its_libraries():
    assert run_blocked(["viewer.owner", "PIL", "pillow_heif", "requests"], SERVER_ONLY) == ["200", "404"]


def test_the_owner_tool_runs_without_the_server_wing_or_its_libraries():
    blocked = ["viewer.server", "flask", "werkzeug", "sqlalchemy", "psycopg", "boto3", "botocore", "gunicorn", "itsdangerous"]
    assert run_blocked(blocked, OWNER_ONLY) == ["0", "True"]
