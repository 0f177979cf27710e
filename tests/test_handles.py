"""One vocabulary for a tenant (mockwise/testing/_handles.py): the in-process `Tenant`, the HTTP
`TenantClient` and the pytest fixture's `WiseSandbox` take their scenarios from one declaration
(`mockwise._domain.scenarios.ScenarioHandle`) and answer them the same way."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from typing import Any

import httpx
import pytest

from mockwise._domain.faults import FaultKind
from mockwise._domain.linking import LinkOptions
from mockwise._domain.model import ProfileType
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.scenarios import SCENARIOS, ScenarioHandle, Scenarios
from mockwise._domain.seed import Credentials
from mockwise._domain.settings import Settings
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._transport.inprocess import SyncASGITransport
from mockwise.testing import WiseSandbox, WiseServer
from mockwise.testing._client import ControlPlaneError, SandboxClient, TenantClient
from mockwise.testing._handles import TenantHandle
from tests.helpers import client_credentials, created_user, registration_tokens
from tests.linking import ALEX, PASSWORD, authorize_url, query_of

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


OPENED: list[WiseSandbox] = []


@pytest.fixture(autouse=True)
def _close_wise_sandboxes() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def in_pytest(sandbox: Sandbox, control: SandboxClient) -> Pair:
    """The pytest fixture's handle, on a server that is this in-process app (no sockets)."""
    server = WiseServer(control, api_url="http://sandbox", mtls_api_url="http://sandbox", ca_cert="")
    handle = WiseSandbox(server, control.create_tenant())
    OPENED.append(handle)
    creds = Credentials(handle.id, handle.credentials["clients"], handle.credentials["users"])
    return handle, creds, sandbox.tenant(handle.id)


MAKERS = [in_process, over_http, in_pytest]


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
def test_each_scenario_does_the_same_on_every_handle(
    sandbox: Sandbox, control: SandboxClient, name: str
) -> None:
    stories = [story(make, sandbox, control, name) for make in MAKERS]
    assert stories[0] == stories[1] == stories[2]


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


# The same names and the same shapes on every handle ------------------------------------------------


@pytest.fixture(params=MAKERS, ids=lambda make: make.__name__)
def handle(request: pytest.FixtureRequest, sandbox: Sandbox, control: SandboxClient) -> Pair:
    made: Pair = request.param(sandbox, control)
    return made


def test_users_and_profiles(handle: Pair) -> None:
    tenant_handle, _, tenant = handle
    user = tenant_handle.add_user("new.user@example.com", "pw-12345678", date_of_birth=date(1990, 2, 3))
    assert isinstance(user.id, int) and user.email == "new.user@example.com" and user.country == "GB"
    assert user.date_of_birth == date(1990, 2, 3) and list(user.profiles) == []
    assert not user.created_over_api and user.created_by_client is None and user.two_factor
    profile = tenant_handle.add_profile(user, "business", business_name="New Ltd", balances=[("EUR", 5.0)])
    assert (
        profile.user_id == user.id and profile.type is ProfileType.BUSINESS and profile.full_name == "New Ltd"
    )
    assert [(b.currency, b.amount) for b in profile.balances] == [("EUR", 5.0)]
    for ref in (user.id, user.email, user):
        found = tenant_handle.user(ref)
        assert (found.id, found.email, list(found.profiles)) == (user.id, user.email, [profile.id])
    assert tenant.directory.profiles_of(tenant.user(user.id))[0].business_name == "New Ltd"
    token = tenant_handle.add_personal_token(user.email)
    assert any(t.kind.value == "personal" and t.user_id == user.id for t in tenant.live_tokens()) and token
    with pytest.raises((LookupError, ControlPlaneError)):
        tenant_handle.user("nobody@example.com")


def test_clients_and_certificates(handle: Pair) -> None:
    tenant_handle, _, tenant = handle
    client = tenant_handle.add_client("shape-client", name="Shape", redirect_uris=["https://x.example/cb"])
    assert (client.client_id, list(client.redirect_uris)) == ("shape-client", ["https://x.example/cb"])
    assert client.client_secret and tenant.client("shape-client").name == "Shape"
    issued = tenant_handle.certificates.issue("shape-client")
    assert issued.cert_pem.startswith("-----BEGIN CERTIFICATE") and "PRIVATE KEY" in issued.key_pem
    assert issued.certificate is not None and issued.certificate.fingerprint == issued.fingerprint
    now = tenant.clock.now()
    assert issued.certificate.state(now).value == "active" and issued.certificate.client_id == "shape-client"
    assert [c.fingerprint for c in tenant_handle.certificates.of_client("shape-client")] == [
        issued.fingerprint
    ]
    revoked = tenant_handle.certificates.revoke(issued.fingerprint)
    assert revoked.state(now).value == "revoked" and revoked.revoked_at is not None
    other = tenant_handle.certificates.issue("shape-client", variant="other_ca")
    assert other.certificate is None and other.fingerprint not in {c.fingerprint for c in tenant.certificates}
    tenant_handle.certificates.enforce("shape-client", True)
    assert tenant.client("shape-client").mtls_enforced


def test_faults(handle: Pair) -> None:
    tenant_handle, _, tenant = handle
    fault = tenant_handle.faults.add("rate_limited", path="/oauth/token", times=2, retry_after=3)
    assert fault.kind is FaultKind.RATE_LIMITED and fault.times == 2 and fault.retry_after == 3
    assert fault.path == "/oauth/token" and fault.fired == 0 and not fault.exhausted
    assert [f.id for f in tenant_handle.faults] == [fault.id] == [f.id for f in tenant.faults]
    tenant_handle.faults.remove(fault.id)
    tenant_handle.faults.add("server_error")
    tenant_handle.faults.clear()
    assert list(tenant_handle.faults) == []


def test_settings_clock_and_reset(handle: Pair) -> None:
    tenant_handle, _, tenant = handle
    assert tenant_handle.settings == Settings()
    changed = tenant_handle.configure({"oauth.refresh_token_rotation": True, "sca.pin": "9876"})
    assert isinstance(changed, Settings) and changed == tenant.settings == tenant_handle.settings
    assert changed["sca.pin"] == "9876" and changed.oauth.refresh_token_rotation
    frozen = tenant_handle.clock.freeze()
    assert tenant_handle.clock.advance(30, minutes=2, hours=1) == frozen + 3750 == tenant.clock.now()
    tenant_handle.reset()
    assert tenant.settings == Settings() and abs(tenant.clock.offset) < 5 and not tenant.clock.frozen


def test_link_takes_the_email_by_position_or_by_name(handle: Pair) -> None:
    tenant_handle, creds, _ = handle
    url = authorize_url(creds, state="s1")
    by_position = tenant_handle.link(url, ALEX, password=PASSWORD)
    by_name = tenant_handle.link(url, email=ALEX, password=PASSWORD, approve=False)
    assert query_of(by_position)["state"] == "s1" and "code" in query_of(by_position)
    assert query_of(by_name)["error"] == "access_denied"


def test_over_http_the_password_defaults_to_the_seeded_one(control: SandboxClient) -> None:
    tenant_handle = control.create_tenant()
    creds = Credentials(tenant_handle.id, tenant_handle.credentials["clients"], tenant_handle.users)
    assert "code" in query_of(tenant_handle.link(authorize_url(creds), ALEX))
    added = tenant_handle.add_user("added@example.com", "pw-added-123")
    assert added.password == "pw-added-123" and "pw-added" not in repr(added)
    tenant_handle.add_profile(added)
    assert "code" in query_of(tenant_handle.link(authorize_url(creds), "added@example.com"))


def test_records_answer_the_json_they_came_from_for_one_release(control: SandboxClient) -> None:
    tenant_handle = control.create_tenant()
    fault = tenant_handle.faults.add("delay", seconds=0.5)
    assert fault["id"] == fault.id and fault["kind"] == "delay" and fault.get("nope") is None
    client = tenant_handle.add_client(name="old")
    assert client["client_id"] == client.client_id and client["redirect_uris"] == []
    user = tenant_handle.user(ALEX)
    assert user["password"] == PASSWORD and user["profiles"][0]["id"] == user.profiles[0]
    assert user["date_of_birth"] == user.date_of_birth.isoformat()  # type: ignore[union-attr]
    with pytest.warns(DeprecationWarning, match="certificates.issue"):
        issued = tenant_handle.issue_certificate(tenant_handle.client["client_id"])
    assert issued["private_key"] == issued.key_pem


def test_a_user_seeded_here_is_found_by_their_seeded_email_for_one_release(control: SandboxClient) -> None:
    tenant_handle = control.create_tenant()
    alex = tenant_handle.user(ALEX)
    tenant_handle.change_email(alex, "alex.new@example.com")
    found = tenant_handle.user(ALEX)  # as the seed's record used to be
    assert (found.id, found.email, found.password) == (alex.id, "alex.new@example.com", PASSWORD)
    with pytest.raises(ControlPlaneError, match="404"):
        tenant_handle.user("never.seeded@example.com")


def test_wise_sandbox_is_its_tenant_client(sandbox: Sandbox, control: SandboxClient) -> None:
    wise, _, _ = in_pytest(sandbox, control)
    assert isinstance(wise, TenantClient)
    with pytest.warns(DeprecationWarning, match="the sandbox is the tenant"):
        assert wise.tenant is wise  # type: ignore[attr-defined]


def test_the_journal_speaks_the_same_words(handle: Pair, sandbox: Sandbox) -> None:
    tenant_handle, creds, _ = handle
    assert tenant_handle.journal.select(since=0) == []
    with httpx.Client(transport=SyncASGITransport(create_app(sandbox)), base_url="http://sandbox") as api:
        client_credentials(api, creds)
    [entry] = tenant_handle.journal.assert_request_made(path="/oauth/token", grant_type="client_credentials")
    assert entry.status == 200 and tenant_handle.journal.select(since=entry.seq) == []
    tenant_handle.journal.assert_no_request(path="/v1/me")
    tenant_handle.journal.clear()
    assert tenant_handle.journal.select() == []


def test_link_keywords_are_written_once() -> None:
    """`link` on every handle takes `LinkOptions` (one TypedDict) after the URL and the e-mail."""
    for owner in (Tenant, TenantClient, WiseSandbox, TenantHandle):
        parameters = inspect.signature(owner.link).parameters
        assert list(parameters) == ["self", "authorize_url", "email", "options"], owner
    assert set(LinkOptions.__annotations__) == {"password", "approve", "otp", "profile_id"}
