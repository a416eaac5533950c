"""Security headers on every response.

The page that decrypts an album must run only our own scripts, or a single
injected script could read the key from the fragment. So the Content Security
Policy allows scripts from this origin alone, plus WebAssembly compilation for
libsodium.js, and nothing inline (OWASP "Content Security Policy Cheat Sheet";
MDN "CSP: script-src", 'wasm-unsafe-eval'). Decrypted photos are shown through
blob: URLs, hence blob: for images and media.

The one inline script is the import map, which is allowed by its exact SHA-256
hash, never by 'unsafe-inline' (the reasons and sources are in ``assets.py``).
Workers get their own policy from the response that carries their script
(CSP Level 3, "Initialize a global object's CSP list"), so static files carry
it too: it is what lets a worker compile libsodium's WebAssembly.

API answers (JSON and ciphertext blobs) are data, never documents: they get a policy
that runs nothing and sandboxes the response if a browser is ever made to render one
(warehouse does the same for its JSON API; W3C CSP Level 3, "sandbox"). HSTS is sent
when the operator's public URL is https (RFC 6797; OWASP "HTTP Strict Transport
Security Cheat Sheet" recommends a max-age of one year). It leaves out
includeSubDomains: the album's host name is the operator's, its parent domain may not be.
"""

from __future__ import annotations

from flask import Flask, Response, request

SCRIPT_SRC = "script-src 'self' 'wasm-unsafe-eval'"
CSP = "; ".join(
    [
        "default-src 'none'",
        SCRIPT_SRC,
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        # Workers and the Service Worker are our own scripts, never blob: or data: URLs.
        "worker-src 'self'",
        # "Download all" streams its zip through the Service Worker as the download of a
        # hidden frame (static/js/download/download-all.js), so that the worker can refuse every
        # top-level navigation to its addresses. Every page and API answer here still
        # says frame-ancestors 'none', and the worker's own answers are sandboxed.
        "frame-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# For every /api/ answer: nothing loads, nothing runs, and a rendered answer is sandboxed.
API_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
HSTS = "max-age=31536000"


def content_security_policy(script_hashes: list[str] | tuple[str, ...] = ()) -> str:
    """The policy, with script-src extended by the given hash sources."""
    return CSP.replace(SCRIPT_SRC, " ".join([SCRIPT_SRC, *script_hashes]), 1)


HEADERS = {
    # The key is in the fragment, which browsers never send in Referer; no-referrer
    # also keeps the link id out of other sites' logs (MDN "Referrer-Policy").
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


def init_app(app: Flask) -> None:
    """Add the headers to every response."""

    https = str(app.config.get("PUBLIC_URL") or "").lower().startswith("https://")

    @app.after_request
    def add_headers(response: Response) -> Response:
        if request.path.startswith("/api/"):
            response.headers.setdefault("Content-Security-Policy", API_CSP)
            # API answers are per-user and sometimes secret-bearing: never cache them.
            response.headers.setdefault("Cache-Control", "no-store")
        else:
            assets = app.extensions.get("fragment.assets")
            hashes = assets.csp_script_sources() if assets is not None else []
            response.headers.setdefault("Content-Security-Policy", content_security_policy(hashes))
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if https:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
