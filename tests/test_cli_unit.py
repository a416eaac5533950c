"""The `fragment` command line and the operations under it, without a server: parsing, names, keyring, uploads, errors.

Network calls are replaced at the requests or client level, so each test runs in
milliseconds; the end-to-end tests against gunicorn live in test_roundtrip.py.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from datetime import UTC, datetime, timedelta, timezone

import click
import pytest
import requests
from click.testing import CliRunner

from viewer import crypto
from viewer.owner import albums, cli, client, disk, keyring, links, media
from viewer.owner.client import ApiError, OwnerClient
from viewer.owner.links import BadLink

SERVER = "https://srv.example"
LINK_ID = crypto.b64e(bytes(range(16)))
SECRET = bytes(range(100, 132))
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def run(args, env=None, input=None):
    """Invoke `fragment` in-process; stdout and stderr stay apart."""
    return CliRunner().invoke(cli.main, [str(a) for a in args], env=env, input=input)


def fake_response(status: int, body: bytes | dict = b"", headers: dict | None = None, url: str = SERVER + "/api/x"):
    """A real requests.Response with a body already in memory."""
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if isinstance(body, dict) else body
    response._content_consumed = True  # type: ignore[attr-defined]  # requests' private flag, not in its stubs
    response.headers.update(headers or {})
    response.url = url
    return response


@pytest.fixture
def ring_path(tmp_path, monkeypatch):
    """A keyring file of our own for each test (the CLI reads FRAGMENT_KEYRING)."""
    path = tmp_path / "conf" / "keyring.json"
    monkeypatch.setenv("FRAGMENT_KEYRING", str(path))
    monkeypatch.delenv("FRAGMENT_SERVER", raising=False)
    monkeypatch.delenv("FRAGMENT_OWNER_TOKEN", raising=False)
    return path


@pytest.fixture
def logged_in(ring_path):
    """A keyring with an owner token for SERVER, one album and one link of it."""
    with keyring.edit(ring_path) as ring:
        ring.set_server(SERVER + "/", "owner-token")
        ring.add_album("A" * 22, SERVER, bytes(32), "Holidays")
        ring.add_link("A" * 22, LINK_ID, SECRET)
    return ring_path


def error_lines(result) -> list[str]:
    """The stderr lines of a failed run, after checking nothing leaked a traceback."""
    assert "Traceback" not in result.output + result.stderr
    assert result.stdout == ""
    return result.stderr.strip().splitlines()


# --- expiry ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        ("3D", timedelta(days=3)),
    ],
)
def test_expiry_durations_count_from_now(text, delta):
    assert cli.parse_expiry(text, NOW) == NOW + delta


def test_expiry_date_means_the_end_of_that_day_utc():
    assert cli.parse_expiry("2026-06-30", NOW) == datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
    assert cli.parse_expiry("2026-12-31", NOW) == datetime(2027, 1, 1, tzinfo=UTC)


def test_expiry_iso_times_with_zone_and_naive_as_utc():
    assert cli.parse_expiry("2026-06-02T08:30:00+02:00", NOW) == datetime(2026, 6, 2, 6, 30, tzinfo=UTC)
    assert cli.parse_expiry("2026-06-02T08:30:00Z", NOW) == datetime(2026, 6, 2, 8, 30, tzinfo=UTC)
    assert cli.parse_expiry("2026-06-02T08:30", NOW) == datetime(2026, 6, 2, 8, 30, tzinfo=UTC)
    end_of_june = cli.parse_expiry("2026-06-30", NOW)
    assert end_of_june is not None and cli.iso_time(end_of_june) == "2026-07-01T00:00:00Z"


def test_expiry_never_is_none():
    assert cli.parse_expiry("never", NOW) is None
    assert cli.parse_expiry("Never", NOW) is None


@pytest.mark.parametrize("text", ["2026-05-31", "2026-06-01T11:59:59Z", "0d", "0m"])
def test_expiry_in_the_past_is_refused(text):
    with pytest.raises(ValueError, match="in the past"):
        cli.parse_expiry(text, NOW)


@pytest.mark.parametrize("text", ["soon", "7 days", "-3d", "2026-02-30", "7y", ""])
def test_expiry_garbage_is_refused_with_a_hint(text):
    with pytest.raises(ValueError, match="not"):
        cli.parse_expiry(text, NOW)


def test_bad_expiry_is_a_clear_usage_error_before_anything_is_sent(ring_path, tmp_path):
    result = run(["publish", tmp_path, "--expires", "soon", "--server", SERVER])
    assert result.exit_code == 2
    assert "Invalid value for '--expires'" in result.stderr
    assert "use 30m, 12h, 7d or 2w" in result.stderr
    assert "Traceback" not in result.stderr


def test_past_expiry_is_refused_on_the_command_line(ring_path, tmp_path):
    result = run(["publish", tmp_path, "--expires", "2001-01-01", "--server", SERVER])
    assert result.exit_code == 2
    assert "2001-01-02T00:00:00Z is in the past" in result.stderr


def test_device_limit_of_a_change_takes_none_or_a_count():
    kind = cli.DeviceLimitType()
    assert kind.convert("none", None, None) == cli.NO_LIMIT
    assert kind.convert("3", None, None) == 3
    with pytest.raises(click.BadParameter, match="at least 1"):
        kind.convert("0", None, None)


# --- links ----------------------------------------------------------------------


def test_parse_link_splits_server_id_and_secret():
    fragment = crypto.encode_link_secret(SECRET)
    assert links.parse_link(f"https://photos.example.org/a/{LINK_ID}#{fragment}") == (
        "https://photos.example.org",
        LINK_ID,
        SECRET,
    )


def test_parse_link_keeps_a_path_prefix_and_port():
    url = f"  http://host.example:8080/fragment/a/{LINK_ID}#{crypto.encode_link_secret(SECRET)}\n"
    assert links.parse_link(url) == ("http://host.example:8080/fragment", LINK_ID, SECRET)


def test_parse_link_without_fragment_says_to_copy_the_whole_link():
    with pytest.raises(BadLink, match="including the part after '#'"):
        links.parse_link(f"https://photos.example.org/a/{LINK_ID}")
    with pytest.raises(BadLink, match="including the part after '#'"):
        links.parse_link(f"https://photos.example.org/a/{LINK_ID}#")


@pytest.mark.parametrize("bad_id", ["short", LINK_ID + "A", LINK_ID[:-1] + "!", "../" + LINK_ID[3:]])
def test_parse_link_with_a_malformed_id_is_refused(bad_id):
    with pytest.raises(BadLink, match="link id in this link is malformed"):
        links.parse_link(f"https://photos.example.org/a/{bad_id}#{crypto.encode_link_secret(SECRET)}")


def test_parse_link_with_a_cut_secret_is_refused():
    with pytest.raises(BadLink, match="damaged"):
        links.parse_link(f"https://photos.example.org/a/{LINK_ID}#{crypto.encode_link_secret(SECRET)[:-3]}")


@pytest.mark.parametrize("url", ["photos.example.org/a/x#y", "ftp://h/a/x#y", f"https://h/b/{LINK_ID}#x"])
def test_parse_link_refuses_what_is_not_a_fragment_link(url):
    with pytest.raises(BadLink):
        links.parse_link(url)


def test_link_url_uses_the_servers_url_and_appends_the_secret():
    fragment = crypto.encode_link_secret(SECRET)
    assert (
        links.link_url(SERVER, LINK_ID, SECRET, {"url": f"https://public.example/a/{LINK_ID}"})
        == f"https://public.example/a/{LINK_ID}#{fragment}"
    )
    assert links.link_url(SERVER + "/", LINK_ID, SECRET) == f"{SERVER}/a/{LINK_ID}#{fragment}"


def test_open_with_a_link_missing_its_key_fails_in_one_line(ring_path, tmp_path):
    result = run(["open", f"{SERVER}/a/{LINK_ID}", "--out", tmp_path / "out"])
    assert result.exit_code == 1
    assert error_lines(result) == ["Error: the link has no key: copy the whole link, including the part after '#'"]
    assert not (tmp_path / "out").exists()


# --- file names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../x", "x"),
        ("a/b", "b"),
        ("a\\b.jpg", "b.jpg"),
        ("/etc/passwd", "passwd"),
        ("photo.jpg", "photo.jpg"),
        ("Été à Zürich – ßpaß.jpg", "Été à Zürich – ßpaß.jpg"),
        ("\x1b]0;pwned\x07evil\x00.jpg", "]0;pwnedevil.jpg"),
        ("line\nbreak.jpg", "linebreak.jpg"),
        ("photo\u202egpj.exe", "photogpj.exe"),
        (".bashrc", "bashrc"),
        ("name. ", "name"),
        ("..", "file"),
        ("../..", "file"),
        ("", "file"),
        ("/", "file"),
        ("\x01\x02", "file"),
        (None, "file"),
        (42, "file"),
    ],
)
def test_safe_name_keeps_files_inside_the_folder(name, safe):
    assert disk.safe_name(name) == safe


def test_safe_name_uses_the_fallback_given():
    assert disk.safe_name("../", "guest") == "guest"


def test_safe_name_shortens_long_names_and_keeps_the_extension():
    name = disk.safe_name("é" * 300 + ".jpeg")
    assert len(name.encode()) <= 255
    assert name.endswith("é.jpeg")


def test_unique_path_adds_a_number_instead_of_overwriting(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"first")
    (tmp_path / "a (2).jpg").write_bytes(b"second")
    taken = {tmp_path / "a (3).jpg"}
    assert disk.unique_path(tmp_path, "a.jpg", taken) == tmp_path / "a (4).jpg"
    assert disk.unique_path(tmp_path, "b.jpg") == tmp_path / "b.jpg"
    (tmp_path / "README").write_bytes(b"")
    assert disk.unique_path(tmp_path, "README") == tmp_path / "README (2)"
    assert (tmp_path / "a.jpg").read_bytes() == b"first"


def test_preview_names_say_what_they_are():
    assert disk.preview_name("IMG_1.HEIC", "image/webp") == "IMG_1 (preview).webp"


# --- keyring ------------------------------------------------------------------------


def test_keyring_is_private_and_round_trips(ring_path):
    with keyring.edit() as ring:
        ring.set_server(SERVER + "/", "tok")
        ring.add_album("A" * 22, SERVER, b"k" * 32, "T")
        ring.add_link("A" * 22, LINK_ID, SECRET)
    assert stat.S_IMODE(ring_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ring_path.parent.stat().st_mode) == 0o700
    loaded = keyring.load()
    assert loaded.default_server == SERVER
    assert loaded.owner_token(SERVER + "/") == "tok"
    assert loaded.album_key("A" * 22) == b"k" * 32
    assert loaded.find_link(LINK_ID) == ("A" * 22, SECRET)
    assert loaded.find_album("T") == "A" * 22
    assert json.loads(ring_path.read_text())["version"] == 1
    assert "password" not in ring_path.read_text()


def test_keyring_write_is_atomic(ring_path, monkeypatch):
    ring_path.parent.mkdir(mode=0o700)
    with disk.atomic_file(ring_path) as out:
        out.write(b'{"version": 1}')

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(disk.os, "replace", crash)
    with pytest.raises(OSError), keyring.edit() as ring:
        ring.set_server(SERVER, "new")
    assert ring_path.read_bytes() == b'{"version": 1}'
    assert sorted(p.name for p in ring_path.parent.iterdir()) == ["keyring.json", "keyring.json.lock"]


def test_keyring_is_not_saved_when_the_command_fails_midway(ring_path):
    with pytest.raises(RuntimeError), keyring.edit() as ring:
        ring.set_server(SERVER, "tok")
        raise RuntimeError("boom")
    assert not ring_path.exists()


def test_keyring_readable_by_others_is_fixed_with_a_warning(logged_in, monkeypatch):
    os.chmod(logged_in, 0o644)
    monkeypatch.setattr(OwnerClient, "list_albums", lambda self: [])
    result = run(["albums"])
    assert result.exit_code == 0, result.stderr
    assert f"Warning: the keyring {logged_in} could be read by other users (mode 644); its mode is now 600" in result.stderr
    assert stat.S_IMODE(logged_in.stat().st_mode) == 0o600


def test_a_damaged_keyring_is_one_clear_error(ring_path):
    ring_path.parent.mkdir()
    ring_path.write_text("{not json")
    result = run(["albums", "--server", SERVER])
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert line.startswith(f"Error: the keyring at {ring_path} is not valid JSON")


def test_keyring_path_follows_xdg_config_home(monkeypatch, tmp_path):
    monkeypatch.delenv("FRAGMENT_KEYRING", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert keyring.default_path() == tmp_path / "fragment" / "keyring.json"


# --- passwords and tokens -------------------------------------------------------------


def test_password_change_reads_stdin_and_rewraps_from_the_kept_secret(logged_in, monkeypatch):
    factors: list = []
    sent: dict = {}

    def fake_factor(password, params):
        factors.append(password)
        return b"f" * 32  # Argon2 is tested in test_crypto; here only the plumbing matters

    def fake_patch(self, link_id, changes):
        sent.update(changes, link_id=link_id)
        return {"link_id": link_id, "password": changes["password"]}

    monkeypatch.setattr(crypto, "password_factor", fake_factor)
    monkeypatch.setattr(OwnerClient, "patch_link", fake_patch)
    # The album's current key is read from the server (it may have a new one: viewer/owner/epochs.py).
    monkeypatch.setattr(OwnerClient, "get_album", lambda self, album_id: {"album_id": album_id, "key_epoch": 0})
    result = run(["links", "change", LINK_ID, "--password-stdin", "--expires", "never"], input="  two words \nignored\n")
    assert result.exit_code == 0, result.stderr
    assert factors == ["  two words "]  # only the line ending is stripped
    keys = crypto.link_keys(SECRET, b"f" * 32)
    assert sent["link_id"] == LINK_ID
    assert sent["expires_at"] is None
    assert crypto.b64d(sent["verifier"]) == keys.verifier
    assert crypto.b64d(sent["link_verifier"]) == keys.link_verifier  # a password change upgrades a legacy link
    assert crypto.unwrap_album_key(keys.wrap_key, crypto.b64d(sent["wrapped_album_key"]), LINK_ID) == bytes(32)
    assert crypto.PasswordParams.from_json(sent["password"]).opslimit == crypto.PW_OPSLIMIT
    assert "password:  yes" in result.stdout


def test_an_empty_password_on_stdin_is_refused(logged_in):
    result = run(["links", "change", LINK_ID, "--password-stdin"], input="\n")
    assert result.exit_code == 2
    assert "--password-stdin read an empty password" in result.stderr


def test_two_password_sources_are_refused(logged_in):
    result = run(["links", "change", LINK_ID, "--password-stdin", "--password", "x"], input="y\n")
    assert result.exit_code == 2
    assert "give the password one way only" in result.stderr


def test_login_with_a_refused_token_says_so(ring_path, monkeypatch):
    seen: dict = {}

    def fake_request(self, method, url, **kwargs):
        seen.update(url=url, auth=kwargs["headers"]["Authorization"], timeout=kwargs["timeout"])
        return fake_response(401, {"error": "unauthorized", "message": "The owner token is not valid on this server."})

    monkeypatch.setattr(requests.Session, "request", fake_request)
    result = run(["login", SERVER + "/", "--token-stdin"], input="bad-token\n")
    assert result.exit_code == 1
    assert error_lines(result) == ["Error: the server refused this owner token"]
    assert seen == {"url": SERVER + "/api/owner/albums", "auth": "Bearer bad-token", "timeout": client.TIMEOUT}
    assert not ring_path.exists()


def test_login_saves_the_token_and_the_default_server(ring_path, monkeypatch):
    monkeypatch.setattr(requests.Session, "request", lambda self, method, url, **kw: fake_response(200, {"albums": []}))
    result = run(["login", SERVER, "--token-stdin"], input="good-token\n")
    assert result.exit_code == 0, result.stderr
    ring = keyring.load()
    assert (ring.default_server, ring.owner_token(SERVER)) == (SERVER, "good-token")


# --- errors ---------------------------------------------------------------------------


def test_an_api_error_is_one_error_line(logged_in, monkeypatch):
    def fail(self):
        raise ApiError(500, "internal", "Something went wrong on the server. Please try again.")

    monkeypatch.setattr(OwnerClient, "list_albums", fail)
    result = run(["albums"])
    assert result.exit_code == 1
    assert error_lines(result) == ["Error: Something went wrong on the server. Please try again."]


def test_a_server_that_cannot_be_reached_is_one_error_line(logged_in):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = f"http://127.0.0.1:{port}"
    with keyring.edit() as ring:
        ring.set_server(server, "tok")
    result = run(["albums", "--server", server])
    assert result.exit_code == 1
    assert error_lines(result) == [f"Error: could not connect to {server}: check the address and that the server is running"]


def test_a_timeout_is_one_error_line(logged_in, monkeypatch):
    def slow(self, method, url, **kwargs):
        raise requests.ReadTimeout("read timed out", request=requests.Request(method, url).prepare())

    monkeypatch.setattr(requests.Session, "request", slow)
    result = run(["albums"])
    assert error_lines(result) == [f"Error: {SERVER} did not answer in time; try again later"]


def test_a_proxy_page_instead_of_json_is_explained(logged_in, monkeypatch):
    page = b"<html><body><h1>502 Bad Gateway</h1>\n</body></html>"
    monkeypatch.setattr(
        requests.Session, "request", lambda self, m, url, **kw: fake_response(502, page, {"Content-Type": "text/html"}, url)
    )
    result = run(["albums"])
    assert result.exit_code == 1
    assert error_lines(result) == [f"Error: the server answered 502 without an API error; is {SERVER} a Fragment server?"]


def test_too_many_attempts_says_how_long_to_wait():
    error = ApiError.from_response(
        fake_response(429, {"error": "too_many_attempts", "message": "Too many wrong attempts."}, {"Retry-After": "900"})
    )
    assert cli.describe(error) == "too many wrong passwords for this link; try again in 15 minutes"


def test_a_link_key_the_server_does_not_accept_says_to_check_the_whole_link():
    error = ApiError.from_response(fake_response(401, {"error": "bad_link_key", "message": "This link's key is not right."}))
    assert cli.describe(error) == (
        "this link's key was not accepted: check that you copied the whole link, including the part after '#'"
    )


def test_an_unexpected_bug_still_gives_one_line(logged_in, monkeypatch):
    monkeypatch.delenv("FRAGMENT_DEBUG", raising=False)
    monkeypatch.setattr(OwnerClient, "list_albums", lambda self: 1 / 0)
    result = run(["albums"])
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert line.startswith("Error: unexpected ZeroDivisionError: division by zero")


def test_not_logged_in_says_what_to_run(ring_path):
    result = run(["albums", "--server", SERVER])
    assert error_lines(result) == [f"Error: not logged in to {SERVER}: run `fragment login {SERVER}` first"]


# --- resumable uploads -------------------------------------------------------------------


class FlakyServer:
    """Stores parts like the server does; can drop the connection after storing, or refuse big parts."""

    def __init__(self, size: int, drop_after_store: frozenset[int] | set[int] = frozenset(), max_part: int | None = None):
        self.data = bytearray()
        self.size = size
        self.drop_after_store = set(drop_after_store)
        self.max_part = max_part
        self.calls: list = []

    def upload(self) -> dict:
        return {"blobs": {"original": {"size": self.size, "received": len(self.data)}}}

    def put(self, kind, offset, part):
        self.calls.append((offset, len(part)))
        if self.max_part and len(part) > self.max_part:
            raise ApiError(413, "too_large", f"Send parts of 1 to {self.max_part} bytes.")
        if offset != len(self.data):
            raise ApiError(409, "offset_mismatch", "continue from there", {"upload": self.upload()})
        self.data += part
        if offset in self.drop_after_store:
            self.drop_after_store.discard(offset)
            raise requests.ConnectionError("connection reset")  # stored, but the answer was lost
        return self.upload()


def test_upload_blob_resumes_from_the_servers_count_after_a_lost_answer():
    blob = os.urandom(10_000)
    server = FlakyServer(len(blob), drop_after_store={3000})
    progress: list[int] = []
    sleeps: list[float] = []
    client.upload_blob(
        server.put, server.upload, "original", blob, len(blob), part_size=3000, on_progress=progress.append, sleep=sleeps.append
    )
    assert bytes(server.data) == blob
    assert sum(progress) == len(blob)
    assert sleeps == [2.0]
    # After the drop it asked where to go on and never re-sent the stored part.
    assert server.calls == [(0, 3000), (3000, 3000), (6000, 3000), (9000, 1000)]


def test_upload_blob_follows_an_offset_mismatch(tmp_path):
    blob = os.urandom(5000)
    server = FlakyServer(len(blob))
    server.data += blob[:2000]  # an earlier run already sent this much
    with open(tmp_path / "blob", "w+b") as f:
        f.write(blob)
        client.upload_blob(server.put, server.upload, "original", f, len(blob), part_size=2000)
    assert bytes(server.data) == blob


def test_upload_blob_halves_parts_until_the_server_takes_them():
    blob = os.urandom(300_000)
    server = FlakyServer(len(blob), max_part=100_000)
    used = client.upload_blob(server.put, server.upload, "original", blob, len(blob), part_size=400_000)
    assert bytes(server.data) == blob
    assert 50_000 <= used <= 100_000
    # Refused parts were tried once each at a halving size, then every part fit.
    assert [n for _, n in server.calls if n > 100_000] == [300_000, 150_000]


def test_upload_blob_gives_up_after_a_few_retries():
    def down(kind, offset, part):
        raise requests.ConnectionError("down")

    def status():
        raise requests.ConnectionError("down")

    with pytest.raises(requests.ConnectionError):
        client.upload_blob(down, status, "thumb", b"x" * 10, 10, sleep=lambda s: None)


def test_upload_blob_does_not_retry_a_refusal():
    def refuse(kind, offset, part):
        raise ApiError(413, "quota_exceeded", "This link's upload space is used up.")

    with pytest.raises(ApiError, match="used up"):
        client.upload_blob(refuse, dict, "original", b"x" * 10, 10)


# --- decrypting downloads ---------------------------------------------------------------


def encrypted(data: bytes, file_id: str, key: bytes) -> bytes:
    return crypto.encrypt_blob_bytes(key, file_id, "original", data, chunk_size=1024)


def test_save_blob_writes_only_checked_plaintext(tmp_path):
    key, file_id, data = crypto.random_key(), crypto.new_id(), os.urandom(5000)
    dest = tmp_path / "photo.jpg"
    written = albums.save_blob(fake_response(200, encrypted(data, file_id, key)), key, file_id, "original", dest, len(data))
    assert (written, dest.read_bytes()) == (len(data), data)
    assert [p.name for p in tmp_path.iterdir()] == ["photo.jpg"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "header"])
def test_save_blob_leaves_nothing_behind_when_the_data_was_tampered_with(tmp_path, damage):
    key, file_id = crypto.random_key(), crypto.new_id()
    blob = bytearray(encrypted(os.urandom(5000), file_id, key))
    if damage == "flip":
        blob[3000] ^= 1
    elif damage == "truncate":
        del blob[-1040:]
    else:
        blob[0:4] = b"XXXX"
    with pytest.raises(crypto.DecryptionError):
        albums.save_blob(fake_response(200, bytes(blob)), key, file_id, "original", tmp_path / "photo.jpg", 5000)
    assert list(tmp_path.iterdir()) == []


def test_save_blob_refuses_a_size_other_than_the_metadata_says(tmp_path):
    key, file_id = crypto.random_key(), crypto.new_id()
    with pytest.raises(crypto.DecryptionError, match="metadata says 4999"):
        albums.save_blob(
            fake_response(200, encrypted(os.urandom(5000), file_id, key)), key, file_id, "original", tmp_path / "x", 4999
        )
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_file_is_named_in_the_one_error_line():
    failed = albums.FileError("IMG_0001.jpg", crypto.DecryptionError("chunk 3 failed to authenticate"))
    assert cli.describe(failed) == (
        "IMG_0001.jpg: the downloaded data is damaged or has been tampered with; nothing was saved for it"
    )


# --- order of operations -------------------------------------------------------------


def test_the_album_key_is_in_the_keyring_before_anything_is_sent(logged_in, tmp_path, monkeypatch):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"not decoded before the album exists")

    def server_down(self, album_id, meta):
        saved = keyring.load().album(album_id)  # the key must already be on disk here
        assert crypto.open_album_meta(crypto.b64d(saved["album_key"]), album_id, crypto.b64d(meta)) == {"v": 1, "title": "photos"}
        raise requests.ConnectionError("down", request=requests.Request("POST", SERVER + "/api/owner/albums").prepare())

    monkeypatch.setattr(OwnerClient, "create_album", server_down)
    result = run(["publish", tmp_path / "photos"])
    assert error_lines(result) == [f"Error: could not connect to {SERVER}: check the address and that the server is running"]
    titles = [album["title"] for album in keyring.load().albums(SERVER).values()]
    assert sorted(titles) == ["Holidays", "photos"]


def test_a_locked_out_link_is_refused_before_argon2_runs(ring_path, tmp_path, monkeypatch):
    params = crypto.PasswordParams.new().to_json()
    calls = []
    monkeypatch.setattr(client.LinkClient, "info", lambda self: {"link_id": self.link_id, "format": 1, "password": params})

    def locked(self):
        raise ApiError(429, "too_many_attempts", "Too many wrong attempts.", retry_after=900)

    monkeypatch.setattr(client.LinkClient, "challenge", locked)

    def factor(*args):
        calls.append(args)
        return b"f" * 32

    monkeypatch.setattr(crypto, "password_factor", factor)
    link = f"{SERVER}/a/{LINK_ID}#{crypto.encode_link_secret(SECRET)}"
    result = run(["open", link, "--password-stdin", "--out", tmp_path / "out"], input="guess\n")
    assert result.exit_code == 1
    assert error_lines(result) == ["Error: too many wrong passwords for this link; try again in 15 minutes"]
    assert calls == []


@pytest.mark.parametrize("weak", [{"opslimit": 1}, {"memlimit": 8192}, {"memlimit": 19 * 1024 * 1024 - 1}])
def test_weak_server_password_settings_are_refused_before_anything_runs(ring_path, tmp_path, monkeypatch, weak):
    params = {**crypto.PasswordParams.new().to_json(), **weak}
    calls = []
    monkeypatch.setattr(client.LinkClient, "info", lambda self: {"link_id": self.link_id, "format": 1, "password": params})

    def challenge(self):
        calls.append("challenge")
        return {"challenge": "c"}

    def factor(*args):
        calls.append("argon2")
        return b"f" * 32

    monkeypatch.setattr(client.LinkClient, "challenge", challenge)
    monkeypatch.setattr(crypto, "password_factor", factor)
    link = f"{SERVER}/a/{LINK_ID}#{crypto.encode_link_secret(SECRET)}"
    result = run(["open", link, "--password-stdin", "--out", tmp_path / "out"], input="guess\n")
    assert result.exit_code == 1
    assert error_lines(result) == [f"Error: {crypto.WEAK_PARAMS_MESSAGE}"]
    assert calls == []  # no challenge asked for, no Argon2 run: nothing a malicious server could brute-force


def unlock_bodies(monkeypatch) -> list[dict]:
    """Capture what `unlock` sends, answering as the server would."""
    sent: list[dict] = []

    def fake_unlock(self, body):
        sent.append(body)
        return {"access_token": "t"}

    monkeypatch.setattr(client.LinkClient, "unlock", fake_unlock)
    monkeypatch.setattr(client.LinkClient, "challenge", lambda self: {"challenge": f"challenge-{len(sent)}"})
    return sent


def test_unlock_sends_the_link_proof_and_one_device_key_per_link(ring_path, monkeypatch):
    sent = unlock_bodies(monkeypatch)
    keys, other = crypto.link_keys(SECRET), crypto.new_id()
    for link_id in (LINK_ID, LINK_ID, other):
        links.unlock(client.LinkClient(SERVER, link_id), keys)
    first, again, elsewhere = sent
    for body, link_id in ((first, LINK_ID), (again, LINK_ID), (elsewhere, other)):
        challenge = body["challenge"]
        assert crypto.verify_link_proof(keys.link_verifier, link_id, challenge, body["link_proof"])
        assert crypto.verify_proof(keys.verifier, link_id, challenge, body["proof"])
        assert crypto.verify_device_proof(crypto.b64d(body["device_key"]), link_id, challenge, body["device_proof"])
        assert "device_token" not in body
    # This machine is one device for a link, however often it opens it; another link gets another key.
    assert first["device_key"] == again["device_key"] != elsewhere["device_key"]
    seed = keyring.load(ring_path).device_seed(LINK_ID)
    assert seed is not None
    assert crypto.b64e(crypto.DeviceKey.from_seed(seed).public_key) == first["device_key"]


def test_a_v1_device_token_in_the_keyring_is_replaced_by_a_device_key(ring_path, monkeypatch):
    with keyring.edit(ring_path) as ring:
        ring.data["devices"][LINK_ID] = "an-old-device-token"
    sent = unlock_bodies(monkeypatch)
    links.unlock(client.LinkClient(SERVER, LINK_ID), crypto.link_keys(SECRET))
    assert "device_token" not in sent[0]
    assert keyring.load(ring_path).device_seed(LINK_ID) is not None


def test_new_link_fields_carry_the_link_verifier():
    fields = links.password_fields(SECRET, bytes(32), LINK_ID, None)
    assert crypto.b64d(fields["link_verifier"]) == crypto.link_keys(SECRET).link_verifier
    assert fields["password"] is None


def test_link_changes_send_only_what_was_given_and_keep_upload_settings_consistent():
    base = dict.fromkeys(
        ("expires", "device_limit", "downloads", "uploads", "upload_only", "quota_files", "quota_mb", "max_file_mb")
    )
    assert cli.setting_changes(base) == {}
    assert cli.setting_changes({**base, "uploads": False}) == {"uploads": False, "upload_only": False}
    assert cli.setting_changes({**base, "upload_only": True}) == {"upload_only": True, "uploads": True}
    assert cli.setting_changes({**base, "device_limit": cli.NO_LIMIT, "quota_mb": 5, "expires": cli.NEVER}) == {
        "device_limit": None,
        "quota_bytes": 5_000_000,
        "expires_at": None,
    }


# --- pull ---------------------------------------------------------------------------------

ALBUM_ID, ALBUM_KEY = "A" * 22, bytes(32)  # the `logged_in` album
IST = timezone(timedelta(hours=5, minutes=30))


@pytest.fixture
def local_zone_ist():
    """Local time is UTC+05:30 (a POSIX TZ, no tz database needed), so local and UTC readings differ."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "IST-05:30"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def guest_file(name: str, data: bytes, **meta) -> tuple[dict, bytes]:
    """A listed guest file of the `logged_in` album and its encrypted original."""
    file_id, file_key = crypto.new_id(), crypto.random_key()
    sealed = crypto.seal_file_meta(
        file_key, ALBUM_ID, file_id, {"v": 1, "name": name, "size": len(data), "uploader": "Ana", **meta}
    )
    entry = {
        "file_id": file_id,
        "wrapped_key": crypto.b64e(crypto.wrap_file_key(ALBUM_KEY, file_key, ALBUM_ID, file_id)),
        "meta": crypto.b64e(sealed),
        "blobs": {"original": len(data)},
    }
    return entry, encrypted(data, file_id, file_key)


def test_pull_gives_each_file_its_taken_at_as_mtime(logged_in, tmp_path, monkeypatch, local_zone_ist):
    files = {
        "offset.jpg": guest_file("offset.jpg", b"o" * 3000, taken_at="2024-06-01T12:30:00+02:00"),
        "local.jpg": guest_file("local.jpg", b"l" * 3000, taken_at="2024-06-01T12:30:00"),
        "unknown.jpg": guest_file("unknown.jpg", b"u" * 3000, taken_at=None),
        "garbled.jpg": guest_file("garbled.jpg", b"g" * 3000, taken_at="yesterday"),
        "earlier.jpg": guest_file("earlier.jpg", b"e" * 3000, taken_at="2001-01-01T00:00:00+00:00"),
    }
    blobs = {entry["file_id"]: blob for entry, blob in files.values()}
    monkeypatch.setattr(
        OwnerClient, "iter_files", lambda self, album_id, source=None: iter([entry for entry, _ in files.values()])
    )
    monkeypatch.setattr(OwnerClient, "download_blob", lambda self, album_id, file_id, kind: fake_response(200, blobs[file_id]))
    out = tmp_path / "pulled"
    # A file from an earlier pull is skipped, and keeps the time it has.
    (out / "Ana").mkdir(parents=True)
    (out / "Ana" / "earlier.jpg").write_bytes(b"e" * 3000)
    os.utime(out / "Ana" / "earlier.jpg", (1_000_000_000, 1_000_000_000))
    result = run(["pull", "Holidays", "--out", out])
    assert result.exit_code == 0, result.output + result.stderr
    mtime = {p.name: p.stat().st_mtime for p in (out / "Ana").iterdir()}
    assert mtime["offset.jpg"] == datetime(2024, 6, 1, 10, 30, tzinfo=UTC).timestamp()
    # No offset: the camera's wall clock, read in the local zone (not as UTC).
    assert mtime["local.jpg"] == datetime(2024, 6, 1, 12, 30, tzinfo=IST).timestamp()
    for untouched in ("unknown.jpg", "garbled.jpg"):
        assert abs(mtime[untouched] - time.time()) < 60
    assert mtime["earlier.jpg"] == 1_000_000_000


# --- publish: resume and roll back; albums delete ----------------------------------------------


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no except clause sees it."""


class FakeOwnerServer:
    """The owner API's albums, files and links, in memory, with a kill switch inside uploads."""

    def __init__(self, monkeypatch):
        self.albums: dict[str, dict] = {}
        self.deleted_files: list[str] = []
        self.kill_at: tuple[str, str] | None = None  # (file name, "reserved" or "completed")
        self.refuse_delete: ApiError | None = None
        self.sends: list[str] = []
        server = self
        monkeypatch.setattr(media, "prepare", lambda path: object())
        monkeypatch.setattr(OwnerClient, "create_album", lambda self, album_id, meta: server.create(album_id, meta))
        monkeypatch.setattr(OwnerClient, "get_album", lambda self, album_id: server.album_json(album_id))
        monkeypatch.setattr(OwnerClient, "list_albums", lambda self: [server.album_json(a) for a in server.albums])
        monkeypatch.setattr(OwnerClient, "iter_files", lambda self, album_id, source=None: server.files(album_id))
        monkeypatch.setattr(OwnerClient, "delete_file", lambda self, album_id, file_id: server.delete_file(album_id, file_id))
        monkeypatch.setattr(OwnerClient, "list_links", lambda self, album_id: server.album(album_id)["links"])
        monkeypatch.setattr(OwnerClient, "create_link", lambda self, album_id, body: server.add_link(album_id, body))
        monkeypatch.setattr(OwnerClient, "json", lambda self, method, path, body=None, **kw: server.owner_json(method, path))
        monkeypatch.setattr(client.UploadTarget, "reserve", lambda target, body: server.reserve(target, body))
        monkeypatch.setattr(albums, "send_file", server.send_file)

    def create(self, album_id: str, meta: str = "") -> dict:
        if album_id in self.albums:
            raise ApiError(409, "exists", "An album with this id exists already.")
        self.albums[album_id] = {"files": {}, "links": [], "meta": meta}
        return {"album_id": album_id}

    def album(self, album_id: str) -> dict:
        if album_id not in self.albums:
            raise ApiError(404, "not_found", "This album does not exist.")
        return self.albums[album_id]

    def album_json(self, album_id: str) -> dict:
        album = self.album(album_id)
        files = sum(1 for f in album["files"].values() if f["complete"])
        return {"album_id": album_id, "meta": album["meta"], "files": files, "links": len(album["links"])}

    def files(self, album_id: str) -> list[dict]:
        return [{"file_id": fid, **f} for fid, f in self.album(album_id)["files"].items() if f["complete"]]

    def names(self, album_id: str) -> list[str]:
        return sorted(f["name"] for f in self.files(album_id))

    def delete_file(self, album_id: str, file_id: str) -> dict:
        self.album(album_id)["files"].pop(file_id)
        self.deleted_files.append(file_id)
        return {"deleted": True}

    def add_link(self, album_id: str, body: dict) -> dict:
        link = {"link_id": body["link_id"], "album_id": album_id}
        self.album(album_id)["links"].append(link)
        return link

    def owner_json(self, method: str, path: str) -> dict:
        assert method == "DELETE" and path.startswith("/api/owner/albums/"), (method, path)
        if self.refuse_delete:
            raise self.refuse_delete
        self.album(path.rsplit("/", 1)[1])
        del self.albums[path.rsplit("/", 1)[1]]
        return {"deleted": True}

    def reserve(self, target, body: dict) -> dict:
        album_id = target.prefix.rsplit("/", 1)[1]
        self.album(album_id)["files"][body["file_id"]] = {"name": body["name"], "complete": False}
        return {"file_id": body["file_id"]}

    def send_file(self, target, album_key, album_id, path, prepared, extra_meta=None, on_progress=None):
        file_id = crypto.new_id()
        self.sends.append(path.name)
        target.reserve({"file_id": file_id, "name": path.name})
        if self.kill_at == (path.name, "reserved"):
            raise Killed()
        self.albums[album_id]["files"][file_id]["complete"] = True
        if self.kill_at == (path.name, "completed"):
            raise Killed()
        return albums.SentFile(file_id, {}, {})


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "Lyon"
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"IMG_{i}.jpg").write_bytes(b"jpeg %d" % i)
    return folder


def kill_publish(folder) -> None:
    """`fragment publish FOLDER`, killed where the fake server's kill_at says."""
    with pytest.raises(Killed):
        run(["publish", folder])


def unfinished_album(ring_path) -> str:
    [album_id] = [aid for aid, a in keyring.load(ring_path).albums().items() if a.get("publish")]
    return album_id


def test_publish_killed_mid_way_resumes_and_makes_the_link_only_at_the_end(logged_in, photos, monkeypatch):
    server = FakeOwnerServer(monkeypatch)
    server.kill_at = ("IMG_3.jpg", "reserved")
    kill_publish(photos)
    album_id = unfinished_album(logged_in)
    assert server.names(album_id) == ["IMG_1.jpg", "IMG_2.jpg"] and server.albums[album_id]["links"] == []

    listing = run(["albums"])
    hint = f"run `fragment publish {photos}` again to finish, or `fragment albums delete {album_id}`"
    assert f"Lyon - unfinished ({hint})" in listing.stdout

    server.kill_at = None
    resumed = run(["publish", photos])
    assert resumed.exit_code == 0, resumed.output
    assert "Resuming the publish of 'Lyon' started on " in resumed.stderr
    assert ": 2 of 5 files are already there" in resumed.stderr
    assert server.names(album_id) == [f"IMG_{i}.jpg" for i in range(1, 6)]
    assert server.sends == ["IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg", "IMG_3.jpg", "IMG_4.jpg", "IMG_5.jpg"]
    assert len(server.deleted_files) == 1  # the reservation the kill left behind, abandoned
    [link] = server.albums[album_id]["links"]
    assert resumed.stdout.strip().startswith(f"{SERVER}/a/{link['link_id']}#")
    ring = keyring.load(logged_in)
    assert ring.publish_record(album_id) is None and ring.link_secret(album_id, link["link_id"])
    assert "unfinished" not in run(["albums"]).stdout


def test_a_file_the_server_completed_just_before_the_kill_is_not_sent_again(logged_in, photos, monkeypatch):
    server = FakeOwnerServer(monkeypatch)
    server.kill_at = ("IMG_2.jpg", "completed")
    kill_publish(photos)
    server.kill_at = None
    resumed = run(["publish", photos])
    assert ": 2 of 5 files are already there" in resumed.stderr
    [album_id] = server.albums
    assert server.names(album_id) == [f"IMG_{i}.jpg" for i in range(1, 6)]
    assert server.sends.count("IMG_2.jpg") == 1 and server.deleted_files == []


def test_a_file_changed_after_the_kill_is_sent_again_and_its_old_copy_deleted(logged_in, photos, monkeypatch):
    server = FakeOwnerServer(monkeypatch)
    server.kill_at = ("IMG_3.jpg", "reserved")
    kill_publish(photos)
    (photos / "IMG_1.jpg").write_bytes(b"a new, longer version")
    server.kill_at = None
    resumed = run(["publish", photos])
    assert "IMG_1.jpg changed since it was uploaded" in resumed.stderr
    assert ": 1 of 5 files are already there" in resumed.stderr
    album_id = next(iter(server.albums))
    assert server.names(album_id) == [f"IMG_{i}.jpg" for i in range(1, 6)]
    assert len(server.deleted_files) == 2  # the old IMG_1 and the abandoned IMG_3 reservation


def test_publish_restart_deletes_the_unfinished_album_and_starts_over(logged_in, photos, monkeypatch):
    server = FakeOwnerServer(monkeypatch)
    server.kill_at = ("IMG_3.jpg", "reserved")
    kill_publish(photos)
    old = unfinished_album(logged_in)
    server.kill_at = None
    result = run(["publish", photos, "--restart"])
    assert result.exit_code == 0, result.output
    assert f"Deleting the unfinished album 'Lyon' ({old})" in result.stderr and "Resuming" not in result.stderr
    [new] = server.albums
    assert new != old and server.names(new) == [f"IMG_{i}.jpg" for i in range(1, 6)]
    assert old not in keyring.load(logged_in).albums()


def test_publish_restart_keeps_everything_when_the_server_refuses_the_delete(logged_in, photos, monkeypatch):
    server = FakeOwnerServer(monkeypatch)
    server.kill_at = ("IMG_3.jpg", "reserved")
    kill_publish(photos)
    old = unfinished_album(logged_in)
    server.kill_at, server.refuse_delete = None, ApiError(500, "internal", "Something went wrong on the server.")
    result = run(["publish", photos, "--restart"])
    assert result.exit_code == 1
    assert error_lines(result)[-1].startswith(f"Error: the server did not delete album {old} (Something went wrong")
    assert keyring.load(logged_in).publish_record(old) is not None and list(server.albums) == [old]


def test_publish_of_unreadable_files_keeps_the_key_when_the_server_does_not_delete_the_album(logged_in, photos, monkeypatch):
    server = FakeOwnerServer(monkeypatch)

    def unreadable(path):
        raise media.MediaError(f"{path}: not a picture")

    monkeypatch.setattr(media, "prepare", unreadable)
    server.refuse_delete = ApiError(500, "internal", "Something went wrong on the server.")
    result = run(["publish", photos])
    assert error_lines(result)[-1] == "Error: none of the 5 file(s) could be read; nothing was published"
    [album_id] = server.albums
    assert keyring.load(logged_in).album_key(album_id)  # the server still has the album: its key stays
    server.refuse_delete = None
    result = run(["publish", photos])
    assert result.exit_code == 1 and server.albums == {} and album_id not in keyring.load(logged_in).albums()


def test_albums_delete_asks_and_drops_the_key_only_once_the_server_confirmed(logged_in, photos, monkeypatch):
    server = FakeOwnerServer(monkeypatch)
    album_id = "A" * 22
    server.create(album_id, crypto.b64e(crypto.seal_album_meta(bytes(32), album_id, {"title": "Holidays"})))
    declined = run(["albums", "delete", "Holidays"], input="n\n")
    assert declined.exit_code == 1
    assert f"Delete album 'Holidays' ({album_id}) from {SERVER}, with its 0 file(s)" in declined.stderr
    assert album_id in server.albums and album_id in keyring.load(logged_in).albums()

    server.refuse_delete = ApiError(500, "internal", "Something went wrong on the server.")
    refused = run(["albums", "delete", "Holidays", "--yes"])
    assert refused.exit_code == 1 and "its key stays in your keyring" in refused.stderr
    assert keyring.load(logged_in).link_secret(album_id, LINK_ID) == SECRET

    server.refuse_delete = None
    done = run(["albums", "delete", "Holidays"], input="y\n")
    assert done.exit_code == 0, done.output
    assert done.stdout == f"Deleted album 'Holidays' ({album_id}).\n"
    assert server.albums == {} and album_id not in keyring.load(logged_in).albums()
    with pytest.raises(keyring.KeyringError):
        keyring.load(logged_in).find_link(LINK_ID)


def test_albums_delete_needs_only_the_owner_token_for_an_album_whose_key_is_lost(logged_in, monkeypatch):
    server = FakeOwnerServer(monkeypatch)
    lost = crypto.new_id()
    server.create(lost)
    assert "(key not in this keyring)" in run(["albums"]).stdout
    # "--": one random id in 64 starts with "-", which click would take for an option.
    result = run(["albums", "delete", "--yes", "--", lost])
    assert result.exit_code == 0, result.output
    assert server.albums == {}
    missing = run(["albums", "delete", "--yes", "--", lost])
    assert error_lines(missing) == [f"Error: there is no album {lost} on {SERVER}"]
    nonsense = run(["albums", "delete", "Not a title", "--yes"])
    assert error_lines(nonsense)[0].startswith("Error: no album with id or title 'Not a title'")


def test_albums_delete_of_an_album_gone_from_the_server_cleans_the_keyring(logged_in, monkeypatch):
    FakeOwnerServer(monkeypatch)
    assert "Holidays (not on the server any more)" in run(["albums"]).stdout
    result = run(["albums", "delete", "Holidays"], input="y\n")
    assert "is not on https://srv.example any more. Remove its key" in result.stderr
    assert result.exit_code == 0 and keyring.load(logged_in).albums() == {}


def test_a_second_publish_of_the_same_folder_is_refused_while_the_first_runs(logged_in, photos, monkeypatch):
    server = FakeOwnerServer(monkeypatch)
    with keyring.publish_lock(logged_in, SERVER, str(photos.resolve())):  # as a publish still running would
        result = run(["publish", photos])
    [line] = error_lines(result)
    assert line == f"Error: another `fragment publish` of {photos.resolve()} is running; let it finish, or stop it first"
    assert server.albums == {} and server.sends == []
    assert run(["publish", photos]).exit_code == 0  # the lock went with its holder


# --- sync: the watch loop ---------------------------------------------------------------------


def test_sync_watches_until_ctrl_c_and_outlives_a_network_outage(logged_in, tmp_path, monkeypatch):
    from viewer.owner import edit, sync

    rounds: list[str] = []

    def one_round(ring, owner, album_id, directory, report, *, delete, rescan, on_added):
        rounds.append(album_id)
        if len(rounds) == 2:
            raise requests.ConnectionError("down")
        if len(rounds) == 3:
            on_added("IMG_2.jpg")
        return sync.Round()

    def sleep(seconds: float) -> None:
        assert seconds == 30
        if len(rounds) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(edit, "open_album", lambda ring, owner, album_id: (bytes(32), {"title": "Holidays"}))
    monkeypatch.setattr(sync, "sync_round", one_round)
    monkeypatch.setattr(cli.clock, "sleep", sleep)
    result = run(["sync", tmp_path, "--album", "Holidays", "--interval", "30"])
    assert result.exit_code == 0, result.output
    assert rounds == ["A" * 22] * 3
    assert result.stdout == "Added IMG_2.jpg\n"
    assert "could not connect to the server" in result.stderr and "trying again in 30 s" in result.stderr
    assert result.stderr.rstrip().endswith("Stopped.")


def test_sync_refuses_an_album_whose_key_is_not_in_the_keyring(logged_in, tmp_path):
    other = crypto.new_id()
    result = run(["sync", tmp_path, "--album", other, "--once"])
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"Error: the keyring at {logged_in} has no key for album {other}, so it cannot open or change it: "
        "use the keyring that published it"
    ]
