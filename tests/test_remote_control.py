"""The control plane over a real socket from a non-loopback address: refused without the admin
token, open with it, while the data plane answers everyone. The server binds this machine's own
non-loopback address, so the request's peer address is not 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._http.app import create_app
from mockwise._transport.sockets import Listener
from tests.helpers import serving

ADMIN = "remote-admin-token"


def own_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (the one a default route would use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent by a UDP connect
            address: str = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.fixture(scope="module", params=[None, ADMIN], ids=["no admin token", "admin token"])
def remote(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    address = own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    listener = Listener("api", host=address)
    with serving(create_app(Sandbox(), admin_token=request.param), listener):
        yield listener.url, request.param


def test_the_control_plane_needs_the_admin_token_off_loopback(remote: tuple[str, str | None]) -> None:
    url, admin = remote
    with httpx.Client(base_url=url) as http:
        bare = http.get("/_mockwise/tenants")
        assert bare.status_code == 403 and bare.json()["error"] == "forbidden"
        wrong = http.get("/_mockwise/tenants", headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 403
        right = http.get("/_mockwise/tenants", headers={"Authorization": f"Bearer {ADMIN}"})
        assert right.status_code == (200 if admin else 403)
        # State-changing routes too, not only reads
        made = http.post("/_mockwise/tenants", json={})
        assert made.status_code == 403


def test_the_data_plane_answers_any_address(remote: tuple[str, str | None]) -> None:
    url, _ = remote
    with httpx.Client(base_url=url) as http:
        answer = http.post(
            "/oauth/token", auth=("nobody", "nothing"), data={"grant_type": "client_credentials"}
        )
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
