"""The operator's account commands: `flask --app app accounts invite|admin|quota|list`.

They see what the server sees of an account (its address, its storage) and nothing more:
no command can open an album or reset a password, because the server has no key to do it with.
"""

from __future__ import annotations

import re

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from . import accounts, db
from .errors import ApiError
from .inputs import iso

group = AppGroup("accounts", help="Invite owners, make administrators, set storage quotas, list accounts.")

UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


def parse_size(text: str) -> int | None:
    """Bytes from '20GB', '512 MiB' or '1000'; None for 'default' (the server's ACCOUNT_QUOTA_BYTES)."""
    if text.strip().lower() == "default":
        return None
    match = SIZE.match(text.lower())
    if match is None or match.group(2) not in UNITS:
        raise click.BadParameter(f"{text!r} is not a size: write e.g. 20GB, 512MiB or default.")
    return int(float(match.group(1)) * UNITS[match.group(2)])


def human(size: int) -> str:
    """A size for people, in decimal units as file managers show them."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _account(email: str) -> db.Account:
    try:
        address = accounts.normalize_email(email)
    except ApiError as exc:
        raise click.BadParameter(exc.message) from None
    account = accounts.by_email(address)
    if account is None:
        raise click.ClickException(f"There is no account with the address {address}.")
    return account


@group.command("invite")
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 100), help="How many codes to make.")
def invite(count: int) -> None:
    """Make one-time sign-up codes (each shown only now; they expire after INVITE_SECONDS)."""
    codes = [accounts.new_invitation() for _ in range(count)]
    db.session().commit()
    days = current_app.config["INVITE_SECONDS"] // 86400
    for code in codes:
        click.echo(code)
    click.echo(f"Each code signs up one account and is valid for {days} days.", err=True)


@group.command("admin")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Take the administrator role away instead.")
def admin(email: str, revoke: bool) -> None:
    """Make the account with this address an administrator (or, with --revoke, no longer one)."""
    account = _account(email)
    account.is_admin = not revoke
    db.session().commit()
    click.echo(f"{account.email} is {'no longer' if revoke else 'now'} an administrator.")


@group.command("quota")
@click.argument("email")
@click.argument("size")
def quota(email: str, size: str) -> None:
    """Set the account's storage limit: e.g. 20GB, 512MiB, or default (ACCOUNT_QUOTA_BYTES).

    A limit below what the account stores already keeps every file; only new uploads are refused.
    """
    account = _account(email)
    account.quota_bytes = parse_size(size)
    db.session().commit()
    click.echo(f"{account.email} may store {human(accounts.quota_of(account))} ({human(account.bytes_used)} used).")


@group.command("list")
def list_accounts() -> None:
    """Every account: address, role, storage used against its limit, albums, and when it was made."""
    session = db.session()
    albums = dict(
        session.execute(
            select(db.Album.account_id, func.count()).where(db.Album.account_id.is_not(None)).group_by(db.Album.account_id)
        ).all()
    )
    rows = session.scalars(select(db.Account).order_by(db.Account.created_at, db.Account.email)).all()
    if not rows:
        click.echo("No accounts yet. Make an invitation with: flask --app app accounts invite")
        return
    for account in rows:
        role = "admin" if account.is_admin else "owner"
        used = f"{human(account.bytes_used)} of {human(accounts.quota_of(account))}"
        made = (iso(account.created_at) or "")[:10]
        click.echo(f"{account.email}\t{role}\t{used}\t{albums.get(account.id, 0)} album(s)\tsince {made}")


def init_app(app: Flask) -> None:
    """Register the `accounts` command group."""
    app.cli.add_command(group)
