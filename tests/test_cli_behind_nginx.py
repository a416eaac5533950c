"""`fragment publish` behind a proxy whose body limit is below the command line's part size.

nginx runs the guide's own file (deploy/nginx/fragment.conf) with one addition of the
test's: under /api/ it takes bodies of at most 1 MiB, nginx's own default, which a
site that forgets the guide's `client_max_body_size` has. The command line starts with
parts of 4 MiB; nginx refuses them with a 413 page of its own (HTML, not the app's JSON).
What the owner notices: the publish still succeeds, the command says once that it sends
smaller parts, and the recipient gets the photo back byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.support import servers
from tests.support.nginx import access_log, nginx
from tests.support.owner_cli import Fragment
from viewer.owner import client

pytestmark = pytest.mark.slow

LIMIT = 1024 * 1024  # client_max_body_size 1m
# A second `client_max_body_size` in the server block would clash with the guide's file;
# a location of its own takes the smaller limit (its longer prefix wins over the guide's `/`).
API_LIMIT = """
        location /api/ {
            client_max_body_size 1m;
            proxy_pass http://fragment;
        }
"""
SMALLER = "The server or a proxy in front of it refused a part as too large: sending parts of"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory) -> Iterator[dict]:
    base = tmp_path_factory.mktemp("nginx-1m")
    data = base / "data"
    with servers.gunicorn(data) as app, nginx(base / "nginx", [app], server_extra=API_LIMIT) as url:
        yield {"url": url, "nginx": base / "nginx", "data": data}


def noisy_jpeg(path: Path, size: tuple[int, int] = (1800, 1200)) -> Path:
    """A JPEG of random pixels: it hardly compresses, so it is well over the proxy's 1 MiB."""
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(path, format="JPEG", quality=100)
    return path


def test_publish_through_a_proxy_with_a_1_mib_body_limit_sends_smaller_parts_and_says_so_once(proxied, tmp_path: Path):
    url = proxied["url"]
    photos = tmp_path / "Annecy"
    photos.mkdir()
    big = noisy_jpeg(photos / "Annecy lake.jpg")
    other = noisy_jpeg(photos / "Annecy old town.jpg", (1200, 900))
    assert big.stat().st_size > 2 * LIMIT and other.stat().st_size > LIMIT
    assert client.PART_SIZE > LIMIT  # the first part of each original is too big for this proxy

    owner = Fragment(tmp_path / "owner.json")
    token = servers.flask_cli(proxied["data"], "create-owner-token").strip()
    owner("login", url, "--token-stdin", input=token + "\n")
    before = len(access_log(proxied["nginx"]))
    code, output = owner("publish", photos, "--title", "Annecy", "--server", url)
    assert code == 0
    link = output.strip().splitlines()[-1]
    assert link.startswith(f"{url}/a/")

    # nginx refused at least one part itself (413, no upstream), and the command said so once,
    # for both files (the second starts with the size that worked).
    refused = [line for line in access_log(proxied["nginx"])[before:] if line.startswith("PUT ") and " 413 " in line]
    assert refused and all(line.endswith(" -") for line in refused)
    assert output.count(SMALLER) == 1, output
    assert "Traceback" not in output and "Error" not in output

    out = tmp_path / "opened"
    Fragment(tmp_path / "recipient.json")("open", link, "--out", out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {p.name: p.read_bytes() for p in photos.iterdir()}
