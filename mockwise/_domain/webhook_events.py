"""Wise's webhook event types (reference §8.3): which subscription level may ask for each, the
schema versions it comes in, and the dummy data of a test notification (§8.8).

Timestamps follow the schema version (§8.2): 4.0.0 and later carry milliseconds, earlier ones
seconds. Test data follows Wise's description: entity ids of zero, random UUIDs, the current time,
hard-coded states.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mockwise._domain.clock import iso_millis, iso_seconds

JSON = dict[str, Any]
#: The schema version with millisecond timestamps throughout [C] §8.2: every type takes it here [I].
MILLIS_VERSION = "4.0.0"


def timestamp(instant: float, version: str) -> str:
    """An instant as a notification of `version` writes it: milliseconds from 4.0.0 on (§8.2)."""
    return iso_millis(instant) if _at_least(version, MILLIS_VERSION) else iso_seconds(instant)


def _at_least(version: str, floor: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) if p.isdigit() else 0 for p in v.split("."))

    return parts(version) >= parts(floor)


@dataclass(frozen=True, slots=True)
class EventType:
    """One event type: where it may be subscribed (§8.3) and its test notification's data (§8.8)."""

    name: str
    profile: bool
    application: bool
    versions: tuple[str, ...]
    sample: Callable[[str, str], JSON]  # (occurred_at as rendered, a random uuid) -> `data`

    def takes(self, version: str) -> bool:
        return version in self.versions or version == MILLIS_VERSION

    @property
    def accepted(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.versions, MILLIS_VERSION)))

    def test_data(self, now: float, version: str) -> JSON:
        return self.sample(timestamp(now, version), str(uuid.uuid4()))


def _transfer(at: str, _: str) -> JSON:
    resource = {"type": "transfer", "id": 0, "profile_id": 0, "account_id": 0}
    return {
        "resource": resource,
        "current_state": "processing",
        "previous_state": "incoming_payment_waiting",
        "occurred_at": at,
    }


def _active_cases(at: str, _: str) -> JSON:
    resource = {"type": "transfer", "id": 0, "profile_id": 0, "account_id": 0}
    return {"resource": resource, "active_cases": ["deposit_amount_less_invoice"]}


def _payout_failure(at: str, _: str) -> JSON:
    return {
        "transfer_id": 0,
        "profile_id": 0,
        "failure_reason_code": "WRONG_ACCOUNT_NUMBER",
        "failure_description": "Invalid account number",
        "occurred_at": at,
    }


def _refund(at: str, _: str) -> JSON:
    resource = {"type": "transfer", "id": 0, "profile_id": 0, "account_id": 0}
    return {"resource": {**resource, "refund_amount": 0, "refund_currency": "EUR"}, "occurred_at": at}


def _balance_credit(at: str, _: str) -> JSON:
    return {
        "resource": {"type": "balance-account", "id": 0, "profile_id": 0},
        "transaction_type": "credit",
        "amount": 0,
        "currency": "EUR",
        "post_transaction_balance_amount": 0,
        "occurred_at": at,
    }


def _balance_update(at: str, _: str) -> JSON:
    return {
        "resource": {"type": "balance-account", "id": 0, "profile_id": 0},
        "amount": 0,
        "balance_id": 0,
        "channel_name": "TRANSFER",
        "currency": "EUR",
        "occurred_at": at,
        "post_transaction_balance_amount": 0,
        "step_id": 0,
        "transaction_type": "credit",
        "transfer_reference": "0",
    }


def _account_state(at: str, _: str) -> JSON:
    resource = {"type": "balance-account", "id": 0, "profile_id": 0, "state": "ACTIVE"}
    return {"resource": resource, "occurred_at": at}


def _profile_state(state: str) -> Callable[[str, str], JSON]:
    def sample(at: str, _: str) -> JSON:
        return {"resource": {"type": "profile", "id": 0}, "current_state": state, "occurred_at": at}

    return sample


def _user_state(at: str, _: str) -> JSON:
    return {
        "resource": {"type": "user", "id": 0},
        "previous_state": "ACTIVE",
        "current_state": "WITHDRAW_ONLY",
        "occurred_at": at,
    }


def _payin(at: str, uid: str) -> JSON:
    return {
        "account_details_id": "0",
        "target_account_id": "0",
        "resource": {"id": 0, "profile_id": 0},
        "transfer": {"id": uid, "type": "credit", "amount": 0, "currency": "EUR"},
        "sender": {"name": "Test Sender", "account_number": "0", "bank_code": "TEST", "address": "Test"},
        "current_status": "COMPLETED",
        "previous_status": "PROCESSING",
        "occurred_at": at,
    }


def _card(at: str, uid: str) -> JSON:
    resource = {"type": "card", "profile_id": 0, "client_id": "test", "card_token": uid}
    return {"resource": resource, "card_status": "ACTIVE", "changed_by": "internal_system", "occurred_at": at}


def _hold_limit(at: str, _: str) -> JSON:
    resource = {"type": "hold-limit-breach", "hold_limit_breach_id": 0, "profile_id": 0}
    return {
        "resource": resource,
        "amount": 0,
        "currency": "SGD",
        "state": "OPEN",
        "closing_reason": None,
        "created_at": at,
        "updated_at": at,
        "occurred_at": at,
    }


def _generic(kind: str) -> Callable[[str, str], JSON]:
    """A type whose payload the sandbox does not model: its resource and the time (§8.8's dummy data)."""

    def sample(at: str, uid: str) -> JSON:
        return {"resource": {"type": kind, "id": 0}, "occurred_at": at}

    return sample


V2 = ("2.0.0",)
EVENT_TYPES: dict[str, EventType] = {
    e.name: e
    for e in (
        EventType("transfers#state-change", True, True, V2, _transfer),
        EventType("transfers#active-cases", True, True, V2, _active_cases),
        EventType("transfers#payout-failure", True, True, V2, _payout_failure),
        EventType("transfers#refund", True, True, ("1.0.0",), _refund),
        EventType("account-details-payment#state-change", True, True, V2, _payin),
        EventType("balances#credit", True, False, V2, _balance_credit),
        EventType("balances#update", True, True, ("3.0.0",), _balance_update),
        EventType("balances#account-state-change", False, True, V2, _account_state),
        EventType("profiles#verification-state-change", False, True, V2, _profile_state("verified")),
        EventType("profiles#cdd-check-state-change", False, True, V2, _profile_state("VERIFIED")),
        EventType("profiles#overdraft-limit-threshold", False, True, V2, _generic("profile")),
        EventType("batch-payment-initiations#state-change", False, True, V2, _generic("batch-payment")),
        EventType("swift-in#credit", True, True, ("3.0.0",), _generic("swift-in")),
        EventType("cards#transaction-state-change", False, True, V2, _card),
        EventType("cards#card-status-change", False, True, V2, _card),
        EventType("cards#card-order-status-change", False, True, V2, _card),
        EventType("cards#card-production-status-change", False, True, V2, _card),
        EventType("cards#3ds-challenge", False, True, V2, _card),
        EventType("partner-support#case-changed", False, True, V2, _generic("partner-support-case")),
        EventType("transaction-disputes#update", False, True, V2, _generic("transaction-dispute")),
        EventType("bulk-settlement#payment-received", False, True, ("3.0.0",), _generic("settlement")),
        EventType("users#state-change", False, True, V2, _user_state),
        EventType("kyc-reviews#state-change", False, True, V2, _generic("kyc-review")),
        EventType("account-details-order#order-state-change", False, True, V2, _generic("order")),
        EventType("hold-limit-breach#update", True, True, (), _hold_limit),
    )
}


def transfer_state_change(
    transfer_id: int,
    profile_id: int,
    account_id: int,
    current: str,
    previous: str | None,
    occurred_at: float,
    version: str,
) -> JSON:
    """`transfers#state-change`'s `data` (§8.3) for a schema version."""
    return {
        "resource": {
            "type": "transfer",
            "id": transfer_id,
            "profile_id": profile_id,
            "account_id": account_id,
        },
        "current_state": current,
        "previous_state": previous,
        "occurred_at": timestamp(occurred_at, version),
    }
