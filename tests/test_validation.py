"""Bad input gets a clear 4xx and writes nothing, on SQLite and PostgreSQL; docs/openapi.yaml states the code's limits."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from tests.support.api_helpers import bearer, unlock
from viewer import crypto
from viewer.server import api_sharing, config, db, inputs

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "docs" / "openapi.yaml"


def counts(app) -> dict[str, int]:
    """Rows of every table the API writes, and files in the blob store."""
    with app.app_context():
        session = db.session()
        rows = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (db.Album, db.File, db.Link)
        }
    blob_dir = Path(app.config["BLOB_DIR"])
    rows["blobs"] = sum(1 for p in blob_dir.rglob("*") if p.is_file()) if blob_dir.exists() else 0
    return rows


@pytest.fixture
def album(owner):
    album_id, ak = owner.album()
    owner.add_file(album_id, ak, os.urandom(1000))
    return album_id, ak


@pytest.fixture
def link(owner, album):
    album_id, ak = album
    return owner.link(album_id, ak, uploads=True)


# --- deeply nested JSON -------------------------------------------------------------


def nested(depth: int) -> bytes:
    return b'{"challenge": ' + b"[" * depth + b"]" * depth + b"}"


def test_deeply_nested_json_to_unlock_is_refused_without_authentication(app, client, link):
    before = counts(app)
    # 100,000 levels made Python's JSON parser raise RecursionError: a 500 for anyone who knows a link id.
    response = client.post(f"/api/links/{link[0]}/unlock", data=nested(100_000), content_type="application/json")
    assert response.status_code == 400, response.data[:200]
    assert response.json["error"] == "bad_json"
    assert "nests deeper" in response.json["message"]
    assert counts(app) == before


@pytest.mark.parametrize("depth", [inputs.MAX_JSON_DEPTH, 5000])
def test_nesting_past_the_limit_is_refused_on_owner_routes_too(app, owner, album, depth):
    before = counts(app)
    response = owner.call("PATCH", f"/api/owner/albums/{album[0]}", data=nested(depth), content_type="application/json")
    assert response.status_code == 400 and response.json["error"] == "bad_json"
    assert counts(app) == before


@pytest.mark.parametrize("constant", [b"Infinity", b"-Infinity", b"NaN"])
def test_infinity_and_nan_are_not_json(app, owner, album, constant):
    album_id, _ak = album
    salt = crypto.b64e(os.urandom(crypto.SALT_BYTES))
    body = b'{"link_id": "%s", "wrapped_album_key": "%s", "verifier": "%s", "link_verifier": "%s", ' % (
        crypto.new_id().encode(),
        crypto.b64e(os.urandom(72)).encode(),
        crypto.b64e(os.urandom(32)).encode(),
        crypto.b64e(os.urandom(32)).encode(),
    ) + b'"password": {"salt": "%s", "opslimit": %s, "memlimit": 67108864}}' % (salt.encode(), constant)
    before = counts(app)
    # int(float("inf")) raised OverflowError: a 500.
    response = owner.call("POST", f"/api/owner/albums/{album_id}/links", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json["error"] == "bad_json"
    assert counts(app) == before


# --- listing cursors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "after=9223372036854775808",
        f"after={inputs.MAX_AFTER + 1}",
        "after=-1",
        "after=+1",
        "after=1_0",
        "after=%D9%A3",
        "after=1e3",
        "limit=0",
        f"limit={inputs.MAX_PAGE_LIMIT + 1}",
        "limit=99999999999999999999",
    ],
)
def test_listing_cursors_outside_the_column_get_400(owner, client, album, link, query):
    album_id, _ak = album
    response = owner.call("GET", f"/api/owner/albums/{album_id}/files?{query}")
    assert response.status_code == 400, response.data[:200]
    assert response.json["error"] == "bad_query"
    token = unlock(client, link[0], link[1]).json["access_token"]
    response = client.get(f"/api/links/{link[0]}/files?{query}", headers=bearer(token))
    assert response.status_code == 400 and response.json["error"] == "bad_query"


def test_the_largest_cursor_lists_nothing(owner, album):
    response = owner.call("GET", f"/api/owner/albums/{album[0]}/files?after={inputs.MAX_AFTER}&limit={inputs.MAX_PAGE_LIMIT}")
    assert response.status_code == 200 and response.json == {"files": [], "next": None}


# --- integers that reach the database -------------------------------------------------


def new_link_body(**settings) -> dict:
    """A well-formed new link (random keys: it is never opened) with `settings`."""
    return {
        "link_id": crypto.new_id(),
        "wrapped_album_key": crypto.b64e(os.urandom(72)),
        "verifier": crypto.b64e(os.urandom(32)),
        "link_verifier": crypto.b64e(os.urandom(32)),
        "password": None,
        **settings,
    }


BAD_SETTINGS = [
    ("quota_files", 2**31),  # past PostgreSQL's INTEGER
    ("quota_files", 10**20),  # past SQLite's 64-bit INTEGER
    ("quota_files", inputs.MAX_QUOTA_FILES + 1),
    ("quota_bytes", 2**63),
    ("quota_bytes", inputs.MAX_BYTES + 1),
    ("max_file_size", 10**30),
    ("max_file_size", -1),
    ("device_limit", 2**31),
    ("device_limit", 0),
    ("quota_files", 1.5),
    ("quota_files", "10"),
    ("quota_files", True),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_link_numbers_past_their_bounds_get_400_and_write_nothing(app, owner, album, name, value):
    album_id, ak = album
    link_id, _secret = owner.link(album_id, ak)
    before = counts(app)
    with app.app_context():
        link = db.session().get(db.Link, link_id)
        assert link is not None
        version = link.version
    body = new_link_body(**{name: value})
    response = owner.call("POST", f"/api/owner/albums/{album_id}/links", json=body)
    assert response.status_code == 400, response.data[:200]
    assert response.json["error"] == "bad_field" and repr(name) in response.json["message"]
    response = owner.call("PATCH", f"/api/owner/links/{link_id}", json={name: value})
    assert response.status_code == 400 and response.json["error"] == "bad_field"
    assert counts(app) == before
    with app.app_context():
        link = db.session().get(db.Link, link_id)
        assert link is not None and link.version == version
    assert owner.call("GET", f"/api/owner/albums/{album_id}/links").status_code == 200


def test_the_largest_allowed_numbers_are_stored_and_listed(owner, album):
    album_id, ak = album
    link_id, _secret = owner.link(
        album_id,
        ak,
        uploads=True,
        quota_files=inputs.MAX_QUOTA_FILES,
        quota_bytes=inputs.MAX_BYTES,
        max_file_size=inputs.MAX_BYTES,
        device_limit=inputs.MAX_DEVICE_LIMIT,
    )
    listed = {link["link_id"]: link for link in owner.call("GET", f"/api/owner/albums/{album_id}/links").json["links"]}
    assert listed[link_id]["quota_files"] == inputs.MAX_QUOTA_FILES and listed[link_id]["quota_bytes"] == inputs.MAX_BYTES


def test_huge_blob_sizes_on_reserve_are_refused(app, owner, album):
    album_id, ak = album
    body, _blobs = owner.file_payload(album_id, ak, b"x" * 100)
    before = counts(app)
    body["blobs"]["original"] = 10**40
    response = owner.call("POST", f"/api/owner/albums/{album_id}/files", json=body)
    assert response.status_code in (400, 413), response.data[:200]
    assert counts(app) == before


# --- times --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-14:00",
        "9000-01-01T00:00:01Z",
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00:00+14:00",
        "2027-13-01T00:00:00Z",
        1893456000,
        "2" * 100,
    ],
)
def test_expiry_outside_1970_to_9000_gets_400_and_the_links_still_list(app, owner, album, value):
    album_id, ak = album
    link_id, _secret = owner.link(album_id, ak)
    before = counts(app)
    body = new_link_body(expires_at=value)
    response = owner.call("POST", f"/api/owner/albums/{album_id}/links", json=body)
    assert response.status_code == 400 and response.json["error"] == "bad_field", response.data[:200]
    assert "1970" in response.json["message"] and "9000" in response.json["message"]
    response = owner.call("PATCH", f"/api/owner/links/{link_id}", json={"expires_at": value})
    assert response.status_code == 400 and response.json["error"] == "bad_field"
    assert counts(app) == before
    assert owner.call("GET", f"/api/owner/albums/{album_id}/links").status_code == 200
    assert owner.call("DELETE", f"/api/owner/links/{link_id}").status_code == 200


def test_expiry_at_the_bounds_is_kept_exactly(owner, album):
    album_id, ak = album
    link_id, _secret = owner.link(album_id, ak, expires_at="8999-12-31T23:59:59+00:00")
    listed = owner.call("GET", f"/api/owner/albums/{album_id}/links").json["links"]
    assert [link["expires_at"] for link in listed if link["link_id"] == link_id] == ["8999-12-31T23:59:59Z"]


@pytest.mark.parametrize("stored", [253402387199, 2**62, -(2**62)])
def test_a_stored_time_past_year_9999_still_lists_revokes_and_opens(app, owner, client, album, stored):
    album_id, ak = album
    link_id, _secret = owner.link(album_id, ak)
    with app.app_context():
        # What today's main stored for "9999-12-31T23:59:59-14:00": the list and revoke then answered 500 for good.
        db.session().execute(update(db.Link).where(db.Link.id == link_id).values(expires_at=stored))
        db.session().commit()
    listed = owner.call("GET", f"/api/owner/albums/{album_id}/links")
    assert listed.status_code == 200
    shown = next(link["expires_at"] for link in listed.json["links"] if link["link_id"] == link_id)
    assert shown == ("9999-12-31T23:59:59Z" if stored > 0 else "0001-01-01T00:00:00Z")
    info = client.get(f"/api/links/{link_id}")
    assert info.status_code == (200 if stored > 0 else 410)
    assert owner.call("DELETE", f"/api/owner/links/{link_id}").status_code == 200


# --- the OpenAPI document states the code's limits ------------------------------------


@pytest.fixture(scope="module")
def openapi() -> dict:
    return yaml.safe_load(OPENAPI.read_text())


def schema(doc: dict, name: str) -> dict:
    return doc["components"]["schemas"][name]


def test_the_openapi_document_is_valid_openapi_3_1(openapi):
    from openapi_spec_validator import validate

    assert openapi["openapi"].startswith("3.1")
    validate(openapi)


def test_the_openapi_document_states_the_codes_limits(openapi):
    defaults = {s.name: s.default for s in config.SETTINGS}
    assert schema(openapi, "Id")["pattern"] == inputs.ID_PATTERN
    assert schema(openapi, "Key32")["pattern"] == inputs.b64_pattern(32)
    assert schema(openapi, "Signature")["pattern"] == inputs.b64_pattern(crypto.SIGNATURE_BYTES)
    assert schema(openapi, "Salt")["pattern"] == inputs.b64_pattern(crypto.SALT_BYTES)
    assert schema(openapi, "WrappedKey")["pattern"] == inputs.b64_pattern(
        crypto.NONCE_BYTES + crypto.KEY_BYTES + crypto.TAG_BYTES
    )
    assert schema(openapi, "SealedMeta")["maxLength"] == inputs.b64_length(defaults["MAX_META_BYTES"])
    settings_schema = schema(openapi, "LinkSettings")["properties"]
    assert settings_schema["device_limit"]["maximum"] == inputs.MAX_DEVICE_LIMIT
    assert settings_schema["quota_files"]["maximum"] == inputs.MAX_QUOTA_FILES
    assert settings_schema["quota_bytes"]["maximum"] == inputs.MAX_BYTES
    assert settings_schema["max_file_size"]["maximum"] == inputs.MAX_BYTES
    assert schema(openapi, "Time")["maxLength"] == inputs.MAX_TIME_CHARS
    assert schema(openapi, "BlobSize")["maximum"] == inputs.JSON_INT_MAX
    assert schema(openapi, "KeyEpoch")["maximum"] == inputs.MAX_KEY_EPOCH
    assert schema(openapi, "MemberKey")["pattern"] == inputs.b64_pattern(crypto.MEMBER_KEY_BYTES)
    assert schema(openapi, "SealedValue")["maxLength"] == inputs.b64_length(api_sharing.MAX_SEALED_BYTES)
    params = openapi["components"]["parameters"]
    assert params["after"]["schema"]["maximum"] == inputs.MAX_AFTER
    assert params["limit"]["schema"]["maximum"] == inputs.MAX_PAGE_LIMIT
    assert params["limit"]["schema"]["default"] == inputs.DEFAULT_PAGE_LIMIT
    password = schema(openapi, "PasswordParams")["properties"]
    assert (password["opslimit"]["minimum"], password["opslimit"]["maximum"]) == (crypto.PW_OPSLIMIT_MIN, crypto.PW_OPSLIMIT_MAX)
    assert (password["memlimit"]["minimum"], password["memlimit"]["maximum"]) == (crypto.PW_MEMLIMIT_MIN, crypto.PW_MEMLIMIT_MAX)
    text = OPENAPI.read_text()
    for name in ("MAX_JSON_BYTES", "UPLOAD_PART_BYTES"):
        assert f"{name}` (default {defaults[name]})" in text
    assert f"nested at most {inputs.MAX_JSON_DEPTH} levels" in text
    assert f"from {inputs.TIME_MIN_ISO} to {inputs.TIME_MAX_ISO}" in text


def test_every_route_of_the_app_is_in_the_openapi_document(openapi, app):
    documented = {(path, method.upper()) for path, item in openapi["paths"].items() for method in item if method != "parameters"}
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=", min_size=20, max_size=24))
def test_the_id_pattern_is_exactly_what_the_server_accepts(text):
    assert bool(re.match(inputs.ID_PATTERN, text)) == crypto.is_id(text)
