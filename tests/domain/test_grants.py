"""The token lifecycle rules, on the domain alone (no HTTP), moving the clock instead of sleeping."""

from __future__ import annotations

import pytest

from mockwise._domain.errors import OAuthError
from mockwise._domain.grants import Issued
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.settings import ACCESS_TOKEN_LIFETIME, AUTHORIZATION_CODE_LIFETIME, Settings
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import EndReason, TokenKind, TokenState
from tests.helpers import created_user


@pytest.fixture(autouse=True)
def frozen(tenant: Tenant) -> None:
    tenant.clock.freeze()


def partner(tenant: Tenant, creds: Credentials):  # type: ignore[no-untyped-def]
    return tenant.client(creds.clients[0]["client_id"])


def register(tenant: Tenant, creds: Credentials) -> Issued:
    user = created_user(creds)
    return tenant.tokens.registration_code(partner(tenant, creds), user["email"], user["registration_code"])


def state(tenant: Tenant, value: str) -> TokenState:
    return tenant.tokens.lookup(value)[1]


def test_client_credentials_token_lives_12_hours_and_has_no_refresh(
    tenant: Tenant, creds: Credentials
) -> None:
    issued = tenant.tokens.client_credentials(partner(tenant, creds))
    assert issued.refresh is None and issued.access.kind is TokenKind.CLIENT_CREDENTIALS
    tenant.clock.advance(ACCESS_TOKEN_LIFETIME - 1)
    assert state(tenant, issued.access_value) is TokenState.VALID
    tenant.clock.advance(1)
    assert state(tenant, issued.access_value) is TokenState.EXPIRED


def test_each_client_credentials_call_gives_an_independent_token(tenant: Tenant, creds: Credentials) -> None:
    first = tenant.tokens.client_credentials(partner(tenant, creds))
    second = tenant.tokens.client_credentials(partner(tenant, creds))
    assert first.access_value != second.access_value
    assert state(tenant, first.access_value) is TokenState.VALID


def test_client_credentials_reuse_setting_returns_the_live_token(sandbox: Sandbox) -> None:
    tenant, creds = sandbox.create_tenant(settings=Settings().apply({"oauth.client_credentials_reuse": True}))
    tenant.clock.freeze()
    first = tenant.tokens.client_credentials(partner(tenant, creds))
    tenant.clock.advance(100)
    assert tenant.tokens.client_credentials(partner(tenant, creds)).access_value == first.access_value
    tenant.clock.advance(ACCESS_TOKEN_LIFETIME)
    assert tenant.tokens.client_credentials(partner(tenant, creds)).access_value != first.access_value


def test_refresh_kills_the_previous_access_token_at_once(tenant: Tenant, creds: Credentials) -> None:
    issued = register(tenant, creds)
    assert issued.refresh_value is not None
    refreshed = tenant.tokens.refresh(partner(tenant, creds), issued.refresh_value)
    assert state(tenant, issued.access_value) is TokenState.SUPERSEDED
    assert issued.access.end_reason is EndReason.REFRESHED
    assert state(tenant, refreshed.access_value) is TokenState.VALID
    # Spring's default: the same refresh token comes back and keeps working.
    assert refreshed.refresh_value == issued.refresh_value
    again = tenant.tokens.refresh(partner(tenant, creds), issued.refresh_value)
    assert state(tenant, refreshed.access_value) is TokenState.SUPERSEDED
    assert state(tenant, again.access_value) is TokenState.VALID


def test_refresh_token_rotation_setting(sandbox: Sandbox) -> None:
    tenant, creds = sandbox.create_tenant(settings=Settings().apply({"oauth.refresh_token_rotation": True}))
    issued = register(tenant, creds)
    assert issued.refresh_value is not None
    rotated = tenant.tokens.refresh(partner(tenant, creds), issued.refresh_value)
    assert rotated.refresh_value != issued.refresh_value
    assert state(tenant, issued.refresh_value) is TokenState.SUPERSEDED
    with pytest.raises(OAuthError, match="Invalid refresh token"):
        tenant.tokens.refresh(partner(tenant, creds), issued.refresh_value)


def test_a_new_original_grant_replaces_the_refresh_token_but_not_the_last_access_token(
    tenant: Tenant, creds: Credentials
) -> None:
    first = register(tenant, creds)
    second = register(tenant, creds)
    assert first.refresh_value is not None
    assert state(tenant, first.refresh_value) is TokenState.SUPERSEDED
    assert first.refresh is not None and first.refresh.end_reason is EndReason.REGRANTED
    assert state(tenant, first.access_value) is TokenState.VALID  # reference §2.5
    assert state(tenant, second.access_value) is TokenState.VALID


def test_refresh_errors_follow_spring(tenant: Tenant, creds: Credentials) -> None:
    client = partner(tenant, creds)
    with pytest.raises(OAuthError) as unknown:
        tenant.tokens.refresh(client, "not-a-token")
    assert (unknown.value.code, unknown.value.description) == (
        "invalid_grant",
        "Invalid refresh token: not-a-token",
    )
    issued = register(tenant, creds)
    assert issued.refresh_value is not None
    with pytest.raises(OAuthError, match="Invalid refresh token"):  # an access token is no refresh token
        tenant.tokens.refresh(client, issued.access_value)
    other = tenant.add_client("other-client", "other-secret")
    with pytest.raises(OAuthError, match="Wrong client for this refresh token"):
        tenant.tokens.refresh(tenant.client(other.client_id), issued.refresh_value)
    tenant.clock.advance(21 * 365 * 24 * 3600)
    with pytest.raises(OAuthError, match=r"Invalid refresh token \(expired\)"):
        tenant.tokens.refresh(client, issued.refresh_value)


def test_registration_code_works_repeatedly_until_the_account_is_reclaimed(
    tenant: Tenant, creds: Credentials
) -> None:
    register(tenant, creds)
    register(tenant, creds)
    tenant.reclaim(created_user(creds)["email"])
    with pytest.raises(OAuthError) as failure:
        register(tenant, creds)
    assert failure.value.code == "invalid_grant"
    assert failure.value.description == "Invalid user credentials."
    assert failure.value.status == 401  # the API reference's status; the guides say 400


def test_reclaimed_status_is_configurable(sandbox: Sandbox) -> None:
    tenant, creds = sandbox.create_tenant(
        settings=Settings().apply({"oauth.registration_code_failure_status": 400})
    )
    tenant.reclaim(created_user(creds)["email"])
    with pytest.raises(OAuthError) as failure:
        register(tenant, creds)
    assert failure.value.status == 400


def test_registration_code_needs_the_right_code_email_and_client(tenant: Tenant, creds: Credentials) -> None:
    user = created_user(creds)
    client = partner(tenant, creds)
    for email, code in [(user["email"], "x" * 40), ("nobody@example.com", user["registration_code"])]:
        with pytest.raises(OAuthError, match="Invalid user credentials"):
            tenant.tokens.registration_code(client, email, code)
    other = tenant.client(tenant.add_client("another-partner", "s").client_id)
    with pytest.raises(OAuthError, match="Invalid user credentials"):
        tenant.tokens.registration_code(other, user["email"], user["registration_code"])
    # E-mail is compared case-insensitively.
    tenant.tokens.registration_code(client, user["email"].upper(), user["registration_code"])


def test_authorization_code_is_single_use_bound_and_30_minutes(tenant: Tenant, creds: Credentials) -> None:
    client = partner(tenant, creds)
    redirect = creds.clients[0]["redirect_uris"][0]
    alex = creds.users[0]
    business = alex["profiles"][1]["id"]

    code = tenant.issue_code(client.client_id, redirect, alex["email"], business)
    issued = tenant.tokens.authorization_code(client, code, redirect)
    assert issued.access.profile_id == business and issued.refresh_value
    with pytest.raises(OAuthError, match="Invalid authorization code"):
        tenant.tokens.authorization_code(client, code, redirect)
    # RFC 6749 §4.1.2: replaying a code revokes what it issued.
    assert state(tenant, issued.access_value) is TokenState.REVOKED
    assert issued.access.end_reason is EndReason.CODE_REUSED

    late = tenant.issue_code(client.client_id, redirect, alex["email"], business)
    tenant.clock.advance(AUTHORIZATION_CODE_LIFETIME)
    with pytest.raises(OAuthError, match="Invalid authorization code"):
        tenant.tokens.authorization_code(client, late, redirect)

    wrong_uri = tenant.issue_code(client.client_id, redirect, alex["email"], business)
    with pytest.raises(OAuthError, match="Redirect URI mismatch"):
        tenant.tokens.authorization_code(client, wrong_uri, redirect + "/")


def test_codes_cannot_name_unregistered_redirects_or_foreign_profiles(
    tenant: Tenant, creds: Credentials
) -> None:
    client_id = creds.clients[0]["client_id"]
    redirect = creds.clients[0]["redirect_uris"][0]
    with pytest.raises(ValueError, match="not a redirect URI registered"):
        tenant.issue_code(client_id, "https://evil.example/cb", creds.users[0]["email"])
    lena_profile = creds.users[1]["profiles"][0]["id"]
    with pytest.raises(ValueError, match="does not belong"):
        tenant.issue_code(client_id, redirect, creds.users[0]["email"], lena_profile)


def test_a_code_for_another_client_is_refused(tenant: Tenant, creds: Credentials) -> None:
    redirect = creds.clients[0]["redirect_uris"][0]
    code = tenant.issue_code(creds.clients[0]["client_id"], redirect, creds.users[0]["email"])
    other = tenant.client(tenant.add_client("second-partner", "s", redirect_uris=[redirect]).client_id)
    with pytest.raises(OAuthError) as failure:
        tenant.tokens.authorization_code(other, code, redirect)
    assert (failure.value.code, failure.value.status) == ("invalid_client", 401)


@pytest.mark.parametrize(
    ("scenario", "reason", "kills_cc"),
    [
        ("revoke_access", EndReason.USER_REVOKED_ACCESS, False),
        ("enable_enhanced_security", EndReason.ENHANCED_SECURITY, False),
        ("breach", EndReason.SECURITY_BREACH, True),
        ("change_email", EndReason.EMAIL_CHANGED, False),
        ("revoke_secret", EndReason.SECRET_REVOKED, True),
    ],
)
def test_each_revocation_cause_ends_the_users_tokens_with_its_name(
    tenant: Tenant, creds: Credentials, scenario: str, reason: EndReason, kills_cc: bool
) -> None:
    client_id = creds.clients[0]["client_id"]
    email = created_user(creds)["email"]
    cc = tenant.tokens.client_credentials(partner(tenant, creds))
    issued = register(tenant, creds)
    args: dict[str, tuple[object, ...]] = {
        "revoke_access": (email, client_id),
        "enable_enhanced_security": (email,),
        "breach": (client_id,),
        "change_email": (email, "new.address@example.com"),
        "revoke_secret": (client_id,),
    }
    getattr(tenant, scenario)(*args[scenario])
    assert issued.refresh is not None and issued.refresh.end_reason is reason
    assert issued.access.end_reason is reason
    assert state(tenant, issued.access_value) is TokenState.REVOKED
    assert (state(tenant, cc.access_value) is TokenState.REVOKED) is kills_cc


def test_rotating_the_secret_kills_the_old_secret_and_client_credentials_tokens(
    tenant: Tenant, creds: Credentials
) -> None:
    client_id, old_secret = creds.clients[0]["client_id"], creds.clients[0]["client_secret"]
    cc = tenant.tokens.client_credentials(partner(tenant, creds))
    user_tokens = register(tenant, creds)
    new_secret = tenant.rotate_secret(client_id)
    client = tenant.client(client_id)
    secrets = tenant.directory.secrets
    assert secrets.matches(new_secret, client.secret_digest)
    assert not secrets.matches(old_secret, client.secret_digest)
    assert cc.access.end_reason is EndReason.SECRET_ROTATED
    assert state(tenant, user_tokens.access_value) is TokenState.VALID


def test_email_change_also_retires_the_registration_code(tenant: Tenant, creds: Credentials) -> None:
    user = created_user(creds)
    tenant.change_email(user["email"], "changed@example.com")
    with pytest.raises(OAuthError, match="Invalid user credentials"):
        register(tenant, creds)


def test_expired_tokens_are_collected_after_the_retention_period(
    sandbox: Sandbox, tenant: Tenant, creds: Credentials
) -> None:
    client = partner(tenant, creds)
    values = [tenant.tokens.client_credentials(client).access_value for _ in range(50)]
    before = len(tenant.store)
    tenant.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    assert state(tenant, values[0]) is TokenState.EXPIRED  # still remembered
    tenant.clock.advance(tenant.settings.oauth.expired_token_memory)
    assert tenant.tokens.collect() == 50
    assert len(tenant.store) == before - 50
    assert state(tenant, values[0]) is TokenState.UNKNOWN
    assert sandbox.find_token(values[0]) == (None, None)


def test_personal_tokens_are_long_lived_and_belong_to_their_user(tenant: Tenant, creds: Credentials) -> None:
    value = creds.personal_tokens[0]["token"]
    token, current = tenant.tokens.lookup(value)
    assert current is TokenState.VALID and token is not None
    assert token.kind is TokenKind.PERSONAL and token.user_id == creds.personal_tokens[0]["user_id"]
    tenant.clock.advance(9 * 365 * 24 * 3600)
    assert state(tenant, value) is TokenState.VALID
