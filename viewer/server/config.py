"""Every setting, read from the environment in this one place.

Like datasette's settings table: one row per setting with its environment variable,
default and meaning. ``docs/settings.md`` is generated from this table
(``flask --app app settings-doc``), so the documentation cannot drift.
Tests build the app with a dict that overrides any row (flaskr's pattern).
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    name: str
    default: Any
    parse: Callable[[str], Any]
    help: str

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return f"FRAGMENT_{self.name}"


def choice(*allowed: str) -> Callable[[str], str]:
    """A parser that accepts one of `allowed` (case-insensitive)."""

    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value

    return parse


def port(raw: str) -> int:
    """A TCP port number."""
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("expected a port number from 1 to 65535")
    return value


def positive(raw: str) -> float:
    """A number of seconds above zero (a socket timeout of 0 would mean non-blocking)."""
    value = float(raw)
    if not value > 0:
        raise ValueError("expected a number of seconds above 0")
    return value


def count(raw: str) -> int:
    """A whole number, 0 or more."""
    value = int(raw)
    if value < 0:
        raise ValueError("expected a whole number, 0 or more")
    return value


def positive_or_off(raw: str) -> float:
    """A number of seconds, or 0 for none."""
    value = float(raw)
    if not value >= 0:
        raise ValueError("expected a number of seconds, or 0 for no limit")
    return value


def mail_address(raw: str) -> str:
    """One address such as `Fragment <fragment@example.org>`, as a From header takes it."""
    value = raw.strip()
    if "\r" in value or "\n" in value or "@" not in email.utils.parseaddr(value)[1]:
        raise ValueError("expected one e-mail address, such as Fragment <fragment@example.org>")
    return value


SETTINGS = [
    Setting("DATA_DIR", "data", str, "Folder for the SQLite database, local blobs and the generated secret key."),
    Setting(
        "DATABASE_URL",
        None,
        str,
        "SQLAlchemy URL; default `sqlite:///<DATA_DIR>/fragment.db`. PostgreSQL: `postgresql+psycopg://user:pw@host/db`.",
    ),
    Setting(
        "MIGRATE",
        "auto",
        choice("auto", "check"),
        "`auto`: the app brings the database schema up to date when it starts (under a lock, so several servers may "
        "start at once); `check`: it refuses to start on a schema that is behind, until `flask --app app db upgrade` "
        "is run. Either way it refuses a schema newer than its code.",
    ),
    Setting("BLOB_STORE", "local", str, "`local` (a folder) or `s3` (any S3-compatible store)."),
    Setting("BLOB_DIR", None, str, "Folder of the local blob store; default `<DATA_DIR>/blobs`."),
    Setting("S3_BUCKET", None, str, "Bucket for `BLOB_STORE=s3`."),
    Setting("S3_ENDPOINT_URL", None, str, "Endpoint of a non-AWS S3 server (MinIO, moto...)."),
    Setting("S3_REGION", None, str, "S3 region."),
    Setting("S3_ACCESS_KEY_ID", None, str, "S3 access key (else boto3's usual lookup)."),
    Setting("S3_SECRET_ACCESS_KEY", None, str, "S3 secret key."),
    Setting("S3_PREFIX", "", str, "Key prefix inside the bucket."),
    Setting(
        "SECRET_KEY",
        None,
        str,
        "Signs unlock challenges, access tokens and CSRF tokens, and keys the made-up sign-in parameters of unknown "
        "addresses. Set the same value on every app server. To rotate it, give several keys separated by commas or "
        "spaces, the new one first: new signatures use the first, and every key listed is accepted when checking one "
        '(docs/design.md, "The secret key"). Required with PostgreSQL: a server refuses to start without it. '
        "Default on SQLite: generated once into `<DATA_DIR>/secret_key`.",
    ),
    Setting("PUBLIC_URL", None, str, "Base URL printed in links; default: the URL of the request."),
    Setting(
        "PROXIES",
        0,
        count,
        "Number of reverse proxies in front (nginx: 1). The app then takes the client's address, the scheme (https) "
        "and the host from the X-Forwarded-For, -Proto and -Host headers that many proxies set (werkzeug ProxyFix), "
        "for the per-client password counters and the links it prints. 0: those headers are ignored, since without a "
        'proxy that overwrites them any client could forge them (docs/design.md, "Proxies in front").',
    ),
    Setting("TRUST_PROXY", 0, count, "Older name of PROXIES, used when PROXIES is not set."),
    Setting(
        "DB_POOL_SIZE",
        5,
        count,
        "PostgreSQL connections each app process keeps open. Each gunicorn worker is a process: servers × workers × "
        "(DB_POOL_SIZE + DB_MAX_OVERFLOW) must stay below the database's max_connections (100 by default).",
    ),
    Setting("DB_MAX_OVERFLOW", 10, count, "PostgreSQL connections a process may open beyond DB_POOL_SIZE at busy times."),
    Setting(
        "DB_POOL_TIMEOUT",
        30,
        positive,
        "Seconds a request waits for a free database connection of its process before it fails.",
    ),
    Setting("DB_CONNECT_TIMEOUT", 10, positive, "Seconds to wait for PostgreSQL to accept a new connection."),
    Setting(
        "DB_STATEMENT_TIMEOUT",
        0,
        positive_or_off,
        "Seconds one PostgreSQL statement may run before the database cancels it (0: no limit). Migrations run on "
        "the same connections: keep it above the longest one, or leave it unset for `flask --app app db upgrade`.",
    ),
    Setting("ACCESS_TOKEN_TTL", 3600, int, "Seconds an access token lives after an unlock."),
    Setting("CHALLENGE_TTL", 120, int, "Seconds an unlock challenge stays valid."),
    Setting(
        "UNLOCK_FREE_ATTEMPTS_PER_CLIENT",
        5,
        int,
        "Wrong passwords one client address may try on one link before each further try waits (1 s, then doubling).",
    ),
    Setting(
        "UNLOCK_FREE_ATTEMPTS_PER_LINK",
        30,
        int,
        "Wrong passwords on one link, from all clients together, before each further try waits (1 s, then doubling).",
    ),
    Setting("UNLOCK_MAX_DELAY", 900, int, "Longest wait, in seconds, before the next password try on a link."),
    Setting(
        "UNLOCK_FORGET_SECONDS",
        86400,
        int,
        "Seconds after its last wrong password when a link's or a client's count starts again from zero.",
    ),
    Setting(
        "UPLOAD_TTL", 24 * 3600, int, "Seconds a reserved upload may stay incomplete before it is deleted and its quota released."
    ),
    Setting("UPLOAD_PART_BYTES", 8 * MiB, int, "Largest body of one blob PUT."),
    Setting("BODY_GRACE_SECONDS", 15, float, "Seconds a request body may take before BODY_MIN_RATE applies."),
    Setting(
        "BODY_MIN_RATE",
        4096,
        int,
        "Bytes a second a request body must average after the grace period, or it is cut off with 408 (0: off).",
    ),
    Setting("MAX_JSON_BYTES", 256 * 1024, int, "Largest JSON request body."),
    Setting("MAX_META_BYTES", 64 * 1024, int, "Largest sealed metadata (album or file)."),
    Setting(
        "MAX_NOTE_BYTES",
        24 * 1024,
        int,
        "Largest sealed comment or reaction: a comment of 4000 four-byte characters, padded and sealed, fits.",
    ),
    Setting("MAX_FILE_BYTES", 50 * GiB, int, "Largest original the owner may upload."),
    Setting("GUEST_QUOTA_FILES", 500, int, "Default number of guest files per link."),
    Setting("GUEST_QUOTA_BYTES", 5 * GiB, int, "Default guest bytes per link (ciphertext)."),
    Setting("GUEST_MAX_FILE_BYTES", 2 * GiB, int, "Default largest guest original."),
    Setting(
        "SIGNUP",
        "invite",
        choice("open", "invite"),
        "`open`: anyone may create an account; `invite`: only with a code from `flask --app app accounts invite`.",
    ),
    Setting(
        "ACCOUNT_QUOTA_BYTES",
        10 * GiB,
        int,
        "Default storage of an account (ciphertext of every file in its albums, guests' included); "
        "`flask --app app accounts quota` sets one account's.",
    ),
    Setting("SESSION_SECONDS", 30 * 86400, int, "Seconds a sign-in lasts without being used."),
    Setting("INVITE_SECONDS", 14 * 86400, int, "Seconds an invitation code stays valid."),
    Setting(
        "SHARE_INVITATIONS_PER_DAY",
        50,
        int,
        "Album invitations (and so e-mails) one account may send per day, so that an account cannot be used to send mass mail.",
    ),
    Setting(
        "PEOPLE_LOOKUPS_PER_HOUR",
        200,
        int,
        "Addresses one account may look up per hour to share with; a lookup says whether an address has an account.",
    ),
    Setting("ALBUM_PEOPLE_MAX", 500, int, "The most people (members and open invitations) one album may be shared with."),
    Setting(
        "LOGIN_FREE_ATTEMPTS_PER_CLIENT",
        5,
        int,
        "Wrong passwords or recovery keys one client address may try on one account before each further try waits "
        "(1 s, then doubling up to UNLOCK_MAX_DELAY).",
    ),
    Setting(
        "LOGIN_FREE_ATTEMPTS_PER_ACCOUNT",
        20,
        int,
        "Wrong passwords or recovery keys on one account, from all clients together, before each further try waits.",
    ),
    Setting(
        "SMTP_HOST",
        None,
        str,
        "Mail server for invitations. Unset: no mail is sent, and the web app shows the owner the invitation "
        "link to send by hand.",
    ),
    Setting("SMTP_PORT", 587, port, "Port of the mail server (587: submission with STARTTLS; 465: `SMTP_TLS=ssl`)."),
    Setting(
        "SMTP_TLS",
        "starttls",
        choice("starttls", "ssl", "none"),
        "`starttls`: upgrade the connection and verify the server's certificate, refusing a server that does not offer "
        "it; `ssl`: TLS from the first byte (port 465), verified too; `none`: plain text, only for a relay on the same "
        "machine or network (a password would go in clear).",
    ),
    Setting("SMTP_USER", None, str, "User name on the mail server. Unset: no login."),
    Setting("SMTP_PASSWORD", None, str, "Password on the mail server, with SMTP_USER."),
    Setting(
        "MAIL_FROM",
        "Fragment <fragment@localhost>",
        mail_address,
        "Sender of the mails, e.g. `Fragment <fragment@example.org>`. Set it to an address the mail server may send "
        "from: the default is refused or marked as spam by most.",
    ),
    Setting("SMTP_TIMEOUT", 10, positive, "Seconds to wait for the mail server, to connect and at each step."),
]


def load(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Settings from the environment, then overrides, with derived defaults filled in."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        try:
            config[setting.name] = setting.default if raw in (None, "") else setting.parse(raw)
        except ValueError as exc:
            raise SystemExit(f"Error: {setting.env}={raw!r} is not valid: {exc}") from None
    config.update(overrides or {})
    data_dir = Path(config["DATA_DIR"]).resolve()
    config["DATA_DIR"] = str(data_dir)
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{data_dir / 'fragment.db'}"
    if not config["BLOB_DIR"]:
        config["BLOB_DIR"] = str(data_dir / "blobs")
    # One number of proxies: ProxyFix and policy.client_address read the same one.
    config["PROXIES"] = config["PROXIES"] or config["TRUST_PROXY"]
    config["TRUST_PROXY"] = config["PROXIES"]
    keys = secret_keys(config.get("SECRET_KEY"))
    # Flask's own names: SECRET_KEY signs, SECRET_KEY_FALLBACKS are still accepted (Flask docs, "Configuration").
    config["SECRET_KEY"] = keys[0] if keys else None
    config["SECRET_KEY_FALLBACKS"] = keys[1:]
    return config


def secret_keys(value: object) -> list[str]:
    """The keys of a SECRET_KEY value, new first: a list, or one string of keys separated by commas or whitespace."""
    if value is None:
        return []
    parts = value if isinstance(value, (list, tuple)) else str(value).replace(",", " ").split()
    return [str(part) for part in parts if str(part).strip()]


def is_shared_database(url: str) -> bool:
    """Whether the database can be shared by several servers (anything but SQLite, which lives on one disk)."""
    return not url.startswith("sqlite")


def refuse_without_secret() -> NoReturn:
    """Stop a server that would sign with a key of its own while others share its database."""
    raise SystemExit(
        "Error: FRAGMENT_SECRET_KEY must be set when the database is shared (PostgreSQL): every server needs the "
        "same key to accept the others' tokens, so a server will not make up one of its own."
    )


def secret_key(data_dir: Path) -> str:
    """Read or create, once and atomically, the generated secret in the data folder."""
    path = data_dir / "secret_key"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL so two gunicorn workers starting together agree on one key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            text = path.read_text().strip()
            if text:
                return text
            time.sleep(0.02)
        raise SystemExit(f"Error: {path} is empty; delete it or set FRAGMENT_SECRET_KEY") from None
    value = os.urandom(32).hex()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
        handle.flush()
        os.fsync(handle.fileno())
    return value


def markdown_table() -> str:
    """The settings table as Markdown, for docs/settings.md."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = "" if s.default is None else f"`{s.default}`"
        rows.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows) + "\n"
