"""The documents that are generated or promised stay true."""

from __future__ import annotations

from pathlib import Path

from viewer.server import create_app

ROOT = Path(__file__).resolve().parent.parent


def test_settings_doc_is_current(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path), "SECRET_KEY": "x"})
    result = app.test_cli_runner().invoke(args=["settings-doc"])
    assert result.exit_code == 0
    assert (ROOT / "docs" / "settings.md").read_text() == result.output, "run `make docs`"


def test_every_citation_of_the_design_names_one_of_its_sections():
    import re

    sections = set(re.findall(r"^##+ (.+)$", (ROOT / "docs" / "design.md").read_text(), re.MULTILINE))
    cited = []
    for path in [*ROOT.glob("viewer/**/*.py"), *ROOT.glob("static/js/**/*.js"), *ROOT.glob("docs/*.md")]:
        text = path.read_text()
        assert "DESIGN.md" not in text, f"{path}: cite docs/design.md, the project's own threat model"
        cited += [(path, name) for name in re.findall(r'design\.md\)?, "([^"]+)"', text)]
    assert cited, "the code cites the design"
    for path, name in cited:
        assert name in sections, f"{path} cites a section docs/design.md does not have: {name!r}"


# A path of this repository as the documents and comments write it: `viewer/server/db.py`, static/js/core/api.js.
# Not a glob (tests/test_*.py): a path followed by "*" is a pattern, not a file.
REPO_PATH = r"(?<![\w/.-])((?:viewer|static|templates|tests|bench|scripts|docs|migrations)/[\w./-]*[\w/])(?![\w*./-])"


def test_every_path_the_documents_and_code_name_exists():
    import re

    named = []
    sources = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("docs/*.yaml"), *ROOT.glob("viewer/**/*.py")]
    sources += [
        *ROOT.glob("static/js/**/*.js"),
        *ROOT.glob("templates/*.html"),
        *ROOT.glob("tests/**/*.py"),
        *ROOT.glob("bench/*.py"),
    ]
    # test_assets.py builds a made-up static/ tree of its own in a temporary folder.
    sources.remove(ROOT / "tests" / "test_assets.py")
    for path in sources:
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            named += [(path, line_no, found) for found in re.findall(REPO_PATH, line)]
    assert len(named) > 50
    missing = [f"{path.relative_to(ROOT)}:{line_no}: {found}" for path, line_no, found in named if not (ROOT / found).exists()]
    assert missing == []
