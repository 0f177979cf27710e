"""In-process transports: talk to the sandbox's ASGI app with httpx and no sockets.

    import httpx
    from mockwise._transport.inprocess import SyncASGITransport

    client = httpx.Client(transport=SyncASGITransport(app), base_url="https://api.wise-sandbox.com")

`ASGITransport` serves async clients; `SyncASGITransport` serves sync `httpx.Client`s by running
the app on one shared background event loop, so it also works from code that is itself running
inside an event loop. Both turn the connection-reset fault into `httpx.RemoteProtocolError`, as a
real socket would.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from mockwise._domain.errors import DropConnection
from mockwise._http.edge import ABORT

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="mockwise-inprocess", daemon=True).start()
            _loop = loop
        return _loop


def _abortable(app: ASGIApp) -> ASGIApp:
    """Give the app the `mockwise.abort` extension a real socket gets from `WiseProtocol`."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        aborted = False

        def abort() -> None:
            nonlocal aborted
            aborted = True

        scope = {**scope, "extensions": {**scope.get("extensions", {}), ABORT: abort}}
        await app(scope, receive, send)
        if aborted:
            raise DropConnection()

    return wrapped


class ASGITransport(httpx.ASGITransport):
    """`httpx.ASGITransport` that behaves like a socket when the sandbox drops a connection."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        super().__init__(app=_abortable(app), **options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except DropConnection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None


class SyncASGITransport(httpx.BaseTransport):
    """A sync httpx transport that calls an ASGI app in-process.

    `extensions` are added to every request's ASGI scope, e.g. what a TLS connection would carry:
    `{"mockwise.connection": Connection.presenting("mtls", cert_pem)}` (without it, requests are not
    judged for mTLS: they came through no TLS listener)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        client: tuple[str, int] = ("127.0.0.1", 50000),
        extensions: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if extensions:
            app = _with_extensions(app, extensions)
        self._transport = ASGITransport(app=app, client=client, **options)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        forwarded = httpx.Request(
            request.method, request.url, headers=request.headers, content=body, extensions=request.extensions
        )
        future = asyncio.run_coroutine_threadsafe(self._send(forwarded), _background_loop())
        return future.result()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        content = await response.aread()
        # a stream (not `content=`), so the client reads and closes it like any response
        return httpx.Response(
            response.status_code, headers=response.headers, stream=httpx.ByteStream(content), request=request
        )


def _with_extensions(app: ASGIApp, extensions: dict[str, Any]) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "extensions": {**scope.get("extensions", {}), **extensions}}, receive, send)

    return wrapped
