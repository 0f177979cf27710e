"""One vocabulary for a tenant (mockwise/testing/_handles.py): the in-process `Tenant`, the HTTP
`TenantClient` and the pytest fixture's `WiseSandbox` take their scenarios from one declaration
(`mockwise._domain.scenarios.ScenarioHandle`) and answer them the same way."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.scenarios import SCENARIOS, ScenarioHandle, Scenarios
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
    answer = getattr(handle, name)(**args_for(name, creds))
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


HANDLES = [Tenant, TenantClient, WiseSandbox]


@pytest.mark.parametrize("handle", HANDLES)
def test_every_handle_takes_its_scenarios_from_the_declaration(handle: type) -> None:
    assert ScenarioHandle in handle.__mro__
    for name in SCENARIOS:
        assert getattr(handle, name) is getattr(ScenarioHandle, name), (handle.__name__, name)


class Recorder(ScenarioHandle):
    def __init__(self) -> None:
        self.runs: list[tuple[str, dict[str, Any]]] = []

    def _run_scenario(self, name: str, params: Mapping[str, Any]) -> list[str] | str:
        self.runs.append((name, dict(params)))
        return "secret" if SCENARIOS[name].answers == "client_secret" else ["t1"]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_declaration_runs_its_own_name_with_all_its_parameters(name: str) -> None:
    recorder = Recorder()
    values = {p.name: f"<{p.name}>" for p in SCENARIOS[name].params}
    answer = getattr(recorder, name)(**values)
    assert recorder.runs == [(name, values)]
    assert answer == ("secret" if SCENARIOS[name].answers == "client_secret" else ["t1"])


def test_the_registry_is_read_off_the_declarations() -> None:
    declared = [n for n, f in vars(ScenarioHandle).items() if callable(f) and not n.startswith("_")]
    assert list(SCENARIOS) == declared and len(declared) == 7
    for scenario in SCENARIOS.values():
        signature = inspect.signature(getattr(ScenarioHandle, scenario.name))
        assert [p.name for p in scenario.params] == [p for p in signature.parameters if p != "self"]
        assert scenario.doc and all(p.doc for p in scenario.params), scenario.name  # each documented
    assert [p.kind for p in SCENARIOS["revoke_access"].params] == [(int, str), (str,)]
    assert [p.required for p in SCENARIOS["rotate_secret"].params] == [True, False]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_domain_service_does_each_declared_scenario_by_its_parameters(name: str) -> None:
    service = inspect.signature(getattr(Scenarios, name)).parameters
    assert [p for p in service if p != "self"] == [p.name for p in SCENARIOS[name].params]


def test_journal_and_link_speak_the_same_words(sandbox: Sandbox, control: SandboxClient) -> None:
    for handle, _, _ in (in_process(sandbox, control), over_http(sandbox, control)):
        assert handle.journal.select(since=0) == []
        assert inspect.signature(handle.link).parameters.keys() >= {"email", "password", "profile_id"}
