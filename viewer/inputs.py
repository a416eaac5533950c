"""Request parsing that refuses bad input with a clear 4xx before anything is written."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from flask import current_app, request

from . import crypto
from .errors import ApiError, bad_request


def check_id(value: object, what: str = "id") -> str:
    """A v1 id, or 400 bad_id."""
    if not crypto.is_id(value):
        raise ApiError(400, "bad_id", f"The {what} is malformed: ids are 22 characters of base64url.")
    return value  # type: ignore[return-value]


def json_body() -> dict[str, Any]:
    """The JSON object body, size-limited before it is read."""
    limit = current_app.config["MAX_JSON_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"The request body is larger than {limit} bytes.")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"The request body is larger than {limit} bytes.")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise bad_request("The request body is not valid JSON.", "bad_json") from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.", "bad_json")
    return data


def b64_field(data: dict, name: str, length: int | None = None, max_length: int | None = None, required: bool = True) -> bytes | None:
    """A base64url field of a JSON body."""
    if data.get(name) is None:
        if required:
            raise bad_request(f"The field {name!r} is missing.", "missing_field")
        return None
    try:
        value = crypto.b64d(data[name], length)
    except crypto.FormatError as exc:
        raise bad_request(f"The field {name!r} is not valid: {exc}.", "bad_field") from None
    if max_length is not None and len(value) > max_length:
        raise ApiError(413, "too_large", f"The field {name!r} is larger than {max_length} bytes.")
    return value


def int_field(data: dict, name: str, minimum: int = 0, maximum: int | None = None, default: int | None = None) -> int | None:
    """An optional non-negative integer field."""
    value = data.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise bad_request(f"The field {name!r} must be a whole number of at least {minimum}{bound}.", "bad_field")
    return value


def bool_field(data: dict, name: str, default: bool) -> bool:
    """An optional boolean field."""
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise bad_request(f"The field {name!r} must be true or false.", "bad_field")
    return value


def time_field(data: dict, name: str) -> int | None:
    """An optional ISO 8601 time, as Unix seconds."""
    value = data.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"The field {name!r} must be an ISO 8601 time.", "bad_field") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp())


def iso(ts: int | None) -> str | None:
    """Unix seconds as ISO 8601 UTC."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def page_args(max_limit: int = 1000) -> tuple[int, int]:
    """The `after` cursor and `limit` of a listing."""
    try:
        after = int(request.args.get("after", "0") or 0)
        limit = int(request.args.get("limit", "200") or 200)
    except ValueError:
        raise bad_request("`after` and `limit` must be whole numbers.", "bad_query") from None
    if after < 0 or not 1 <= limit <= max_limit:
        raise bad_request(f"`limit` must be between 1 and {max_limit}.", "bad_query")
    return after, limit
