"""Outgoing mail (viewer/server/mail.py) through a real SMTP server process (tests/support/smtp.py)."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.support import smtp
from tests.support.servers import free_port
from tests.support.smtp import SMTPServer, smtp_settings, start_smtp_server
from viewer.server import config as settings
from viewer.server import mail

# The fixture, bound by assignment: an imported fixture would be "redefined" by each test's argument (ruff F811).
smtp_server = smtp.smtp_server

LINK = "https://photos.example.org/signup?invite=abc#" + "k" * 43 + "&album=Zoë"
TEXT = f"Bonjour Zoë,\n\nÅsa shares the album « Été à Kraków 🌻 » with you.\nSign up here: {LINK}\n"


def config_for(tmp_path, **overrides: Any) -> dict[str, Any]:
    """The app's settings (every default of the table) with these overrides."""
    return settings.load({}, {"DATA_DIR": str(tmp_path), "MAIL_FROM": "Fragment <fragment@example.org>", **overrides})


def test_a_mail_arrives_with_its_headers_and_utf8_text(tmp_path, smtp_server: SMTPServer):
    config = config_for(tmp_path, **smtp_settings(smtp_server))
    mail.send(config, "Zoë Brun <zoe@example.org>", "Ein Album für dich: «Été»", TEXT, reply_to="asa@example.org")

    [received] = smtp_server.wait_for(1)
    assert received["X-RcptTo"] == "zoe@example.org"  # the envelope, as the server saw it
    assert received["X-MailFrom"] == "fragment@example.org"
    assert received["To"] == "Zoë Brun <zoe@example.org>"
    assert received["From"] == "Fragment <fragment@example.org>"
    assert received["Reply-To"] == "asa@example.org"
    assert received["Subject"] == "Ein Album für dich: «Été»"
    assert received["Date"].datetime.tzinfo is not None
    assert received["Message-ID"].endswith("@example.org>")
    assert received.get_content_type() == "text/plain"
    assert received.get_content_charset() == "utf-8"
    # The long invitation link, fragment and all, comes through whole.
    assert received.get_content() == TEXT


def test_without_a_host_mail_is_not_configured(tmp_path):
    config = config_for(tmp_path)
    assert not mail.configured(config)
    with pytest.raises(mail.MailError, match=r"^No mail server is set up \(SMTP_HOST\)\.$"):
        mail.send(config, "zoe@example.org", "Hello", TEXT)
    assert mail.configured(config_for(tmp_path, SMTP_HOST="mail.example.org"))


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    port = free_port()  # nothing listens there
    config = config_for(tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TLS="none")
    with pytest.raises(mail.MailError, match=rf"^The mail server at 127\.0\.0\.1:{port} could not be reached \(.+\)\.$"):
        mail.send(config, "zoe@example.org", "Hello", TEXT)


@pytest.mark.parametrize(
    ("to", "subject", "message"),
    [
        ("zoe@example.org\r\nBcc: everyone@example.org", "Hello", "The address of a mail cannot contain a line break."),
        ("zoe@example.org\nBcc: everyone@example.org", "Hello", "The address of a mail cannot contain a line break."),
        ("zoe@example.org", "Hello\r\nBcc: everyone@example.org", "The subject of a mail cannot contain a line break."),
        ("zoe@example.org, ada@example.org", "Hello", "'zoe@example.org, ada@example.org' is not one e-mail address."),
        ("zoe", "Hello", "'zoe' is not one e-mail address."),
    ],
)
def test_header_injection_and_several_addresses_are_refused(tmp_path, smtp_server: SMTPServer, to, subject, message):
    config = config_for(tmp_path, **smtp_settings(smtp_server))
    with pytest.raises(mail.MailError) as caught:
        mail.send(config, to, subject, TEXT)
    assert str(caught.value) == message
    mail.send(config, "ada@example.org", "Then a good one", TEXT)
    assert [m["To"] for m in smtp_server.wait_for(1)] == ["ada@example.org"]


def test_starttls_is_required_when_asked_for(tmp_path, smtp_server: SMTPServer):
    # aiosmtpd without a certificate offers no STARTTLS; the mail must not go in clear instead.
    config = config_for(tmp_path, SMTP_HOST=smtp_server.host, SMTP_PORT=smtp_server.port, SMTP_TLS="starttls")
    with pytest.raises(mail.MailError) as caught:
        mail.send(config, "zoe@example.org", "Hello", TEXT)
    assert str(caught.value) == (
        f"The mail server at {smtp_server.host}:{smtp_server.port} does not offer STARTTLS; set SMTP_TLS to ssl or none."
    )
    mail.send({**config, "SMTP_TLS": "none"}, "ada@example.org", "Then in clear, as set", TEXT)
    assert [m["To"] for m in smtp_server.wait_for(1)] == ["ada@example.org"]


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl(1) makes the test certificate")
def test_starttls_verifies_the_certificate(tmp_path, monkeypatch):
    with start_smtp_server(tmp_path, starttls=True) as server:
        config = config_for(tmp_path, SMTP_HOST=server.host, SMTP_PORT=server.port, SMTP_TLS="starttls")
        # A certificate no CA of the system vouches for is refused, and nothing is sent.
        with pytest.raises(mail.MailError) as caught:
            mail.send(config, "zoe@example.org", "Hello", TEXT)
        assert str(caught.value) == (
            f"The certificate of the mail server at {server.host}:{server.port} could not be verified (self-signed certificate)."
        )
        # Once the client trusts it (OpenSSL reads SSL_CERT_FILE for its default CAs), the mail goes, over TLS:
        # this server takes no MAIL command before STARTTLS.
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
        mail.send(config, "zoe@example.org", "Hello", TEXT)
        [received] = server.wait_for(1)
        assert received.get_content() == TEXT


def test_a_message_the_server_refuses_is_a_clear_error(tmp_path):
    with start_smtp_server(tmp_path, max_bytes=2000) as server:
        config = config_for(tmp_path, **smtp_settings(server))
        with pytest.raises(mail.MailError) as caught:
            mail.send(config, "zoe@example.org", "A long one", TEXT * 20)
        assert str(caught.value) == (
            "The mail server refused the message from fragment@example.org: "
            "552 Error: message size exceeds fixed maximum message size."
        )
        assert server.messages() == []


def test_tls_with_a_plain_server_is_a_clear_error(tmp_path, smtp_server: SMTPServer):
    config = config_for(tmp_path, SMTP_HOST=smtp_server.host, SMTP_PORT=smtp_server.port, SMTP_TLS="ssl", SMTP_TIMEOUT=5)
    with pytest.raises(mail.MailError, match=rf"^TLS with the mail server at {smtp_server.host}:{smtp_server.port} failed"):
        mail.send(config, "zoe@example.org", "Hello", TEXT)
    assert smtp_server.messages() == []


def test_a_failed_login_does_not_show_the_password(tmp_path, smtp_server: SMTPServer):
    password = "hunter2-secret"
    config = config_for(tmp_path, **smtp_settings(smtp_server), SMTP_USER="fragment", SMTP_PASSWORD=password)
    with pytest.raises(mail.MailError) as caught:
        mail.send(config, "zoe@example.org", "Hello", TEXT)
    # aiosmtpd offers no AUTH on a connection in clear.
    assert str(caught.value).startswith(f"Sending through the mail server at {smtp_server.host}:{smtp_server.port} failed")
    assert password not in str(caught.value)
    assert smtp_server.messages() == []


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("SMTP_PORT", "99999", "expected a port number from 1 to 65535"),
        ("SMTP_PORT", "smtp", "invalid literal"),
        ("SMTP_TLS", "tls", "expected one of starttls, ssl, none"),
        ("SMTP_TIMEOUT", "0", "expected a number of seconds above 0"),
        ("MAIL_FROM", "fragment", "expected one e-mail address"),
    ],
)
def test_a_bad_setting_stops_the_start_with_a_clear_error(tmp_path, name, raw, reason):
    with pytest.raises(SystemExit) as caught:
        settings.load({"FRAGMENT_DATA_DIR": str(tmp_path), f"FRAGMENT_{name}": raw})
    assert str(caught.value).startswith(f"Error: FRAGMENT_{name}={raw!r} is not valid: {reason}")


def test_the_settings_parse_from_the_environment(tmp_path):
    config = settings.load(
        {
            "FRAGMENT_DATA_DIR": str(tmp_path),
            "FRAGMENT_SMTP_HOST": "mail.example.org",
            "FRAGMENT_SMTP_PORT": "465",
            "FRAGMENT_SMTP_TLS": "SSL",
            "FRAGMENT_MAIL_FROM": " Photos <photos@example.org> ",
            "FRAGMENT_SMTP_TIMEOUT": "2.5",
        }
    )
    assert (config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TLS"]) == ("mail.example.org", 465, "ssl")
    assert (config["MAIL_FROM"], config["SMTP_TIMEOUT"]) == ("Photos <photos@example.org>", 2.5)
    assert (config["SMTP_USER"], config["SMTP_PASSWORD"]) == (None, None)
