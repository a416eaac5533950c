"""Browser files: npm modules under /vendor/, our own static files, Subresource Integrity, the import map.

The album page decrypts with whatever JavaScript the server sends, so every file
a page loads is pinned by a hash the page itself carries (docs/design.md, "Threat model":
"a strict CSP, Subresource Integrity, no third-party origins"):

* **Third-party modules** come from the npm registry, pinned by ``package-lock.json``
  and installed into ``node_modules`` by ``npm ci``; none of their code is in this
  repository. Only the files in ``VENDOR_FILES`` (the ES module builds the pages
  use) are served, under ``/vendor/<package>/<path>``; any other path is a 404.
* **Hashes** (SHA-384, the SRI default; W3C "Subresource Integrity" section 3.2) are
  computed once at startup over the exact bytes this process then serves, which it
  keeps in memory: a file changed on disk after startup (a half-finished deploy,
  an edit) can never be served with a hash it does not match. In debug mode
  (``flask run --debug``) the snapshot is rebuilt when a file changes, so that an
  edit does not need a restart.
* **The import map** in ``templates/base.html`` resolves the bare specifiers
  (``"libsodium-wrappers-sumo"``, ``"photoswipe"``, ``"photoswipe/lightbox"``,
  ``"client-zip"``, ``"exifr"``, ``"@scure/bip39"``…: ``IMPORTS``) and carries an ``integrity`` map with the hash of
  every module URL, so that a module imported by a module, which has no
  ``integrity`` attribute of its own, is checked too (HTML Standard, "resolving a
  module integrity metadata", whatwg/html#10269; Chrome 127). ``<script src>`` and
  ``<link rel=stylesheet>`` carry ``integrity`` attributes from the same table.
* **CSP.** An inline ``<script type="importmap">`` is an inline script as far as
  ``script-src`` goes (HTML Standard, "prepare the script element": the CSP inline
  check comes before the type is looked at; WICG/import-maps#105 "Import maps
  should be controlled by CSP"; WPT ``import-maps/csp/hash.html``). Rather than
  ``'unsafe-inline'``, the policy allows exactly this map by its ``'sha256-…'``
  hash (CSP Level 3, "hash-source"), computed from the rendered text here and
  added to ``script-src`` by ``headers.py``. The map is the same for every page,
  so a hash (not a per-response nonce) suffices and the pages stay cacheable.
* **Workers.** Import maps do not apply to workers (MDN, ``<script type="importmap">``:
  "it does not apply ... to modules loaded into workers or worklets"; the
  proposal is WICG/import-maps#2). ``static/js/core/crypto.js`` therefore imports
  libsodium by relative URL (``../../../vendor/…``, from its folder), and ``core/account.js``
  imports @scure/bip39 the same way. libsodium-wrappers' one bare import of
  ``"libsodium-sumo"`` and @scure/bip39's four of ``"@noble/hashes/…"`` are rewritten here,
  when the file is read, to the relative URL of the file the import map gives for each
  (``REWRITES``). The hash covers the
  rewritten bytes. Workers get no integrity check (there is no attribute for
  them); ``script-src``/``worker-src 'self'`` still limit them to this origin.
* **Caching.** Every file is served with a strong content-hash ``ETag`` and
  ``Cache-Control: no-cache``: browsers revalidate (a 304 costs one round trip)
  and never run a stale copy. A content hash in the URL (``?v=…``) would allow
  ``immutable`` caching, but module URLs must stay stable: the module map and the
  import map's integrity map are keyed by URL, and relative imports between
  modules (``../core/crypto.js``, libsodium's own) cannot carry our query, so one
  module would load twice under two URLs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask import Flask, Response, abort, current_app, request, url_for
from markupsafe import Markup

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"

# The only third-party files served: the ES module builds the pages need.
VENDOR_FILES = {
    "libsodium-wrappers-sumo": ["dist/modules-sumo-esm/libsodium-wrappers.mjs"],
    # The WebAssembly is inside this module, as base64: nothing else is fetched.
    "libsodium-sumo": ["dist/modules-sumo-esm/libsodium-sumo.mjs"],
    "photoswipe": ["dist/photoswipe.esm.js", "dist/photoswipe-lightbox.esm.js", "dist/photoswipe.css"],
    "client-zip": ["index.js"],
    # The lite build reads JPEG and HEIC (TIFF/EXIF, GPS, XMP): what phones upload.
    # The full build adds PNG, IPTC, ICC and Node.js readers (exifr README, "Bundles").
    "exifr": ["dist/lite.esm.mjs"],
    # HEIC decoding for guests' iPhone photos, which only Safari draws itself; loaded by
    # the upload Worker only when it meets one (the WebAssembly is inside, 2 MB).
    "libheif-js": ["libheif-wasm/libheif-bundle.mjs"],
    # BIP39 recovery words for accounts (static/js/core/account.js; docs/format.md, "Recovery
    # words"): the module and its English list only, none of the other languages.
    "@scure/bip39": ["index.js", "wordlists/english.js"],
    # What @scure/bip39's index.js imports, and what those import: SHA-256 for the checksum, and
    # PBKDF2 and the WebCrypto wrappers for mnemonicToSeed, which Fragment never calls but which a
    # static import loads all the same. No other file of the package is served.
    "@noble/hashes": ["utils.js", "sha2.js", "_md.js", "_u64.js", "hmac.js", "pbkdf2.js", "webcrypto.js"],
    # QR codes of links in the owner's web app, drawn on a canvas in the page (one module, no imports).
    "lean-qr": ["index.mjs"],
}

# Bare specifier -> file under /vendor/ (package.json "exports" of each package).
IMPORTS = {
    "libsodium-wrappers-sumo": "libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs",
    "libsodium-sumo": "libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs",
    "photoswipe": "photoswipe/dist/photoswipe.esm.js",
    "photoswipe/lightbox": "photoswipe/dist/photoswipe-lightbox.esm.js",
    "client-zip": "client-zip/index.js",
    "exifr": "exifr/dist/lite.esm.mjs",
    "lean-qr": "lean-qr/index.mjs",
    "@scure/bip39": "@scure/bip39/index.js",
    "@scure/bip39/wordlists/english.js": "@scure/bip39/wordlists/english.js",
    # The four names @scure/bip39 imports, for the same reason as "libsodium-sumo": REWRITES
    # turns each into the relative URL of the file given here.
    "@noble/hashes/pbkdf2.js": "@noble/hashes/pbkdf2.js",
    "@noble/hashes/sha2.js": "@noble/hashes/sha2.js",
    "@noble/hashes/utils.js": "@noble/hashes/utils.js",
    "@noble/hashes/webcrypto.js": "@noble/hashes/webcrypto.js",
}

# libsodium-wrappers' ESM build imports "libsodium-sumo" by its bare name, and
# @scure/bip39 imports four files of "@noble/hashes" by theirs; only an import map can
# resolve a bare name, and workers have none (see above). Each rewrite must match
# exactly once, so a new build that changes an import fails at startup instead of in
# the browser.
REWRITES = {
    "libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs": [
        (b'from"libsodium-sumo"', b'from"../../../libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs"'),
    ],
    "@scure/bip39/index.js": [
        (f"from '@noble/hashes/{name}.js';".encode(), f"from '../../@noble/hashes/{name}.js';".encode())
        for name in ("pbkdf2", "sha2", "utils", "webcrypto")
    ],
}

# What pages load, by suffix. A module needs a JavaScript MIME type, or (with
# nosniff) the browser refuses it (HTML Standard, "fetch a single module script").
MIMETYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css"}
# Our own files that pages load (static/js and static/css, subfolders included): each gets an integrity value.
STATIC_FOLDERS = ("js", "css")


class AssetError(RuntimeError):
    """node_modules is missing, stale, or not what package-lock.json pins."""


@dataclass(frozen=True)
class Asset:
    """One served file, as this process serves it."""

    path: str  # below the app root: "static/js/core/crypto.js", "vendor/photoswipe/dist/photoswipe.css"
    body: bytes
    mimetype: str
    integrity: str  # "sha384-<base64>"
    etag: str

    @classmethod
    def of(cls, path: str, body: bytes) -> Asset:
        """Hash the bytes once: SRI value and ETag."""
        digest = hashlib.sha384(body).digest()
        return cls(
            path=path,
            body=body,
            mimetype=MIMETYPES[Path(path).suffix],
            integrity="sha384-" + base64.b64encode(digest).decode("ascii"),
            etag=base64.urlsafe_b64encode(digest[:18]).decode("ascii"),
        )

    @property
    def is_module(self) -> bool:
        """True for JavaScript, which the import map's integrity map covers."""
        return self.mimetype == "text/javascript"


def _lock_versions(root: Path) -> dict[str, str]:
    lock = json.loads((root / "package-lock.json").read_text())
    return {name: lock["packages"][f"node_modules/{name}"]["version"] for name in VENDOR_FILES}


def _read_vendor(root: Path) -> dict[str, Asset]:
    modules = root / "node_modules"
    assets = {}
    for package, version in _lock_versions(root).items():
        try:
            installed = json.loads((modules / package / "package.json").read_text())["version"]
        except FileNotFoundError:
            raise AssetError(f"{package} is not installed in {modules}: run `npm ci`") from None
        if installed != version:
            raise AssetError(f"{package} {installed} is installed but package-lock.json pins {version}: run `npm ci`")
        for name in VENDOR_FILES[package]:
            rel = f"{package}/{name}"
            body = (modules / rel).read_bytes()
            for old, new in REWRITES.get(rel, []):
                if body.count(old) != 1:
                    raise AssetError(f"{rel}: expected one {old!r} to rewrite, found {body.count(old)}")
                body = body.replace(old, new)
            assets[f"vendor/{rel}"] = Asset.of(f"vendor/{rel}", body)
    return assets


def _static_files(static: Path) -> list[Path]:
    return sorted(p for folder in STATIC_FOLDERS for p in (static / folder).rglob("*") if p.is_file() and p.suffix in MIMETYPES)


def _read_static(static: Path) -> dict[str, Asset]:
    return {
        f"static/{p.relative_to(static).as_posix()}": Asset.of(f"static/{p.relative_to(static).as_posix()}", p.read_bytes())
        for p in _static_files(static)
    }


def _signature(root: Path, static: Path) -> tuple:
    files = [root / "package-lock.json", *_static_files(static)]
    files += [root / "node_modules" / p / n for p, names in VENDOR_FILES.items() for n in names]
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.exists())


class Assets:
    """The files pages may load, their hashes, and the import map; one per app."""

    def __init__(self, root: Path = ROOT, static: Path = STATIC):
        self.root, self.static = root, static
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        self._signature = _signature(self.root, self.static)
        # Replaced whole, so a request never sees half of an old and half of a new table.
        self.files: dict[str, Asset] = {**_read_vendor(self.root), **_read_static(self.static)}
        self.importmap = lru_cache(maxsize=8)(self._importmap)

    def refresh(self) -> None:
        """Re-read everything if a file changed (debug mode only: see the module docstring)."""
        with self._lock:
            if _signature(self.root, self.static) != self._signature:
                self._load()

    def get(self, path: str) -> Asset:
        """The asset at a path below the app root; KeyError names a template's typo."""
        try:
            return self.files[path]
        except KeyError:
            raise KeyError(f"{path!r} is not a served asset (static/js, static/css or VENDOR_FILES)") from None

    def _importmap(self, script_root: str) -> tuple[str, str]:
        """(JSON text, CSP hash source) of the import map for pages under script_root."""
        integrity = {f"{script_root}/{a.path}": a.integrity for a in self.files.values() if a.is_module}
        body = {
            "imports": {spec: f"{script_root}/vendor/{path}" for spec, path in IMPORTS.items()},
            "integrity": dict(sorted(integrity.items())),
        }
        # "<" escaped so that no value could ever close the <script> element.
        text = json.dumps(body, indent=1, ensure_ascii=True).replace("<", "\\u003c")
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        return text, f"'sha256-{digest}'"

    def csp_script_sources(self) -> list[str]:
        """The hash sources script-src needs for this request's pages (the import map)."""
        return [self.importmap(request.script_root)[1]]

    def response(self, path: str) -> Response:
        """Serve one asset from memory, with a strong ETag, revalidated on every use."""
        asset = self.files.get(path)
        if asset is None:
            abort(404)
        response = Response(asset.body, mimetype=asset.mimetype)
        response.set_etag(asset.etag)
        response.cache_control.no_cache = True
        response.make_conditional(request)  # answers 304 in place when the ETag matches
        return response


def _assets() -> Assets:
    return current_app.extensions["fragment.assets"]


def asset_url(path: str) -> str:
    """URL of an asset given as its path below the app root."""
    _assets().get(path)
    kind, _, rest = path.partition("/")
    return url_for("static", filename=rest) if kind == "static" else url_for("vendor", filename=rest)


def integrity(path: str) -> str:
    """The SRI value of an asset."""
    return _assets().get(path).integrity


def module_script(path: str) -> Markup:
    """<script type=module> for an asset, with its integrity."""
    return Markup('<script type="module" src="{}" integrity="{}"></script>').format(asset_url(path), integrity(path))


def modulepreload(path: str) -> Markup:
    """<link rel=modulepreload> for an asset, with its integrity (fetch early, checked the same)."""
    return Markup('<link rel="modulepreload" href="{}" integrity="{}">').format(asset_url(path), integrity(path))


def stylesheet(path: str) -> Markup:
    """<link rel=stylesheet> for an asset, with its integrity."""
    return Markup('<link rel="stylesheet" href="{}" integrity="{}">').format(asset_url(path), integrity(path))


def importmap() -> Markup:
    """The import map's JSON, exactly the text whose hash script-src allows."""
    text, _ = _assets().importmap(request.script_root)
    return Markup(text)  # JSON with "<" escaped: it cannot end the <script> element


def init_app(app: Flask) -> None:
    """Read and hash every asset, serve /vendor/, serve static js/css from the snapshot."""
    assets = Assets()
    app.extensions["fragment.assets"] = assets
    app.add_url_rule("/vendor/<path:filename>", "vendor", lambda filename: assets.response(f"vendor/{filename}"))

    # Flask's own static view would read the disk on each request; files that pages
    # load with an integrity value come from the snapshot instead, the rest as before.
    send_from_disk = app.view_functions["static"]

    def static(filename: str):
        if f"static/{filename}" in assets.files:
            return assets.response(f"static/{filename}")
        return send_from_disk(filename=filename)

    app.view_functions["static"] = static
    if app.debug:
        app.before_request(assets.refresh)
    app.jinja_env.globals.update(
        asset_url=asset_url,
        integrity=integrity,
        module_script=module_script,
        modulepreload=modulepreload,
        stylesheet=stylesheet,
        importmap=importmap,
    )
