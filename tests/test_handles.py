"""One vocabulary for a tenant (mockwise/testing/_handles.py): the in-process `Tenant` and the HTTP
`TenantClient` answer the same scenario list the same way, from the one registry."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.scenarios import SCENARIOS
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._transport.inprocess import SyncASGITransport
from mockwise.testing import WiseSandbox
from mockwise.testing._client import SandboxClient, TenantClient
from mockwise.testing._handles import TenantHandle
from tests.helpers import client_credentials, created_user, registration_tokens

Pair = tuple[TenantHandle, Credentials, Tenant]


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.fixture
def control(sandbox: Sandbox) -> Iterator[SandboxClient]:
    with SandboxClient("http://sandbox", transport=SyncASGITransport(create_app(sandbox))) as client:
        yield client


def in_process(sandbox: Sandbox, control: SandboxClient) -> Pair:
    tenant, creds = sandbox.create_tenant()
    return tenant, creds, tenant


def over_http(sandbox: Sandbox, control: SandboxClient) -> Pair:
    client = control.create_tenant()
    creds = Credentials(client.id, client.credentials["clients"], client.credentials["users"])
    return client, creds, sandbox.tenant(client.id)


def args_for(name: str, creds: Credentials) -> dict[str, Any]:
    created = created_user(creds)
    values = {
        "user": created["email"],
        "client_id": creds.clients[0]["client_id"],
        "email": "new@example.com",
    }
    return {p.name: values[p.name] for p in SCENARIOS[name].params if p.required}


def story(
    make: Callable[[Sandbox, SandboxClient], Pair], sandbox: Sandbox, control: SandboxClient, name: str
) -> Any:
    """Issue the same tokens, run scenario `name`, and describe what it did (ids differ by tenant)."""
    handle, creds, tenant = make(sandbox, control)
    with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="http://sandbox") as api:
        client_credentials(api, creds)
        registration_tokens(api, creds)
    answer = getattr(handle, SCENARIOS[name].method)(**args_for(name, creds))
    kinds = {t.id: t.kind.value for t in tenant.store}
    states = sorted((t.kind.value, t.state(tenant.clock.now()).value) for t in tenant.store)
    if isinstance(answer, str):
        return "a new secret", states
    assert all(isinstance(i, str) for i in answer)
    return sorted(kinds[i] for i in answer), states


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_scenario_does_the_same_in_process_and_over_http(
    sandbox: Sandbox, control: SandboxClient, name: str
) -> None:
    assert story(in_process, sandbox, control, name) == story(over_http, sandbox, control, name)


@pytest.mark.parametrize("handle", [Tenant, TenantClient, WiseSandbox])
def test_every_scenario_of_the_registry_is_a_method_with_its_parameters(handle: type) -> None:
    for scenario in SCENARIOS.values():
        method = getattr(handle, scenario.method)
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        assert params == [p.name for p in scenario.params], (handle.__name__, scenario.name)


def test_journal_and_link_speak_the_same_words(sandbox: Sandbox, control: SandboxClient) -> None:
    for handle, _, _ in (in_process(sandbox, control), over_http(sandbox, control)):
        assert handle.journal.select(since=0) == []
        assert inspect.signature(handle.link).parameters.keys() >= {"email", "password", "profile_id"}
