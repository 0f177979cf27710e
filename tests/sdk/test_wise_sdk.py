"""`wise-sdk`, the SDK generated from Wise's official 2026Q3 OpenAPI document, against mockwise.

Each flow runs with the SDK's sync and async clients, over mTLS, against mockwise on real sockets
(`WiseServer.start()`: the server `mockwise serve` runs, in a thread) and, for the core flow, against
a `mockwise serve` process. The SDK calls Wise's 2026Q3 names (`/2026Q3/me`, `/2026Q3/profiles`...;
docs/calver-2026q3.md is the inventory); a name mockwise does not serve fails as `Unrouted`.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from wise_sdk import (
    ApiError,
    AsyncTokenManager,
    ConflictError,
    FundingRequest_Balance,
    OAuthError,
    OAuthTokens,
    Profile_Business,
    Profile_Personal,
    TokenManager,
    WiseEnvironment,
    get_sca_challenge,
    validate_oauth_state,
)
from wise_sdk.generated.jose import CreateRequestPublicKeysJoseRequestPublicKeyMaterial

from mockwise.testing import WiseServer
from tests.helpers import sign_ott
from tests.jose_helpers import der_b64, new_key
from tests.sdk.conftest import VERSION, Sdk, Session, Unrouted, done
from tests.standalone import serve

ALEX = "alex.morgan@example.com"  # US: a personal and a business profile, a personal token
LENA = "lena.fischer@example.com"  # DE: PSD2 limits her personal token
SAM = "sam.created-over-api@example.com"  # created over API by the partner: a registration code
OTP = "111111"  # the sandbox's one-time password (§1)
JANUARY = {
    "currency": "USD",
    "interval_start": datetime(2026, 1, 1, tzinfo=UTC),
    "interval_end": datetime(2026, 2, 1, tzinfo=UTC),
}


# Helpers ------------------------------------------------------------------------------------------


def profile(wise: Session, email: str, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in wise.sandbox.user(email)["profiles"] if p["type"] == kind)
    return found


def personal_token(wise: Session, email: str) -> str:
    user_id = wise.sandbox.user(email)["id"]
    return str(next(t["token"] for t in wise.sandbox.personal_tokens if t["user_id"] == user_id))


async def sam_tokens(wise: Session) -> OAuthTokens:
    """User tokens for the user the partner created over API (the registration_code grant)."""
    sam = wise.sandbox.user(SAM)
    tokens: OAuthTokens = await done(
        wise.oauth.exchange_registration_code(email=SAM, registration_code=sam["registration_code"])
    )
    return tokens


async def linked(wise: Session, email: str, profile_id: int) -> OAuthTokens:
    """The authorization-code flow: the SDK's authorize URL, the scripted user approving one
    profile on mockwise's authorize page, the state checked, the code exchanged."""
    state = f"state-{uuid.uuid4()}"
    url = wise.oauth.authorization_url(redirect_uri=wise.sandbox.redirect_uri, state=state)
    redirect = wise.sandbox.link(url, email, profile_id=profile_id)
    query = parse_qs(urlsplit(redirect).query)
    validate_oauth_state(query["state"][0], state)
    assert query["profileId"] == [str(profile_id)]
    tokens: OAuthTokens = await done(
        wise.oauth.exchange_code(code=query["code"][0], redirect_uri=wise.sandbox.redirect_uri)
    )
    return tokens


async def refused(answer: Any) -> ApiError:
    """The ApiError an SDK call raised (sync: at the call; async: when awaited)."""
    with pytest.raises(ApiError) as caught:
        await done(answer() if callable(answer) else answer)
    return caught.value


def registration_code() -> str:
    return f"{uuid.uuid4()}{uuid.uuid4()}"  # Wise asks for at least 32 characters (§4)


# Tokens: the four grants, over mTLS, through the SDK's strict token validation ---------------------


def test_client_credentials_token_over_mtls(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        tokens = await done(wise.oauth.create_client_token())
        assert tokens.token_type == "bearer" and tokens.scope == "transfers"
        assert tokens.refresh_token is None and tokens.refresh_token_expires_at is None
        assert abs(tokens.expires_at - (wise.sandbox.clock.now() + 43199)) < 5
        [entry] = wise.sandbox.journal.assert_request_made(
            times=1, path=f"/{VERSION}/oauth/token", grant_type="client_credentials", status=200
        )
        assert entry.basic_auth and entry.cert is not None  # HTTP Basic, and the client certificate

    sdk.run(flow)


def test_registration_code_grant_and_refresh(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        tokens = await sam_tokens(wise)
        assert tokens.refresh_token and tokens.refresh_token_expires_at is not None
        assert tokens.refresh_token_expires_at - tokens.expires_at > 19 * 365 * 86400  # ~20 years
        renewed = await done(wise.oauth.refresh(tokens.refresh_token))
        assert renewed.access_token != tokens.access_token and renewed.refresh_token
        # A refresh kills the access token it replaces (§2.5).
        states = sorted(t["state"] for t in wise.sandbox.tokens() if t["kind"] == "user")
        assert states == ["superseded", "valid"]

    sdk.run(flow)


def test_authorization_code_grant_through_the_authorize_page(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        business = profile(wise, ALEX, "business")
        tokens = await linked(wise, ALEX, business["id"])
        assert tokens.refresh_token
        wise.sandbox.journal.assert_request_made(times=1, grant_type="authorization_code", status=200)

    sdk.run(flow)


def test_a_used_code_and_a_reclaimed_account_are_oauth_errors(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        url = wise.oauth.authorization_url(redirect_uri=wise.sandbox.redirect_uri, state="s")
        redirect = wise.sandbox.link(url, ALEX)
        code = parse_qs(urlsplit(redirect).query)["code"][0]
        await done(wise.oauth.exchange_code(code=code, redirect_uri=wise.sandbox.redirect_uri))
        with pytest.raises(OAuthError) as used:
            await done(wise.oauth.exchange_code(code=code, redirect_uri=wise.sandbox.redirect_uri))
        assert used.value.status_code == 400  # codes are single use (§2.4)
        wise.sandbox.reclaim(SAM)
        with pytest.raises(OAuthError) as reclaimed:
            await sam_tokens(wise)
        assert reclaimed.value.status_code == 401  # `invalid_grant`, the OAS's status (§2.6)

    sdk.run(flow)


@pytest.mark.parametrize(
    "settings",
    [
        {"oauth.token_response_fields": "legacy"},  # no expires_at, no refresh_token_expires_*
        {"oauth.client_credentials_token_format": "jwe"},  # a 5-part JWE-like client-credentials token
        {"oauth.client_credentials_reuse": True},  # Spring's reuse: the same token, less time left
    ],
    ids=["legacy-fields", "jwe-token", "reused-token"],
)
def test_the_sdk_accepts_every_token_response_mockwise_can_be_set_to(
    sdk: Sdk, settings: dict[str, Any]
) -> None:
    async def flow(wise: Session) -> None:
        wise.sandbox.configure(settings)
        await done(wise.oauth.create_client_token())
        wise.sandbox.clock.advance(hours=1)
        await done(wise.oauth.create_client_token())  # (reused: the same token, an hour less left)
        await sam_tokens(wise)

    sdk.run(flow)


def test_a_tenant_clock_behind_the_client_makes_every_token_look_expired(sdk: Sdk) -> None:
    # The SDK checks `expires_at` against the machine's clock, not the server's: a tenant clock set
    # a day back issues tokens already past their `expires_at` for it. Moving the clock forward (or
    # both clocks, `process=True`) is what the SDK can follow.
    async def flow(wise: Session) -> None:
        with pytest.raises(OAuthError, match="expired token"):
            await done(wise.oauth.create_client_token())
        wise.sandbox.journal.assert_request_made(times=1, grant_type="client_credentials", status=200)

    # Before the partner's certificate is made: a certificate is not valid before its making.
    sdk.sandbox.clock.set(sdk.sandbox.clock.now() - 86400)
    sdk.run(flow)


# Users: creation over API, exists, me, by id, claim-account ----------------------------------------


def test_user_creation_then_the_registration_code_grant(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        partner = wise.client((await done(wise.oauth.create_client_token())).access_token)
        email, code = f"new-{uuid.uuid4().hex[:8]}@example.com", registration_code()
        assert (await done(partner.users.check_exists(email=email))).exists is False
        user = await done(partner.users.create(email=email, registration_code=code, language="EN"))
        assert user.id and user.email == email and user.active and user.name is None and user.details is None
        assert (await done(partner.users.check_exists(email=email))).exists is True
        again = await refused(lambda: partner.users.create(email=email, registration_code=code))
        assert isinstance(again, ConflictError) and again.body["errors"][0]["code"] == "NOT_UNIQUE"
        tokens = await done(wise.oauth.exchange_registration_code(email=email, registration_code=code))
        me = await done(wise.client(tokens.access_token).users.get_current())
        assert me.id == user.id and me.details is None

    sdk.run(flow)


def test_me_and_the_user_by_id(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        alex = wise.client(personal_token(wise, ALEX))
        me = await done(alex.users.get_current())
        assert me.email == ALEX and me.name == "Alex Morgan" and me.active
        assert me.details is not None and me.details.first_name == "Alex"
        assert me.details.date_of_birth is not None and me.details.date_of_birth.isoformat() == "1985-04-12"
        assert me.details.address is not None and me.details.address.country_code == "US"
        assert await done(alex.users.get(user_id=me.id)) == me
        other = wise.sandbox.user(LENA)["id"]
        assert (await refused(lambda: alex.users.get(user_id=other))).status_code == 403

    sdk.run(flow)


def test_claim_account_code_for_a_user_created_over_api(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        sam = wise.client((await sam_tokens(wise)).access_token)
        code = wise.sandbox.user(SAM)["registration_code"]
        claim = await done(sam.account_claims.create(registration_code=code))
        assert claim.claim_account_code

    sdk.run(flow)


# Profiles: the 2026Q3 list and profile are the v2 shape (upper-case `type`, flat fields) -----------


def test_profiles_and_profile_by_id(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        alex = wise.client(personal_token(wise, ALEX))
        personal, business = profile(wise, ALEX, "personal"), profile(wise, ALEX, "business")
        listed = await done(alex.profiles.list())
        by_type = {type(p): p for p in listed}  # the SDK's union is discriminated on `type`
        assert set(by_type) == {Profile_Personal, Profile_Business}
        assert by_type[Profile_Personal].id == personal["id"]
        assert by_type[Profile_Personal].first_name == "Alex"
        assert by_type[Profile_Business].business_name == "Morgan Analytics Inc."
        one = await done(alex.profiles.get(profile_id=business["id"]))
        assert one == by_type[Profile_Business]

    sdk.run(flow)


def test_a_linked_token_reaches_only_its_profile(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        personal, business = profile(wise, ALEX, "personal"), profile(wise, ALEX, "business")
        linked_client = wise.client((await linked(wise, ALEX, business["id"])).access_token)
        assert [p.id for p in await done(linked_client.profiles.list())] == [business["id"]]
        denied = await refused(lambda: linked_client.profiles.get(profile_id=personal["id"]))
        assert denied.status_code == 403 and get_sca_challenge(denied) is None

    sdk.run(flow)


# SCA: the statement's 403 challenge, detected by the SDK, cleared two ways -------------------------


def test_statement_challenge_cleared_with_an_sms_otp(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        wise.sandbox.configure({"sca.user_tokens": True, "sca.low_risk_challenges": "SMS"})
        business = profile(wise, ALEX, "business")
        ids = {"profile_id": business["id"], "balance_id": business["balances"][0]["id"]}
        client = wise.client((await linked(wise, ALEX, business["id"])).access_token)
        challenge = await refused(lambda: client.statements.get(**ids, **JANUARY))
        ott = get_sca_challenge(challenge)
        assert ott and challenge.status_code == 403
        status = await done(client.sca.get_one_time_token_status(one_time_token=ott))
        properties = status.one_time_token_properties
        assert properties is not None and properties.action_type == "BALANCE__GET_STATEMENT"
        [pending] = properties.challenges or []
        assert pending.primary_challenge is not None and pending.primary_challenge.type == "SMS"
        assert pending.required and not pending.passed
        sent = await done(client.sca.otp.send_sms(one_time_token=ott))
        assert sent.obfuscated_phone_no and sent.obfuscated_phone_no.endswith("0143")
        cleared = await done(client.sca.otp.verify_sms(one_time_token=ott, otp_code=OTP))
        assert cleared.one_time_token_properties is not None
        assert cleared.one_time_token_properties.challenges == []
        approved = await done(
            client.statements.with_raw_response.get(
                **ids, **JANUARY, request_options={"additional_headers": {"x-2fa-approval": ott}}
            )
        )
        assert approved.headers["x-2fa-approval-result"] == "APPROVED"
        assert approved.data.end_of_statement_balance is not None
        assert approved.data.end_of_statement_balance.value == 18250.0
        assert approved.data.query is not None and approved.data.query.currency == "USD"

    sdk.run(flow)


def test_statement_challenge_signed_with_a_personal_token(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        user_id = wise.sandbox.user(ALEX)["id"]
        wise.sandbox.call("PUT", f"/users/{user_id}/sca", {"required": True})
        key = wise.sandbox.call("POST", f"/users/{user_id}/sca-keys", {})["private_key"]
        business = profile(wise, ALEX, "business")
        ids = {"profile_id": business["id"], "balance_id": business["balances"][0]["id"]}
        client = wise.client(personal_token(wise, ALEX))
        ott = get_sca_challenge(await refused(lambda: client.statements.get(**ids, **JANUARY)))
        assert ott
        signed = {"x-2fa-approval": ott, "X-Signature": sign_ott(key, ott)}
        approved = await done(
            client.statements.with_raw_response.get(
                **ids, **JANUARY, request_options={"additional_headers": signed}
            )
        )
        assert approved.headers["x-2fa-approval-result"] == "APPROVED"
        # Statement SCA is needed once every 90 days (§5.2): the next call goes through unasked.
        again = await done(client.statements.with_raw_response.get(**ids, **JANUARY))
        assert again.status_code == 200 and "x-2fa-approval-result" not in again.headers

    sdk.run(flow)


def test_funding_a_transfer_is_challenged_then_completed(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        user_id = wise.sandbox.user(ALEX)["id"]
        wise.sandbox.call("PUT", f"/users/{user_id}/sca", {"required": True})
        key = wise.sandbox.call("POST", f"/users/{user_id}/sca-keys", {})["private_key"]
        business = profile(wise, ALEX, "business")
        client = wise.client(personal_token(wise, ALEX))
        request = FundingRequest_Balance(balance_id=business["balances"][0]["id"])

        def fund(**options: Any) -> Any:
            return client.transfers.fund(
                profile_id=business["id"], transfer_id=77, request=request, **options
            )

        ott = get_sca_challenge(await refused(fund))
        assert ott
        signed = {"x-2fa-approval": ott, "X-Signature": sign_ott(key, ott)}
        funded = await done(fund(request_options={"additional_headers": signed}))
        assert funded.type == "BALANCE" and funded.status == "COMPLETED"
        reused = await refused(lambda: fund(request_options={"additional_headers": signed}))
        fresh = get_sca_challenge(reused)
        assert fresh and fresh != ott  # a one-time token is single use (§5.2)

    sdk.run(flow)


def test_a_psd2_refusal_is_a_403_but_not_a_challenge(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        lena = profile(wise, LENA, "personal")
        client = wise.client(personal_token(wise, LENA))
        ids = {"profile_id": lena["id"], "balance_id": lena["balances"][0]["id"]}
        denied = await refused(lambda: client.statements.get(**ids, **(JANUARY | {"currency": "EUR"})))
        assert denied.status_code == 403 and "PSD2" in denied.body["message"]
        assert get_sca_challenge(denied) is None

    sdk.run(flow)


# JOSE: Wise's public keys, a partner key upload, the playground -----------------------------------


def test_jose_public_keys(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        partner = wise.client((await done(wise.oauth.create_client_token())).access_token)
        signing = await done(
            partner.jose.get_response_public_keys(algorithm="ES512", scope="PAYLOAD_SIGNING")
        )
        assert signing.scope == "PAYLOAD_SIGNING" and signing.version == 1 and uuid.UUID(signing.key_id or "")
        assert signing.key_material is not None and signing.key_material.algorithm == "ES512"
        key = serialization.load_der_public_key(base64.b64decode(signing.key_material.key_material or ""))
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp521r1"
        encryption = await done(
            partner.jose.get_response_public_keys(algorithm="RSA_OAEP_256", scope="PAYLOAD_ENCRYPTION")
        )
        assert encryption.key_material is not None and encryption.key_material.algorithm == "RSA_OAEP_256"
        rsa_key = serialization.load_der_public_key(
            base64.b64decode(encryption.key_material.key_material or "")
        )
        assert isinstance(rsa_key, rsa.RSAPublicKey)

    sdk.run(flow)


def test_jose_partner_key_upload(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        partner = wise.client((await done(wise.oauth.create_client_token())).access_token)
        key_id, material = str(uuid.uuid4()), der_b64(new_key("ES256"))
        made = await done(
            partner.jose.create_request_public_keys(
                key_id=key_id,
                scope="PAYLOAD_SIGNING",
                valid_from="2026-01-01 00:00:00",
                valid_till="2030-01-01 00:00:00",
                public_key_material=CreateRequestPublicKeysJoseRequestPublicKeyMaterial(
                    algorithm="ES256", key_material=material
                ),
            )
        )
        assert made.key_id == key_id and made.client_id is None and made.deactivation_timestamp is None
        assert made.public_key_material is not None and made.public_key_material.key_material == material

    sdk.run(flow)


def test_the_jose_playground_refuses_the_sdks_json_quoted_jws(sdk: Sdk) -> None:
    # The SDK sends the compact JWS as a JSON string (`"eyJ…"`); Wise documents the raw compact
    # serialisation (§7.1), so mockwise refuses it, saying why. (The SDK would also fail to read a
    # raw compact answer: it parses every 2xx body as JSON.)
    async def flow(wise: Session) -> None:
        partner = wise.client((await done(wise.oauth.create_client_token())).access_token)
        jws = "eyJhbGciOiJFUzI1NiJ9.eyJtZXNzYWdlIjoiaGkifQ.c2ln"
        error = await refused(
            lambda: partner.jose.test_jws(accept="application/jose+json", tw_jose_method="jws", request=jws)
        )
        assert error.status_code == 400 and "compact JWS" in error.body["message"]

    sdk.run(flow)


# Expired tokens: refused with 401 and never retried; renewing is the application's job -------------


def test_an_expired_access_token_is_refused_then_refreshed(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        tokens = await sam_tokens(wise)
        client = wise.client(tokens.access_token)
        await done(client.users.get_current())
        wise.sandbox.clock.advance(hours=12)  # the tenant's clock: the access token's 12 h are over
        expired = await refused(client.users.get_current)
        assert expired.status_code == 401
        assert expired.body == {"error": "invalid_token", "error_description": "Invalid token"}
        assert expired.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        [entry] = wise.sandbox.journal.assert_request_made(times=1, path=f"/{VERSION}/me", status=401)
        assert entry.token_state == "expired"  # and the SDK did not retry it
        assert tokens.refresh_token
        renewed = await done(wise.oauth.refresh(tokens.refresh_token))
        assert (await done(wise.client(renewed.access_token).users.get_current())).email == SAM

    sdk.run(flow)


def test_the_token_managers_renew_when_both_clocks_move(sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        code = wise.sandbox.user(SAM)["registration_code"]
        manager: Any
        if wise.is_async:

            async def acquire(previous: OAuthTokens | None) -> OAuthTokens:
                if previous is not None and previous.refresh_token:
                    renewed: OAuthTokens = await wise.oauth.refresh(previous.refresh_token)
                    return renewed
                first: OAuthTokens = await wise.oauth.exchange_registration_code(
                    email=SAM, registration_code=code
                )
                return first

            manager = AsyncTokenManager(acquire=acquire)
            partner = AsyncTokenManager(acquire=lambda _: wise.oauth.create_client_token())
        else:
            manager = TokenManager(
                acquire=lambda previous: (
                    wise.oauth.refresh(previous.refresh_token)
                    if previous is not None and previous.refresh_token
                    else wise.oauth.exchange_registration_code(email=SAM, registration_code=code)
                )
            )
            partner = TokenManager(acquire=lambda _: wise.oauth.create_client_token())
        user, app = wise.client(manager.get_access_token), wise.client(partner.get_access_token)
        assert (await done(user.users.get_current())).email == SAM
        assert (await done(app.users.check_exists(email=SAM))).exists is True
        wise.sandbox.clock.advance(hours=12, process=True)  # the server's clock and this process's
        assert (await done(user.users.get_current())).email == SAM
        assert (await done(app.users.check_exists(email=SAM))).exists is True
        journal = wise.sandbox.journal
        journal.assert_request_made(times=1, grant_type="registration_code")
        journal.assert_request_made(times=1, grant_type="refresh_token")
        journal.assert_request_made(times=2, grant_type="client_credentials")
        journal.assert_no_request(status=401)

    sdk.run(flow)


# The version is part of the name: without it, a 2026Q3 name is not an address --------------------


def test_a_2026q3_name_without_the_version_is_not_served(sdk: Sdk) -> None:
    # Wise selects the version in the path (VERS); an SDK whose base URL lost `/2026Q3` must get a
    # 404, not a v1 answer that happens to share the name (`/profiles` is v2-shaped in 2026Q3).
    async def flow(wise: Session) -> None:
        wise.environment = WiseEnvironment(api=wise.sandbox.mtls_api_url, cards=wise.sandbox.mtls_api_url)
        client = wise.client(personal_token(wise, ALEX))
        with pytest.raises(Unrouted):
            await done(client.users.get_current())
        with pytest.raises(Unrouted):
            await done(client.profiles.list())

    sdk.run(flow)


# Against a `mockwise serve` process ------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WiseServer]:
    with serve(Path(tmp_path_factory.mktemp("serve"))) as process:
        server = WiseServer.connect(str(process.state))
        yield server
        server.stop()


@pytest.fixture(params=["sync", "async"])
def served_sdk(request: pytest.FixtureRequest, served: WiseServer) -> Iterator[Sdk]:
    tenant = served.new_tenant()
    yield Sdk(tenant, request.param)
    tenant.close()


def test_tokens_from_mockwise_serve(served_sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        await done(wise.oauth.create_client_token())
        tokens = await sam_tokens(wise)
        assert tokens.refresh_token
        await done(wise.oauth.refresh(tokens.refresh_token))
        wise.sandbox.journal.assert_request_made(times=3, path="/oauth/token", status=200)

    served_sdk.run(flow)


def test_me_profiles_and_expiry_on_mockwise_serve(served_sdk: Sdk) -> None:
    async def flow(wise: Session) -> None:
        tokens = await linked(wise, ALEX, profile(wise, ALEX, "personal")["id"])
        client = wise.client(tokens.access_token)
        assert (await done(client.users.get_current())).email == ALEX
        assert [type(p) for p in await done(client.profiles.list())] == [Profile_Personal]
        wise.sandbox.clock.advance(hours=12)
        assert (await refused(client.users.get_current)).status_code == 401
        assert tokens.refresh_token
        renewed = await done(wise.oauth.refresh(tokens.refresh_token))
        assert (await done(wise.client(renewed.access_token).users.get_current())).email == ALEX

    served_sdk.run(flow)
