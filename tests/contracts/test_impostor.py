"""The impostor is a server identity of his own (issue 28): a session from the real sandbox (a TLS
1.3 ticket, a TLS 1.2 ticket or session id) cannot be resumed into him, 0-RTT is refused cleanly,
a kept-alive connection does not outlive his arrival, and only a connection that completed a full
handshake with his certificate is labelled his in the journal."""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mockwise.contracts.runner import Arena
from mockwise.testing._client import TenantClient

TLS_VERSIONS = {
    "TLS 1.3 ticket": (ssl.TLSVersion.TLSv1_3, False),
    "TLS 1.2 ticket": (ssl.TLSVersion.TLSv1_2, False),
    "TLS 1.2 session id": (ssl.TLSVersion.TLSv1_2, True),
}


@pytest.fixture
def tenant(arena: Arena) -> Iterator[TenantClient]:
    tenant = arena.control.create_tenant()
    yield tenant
    tenant.delete()


@pytest.fixture
def impostor(arena: Arena) -> Iterator[None]:
    assert arena.impostor is not None
    yield
    arena.impostor.set(False)


def _port(arena: Arena) -> int:
    return int(arena.endpoints["api_url"].rsplit(":", 1)[1])


def _context(arena: Arena, version: ssl.TLSVersion, no_ticket: bool, verify: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=arena.endpoints["ca_cert"])
    context.minimum_version = context.maximum_version = version
    if no_ticket:
        context.options |= ssl.OP_NO_TICKET  # the server falls back to session ids
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _token_request(
    arena: Arena, context: ssl.SSLContext, tenant: TenantClient | None, session: ssl.SSLSession | None = None
) -> tuple[ssl.SSLSocket, bytes]:
    """A client-credentials request (journaled under `tenant`) over a connection of its own."""
    client = {"client_id": "x", "client_secret": "y"} if tenant is None else tenant.client
    credentials = f"{client['client_id']}:{client['client_secret']}"
    basic = base64.b64encode(credentials.encode()).decode()
    body = b"grant_type=client_credentials"
    request = (
        f"POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {basic}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    raw = socket.create_connection(("localhost", _port(arena)), timeout=10)
    tls = context.wrap_socket(raw, server_hostname="localhost", session=session)
    tls.sendall(request)
    answer = b""
    while chunk := tls.recv(65536):
        answer += chunk
    return tls, answer


def _session(arena: Arena, context: ssl.SSLContext) -> ssl.SSLSession:
    tls, _ = _token_request(arena, context, None)
    session = tls.session
    tls.close()
    assert session is not None
    return session


@pytest.mark.parametrize("kind", TLS_VERSIONS)
def test_a_session_from_the_sandbox_does_not_resume_into_the_impostor(
    arena: Arena, impostor: None, kind: str
) -> None:
    assert arena.impostor is not None
    version, no_ticket = TLS_VERSIONS[kind]
    context = _context(arena, version, no_ticket)
    session = _session(arena, context)
    again, _ = _token_request(arena, context, None, session)
    assert again.session_reused  # the sandbox itself resumes: that is the client's right
    session = again.session or session
    again.close()
    arena.impostor.set(True)
    with pytest.raises(ssl.SSLCertVerificationError):  # a full handshake, with his certificate
        _token_request(arena, context, None, session)
    arena.impostor.set(False)
    back, _ = _token_request(arena, context, None, session)
    back.close()  # and the sandbox's sessions are still the sandbox's once he is gone


@pytest.mark.parametrize("kind", TLS_VERSIONS)
def test_only_a_full_handshake_with_his_certificate_counts_as_his(
    arena: Arena, impostor: None, tenant: TenantClient, kind: str
) -> None:
    """A client that checks nothing talks to him: its resumption offer is refused, it sees his
    certificate, and its request is journaled as made over his connection; the same client's
    requests to the sandbox are not."""
    assert arena.impostor is not None
    version, no_ticket = TLS_VERSIONS[kind]
    careless = _context(arena, version, no_ticket, verify=False)
    session = _session(arena, careless)
    arena.impostor.set(True)
    tls, answer = _token_request(arena, careless, tenant, session)
    his = tls.getpeercert(binary_form=True)
    assert not tls.session_reused and answer.startswith(b"HTTP/1.1 ")
    tls.close()
    arena.impostor.set(False)
    tls, answer = _token_request(arena, careless, tenant, session)
    assert tls.getpeercert(binary_form=True) != his and answer.startswith(b"HTTP/1.1 ")
    tls.close()
    made = tenant.journal.entries(path="/oauth/token")
    assert [e.server_cert for e in made] == ["impostor", None]


def test_each_visit_is_a_new_identity(arena: Arena, impostor: None, tenant: TenantClient) -> None:
    """A session a careless client got from him is no use at his next visit either."""
    assert arena.impostor is not None
    careless = _context(arena, ssl.TLSVersion.TLSv1_3, False, verify=False)
    arena.impostor.set(True)
    first, _ = _token_request(arena, careless, tenant)
    session = first.session
    first.close()
    arena.impostor.set(False)
    arena.impostor.set(True)
    second, _ = _token_request(arena, careless, tenant, session)
    assert not second.session_reused
    second.close()


def test_a_kept_alive_connection_does_not_outlive_his_arrival(arena: Arena, impostor: None) -> None:
    assert arena.impostor is not None
    context = ssl.create_default_context(cafile=arena.endpoints["ca_cert"])
    with httpx.Client(base_url=arena.endpoints["api_url"], verify=context) as http:
        assert http.get("/v1/me").status_code == 401  # a connection, kept alive
        arena.impostor.set(True)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            http.get("/v1/me")  # the kept connection is gone: a new one meets him
        arena.impostor.set(False)
        assert http.get("/v1/me").status_code == 401


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command line (apt: openssl)")
def test_0rtt_is_refused_cleanly(arena: Arena, impostor: None, tmp_path: Path) -> None:
    """The sandbox's tickets allow no early data, so a client resuming with 0-RTT sends none and
    resumes; at the impostor the same offer ends in a full handshake that fails verification."""
    assert arena.impostor is not None
    request = tmp_path / "request"
    request.write_bytes(b"GET /v1/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    sess = tmp_path / "session.pem"

    def s_client(*extra: str, stdin: bytes = b"") -> str:
        done = subprocess.run(
            [
                *("openssl", "s_client", "-connect", f"localhost:{_port(arena)}", "-servername", "localhost"),
                *("-CAfile", arena.endpoints["ca_cert"], "-tls1_3", *extra),
            ],
            input=stdin,
            capture_output=True,
            timeout=30,
            check=False,
        )
        return done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")

    first = s_client("-sess_out", str(sess), "-ign_eof", stdin=request.read_bytes())
    assert "Max Early Data: 0" in first and "HTTP/1.1 401" in first
    resumed = s_client("-sess_in", str(sess), "-early_data", str(request))
    assert "Reused, TLSv1.3" in resumed and "Early data was not sent" in resumed
    assert "Verify return code: 0 (ok)" in resumed
    arena.impostor.set(True)
    met = s_client("-sess_in", str(sess), "-early_data", str(request))
    assert "New, TLSv1.3" in met and "Early data was not sent" in met
    assert "Verify return code: 0 (ok)" not in met
