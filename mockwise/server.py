"""Transport: serving the ASGI app on real sockets with uvicorn (httptools).

One `Runner` serves the app on one or more listeners (Wise has an API host and an mTLS host) in
one event loop, in the foreground (`mockwise serve`) or in a background thread (the pytest plugin).
Sockets are bound before serving, so port 0 works and the real port is known at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mockwise.domain.certificates import EXTENSION as CONNECTION
from mockwise.domain.certificates import NO_TLS, Connection
from mockwise.http.edge import ABORT

TLS_CLOSE_GRACE = 0.5  # seconds a TLS connection may take to close when the server stops


class WiseProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus two ASGI extensions the sandbox needs:

    - `tls` (the ASGI TLS extension, which uvicorn does not provide): the client certificate chain
      as PEM, read once per connection, so the app can bind a certificate to a client (mTLS);
    - `mockwise.abort`: drop the connection without answering (the connection-reset fault);
    - `mockwise.connection`: a `Connection`, the listener the request came in on (`listener`, set
      per listener by the `Runner`) and the client certificate's SHA-256 fingerprint.

    All of it is computed once per connection, not per request.
    """

    listener: str | None = None  # "api" or "mtls"; only TLS connections are marked

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls: dict[str, object] | None = None
        self._connection = NO_TLS
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            cipher = ssl_object.cipher()
            pem = ssl.DER_cert_to_PEM_cert(der) if der else None
            digest = hashlib.sha256(der).hexdigest() if der else None
            # A context may carry a label (the contract suites' impostor, see `contracts.runner`).
            label = getattr(ssl_object.context, "mockwise_label", None)
            self._connection = Connection(self.listener, digest, pem, label)
            self._tls = {
                "server_cert": None,
                "client_cert_chain": [pem] if pem else [],
                "client_cert_name": None,
                "client_cert_error": None,
                "tls_version": ssl_object.version(),
                "cipher_suite": cipher[0] if cipher else None,
            }

    def on_message_begin(self) -> None:
        super().on_message_begin()
        extensions: dict[str, object] = {ABORT: self._abort, CONNECTION: self._connection}
        if self._tls is not None:
            extensions["tls"] = self._tls
        self.scope["extensions"] = extensions  # type: ignore[typeddict-item]

    def shutdown(self) -> None:
        super().shutdown()
        if self._tls is not None:
            # Closing TLS waits for the client's close_notify (uvloop: up to 30 s), so a client that
            # keeps an idle connection open would hold the server's shutdown; drop it after a while.
            self.loop.call_later(TLS_CLOSE_GRACE, self._drop)

    def _drop(self) -> None:
        if self in self.connections:
            self.transport.abort()

    def _abort(self) -> None:
        if self.cycle is not None:
            self.cycle.disconnected = True  # so uvicorn does not answer 500 for us
        self.transport.abort()


@dataclass
class Listener:
    """One socket the sandbox serves on. `name` "api" is Wise's TLS-only host, "mtls" its mTLS host
    (give it an `ssl` context that requires client certificates); requests are marked with it."""

    name: str  # "api" or "mtls"
    host: str = "127.0.0.1"
    port: int = 0
    ssl: ssl.SSLContext | None = None
    sock: socket.socket | None = field(default=None, repr=False)

    def bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(2048)
        sock.set_inheritable(True)
        self.port = sock.getsockname()[1]
        self.sock = sock
        return sock

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


def _protocol_for(listener: Listener) -> type[WiseProtocol]:
    """A `WiseProtocol` that marks its TLS connections with the listener's name."""
    return type(f"WiseProtocol_{listener.name}", (WiseProtocol,), {"listener": listener.name})


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the `Runner` (several servers share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Runner:
    def __init__(
        self,
        app: ASGIApp,
        listeners: list[Listener],
        *,
        log_level: str = "warning",
        configure: Callable[[uvicorn.Config, Listener], None] | None = None,
    ) -> None:
        self.listeners = listeners
        self.servers: list[_Server] = []
        for listener in listeners:
            if listener.sock is None:
                listener.bind()
            config = uvicorn.Config(
                app,
                lifespan="off",
                access_log=False,
                log_level=log_level,
                timeout_keep_alive=30,
                server_header=False,
                date_header=True,
            )
            config.load()
            config.ssl = listener.ssl
            config.http_protocol_class = _protocol_for(listener)
            if configure is not None:
                configure(config, listener)
            self.servers.append(_Server(config))
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def started(self) -> bool:
        return all(s.started for s in self.servers)

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        tasks = [
            asyncio.create_task(server.serve(sockets=[listener.sock]))
            for server, listener in zip(self.servers, self.listeners, strict=True)
            if listener.sock is not None
        ]
        while not self.started:
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.005)
        if on_ready is not None and self.started:
            on_ready()
        await asyncio.gather(*tasks)

    def _run_loop(self, on_ready: Callable[[], None] | None) -> None:
        # uvloop when installed (uvicorn's choice), for speed
        with asyncio.Runner(loop_factory=self.servers[0].config.get_loop_factory()) as runner:
            runner.run(self.serve(on_ready))

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True

    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve in the foreground until SIGINT or SIGTERM."""

        def handle(sig: int, frame: object) -> None:
            if all(s.should_exit for s in self.servers):
                for server in self.servers:
                    server.force_exit = True
            self.stop()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._run_loop(on_ready)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def start_in_thread(self, timeout: float = 10.0) -> None:
        """Serve from a daemon thread; returns once every listener accepts connections."""
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_loop, args=(ready.set,), name="mockwise-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError("mockwise server did not start in time")

    def drop_connections(self) -> None:
        """Close every open connection, so clients must connect (and handshake) again."""
        loop = self._loop
        if loop is None:
            return
        done = threading.Event()

        def drop() -> None:
            for server in self.servers:
                for connection in list(server.server_state.connections):
                    connection.transport.abort()
            done.set()

        loop.call_soon_threadsafe(drop)
        done.wait(5)

    def stop_thread(self, timeout: float = 5.0) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
