"""SCA over HTTP (§5): the 403 challenge on protected endpoints, the signed retry, the one-time-token
framework endpoints (PIN over JWE with a directly encrypted answer), lockouts, and the journal."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockwise._domain.sca import ScaAction, token_key
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from tests import sca_vectors
from tests.helpers import bearer, client_credentials, sign_ott, user_token
from tests.jose_helpers import cryptography_decrypt, cryptography_jwe, public_from_der_b64

JWE_HEADER = {"alg": "RSA-OAEP-256", "enc": "A256GCM"}


class Alex:
    """The seed's US business user, calling with a personal token, SCA switched on, one key."""

    def __init__(self, api: httpx.Client, tenant: Tenant, creds: Credentials) -> None:
        self.api = api
        self.entry = creds.users[0]
        self.user = tenant.user(self.entry["email"])
        self.headers = bearer(creds.personal_tokens[0]["token"])
        business = next(p for p in self.entry["profiles"] if p["type"] == "business")
        personal = next(p for p in self.entry["profiles"] if p["type"] == "personal")
        self.statement = (
            f"/v1/profiles/{business['id']}/balance-statements/{business['balances'][0]['id']}/statement.json"
        )
        self.personal_statement = (
            f"/v1/profiles/{personal['id']}/balance-statements/{personal['balances'][0]['id']}/statement.json"
        )
        self.fund = f"/v3/profiles/{business['id']}/transfers/77/payments"
        self.business_id = business["id"]
        tenant.sca.require(self.user, True)
        self.key = tenant.sca.generate_key(self.user)

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.api.get(path, headers=self.headers | headers)

    def post_fund(self, **headers: str) -> httpx.Response:
        return self.api.post(self.fund, headers=self.headers | headers, json={"type": "BALANCE"})


@pytest.fixture
def alex(api: httpx.Client, tenant: Tenant, creds: Credentials) -> Alex:
    return Alex(api, tenant, creds)


def challenged(response: httpx.Response) -> str:
    assert response.status_code == 403, response.text
    assert response.headers["x-2fa-approval-result"] == "REJECTED"
    return response.headers["x-2fa-approval"]


def test_the_statement_flow(alex: Alex, tenant: Tenant) -> None:
    first = alex.get(alex.statement)
    ott = challenged(first)
    assert first.json() == {
        "timestamp": first.json()["timestamp"],
        "status": 403,
        "error": "Forbidden",
        "message": "You are forbidden to send this request",
        "path": alex.statement,
    }
    approved = alex.get(alex.statement, **{"x-2fa-approval": ott, "X-Signature": sign_ott(alex.key, ott)})
    assert approved.status_code == 200 and approved.headers["x-2fa-approval-result"] == "APPROVED"
    assert approved.json()["accountHolder"]["type"] == "BUSINESS"
    challenge, approval = tenant.journal.select(path=alex.statement)
    assert challenge.sca is not None and challenge.sca.startswith("challenged:missing ott=")
    assert challenge.error == "sca_required" and challenge.status == 403
    assert approval.sca == "approved:signature ott=" + challenge.sca.rsplit("=", 1)[1]
    assert ott not in json.dumps(
        [e.as_json() for e in tenant.journal]
    )  # token values stay out of the journal


def test_funding_is_challenged_every_time_and_tokens_are_single_use(alex: Alex) -> None:
    ott = challenged(alex.post_fund())
    signature = sign_ott(alex.key, ott)
    funded = alex.post_fund(**{"x-2fa-approval": ott, "X-Signature": signature})
    assert funded.status_code == 201 and funded.headers["x-2fa-approval-result"] == "APPROVED"
    replay = alex.post_fund(**{"x-2fa-approval": ott, "X-Signature": signature})
    assert challenged(replay) != ott  # a fresh challenge, not a hard error
    assert challenged(alex.post_fund()) not in (ott,)


@pytest.mark.parametrize(
    "retry",
    [
        lambda ott, key: {"x-2fa-approval": ott, "X-Signature": "bm9wZQ=="},  # bad signature
        lambda ott, key: {
            "x-2fa-approval": "6f1a7b1e-0000-4000-8000-000000000000",
            "X-Signature": sign_ott(key, ott),
        },
        lambda ott, key: {"x-2fa-approval": ott},  # not signed, not cleared: the same token again
    ],
    ids=["bad-signature", "unknown-token", "unsigned"],
)
def test_failed_retries_are_challenged_again(alex: Alex, retry: Any) -> None:
    ott = challenged(alex.post_fund())
    assert challenged(alex.post_fund(**retry(ott, alex.key)))


def test_expired_tokens_are_challenged_again(alex: Alex, tenant: Tenant) -> None:
    ott = challenged(alex.post_fund())
    tenant.clock.advance(3600)
    assert (
        challenged(alex.post_fund(**{"x-2fa-approval": ott, "X-Signature": sign_ott(alex.key, ott)})) != ott
    )
    expired = list(tenant.journal)[-1].sca
    assert expired is not None and expired.startswith("challenged:expired ott=")
    assert expired.endswith(f" presented={token_key(ott)[:16]}")  # which token came back, by hash


def test_personal_profiles_cannot_sign(alex: Alex, tenant: Tenant) -> None:
    ott = challenged(alex.get(alex.personal_statement))
    refused = alex.get(
        alex.personal_statement, **{"x-2fa-approval": ott, "X-Signature": sign_ott(alex.key, ott)}
    )
    assert refused.status_code == 403 and "x-2fa-approval" not in refused.headers
    assert "business accounts only" in refused.json()["message"]
    assert list(tenant.journal)[-1].sca == f"refused:personal_account presented={token_key(ott)[:16]}"


def test_psd2_refusal_comes_before_sca(api: httpx.Client, tenant: Tenant, creds: Credentials) -> None:
    lena = creds.users[1]
    tenant.sca.require(tenant.user(lena["email"]), True)
    profile = lena["profiles"][0]
    path = f"/v1/profiles/{profile['id']}/balance-statements/{profile['balances'][0]['id']}/statement.json"
    response = api.get(path, headers=bearer(creds.personal_tokens[1]["token"]))
    assert response.status_code == 403 and "PSD2" in response.json()["message"]
    assert "x-2fa-approval" not in response.headers


def test_header_only_challenges(alex: Alex, tenant: Tenant) -> None:
    tenant.settings = tenant.settings.apply({"sca.challenge_body": "empty"})
    response = alex.post_fund()
    assert challenged(response) and response.content == b""


def test_the_pywisetransfer_vector_over_http(alex: Alex, tenant: Tenant) -> None:
    tenant.sca.add_key(alex.user, sca_vectors.PUBLIC_KEY)
    tenant.sca.issue(
        alex.user, alex.business_id, ScaAction.BALANCE__GET_STATEMENT, value=sca_vectors.ONE_TIME_TOKEN
    )
    response = alex.get(
        alex.statement
        + "?currency=USD&intervalStart=2018-03-01T00:00:00Z&intervalEnd=2018-04-30T23:59:59.999Z&type=FLAT",
        **{"X-2FA-Approval": sca_vectors.ONE_TIME_TOKEN, "X-Signature": sca_vectors.SIGNATURE},
    )
    assert response.status_code == 200 and response.headers["x-2fa-approval-result"] == "APPROVED"


def test_lockout_answers_429_with_retry_after(alex: Alex, api: httpx.Client, tenant: Tenant) -> None:
    ott = challenged(alex.post_fund())
    api.post("/v1/one-time-token/sms/trigger", headers=alex.headers | {"One-Time-Token": ott})
    for _ in range(5):
        bad = api.post(
            "/v1/one-time-token/sms/verify",
            headers=alex.headers | {"One-Time-Token": ott},
            json={"otpCode": "000000"},
        )
        assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "INVALID"
    locked = alex.post_fund()
    assert locked.status_code == 429 and locked.headers["retry-after"] == "900" and locked.content == b""
    assert list(tenant.journal)[-1].sca == "refused:locked"


# The one-time-token framework, as an OAuth partner uses it (§5.3) -------------------------------------


@pytest.fixture
def oauth(api: httpx.Client, tenant: Tenant, creds: Credentials) -> dict[str, Any]:
    """A partner's user token for alex's business profile, SCA on for user tokens."""
    tenant.settings = tenant.settings.apply({"sca.user_tokens": True})
    alex = creds.users[0]
    business = next(p for p in alex["profiles"] if p["type"] == "business")
    access = user_token(api, tenant, creds, alex["email"], business["id"])
    return {
        "headers": bearer(access),
        "fund": f"/v3/profiles/{business['id']}/transfers/5/payments",
        "user_id": alex["id"],
    }


def test_clearing_a_token_with_pin_and_sms(
    api: httpx.Client, oauth: dict[str, Any], tenant: Tenant, creds: Credentials
) -> None:
    headers = oauth["headers"]
    ott = challenged(api.post(oauth["fund"], headers=headers, json={"type": "BALANCE"}))
    status = api.get("/v1/one-time-token/status", headers=headers | {"One-Time-Token": ott}).json()
    properties = status["oneTimeTokenProperties"]
    assert properties["oneTimeToken"] == ott and properties["validity"] == 3600
    assert properties["actionType"] == "TRANSFER__FUND" and properties["userId"] == oauth["user_id"]
    assert [c["primaryChallenge"]["type"] for c in properties["challenges"]] == ["PIN", "SMS"]

    # PIN over JWE (RSA-OAEP-256 to Wise's key, which the partner reads with its client-credentials
    # token); the answer is directly encrypted with the request's content key (§7.3)
    partner = bearer(client_credentials(api, creds))
    wise = api.get(
        "/v1/auth/jose/response/public-keys?algorithm=RSA_OAEP_256&scope=PAYLOAD_ENCRYPTION", headers=partner
    ).json()
    sealed = cryptography_jwe(
        public_from_der_b64(wise["keyMaterial"]["keyMaterial"]), JWE_HEADER, b'{"pin":"1234"}'
    )
    jwe_headers = {
        "One-Time-Token": ott,
        "Content-Type": "application/jose+json",
        "X-TW-JOSE-Method": "jwe",
        "Accept": "application/jose+json",
        "Content-Encoding": "identity",
    }
    pin = api.post("/v1/one-time-token/pin/verify", headers=headers | jwe_headers, content=sealed.compact)
    assert pin.status_code == 200 and pin.headers["content-type"] == "application/jose+json"
    header, plaintext, _ = cryptography_decrypt(pin.text, cek=sealed.cek)
    assert header == {"enc": "A256GCM", "alg": "dir"}
    left = json.loads(plaintext)["oneTimeTokenProperties"]["challenges"]
    assert [c["primaryChallenge"]["type"] for c in left] == ["SMS"]

    trigger = api.post("/v1/one-time-token/voice/trigger", headers=headers | {"One-Time-Token": ott})
    assert trigger.json() == {"obfuscatedPhoneNo": "********0143"}
    verified = api.post(
        "/v1/one-time-token/voice/verify",
        headers=headers | {"One-Time-Token": ott},
        json={"otpCode": "111111"},
    )
    assert verified.json()["oneTimeTokenProperties"]["challenges"] == []

    funded = api.post(oauth["fund"], headers=headers | {"x-2fa-approval": ott}, json={"type": "BALANCE"})
    assert funded.status_code == 201 and funded.headers["x-2fa-approval-result"] == "APPROVED"
    journal = [e.sca for e in tenant.journal if e.sca]
    assert [s.split(" ")[0] for s in journal] == [
        "challenged:missing",
        "status",
        "passed:PIN",
        "triggered:VOICE",
        "passed:VOICE",
        "approved:challenges",
    ]


def test_framework_refusals(api: httpx.Client, oauth: dict[str, Any], creds: Credentials) -> None:
    headers = oauth["headers"]
    ott = challenged(api.post(oauth["fund"], headers=headers, json={"type": "BALANCE"}))
    missing = api.get("/v1/one-time-token/status", headers=headers)
    assert missing.status_code == 400 and missing.json()["errors"][0]["path"] == "One-Time-Token"
    unknown = api.get("/v1/identity/one-time-token/status", headers=headers | {"One-Time-Token": "nope"})
    assert unknown.status_code == 404 and unknown.json()["message"] == "One-time token not found"
    other_user = api.get(
        "/v1/one-time-token/status",
        headers=bearer(creds.personal_tokens[1]["token"]) | {"One-Time-Token": ott},
    )
    assert other_user.status_code == 404
    plain_pin = api.post(
        "/v1/one-time-token/pin/verify", headers=headers | {"One-Time-Token": ott}, json={"pin": "1234"}
    )
    assert plain_pin.status_code == 400 and "X-TW-JOSE-Method: jwe" in plain_pin.json()["message"]
    untriggered = api.post(
        "/v1/one-time-token/sms/verify", headers=headers | {"One-Time-Token": ott}, json={"otpCode": "111111"}
    )
    assert untriggered.status_code == 400 and untriggered.json()["errors"][0]["code"] == "NOT_TRIGGERED"
    no_face = api.post(
        "/v1/one-time-token/whatsapp/verify", headers=headers | {"One-Time-Token": ott}, json={}
    )
    assert no_face.status_code == 400
    assert api.get("/v1/one-time-token/status", headers={"One-Time-Token": ott}).status_code == 401


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ott=st.none() | st.text(max_size=80) | st.uuids().map(str),
    signature=st.none()
    | st.text(max_size=400)
    | st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
)
def test_any_approval_headers_get_a_challenge_never_a_crash(
    alex: Alex, ott: str | None, signature: str | None
) -> None:
    headers = {}
    if ott is not None:
        headers["x-2fa-approval"] = ott.encode("ascii", "ignore").decode().strip()
    if signature is not None:
        headers["X-Signature"] = signature.encode("ascii", "ignore").decode().strip()
    response = alex.post_fund(**headers)
    fresh = challenged(response)
    assert fresh and fresh != headers.get("x-2fa-approval")


def test_the_routes_own_checks_come_before_the_challenge(alex: Alex, tenant: Tenant) -> None:
    """A request that would fail anyway (no such balance, a bad body) gets that answer, not a
    challenge, and does not spend a one-time token the user has just cleared."""
    missing_balance = alex.statement.replace("/balance-statements/", "/balance-statements/9").replace(
        "/statement.json", "9/statement.json"
    )
    assert alex.get(missing_balance).status_code == 404
    ott = challenged(alex.post_fund())
    signed = {"x-2fa-approval": ott, "X-Signature": sign_ott(alex.key, ott)}
    mistyped = alex.api.post(alex.fund, headers=alex.headers | signed, json={"type": "CARD"})
    assert mistyped.status_code == 400 and "x-2fa-approval-result" not in mistyped.headers
    funded = alex.post_fund(**signed)  # the token the user cleared still works
    assert funded.status_code == 201 and funded.headers["x-2fa-approval-result"] == "APPROVED"
