"""Webhooks in the domain (reference §8): the retry ladder on the tenant's clock, the outgoing
faults, the URL rules, signatures, and the part's snapshot. No threads, no sockets: the test plays
the dispatcher (`take_due`, then `attempted` with the outcome it chooses)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mockwise._domain.faults import FaultKind
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.settings import Settings
from mockwise._domain.tenant import Tenant
from mockwise._domain.webhook_events import EVENT_TYPES
from mockwise._domain.webhooks import (
    LONGEST_RETRY,
    Delivery,
    Outcome,
    SigningKeys,
    Subscription,
    check_url,
    retry_delay,
)

URL = "https://receiver.localhost/wise"
DAY = 86400.0


@pytest.fixture
def tenant() -> Tenant:
    tenant, _ = Sandbox().create_tenant()
    tenant.clock.freeze()
    return tenant


def subscribe(tenant: Tenant, version: str = "4.0.0", event: str = "transfers#state-change") -> Subscription:
    client = next(iter(tenant.directory.clients))
    body = {"name": "s", "trigger_on": event, "delivery": {"version": version, "url": URL}}
    return tenant.webhooks.subscribe(
        body, domain="application", scope_id=client, created_by=("application", client), client_id=client
    )


def emit(tenant: Tenant, transfer: int = 1, state: str = "processing") -> None:
    tenant.webhooks.send("transfers#state-change", {"resource": {"id": transfer}, "current_state": state})


def answer(tenant: Tenant, status: int | None = 200, **more: Any) -> list[Delivery]:
    """Play the dispatcher once: everything due now gets `status` (None: no answer, a timeout)."""
    due = tenant.webhooks.take_due(tenant.clock.now())
    for d in due:
        error = None if status is not None else "timeout"
        tenant.webhooks.attempted(d, Outcome(status=status, error=error, **more))
    return due


def settle(tenant: Tenant, status: int | None = 200) -> list[Delivery]:
    sent: list[Delivery] = []
    while batch := answer(tenant, status):
        sent += batch
    return sent


# The ladder (§8.5) --------------------------------------------------------------------------------


def test_the_ladder_doubles_from_a_minute_to_a_day() -> None:
    assert [retry_delay(n) / 60 for n in range(1, 13)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 1440]
    assert retry_delay(24) == LONGEST_RETRY


def test_moving_the_clock_15_days_runs_all_25_attempts(tenant: Tenant) -> None:
    subscribe(tenant)
    emit(tenant)
    created = tenant.clock.now()
    assert len(answer(tenant, 500)) == 1
    assert answer(tenant, 500) == []  # the retry waits a minute on the tenant's clock
    tenant.clock.advance(15 * DAY)
    settle(tenant, 500)
    [n] = tenant.webhooks.notifications()
    assert n.state == "failed" and len(n.attempts) == 25 and n.due is None
    offsets = [a.at - created for a in n.attempts]
    assert offsets[:4] == [0, 60, 180, 420]  # a minute, two, four...
    assert offsets[-1] == 60 * (2**11 - 1) + 13 * DAY  # about 14.4 days (§8.5)
    assert [e.status for e in tenant.journal.select(route="webhook:transfers#state-change")] == [500] * 25


def test_an_acknowledged_retry_ends_the_ladder(tenant: Tenant) -> None:
    subscribe(tenant)
    emit(tenant)
    answer(tenant, None)  # timed out
    tenant.clock.advance(60)
    answer(tenant, 204)
    [n] = tenant.webhooks.notifications()
    assert n.state == "delivered" and [a.acknowledged for a in n.attempts] == [False, True]


def test_max_attempts_success_and_short_retry_statuses_are_settings(tenant: Tenant) -> None:
    subscribe(tenant)
    tenant.configure({"webhooks.max_attempts": 2})
    emit(tenant)
    tenant.clock.advance(30 * DAY)
    settle(tenant, 503)
    assert len(tenant.webhooks.notifications()[0].attempts) == 2
    tenant.configure({"webhooks.max_attempts": 25, "webhooks.success": "200"})
    emit(tenant, 2)
    answer(tenant, 204)  # only 200 acknowledges now
    assert tenant.webhooks.notifications()[0].state == "pending"
    tenant.configure({"webhooks.success": "2xx", "webhooks.short_retry_statuses": "400, 410"})
    emit(tenant, 3)
    tenant.clock.advance(30 * DAY)
    settle(tenant, 410)
    assert len(tenant.webhooks.notifications()[0].attempts) == 3  # "almost always fail": 3 tries


def test_retry_after_is_honoured_as_seconds_or_a_date(tenant: Tenant) -> None:
    subscribe(tenant)
    emit(tenant)
    at = tenant.clock.now()
    answer(tenant, 503, retry_after="600")
    assert tenant.webhooks.notifications()[0].due == at + 600
    tenant.clock.advance(600)
    answer(tenant, 429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")  # in the past: at once
    assert tenant.webhooks.notifications()[0].due == tenant.clock.now()
    answer(tenant, 503, retry_after="soon")  # not a Retry-After: the ladder
    assert tenant.webhooks.notifications()[0].due == tenant.clock.now() + retry_delay(3)
    tenant.configure({"webhooks.retry_after": False})
    tenant.clock.advance(retry_delay(3))
    answer(tenant, 503, retry_after="5")
    assert tenant.webhooks.notifications()[0].due == tenant.clock.now() + retry_delay(4)


def test_one_at_a_time_per_subscription_in_order(tenant: Tenant) -> None:
    subscribe(tenant)
    emit(tenant, 1)
    emit(tenant, 2)
    first = tenant.webhooks.take_due(tenant.clock.now())
    assert [d.seq for d in first] == [1]
    assert tenant.webhooks.take_due(tenant.clock.now()) == []  # the first is in flight
    tenant.webhooks.attempted(first[0], Outcome(status=200))
    assert [d.seq for d in tenant.webhooks.take_due(tenant.clock.now())] == [2]


def test_delivery_ids_name_the_notification_or_each_attempt(tenant: Tenant) -> None:
    subscribe(tenant)
    emit(tenant)
    answer(tenant, 500)
    tenant.clock.advance(60)
    answer(tenant, 500)
    n = tenant.webhooks.notifications()[0]
    assert {a.delivery_id for a in n.attempts} == {n.delivery_id}
    tenant.configure({"webhooks.delivery_id": "attempt"})
    tenant.clock.advance(120)
    answer(tenant, 200)
    assert n.attempts[-1].delivery_id != n.delivery_id  # the first attempt keeps the id queued


# Faults on the way out (§8.9) ----------------------------------------------------------------------


def test_a_duplicate_is_sent_again_once_acknowledged(tenant: Tenant) -> None:
    subscribe(tenant)
    tenant.faults.add(FaultKind.WEBHOOK_DUPLICATE)
    emit(tenant)
    sent = settle(tenant)
    assert [d.delivery_id for d in sent] == [sent[0].delivery_id] * 2
    assert [d.body for d in sent] == [sent[0].body] * 2
    assert sent[1].fault == "webhook_duplicate#f1"
    assert tenant.webhooks.notifications()[0].state == "delivered"


@pytest.mark.parametrize(
    ("kind", "signature"),
    [
        (FaultKind.WEBHOOK_BAD_SIGNATURE, "bad"),
        (FaultKind.WEBHOOK_NO_SIGNATURE, "none"),
        (FaultKind.WEBHOOK_LEGACY_SIGNATURE, "legacy"),
        (FaultKind.WEBHOOK_PRODUCTION_KEY, "production"),
    ],
)
def test_a_forgery_is_sent_once_whatever_the_answer(tenant: Tenant, kind: FaultKind, signature: str) -> None:
    subscribe(tenant)
    tenant.faults.add(kind)
    emit(tenant)
    tenant.clock.advance(15 * DAY)
    sent = settle(tenant, 401)
    assert [d.signature for d in sent] == [signature]
    assert tenant.webhooks.notifications()[0].state == "forged"


def test_out_of_order_holds_one_back_until_a_later_one_went(tenant: Tenant) -> None:
    subscribe(tenant)
    tenant.faults.add(FaultKind.WEBHOOK_OUT_OF_ORDER, seconds=3600)
    emit(tenant, 1, "processing")
    emit(tenant, 1, "outgoing_payment_sent")
    order = [json.loads(d.body)["data"]["current_state"] for d in settle(tenant)]
    assert order == ["outgoing_payment_sent", "processing"]


def test_out_of_order_lets_it_go_after_its_seconds_when_nothing_came(tenant: Tenant) -> None:
    subscribe(tenant)
    tenant.faults.add(FaultKind.WEBHOOK_OUT_OF_ORDER, seconds=3600)
    emit(tenant)
    assert answer(tenant) == []
    tenant.clock.advance(3600)
    assert len(answer(tenant)) == 1


def test_a_delay_waits_on_the_tenants_clock_and_faults_scope_by_event_type(tenant: Tenant) -> None:
    subscribe(tenant)
    tenant.faults.add(FaultKind.WEBHOOK_DELAY, seconds=7 * DAY, event_type="balances#*")
    tenant.faults.add(FaultKind.WEBHOOK_DELAY, seconds=2 * DAY, event_type="transfers#*")
    emit(tenant)
    assert answer(tenant) == []
    tenant.clock.advance(2 * DAY)
    assert len(answer(tenant)) == 1
    assert [f.fired for f in tenant.faults] == [0, 1]


def test_outgoing_faults_meet_no_request_and_take_no_request_scope(tenant: Tenant) -> None:
    tenant.faults.add(FaultKind.WEBHOOK_BAD_SIGNATURE, times=None)
    assert tenant.faults.take("/v1/me", "GET", None, None) is None
    with pytest.raises(ValueError, match="scoped by 'event_type' only"):
        tenant.faults.add(FaultKind.WEBHOOK_DUPLICATE, path="/v1/me")
    with pytest.raises(ValueError, match="webhook_\\* kinds only"):
        tenant.faults.add(FaultKind.SERVER_ERROR, event_type="transfers#state-change")


# Signatures (§8.4) --------------------------------------------------------------------------------


def public(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def verified(pem: str, body: bytes, signature: str, digest: hashes.HashAlgorithm) -> bool:
    try:
        public(pem).verify(base64.b64decode(signature), body, padding.PKCS1v15(), digest)
    except Exception:
        return False
    return True


def test_each_signature_mode_signs_as_it_says() -> None:
    keys = SigningKeys()
    body = b'{"data":{},"event_type":"x"}'
    sandbox, production = keys.public_pem, keys.production_public_pem
    good = keys.headers(body, "sha256")["X-Signature-SHA256"]
    assert verified(sandbox, body, good, hashes.SHA256()) and keys.verify(body, good)
    assert not verified(sandbox, body + b" ", good, hashes.SHA256())  # over the raw bytes only
    assert not verified(sandbox, body, keys.headers(body, "bad")["X-Signature-SHA256"], hashes.SHA256())
    assert keys.headers(body, "none") == {}
    legacy = keys.headers(body, "legacy")
    sha1 = hashes.SHA1()  # noqa: S303 - v1's legacy scheme, what the fault sends
    assert list(legacy) == ["X-Signature"] and verified(sandbox, body, legacy["X-Signature"], sha1)
    other = keys.headers(body, "production")["X-Signature-SHA256"]
    assert verified(production, body, other, hashes.SHA256()) and not keys.verify(body, other)
    assert SigningKeys(keys.sandbox_pem, keys.production_pem).public_pem == sandbox  # kept across restarts


def test_wises_own_sandbox_vector_verifies_the_way_mockwise_signs() -> None:
    """DSE's real sandbox notification and signature, with Wise's published sandbox key (§8.4): the
    scheme a receiver implements for mockwise is the one Wise's sandbox uses."""
    wise_sandbox_key = (
        "-----BEGIN PUBLIC KEY-----\n"
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwpb91cEYuyJNQepZAVfP\n"
        "ZIlPZfNUefH+n6w9SW3fykqKu938cR7WadQv87oF2VuT+fDt7kqeRziTmPSUhqPU\n"
        "ys/V2Q1rlfJuXbE+Gga37t7zwd0egQ+KyOEHQOpcTwKmtZ81ieGHynAQzsn1We3j\n"
        "wt760MsCPJ7GMT141ByQM+yW1Bx+4SG3IGjXWyqOWrcXsxAvIXkpUD/jK/L958Cg\n"
        "nZEgz0BSEh0QxYLITnW1lLokSx/dTianWPFEhMC9BgijempgNXHNfcVirg1lPSyg\n"
        "z7KqoKUN0oHqWLr2U1A+7kqrl6O2nx3CKs1bj1hToT1+p4kcMoHXA7kA+VBLUpEs\n"
        "VwIDAQAB\n"
        "-----END PUBLIC KEY-----\n"
    )
    body = (
        b'{"data":{"resource":{"id":49983981,"profile_id":16055450,"account_id":14124090,"type":"transfer"},'
        b'"current_state":"incoming_payment_waiting","previous_state":null,"occurred_at":"2021-08-23T10:12:50Z"},'
        b'"subscription_id":"90aa8e14-4ef1-4a56-861c-f3c9cde097ea","event_type":"transfers#state-change",'
        b'"schema_version":"2.0.0","sent_at":"2021-08-23T10:12:50Z"}'
    )
    signature = (
        "wKcKCYXAzxNgiu7xmoDm943NUni7Rz33QN8JkEA9dWSGebgndonabgSj18Y4C08OrwVmueGsED2s00M7DtJVcYKOS1i3G4TMV"
        "x+mgM3aL9djMBkQtiYNBFUd6wrPI7ZUNHv/TrlKSjTMc+6JFvUvJ7owY3z85e3I4jLRLJowMFvO8kvCJ60+1pY9wDwZvtZ//W"
        "S93LrwGjk9Dvwzpmu0w+P4J75tETT5qC3Uv0y5G2yO8SEoO3yNP/tg/BOli02niHb53vEOUWUb9bly6thnfMoXoiV/osoGxgF2"
        "0R58RlvkAmezyyl1Sv542TfS2DpiwVnmjjjkCyXeSUcKookYLQ=="
    )
    assert verified(wise_sandbox_key, body, signature, hashes.SHA256())
    assert not verified(
        wise_sandbox_key, body.replace(b"10:12:50Z", b"10:12:51Z", 1), signature, hashes.SHA256()
    )


# The envelope, events and URL rules --------------------------------------------------------------------


def test_the_envelope_follows_the_schema_version(tenant: Tenant) -> None:
    old, new = subscribe(tenant, "2.0.0"), subscribe(tenant, "4.0.0")
    for s in (old, new):
        tenant.webhooks.test_notifications(s)
    bodies = {json.loads(d.body)["subscription_id"]: json.loads(d.body) for d in settle(tenant)}
    assert len(bodies[old.id]["sent_at"]) == 20 and len(bodies[new.id]["sent_at"]) == 24
    assert (
        bodies[new.id]["data"]["occurred_at"].endswith("Z") and "." in bodies[new.id]["data"]["occurred_at"]
    )


def test_every_event_type_has_test_data_for_every_version_it_takes(tenant: Tenant) -> None:
    for event in EVENT_TYPES.values():
        for version in event.accepted:
            data = event.test_data(tenant.clock.now(), version)
            assert json.dumps(data) and ("resource" in data or "transfer_id" in data)


RULES = Settings().webhooks


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://webhooks.example.com/balance-change", None),  # the docs' valid example (§8.6)
        ("http://webhooks.example.com:8080/hook.php?type=balance", "must be https"),
        ("https://webhooks.example.com:8443/x", "port 443"),
        ("https://webhooks.example.com:443/x", None),
        ("https://203.0.113.7/x", "not an IP address"),
        ("https://[2001:db8::1]/x", "not an IP address"),
        ("https://webhooks.example.com/x?a=b", "query string"),
        ("https://webhooks.example.com/x#top", "fragment"),
        ("ftp://webhooks.example.com/x", "https://"),
        ("https:///x", "no host"),
        ("https://webhooks.example.com:99999/x", "not a URL"),
        ("https://webhooks.example.com/ünïcode", "printable ASCII"),
        ("https://localhost:9443/x", None),
        ("https://127.0.0.1:9443/x", None),
        ("https://[::1]:9443/x", None),
        ("https://hooks.localhost:1/x", None),
        ("https://" + "a" * 2050 + ".example/x", "longer than"),
    ],
)
def test_urls_are_checked_by_wises_rules(url: str, problem: str | None) -> None:
    found = check_url(url, RULES)
    assert (found is None) if problem is None else (found is not None and problem in found), found


# The part ---------------------------------------------------------------------------------------


def test_snapshot_is_plain_json_and_restores(tenant: Tenant) -> None:
    subscription = subscribe(tenant)
    tenant.faults.add(FaultKind.WEBHOOK_DUPLICATE)
    emit(tenant)
    answer(tenant, 500)
    snapshot = tenant.webhooks.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot
    copy, _ = Sandbox().create_tenant(seed=False)
    copy.webhooks.restore(json.loads(json.dumps(snapshot)))
    assert copy.webhooks.snapshot() == snapshot
    assert copy.webhooks.subscription(subscription.id).url == URL
    [n] = copy.webhooks.notifications()
    assert n.duplicates == 1 and len(n.attempts) == 1 and not n.sending


def test_reset_forgets_subscriptions_and_notifications(tenant: Tenant) -> None:
    tenant.mark_seeded()
    subscribe(tenant)
    emit(tenant)
    tenant.reset()
    assert tenant.webhooks.subscriptions() == [] and tenant.webhooks.notifications() == []


def test_deleting_a_subscription_cancels_what_it_had_not_delivered(tenant: Tenant) -> None:
    subscription = subscribe(tenant)
    emit(tenant)
    tenant.webhooks.unsubscribe(subscription.id)
    assert tenant.webhooks.notifications()[0].state == "cancelled" and answer(tenant) == []


def test_the_log_keeps_what_the_setting_says_oldest_finished_first(tenant: Tenant) -> None:
    tenant.configure({"webhooks.kept_deliveries": 10})
    subscribe(tenant)
    for transfer in range(15):
        emit(tenant, transfer)
        settle(tenant)
    kept = tenant.webhooks.notifications()
    assert len(kept) == 10 and tenant.webhooks.dropped == 5
    assert json.loads(kept[-1].body)["data"]["resource"]["id"] == 5


def test_a_transfer_funded_twice_sends_one_event(tenant: Tenant) -> None:
    subscribe(tenant)
    client = next(iter(tenant.directory.clients))
    profile = next(iter(tenant.directory.profiles.values()))
    tenant.transfer_funded(9, profile, client)
    tenant.transfer_funded(9, profile, client)
    tenant.transfer_funded(9, profile, "another-client")
    [delivery] = settle(tenant)
    data = json.loads(delivery.body)["data"]
    assert data["resource"]["id"] == 9 and data["resource"]["profile_id"] == profile.id


def test_an_attempt_is_journaled_without_the_querys_values(tenant: Tenant) -> None:
    tenant.configure({"webhooks.no_query": False})
    client = next(iter(tenant.directory.clients))
    url = "https://receiver.localhost/wise?token=s3cret"
    body = {"name": "q", "trigger_on": "transfers#state-change", "delivery": {"version": "4.0.0", "url": url}}
    tenant.webhooks.subscribe(
        body, domain="application", scope_id=client, created_by=("application", client), client_id=client
    )
    emit(tenant)
    answer(tenant, 204)
    [entry] = tenant.journal.select(route="webhook:transfers#state-change")
    assert entry.path == "https://receiver.localhost/wise" and entry.query == ("token",)
    assert entry.status == 204 and entry.done >= entry.wall
