"""Rendering: Wise-shaped JSON responses and errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response

from mockwise._domain.codec import compact_json
from mockwise._domain.errors import RawResponse, WiseError

_ENCODE = compact_json()  # made once, not per answer
_CONTENT_TYPE = (b"content-type", b"application/json")
_OWN_HEADERS = frozenset({"content-length", "content-type"})


class WiseJSON(Response):
    """Compact JSON, `application/json` as Wise sends it.

    Every JSON answer is one of these, so its headers are built directly (as Starlette's
    `init_headers` would build them, in the same order) rather than through the general path."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        raw_headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        """`raw_headers`: headers already as Starlette keeps them (lower-case names, latin-1), which
        a route answering with the same ones every time makes once (`token.NO_STORE`)."""
        if media_type is not None or (headers and not _OWN_HEADERS.isdisjoint(k.lower() for k in headers)):
            super().__init__(content, status_code, headers, media_type, background)
            self.raw_headers[:0] = raw_headers
            return
        self.status_code = status_code
        self.background = background
        body = self.body = self.render(content)
        raw = list(raw_headers)
        if headers:
            raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        if not (status_code < 200 or status_code in (204, 304)):
            raw.append((b"content-length", str(len(body)).encode()))
        raw.append(_CONTENT_TYPE)
        self.raw_headers = raw

    def render(self, content: Any) -> bytes:
        return _ENCODE(content).encode()


def render_error(error: WiseError, path: str, now: float) -> Response:
    """The answer to a refusal: its `body()` as Wise JSON, an empty JSON body when it has none
    (429, per the docs example §9), or a fault's raw bytes."""
    if isinstance(error, RawResponse):
        return Response(error.content, error.status, headers=error.headers, media_type=error.media_type)
    body = error.body(path, now)
    if body is None:
        return Response(b"", error.status, headers=error.headers, media_type="application/json")
    return WiseJSON(body, error.status, headers=error.headers)
