"""Webhook subscriptions over the API at both levels, test notifications, and the event a funded
transfer sends (reference §8), in process: deliveries go to receivers in this process."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._transport.webhooks import Dispatcher
from tests.helpers import bearer, client_credentials, user_token
from tests.http.conftest import HOOK, Receiver

BODY = {"name": "Webhook Subscription #1", "trigger_on": "transfers#state-change"}


@pytest.fixture
def partner(api: httpx.Client, creds: Credentials) -> tuple[str, dict[str, str]]:
    """The partner's client key and client-credentials headers."""
    return creds.clients[0]["client_id"], bearer(client_credentials(api, creds))


def subscription(url: str = HOOK, version: str = "4.0.0", **more: Any) -> dict[str, Any]:
    return {**BODY, "delivery": {"version": version, "url": url, **more}}


def verifies(sandbox: Sandbox, headers: Mapping[str, str], body: bytes) -> bool:
    """What a receiver does with the published key (§8.4): nothing of mockwise's own code."""
    key = serialization.load_pem_public_key(sandbox.webhook_keys.public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(base64.b64decode(headers["X-Signature-SHA256"]), body, padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True


# The application level ----------------------------------------------------------------------------


def test_an_application_subscription_is_made_listed_read_and_deleted(
    api: httpx.Client, partner: tuple[str, dict[str, str]]
) -> None:
    key, headers = partner
    base = f"/v3/applications/{key}/subscriptions"
    made = api.post(base, headers=headers, json=subscription())
    assert made.status_code == 200  # Wise answers 200, not 201 (§8.1)
    body = made.json()
    assert body["name"] == BODY["name"] and body["trigger_on"] == "transfers#state-change"
    assert body["delivery"] == {"version": "4.0.0", "url": HOOK}
    assert body["scope"] == {"domain": "application", "id": key}
    assert body["created_by"] == {"type": "application", "id": key}
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == 20
    listed = api.get(base, headers=headers).json()
    assert [s["id"] for s in listed] == [body["id"]] and "created_at" not in listed[0]
    assert api.get(f"{base}/{body['id']}", headers=headers).json() == body
    assert api.get(f"/2026Q3/applications/{key}/subscriptions/{body['id']}", headers=headers).json() == body
    deleted = api.delete(f"{base}/{body['id']}", headers=headers)
    assert deleted.status_code == 204 and deleted.content == b""
    gone = api.get(f"{base}/{body['id']}", headers=headers)
    assert gone.status_code == 404 and gone.json()["error"] == "Not Found"


def test_the_application_level_takes_only_the_clients_own_token(
    api: httpx.Client, tenant: Tenant, creds: Credentials, partner: tuple[str, dict[str, str]]
) -> None:
    key, headers = partner
    assert (
        api.post(
            "/v3/applications/someone-else/subscriptions", headers=headers, json=subscription()
        ).status_code
        == 403
    )
    alex = creds.users[0]
    user = bearer(user_token(api, tenant, creds, alex["email"], alex["profiles"][0]["id"]))
    refused = api.get(f"/v3/applications/{key}/subscriptions", headers=user)
    assert refused.status_code == 403 and "client credentials" in refused.json()["message"]
    assert api.get(f"/v3/applications/{key}/subscriptions").status_code == 401


def test_refused_bodies_get_wises_validation_errors(
    api: httpx.Client, partner: tuple[str, dict[str, str]]
) -> None:
    key, headers = partner
    base = f"/v3/applications/{key}/subscriptions"
    missing = api.post(base, headers=headers, json={})
    assert missing.status_code == 400
    assert {(e["code"], e["path"]) for e in missing.json()["errors"]} == {
        ("NotNull", "name"),
        ("NotNull", "trigger_on"),
        ("NotNull", "delivery"),
    }

    def problem(body: Any) -> tuple[str, str]:
        answer = api.post(base, headers=headers, json=body)
        assert answer.status_code == 400, answer.text
        error = answer.json()["errors"][0]
        return error["path"], error["message"]

    assert problem({**subscription(), "trigger_on": "nope#never"}) == (
        "trigger_on",
        "Unknown event type 'nope#never'",
    )
    assert problem({**subscription(version="2.0.0"), "trigger_on": "balances#credit"})[1] == (
        "balances#credit is not available for application subscriptions"
    )
    assert problem(subscription(version="9.9.9")) == (
        "delivery.version",
        "transfers#state-change comes in version(s) 2.0.0, 4.0.0",
    )
    assert problem(subscription(url="http://webhooks.example.com/wise"))[1].endswith("(webhooks.https_only)")
    assert problem(subscription(url="https://webhooks.example.com:8443/w"))[1].endswith(
        "(webhooks.port_443_only)"
    )
    assert problem(subscription(url="https://203.0.113.9/wise"))[1].endswith("(webhooks.no_ip_address)")
    assert problem(subscription(url="https://webhooks.example.com/w?type=x"))[1].endswith(
        "(webhooks.no_query)"
    )
    assert problem(subscription(url="https://u:p@webhooks.example.com/w"))[1].endswith(
        "user name or password"
    )
    assert problem(subscription(mtls_enabled="yes"))[0] == "delivery.mtls_enabled"
    assert api.post(base, headers=headers, json=[1]).status_code == 400
    not_json = api.post(base, headers=headers | {"Content-Type": "application/json"}, content=b"{")
    assert not_json.status_code == 400


def test_the_url_rules_are_settings(
    api: httpx.Client, tenant: Tenant, partner: tuple[str, dict[str, str]]
) -> None:
    key, headers = partner
    base = f"/v3/applications/{key}/subscriptions"
    odd = "http://203.0.113.9:8080/hook.php?type=balance"  # the docs' counter-example (§8.6)
    assert api.post(base, headers=headers, json=subscription(url=odd)).status_code == 400
    tenant.configure(
        {
            "webhooks.https_only": False,
            "webhooks.port_443_only": False,
            "webhooks.no_ip_address": False,
            "webhooks.no_query": False,
        }
    )
    assert api.post(base, headers=headers, json=subscription(url=odd)).status_code == 200
    local = "https://localhost:8443/hook"  # a laptop's receiver: any port while webhooks.localhost
    assert api.post(base, headers=headers, json=subscription(url=local)).status_code == 200
    tenant.configure({"webhooks.localhost": False})
    refused = api.post(base, headers=headers, json=subscription(url=local))
    assert refused.json()["errors"][0]["message"].endswith("(webhooks.localhost)")


def test_mtls_delivery_is_part_of_the_subscription(
    api: httpx.Client, partner: tuple[str, dict[str, str]]
) -> None:
    key, headers = partner
    made = api.post(
        f"/v3/applications/{key}/subscriptions", headers=headers, json=subscription(mtls_enabled=True)
    )
    assert made.json()["delivery"] == {"version": "4.0.0", "url": HOOK, "mtls_enabled": True}


# The profile level ------------------------------------------------------------------------------


def test_a_profile_subscription_takes_a_token_for_the_profile(
    api: httpx.Client, tenant: Tenant, creds: Credentials
) -> None:
    alex, lena = creds.users[0], creds.users[1]
    pid = alex["profiles"][0]["id"]
    headers = bearer(creds.personal_tokens[0]["token"])  # alex's personal token
    base = f"/v3/profiles/{pid}/subscriptions"
    made = api.post(base, headers=headers, json=subscription(version="2.0.0"))
    assert made.status_code == 200
    body = made.json()
    assert body["scope"] == {"domain": "profile", "id": str(pid)}
    assert body["created_by"] == {"type": "user", "id": str(alex["id"])}
    assert [s["id"] for s in api.get(f"/2026Q3/profiles/{pid}/subscriptions", headers=headers).json()] == [
        body["id"]
    ]
    # another user's profile, an application-only event type, test notifications: refused
    other = lena["profiles"][0]["id"]
    assert api.get(f"/v3/profiles/{other}/subscriptions", headers=headers).status_code == 403
    app_only = {**subscription(version="2.0.0"), "trigger_on": "users#state-change"}
    assert api.post(base, headers=headers, json=app_only).json()["errors"][0]["message"] == (
        "users#state-change is not available for profile subscriptions"
    )
    assert api.post(f"{base}/{body['id']}/test-notifications", headers=headers).status_code == 404
    # an application's listing does not show it, and it cannot be read through another scope
    key, partner_headers = creds.clients[0]["client_id"], bearer(client_credentials(api, creds))
    assert api.get(f"/v3/applications/{key}/subscriptions", headers=partner_headers).json() == []
    assert (
        api.get(f"/v3/applications/{key}/subscriptions/{body['id']}", headers=partner_headers).status_code
        == 404
    )
    assert api.delete(f"{base}/{body['id']}", headers=headers).status_code == 204


# Notifications ------------------------------------------------------------------------------------


def test_test_notifications_are_signed_dummy_data_marked_as_tests(
    api: httpx.Client,
    sandbox: Sandbox,
    tenant: Tenant,
    partner: tuple[str, dict[str, str]],
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    key, headers = partner
    made = api.post(f"/v3/applications/{key}/subscriptions", headers=headers, json=subscription()).json()
    queued = api.post(
        f"/v3/applications/{key}/subscriptions/{made['id']}/test-notifications", headers=headers
    )
    assert queued.status_code == 200
    [ticket] = queued.json()
    assert set(ticket) == {"delivery_id", "created_at"}
    assert dispatcher.settle(tenant, 10)
    [(sent, body)] = receiver.got
    assert sent["X-Delivery-Id"] == ticket["delivery_id"] and sent["X-Test-Notification"] == "true"
    assert sent["Content-Type"] == "application/json"
    assert verifies(sandbox, sent, body)
    event = json.loads(body)
    assert list(event) == ["data", "subscription_id", "event_type", "schema_version", "sent_at"]
    assert event["subscription_id"] == made["id"] and event["schema_version"] == "4.0.0"
    assert event["data"]["resource"] == {"type": "transfer", "id": 0, "profile_id": 0, "account_id": 0}
    assert len(event["sent_at"]) == len("2020-01-01T12:34:56.123Z")  # 4.0.0: milliseconds (§8.2)
    assert b" " not in body  # compact, as Wise's own example
    attempt = tenant.webhooks.notification(ticket["delivery_id"]).attempts[0]
    assert attempt.status == 200 and attempt.acknowledged
    entry = tenant.journal.select(route="webhook:transfers#state-change")[0]
    assert (entry.method, entry.path, entry.status, entry.trace_id) == (
        "POST",
        HOOK,
        200,
        ticket["delivery_id"],
    )


def fund(api: httpx.Client, path: str, headers: dict[str, str]) -> httpx.Response:
    """Fund a transfer through the SCA flow (§5.3): challenged, SMS cleared with 111111, retried."""
    first = api.post(path, headers=headers, json={"type": "BALANCE"})
    assert first.status_code == 403, first.text
    ott = first.headers["x-2fa-approval"]
    otp = headers | {"One-Time-Token": ott}
    assert api.post("/v1/one-time-token/sms/trigger", headers=otp).status_code == 200
    assert (
        api.post("/v1/one-time-token/sms/verify", headers=otp, json={"otpCode": "111111"}).status_code == 200
    )
    return api.post(path, headers=headers | {"x-2fa-approval": ott}, json={"type": "BALANCE"})


def test_a_transfer_funded_through_sca_tells_the_profiles_and_the_applications_subscriptions(
    api: httpx.Client,
    tenant: Tenant,
    creds: Credentials,
    partner: tuple[str, dict[str, str]],
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    tenant.configure({"sca.user_tokens": True, "sca.high_risk_challenges": "SMS"})
    key, partner_headers = partner
    api.post(
        f"/v3/applications/{key}/subscriptions", headers=partner_headers, json=subscription(version="2.0.0")
    )
    alex = creds.users[0]
    business = next(p for p in alex["profiles"] if p["type"] == "business")
    user = bearer(user_token(api, tenant, creds, alex["email"], business["id"]))
    tenant.configure({"webhooks.port_443_only": False})
    api.post(f"/v3/profiles/{business['id']}/subscriptions", headers=user, json=subscription())
    tenant.clock.freeze()
    path = f"/v3/profiles/{business['id']}/transfers/4711/payments"
    assert fund(api, path, user).status_code == 201
    assert dispatcher.settle(tenant, 10)
    events = sorted((receiver.json(i) for i in range(len(receiver.got))), key=lambda e: e["schema_version"])
    assert [e["schema_version"] for e in events] == ["2.0.0", "4.0.0"]  # the application's, the profile's
    for event in events:
        assert event["event_type"] == "transfers#state-change"
        data = event["data"]
        assert data["resource"]["id"] == 4711 and data["resource"]["profile_id"] == business["id"]
        assert (data["previous_state"], data["current_state"]) == ("incoming_payment_waiting", "processing")
        assert "X-Test-Notification" not in receiver.got[0][0]
    assert events[0]["data"]["occurred_at"].endswith(":00Z") or len(events[0]["data"]["occurred_at"]) == 20
    assert len(events[1]["data"]["occurred_at"]) == 24
    # funded again: no state changes, no event
    assert fund(api, path, user).status_code == 201
    assert dispatcher.settle(tenant, 10)
    assert len(receiver.got) == 2
