"""Rendering: Wise-shaped JSON responses and errors."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from mockwise.errors import RawResponse, WiseError


class WiseJSON(Response):
    """Compact JSON, `application/json` as Wise sends it."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def wise_response(error: WiseError, path: str, now: float) -> Response:
    if isinstance(error, RawResponse):
        return Response(error.content, error.status, headers=error.headers, media_type=error.media_type)
    body = error.body(path, now)
    if body is None:  # 429 per the docs example: empty body, JSON content type (§9)
        return Response(b"", error.status, headers=error.headers, media_type="application/json")
    return WiseJSON(body, error.status, headers=error.headers)
