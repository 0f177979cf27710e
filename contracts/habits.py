"""What platforms' own HTTP and TLS stacks do by default, as reference clients that must keep every
obligation: the suites judge what an application does, never what its stack legitimately does.

- **Session resumption.** Node's `https.Agent`, Java's JSSE, .NET, Go and libcurl cache TLS
  sessions and resume them (TLS 1.3 tickets, TLS 1.2 session ids) on the next connection to the
  same server. A real man in the middle cannot resume a session he never had the keys of, so a
  resuming client must keep VERIFY-SERVER (the impostor is a server identity of his own:
  `mockwise.contracts.runner.Impostor`).
- **One automatic retry of an idempotent request.** RFC 9110 §9.2.2 lets a user agent retry an
  idempotent request (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) once, automatically, when the
  connection failed before an answer came; the JDK's `java.net.http.HttpClient` does so at once
  for a GET on a reset connection, with no switch to turn it off, and so does OkHttp. It must keep
  RETRY-BOUNDED (the judge does not count that retry as the application's).

Each is the reference client with only its transport changed; the kill matrix runs them
(`tests/contracts/test_habits.py`) beside the reference and the mutants.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from typing import Any

import httpx

from mockwise.contracts.adapter import ClientConfig
from mockwise.contracts.reference import ReferenceClient

#: RFC 9110 §9.2.2: the methods whose requests a user agent may retry automatically.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_COUNTS = threading.Lock()


class ResumingContext(ssl.SSLContext):
    """A client TLS context that resumes its last session with each server, as Node, JSSE, .NET,
    Go and libcurl do: every socket it wraps offers the newest session its connections to that
    address received (a TLS 1.3 ticket arrives after the handshake, with the first read)."""

    # Handshakes that offered a session and that resumed one, in this process (tests see it happen).
    offered = 0
    resumed = 0

    def __new__(cls) -> ResumingContext:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self) -> None:
        self._sessions: dict[Any, ssl.SSLSession] = {}
        self._lock = threading.Lock()
        self.sslsocket_class = _RememberingSocket

    def wrap_socket(  # type: ignore[override]
        self, sock: socket.socket, server_side: bool = False, **kwargs: Any
    ) -> ssl.SSLSocket:
        where = sock.getpeername()
        with self._lock:
            session = self._sessions.get(where)
        kwargs["session"] = session
        wrapped = super().wrap_socket(sock, server_side, **kwargs)
        with _COUNTS:
            ResumingContext.offered += session is not None
            ResumingContext.resumed += bool(wrapped.session_reused)
        return wrapped

    def remember(self, where: Any, session: ssl.SSLSession | None) -> None:
        if session is not None:
            with self._lock:
                self._sessions[where] = session


class _RememberingSocket(ssl.SSLSocket):
    """Hands each session it holds after a read back to its context (the ticket of TLS 1.3 comes
    after the handshake)."""

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        data = super().recv(buflen, flags)
        self._remember()
        return data

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        count = super().recv_into(buffer, nbytes, flags)
        self._remember()
        return count

    def _remember(self) -> None:
        context = self.context
        if isinstance(context, ResumingContext):
            with contextlib.suppress(OSError):  # closed meanwhile: its session goes with it
                context.remember(self.getpeername(), self.session)


def resuming_context(config: ClientConfig) -> ResumingContext:
    """The reference's trust and client certificate (§6), in a context that resumes sessions."""
    context = ResumingContext()
    context.load_verify_locations(cafile=config.ca_cert or None)
    if config.client_cert:
        context.load_cert_chain(config.client_cert, config.client_key or None)
    return context


class ResumesSessions(ReferenceClient):
    """The reference, on a TLS stack that resumes sessions (Node, JSSE, .NET, Go, libcurl)."""

    def _tls_context(self) -> ssl.SSLContext | bool:
        if not self.config.ca_cert:
            return True
        self.tls = resuming_context(self.config)
        return self.tls


class RetryOnceTransport(httpx.HTTPTransport):
    """An HTTP stack that retries an idempotent request once, at once, when the connection failed
    before an answer came (RFC 9110 §9.2.2; the JDK's HttpClient, OkHttp)."""

    retried = 0  # in this process (tests see it happen)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            if request.method not in IDEMPOTENT:
                raise
            with _COUNTS:
                RetryOnceTransport.retried += 1
            return super().handle_request(request)


class RetriesIdempotentOnce(ReferenceClient):
    """The reference, on an HTTP stack that retries an idempotent request once after a reset."""

    def __init__(self, config: ClientConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        base = config.mtls_api_url or config.api_url
        self.http.close()
        self.transport = RetryOnceTransport(verify=self._tls_context())
        self.http = httpx.Client(base_url=base, transport=self.transport, timeout=10.0)


#: The references that must keep every obligation, beside `mockwise.contracts.reference`.
HABITS: list[type[ReferenceClient]] = [ResumesSessions, RetriesIdempotentOnce]
