"""Security headers on every response.

The page that decrypts an album must run only our own scripts, or a single
injected script could read the key from the fragment. So the Content Security
Policy allows scripts from this origin alone, plus WebAssembly compilation for
libsodium.js, and nothing inline (OWASP "Content Security Policy Cheat Sheet";
MDN "CSP: script-src", 'wasm-unsafe-eval'). Decrypted photos are shown through
blob: URLs, hence blob: for images and media.
"""

from __future__ import annotations

from flask import Flask, Response, request

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CSP,
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

    @app.after_request
    def add_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/api/"):
            # API answers are per-user and sometimes secret-bearing: never cache them.
            response.headers.setdefault("Cache-Control", "no-store")
        return response
