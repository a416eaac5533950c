"""Request parsing that refuses bad input with a clear 4xx before anything is written.

Every limit a request is checked against is a constant here (or a setting in config.py), and
docs/openapi.yaml states the same numbers; tests/test_validation.py checks that they agree.
Integers are bounded by what their database column holds (SQL INTEGER is 32-bit in
PostgreSQL) and by what JSON readers keep exactly (2**53 - 1, RFC 8259 section 6), so no
value can overflow a column or a sum in SQL and turn into a 500.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, overload

from flask import current_app, request

from .. import crypto
from .errors import ApiError, bad_request

INT32_MAX = 2**31 - 1  # SQL INTEGER: PostgreSQL int4, the type of every Integer column
JSON_INT_MAX = 2**53 - 1  # the largest integer every JSON reader keeps exactly (RFC 8259 section 6)
MAX_JSON_DEPTH = 8  # no request body nests deeper than 3; Python's parser recurses on nesting
MAX_DEVICE_LIMIT = 1_000_000
MAX_KEY_EPOCH = INT32_MAX - 1  # an album's key_epoch, an Integer column; one more must still fit
MAX_QUOTA_FILES = 1_000_000
MAX_BYTES = 2**50  # 1 PiB: quota_bytes and max_file_size; three blobs of it still sum far below BIGINT
MAX_PAGE_LIMIT = 1000
DEFAULT_PAGE_LIMIT = 200
MAX_AFTER = INT32_MAX  # `after` is a files.seq, an Integer column
MAX_QUERY_DIGITS = 10
# Times: from the Unix epoch to the year 9000 in UTC, far inside what datetime and BIGINT hold,
# so every stored time can be written back as ISO 8601 (years 1 to 9999).
TIME_MIN = 0
TIME_MAX = int(datetime(9000, 1, 1, tzinfo=UTC).timestamp())
TIME_MIN_ISO, TIME_MAX_ISO = "1970-01-01T00:00:00Z", "9000-01-01T00:00:00Z"
MAX_TIME_CHARS = 64

_B64_LAST = {0: "", 1: "[AQgw]", 2: "[AEIMQUYcgkosw048]"}  # the last character of canonical base64url


def b64_pattern(length: int) -> str:
    """The regular expression of canonical unpadded base64url of exactly `length` bytes."""
    full, rest = divmod(length, 3)
    if rest == 0:
        return f"^[A-Za-z0-9_-]{{{full * 4}}}$"
    return f"^[A-Za-z0-9_-]{{{full * 4 + rest}}}{_B64_LAST[rest]}$"


def b64_length(length: int) -> int:
    """Characters of unpadded base64url for `length` bytes."""
    return (length * 4 + 2) // 3


ID_PATTERN = b64_pattern(crypto.ID_BYTES)  # what crypto.is_id accepts
_ID_RE = re.compile(ID_PATTERN)


def check_id(value: object, what: str = "id") -> str:
    """A v1 id, or 400 bad_id."""
    if not isinstance(value, str) or not _ID_RE.match(value) or not crypto.is_id(value):
        raise ApiError(400, "bad_id", f"The {what} is malformed: ids are 22 characters of base64url.")
    return value


def _too_deep(data: object) -> bool:
    """True if `data` nests deeper than MAX_JSON_DEPTH (an explicit stack, no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def _no_constant(name: str) -> None:
    # NaN and Infinity are not JSON (RFC 8259 section 6), though Python's parser takes them.
    raise ValueError(f"{name} is not a JSON number")


def json_body(limit: int | None = None) -> dict[str, Any]:
    """The JSON object body, at most `limit` (MAX_JSON_BYTES) bytes checked before reading; nested at most MAX_JSON_DEPTH deep."""
    limit = current_app.config["MAX_JSON_BYTES"] if limit is None else limit
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"The request body is larger than {limit} bytes.")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"The request body is larger than {limit} bytes.")
    if not raw:
        return {}
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        # Python's parser recurses once per nesting level (CWE-674); deep input is refused, not a 500.
        raise bad_request(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.", "bad_json") from None
    except (UnicodeDecodeError, ValueError):
        raise bad_request("The request body is not valid JSON.", "bad_json") from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.", "bad_json")
    if _too_deep(data):
        raise bad_request(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.", "bad_json")
    return data


@overload
def b64_field(
    data: dict, name: str, length: int | None = None, max_length: int | None = None, required: Literal[True] = True
) -> bytes: ...
@overload
def b64_field(
    data: dict, name: str, length: int | None = None, max_length: int | None = None, *, required: bool
) -> bytes | None: ...
def b64_field(
    data: dict, name: str, length: int | None = None, max_length: int | None = None, required: bool = True
) -> bytes | None:
    """A base64url field of a JSON body."""
    if data.get(name) is None:
        if required:
            raise bad_request(f"The field {name!r} is missing.", "missing_field")
        return None
    value = data[name]
    # Checked on the text first, so a huge string is not decoded only to be refused.
    if max_length is not None and isinstance(value, str) and len(value) > b64_length(max_length):
        raise ApiError(413, "too_large", f"The field {name!r} is larger than {max_length} bytes.")
    try:
        decoded = crypto.b64d(value, length)
    except crypto.FormatError as exc:
        raise bad_request(f"The field {name!r} is not valid: {exc}.", "bad_field") from None
    if max_length is not None and len(decoded) > max_length:
        raise ApiError(413, "too_large", f"The field {name!r} is larger than {max_length} bytes.")
    return decoded


def int_field(data: dict, name: str, minimum: int = 0, maximum: int = JSON_INT_MAX, default: int | None = None) -> int | None:
    """An optional integer field between `minimum` and `maximum` (never more than JSON_INT_MAX)."""
    value = data.get(name, default)
    if value is None:
        return default
    maximum = min(maximum, JSON_INT_MAX)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise bad_request(f"The field {name!r} must be a whole number from {minimum} to {maximum}.", "bad_field")
    return value


def bool_field(data: dict, name: str, default: bool) -> bool:
    """An optional boolean field."""
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise bad_request(f"The field {name!r} must be true or false.", "bad_field")
    return value


def time_field(data: dict, name: str) -> int | None:
    """An optional ISO 8601 time between TIME_MIN_ISO and TIME_MAX_ISO, as Unix seconds."""
    value = data.get(name)
    if value is None:
        return None
    message = (
        f"The field {name!r} must be an ISO 8601 time from {TIME_MIN_ISO[:4]} to {TIME_MAX_ISO[:4]}, like 2027-01-31T12:00:00Z."
    )
    if not isinstance(value, str) or len(value) > MAX_TIME_CHARS:
        raise bad_request(message, "bad_field")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = int(parsed.timestamp())
    except (ValueError, OverflowError):
        raise bad_request(message, "bad_field") from None
    if not TIME_MIN <= seconds <= TIME_MAX:
        raise bad_request(message, "bad_field")
    return seconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(ts: int | None) -> str | None:
    """Unix seconds as ISO 8601 UTC; a stored time outside years 1 to 9999 is written as the nearest one."""
    if ts is None:
        return None
    try:
        moment = _EPOCH + timedelta(seconds=int(ts))
    except OverflowError:
        # Rows written before times were bounded must still list and revoke, never 500.
        moment = datetime.max.replace(tzinfo=UTC) if ts > 0 else datetime.min.replace(tzinfo=UTC)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"


def _query_int(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    # ASCII digits only: int() would also take "+1", " 1", "1_0" and other scripts' digits.
    if not re.fullmatch(rf"[0-9]{{1,{MAX_QUERY_DIGITS}}}", raw) or not minimum <= int(raw) <= maximum:
        raise bad_request(f"`{name}` must be a whole number from {minimum} to {maximum}.", "bad_query")
    return int(raw)


def page_args(max_limit: int = MAX_PAGE_LIMIT) -> tuple[int, int]:
    """The `after` cursor and `limit` of a listing."""
    after = _query_int("after", 0, 0, MAX_AFTER)
    limit = _query_int("limit", DEFAULT_PAGE_LIMIT, 1, max_limit)
    return after, limit
