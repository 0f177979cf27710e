"""What a webhook receiver must do (reference §8.9), each obligation judged by the suite's story
(`mockwise.contracts.receiver.judge`) and broken by one mutant (`mutants`).

`python -m mockwise.contracts.receiver.catalog` prints the catalog as Markdown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["critical", "major", "minor"]


@dataclass(frozen=True)
class Obligation:
    id: str
    statement: str
    source: str
    severity: Severity
    check: str

    def as_json(self) -> dict[str, object]:
        return asdict(self)


CATALOG: tuple[Obligation, ...] = (
    Obligation(
        "HOOK-SIGNED",
        "Acts only on notifications whose X-Signature-SHA256 verifies over the raw body with the sandbox "
        "key: a forgery (no signature, a wrong one, v1's X-Signature alone, the production key) is refused.",
        "Wise event-handling page (do not process requests whose signature fails); reference §8.4",
        "critical",
        "no notice and no state for a transfer only forged notifications named",
    ),
    Obligation(
        "HOOK-GENUINE",
        "Acknowledges (2xx) and acts on every genuine notification, verifying the bytes as sent rather "
        "than JSON parsed and written again.",
        "Wise event-handling page (2xx within 5 seconds; signed over the body); reference §8.4, §8.5",
        "critical",
        "each genuine notification delivered in order is answered 2xx and gives one notice",
    ),
    Obligation(
        "HOOK-ONCE",
        "Acts once per event, however often it is delivered: a redelivery, a duplicate, with the same "
        "X-Delivery-Id or a new one.",
        "Wise webhooks pages (retries; duplicate callbacks); reference §8.1, §8.4, §8.5",
        "major",
        "at most one notice per event, after duplicates under both readings of X-Delivery-Id",
    ),
    Obligation(
        "HOOK-TEST",
        "Does not act on test notifications (X-Test-Notification: true) as real data.",
        "Wise webhook API reference (test notifications are not to be processed as real data); §8.8",
        "major",
        "no notice and no state for the test notification's transfer (id 0)",
    ),
    Obligation(
        "HOOK-FAST",
        "Answers within the sandbox's timeout even when acting takes longer: it stores, answers, and "
        "acts afterwards.",
        "Wise event-handling page (answer within 5 seconds; process in a separate process); reference §8.5",
        "major",
        "while acting takes several times the timeout, the attempt is answered before the timeout",
    ),
    Obligation(
        "HOOK-ORDER",
        "An older event arriving late does not undo a newer one: the transfer keeps the state of the "
        "event that occurred last.",
        "Wise event types page (order is not guaranteed; use data.occurred_at); reference §8.2",
        "major",
        "after a newer state change and then, late, an older one, the transfer's state is the newer one",
    ),
)

BY_ID = {o.id: o for o in CATALOG}


def markdown() -> str:
    lines = [
        "| Id | Obligation | Severity | Source | Check |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {o.id} | {o.statement} | {o.severity} | {o.source} | {o.check} |" for o in CATALOG]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
