"""Request bodies: bounded reads, OAuth form parameters and JSON objects.

The token endpoint takes `application/x-www-form-urlencoded` (with or without `;charset=UTF-8`),
and `multipart/form-data` too, since Wise's own reference backend sends that (reference §2.1).
A JSON body is not a form: its parameters are not read, as on Spring (so "Missing grant type").
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from mockwise._domain.errors import FieldError, SpringError, ValidationError, invalid_request
from mockwise._domain.settings import Limits

MAX_FIELDS = 100
#: JSON documents here (Wise's bodies, seeds, settings) nest a few levels; far deeper is refused.
MAX_JSON_DEPTH = 64
MAX_BODY_KEY = "mockwise.max_body"  # the scope key the edge puts the tenant's `limits.max_body` in
DEFAULT_LIMITS = Limits()


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The whole body, refusing (413) once it grows past `limit` (default: the tenant's
    `limits.max_body`, as the edge found it; chunked bodies included). Kept on the request, as
    `Request.body()` keeps it: read again (or opened from JOSE for the route) it is not received
    twice. Read from `receive` directly: Starlette's `stream()` is an async generator per request.

    A body that never arrives in full (the client stalled until the server's request timeout, or
    went away) is a 408 in the journal, not a mockwise error."""
    if limit is None:
        limit = int(request.scope.get(MAX_BODY_KEY, DEFAULT_LIMITS.max_body))
    body: bytes | None = getattr(request, "_body", None)
    if body is not None:
        if len(body) > limit:
            raise SpringError(413, "Request body too large")
        return body
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise SpringError(413, "Request body too large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            raise SpringError(408, "The request body did not arrive in full")
    body = request._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return body


def content_type(request: Request) -> str:
    """The request's first `Content-Type`, lowercased ("" without one), read from the raw headers:
    asked on every form and JOSE-capable request, where a Starlette `Headers` each time costs more."""
    raw = next((value for name, value in request.scope["headers"] if name == b"content-type"), b"")
    return str(raw.decode("latin-1").lower())


async def form_params(request: Request) -> dict[str, str]:
    """OAuth parameters from a form body; the first value of a repeated name wins (as on Spring)."""
    media = content_type(request)
    body = await read_body(request)
    pairs: list[tuple[str, str]]
    if media.startswith("application/x-www-form-urlencoded"):
        pairs = urlencoded_pairs(body.decode("latin-1"))
    elif media.startswith("multipart/form-data"):
        pairs = await _multipart(request, body)
    else:
        pairs = []
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    return params


def urlencoded_pairs(text: str) -> list[tuple[str, str]]:
    """`parse_qsl(text, keep_blank_values=True)` with percent-escapes read as UTF-8. Nearly every
    token request's form has nothing to unescape (`grant_type=client_credentials`): it is split
    here, as `parse_qsl` would split it, without its per-field work."""
    if text.count("&") >= MAX_FIELDS:
        raise invalid_request("Too many parameters")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace")
    pairs: list[tuple[str, str]] = []
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs.append((name, value))
    return pairs


async def _multipart(request: Request, body: bytes) -> list[tuple[str, str]]:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=0, max_fields=MAX_FIELDS)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise invalid_request(f"Malformed multipart body: {exc.message}") from None
    except Exception:  # python-multipart raises its own errors on broken boundaries
        raise invalid_request("Malformed multipart body") from None
    pairs: list[tuple[str, str]] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            await value.close()
            continue
        pairs.append((name, value))
    return pairs


def parse_json(body: bytes) -> Any:
    """A JSON document, or a ValueError saying why not: bad syntax or encoding, or nesting deeper
    than `MAX_JSON_DEPTH`. Never a RecursionError, here or in what later walks the document
    (rendering, copying, encoding a snapshot)."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        if children and depth >= MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        pending.extend((child, depth + 1) for child in children)
    return data


async def json_object(request: Request) -> dict[str, Any]:
    """A JSON object body, or a Spring-style 400 saying why not (as Spring's message converter)."""
    body = await read_body(request)
    try:
        data = parse_json(body)
    except ValueError as exc:
        raise SpringError(400, f"JSON parse error: {exc}") from None
    if not isinstance(data, dict):
        raise SpringError(400, "JSON parse error: expected a JSON object")
    return data


def string_field(data: dict[str, Any], name: str, errors: list[FieldError]) -> str | None:
    """A required string field; records NotNull when absent (Wise's validation shape, §4)."""
    value = data.get(name)
    if value is None:
        errors.append(FieldError("NotNull", "must not be null", name))
        return None
    if not isinstance(value, str):
        errors.append(FieldError("TypeMismatch", "must be a string", name, [name]))
        return None
    return value


def require_valid(errors: list[FieldError], status: int = 400) -> None:
    if errors:
        raise ValidationError(errors, status)
