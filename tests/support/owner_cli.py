"""The owner's command line, run in-process by the tests, each instance with its own keyring."""

from __future__ import annotations

from pathlib import Path

import requests
from click.testing import CliRunner

from tests.support.media_fixtures import make_jpeg_with_orientation
from viewer import crypto
from viewer.owner import cli


class Fragment:
    """The `fragment` command, run in-process with its own keyring."""

    def __init__(self, keyring: Path):
        self.env = {"FRAGMENT_KEYRING": str(keyring)}

    def __call__(self, *args: str | Path, input: str | None = None, ok: bool = True):
        result = CliRunner().invoke(cli.main, [str(a) for a in args], input=input, env=self.env, catch_exceptions=False)
        # click's output holds stdout and stderr as a person would see them.
        if ok:
            assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        return result.exit_code, result.output

    def link(self, *args: str | Path, input: str | None = None) -> str:
        """Run a command that makes a link (publish, links add); return the last line of its stdout."""
        result = CliRunner().invoke(cli.main, [str(a) for a in args], input=input, env=self.env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout.strip().splitlines()[-1]

    def publish(self, *args: str | Path, input: str | None = None) -> str:
        return self.link("publish", *args, input=input)


def publish(
    owner_cli: Fragment, live_server: dict, tmp_path: Path, name: str, *options: str, count: int = 1, input: str | None = None
) -> str:
    """A small album of `count` photos, published with the given link options; its link."""
    folder = tmp_path / name
    folder.mkdir()
    for i in range(count):
        make_jpeg_with_orientation(folder / f"{name} {i + 1}.jpg", size=(320, 240), orientation=1)
    return owner_cli.publish(folder, "--title", name, "--server", live_server["url"], *options, input=input)


def split(link: str) -> tuple[str, str, str]:
    """(server, link id, fragment) of a link."""
    server, rest = link.split("/a/")
    link_id, fragment = rest.split("#")
    return server, link_id, fragment


def unlock_link(link: str) -> tuple[dict, dict[str, str]]:
    """Unlock a link (without a password) through the public API: (the unlock answer, auth headers)."""
    server, link_id, fragment = split(link)
    keys = crypto.link_keys(crypto.decode_link_secret(fragment))
    challenge = requests.post(f"{server}/api/links/{link_id}/challenge", timeout=10).json()["challenge"]
    unlocked = requests.post(
        f"{server}/api/links/{link_id}/unlock",
        json={
            "challenge": challenge,
            "proof": crypto.sign_proof(keys, link_id, challenge),
            "link_proof": crypto.sign_link_proof(keys, link_id, challenge),
        },
        timeout=10,
    ).json()
    return unlocked, {"Authorization": f"Bearer {unlocked['access_token']}"}
