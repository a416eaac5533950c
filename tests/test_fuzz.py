"""Every operation of docs/openapi.yaml, fuzzed against the real app under gunicorn.

Schemathesis generates requests from the document, valid ones (positive) and ones that break
it (negative). Most of them are aimed at a real album, file, pending upload, link, member and
invitation made through the API, with a real owner token of an account (so the routes of sharing
run as far as those of a token of no account) or access token, so that the checks behind the
authentication run too. For every request: no 5xx, no traceback in gunicorn's log, an answer
as the document describes it (status, media type, schema), and a refused request (4xx) changes
no row and no blob.

Each operation gets schemathesis' coverage cases (boundary values and type confusions of
every field, a fixed list) and FRAGMENT_FUZZ_EXAMPLES (default 12) random cases of each mode;
the run takes about a minute and a half on SQLite and two on PostgreSQL, on 2 cores; it runs on
both, or on one with FRAGMENT_FUZZ_DATABASE=sqlite (or postgresql). Cases are the same on every
run unless FRAGMENT_FUZZ_RANDOM=1.
"""

from __future__ import annotations

import collections
import os
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import sqlalchemy
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from tests.support import servers
from tests.support.api_helpers import unlock_body
from tests.test_accounts import signup_body
from viewer import crypto

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance  # noqa: E402
from schemathesis.generation.drivers import CoverageGenerator  # noqa: E402
from schemathesis.generation.feedback import FeedbackSources  # noqa: E402
from schemathesis.generation.overrides import Override  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.yaml")
OPERATIONS = {f"{op.method.upper()} {op.path}": op for op in (result.ok() for result in SCHEMA.get_all_operations())}
EXAMPLES = int(os.environ.get("FRAGMENT_FUZZ_EXAMPLES", "12"))
RANDOM = os.environ.get("FRAGMENT_FUZZ_RANDOM", "") not in ("", "0")
# Both databases by default; FRAGMENT_FUZZ_DATABASE=sqlite (or postgresql) runs one alone.
DATABASES = [os.environ["FRAGMENT_FUZZ_DATABASE"]] if os.environ.get("FRAGMENT_FUZZ_DATABASE") else ["sqlite", "postgresql"]
# Floor of the Argon2id parameters for new links (OWASP minimum, docs/format.md); never computed here.
PW_PARAMS = {"alg": "argon2id13", "opslimit": 2, "memlimit": 19 * 1024 * 1024}
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
WRITES_ON_REFUSAL = {"bad_blob"}  # complete discards a file whose blob is not v1, as documented


# --- unlock v2, as a client does it (docs/format.md, "Unlock") ------------------------


# --- the world the fuzz aims at ---------------------------------------------------------


@dataclass
class Person:
    """An account made through the API with the real crypto: its keys, session cookie and CSRF token."""

    made: crypto.NewAccount
    http: requests.Session

    @classmethod
    def sign_up(cls, url: str, email: str) -> Person:
        body, made = signup_body(email, "a password for the fuzz")
        http = requests.Session()
        answer = http.post(f"{url}/api/account/signup", json=body, timeout=30)
        assert answer.status_code == 201, answer.text
        http.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return cls(made, http)

    def owner_token(self, url: str) -> str:
        """An owner token of this account: the fuzz signs in with it, so every route of an account is reached."""
        answer = self.http.post(f"{url}/api/account/tokens", json={"label": "fuzz"}, timeout=30)
        assert answer.status_code == 201, answer.text
        return answer.json()["token"]


@dataclass
class World:
    """An account's album with a complete file, pending uploads, an open link, a password link, a
    member and an open invitation; the owner is signed in with an owner token of the account."""

    url: str
    owner_token: str
    owner: Person
    member: Person
    ids: dict = field(default_factory=dict)
    access_token: str = ""
    secret: bytes = b""
    device: crypto.DeviceKey = field(default_factory=crypto.DeviceKey.new)
    changed: bool = False  # a request that may have deleted or changed part of it succeeded

    def call(self, method: str, path: str, token: str | None = None, expect: int = 200, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.owner_token}", **kwargs.pop("headers", {})}
        response = requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response

    def build(self) -> None:
        """Make everything anew through the API (after the fuzz deleted or changed it)."""
        album_id, ak = crypto.new_id(), crypto.random_key()
        mk = self.owner.made.master_key
        meta = crypto.seal_album_meta(ak, album_id, {"v": 1, "title": "Fuzz"})
        album = {
            "album_id": album_id,
            "meta": crypto.b64e(meta),
            "owner_key": crypto.b64e(crypto.seal_owner_album_key(mk, ak, album_id)),
        }
        self.call("POST", "/api/owner/albums", json=album, expect=201)
        base = f"/api/owner/albums/{album_id}/files"
        complete = self.upload(base, album_id, ak, None, finish=True)
        pending = self.upload(base, album_id, ak, None, finish=False)
        link_id, self.secret = crypto.new_id(), os.urandom(32)
        keys = crypto.link_keys(self.secret)
        body = {
            "link_id": link_id,
            "wrapped_album_key": crypto.b64e(crypto.wrap_album_key(keys.wrap_key, ak, link_id)),
            "verifier": crypto.b64e(keys.verifier),
            "link_verifier": crypto.b64e(keys.link_verifier),
            "password": None,
            "uploads": True,
            "device_limit": 3,
            "owner_secret": crypto.b64e(crypto.seal_owner_link_secret(mk, self.secret, link_id)),
        }
        self.call("POST", f"/api/owner/albums/{album_id}/links", json=body, expect=201)
        self.device = crypto.DeviceKey.new()
        challenge = self.call("POST", f"/api/links/{link_id}/challenge", token="none").json()["challenge"]
        unlocked = self.call(
            "POST",
            f"/api/links/{link_id}/unlock",
            token="none",
            json=unlock_body(crypto.link_keys(self.secret), link_id, challenge, self.device),
        )
        self.access_token = unlocked.json()["access_token"]
        guest = self.upload(f"/api/links/{link_id}/files", album_id, ak, self.access_token, finish=False)
        plink_id, psecret = crypto.new_id(), os.urandom(32)
        pbody = {
            **body,
            "link_id": plink_id,
            "password": {**PW_PARAMS, "salt": crypto.b64e(os.urandom(crypto.SALT_BYTES))},
            "verifier": crypto.b64e(os.urandom(32)),
            "link_verifier": crypto.b64e(crypto.link_keys(psecret).link_verifier),
            "owner_secret": crypto.b64e(crypto.seal_owner_link_secret(mk, psecret, plink_id)),
        }
        self.call("POST", f"/api/owner/albums/{album_id}/links", json=pbody, expect=201)
        member = self.member.made
        sealed = crypto.seal_member_album_key(ak, album_id, member.identity.box_public_key)
        share = {"account_id": member.account_id, "role": "collaborator", "sealed_key": crypto.b64e(sealed), "key_epoch": 0}
        self.call("POST", f"/api/owner/albums/{album_id}/members", json=share, expect=201)
        invite_id, invite_secret = crypto.new_id(), os.urandom(32)
        invite_keys = crypto.invitation_keys(invite_secret)
        owner_pk = self.owner.made.identity.box_public_key
        invitation = {
            "invite_id": invite_id,
            "email": f"invited-{invite_id.lower()}@example.org",
            "role": "viewer",
            "sealed_key": crypto.b64e(crypto.seal_invitation_album_key(invite_keys.invite_key, ak, invite_id, album_id)),
            "claim_key": crypto.b64e(invite_keys.claim_key),
            "owner_secret": crypto.b64e(crypto.seal_owner_invite_secret(invite_secret, invite_id, owner_pk)),
            "key_epoch": 0,
        }
        self.call("POST", f"/api/owner/albums/{album_id}/invitations", json=invitation, expect=201)
        self.ids = {
            "album_id": [album_id],
            "file_id": [complete, pending, guest],
            "link_id": [link_id, plink_id],
            "account_id": [member.account_id],
            "invite_id": [invite_id],
            "name": ["contacts", "favorites"],
        }

    def upload(self, base: str, album_id: str, ak: bytes, token: str | None, *, finish: bool) -> str:
        """Reserve a file; send its blobs and complete it, or only its thumbnail's first part."""
        file_id, fk = crypto.new_id(), crypto.random_key()
        blobs = {
            kind: crypto.encrypt_blob_bytes(fk, file_id, kind, os.urandom(3000)) for kind in ("thumb", "preview", "original")
        }
        body = {
            "file_id": file_id,
            "wrapped_key": crypto.b64e(crypto.wrap_file_key(ak, fk, album_id, file_id)),
            "meta": crypto.b64e(crypto.seal_file_meta(fk, album_id, file_id, {"v": 1, "name": "a.jpg", "size": 3000})),
            "blobs": {kind: len(blob) for kind, blob in blobs.items()},
        }
        self.call("POST", base, token, json=body, expect=201)
        if not finish:
            self.call("PUT", f"{base}/{file_id}/blobs/thumb", token, data=blobs["thumb"][:100])
            return file_id
        for kind, blob in blobs.items():
            self.call("PUT", f"{base}/{file_id}/blobs/{kind}", token, data=blob)
        self.call("POST", f"{base}/{file_id}/complete", token)
        return file_id

    def alive(self) -> bool:
        """True while the album, its files and the open link still answer as they did."""
        link_id, album_id = self.ids["link_id"][0], self.ids["album_id"][0]
        headers = {"Authorization": f"Bearer {self.access_token}"}
        files = requests.get(f"{self.url}/api/links/{link_id}/files", headers=headers, timeout=30)
        owner = requests.get(
            f"{self.url}/api/owner/albums/{album_id}/files", headers={"Authorization": f"Bearer {self.owner_token}"}, timeout=30
        )
        pending = requests.get(
            f"{self.url}/api/owner/albums/{album_id}/files/{self.ids['file_id'][1]}/upload",
            headers={"Authorization": f"Bearer {self.owner_token}"},
            timeout=30,
        )
        plink = requests.get(f"{self.url}/api/links/{self.ids['link_id'][1]}", timeout=30)
        people = requests.get(
            f"{self.url}/api/owner/albums/{album_id}/members", headers={"Authorization": f"Bearer {self.owner_token}"}, timeout=30
        )
        shared = people.ok and [m["account_id"] for m in people.json()["members"]] == self.ids["account_id"]
        invited = people.ok and [i["invite_id"] for i in people.json()["invitations"]] == self.ids["invite_id"]
        return (
            shared
            and invited
            and files.status_code == 200
            and len(files.json()["files"]) == 1
            and owner.status_code == 200
            and pending.ok
            and plink.ok
        )


@pytest.fixture(scope="module", params=DATABASES)
def server(request, tmp_path_factory):
    """gunicorn from the Procfile on its own data folder, its log, and a world to aim at."""
    base = tmp_path_factory.mktemp("fuzz")
    data = base / "data"
    # The world is built again for each operation by the same owner: the daily invitation and hourly lookup
    # allowances would run out (they are tested in tests/test_sharing_limits.py).
    env = {
        "FRAGMENT_UPLOAD_PART_BYTES": str(64 * 1024),
        "FRAGMENT_SIGNUP": "open",
        "FRAGMENT_SHARE_INVITATIONS_PER_DAY": "1000000",
        "FRAGMENT_PEOPLE_LOOKUPS_PER_HOUR": "1000000",
    }
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        servers.fresh_pg_schema(url)
        env["FRAGMENT_DATABASE_URL"] = url
    else:
        url = f"sqlite:///{data / 'fragment.db'}"
    with servers.gunicorn(data, env=env) as server_url:
        engine = sqlalchemy.create_engine(url)
        log = next(base.glob("gunicorn-*.log"))
        owner = Person.sign_up(server_url, "owner@example.org")
        world = World(server_url, owner.owner_token(server_url), owner, Person.sign_up(server_url, "member@example.org"))
        world.build()
        yield {"url": server_url, "data": data, "log": log, "world": world, "engine": engine}
        engine.dispose()


def snapshot(server: dict) -> tuple:
    """Every row of the tables the API writes, and every file of the blob store with its size."""
    with server["engine"].connect() as db:
        rows = tuple(
            tuple(db.execute(sqlalchemy.text(f"SELECT * FROM {table} ORDER BY 1")).fetchall())
            for table in (
                *("albums", "files", "links", "accounts", "account_sessions", "invitations"),
                *("album_members", "share_invitations", "album_key_chain", "sealed_values", "blob_refs", "album_drop_keys"),
            )
        )
    blob_dir = server["data"] / "blobs"
    blobs = tuple(sorted((str(p.relative_to(blob_dir)), p.stat().st_size) for p in blob_dir.rglob("*") if p.is_file()))
    return rows, blobs


def error_code(response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


# --- the fuzz ---------------------------------------------------------------------------


def coverage_cases(operation) -> list:
    """Schemathesis' coverage phase: boundary values and type confusions for every field (a fixed list)."""
    generator = CoverageGenerator(
        operation=operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=SCHEMA.config.generation_for(operation=operation, phase="coverage"),
        auth_storage=None,
        override=Override(),
        feedback=FeedbackSources(),
    )
    return list(generator)


class Fuzzer:
    """Sends cases of one operation at the world and writes down every bad answer."""

    def __init__(self, server: dict, name: str):
        self.server, self.name, self.operation = server, name, OPERATIONS[name]
        self.world: World = server["world"]
        self.problems: list[str] = []
        self.answers: collections.Counter = collections.Counter()  # (status, error code): how deep the cases reached

    def aim(self, case, rng: random.Random) -> dict:
        """Point most cases at the real world (ids, tokens, a fresh challenge); return extra headers."""
        world = self.world
        guest_route = self.operation.path.startswith("/api/links/")
        for param in list(case.path_parameters or {}):
            if param in world.ids and rng.random() < 0.75:
                choices = world.ids[param]
                if param == "link_id":  # mostly the open link, whose access token the world holds
                    choices = choices[:1] * 3 + choices[1:]
                if param == "file_id" and guest_route:  # mostly the guest's own pending upload
                    choices = choices[2:] * 2 + choices
                case.path_parameters[param] = rng.choice(choices)
        headers = {}
        if self.operation.security and rng.random() < 0.75:
            owner_route = self.operation.path.startswith("/api/owner/")
            headers["Authorization"] = f"Bearer {world.owner_token if owner_route else world.access_token}"
        if self.name.endswith("/unlock") and isinstance(case.body, dict) and rng.random() < 0.5:
            link_id = case.path_parameters["link_id"]
            challenge = requests.post(f"{world.url}/api/links/{link_id}/challenge", timeout=30)
            if challenge.ok:
                real = unlock_body(crypto.link_keys(world.secret), link_id, challenge.json()["challenge"], world.device)
                for key in rng.sample(sorted(real), rng.randint(0, len(real))):
                    case.body[key] = real[key]
                case.body["challenge"] = real["challenge"]
        if self.name.startswith("PUT") and rng.random() < 0.5:
            case.headers = {**(case.headers or {}), "Upload-Offset": "0"}
        return headers

    def send(self, case, rng: random.Random) -> None:
        world, log = self.world, self.server["log"]
        if world.changed and not world.alive():
            world.build()
        world.changed = False
        headers = self.aim(case, rng)
        before, log_size = snapshot(self.server), log.stat().st_size
        try:
            response = case.call(base_url=world.url, headers=headers, timeout=30)
        except requests.RequestException as exc:
            self.problems.append(f"no answer ({exc}) to:\n{case.as_curl_command(headers)}")
            return
        world.changed = response.status_code < 300 and self.operation.method.upper() != "GET"
        self.answers[(response.status_code, error_code(response))] += 1
        logged = log.read_bytes()[log_size:].decode("utf-8", "replace")
        if response.status_code >= 500 or "Traceback" in logged:
            self.problems.append(
                f"{response.status_code} {response.text[:300]}\n{logged[-1500:]}\nfor:\n{case.as_curl_command(headers)}"
            )
            return
        try:
            # The answer is one the document describes: its status, media type and schema.
            case.validate_response(response, checks=CONFORMANCE)
        except Exception as exc:  # schemathesis raises a failure (group) naming what differs
            self.problems.append(
                f"{response.status_code} {response.text[:300]} is not as docs/openapi.yaml says ({exc}), for:\n"
                f"{case.as_curl_command(headers)}"
            )
        if response.status_code >= 400 and error_code(response) not in WRITES_ON_REFUSAL and snapshot(self.server) != before:
            self.problems.append(
                f"{response.status_code} {error_code(response)} changed rows or blobs, for:\n{case.as_curl_command(headers)}"
            )

    def report(self) -> str:
        answers = ", ".join(f"{status} {code or ''}: {n}" for (status, code), n in self.answers.most_common())
        return f"{len(self.problems)} bad answer(s) to {self.name} (of {answers}):\n\n" + "\n\n".join(self.problems[:5])


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_fuzz_every_operation(server, name):
    fuzzer = Fuzzer(server, name)
    seed = random.randrange(2**32) if RANDOM else zlib.crc32(name.encode())
    rng = random.Random(seed)
    for case in coverage_cases(fuzzer.operation):
        fuzzer.send(case, rng)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=not RANDOM,
            phases=(Phase.explicit, Phase.generate),
            suppress_health_check=list(HealthCheck),
        )
        @given(case=fuzzer.operation.as_strategy(mode))
        def run(case):
            fuzzer.send(case, rng)

        try:
            run()
        except Unsatisfiable:
            # An operation with no parameter and no body (GET /api/account/status) has nothing to make
            # invalid; its positive cases ran above, and they must not have been unsatisfiable too.
            assert mode is GenerationMode.NEGATIVE, f"no positive case could be made for {name}"
    assert not fuzzer.problems, f"(seed {seed}) " + fuzzer.report()


def test_the_fuzz_left_no_traceback_in_the_log(server):
    """Runs last in this module: the whole log of the fuzzed server has no traceback and no unhandled error."""
    text = server["log"].read_text("utf-8", "replace")
    assert "Traceback" not in text and "unhandled error" not in text
