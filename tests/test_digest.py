"""E-mail digests (issue 14): `flask digest` against a real aiosmtpd process, on SQLite and PostgreSQL.

The mail says how many things happened and where by number only: never the album's title, a file
name, a guest's name, a link label or a comment's text (the real plaintexts of the setup are
searched for). Not opted in: no mail. Run twice: the second sends nothing. Two runs at once: one mail.
"""

from __future__ import annotations

import threading

import pytest

from tests.support import smtp
from tests.test_activity_api import guest_upload
from tests.test_notes_api import member_writer
from tests.test_sharing_api import person, share

pytestmark = pytest.mark.settings(SIGNUP="open", PUBLIC_URL="https://photos.example.org")

smtp_server = smtp.smtp_server

TITLE, FILE, COMMENT = "Grandma's 90th birthday", "IMG_secret_name.jpg", "Quelle belle fête"


def run_digest(app):
    return app.test_cli_runner().invoke(args=["digest"])


def world(app):
    olga, vic, ned = person(app, "olga@example.org"), person(app, "vic@example.org"), person(app, "ned@example.org")
    album_id, ak = olga.as_owner().album(TITLE)
    assert share(olga, album_id, ak, vic, "collaborator").status_code == 201
    assert share(olga, album_id, ak, ned, "viewer").status_code == 201
    for who in (olga, vic):
        assert who.call("PUT", "/api/owner/activity/digest", json={"enabled": True}).get_json()["enabled"] is True
    vic.as_owner().add_file(album_id, ak, b"vic's photo", FILE)
    link_id, secret = olga.as_owner().link(album_id, ak, uploads=True)
    guest_upload(app, olga.as_owner(), link_id, secret, album_id, ak, "guest_" + FILE)
    assert member_writer(vic, album_id, ak).comment(COMMENT)[1].status_code == 201
    return olga, vic, ned


def test_the_digest_arrives_content_free_once_and_only_for_those_who_asked(app, smtp_server):
    app.config.update(smtp.smtp_settings(smtp_server))
    world(app)
    result = run_digest(app)
    assert result.exit_code == 0, result.output
    messages = smtp_server.wait_for(2)
    by_to = {m["To"]: m for m in messages}
    assert set(by_to) == {"olga@example.org", "vic@example.org"}  # Ned did not opt in
    olga_text = by_to["olga@example.org"].get_content()
    assert olga_text.startswith("2 new photos or videos and 1 comment or reaction in one of your albums.")
    assert "https://photos.example.org/app/activity" in olga_text
    vic_text = by_to["vic@example.org"].get_content()
    assert vic_text.startswith("1 new photo or video in an album shared with you.")  # the guest's; his own are not news
    for message in messages:
        whole = message["Subject"] + message.get_content()
        for secret in (TITLE, "Grandma", FILE, "IMG_secret", COMMENT, "fête", "Ana"):
            assert secret not in whole
    smtp_server.clear()
    again = run_digest(app)
    assert again.exit_code == 0 and "Sent 0 digest(s)." in again.output
    assert smtp_server.messages() == []


def test_two_runs_at_once_send_one_mail_per_person(app, smtp_server):
    app.config.update(smtp.smtp_settings(smtp_server))
    world(app)
    results = []
    threads = [threading.Thread(target=lambda: results.append(run_digest(app))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.exit_code == 0 for r in results), [r.output for r in results]
    smtp_server.wait_for(2)
    assert sorted(m["To"] for m in smtp_server.messages()) == ["olga@example.org", "vic@example.org"]


def test_without_a_mail_server_the_command_says_so_and_fails(app):
    result = run_digest(app)
    assert result.exit_code != 0 and "No mail server is set up" in result.output
