"""Broken receivers, one realistic bug each: the proof that the receiver suite catches what it
claims to. Each is the reference receiver with one behaviour changed, and names the obligation that
must catch it; the kill matrix (`tests/contracts/test_receiver_kill_matrix.py`) runs them all.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mockwise.contracts.receiver.reference import JSON, ReferenceReceiver


class TrustsEveryDelivery(ReferenceReceiver):
    """Never checks the signature: anyone who knows the URL can post "transfer sent"."""

    catches = "HOOK-SIGNED"

    def verified(self, headers: Mapping[str, str], body: bytes) -> bool:
        return True


class FallsBackToTheLegacySignature(ReferenceReceiver):
    """Without X-Signature-SHA256, accepts v1's X-Signature (RSA-SHA1): code kept from 2019."""

    catches = "HOOK-SIGNED"

    def verified(self, headers: Mapping[str, str], body: bytes) -> bool:
        if "x-signature-sha256" in headers:
            return super().verified(headers, body)
        legacy = headers.get("x-signature")
        if legacy is None:
            return False
        try:
            sha1 = hashes.SHA1()  # noqa: S303 - the bug: v1's scheme
            self.key.verify(base64.b64decode(legacy, validate=True), body, padding.PKCS1v15(), sha1)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


class AcceptsEitherWiseKey(ReferenceReceiver):
    """Tries both keys Wise publishes, sandbox and production, "to work in both environments"."""

    catches = "HOOK-SIGNED"

    def verified(self, headers: Mapping[str, str], body: bytes) -> bool:
        if super().verified(headers, body):
            return True
        production = serialization.load_pem_public_key(Path(self.config.webhook_production_key).read_bytes())
        signature = headers.get("x-signature-sha256")
        if signature is None or not isinstance(production, rsa.RSAPublicKey):
            return False
        try:
            production.verify(base64.b64decode(signature), body, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


class VerifiesParsedJson(ReferenceReceiver):
    """Verifies the signature over the JSON it parsed and wrote again, not over the bytes that came
    (a framework handed it the parsed body): no genuine notification ever verifies."""

    catches = "HOOK-GENUINE"

    def verified(self, headers: Mapping[str, str], body: bytes) -> bool:
        try:
            again = json.dumps(json.loads(body)).encode()
        except ValueError:
            return False
        return super().verified(headers, again)


class ActsOnEveryDelivery(ReferenceReceiver):
    """Keeps no record of what it took: every redelivery is acted on again."""

    catches = "HOOK-ONCE"

    def first_time(self, event: JSON, headers: Mapping[str, str]) -> bool:
        return True


class DeduplicatesByDeliveryId(ReferenceReceiver):
    """Takes each X-Delivery-Id once: right while it names a notification, wrong when Wise sends a
    new one with each attempt, as its OAS reads (reference §8.4)."""

    catches = "HOOK-ONCE"

    def first_time(self, event: JSON, headers: Mapping[str, str]) -> bool:
        delivery = headers.get("x-delivery-id", "")
        with self._lock:
            if delivery in self._seen:
                return False
            self._seen.add(delivery)
            return True


class ActsOnTestNotifications(ReferenceReceiver):
    """Ignores X-Test-Notification: the dummy transfer 0 lands in the partner's records."""

    catches = "HOOK-TEST"

    def is_test(self, headers: Mapping[str, str]) -> bool:
        return False


class ActsBeforeAnswering(ReferenceReceiver):
    """Does the work before answering: when the work is slow, Wise has stopped waiting."""

    catches = "HOOK-FAST"

    def enqueue(self, event: JSON) -> None:
        with self._lock:
            self._pending += 1
        try:
            self.act(event)
        finally:
            with self._done:
                self._pending -= 1
                self._done.notify_all()


class LatestArrivalWins(ReferenceReceiver):
    """Takes each state as it arrives: a late `processing` undoes `outgoing_payment_sent`."""

    catches = "HOOK-ORDER"

    def apply(self, transfer: int, state: str, occurred: datetime) -> None:
        with self._lock:
            self._states[transfer] = (occurred, state)
            self._notices.append({"transfer_id": transfer, "state": state})


MUTANTS: tuple[type[ReferenceReceiver], ...] = (
    TrustsEveryDelivery,
    FallsBackToTheLegacySignature,
    AcceptsEitherWiseKey,
    VerifiesParsedJson,
    ActsOnEveryDelivery,
    DeduplicatesByDeliveryId,
    ActsOnTestNotifications,
    ActsBeforeAnswering,
    LatestArrivalWins,
)
