"""Slow request bodies cannot stall the server: after a grace period, too slow is 408."""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import urlparse

import pytest
import requests

from tests.support import servers

pytestmark = pytest.mark.slow
SLOW_CLIENTS = 16  # twice the Procfile's threads (2 workers x 4 threads)


def _slow_post(url: str, token: str, answers: list, stop: threading.Event) -> None:
    """POST a JSON body one byte a second, then record the status line the server sent."""
    parsed = urlparse(url)
    body = json.dumps({"album_id": "A" * 22, "meta": "x" * 600}).encode()
    with socket.create_connection((parsed.hostname, parsed.port), timeout=60) as sock:
        head = (
            f"POST /api/owner/albums HTTP/1.1\r\nHost: {parsed.netloc}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode())
        sock.settimeout(1)
        for byte in body:
            if stop.is_set():
                break
            try:
                sock.sendall(bytes([byte]))
                answer = sock.recv(4096)
            except TimeoutError:
                continue  # nothing from the server yet: send the next byte
            except OSError:
                answers.append("closed")
                return
            answers.append(answer.split(b"\r\n", 1)[0].decode() if answer else "closed")
            return
        answers.append("finished")


def test_sixteen_slow_bodies_do_not_stall_the_server(tmp_path):
    data = tmp_path / "data"
    env = {"FRAGMENT_BODY_GRACE_SECONDS": "2", "FRAGMENT_BODY_MIN_RATE": "1024"}
    with servers.gunicorn(data, env=env) as url:
        token = servers.flask_cli(data, "create-owner-token").strip()
        answers: list[str] = []
        stop = threading.Event()
        threads = [threading.Thread(target=_slow_post, args=(url, token, answers, stop)) for _ in range(SLOW_CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(1)  # every slow client has sent its headers and holds a thread
        try:
            # Without a floor on the pace, this waits until the slow bodies end (10 minutes).
            health = requests.get(f"{url}/healthz", timeout=30)
            assert health.status_code == 200
            listing = requests.get(f"{url}/api/owner/albums", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert listing.status_code == 200
        finally:
            for thread in threads:
                thread.join(60)
            stop.set()
        assert len(answers) == SLOW_CLIENTS
        assert all(answer.startswith("HTTP/1.1 408") for answer in answers), answers
        # A refused body writes nothing.
        assert listing.json()["albums"] == []


def test_a_body_at_a_normal_pace_is_not_cut_off(tmp_path):
    data = tmp_path / "data"
    with servers.gunicorn(data, env={"FRAGMENT_BODY_GRACE_SECONDS": "1", "FRAGMENT_BODY_MIN_RATE": "64"}) as url:
        token = servers.flask_cli(data, "create-owner-token").strip()

        def chunks():
            body = json.dumps({"album_id": "A" * 22, "meta": "x" * 100}).encode()
            for start in range(0, len(body), 40):
                time.sleep(0.3)  # 133 bytes a second, over the floor of 64
                yield body[start : start + 40]

        response = requests.post(
            f"{url}/api/owner/albums",
            data=chunks(),
            timeout=30,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Length": "135"},
        )
        assert response.status_code != 408, response.text
