"""Two app servers behind Debian's nginx, configured with the deployment guide's own file.

nginx includes deploy/nginx/fragment.conf as docs/deploy.md says; the two gunicorn
instances share one SQLite database and one blob folder. What an owner and a recipient
notice: publishing and opening through the proxy work and give back the same bytes, with
requests spread over both instances, and the proxy lets through a blob part of the size
the app takes (only the proxy's own limit refuses more).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import servers
from tests.support.media_fixtures import make_jpeg_with_orientation
from tests.support.nginx import access_log, nginx
from tests.support.owner_cli import Fragment

PART_BYTES = 8 * 1024 * 1024  # the app's default FRAGMENT_UPLOAD_PART_BYTES, which the guide's nginx must let through


@pytest.fixture(scope="module")
def proxied(tmp_path_factory) -> Iterator[dict]:
    """nginx in front of two instances on one SQLite database and one blob folder."""
    base = tmp_path_factory.mktemp("nginx")
    data = base / "data"
    # One after the other: the first makes the data folder's secret key, the second reads it.
    with servers.gunicorn(data) as first, servers.gunicorn(data) as second, nginx(base / "nginx", [first, second]) as url:
        yield {"url": url, "nginx": base / "nginx", "data": data, "instances": (first, second)}


def upstreams(lines: list[str]) -> set[str]:
    """The upstream addresses nginx sent these requests to (the log format's last field)."""
    return {line.rsplit(" ", 1)[-1] for line in lines}


def test_an_album_published_and_opened_through_nginx_comes_back_byte_for_byte(proxied, tmp_path: Path):
    url = proxied["url"]
    photos = tmp_path / "Lyon"
    photos.mkdir()
    for i in range(4):
        make_jpeg_with_orientation(photos / f"Lyon {i + 1}.jpg", size=(320 + 8 * i, 240), orientation=1)
    owner = Fragment(tmp_path / "owner.json")
    token = servers.flask_cli(proxied["data"], "create-owner-token").strip()
    owner("login", url, "--token-stdin", input=token + "\n")
    before = len(access_log(proxied["nginx"]))

    link = owner.publish(photos, "--title", "Lyon", "--server", url)
    assert link.startswith(f"{url}/a/")
    out = tmp_path / "opened"
    Fragment(tmp_path / "recipient.json")("open", link, "--out", out)

    assert {p.name: p.read_bytes() for p in out.iterdir()} == {p.name: p.read_bytes() for p in photos.iterdir()}
    # Both instances served this owner and this recipient: nginx's round robin, one database.
    expected = {f.removeprefix("http://") for f in proxied["instances"]}
    assert upstreams(access_log(proxied["nginx"])[before:]) == expected
    page = requests.get(link.split("#")[0], timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]


def test_a_part_of_the_apps_size_reaches_the_app_and_only_more_is_refused_by_nginx(proxied):
    url = proxied["url"]
    target = f"{url}/api/owner/albums/{'A' * 22}/files/{'A' * 22}/blobs/original"
    # The app answers (here: no owner token) in its own JSON: nginx let the whole part through.
    # The app refuses before it reads the part; unless it reads the rest anyway, gunicorn
    # closes on a body still arriving and nginx answers 502 (and counts that server failed).
    for _ in range(8):
        answer = requests.put(target, data=b"\0" * PART_BYTES, timeout=30)
        assert answer.status_code == 401 and answer.headers["Content-Type"].startswith("application/json")
        assert answer.json()["error"] == "unauthorized"
    assert "upstream" not in (proxied["nginx"] / "error.log").read_text()
    # Past the guide's client_max_body_size, nginx itself refuses, before any instance reads a byte.
    before = access_log(proxied["nginx"])
    refused = requests.put(target, data=b"\0" * (PART_BYTES + 2 * 1024 * 1024), timeout=30)
    assert refused.status_code == 413 and "text/html" in refused.headers["Content-Type"]

    # nginx logs a refused request once it has read and thrown away the rest of its body.
    # (Lines of the earlier PUTs may still arrive after `before`: look at the 413s only.)
    def refusals() -> list[str]:
        return [line for line in access_log(proxied["nginx"])[len(before) :] if line.split(" ")[2] == "413"]

    servers.wait_until(refusals, 10, "nginx's access log")
    assert upstreams(refusals()) == {"-"}
