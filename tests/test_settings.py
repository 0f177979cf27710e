"""The tenant's `Settings` (mockwise/_domain/settings.py): one object, dotted keys, part of the seed,
and every setting acted on: each has a test (here or beside the behaviour it changes) that fails if
the sandbox ignored it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.sca import ScaAction
from mockwise._domain.seed import Credentials
from mockwise._domain.settings import Settings
from mockwise._domain.tenant import Tenant
from tests.helpers import bearer, code_tokens, created_user, partner, registration_tokens
from tests.linking import ALEX, PASSWORD, authorize_url, query_of

TESTS = Path(__file__).resolve().parent
C = "/_mockwise"


def _tested(key: str, files: dict[Path, str]) -> bool:
    """A key is tested where a test names it: by dotted key, or by its field name in the tests of
    its own section (`tests/**/test_ratelimit.py` for `rate_limits`)."""
    section, _, name = key.partition(".")
    for path, text in files.items():
        if key in text:
            return True
        if section.replace("_", "").rstrip("s") in path.stem and re.search(rf"\b{name}\b", text):
            return True
    return False


def test_every_setting_has_a_test() -> None:
    files = {p: p.read_text(encoding="utf-8") for p in TESTS.rglob("test_*.py")}
    files[Path(__file__)] = files[Path(__file__)].split("def test_every_setting_has_a_test", 1)[1]
    assert [key for key in Settings().as_dict() if not _tested(key, files)] == []


# Settings as one object ----------------------------------------------------------------------


def test_apply_takes_dotted_keys_and_refuses_all_or_nothing() -> None:
    settings = Settings().apply({"oauth.refresh_token_rotation": True, "sca.pin": "9876"})
    assert settings.oauth.refresh_token_rotation and settings.sca.pin == "9876"
    with pytest.raises(ValueError, match="unknown setting"):
        settings.apply({"sca.pin": "1", "oauth.nope": 1})
    with pytest.raises(ValueError, match="must be bool"):
        settings.apply({"oauth.refresh_token_rotation": "yes"})
    assert settings.sca.pin == "9876"  # immutable: a refused change changes nothing


def test_reset_restores_the_seeded_settings(tenant: Tenant) -> None:
    tenant.configure({"oauth.token_response_fields": "legacy"})
    tenant.reset()
    assert tenant.settings == Settings()


def test_a_seed_carries_settings_and_reset_keeps_them() -> None:
    tenant, _ = Sandbox().create_tenant(seed={"clients": [], "settings": {"sca.pin": "2468"}})
    assert tenant.settings.sca.pin == "2468"
    tenant.configure({"sca.pin": "1111"})
    tenant.reset()
    assert tenant.settings.sca.pin == "2468"


def test_one_patch_over_http_with_dotted_keys(api: httpx.Client, tenant: Tenant) -> None:
    base = f"{C}/tenants/{tenant.id}/settings"
    shown = api.get(base).json()
    assert (
        shown["oauth.refresh_token_rotation"]["value"] is False
        and "Spring" in shown["oauth.refresh_token_rotation"]["doc"]
    )
    changed = api.patch(base, json={"oauth.refresh_token_rotation": True, "rate_limits.per_second": 7})
    assert changed.status_code == 200 and changed.json()["rate_limits.per_second"]["value"] == 7
    refused = api.patch(base, json={"rate_limits.per_second": 0, "sca.pin": "5555"})
    assert refused.status_code == 400 and "per_second" in refused.json()["message"]
    assert tenant.settings.sca.pin == "1234" and tenant.settings.rate_limits.per_second == 7
    # the rate limits' own view reads and writes the same object
    assert api.get(f"{C}/tenants/{tenant.id}/rate-limits").json()["per_second"] == 7


# Settings that had no test of their own ---------------------------------------------------------


def _link(api: httpx.Client, tenant: Tenant, creds: Credentials, profile: int) -> dict[str, str]:
    redirect = tenant.link(authorize_url(creds), email=ALEX, password=PASSWORD, profile_id=profile)
    tokens: dict[str, str] = code_tokens(api, creds, query_of(redirect)["code"])
    return tokens


@pytest.mark.parametrize("per_profile", [True, False])
def test_link_per_profile(api: httpx.Client, tenant: Tenant, creds: Credentials, per_profile: bool) -> None:
    tenant.configure({"oauth.link_per_profile": per_profile})
    personal, business = (p.id for p in tenant.directory.profiles_of(tenant.user(ALEX)))
    first = _link(api, tenant, creds, personal)
    _link(api, tenant, creds, business)  # the same user links another profile
    again = api.post(
        "/oauth/token",
        auth=partner(creds),
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    # per profile: the first profile's refresh token lives on; per user: the new grant replaced it
    assert again.status_code == (200 if per_profile else 400)


@pytest.mark.parametrize("survives", [True, False])
def test_refresh_survives_reclaim(
    api: httpx.Client, tenant: Tenant, creds: Credentials, survives: bool
) -> None:
    tenant.configure({"oauth.refresh_survives_reclaim": survives})
    user = created_user(creds)
    tokens = registration_tokens(api, creds)
    tenant.reclaim(user["email"])
    refreshed = api.post(
        "/oauth/token",
        auth=partner(creds),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == (200 if survives else 400)


def test_access_denied_description(tenant: Tenant, creds: Credentials) -> None:
    tenant.configure({"authorize.access_denied_description": "The customer said no"})
    denied = tenant.link(authorize_url(creds, state="s"), email=ALEX, password=PASSWORD, approve=False)
    assert query_of(denied) == {
        "error": "access_denied",
        "error_description": "The customer said no",
        "state": "s",
    }


def test_high_risk_challenges_and_one_time_token_lifetime(tenant: Tenant, creds: Credentials) -> None:
    tenant.configure({"sca.high_risk_challenges": "SMS", "sca.one_time_token_lifetime": 60})
    tenant.clock.freeze()
    alex = tenant.user(ALEX)
    _, ott = tenant.sca.issue(alex, 1, ScaAction.TRANSFER__FUND)
    assert [c.primary.value for c in ott.challenges] == ["SMS"]
    assert ott.properties("v")["validity"] == 60 and ott.expires_at - ott.issued_at == 60


def test_limits_max_body(api: httpx.Client, tenant: Tenant, creds: Credentials) -> None:
    tenant.configure({"limits.max_body": 2048})
    padded = {"grant_type": "client_credentials", "pad": "x" * 3000}
    assert api.post("/oauth/token", auth=partner(creds), data=padded).status_code == 413
    assert (
        api.post("/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"}).status_code
        == 200
    )


def test_limits_max_header_bytes(api: httpx.Client, tenant: Tenant, creds: Credentials) -> None:
    personal = creds.personal_tokens[0]["token"]
    headers = {**bearer(personal), "X-Padding": "p" * 3000}
    assert api.get("/v1/me", headers=headers).status_code == 200
    tenant.configure({"limits.max_header_bytes": 2048})
    assert api.get("/v1/me", headers=headers).status_code == 431


def test_limits_mailbox_size(tenant: Tenant) -> None:
    tenant.configure({"limits.mailbox_size": 3})
    client = next(iter(tenant.directory.clients.values()))
    for _ in range(5):
        tenant.linking.send_authorization_email(client, tenant.user(ALEX))
    assert len(tenant.linking.mailbox) == 3
