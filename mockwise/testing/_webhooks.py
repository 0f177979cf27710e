"""Webhooks for partner tests (reference §8): subscribe, trigger, and assert what the receiver did.

    hooks = wise_sandbox.webhooks               # the pytest fixture's tenant (or TenantClient.webhooks)
    hooks.subscribe("https://localhost:9443/wise/webhooks")
    hooks.test_notification()                   # or hooks.send("transfers#state-change", {...})
    [delivery] = hooks.assert_delivered(event_type="transfers#state-change", status=200)

Everything goes through the control plane, so it works as well against a `mockwise serve` elsewhere.
A receiver may also be a function in the test's own process (`receive_in_process`), when the
sandbox runs there too (`WiseServer.start()`, the plugin's default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockwise._transport.webhooks import Dispatcher, LocalReceiver
    from mockwise.testing._client import TenantClient

JSON = dict[str, Any]


class WebhooksClient:
    """One tenant's webhooks, over the control plane."""

    def __init__(
        self, tenant: TenantClient, dispatcher: Callable[[], Dispatcher | None] | None = None
    ) -> None:
        self._tenant = tenant
        self._dispatcher = dispatcher or (lambda: None)

    def subscribe(
        self,
        url: str,
        trigger_on: str = "transfers#state-change",
        *,
        version: str = "4.0.0",
        mtls: bool = False,
        name: str = "mockwise",
        profile_id: int | None = None,
        client_id: str | None = None,
    ) -> JSON:
        """A subscription of the tenant's partner (or of `profile_id`'s profile), as Wise's API
        makes it (§8.1), without a token; a refused one raises `ControlPlaneError` with Wise's
        validation errors."""
        body: JSON = {
            "name": name,
            "trigger_on": trigger_on,
            "delivery": {"version": version, "url": url, "mtls_enabled": mtls},
            "level": "profile" if profile_id is not None else "application",
        }
        if profile_id is not None:
            body["profile_id"] = profile_id
        if client_id is not None:
            body["client_id"] = client_id
        made: JSON = self._tenant.call("POST", "/webhooks/subscriptions", body)
        return made

    def unsubscribe(self, subscription_id: str) -> None:
        self._tenant.call("DELETE", f"/webhooks/subscriptions/{subscription_id}")

    def subscriptions(self) -> list[JSON]:
        found: list[JSON] = self._tenant.call("GET", "/webhooks")["subscriptions"]
        return found

    @property
    def public_key(self) -> str:
        """The key notifications are signed with (PEM): what a receiver verifies with (§8.4)."""
        return str(self._tenant.call("GET", "/webhooks")["public_key"])

    def test_notification(self, subscription_id: str | None = None) -> list[JSON]:
        """Test notifications (§8.8) for a subscription (default: the only one)."""
        chosen = subscription_id or self._only()
        queued: list[JSON] = self._tenant.call(
            "POST", f"/webhooks/subscriptions/{chosen}/test-notifications"
        )["notifications"]
        return queued

    def send(
        self, event_type: str, data: JSON, *, subscription_id: str | None = None, test: bool = False
    ) -> list[JSON]:
        """A notification of any event type with `data` as its `data`, to every subscription
        listening for it (or to `subscription_id`'s)."""
        body: JSON = {"event_type": event_type, "data": data, "test": test}
        if subscription_id is not None:
            body["subscription_id"] = subscription_id
        queued: list[JSON] = self._tenant.call("POST", "/webhooks/events", body)["notifications"]
        return queued

    def settle(self, timeout: float = 10.0) -> JSON:
        """Wait until every attempt due now has been made (retries due later are not waited for:
        move the tenant's clock). Raises AssertionError if that did not happen in `timeout`."""
        answer: JSON = self._tenant.call("POST", "/webhooks/settle", {"timeout": timeout})
        if not answer["settled"]:
            raise AssertionError(
                f"webhooks still in flight after {timeout:g} s ({answer['pending']} pending); "
                "is a dispatcher running? (WiseServer.start() and mockwise serve run one)"
            )
        return answer

    def deliveries(self, **match: Any) -> list[JSON]:
        """The delivery log, newest first, filtered by `state`, `subscription_id`, `event_type`."""
        rows: list[JSON] = []
        offset = 0
        while True:
            page = self._tenant.call(
                "GET", "/webhooks/deliveries", params={**match, "offset": offset, "limit": 1000}
            )
            rows += page["deliveries"]
            if page.get("next") is None or not page["deliveries"]:
                return rows
            offset += len(page["deliveries"])

    def delivery(self, delivery_id: str) -> JSON:
        """One notification with every attempt (status or error, latency) and its body."""
        found: JSON = self._tenant.call("GET", f"/webhooks/deliveries/{delivery_id}")
        return found

    def assert_delivered(
        self, times: int | None = None, *, status: int | None = None, settle: bool = True, **match: Any
    ) -> list[JSON]:
        """Assert that notifications matching `match` (`event_type`, `subscription_id`, `state`)
        were delivered, `times` of them when given, and, with `status`, that the receiver's last
        answer to each was that status. Settles first. On failure the message lists every
        notification with its attempts: what the receiver answered, or why it got nothing."""
        if settle:
            self.settle()
        found = self.deliveries(**match)
        if status is not None:
            found = [d for d in found if d["last_status"] == status]
        if (times is None and found) or (times is not None and len(found) == times):
            return found
        wanted = ", ".join(f"{k}={v!r}" for k, v in {**match, "status": status}.items() if v is not None)
        expected = "at least once" if times is None else f"{times} time(s)"
        lines = [f"expected a delivery ({wanted or 'any'}) {expected}, found {len(found)}. Deliveries:"]
        for d in self.deliveries()[:25]:
            last = d["last_status"] if d["last_status"] is not None else d["last_error"]
            lines.append(
                f"  {d['delivery_id']} {d['event_type']} -> {d['url']}: {d['state']}, "
                f"{d['attempts']} attempt(s), last {last}"
            )
        if len(lines) == 1:
            lines.append("  (none: is anything subscribed to it?)")
        raise AssertionError("\n".join(lines))

    def receive_in_process(self, receiver: LocalReceiver, url: str | None = None) -> str:
        """Let a function of this process answer deliveries to `url` (default: a URL made up for
        it): `receiver(headers, raw_body)` returns the status (or `(status, headers)`). Only when
        the sandbox runs in this process; returns the URL to subscribe."""
        dispatcher = self._dispatcher()
        if dispatcher is None:
            raise RuntimeError(
                "a receiver in this process needs the sandbox in this process (WiseServer.start())"
            )
        import uuid

        chosen = url or f"https://receiver-{uuid.uuid4().hex[:8]}.localhost/wise/webhooks"
        dispatcher.receivers[chosen] = receiver
        return chosen

    def _only(self) -> str:
        subscriptions = self.subscriptions()
        if len(subscriptions) != 1:
            raise ValueError(f"name the subscription: the tenant has {len(subscriptions)}")
        return str(subscriptions[0]["id"])
