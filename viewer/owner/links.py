"""The owner's and the recipient's side of a link (docs/format.md, "Links"): its URL, its keys, unlocking it.

A link is `https://host[/prefix]/a/<link_id>#<secret>`; the secret after '#' never
reaches the server (docs/design.md, "Threat model"). From it and an optional password
come the link's keys (``crypto.link_keys``): the owner sends their verifiers and the
album key wrapped under them when making a link (``password_fields``, ``create_link``),
and a recipient signs the server's challenge with them to unlock it (``open_link``,
``unlock``). The HTTP is ``client.py``'s; only ``viewer.crypto`` touches a key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from .. import crypto
from . import epochs, keyring
from .client import ApiError, LinkClient, OwnerClient
from .keyring import KeyringError
from .report import Quiet, Report


class BadLink(ValueError):
    """A link that cannot be parsed; the message says what is wrong with it."""


class LinkError(Exception):
    """A link this command cannot open (its format, its settings, what it allows); the message says why."""


# --- the URL ----------------------------------------------------------------------


def parse_link(url: str) -> tuple[str, str, bytes]:
    """Split `https://host[/prefix]/a/<link_id>#<secret>` into (server base, link id, secret)."""
    base, link_id, fragment = split_link(url)
    if not fragment:
        raise BadLink("the link has no key: copy the whole link, including the part after '#'")
    try:
        secret = crypto.decode_link_secret(fragment)
    except crypto.FormatError:
        raise BadLink("the key after '#' in the link is damaged: copy the whole link again") from None
    return base, link_id, secret


def split_link(url: str) -> tuple[str, str, str]:
    """(server base, link id, fragment or "") of a link, checking everything but the secret."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadLink("a link starts with https:// (or http://) and a host name")
    head, sep, link_id = parts.path.rstrip("/").rpartition("/a/")
    if not sep:
        raise BadLink("this is not a Fragment link: its path has no /a/<link id>")
    if not crypto.is_id(link_id):
        raise BadLink("the link id in this link is malformed: ids are 22 characters of base64url")
    return f"{parts.scheme}://{parts.netloc}{head}", link_id, parts.fragment


def link_url(server_url: str, link_id: str, secret: bytes, link: dict | None = None) -> str:
    """The full link to share: the server's own `url` if it gave one, with the secret as fragment."""
    base = (link or {}).get("url") or f"{server_url.rstrip('/')}/a/{link_id}"
    return f"{base.split('#', 1)[0]}#{crypto.encode_link_secret(secret)}"


def link_id_of(ref: str) -> str:
    """A link id from a bare id or a full link (with or without its '#' part)."""
    ref = ref.strip()
    if crypto.is_id(ref):
        return ref
    return split_link(ref)[1]


# --- the owner's side ------------------------------------------------------------------


def password_fields(
    secret: bytes,
    album_key: bytes,
    link_id: str,
    password: str | None,
    master_key: bytes | None = None,
    key_epoch: int = 0,
) -> dict:
    """The crypto half of a link body: password params, wrapped album key, verifier and link verifier.

    `album_key` is the album's current key, of epoch `key_epoch`: the server refuses a key wrapped
    under an older one (409 `stale_key`). With an account's `master_key`, also the account's copy
    of the link's wrap key (`owner_wrap_key`), so the owner's web client can wrap a new album key
    for this link, password or not, when someone loses access to the album (docs/format.md, "Sharing").
    """
    params, factor = None, b""
    if password is not None:
        params = crypto.PasswordParams.new()
        factor = crypto.password_factor(password, params)
    keys = crypto.link_keys(secret, factor)
    fields = {
        "password": params.to_json() if params else None,
        "wrapped_album_key": crypto.b64e(crypto.wrap_album_key(keys.wrap_key, album_key, link_id)),
        "verifier": crypto.b64e(keys.verifier),
        # Sent with every password change too, so a link made before the link proof is upgraded.
        "link_verifier": crypto.b64e(keys.link_verifier),
        "key_epoch": key_epoch,
    }
    if master_key is not None:
        fields["owner_wrap_key"] = crypto.b64e(crypto.seal_owner_link_wrap_key(master_key, keys.wrap_key, link_id))
    return fields


def create_link(
    owner: OwnerClient, album_id: str, album_key: bytes | epochs.AlbumKeys, settings: dict, password: str | None
) -> str:
    """Make a link to the album's current key (`album_key`) and return the URL to share; its secret is saved to the keyring first.

    Signed in to an account, the link also carries the account's copies of its secret
    (`owner_secret`, under the master key), so every device of the account can show it again,
    and of its wrap key (`owner_wrap_key`, see ``password_fields``).
    """
    keys = epochs.AlbumKeys.of(album_id, album_key)
    link_id, secret = crypto.new_id(), crypto.random_key()
    with keyring.edit() as ring:
        ring.add_link(album_id, link_id, secret)
        master_key = ring.master_key(owner.server_url)
    body = {"link_id": link_id, **password_fields(secret, keys.current, link_id, password, master_key, keys.epoch), **settings}
    if master_key is not None:
        body["owner_secret"] = crypto.b64e(crypto.seal_owner_link_secret(master_key, secret, link_id))
    link = owner.create_link(album_id, body)
    return link_url(owner.server_url, link_id, secret, link)


# --- the recipient's side ------------------------------------------------------------------


class Unlocked:
    """An unlocked link: its client, keys, info, and the album's keys (`album_key` is the current one).

    The link's wrapped album key is the album's current key; older files open through the key
    chain of the answer (`album_keys`, viewer/owner/epochs.py), and a guest's new files go under
    the current key, read again (`relock`) if the album gets a new one meanwhile.
    """

    def __init__(self, link: LinkClient, keys: crypto.LinkKeys, info: dict, answer: dict, report: Report | None = None):
        self.link, self.keys, self.info = link, keys, info
        self.report = report
        self.album_id = need(answer, "album_id")
        self.album_keys = self._keys(answer)
        self.album_keys.reload = self.relock
        self.album_meta = crypto.open_album_meta(self.album_key, self.album_id, crypto.b64d(need(answer, "album_meta")))

    def _keys(self, answer: dict) -> epochs.AlbumKeys:
        self.answer = answer
        if answer.get("wrapped_album_key") is None and answer.get("wrapped_drop_key") is not None:
            # A drop link holds no album key, only a key to seal new files to (docs/format.md, "File drop").
            raise LinkError("this upload-only link takes files only through the web app for now: open it in a browser")
        wrapped = crypto.b64d(need(answer, "wrapped_album_key"))
        current = crypto.unwrap_album_key(self.keys.wrap_key, wrapped, self.link.link_id)
        return epochs.from_unlock(self.album_id, current, answer)

    @property
    def album_key(self) -> bytes:
        """The album's current key."""
        return self.album_keys.current

    @property
    def drop_keys(self) -> object:
        """The album's drop keys by epoch as the unlock answered them (a viewing link's; docs/format.md, "File drop")."""
        return self.answer.get("drop_keys")

    def relock(self) -> epochs.AlbumKeys:
        """Unlock again with the same keys (the access token timed out, or the album got a new key); the album's keys now."""
        fresh = self._keys(unlock(self.link, self.keys, report=self.report))
        fresh.reload = self.relock
        return fresh

    def download_blob(self, file_id: str, kind: str) -> requests.Response:
        """Start a blob download, unlocking again once if the access token timed out meanwhile."""
        try:
            return self.link.download_blob(file_id, kind)
        except ApiError as exc:
            if exc.code not in ("token_expired", "token_stale"):
                raise
        self.relock()
        return self.link.download_blob(file_id, kind)


def need(data: dict, key: str) -> Any:
    """A field the server must send."""
    if data.get(key) is None:
        raise ApiError(200, "bad_answer", f"the server's answer lacks {key!r}; is it a Fragment server of the same version?")
    return data[key]


def open_link(
    url: str,
    refuse: Callable[[dict], str | None],
    report: Report,
    *,
    password: Callable[[], str],
    password_given: bool,
) -> Unlocked:
    """Parse the link, derive its keys (asking for a password if it has one), unlock, and open the album key.

    `refuse(info)` may name a reason to stop before unlocking, so a link that cannot
    serve this command neither costs a device slot nor asks for a password.
    `password()` is called only when the link has one; `password_given` says whether
    the person gave one anyway, for a warning when the link has none.
    """
    base, link_id, secret = parse_link(url)
    link = LinkClient(base, link_id)
    info = link.info()
    if info.get("format", crypto.FORMAT_VERSION) != crypto.FORMAT_VERSION:
        raise LinkError(f"this link uses format {info.get('format')}; update fragment to open it")
    reason = refuse(info)
    if reason:
        raise LinkError(reason)
    given = params = None
    if info.get("password"):
        # Checked before the password is asked for or hashed: weak parameters from a malicious
        # server would make the proof cheap to brute-force offline (docs/format.md, "Argon2id floor").
        try:
            params = crypto.PasswordParams.from_json(info["password"])
        except crypto.WeakPasswordParams:
            raise LinkError(crypto.WEAK_PARAMS_MESSAGE) from None
        except crypto.FormatError as exc:
            raise LinkError(f"this link's password settings are not valid ({exc}); ask the owner for a new link") from None
        given = password()
    elif password_given:
        report.warn("this link has no password; ignoring the one given")
    # The challenge is where the server checks attempt limits: ask for it before
    # Argon2, so a locked-out client is refused without the expensive work (docs/api.md, "Unlock").
    challenge = need(link.challenge(), "challenge")
    # Both or neither: a link with password settings asked for one above.
    factor = crypto.password_factor(given, params) if params is not None and given is not None else b""
    keys = crypto.link_keys(secret, factor)
    answer = unlock(link, keys, challenge, report=report)
    return Unlocked(link, keys, answer.get("info") or info, answer, report)


def unlock(link: LinkClient, keys: crypto.LinkKeys, challenge: str | None = None, *, report: Report | None = None) -> dict:
    """Sign the challenge with the link, password and device keys, and unlock (docs/api.md, "Unlock")."""
    if challenge is None:
        challenge = need(link.challenge(), "challenge")
    device = device_key(link.link_id, report or Quiet())
    return link.unlock(
        {
            "challenge": challenge,
            "link_proof": crypto.sign_link_proof(keys, link.link_id, challenge),
            "proof": crypto.sign_proof(keys, link.link_id, challenge),
            "device_key": crypto.b64e(device.public_key),
            "device_proof": device.sign(link.link_id, challenge),
        }
    )


def device_key(link_id: str, report: Report) -> crypto.DeviceKey:
    """This machine's key for a link, kept in the keyring: it takes one device slot however often it opens the link."""
    with contextlib.suppress(KeyringError, OSError):
        seed = keyring.load().device_seed(link_id)
        if seed is not None:
            return crypto.DeviceKey.from_seed(seed)
    try:
        with keyring.edit() as ring:
            seed = ring.device_seed(link_id)  # read again under the lock: a parallel command may have made one
            if seed is None:
                seed = crypto.DeviceKey.new().seed
                ring.set_device_seed(link_id, seed)
        return crypto.DeviceKey.from_seed(seed)
    except (KeyringError, OSError) as exc:
        report.warn(f"cannot keep this device's key ({exc}); opening this link again may take another device slot")
        return crypto.DeviceKey.new()


def refuse_upload_only(info: dict) -> str | None:
    """`open`: a link that shows nothing cannot be opened."""
    if info.get("upload_only"):
        return "this link only accepts uploads; it shows no photos (use `fragment upload`)"
    return None


def refuse_no_uploads(info: dict) -> str | None:
    """`upload`: a link must accept uploads."""
    return None if info.get("uploads") else "this link does not accept uploads"
