"""The transport's limits over real sockets: stalled clients are dropped in bounded time without
holding the server, oversized or malformed requests get Wise-style JSON, and what reaches the app
is journaled. The server runs with a short request timeout so the tests take a second, not 20."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.settings import Limits
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._transport.sockets import MAX_REQUEST_HEAD, Listener
from tests.helpers import partner, serving

TIMEOUT = 0.4  # the server's request timeout in these tests
BOUND = 3.0  # how long a test waits, at most, for the server to give up on a client


@dataclass
class Server:
    host: str
    port: int
    url: str
    sandbox: Sandbox


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    sandbox = Sandbox()
    listener = Listener("api")
    with serving(create_app(sandbox), listener, request_timeout=TIMEOUT):
        yield Server(listener.host, listener.port, listener.url, sandbox)


@pytest.fixture
def sandbox(server: Server) -> Sandbox:
    """conftest's tenant and creds, on the served sandbox."""
    return server.sandbox


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=BOUND)
    return sock


def read_all(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    began = time.monotonic()
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data, time.monotonic() - began
        data += chunk


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def token_request(
    creds: Credentials, body: bytes = b"grant_type=client_credentials", length: int | None = None
) -> bytes:
    client_id, secret = partner(creds)
    auth = httpx.BasicAuth(client_id, secret)._auth_header
    head = (
        f"POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    return head.encode() + body


@pytest.mark.parametrize(
    "partial",
    [b"POST /oauth/tok", b"POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Ty"],
    ids=["half a request line", "half the headers"],
)
def test_a_client_stalling_mid_request_gets_a_408_and_is_dropped(server: Server, partial: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(partial)
        answer, waited = read_all(sock)
    status, headers, body = parse(answer)
    assert (
        status == 408 and headers["connection"] == "close" and headers["content-type"] == "application/json"
    )
    assert json.loads(body)["error"] == "Request Timeout" and json.loads(body)["status"] == 408
    assert TIMEOUT * 0.8 <= waited < BOUND


def test_a_stalled_body_is_a_408_in_the_journal(server: Server, seeded: tuple[Tenant, Credentials]) -> None:
    tenant, creds = seeded
    with connect(server) as sock:
        sock.sendall(token_request(creds, b"grant_type=cli", length=100))  # 14 of 100 bytes, then silence
        answer, waited = read_all(sock)
    status, _, body = parse(answer)
    assert status == 408 and json.loads(body)["path"] == "/oauth/token"
    assert waited < BOUND
    # Its Basic credentials name the tenant (the edge reads them before the body): it is in the
    # tenant's journal, as every request its credentials identify.
    journal = tenant.journal
    deadline = time.monotonic() + BOUND
    while not journal.select(status=408) and time.monotonic() < deadline:
        time.sleep(0.01)  # the route finishes (and the edge journals it) just after the answer left
    [entry] = journal.select(status=408)
    assert entry.path == "/oauth/token" and entry.error == "Request Timeout"


def test_an_idle_connection_is_closed_without_an_answer(server: Server) -> None:
    with connect(server) as sock:
        answer, waited = read_all(sock)
    assert answer == b"" and waited < BOUND


def test_stalled_clients_do_not_hold_the_server(sandbox: Sandbox, seeded: tuple[Tenant, Credentials]) -> None:
    """Twenty clients stall mid-request; others are served meanwhile, before the stalled ones are
    dropped (a server of its own, with a timeout long enough for a loaded machine)."""
    _, creds = seeded
    listener = Listener("api")
    with serving(create_app(sandbox), listener, request_timeout=30):
        server = Server(listener.host, listener.port, listener.url, sandbox)
        stalled = [connect(server) for _ in range(20)]
        try:
            for sock in stalled:
                sock.sendall(b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n")
            with httpx.Client(base_url=server.url) as http:
                for _ in range(5):
                    response = http.post(
                        "/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"}
                    )
                    assert response.status_code == 200
            for sock in stalled:  # still waiting for their requests: nothing was answered or closed
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):
                    sock.recv(1)
        finally:
            for sock in stalled:
                sock.close()


def test_a_kept_alive_connection_outlives_the_request_timeout(
    server: Server, seeded: tuple[Tenant, Credentials]
) -> None:
    """The timeout bounds a request in flight; between requests, uvicorn's keep-alive (30 s) rules."""
    _, creds = seeded
    with httpx.Client(base_url=server.url) as http:
        grant = {"grant_type": "client_credentials"}
        first = http.post("/oauth/token", auth=partner(creds), data=grant)
        time.sleep(TIMEOUT * 2)  # idle on the same connection: a real-time socket timeout, not expiry
        second = http.post("/oauth/token", auth=partner(creds), data=grant)
    assert first.status_code == second.status_code == 200
    assert first.extensions["network_stream"] is second.extensions["network_stream"]


def test_headers_past_the_transport_cap_get_a_431_before_the_request_is_whole(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /v1/me HTTP/1.1\r\nHost: x\r\n")
        try:
            for n in range(MAX_REQUEST_HEAD // 1000 + 2):
                sock.sendall(f"X-Flood-{n}: ".encode() + b"a" * 1000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close before the flood is sent
        answer, _ = read_all(sock)
    status, headers, body = parse(answer)
    assert status == 431 and headers["connection"] == "close"
    error = json.loads(body)
    assert error["error"] == "Request Header Fields Too Large" and error["path"] == "/v1/me"


def test_large_headers_that_reach_the_app_get_a_journaled_431(
    server: Server, seeded: tuple[Tenant, Credentials]
) -> None:
    tenant, creds = seeded
    with httpx.Client(base_url=server.url) as http:
        response = http.post(
            "/oauth/token",
            auth=partner(creds),
            data={"grant_type": "client_credentials"},
            headers={"X-Padding": "p" * (Limits().max_header_bytes + 1)},
        )
    assert response.status_code == 431
    assert (
        response.json()["error"] == "Request Header Fields Too Large"
        and response.json()["path"] == "/oauth/token"
    )
    assert any(e.status == 431 and e.error == "header_fields_too_large" for e in tenant.journal)


def test_a_malformed_request_gets_json_not_plain_text(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /v1/me HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n")
        answer, _ = read_all(sock)
    status, headers, body = parse(answer)
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "Bad Request"


def test_a_chunked_body_past_the_limit_is_413(server: Server, seeded: tuple[Tenant, Credentials]) -> None:
    _, creds = seeded

    def chunks() -> Iterator[bytes]:
        yield b"grant_type=client_credentials&pad="
        for _ in range(20):
            yield b"x" * 8192

    with httpx.Client(base_url=server.url) as http:
        response = http.post(
            "/oauth/token",
            auth=partner(creds),
            content=chunks(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 413 and response.json()["error"] == "Request Entity Too Large"


def split_answers(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Consecutive HTTP/1.1 answers with a content-length, as a client reads them off one socket."""
    answers = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        status, headers, _ = parse(head + b"\r\n\r\n")
        length = int(headers["content-length"])
        answers.append((status, headers, rest[:length]))
        data = rest[length:]
    return answers


def test_a_request_pipelined_before_a_malformed_one_gets_its_answer(
    server: Server, seeded: tuple[Tenant, Credentials]
) -> None:
    """Issue 15 item 8: the token was minted and journaled as 200, but the connection closed with
    only the 400. Now the 200 leaves first, then the 400 and the close."""
    tenant, creds = seeded
    with connect(server) as sock:
        sock.sendall(token_request(creds) + token_request(creds) + b"\x00\x01 not http\r\n\r\n")
        answer, _ = read_all(sock)
    answers = split_answers(answer)
    assert [status for status, _, _ in answers] == [200, 200, 400]
    tokens = [json.loads(body)["access_token"] for _, _, body in answers[:2]]
    assert answers[2][1]["connection"] == "close" and json.loads(answers[2][2])["error"] == "Bad Request"
    deadline = time.monotonic() + BOUND
    while len(tenant.journal.select(path="/oauth/token")) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    issued = [e.issued for e in tenant.journal.select(path="/oauth/token", status=200)]
    assert issued == [tenant.store.find(t).id for t in tokens]  # the journal says what the client got


def test_a_request_broken_mid_body_behind_another_never_runs(
    server: Server, seeded: tuple[Tenant, Credentials]
) -> None:
    tenant, creds = seeded
    broken = token_request(creds).replace(b"Content-Length: 29", b"Transfer-Encoding: chunked")
    with connect(server) as sock:
        sock.sendall(token_request(creds) + broken.replace(b"grant_type", b"zz\r\ngrant_type"))
        answer, _ = read_all(sock)
    assert [status for status, _, _ in split_answers(answer)] == [200, 400]
    time.sleep(TIMEOUT)  # nothing else may turn up: a real-time wait, not an expiry
    assert [e.status for e in tenant.journal.select(path="/oauth/token")] == [200]


@pytest.fixture(scope="module")
def tls_server() -> Iterator[Server]:
    sandbox = Sandbox()
    listener = Listener("api", ssl=sandbox.pki.server_context("none"))
    with serving(create_app(sandbox), listener, request_timeout=TIMEOUT):
        yield Server(listener.host, listener.port, listener.url, sandbox)


@pytest.mark.parametrize("sent", [b"", b"\x16\x03\x01\x02\x00\x01"], ids=["nothing", "half a hello"])
def test_a_socket_that_never_starts_tls_is_closed_within_the_request_timeout(
    tls_server: Server, sent: bytes
) -> None:
    """Issue 15 item 11: such sockets were held ~58 s (asyncio's 60 s handshake timeout)."""
    with connect(tls_server) as sock:
        sock.sendall(sent)
        answer, waited = read_all(sock)
    assert answer == b"" and waited < BOUND
