"""A webhook receiver that keeps every obligation (`mockwise.contracts.receiver.catalog`): the proof
that the obligations can all be kept at once, and the base of the mutants, each one bug away.

What it does with a delivery, in order (reference §8.9): verify `X-Signature-SHA256` over the raw
bytes with the sandbox key; leave test notifications alone; take each event once (by what it says,
not by `X-Delivery-Id`, which may name an attempt); queue it and answer at once; a worker acts
afterwards, keeping each transfer's state by `occurred_at`, so a late older event changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import queue
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mockwise.contracts.receiver.adapter import ReceiverConfig

JSON = dict[str, Any]


class ReferenceReceiver:
    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.key = _rsa(config.public_key_pem())
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._states: dict[int, tuple[datetime, str]] = {}
        self._notices: list[dict[str, object]] = []
        self._delay = 0.0
        self._work: queue.Queue[JSON | None] = queue.Queue()
        self._pending = 0
        self._done = threading.Condition(self._lock)
        self._worker = threading.Thread(target=self._run, name="receiver-worker", daemon=True)
        self._worker.start()

    # Receiving ----------------------------------------------------------------------------------

    def url(self) -> str | None:
        return None

    def webhook(self, headers: Mapping[str, str], body: bytes) -> int:
        lower = {k.lower(): v for k, v in headers.items()}
        if not self.verified(lower, body):
            return 401
        try:
            event = json.loads(body)
        except ValueError:
            return 400
        if not isinstance(event, dict):
            return 400
        if self.is_test(lower):
            return 200  # acknowledged, never acted on (§8.8)
        if not self.first_time(event, lower):
            return 200  # taken before: acknowledged again, not acted on again
        self.enqueue(event)
        return 200

    def verified(self, headers: Mapping[str, str], body: bytes) -> bool:
        """The sandbox key's SHA-256 signature over the bytes as they came (§8.4)."""
        signature = headers.get("x-signature-sha256")
        if signature is None:
            return False
        try:
            self.key.verify(
                base64.b64decode(signature, validate=True), body, padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def is_test(self, headers: Mapping[str, str]) -> bool:
        return headers.get("x-test-notification", "").lower() == "true"

    def first_time(self, event: JSON, headers: Mapping[str, str]) -> bool:
        """Whether this event is new: the same event type and data is the same event, whatever
        delivery (or subscription) brought it."""
        identity = hashlib.sha256(
            json.dumps([event.get("event_type"), event.get("data")], sort_keys=True).encode()
        ).hexdigest()
        with self._lock:
            if identity in self._seen:
                return False
            self._seen.add(identity)
            return True

    def enqueue(self, event: JSON) -> None:
        with self._lock:
            self._pending += 1
        self._work.put(event)

    # Acting --------------------------------------------------------------------------------------

    def _run(self) -> None:
        while (event := self._work.get()) is not None:
            try:
                self.act(event)
            finally:
                with self._done:
                    self._pending -= 1
                    self._done.notify_all()

    def act(self, event: JSON) -> None:
        """What the partner's system does with a verified, new, real event (slow when told so)."""
        if self._delay:
            time.sleep(self._delay)
        if event.get("event_type") != "transfers#state-change":
            return
        data = event.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("resource"), dict):
            return
        try:
            transfer = int(data["resource"]["id"])
            state = str(data["current_state"])
            occurred = _instant(str(data["occurred_at"]))
        except (KeyError, TypeError, ValueError):
            return
        self.apply(transfer, state, occurred)

    def apply(self, transfer: int, state: str, occurred: datetime) -> None:
        """Keep the newest state by `occurred_at` (§8.2); tell the customer of each change taken."""
        with self._lock:
            known = self._states.get(transfer)
            if known is not None and known[0] > occurred:
                return  # an older moment arriving late: nothing to undo (the same moment: taken)
            self._states[transfer] = (occurred, state)
            self._notices.append({"transfer_id": transfer, "state": state})

    # What the suite asks -------------------------------------------------------------------------

    def transfer_state(self, transfer_id: int) -> str | None:
        with self._lock:
            known = self._states.get(transfer_id)
            return known[1] if known is not None else None

    def notices(self) -> list[dict[str, object]]:
        with self._lock:
            return list(self._notices)

    def processing(self, seconds: float) -> None:
        self._delay = seconds

    def idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._done:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(left)
        return True

    def close(self) -> None:
        self._work.put(None)


def _rsa(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the webhook key is an RSA key")
    return key


def _instant(value: str) -> datetime:
    """Wise's timestamps, with seconds (2.0.0) or milliseconds (4.0.0), as comparable instants."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def factory(config: ReceiverConfig) -> ReferenceReceiver:
    return ReferenceReceiver(config)
