"""Errors: one exception type for the API, answered as JSON with a sentence for people; pages get the site's own error page."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """An error the API answers with ``{"error": code, "message": message}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None, **extra):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.extra = extra


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    """400 with a message."""
    return ApiError(400, code, message)


def not_found(what: str = "This item") -> ApiError:
    """404 with a message."""
    return ApiError(404, "not_found", f"{what} does not exist.")


# Werkzeug's own errors (routing, method, size) get the same JSON shape on /api.
_HTTP_CODES = {
    400: ("bad_request", "The request could not be understood."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This address does not accept that method."),
    411: ("length_required", "Send a Content-Length header."),
    413: ("too_large", "The request body is too large."),
}


# Pages (not /api) get the site's own page for these: a heading and one sentence in plain words.
_PAGES = {
    400: ("This request could not be understood", "Your browser sent something this server cannot read. Go back and try again."),
    404: (
        "Nothing here",
        "There is no page at this address. If someone sent you a link to an album, check that you copied all of it.",
    ),
    405: ("Not like this", "This address does not accept that kind of request. Go back and try again."),
    413: ("Too large", "What your browser sent is larger than this server accepts."),
    500: ("Something went wrong", "Something went wrong on the server. Please try again in a moment."),
}


def error_page(status: int, headers: dict | None = None):
    """The site's page for an HTTP error on a page (not the API), with that status."""
    heading, message = _PAGES.get(status, _PAGES[500] if status >= 500 else _PAGES[400])
    page = render_template("error.html", heading=heading, message=message)
    return page, status, {"X-Robots-Tag": "noindex, nofollow", **(headers or {})}


def init_app(app: Flask) -> None:
    """Register the JSON error handlers."""

    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError):
        response = jsonify({"error": exc.code, "message": exc.message, **exc.extra})
        response.status_code = exc.status
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException):
        if not request.path.startswith("/api/"):
            allow = exc.get_response().headers.get("Allow")  # 405 must say what the address takes (RFC 9110 15.5.6)
            return error_page(exc.code or 500, {"Allow": allow} if allow else None)
        code, message = _HTTP_CODES.get(exc.code or 500, ("error", exc.description or "Request failed."))
        response = jsonify({"error": code, "message": message})
        response.status_code = exc.code or 500
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        # Never a stack trace for the user; the log keeps it for the operator.
        # Flask calls this handler inside its own except block, so the traceback is logged.
        app.logger.exception("unhandled error on %s %s", request.method, request.path)  # noqa: LOG004
        if isinstance(exc, HTTPException):  # pragma: no cover - handled above
            return exc
        if not request.path.startswith("/api/"):
            return error_page(500)
        response = jsonify({"error": "internal", "message": "Something went wrong on the server. Please try again."})
        response.status_code = 500
        return response
