"""The owner's account in the command line: sign in, the account's copies of keys, and moving albums in.

Signing in (docs/format.md, "Sign-up, sign-in, password change and recovery"): the
client asks for the address's Argon2id parameters, refuses them below the floor (a
malicious server could otherwise make the login key cheap to brute-force offline,
docs/format.md "Argon2id floor"), derives `kek` and `login_key` here, sends only the
login key, and opens `sealed_mk` with `kek`. The session it gets serves for one thing:
making an owner token of the account for this machine; then it signs out. The keyring
keeps the token and the master key (MK), never the password.

With MK, every album and link of the account can be opened from the server's own
sealed copies (`owner_key`, `owner_secret`), so the keyring becomes a cache: an album
made in the browser or on another machine is found by id or by title, opened, and kept
(``find_album``, ``fetch_albums``, ``fetch_link_secrets``). ``import_albums`` moves the
albums of a token of no account into the account (POST .../import).
The HTTP is ``client.py``'s; only ``viewer.crypto`` touches a key.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .. import crypto
from . import epochs, keyring
from .client import AccountClient, ApiError, OwnerClient
from .keyring import KeyringError
from .report import Report, quoted

WEAK_PARAMS = "This server asks for password parameters below the safe minimum; refusing to sign in."
MK_DOES_NOT_OPEN = "The server's answer does not open your master key: refusing."


class AccountError(Exception):
    """An account step that cannot go on; the message is a whole sentence for the person."""


def token_label(hostname: str) -> str:
    """The label of this machine's owner token on the account page (the server takes 1 to 80 characters)."""
    return f"Command line on {hostname.strip() or 'this computer'}"[:80]


# --- sign in ------------------------------------------------------------------------------


@dataclass
class SignedIn:
    """What `sign_in` kept in the keyring."""

    server: str
    email: str
    account_id: str
    label: str


def sign_in(ring_path: Path, url: str, email: str, password: str, hostname: str) -> SignedIn:
    """Sign in with the password, make this machine's owner token, sign out, and keep token and MK in the keyring.

    Nothing is written to the keyring unless every step succeeded. ApiError for the
    server's refusals (a wrong password is its 401), AccountError for an answer that
    must not be trusted.
    """
    label = token_label(hostname)
    server = AccountClient(url)
    try:
        params = crypto.PasswordParams.from_json(_dict(server.params(email).get("params")))
    except crypto.WeakPasswordParams:
        raise AccountError(WEAK_PARAMS) from None
    except crypto.FormatError:
        raise AccountError("The server's password parameters are not valid; refusing to sign in.") from None
    keys = crypto.account_keys(password, params)
    signed_in = server.login(email, crypto.b64e(keys.login_key), device=label)
    try:
        try:
            account = _dict(signed_in.get("account"))
            account_id = str(account.get("account_id"))
            if not crypto.is_id(account_id):
                raise crypto.FormatError("no account id")
            master_key = crypto.open_master_key(keys.kek, crypto.b64d(str(account.get("sealed_mk", ""))), account_id)
        except (crypto.DecryptionError, crypto.FormatError):
            raise AccountError(MK_DOES_NOT_OPEN) from None
        made = server.create_token(label)
        token, token_id = made.get("token"), made.get("token_id")
        if not isinstance(token, str) or not token:
            raise ApiError(200, "bad_answer", f"the server at {server.server_url} sent no owner token")
        # Signing in again from this machine replaces its token rather than piling up another.
        before = keyring.load(ring_path).account(url)
        if before and before.get("account_id") == account_id and before.get("token_id") not in (None, token_id):
            with contextlib.suppress(ApiError, requests.RequestException):
                server.delete_token(str(before["token_id"]))
    finally:
        with contextlib.suppress(ApiError, requests.RequestException):
            server.logout()  # the token is what this machine keeps; the session has done its work
    address = str(account.get("email") or email)
    with keyring.edit(ring_path) as ring:
        ring.set_account(
            url,
            token,
            {
                "account_id": account_id,
                "email": address,
                "master_key": crypto.b64e(master_key),
                "token_id": token_id if isinstance(token_id, str) else None,
                "token_label": label,
            },
        )
    return SignedIn(keyring.normalize_server(url), address, account_id, label)


def _dict(value: object) -> dict:
    if not isinstance(value, dict):
        raise crypto.FormatError("not an object")
    return value


# --- the keyring as a cache of the account's keys -------------------------------------------


def album_title(album_key: bytes, album: dict) -> str | None:
    """The title in a listed album's sealed metadata; None when it does not decrypt with this key."""
    try:
        meta = crypto.open_album_meta(album_key, album["album_id"], crypto.b64d(album.get("meta", "")))
    except (crypto.DecryptionError, crypto.FormatError, KeyError):
        return None
    return str(meta.get("title", ""))


def fetch_albums(ring: keyring.Keyring, owner: OwnerClient, report: Report) -> list[str]:
    """Keep in the keyring every album of the account that it lacks, opened from the server's copy; their ids.

    The titles of account albums the keyring has already follow the server's (renamed
    in the browser, say), so a lookup by title finds what the person sees, and so do their
    keys once they have a new one (someone lost access to a shared album: viewer/owner/epochs.py).
    Nothing happens without an account. `ring` is updated in memory as well as on disk.
    """
    master_key = ring.master_key(owner.server_url)
    if master_key is None:
        return []
    found: dict[str, tuple[epochs.AlbumKeys, str]] = {}
    renamed: dict[str, str] = {}
    rekeyed: list[epochs.AlbumKeys] = []
    for album in owner.list_albums():
        album_id = album.get("album_id")
        if not isinstance(album_id, str):
            continue
        known = album_id in ring.data["albums"]
        try:
            keys, moved = epochs.from_album(ring, owner.server_url, album)
        except (epochs.AlbumError, KeyringError) as exc:
            if known:
                report.warn(str(exc))
            else:
                report.warn(f"album {album_id} on {owner.server_url} does not open with your account's key; it is left out")
            continue
        title = album_title(keys.current, album)
        if known:
            if moved:
                rekeyed.append(keys)
            if title is not None and title != ring.album(album_id).get("title"):
                renamed[album_id] = title
            continue
        if title is None:
            report.warn(f"album {album_id} on {owner.server_url} does not open with your account's key; it is left out")
            continue
        found[album_id] = (keys, title)
    for keys in rekeyed:
        epochs.remember(ring, keys)
    if not found and not renamed:
        return []
    with keyring.edit(ring.path) as saved:
        for album_id, (keys, title) in found.items():
            if album_id not in saved.data["albums"]:  # a parallel command may have kept it meanwhile
                saved.add_album(album_id, owner.server_url, keys.current, title, keys.epoch)
        for album_id, title in renamed.items():
            if album_id in saved.data["albums"]:
                saved.set_title(album_id, title)
    for album_id, (keys, title) in found.items():
        ring.add_album(album_id, owner.server_url, keys.current, title, keys.epoch)
    for album_id, title in renamed.items():
        ring.set_title(album_id, title)
    return list(found)


def find_album(ring: keyring.Keyring, owner: OwnerClient, ref: str, report: Report) -> str:
    """An album id from an id or an exact title: the keyring's, else the account's on the server (then kept here)."""
    try:
        return ring.find_album(ref)
    except KeyringError:
        if ring.master_key(owner.server_url) is None:
            raise
    fetch_albums(ring, owner, report)
    try:
        return ring.find_album(ref)
    except KeyringError:
        if any(album.get("title") == ref for album in ring.data["albums"].values()):
            raise  # several albums of that title: the keyring's message lists them
        email = (ring.account(owner.server_url) or {}).get("email", "")
        raise KeyringError(
            f"no album with id or title {ref!r} in the keyring at {ring.path} or in the account {email} on {owner.server_url}"
        ) from None


def fetch_link_secrets(ring: keyring.Keyring, owner: OwnerClient, album_id: str, links: list[dict]) -> int:
    """Keep in the keyring the secrets of `links` (as the server lists them) that it lacks, from `owner_secret`."""
    master_key = ring.master_key(owner.server_url)
    if master_key is None:
        return 0
    found: dict[str, bytes] = {}
    for link in links:
        link_id, sealed = link.get("link_id"), link.get("owner_secret")
        if not isinstance(link_id, str) or not isinstance(sealed, str) or ring.link_secret(album_id, link_id) is not None:
            continue
        try:
            found[link_id] = crypto.open_owner_link_secret(master_key, crypto.b64d(sealed), link_id)
        except (crypto.DecryptionError, crypto.FormatError):
            continue  # shown as a link whose secret is not here
    if found:
        with keyring.edit(ring.path) as saved:
            for link_id, secret in found.items():
                if album_id in saved.data["albums"]:
                    saved.add_link(album_id, link_id, secret)
        for link_id, secret in found.items():
            ring.add_link(album_id, link_id, secret)
    return len(found)


def find_link(ring: keyring.Keyring, owner: OwnerClient, link_id: str, report: Report) -> tuple[str, bytes | None]:
    """(album id, link secret or None) of a link: the keyring's, else found among the account's albums (then kept)."""
    try:
        return ring.find_link(link_id)
    except KeyringError:
        if ring.master_key(owner.server_url) is None:
            raise
    fetch_albums(ring, owner, report)
    for album_id in ring.albums(owner.server_url):
        links = owner.list_links(album_id)
        if any(link.get("link_id") == link_id for link in links):
            fetch_link_secrets(ring, owner, album_id, links)
            return album_id, ring.link_secret(album_id, link_id)
    raise KeyringError(f"link {link_id} is in neither the keyring nor your account on {owner.server_url}")


# --- moving albums of no account into the account -------------------------------------------


@dataclass
class ImportPlan:
    """What `fragment account import` would do: the albums to move (with their bodies) and why others stay."""

    todo: dict[str, dict] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    keyless: int = 0


def plan_import(ring: keyring.Keyring, owner: OwnerClient) -> ImportPlan:
    """Every keyring album on this server that the account does not own yet and the legacy token manages.

    An album with a live link whose secret this keyring lacks cannot bring the account's copy
    of it (the server requires one for every live link), so it is skipped, and said why.
    """
    master_key = ring.master_key(owner.server_url)
    legacy_token = ring.legacy_token(owner.server_url)
    if master_key is None:
        raise AccountError(f"Sign in to an account on {owner.server_url} first: fragment login {owner.server_url} --email E")
    if not legacy_token:
        raise AccountError(
            f"This keyring has no owner token of no account for {owner.server_url} (one used before `fragment login --email`), "
            "so there is nothing to move."
        )
    legacy = OwnerClient(owner.server_url, legacy_token)
    try:
        managed = {a["album_id"]: a for a in legacy.list_albums() if isinstance(a.get("album_id"), str)}
    except ApiError as exc:
        if exc.status == 401:
            raise AccountError("The owner token kept from before signing in is refused by the server now.") from None
        raise
    mine = {a.get("album_id") for a in owner.list_albums()}
    plan = ImportPlan()
    keyring_albums = ring.albums(owner.server_url)
    plan.keyless = sum(1 for album_id in managed if album_id not in keyring_albums)
    for album_id, entry in keyring_albums.items():
        if album_id in mine or album_id not in managed:
            continue
        title = str(entry.get("title", ""))
        album_key = ring.album_key(album_id)
        secrets: dict[str, str] = {}
        missing = []
        for link in legacy.list_links(album_id):
            link_id = str(link.get("link_id"))
            if link.get("revoked_at"):
                continue
            secret = ring.link_secret(album_id, link_id)
            if secret is None:
                missing.append(link_id)
            else:
                secrets[link_id] = crypto.b64e(crypto.seal_owner_link_secret(master_key, secret, link_id))
        if missing:
            plan.skipped.append(
                f"Album {quoted(title)} ({album_id}) stays where it is: the secret of its link {', '.join(missing)} "
                "is not in this keyring (revoke that link, or import from the keyring that made it)."
            )
            continue
        plan.todo[album_id] = {
            "owner_token": legacy_token,
            "owner_key": crypto.b64e(crypto.seal_owner_album_key(master_key, album_key, album_id)),
            "links": secrets,
        }
        plan.titles[album_id] = title
        size = managed[album_id].get("bytes")
        plan.sizes[album_id] = size if isinstance(size, int) else 0
    return plan


def size_text(n: int) -> str:
    """Sizes as the server words them: MB below a gigabyte, GB above."""
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def account_full(exc: ApiError, title: str, needed: int) -> str:
    """ "Album X does not fit in your account's storage (N of M used)." for a 413 account_full.

    The figures are the server's, when its answer carries them (`bytes_used` and `quota_bytes`,
    or `bytes_left`); a token cannot ask for them otherwise (GET /api/account needs a session),
    and the quota the account had at sign-in may have changed since, so nothing is guessed.
    """
    used, quota, left = (exc.body.get(key) for key in ("bytes_used", "quota_bytes", "bytes_left"))
    if isinstance(used, int) and isinstance(quota, int):
        figures = f"{size_text(used)} of {size_text(quota)} used"
    elif isinstance(left, int):
        figures = f"it needs {size_text(needed)}, {size_text(left)} is left"
    else:
        figures = f"it needs {size_text(needed)}"
    return f"Album {quoted(title)} does not fit in your account's storage ({figures})."
