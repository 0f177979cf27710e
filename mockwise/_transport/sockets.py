"""Transport: serving the ASGI app on real sockets with uvicorn (httptools).

One `Runner` serves the app on one or more listeners (Wise has an API host and an mTLS host) in
one event loop, in the foreground (`mockwise serve`) or in a background thread (the pytest plugin).
Sockets are bound before serving, so port 0 works and the real port is known at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import signal
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from mockwise._domain.certificates import EXTENSION as CONNECTION
from mockwise._domain.certificates import NO_TLS, Connection
from mockwise._domain.errors import SpringError, clip
from mockwise._http.edge import ABORT, WHOLE
from mockwise._pki import fingerprint

TLS_CLOSE_GRACE = 0.5  # seconds a TLS connection may take to close when the server stops
# Limits of the transport, where Wise is silent (Tomcat's defaults are in the same range: a 20 s
# connection timeout, 8 KiB of headers; the edge refuses more than 16 KiB of headers itself, in
# the journal, so this cap only stops floods that would never make a complete request):
REQUEST_TIMEOUT = 20.0  # seconds from a request's first byte (or the connection) to its last byte
MAX_REQUEST_HEAD = 64 * 1024  # bytes of request line and headers accepted before answering 431
TIMER_SLACK = 0.002  # seconds: the loop's timers go off to the millisecond, maybe a little early


class _HeadTooLarge(Exception):
    """Raised from a parser callback: httptools turns it into a parser error (see send_400_response)."""


class _Writer:
    """A connection's transport as the protocol and its requests see it: the same, except that
    while an answer is sent whole (the edge's `WHOLE` extension, `whole(True)` ... `whole(False)`)
    the head uvicorn writes is kept and goes out with the body, in one `transport.write`: uvicorn
    writes them apart, and the second write was an eighth of a token request's CPU and a quarter
    of a `GET /v1/me`'s (a syscall, and the peer woken twice)."""

    __slots__ = ("head", "joining", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.joining = False
        self.head: bytes | None = None

    def whole(self, begin: bool) -> None:
        self.joining = begin
        if not begin:
            self.flush()  # a head no body joined (a HEAD request's answer)

    def write(self, data: bytes) -> None:
        if not self.joining:
            self.transport.write(data)
            return
        head = self.head
        if head is None:
            self.head = data
        else:
            self.joining, self.head = False, None
            self.transport.write(head + data)

    def flush(self) -> None:
        head, self.head = self.head, None
        if head:
            self.transport.write(head)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self.head = None
        self.transport.abort()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class WiseProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus three ASGI extensions the sandbox needs:

    - `tls` (the ASGI TLS extension, which uvicorn does not provide): the client certificate chain
      as PEM, read once per connection, so the app can bind a certificate to a client (mTLS);
    - `mockwise.abort`: drop the connection without answering (the connection-reset fault);
    - `mockwise.connection`: a `Connection`, the listener the request came in on (`listener`, set
      per listener by the `Runner`) and the client certificate's SHA-256 fingerprint.

    All of it is computed once per connection, not per request (one dict the requests share).
    An answer the edge sends whole (`WHOLE`) leaves in one write (`_Writer`).

    Hardening uvicorn leaves to us: a request must arrive whole within `request_timeout` seconds
    of its first byte (a connection that never sends one is closed after as long, and so is one
    that never finishes its TLS handshake: `_Server`), so a client that stalls half-way through a
    request line, headers or body is dropped (with a 408 when anything was received) instead of
    holding a connection for ever; the request line and headers may not exceed `max_head` bytes
    (431); malformed requests get Wise-style JSON, not uvicorn's plain text, after the answers to
    any requests pipelined before them (uvicorn closed at once: a request ran, was journaled, and
    its answer never left). These answers are written here, before (or instead of) a complete
    request, so they are not journaled; a stalled body is, as the 408 its route answers.
    """

    listener: str | None = None  # "api" or "mtls"; only TLS connections are marked
    request_timeout: float = REQUEST_TIMEOUT
    max_head: int = MAX_REQUEST_HEAD

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        writer = _Writer(transport)
        self.transport = writer  # type: ignore[assignment]
        self._phase = "idle"  # idle (between requests), head (line and headers), body
        self._head = 0
        self._head_too_large = False
        self._running: RequestResponseCycle | None = None  # the request being answered
        self._last_words: bytes | None = None  # an error answer waiting for earlier answers to leave
        self._deadline: asyncio.TimerHandle | None = None  # at most one timer per connection
        self._due: float | None = None  # when the current phase times out (loop time), if it can
        self._arm()
        self._extensions: dict[str, object] = {ABORT: self._abort, CONNECTION: NO_TLS, WHOLE: writer.whole}
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            cipher = ssl_object.cipher()
            pem = ssl.DER_cert_to_PEM_cert(der) if der else None
            digest = fingerprint(der) if der else None
            # A context may carry a label (the contract suites' impostor, see `mockwise.contracts.runner`).
            label = getattr(ssl_object.context, "mockwise_label", None)
            self._extensions[CONNECTION] = Connection(self.listener, digest, pem, label)
            self._extensions["tls"] = {
                "server_cert": None,
                "client_cert_chain": [pem] if pem else [],
                "client_cert_name": None,
                "client_cert_error": None,
                "tls_version": ssl_object.version(),
                "cipher_suite": cipher[0] if cipher else None,
            }

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = self._extensions  # type: ignore[typeddict-item]
        self._phase, self._head = "head", 0
        self._arm()

    # Limits ----------------------------------------------------------------------------------

    # The head's size is counted as it arrives (inline: a method call per header cost more than
    # the count), so a client streaming headers is cut off before they pile up.

    def on_url(self, url: bytes) -> None:
        self._head = head = self._head + len(url)
        if head > self.max_head:
            self._too_large()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head = head = self._head + len(name) + len(value) + 4
        if head > self.max_head:
            self._too_large()
        super().on_header(name, value)

    def _too_large(self) -> None:
        self._head_too_large = True
        raise _HeadTooLarge()

    def on_headers_complete(self) -> None:
        self._phase = "body"
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = "idle"
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    # Pipelined requests ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._last_words is not None:
            return  # the connection is ending: nothing after the malformed request is read
        super().data_received(data)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        self._running = cycle
        super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # starts the next pipelined request, if any
        if self._last_words is not None and not self._answers_due():
            self._say_and_close(self._last_words)

    def _answers_due(self, broken: RequestResponseCycle | None = None) -> bool:
        """Whether requests before `broken` (the malformed one) still wait for their answers."""
        running = self._running
        return bool(self.pipeline) or (
            running is not None and running is not broken and not running.response_complete
        )

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to a request it cannot parse is plain text; Wise's would be JSON
        if self._head_too_large:
            self._answer_and_close(431, f"Request line and headers exceed {self.max_head} bytes")
        else:
            self._answer_and_close(400, "Malformed HTTP request")

    def _arm(self) -> None:
        """The request now arriving must be whole within `request_timeout`. One timer per
        connection, moved lazily: a request only sets when it is due, and the timer, when it goes
        off early, waits on for what is due then (a timer made and cancelled per request cost as
        much as the rest of the bookkeeping here)."""
        self._due = self.loop.time() + self.request_timeout
        if self._deadline is None:
            self._deadline = self.loop.call_at(self._due, self._check_due)

    def _disarm(self) -> None:
        self._due = None  # a pending timer finds nothing due

    def _check_due(self) -> None:
        self._deadline = None
        due = self._due
        if due is None:
            return
        if self.loop.time() + TIMER_SLACK < due:  # moved on since the timer was set
            self._deadline = self.loop.call_at(due, self._check_due)
            return
        self._due = None
        self._timed_out()

    def _timed_out(self) -> None:
        if self.transport.is_closing():
            return
        message = f"The request did not arrive in full within {self.request_timeout:g} seconds"
        cycle = self.cycle
        if self._phase == "body" and cycle is not None and not cycle.response_complete:
            answered = cycle.response_started
            cycle.disconnected = True  # its route's read ends (a 408 in the journal); nothing more is sent
            cycle.message_event.set()
            if not answered:
                self._answer_and_close(408, message)
                return
        elif self._phase == "head":
            self._answer_and_close(408, message)
            return
        self.transport.close()  # never sent a byte, or already answered: nothing to say

    def _answer_and_close(self, status: int, message: str) -> None:
        """A Spring-style JSON error written straight to the connection, which then closes; after
        the answers to requests pipelined before it, so a client gets every answer the journal
        records (a request the parser gave up on mid-body never runs, unless it already does)."""
        answer = self._error_answer(status, message)
        broken = self.cycle if self._phase == "body" else None  # whole headers: it has a cycle
        if broken is not None:
            self.pipeline = deque(queued for queued in self.pipeline if queued[0] is not broken)
        if self._answers_due(broken):
            self._last_words = answer
            self._disarm()
            return
        self._say_and_close(answer)

    def _say_and_close(self, answer: bytes) -> None:
        self._last_words = None
        self.transport.write(answer)
        self.transport.close()

    def _error_answer(self, status: int, message: str) -> bytes:
        url = getattr(self, "url", b"") or b"/"
        path = clip(url.split(b"?", 1)[0].decode("latin-1"))
        now = time.time()
        body = json.dumps(SpringError(status, message).body(path, now), separators=(",", ":")).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        return b"".join(head) + body

    def shutdown(self) -> None:
        super().shutdown()
        if "tls" in self._extensions:
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
        """Bind and listen; an address that cannot be had raises `AddressUnavailable`."""
        if not 0 <= self.port <= 65535:
            raise AddressUnavailable(self, f"{self.port} is not a port (0-65535; 0 picks a free one)")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            raise AddressUnavailable(self, _why(exc)) from exc
        sock.set_inheritable(True)
        self.port = sock.getsockname()[1]
        self.sock = sock
        return sock

    @property
    def url(self) -> str:
        """Where a client on this machine reaches the listener (loopback for a wildcard bind)."""
        return self.url_for(WILDCARDS.get(self.host, self.host))

    def url_for(self, host: str) -> str:
        scheme = "https" if self.ssl is not None else "http"
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}"


#: Addresses that bind every interface, and the loopback address a local client uses instead.
WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104 - names, not binds


def machine_names() -> tuple[str, ...]:
    """This machine's name and addresses, as other machines may reach a wildcard listener: the
    addresses of its default routes (found without sending a packet) and of its host name."""
    found: dict[str, None] = {}
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):  # TEST-NETs
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((probe, 9))  # a UDP connect only picks the route
            found[sock.getsockname()[0]] = None
    name = socket.gethostname()
    with contextlib.suppress(OSError, UnicodeError):
        for *_, address in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM):
            found[str(address[0]).partition("%")[0]] = None
    return (name, *found) if name else tuple(found)


def bind_all(listeners: list[Listener]) -> None:
    """Bind every listener not bound yet; if one cannot be, close those bound here and raise."""
    bound: list[Listener] = []
    try:
        for listener in listeners:
            if listener.sock is None:
                listener.bind()
                bound.append(listener)
    except OSError:
        for listener in bound:
            assert listener.sock is not None
            listener.sock.close()
            listener.sock = None
        raise


class AddressUnavailable(OSError):
    """A listener's host and port cannot be bound; `reason` says why in words."""

    def __init__(self, listener: Listener, reason: str) -> None:
        super().__init__(f"cannot listen on {listener.host}:{listener.port}: {reason}")
        self.listener = listener
        self.reason = reason


def _why(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use"
    if exc.errno == errno.EACCES:
        return "the port needs privileges (ports below 1024 usually do)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "the host is not an address of this machine"
    if isinstance(exc, socket.gaierror):
        return f"the host is not known ({exc.strerror})"
    return exc.strerror or str(exc)


def _protocol_for(
    listener: Listener, request_timeout: float = REQUEST_TIMEOUT, max_head: int = MAX_REQUEST_HEAD
) -> type[WiseProtocol]:
    """A `WiseProtocol` that marks its TLS connections with the listener's name."""
    return type(
        f"WiseProtocol_{listener.name}",
        (WiseProtocol,),
        {"listener": listener.name, "request_timeout": request_timeout, "max_head": max_head},
    )


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the `Runner` (several servers share one loop) and
    bounds TLS handshakes by the request timeout: asyncio's default (60 s) held a socket that never
    starts TLS three times longer than the promised 20 s (the protocol, and its timer, only exist
    once the handshake is done)."""

    handshake_timeout: float = REQUEST_TIMEOUT

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's startup for sockets bound beforehand (the only way the Runner serves), plus
        # `ssl_handshake_timeout`, which uvicorn does not pass.
        assert sockets is not None, "the Runner binds its sockets"
        await self.lifespan.startup()
        config = self.config

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=_loop
            )

        loop = asyncio.get_running_loop()
        handshake = self.handshake_timeout if config.ssl else None  # asyncio refuses it without TLS
        self.servers = [
            await loop.create_server(
                create_protocol,
                sock=sock,
                backlog=config.backlog,
                ssl=config.ssl,
                ssl_handshake_timeout=handshake,
            )
            for sock in sockets
        ]
        self.started = True


class Runner:
    def __init__(
        self,
        app: ASGIApp,
        listeners: list[Listener],
        *,
        log_level: str = "warning",
        configure: Callable[[uvicorn.Config, Listener], None] | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
        max_request_head: int = MAX_REQUEST_HEAD,
    ) -> None:
        self.listeners = listeners
        self.servers: list[_Server] = []
        bind_all(listeners)
        for listener in listeners:
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
            config.http_protocol_class = _protocol_for(listener, request_timeout, max_request_head)
            if configure is not None:
                configure(config, listener)
            server = _Server(config)
            server.handshake_timeout = request_timeout
            self.servers.append(server)
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
            loop.call_soon(done.set)  # once the loop has closed them: a client sees them gone

        loop.call_soon_threadsafe(drop)
        done.wait(5)

    def stop_thread(self, timeout: float = 5.0) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
