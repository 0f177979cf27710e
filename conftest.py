"""Fixtures shared by mockwise's own tests: an in-memory sandbox, a tenant, and an in-process
HTTP client talking to the ASGI app (no sockets)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._transport.inprocess import SyncASGITransport

API = "https://api.wise-sandbox.com"


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.fixture
def seeded(sandbox: Sandbox) -> tuple[Tenant, Credentials]:
    return sandbox.create_tenant()


@pytest.fixture
def tenant(seeded: tuple[Tenant, Credentials]) -> Tenant:
    return seeded[0]


@pytest.fixture
def creds(seeded: tuple[Tenant, Credentials]) -> Credentials:
    return seeded[1]


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url=API) as client:
        yield client


if os.environ.get("MOCKWISE_TEST_STORE"):  # every sandbox in a state store, checked after each test

    @pytest.fixture(autouse=True)
    def _state_store_check(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        from tests.statecheck import install_store_check

        check, uninstall = install_store_check(tmp_path_factory.mktemp("stores"))
        try:
            yield
        finally:
            uninstall()
        problems = check()
        assert not problems, "changes a crash would lose:\n" + "\n".join(problems)
