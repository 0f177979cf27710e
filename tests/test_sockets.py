"""The protocol class (`mockwise._transport.sockets.WiseProtocol`) driven by hand on a recording
transport: how many writes an answer takes, and that what is written is the same answer."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from mockwise._domain.sandbox import MemoryStore, Sandbox
from mockwise._http.app import create_app
from mockwise._store import SqliteStore
from mockwise._transport.sockets import Listener, _protocol_for


class Recording(asyncio.Transport):
    """A transport that keeps every write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8443)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def exchange(app: Any, request: bytes, answers: int = 1) -> list[bytes]:
    """The writes the protocol makes for `request` (`answers` answers expected)."""
    config = uvicorn.Config(app, lifespan="off", access_log=False, server_header=False, date_header=True)
    config.load()
    protocol = _protocol_for(Listener("api"))(
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )
    transport = Recording()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(200):
        if b"".join(transport.writes).count(b"HTTP/1.1 ") >= answers and not protocol.tasks:
            break
        await asyncio.sleep(0.005)
    protocol.connection_lost(None)
    return transport.writes


@pytest.fixture(params=["memory", "sqlite"])
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sandbox]:
    store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "state.db")
    sandbox = Sandbox(store=store)
    yield sandbox
    sandbox.close()


def token_request(sandbox: Sandbox, method: str = "POST") -> bytes:
    _, creds = sandbox.create_tenant()
    client = creds.clients[0]
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    body = b"grant_type=client_credentials"
    return (
        f"{method} /oauth/token HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def test_an_answer_is_one_write_head_and_body_together(sandbox: Sandbox) -> None:
    writes = asyncio.run(exchange(create_app(sandbox), token_request(sandbox)))
    assert len(writes) == 1, writes
    head, _, body = writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"x-trace-id: " in head and b"content-type: application/json" in head
    assert body.startswith(b'{"access_token":')
    assert f"content-length: {len(body)}\r\n".encode() in head + b"\r\n"


def test_a_refusal_is_one_write_too(sandbox: Sandbox) -> None:
    request = b"GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n"
    writes = asyncio.run(exchange(create_app(sandbox), request))
    assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 401 "), writes
    assert writes[0].endswith(b"}")


def test_pipelined_requests_get_one_write_each_in_order(sandbox: Sandbox) -> None:
    request = token_request(sandbox)
    writes = asyncio.run(exchange(create_app(sandbox), request * 3, answers=3))
    assert len(writes) == 3 and all(w.startswith(b"HTTP/1.1 200 OK") for w in writes), writes


def test_a_head_request_gets_its_head_alone() -> None:
    sandbox = Sandbox(store=MemoryStore())
    writes = asyncio.run(exchange(create_app(sandbox), b"HEAD /v1/me HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert len(writes) == 1 and writes[0].endswith(b"\r\n\r\n"), writes
