"""The API's JSON parser: refuses at the edge what would otherwise fail deep inside.

A request body is read up to a size limit (413 past it), parsed, and then walked once: a body
nested deeper than the limit, a string PostgreSQL cannot store (a NUL character, a lone UTF-16
surrogate, which psycopg cannot encode and which breaks the error page that echoes it), or a
number out of range (`1e999` parses as infinity) is a 400 that names where it is, without
echoing the offending value.
"""

from __future__ import annotations

import json
import math
import re

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser as _JSONParser

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class JSONParser(_JSONParser):
    # The setting that bounds the body; an endpoint taking larger bodies names its own.
    limit_setting = "API_MAX_BODY_BYTES"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = getattr(settings, self.limit_setting)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding), parse_constant=_refuse_constant)
        except RecursionError as exc:
            raise exceptions.ParseError(_too_deep()) from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        problem = first_problem(data, max_depth=settings.API_MAX_JSON_DEPTH)
        if problem is not None:
            path, message = problem
            field = path[0] if path and isinstance(path[0], str) else "non_field_errors"
            where = f" (at {format_path(path)})" if len(path) > 1 else ""
            raise exceptions.ValidationError({_safe(field): [f"{message}{where}"]})
        return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _too_deep() -> str:
    return f"JSON nested deeper than {settings.API_MAX_JSON_DEPTH} levels."


def first_problem(data, *, max_depth: int) -> tuple[tuple, str] | None:
    """The first place in parsed JSON that cannot be accepted, as (path, message), or None.

    Walked with an explicit stack: a recursive walk would itself fail on deep input.
    """
    stack = [((), data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            if UNSTORABLE.search(value):
                return path, _unstorable(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                return path, "Number out of range."
        elif isinstance(value, (dict, list)):
            if depth >= max_depth:
                return path, _too_deep()
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and UNSTORABLE.search(key):
                    return (*path, key), _unstorable(key, subject="A key contains")
                stack.append(((*path, key), item, depth + 1))
    return None


def _unstorable(text: str, *, subject: str = "Contains") -> str:
    if "\x00" in text:
        return f"{subject} a NUL character, which cannot be stored."
    return f"{subject} a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode."


def _safe(key: str) -> str:
    """A key as it can be shown: itself when plain, else JSON-escaped (never a raw NUL or
    surrogate, which the error body could not carry)."""
    return key if PLAIN_KEY.fullmatch(key) else json.dumps(key)


def format_path(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + _safe(part)
    return text
