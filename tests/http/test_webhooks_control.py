"""Webhooks on the control plane (reference §8): subscribe without a token, send any event type with
chosen data, faults on the way out armed like any fault, the delivery log, settling, the published
key, and the dashboard's pages. In process: deliveries go to a receiver in this process."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from tests.http.conftest import HOOK, Receiver

C = "/_mockwise"


@pytest.fixture
def base(tenant: Tenant) -> str:
    return f"{C}/tenants/{tenant.id}/webhooks"


def subscribe(api: httpx.Client, base: str, **more: object) -> dict[str, object]:
    body = {"trigger_on": "transfers#state-change", "delivery": {"version": "4.0.0", "url": HOOK}, **more}
    made = api.post(f"{base}/subscriptions", json=body)
    assert made.status_code == 201, made.text
    return dict(made.json())


def settled(api: httpx.Client, base: str) -> dict[str, object]:
    answer = api.post(f"{base}/settle", json={"timeout": 10})
    assert answer.status_code == 200
    return dict(answer.json())


def test_subscribe_send_chosen_data_and_read_the_log(
    api: httpx.Client, base: str, creds: Credentials, receiver: Receiver
) -> None:
    made = subscribe(api, base)
    assert made["scope"] == {"domain": "application", "id": creds.clients[0]["client_id"]}
    data = {"resource": {"type": "transfer", "id": 111}, "current_state": "outgoing_payment_sent"}
    sent = api.post(f"{base}/events", json={"event_type": "transfers#state-change", "data": data})
    assert sent.status_code == 201
    [queued] = sent.json()["notifications"]
    assert settled(api, base) == {"settled": True, "pending": 0, "next_due": None}
    assert receiver.json()["data"] == data and "X-Test-Notification" not in receiver.got[0][0]
    log = api.get(f"{base}/deliveries").json()
    assert log["total"] == 1 and log["deliveries"][0]["state"] == "delivered"
    one = api.get(f"{base}/deliveries/{queued['delivery_id']}").json()
    assert json.loads(one["body"])["data"] == data
    [attempt] = one["attempts"]
    assert attempt["status"] == 200 and attempt["acknowledged"] and attempt["latency_ms"] >= 0
    assert attempt["at"].endswith("Z")
    assert api.get(f"{base}/deliveries?state=failed").json()["total"] == 0
    assert api.get(f"{base}/deliveries?state=nope").status_code == 400
    assert api.get(f"{base}/deliveries?stauts=failed").status_code == 400
    assert api.get(f"{base}/deliveries/nope").status_code == 404


def test_any_event_type_goes_to_a_chosen_subscription(
    api: httpx.Client, base: str, receiver: Receiver
) -> None:
    made = subscribe(api, base)
    body = {
        "event_type": "cards#brand-new-type",
        "data": {"x": 1},
        "subscription_id": made["id"],
        "test": True,
    }
    assert api.post(f"{base}/events", json=body).status_code == 201
    settled(api, base)
    assert receiver.json()["event_type"] == "cards#brand-new-type"
    assert receiver.got[0][0]["X-Test-Notification"] == "true"
    nobody = api.post(f"{base}/events", json={"event_type": "balances#update", "data": {}})
    assert nobody.status_code == 201 and nobody.json() == {"notifications": []}


def test_refusals(api: httpx.Client, base: str, tenant: Tenant) -> None:
    wrong = api.post(f"{base}/subscriptions", json={"trigger_on": "nope", "delivery": {}})
    assert wrong.status_code == 400
    assert {e["path"] for e in wrong.json()["errors"]} == {"trigger_on", "delivery.version", "delivery.url"}
    assert api.post(f"{base}/subscriptions", json={"level": "galaxy"}).status_code == 400
    assert api.post(f"{base}/subscriptions", json={"level": "profile", "profile_id": 1}).status_code == 404
    assert api.post(f"{base}/subscriptions", json={"client_id": "nobody"}).status_code == 404
    assert api.post(f"{base}/events", json={"event_type": "x", "data": []}).status_code == 400
    huge = {"event_type": "x", "data": {"blob": "a" * 70_000}}
    assert api.post(f"{base}/events", json=huge).status_code == 400
    assert (
        api.post(
            f"{base}/events", json={"event_type": "x", "data": {}, "subscription_id": "nope"}
        ).status_code
        == 404
    )
    assert api.post(f"{base}/settle", json={"timeout": 3600}).status_code == 400
    assert api.delete(f"{base}/subscriptions/nope").status_code == 404


def test_a_profile_subscription_and_its_test_notification(
    api: httpx.Client, base: str, creds: Credentials, receiver: Receiver
) -> None:
    profile = creds.users[0]["profiles"][0]
    made = subscribe(api, base, level="profile", profile_id=profile["id"], name="mine")
    assert made["scope"] == {"domain": "profile", "id": str(profile["id"])} and made["name"] == "mine"
    queued = api.post(f"{base}/subscriptions/{made['id']}/test-notifications")
    assert queued.status_code == 201
    settled(api, base)
    assert receiver.got[0][0]["X-Test-Notification"] == "true"
    assert api.get(base).json()["subscriptions"][0]["profile_id"] == profile["id"]
    assert api.delete(f"{base}/subscriptions/{made['id']}").status_code == 204
    assert api.get(base).json()["subscriptions"] == []


def test_faults_on_the_way_out_are_armed_like_any_fault(
    api: httpx.Client, base: str, tenant: Tenant, sandbox: Sandbox, receiver: Receiver
) -> None:
    subscribe(api, base)
    faults = f"{C}/tenants/{tenant.id}/faults"
    armed = api.post(faults, json={"kind": "webhook_production_key", "event_type": "transfers#*"})
    assert armed.status_code == 201 and armed.json()["event_type"] == "transfers#*"
    assert api.post(faults, json={"kind": "webhook_delay", "path": "/v1/me"}).status_code == 400
    assert api.post(faults, json={"kind": "webhook_delay", "seconds": 86400}).status_code == 201
    api.post(f"{base}/events", json={"event_type": "transfers#state-change", "data": {}})
    assert settled(api, base)["next_due"] is not None  # the delay waits on the tenant's clock
    assert receiver.got == []
    api.post(f"{C}/tenants/{tenant.id}/clock/advance", json={"seconds": 86400})
    settled(api, base)
    [(headers, body)] = receiver.got
    key = serialization.load_pem_public_key(sandbox.webhook_keys.production_public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(base64.b64decode(headers["X-Signature-SHA256"]), body, padding.PKCS1v15(), hashes.SHA256())
    assert not sandbox.webhook_keys.verify(body, headers["X-Signature-SHA256"])
    log = api.get(f"{base}/deliveries").json()["deliveries"][0]
    assert log["state"] == "forged" and log["signature"] == "production"
    assert log["faults"] == ["webhook_production_key#f1", "webhook_delay#f2"]


def test_settle_says_when_nothing_can_send(api: httpx.Client, base: str) -> None:
    subscribe(api, base)
    api.post(f"{base}/events", json={"event_type": "transfers#state-change", "data": {}})
    answer = api.post(f"{base}/settle", json={"timeout": 0.05}).json()  # no dispatcher runs here
    assert answer["settled"] is False and answer["pending"] == 1


def test_the_public_key_is_open_to_anyone(api: httpx.Client, sandbox: Sandbox) -> None:
    from mockwise._http.app import create_app
    from mockwise._transport.inprocess import SyncASGITransport

    answer = api.get(f"{C}/webhooks/public-key.pem")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/x-pem-file"
    assert answer.text == sandbox.webhook_keys.public_pem
    guarded = create_app(sandbox, admin_token="s3cret", hosts=["mockwise.test"])
    remote = SyncASGITransport(guarded, client=("203.0.113.5", 4711))
    with httpx.Client(transport=remote, base_url="https://mockwise.test") as elsewhere:
        assert elsewhere.get(f"{C}/webhooks/public-key.pem").status_code == 200
        assert elsewhere.get(f"{C}/tenants").status_code == 403


def test_the_dashboard_shows_subscriptions_notifications_and_attempts(
    api: httpx.Client, base: str, tenant: Tenant, receiver: Receiver
) -> None:
    made = subscribe(api, base, name="Payouts listener")
    receiver.status = 503
    api.post(f"{base}/subscriptions/{made['id']}/test-notifications")
    settled(api, base)
    page = api.get(f"{C}/tenants/{tenant.id}/dashboard/webhooks")
    assert page.status_code == 200 and "Payouts listener" in page.text and "BEGIN PUBLIC KEY" in page.text
    assert "Content-Security-Policy" in page.headers
    [n] = tenant.webhooks.notifications()
    detail = api.get(f"{C}/tenants/{tenant.id}/dashboard/webhooks/{n.delivery_id}")
    assert detail.status_code == 200 and "503" in detail.text
    assert "&#34;current_state&#34;" in detail.text or '"current_state"' in detail.text
    assert api.get(f"{C}/tenants/{tenant.id}/dashboard/webhooks/nope").status_code == 404
    overview = api.get(f"{C}/tenants/{tenant.id}/dashboard")
    assert f"{C}/tenants/{tenant.id}/dashboard/webhooks" in overview.text


@pytest.mark.parametrize(
    "more",
    [
        {"profile_id": {}},  # at the application level too: a wrong type is refused, never ignored
        {"profile_id": None},
        {"client_id": None},
        {"level": "profile", "profile_id": "1"},
        {"level": "profile"},
        {"client_id": 7},
        {"level": "organisation"},
    ],
)
def test_a_subscription_with_a_field_of_the_wrong_type_or_missing_is_a_400(
    api: httpx.Client, base: str, more: dict[str, object]
) -> None:
    body = {"trigger_on": "transfers#state-change", "delivery": {"version": "4.0.0", "url": HOOK}, **more}
    refused = api.post(f"{base}/subscriptions", json=body)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request", refused.text
    assert api.get(base).json()["subscriptions"] == []
