"""The documents that are generated or promised stay true."""

from __future__ import annotations

from pathlib import Path

from viewer import create_app

ROOT = Path(__file__).resolve().parent.parent


def test_settings_doc_is_current(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path), "SECRET_KEY": "x"})
    result = app.test_cli_runner().invoke(args=["settings-doc"])
    assert result.exit_code == 0
    assert (ROOT / "docs" / "settings.md").read_text() == result.output, "run `make docs`"

