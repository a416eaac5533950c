"""Outgoing mail (the invitations of issue 13) through the SMTP server of the settings.

One plain-text message per call, sent synchronously with the standard library: the caller sends
one invitation per request, and SMTP_TIMEOUT bounds every step. Any failure becomes a MailError
whose message is one sentence for the user, without the password.
"""

from __future__ import annotations

import email.utils
import smtplib
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any


class MailError(Exception):
    """The mail could not be sent; str() is a sentence fit to show the user."""


def configured(config: Mapping[str, Any]) -> bool:
    """Whether mail can be sent at all (else the web app shows the link to send by hand)."""
    return bool(config.get("SMTP_HOST"))


def _single_line(name: str, value: str) -> None:
    # A CR or LF in a header would let its value start headers of its own (header injection;
    # CWE-93). EmailMessage refuses some of these too, but only on serialisation and not in
    # every form, so refuse them here, before anything is built.
    if "\r" in value or "\n" in value:
        raise MailError(f"The {name} of a mail cannot contain a line break.")


def message(config: Mapping[str, Any], to: str, subject: str, text: str, *, reply_to: str | None = None) -> EmailMessage:
    """The message send() sends: plain text in UTF-8, with the Date and Message-ID RFC 5322 asks for."""
    _single_line("address", to)
    _single_line("subject", subject)
    if reply_to is not None:
        _single_line("reply-to address", reply_to)
    addresses = email.utils.getaddresses([to])
    if len(addresses) != 1 or "@" not in addresses[0][1]:
        raise MailError(f"{to!r} is not one e-mail address.")
    sender = config["MAIL_FROM"]
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(datetime.now(UTC))
    # The sender's domain, not socket.getfqdn() (make_msgid's default): that would name the
    # server's host to every recipient, and may wait on DNS.
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = email.utils.make_msgid(domain=domain)
    # Quoted-printable keeps the body 7-bit, so it passes unchanged through a server or relay
    # without 8BITMIME (RFC 6152), and stays readable as source.
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    return msg


def send(config: Mapping[str, Any], to: str, subject: str, text: str, *, reply_to: str | None = None) -> None:
    """Send one plain-text mail to `to`; raise MailError, with a clear sentence, if it does not go."""
    msg = message(config, to, subject, text, reply_to=reply_to)
    if not configured(config):
        raise MailError("No mail server is set up (SMTP_HOST).")
    host, port, mode = config["SMTP_HOST"], int(config["SMTP_PORT"]), config["SMTP_TLS"]
    where = f"{host}:{port}"
    # ssl.create_default_context() verifies the certificate and the host name against the system's
    # CAs. smtplib's own default when no context is given, ssl._create_stdlib_context(), checks
    # neither, so a man in the middle could read the mail and the password; the Python docs
    # say to pass one: https://docs.python.org/3/library/ssl.html#ssl-security and
    # https://docs.python.org/3/library/smtplib.html#smtplib.SMTP.starttls
    context = ssl.create_default_context()
    timeout = float(config["SMTP_TIMEOUT"])
    try:
        if mode == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
    except ssl.SSLCertVerificationError as exc:
        raise MailError(f"The certificate of the mail server at {where} could not be verified ({exc.verify_message}).") from None
    except ssl.SSLError as exc:
        raise MailError(f"TLS with the mail server at {where} failed ({exc.reason or exc}).") from None
    except smtplib.SMTPResponseException as exc:  # a greeting other than 220 (SMTPConnectError)
        raise MailError(
            f"The mail server at {where} turned the connection away: {exc.smtp_code} {_text(exc.smtp_error)}."
        ) from None
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise MailError(f"The mail server at {where} could not be reached ({reason}).") from None
    try:
        with smtp:
            if mode == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    # Never fall back to plain text: a man in the middle can strip STARTTLS from
                    # the server's reply (RFC 3207, section 6).
                    raise MailError(f"The mail server at {where} does not offer STARTTLS; set SMTP_TLS to ssl or none.")
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.get("SMTP_USER"):
                smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError:
        raise MailError(f"The mail server at {where} refused the user name or password (SMTP_USER, SMTP_PASSWORD).") from None
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        raise MailError(f"The mail server refused the address {to}: {code} {_text(reply)}.") from None
    except smtplib.SMTPSenderRefused as exc:
        # Refused at MAIL FROM: the sender (MAIL_FROM), or the size smtplib announces (RFC 1870).
        raise MailError(
            f"The mail server refused the message from {exc.sender}: {exc.smtp_code} {_text(exc.smtp_error)}."
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"The mail server refused the message: {exc.smtp_code} {_text(exc.smtp_error)}.") from None
    except ssl.SSLCertVerificationError as exc:
        raise MailError(f"The certificate of the mail server at {where} could not be verified ({exc.verify_message}).") from None
    except ssl.SSLError as exc:
        raise MailError(f"TLS with the mail server at {where} failed ({exc.reason or exc}).") from None
    except (smtplib.SMTPException, OSError) as exc:
        # Disconnections, timeouts, a refused SMTPUTF8 address: smtplib's message is short and
        # names no credential (login's errors are handled above).
        raise MailError(f"Sending through the mail server at {where} failed ({exc or type(exc).__name__}).") from None


def _text(reply: bytes | str) -> str:
    """A server's reply as one line of text."""
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split()).rstrip(".")
