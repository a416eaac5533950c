"""Debian's nginx in front of gunicorn, configured with the deployment guide's own file.

`deploy/nginx/fragment.conf` is included as it is, inside a `server` block that listens on
a free port; only the upstream list and the folders nginx writes to are the test's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.support.media_fixtures import REQUIRE_SERVICES_ENV
from tests.support.servers import ROOT, free_port, wait_until

NGINX = "/usr/sbin/nginx"
GUIDE_CONF = ROOT / "deploy" / "nginx" / "fragment.conf"


def require_nginx() -> None:
    """Skip without Debian's nginx, or fail when FRAGMENT_REQUIRE_SERVICES is set (`make test` installs it)."""
    if Path(NGINX).is_file():
        return
    if os.environ.get(REQUIRE_SERVICES_ENV, "") not in ("", "0"):
        pytest.fail(f"nginx is not installed ({NGINX}), and {REQUIRE_SERVICES_ENV} is set", pytrace=False)
    pytest.skip("nginx is not installed")


@contextmanager
def nginx(base: Path, upstreams: Sequence[str], server_extra: str = "") -> Iterator[str]:
    """Run nginx on a free port in front of `upstreams` (gunicorn URLs, round robin); yield its URL.

    `server_extra` goes into the server block before the guide's file (a test's own limits).
    base/access.log records every request with its upstream and body sizes.
    """
    require_nginx()
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(f"        server {url.removeprefix('http://')};" for url in upstreams)
    # Running as root, nginx's workers would switch to `nobody`, who cannot write into a
    # root-owned temporary folder: keep them as the user who runs the tests.
    user = "user root root;" if os.geteuid() == 0 else ""
    conf = base / "nginx.conf"
    conf.write_text(
        f"""
{user}
worker_processes 2;
daemon off;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstream '$request_method $uri $status $request_length $bytes_sent $upstream_addr';
    access_log {base}/access.log upstream;
    client_body_temp_path {base}/client_body;
    proxy_temp_path {base}/proxy;
    fastcgi_temp_path {base}/fastcgi;
    uwsgi_temp_path {base}/uwsgi;
    scgi_temp_path {base}/scgi;
    upstream fragment {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        {server_extra}
        include {GUIDE_CONF};
    }}
}}
"""
    )
    log = base / "nginx-stderr.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [NGINX, "-p", str(base), "-e", str(base / "error.log"), "-c", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(f"{url}/healthz", timeout=1).ok, 20, "nginx", proc, log)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGQUIT)  # graceful: finish what is in flight
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def access_log(base: Path) -> list[str]:
    """The lines nginx logged so far, one per request."""
    path = base / "access.log"
    return path.read_text().splitlines() if path.exists() else []
