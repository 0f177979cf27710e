"""Tenants: isolation, routing from credentials, seeding and reset."""

from __future__ import annotations

import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import SeedError
from mockwise._domain.tokens import TokenKind, TokenState


def test_tenants_get_unique_client_ids_and_fresh_secrets(sandbox: Sandbox) -> None:
    one, one_creds = sandbox.create_tenant()
    two, two_creds = sandbox.create_tenant()
    assert one_creds.clients[0]["client_id"] != two_creds.clients[0]["client_id"]
    assert one_creds.clients[0]["client_secret"] != two_creds.clients[0]["client_secret"]
    assert sandbox.tenant_for_client(one_creds.clients[0]["client_id"]) is one
    assert sandbox.tenant_for_client(two_creds.clients[0]["client_id"]) is two


def test_fixed_seed_keeps_the_fixture_credentials(sandbox: Sandbox) -> None:
    _, creds = sandbox.create_tenant("default", fixed=True)
    assert creds.clients[0]["client_id"] == "mockwise-partner"
    assert creds.personal_tokens[0]["token"] == "6a4f1c2e-93b7-4d2a-b8e5-0c7d9f3a1b24"


def test_tokens_route_to_their_tenant_and_clocks_are_separate(sandbox: Sandbox) -> None:
    one, one_creds = sandbox.create_tenant()
    two, _ = sandbox.create_tenant()
    issued = one.tokens.client_credentials(one.client(one_creds.clients[0]["client_id"]))
    assert sandbox.find_token(issued.access_value)[0] is one
    two.clock.advance(13 * 3600)
    assert one.tokens.lookup(issued.access_value)[1] is TokenState.VALID


def test_reset_returns_to_the_seeded_state(sandbox: Sandbox) -> None:
    tenant, creds = sandbox.create_tenant()
    client = tenant.client(creds.clients[0]["client_id"])
    issued = tenant.tokens.client_credentials(client)
    tenant.add_user("extra@example.com", "pw")
    tenant.clock.advance(3600)
    tenant.reclaim(creds.users[2]["email"])
    tenant.reset()
    assert tenant.tokens.lookup(issued.access_value)[1] is TokenState.UNKNOWN
    assert tenant.directory.by_email("extra@example.com") is None
    assert not tenant.user(creds.users[2]["email"]).reclaimed
    assert abs(tenant.clock.offset) < 1
    personal, state = tenant.tokens.lookup(creds.personal_tokens[0]["token"])
    assert state is TokenState.VALID and personal is not None and personal.kind is TokenKind.PERSONAL
    assert sandbox.tenant_for_client(client.client_id) is tenant


def test_delete_frees_the_routes(sandbox: Sandbox) -> None:
    _, creds = sandbox.create_tenant("doomed")
    value = creds.personal_tokens[0]["token"]
    sandbox.delete_tenant("doomed")
    assert sandbox.tenant_for_client(creds.clients[0]["client_id"]) is None
    assert sandbox.find_token(value) == (None, None)
    with pytest.raises(LookupError):
        sandbox.tenant("doomed")


def test_bad_tenant_ids_and_duplicates_are_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="tenant id"):
        sandbox.create_tenant("../etc")
    sandbox.create_tenant("twice")
    with pytest.raises(ValueError, match="already exists"):
        sandbox.create_tenant("twice")


def test_a_bad_seed_names_the_problem_and_leaves_nothing_behind(sandbox: Sandbox) -> None:
    with pytest.raises(SeedError, match="client_id"):
        sandbox.create_tenant("broken", seed={"clients": [{"name": "no id"}]})
    assert "broken" not in sandbox.tenants


def test_empty_tenant(sandbox: Sandbox) -> None:
    tenant, creds = sandbox.create_tenant(seed=False)
    assert creds.clients == [] and tenant.directory.users == {}
    made = tenant.add_client(redirect_uris=["https://partner.example/cb"])
    assert sandbox.tenant_for_client(made.client_id) is tenant
