"""viewer/server/assets.py: which files are served, how, and the hashes that pin them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from viewer.server import assets, create_app, headers

ROOT = Path(__file__).resolve().parent.parent
LIBSODIUM = "vendor/libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs"
WRAPPERS = "vendor/libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs"
BIP39 = "vendor/@scure/bip39/index.js"
# Static imports at the start of a line (the packages' JSDoc examples are indented, inside comments).
STATIC_IMPORT = re.compile(r"""^(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']|^import\s*["']([^"']+)["']""", re.MULTILINE)


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The app on SQLite, for page and file requests (no database work)."""
    app = create_app({"DATA_DIR": str(tmp_path_factory.mktemp("assets")), "SECRET_KEY": "x"})
    yield app.test_client()
    app.extensions["fragment.engine"].dispose()


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def importmap_of(html: str) -> str:
    found = re.search(r'<script type="importmap">(.*?)</script>', html, re.DOTALL)
    assert found, "no import map"
    return found.group(1)


def test_package_json_pins_exact_versions_that_the_lock_installs():
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert package["private"] is True
    for name, version in package["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} must be pinned exactly"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
        assert lock["packages"][f"node_modules/{name}"]["integrity"].startswith("sha512-")
    assert set(assets.VENDOR_FILES) <= set(package["dependencies"])


@pytest.mark.parametrize("path", sorted(f"/vendor/{p}/{n}" for p, names in assets.VENDOR_FILES.items() for n in names))
def test_each_allowed_vendor_file_is_served_with_its_hash(web, path):
    response = web.get(path)
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "text/css")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    revalidated = web.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert revalidated.status_code == 304 and not revalidated.data


@pytest.mark.parametrize(
    "path",
    [
        "/vendor/photoswipe/package.json",
        "/vendor/libsodium-sumo/dist/modules-sumo/libsodium-sumo.js",  # real, but not an allowed build
        "/vendor/exifr/dist/full.umd.js",
        "/vendor/photoswipe/src/js/photoswipe.js",
        "/vendor/../pyproject.toml",
        "/vendor/%2e%2e/package-lock.json",
        "/vendor/photoswipe/dist/../../../viewer/server/config.py",
        "/vendor/",
        "/vendor/.package-lock.json",
        # Of @scure/bip39 and @noble/hashes, only what the English recovery words import.
        "/vendor/@scure/bip39/package.json",
        "/vendor/@scure/bip39/index.d.ts",
        "/vendor/@scure/bip39/src/index.ts",
        "/vendor/@scure/bip39/wordlists/french.js",
        "/vendor/@scure/bip39/wordlists/japanese.js",
        "/vendor/@noble/hashes/package.json",
        "/vendor/@noble/hashes/index.js",
        "/vendor/@noble/hashes/argon2.js",
        "/vendor/@noble/hashes/blake2.js",
        "/vendor/@noble/hashes/sha3.js",
        "/vendor/@noble/hashes/src/sha2.ts",
        "/vendor/@noble/hashes/../../package-lock.json",
    ],
)
def test_nothing_else_under_vendor_is_served(web, path):
    assert web.get(path).status_code == 404


def test_static_scripts_and_styles_come_from_the_hashed_snapshot(web):
    page_policy = web.get("/").headers["Content-Security-Policy"]  # exact, by test_the_csp_allows_the_import_map...
    for path in ("/static/js/core/crypto.js", "/static/js/download/sw.js", "/static/css/site.css"):
        response = web.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache"
        assert response.data == (ROOT / path.lstrip("/")).read_bytes()
        assert web.get(path, headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
        # A worker's policy is the one on its script's response: it must allow libsodium's WebAssembly.
        assert response.headers["Content-Security-Policy"] == page_policy
        assert "script-src 'self' 'wasm-unsafe-eval'" in page_policy
    assert web.get("/static/js/nothing.js").status_code == 404


def test_every_module_in_the_wing_folders_is_pinned_by_the_import_map(web):
    """static/js/core, album, upload, download, owner: each file is served and its hash is in the map."""
    integrity = json.loads(web.application.extensions["fragment.assets"].importmap("")[0])["integrity"]
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "static" / "js").rglob("*.js"))
    assert {m.split("/")[2] for m in modules} == {"core", "album", "upload", "download", "owner"}
    for module in modules:
        assert f"/{module}" in integrity, module
        assert web.get(f"/{module}").status_code == 200, module


def test_the_service_worker_may_control_the_album_pages_from_its_folder(web):
    """It is served from static/js/download/, and its scope is /a/ (viewer/server/pages.py)."""
    assert web.get("/static/js/download/sw.js").headers["Service-Worker-Allowed"] == "/a/"
    assert "Service-Worker-Allowed" not in web.get("/static/js/core/crypto.js").headers


def test_libsodium_wrappers_resolve_libsodium_without_an_import_map(web):
    body = web.get("/" + WRAPPERS).data
    assert b'from"libsodium-sumo"' not in body
    assert b'from"../../../libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs"' in body
    # The relative URL lands on the file the import map gives for "libsodium-sumo".
    assert (Path("/" + WRAPPERS).parent / "../../../libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs").resolve() == Path(
        "/" + LIBSODIUM
    )


def test_bip39_and_noble_hashes_resolve_without_an_import_map(web):
    """@scure/bip39 imports four @noble/hashes files by their bare names: served, each is the relative URL of the
    file the import map gives for that name, so a Worker (no import map) loads the same modules as a page."""
    body = web.get("/" + BIP39).data.decode()
    assert "from '@noble" not in body
    for name in ("pbkdf2", "sha2", "utils", "webcrypto"):
        relative = f"../../@noble/hashes/{name}.js"
        assert f"from '{relative}';" in body
        assert (Path("/" + BIP39).parent / relative).resolve() == Path("/vendor/" + assets.IMPORTS[f"@noble/hashes/{name}.js"])
    # What the server rewrote is exactly the file on disk otherwise: only the four import lines differ.
    on_disk = (ROOT / "node_modules" / BIP39.removeprefix("vendor/")).read_text().splitlines()
    changed = [line for line, served in zip(on_disk, body.splitlines(), strict=True) if line != served]
    assert len(changed) == 4 and all(line.startswith("import ") and "from '@noble/hashes/" in line for line in changed)


def test_the_recovery_words_modules_are_served_pinned_and_nothing_else_of_their_packages(web):
    """Following the static imports of account.js's two entry points through the served files reaches every
    served file of @scure/bip39 and @noble/hashes and only those; each is in the import map's integrity map."""
    integrity = json.loads(web.application.extensions["fragment.assets"].importmap("")[0])["integrity"]
    entries = ["/" + BIP39, "/vendor/@scure/bip39/wordlists/english.js"]
    account = (ROOT / "static" / "js" / "core" / "account.js").read_text()
    for entry in entries:  # account.js imports them by these URLs (../../../ from static/js/core/)
        assert f'from "../../..{entry}";' in account, entry
    reached, todo = set(), list(entries)
    while todo:
        url = todo.pop()
        if url in reached:
            continue
        reached.add(url)
        response = web.get(url)
        assert response.status_code == 200 and response.mimetype == "text/javascript", url
        assert integrity[url] == sri(response.data), url
        for found in STATIC_IMPORT.finditer(response.get_data(as_text=True)):
            target = found.group(1) or found.group(2)
            assert target.startswith("."), f"{url}: bare import {target!r} (a Worker could not resolve it)"
            todo.append(str((Path(url).parent / target).resolve()))
    served = {f"/vendor/{p}/{n}" for p in ("@scure/bip39", "@noble/hashes") for n in assets.VENDOR_FILES[p]}
    assert reached == served


def test_pages_carry_integrity_on_every_script_and_stylesheet(web):
    for path in ("/", "/a/AAAAAAAAAAAAAAAAAAAAAA", "/a/not-an-id"):
        response = web.get(path)
        html = response.get_data(as_text=True)
        tags = re.findall(r"<(?:script|link)\b[^>]*>", html)
        for tag in tags:
            if re.search(r"\bsrc=|rel=\"(?:stylesheet|modulepreload)\"", tag):
                found = re.search(r'(?:src|href)="([^"]+)"', tag)
                assert found, tag
                url = found.group(1)
                integrity = re.search(r'integrity="([^"]+)"', tag)
                assert integrity, f"{path}: {tag}"
                assert integrity.group(1) == sri(web.get(url).data), f"{path}: {url}"


def test_the_csp_allows_the_import_map_by_its_exact_hash(web):
    response = web.get("/")
    text = importmap_of(response.get_data(as_text=True))
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    csp = response.headers["Content-Security-Policy"]
    assert csp == headers.content_security_policy([f"'sha256-{digest}'"])
    assert "'unsafe-inline'" not in csp
    mapping = json.loads(text)
    assert mapping["imports"] == {spec: f"/vendor/{path}" for spec, path in assets.IMPORTS.items()}
    for url, value in mapping["integrity"].items():
        assert value == sri(web.get(url).data), url
    assert "<" not in text


def test_the_import_map_follows_a_path_prefix(web):
    response = web.get("/", environ_overrides={"SCRIPT_NAME": "/photos"})
    text = importmap_of(response.get_data(as_text=True))
    mapping = json.loads(text)
    assert set(mapping["imports"].values()) <= set(mapping["integrity"])
    assert all(url.startswith("/photos/") for url in [*mapping["imports"].values(), *mapping["integrity"]])
    assert 'href="/photos/static/css/site.css"' in response.get_data(as_text=True)
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["Content-Security-Policy"]


def _fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(ROOT / "package-lock.json", root)
    for package, names in assets.VENDOR_FILES.items():
        for name in [*names, "package.json"]:
            target = root / "node_modules" / package / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / "node_modules" / package / name, target)
    (root / "static" / "js").mkdir(parents=True)
    (root / "static" / "css").mkdir()
    return root


def test_missing_or_stale_node_modules_stop_the_start(tmp_path):
    root = _fake_root(tmp_path)
    assets.Assets(root, root / "static")  # a faithful copy loads

    package = root / "node_modules" / "client-zip" / "package.json"
    package.write_text(package.read_text().replace('"version": "2.5.1"', '"version": "2.5.0"'))
    with pytest.raises(assets.AssetError, match=r"client-zip 2.5.0 is installed but package-lock.json pins 2.5.1"):
        assets.Assets(root, root / "static")

    shutil.rmtree(root / "node_modules" / "client-zip")
    with pytest.raises(assets.AssetError, match="npm ci"):
        assets.Assets(root, root / "static")


def test_a_libsodium_build_without_the_expected_import_stops_the_start(tmp_path):
    root = _fake_root(tmp_path)
    wrappers = root / "node_modules" / WRAPPERS.removeprefix("vendor/")
    wrappers.write_bytes(wrappers.read_bytes().replace(b'from"libsodium-sumo"', b'from "libsodium-sumo"'))
    with pytest.raises(assets.AssetError, match="expected one"):
        assets.Assets(root, root / "static")


def test_debug_mode_picks_up_an_edited_file(tmp_path):
    root = _fake_root(tmp_path)
    script = root / "static" / "js" / "a.js"
    script.write_text("export const a = 1;\n")
    table = assets.Assets(root, root / "static")
    before = table.get("static/js/a.js").integrity
    table.refresh()
    assert table.get("static/js/a.js").integrity == before
    script.write_text("export const a = 22;\n")
    table.refresh()
    after = table.get("static/js/a.js").integrity
    assert after == sri(b"export const a = 22;\n") != before
    assert json.loads(table.importmap("")[0])["integrity"]["/static/js/a.js"] == after
