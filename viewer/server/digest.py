"""E-mail digests of activity (issue 14): `flask --app app digest`, for a systemd timer or cron.

Each person who opted in (an account setting, off by default) gets at most one mail per run, for
what others did since their last digest, in the albums they own or are a member of. The mail is
content-free: counts and a link to the app, never a title, a file name, a guest's name, a link
label or what a comment says. The server could not write those if it wanted to: they are sealed
(docs/design.md, "Activity and digests"). Nor can it tell a photo from a video, or a comment from a
reaction: the counts say "photos or videos" and "comments or reactions".

Safe on several servers at once: each person's digest is claimed by one conditional UPDATE of
their marker (from the seq read to the newest) before the mail is sent, which one run alone wins.
"""

from __future__ import annotations

from collections import Counter

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select, update

from . import db, mail
from .api_activity import A, events, not_mine

#: What each kind of event is called, one and many.
WORDS = {
    "file": ("new photo or video", "new photos or videos"),
    "note": ("comment or reaction", "comments or reactions"),
    "joined": ("new member", "new members"),
    "left": ("member who left", "members who left"),
}


def _count(n: int, kind: str) -> str:
    one, many = WORDS[kind]
    return f"{n} {one if n == 1 else many}"


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _where(own: int, shared: int) -> str:
    """In how many albums, said without naming one."""
    places = []
    if own:
        places.append("one of your albums" if own == 1 else f"{own} of your albums")
    if shared:
        places.append("an album shared with you" if shared == 1 else f"{shared} albums shared with you")
    return " and ".join(places)


def summary(account_id: str, after: int, upto: int) -> tuple[Counter, int, int]:
    """What others did in (after, upto] that the person sees: counts by kind, and in how many own and shared albums."""
    query, _where = events(account_id)
    rows = db.session().execute(query.where(A.seq > after, A.seq <= upto, not_mine(account_id))).all()
    kinds: Counter = Counter(event.kind for event, _moderator, _own in rows)
    own = {event.album_id for event, _moderator, is_own in rows if is_own}
    shared = {event.album_id for event, _moderator, is_own in rows if not is_own}
    return kinds, len(own), len(shared)


def message(kinds: Counter, own: int, shared: int, base: str) -> tuple[str, str]:
    """The subject and the text: counts, where (by number only), and the app's address."""
    parts = [_count(kinds[kind], kind) for kind in WORDS if kinds[kind]]
    where = _where(own, shared)
    subject = f"New activity in {where}"
    text = (
        f"{_and(parts)} in {where}.\n\n"
        f"Open Fragment to see what they are; only your devices can read the albums:\n{base}/app/activity\n\n"
        f"You get this summary because you asked for it. To stop it, turn it off in your account:\n{base}/app/account\n"
    )
    return subject, text


def send_digests() -> tuple[int, list[str]]:
    """One run: how many digests went, and the sentences of those that did not."""
    config = current_app.config
    base = (config.get("PUBLIC_URL") or "").rstrip("/")
    session = db.session()
    newest = session.scalar(select(func.max(A.seq))) or 0
    people = session.execute(
        select(db.Digest.account_id, db.Digest.seq, db.Account.email)
        .join(db.Account, db.Account.id == db.Digest.account_id)
        .where(db.Digest.enabled.is_(True), db.Digest.seq < newest)
        .order_by(db.Digest.account_id)
    ).all()
    sent, failures = 0, []
    for account_id, after, email in people:
        kinds, own, shared = summary(account_id, after, newest)
        # The claim: only the run that moves the marker from the seq it read sends this digest.
        claimed = db.rowcount(
            session.execute(
                update(db.Digest)
                .where(db.Digest.account_id == account_id, db.Digest.seq == after, db.Digest.enabled.is_(True))
                .values(seq=newest, sent_at=db.now() if kinds else db.Digest.sent_at)
                .execution_options(synchronize_session=False)
            )
        )
        session.commit()
        if claimed != 1 or not kinds:
            continue  # another run has it, or nothing new from others (the marker moved past their own)
        subject, text = message(kinds, own, shared, base)
        try:
            mail.send(config, email, subject, text)
        except mail.MailError as exc:
            # Give the claim back, unless something moved it since, so that the next run tries again.
            session.execute(
                update(db.Digest)
                .where(db.Digest.account_id == account_id, db.Digest.seq == newest)
                .values(seq=after)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            failures.append(f"The digest for {email} was not sent: {exc}")
            continue
        sent += 1
    return sent, failures


@click.command("digest")
@with_appcontext
def digest() -> None:
    """Send each person who asked for it one e-mail summary of new activity (content-free); for a timer or cron.

    Safe to run on several servers at once: each person's digest is claimed before it is sent.
    """
    config = current_app.config
    if not mail.configured(config):
        raise click.ClickException("No mail server is set up (SMTP_HOST), so no digest can be sent.")
    if not config.get("PUBLIC_URL"):
        raise click.ClickException("Set PUBLIC_URL (the address people open Fragment at), so that digests can link to it.")
    sent, failures = send_digests()
    for failure in failures:
        click.echo(failure, err=True)
    click.echo(f"Sent {sent} digest(s).")
    if failures:
        raise click.exceptions.Exit(1)


def init_app(app: Flask) -> None:
    """Register the command."""
    app.cli.add_command(digest)
