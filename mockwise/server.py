"""Transport: serving the ASGI app on real sockets with uvicorn.

One `Runner` serves the app on one or more listeners (Wise has an API host and an mTLS host) in
one event loop, in the foreground (`mockwise serve`) or in a background thread (the pytest plugin).
Sockets are bound before serving, so port 0 works and the real port is known at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import uvicorn
from starlette.types import ASGIApp


@dataclass
class Listener:
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
            asyncio.run(self.serve(on_ready))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def start_in_thread(self, timeout: float = 10.0) -> None:
        """Serve from a daemon thread; returns once every listener accepts connections."""
        ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.serve(ready.set)), name="mockwise-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError("mockwise server did not start in time")

    def stop_thread(self, timeout: float = 5.0) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
