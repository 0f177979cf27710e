"""The judge's story: what the suite sends a receiver, and what it checks afterwards.

One story per variation of the world (`VARIATIONS`: what `X-Delivery-Id` names, the schema
version), each on a tenant of its own, its clock frozen so that only what the story sends goes out.
Every notification is a real one from the sandbox (the envelope, the signature, the delivery),
each step naming transfers no other step names, so what the receiver did is unambiguous:

1. a genuine `transfers#state-change`: acknowledged (2xx) and one notice (HOOK-GENUINE);
2. a test notification: no notice, no state for its transfer 0 (HOOK-TEST);
3. four forgeries, one transfer each (no signature, a wrong one, v1's alone, the production key):
   no notice, no state (HOOK-SIGNED);
4. a duplicate, delivered again once acknowledged: one notice (HOOK-ONCE);
5. a newer state, then the older one, late: the newer state stays (HOOK-ORDER);
6. (once) while acting takes several times the sandbox's timeout: answered in time (HOOK-FAST).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mockwise._domain.faults import FaultKind
from mockwise._domain.webhook_events import transfer_state_change
from mockwise._domain.webhooks import Notification, Subscription
from mockwise.contracts.receiver.adapter import WiseReceiver

if TYPE_CHECKING:
    from mockwise._domain.tenant import Tenant
    from mockwise._transport.webhooks import Dispatcher

EVENT = "transfers#state-change"
#: The sandbox's timeout in the suite's stories: Wise waits 5 s (§8.5); a receiver that stores and
#: answers takes milliseconds, so a second still judges fairly and keeps the run short.
TIMEOUT_MS = 1000
#: How long acting takes in the slow step: several times the timeout.
SLOW = 2.5
FORGERIES = (
    (FaultKind.WEBHOOK_NO_SIGNATURE, "no signature"),
    (FaultKind.WEBHOOK_BAD_SIGNATURE, "a signature over other bytes"),
    (FaultKind.WEBHOOK_LEGACY_SIGNATURE, "only v1's X-Signature, RSA-SHA1"),
    (FaultKind.WEBHOOK_PRODUCTION_KEY, "signed with the production key"),
)


@dataclass(frozen=True)
class Variation:
    delivery_id: str  # `webhooks.delivery_id`: what X-Delivery-Id names (§8.4, §13 q11)
    version: str  # the subscription's schema version (§8.2)
    slow: bool  # whether this story has the slow step

    def __str__(self) -> str:
        return f"X-Delivery-Id per {self.delivery_id}, schema {self.version}"


VARIATIONS = (Variation("notification", "2.0.0", slow=True), Variation("attempt", "4.0.0", slow=False))


@dataclass
class Findings:
    """What the stories found: each obligation's breaches (the first says it best) and the
    moments that put it to the test."""

    broken: dict[str, list[str]] = field(default_factory=dict)
    exercised: Counter[str] = field(default_factory=Counter)

    def breach(self, obligation: str, text: str) -> None:
        self.broken.setdefault(obligation, []).append(text)

    def tested(self, obligation: str) -> None:
        self.exercised[obligation] += 1


class Story:
    """One story against one receiver under one variation."""

    def __init__(
        self,
        tenant: Tenant,
        dispatcher: Dispatcher,
        receiver: WiseReceiver,
        variation: Variation,
        findings: Findings,
        deliver_locally: Callable[[str, WiseReceiver], str],
    ) -> None:
        self.tenant = tenant
        self.dispatcher = dispatcher
        self.receiver = receiver
        self.variation = variation
        self.findings = findings
        self.next_transfer = 1000
        tenant.configure({"webhooks.timeout_ms": TIMEOUT_MS, "webhooks.delivery_id": variation.delivery_id})
        tenant.clock.freeze()  # no retry goes out unless the story moves the clock
        client = tenant.add_client(name="receiver suite").client_id
        url = receiver.url() or deliver_locally(tenant.id, receiver)
        body = {
            "name": "receiver suite",
            "trigger_on": EVENT,
            "delivery": {"version": variation.version, "url": url},
        }
        self.subscription: Subscription = tenant.webhooks.subscribe(
            body, domain="application", scope_id=client, created_by=("application", client), client_id=client
        )

    # Sending and settling ------------------------------------------------------------------------

    def transfer(self) -> int:
        self.next_transfer += 1
        return self.next_transfer

    def send(self, transfer: int, state: str, previous: str | None, ago: float = 0.0) -> Notification:
        occurred = self.tenant.clock.now() - ago
        data = transfer_state_change(transfer, 1, 2, state, previous, occurred, self.variation.version)
        [sent] = self.tenant.webhooks.send(EVENT, data, subscriptions=[self.subscription])
        return sent

    def settle(self, acting: float = 0.0) -> None:
        self.dispatcher.settle(self.tenant, 30 + acting)
        self.receiver.idle(5 + acting)

    def notices(self, transfer: int) -> list[dict[str, Any]]:
        return [dict(n) for n in self.receiver.notices() if n.get("transfer_id") == transfer]

    def where(self) -> str:
        return f"({self.variation})"

    # The steps ------------------------------------------------------------------------------------

    def tell(self) -> None:
        self.genuine()
        self.test_notification()
        self.forgeries()
        self.duplicate()
        self.late_older_event()
        if self.variation.slow:
            self.slow_work()

    def genuine(self) -> None:
        transfer = self.transfer()
        sent = self.send(transfer, "processing", "incoming_payment_waiting")
        self.settle()
        self.judge_genuine(transfer, "processing", sent)

    def judge_genuine(self, transfer: int, state: str, sent: Notification) -> None:
        self.findings.tested("HOOK-GENUINE")
        first = sent.attempts[0] if sent.attempts else None
        if first is None or not first.acknowledged:
            answer = "no attempt" if first is None else (first.status or first.error)
            self.findings.breach(
                "HOOK-GENUINE",
                f"a genuine notification (transfer {transfer} → {state}, delivery {sent.delivery_id}) was "
                f"answered {answer}, not 2xx {self.where()}",
            )
        elif not any(n.get("state") == state for n in self.notices(transfer)):
            self.findings.breach(
                "HOOK-GENUINE",
                f"a genuine notification (transfer {transfer} → {state}) was acknowledged but never acted "
                f"on: no notice {self.where()}",
            )

    def test_notification(self) -> None:
        [queued] = self.tenant.webhooks.test_notifications(self.subscription)
        self.settle()
        self.findings.tested("HOOK-TEST")
        acted = self.notices(0)
        state = self.receiver.transfer_state(0)
        if acted or state is not None:
            self.findings.breach(
                "HOOK-TEST",
                f"a test notification (delivery {queued.delivery_id}, X-Test-Notification: true, transfer 0) "
                f"was acted on as real data: notices {acted}, state {state!r} {self.where()}",
            )

    def forgeries(self) -> None:
        for kind, what in FORGERIES:
            self.tenant.faults.add(kind, event_type=EVENT)
            transfer = self.transfer()
            sent = self.send(transfer, "outgoing_payment_sent", "funds_converted")
            self.settle()
            self.findings.tested("HOOK-SIGNED")
            acted, state = self.notices(transfer), self.receiver.transfer_state(transfer)
            if acted or state is not None:
                status = sent.attempts[0].status if sent.attempts else None
                self.findings.breach(
                    "HOOK-SIGNED",
                    f"a forgery ({what}; delivery {sent.delivery_id}, answered {status}) was acted on: "
                    f"transfer {transfer} now {state!r}, notices {acted} {self.where()}",
                )

    def duplicate(self) -> None:
        self.tenant.faults.add(FaultKind.WEBHOOK_DUPLICATE, event_type=EVENT)
        transfer = self.transfer()
        sent = self.send(transfer, "processing", "incoming_payment_waiting")
        self.settle()
        self.judge_genuine(transfer, "processing", sent)
        if len(sent.attempts) < 2:
            return  # not acknowledged, so never sent again: nothing to judge
        self.findings.tested("HOOK-ONCE")
        acted = self.notices(transfer)
        if len(acted) > 1:
            ids = sorted({a.delivery_id for a in sent.attempts})
            self.findings.breach(
                "HOOK-ONCE",
                f"one event (transfer {transfer} → processing) delivered twice (X-Delivery-Id "
                f"{', '.join(ids)}) was acted on {len(acted)} times {self.where()}",
            )

    def late_older_event(self) -> None:
        self.tenant.faults.add(FaultKind.WEBHOOK_OUT_OF_ORDER, event_type=EVENT, seconds=3600)
        transfer = self.transfer()
        older = self.send(transfer, "processing", "incoming_payment_waiting", ago=60)
        newer = self.send(transfer, "outgoing_payment_sent", "funds_converted")
        self.settle()
        self.judge_genuine(transfer, "outgoing_payment_sent", newer)
        went = [(n, n.attempts[0].wall) for n in (older, newer) if n.attempts]
        if len(went) < 2 or went[0][1] < went[1][1]:
            return  # the older one did not come last: nothing to judge
        state = self.receiver.transfer_state(transfer)
        if state is None:
            return  # never acted on at all: HOOK-GENUINE says so
        self.findings.tested("HOOK-ORDER")
        if state != "outgoing_payment_sent":
            self.findings.breach(
                "HOOK-ORDER",
                f"transfer {transfer} was outgoing_payment_sent (occurred last), then a late, older "
                f"notification said processing (occurred a minute before): the receiver now says {state!r} "
                f"{self.where()}",
            )

    def slow_work(self) -> None:
        self.receiver.processing(SLOW)
        transfer = self.transfer()
        sent = self.send(transfer, "processing", "incoming_payment_waiting")
        self.dispatcher.settle(self.tenant, 30)
        self.receiver.processing(0.0)
        self.receiver.idle(SLOW + 10)
        self.findings.tested("HOOK-FAST")
        first = sent.attempts[0] if sent.attempts else None
        if first is not None and first.error == "timeout":
            self.findings.breach(
                "HOOK-FAST",
                f"while acting took {SLOW:g} s, a notification (transfer {transfer}) got no answer within "
                f"the sandbox's {TIMEOUT_MS} ms: answer first, act afterwards {self.where()}",
            )
