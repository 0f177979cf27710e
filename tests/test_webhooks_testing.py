"""Webhooks for partner tests (`mockwise.testing.WebhooksClient`, `wise_sandbox.webhooks`): subscribe,
trigger, and assert what the receiver answered, against the session's sandbox on real sockets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from mockwise.testing import ControlPlaneError, WiseSandbox, WiseServer


@pytest.fixture(scope="module")
def server() -> Iterator[WiseServer]:
    server = WiseServer.start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(server: WiseServer) -> Iterator[WiseSandbox]:
    sandbox = server.new_tenant()
    yield sandbox
    sandbox.close()


def test_subscribe_trigger_and_assert_what_the_receiver_answered(sandbox: WiseSandbox) -> None:
    hooks = sandbox.webhooks
    got: list[Mapping[str, str]] = []

    def receiver(headers: Mapping[str, str], body: bytes) -> int:
        got.append(headers)
        return 202

    made = hooks.subscribe(hooks.receive_in_process(receiver))
    assert [s["id"] for s in hooks.subscriptions()] == [made["id"]]
    [queued] = hooks.test_notification()
    [delivered] = hooks.assert_delivered(status=202, times=1, event_type="transfers#state-change")
    assert delivered["delivery_id"] == queued["delivery_id"] == got[0]["X-Delivery-Id"]
    detail = hooks.delivery(queued["delivery_id"])
    assert detail["attempts"][0]["status"] == 202 and '"id":0' in detail["body"]
    assert hooks.public_key.startswith("-----BEGIN PUBLIC KEY-----")
    hooks.send("balances#update", {"amount": 1}, subscription_id=made["id"])
    assert len(hooks.assert_delivered(status=202)) == 2


def test_a_failed_assertion_lists_what_the_receiver_did(sandbox: WiseSandbox) -> None:
    hooks = sandbox.webhooks
    hooks.subscribe(hooks.receive_in_process(lambda headers, body: 500))
    hooks.test_notification()
    with pytest.raises(AssertionError) as failed:
        hooks.assert_delivered(status=200)
    message = str(failed.value)
    assert "expected a delivery (status=200) at least once, found 0" in message
    assert "pending, 1 attempt(s), last 500" in message


def test_retries_follow_the_tenants_clock(sandbox: WiseSandbox) -> None:
    hooks = sandbox.webhooks
    hooks.subscribe(hooks.receive_in_process(lambda headers, body: 503))
    sandbox.clock.freeze()
    hooks.test_notification()
    hooks.settle()
    sandbox.clock.advance(15 * 86400)
    [failed] = hooks.assert_delivered(state="failed", status=503)
    assert failed["attempts"] == 25


def test_refusals_carry_wises_errors(sandbox: WiseSandbox) -> None:
    with pytest.raises(ControlPlaneError) as refused:
        sandbox.webhooks.subscribe("http://example.com:8080/hook?x=1")
    assert "delivery.url: The URL must be https" in str(refused.value)
    with pytest.raises(ValueError, match="name the subscription"):
        sandbox.webhooks.test_notification()
