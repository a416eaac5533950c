"""API errors: one exception type, always answered as JSON with a sentence for people."""

from __future__ import annotations

from flask import Flask, jsonify, request
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
            return exc
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
        response = jsonify({"error": "internal", "message": "Something went wrong on the server. Please try again."})
        response.status_code = 500
        return response
