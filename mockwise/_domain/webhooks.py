"""Webhooks the sandbox sends (reference §8): subscriptions at both levels, the notifications they
get, and each notification's delivery log, retried on Wise's ladder on the tenant's clock.

The domain decides what is sent and when; the transport sends (`mockwise._transport.webhooks`). It
asks `take_due(now)` for what to attempt (each marked in flight), sends without the tenant's lock,
and hands the outcome to `attempted`, which journals the attempt and schedules the next one (§8.5)
or closes the notification. Because the next attempt is due a delay after the *scheduled* one, not
after the moment it was actually sent, moving the clock 15 days runs the whole ladder at once.

A notification's body is made once (compact JSON, as Wise's sandbox example, §8.4) and sent
unchanged on every attempt; the signature is made at sending, over those bytes, with the sandbox's
key (`SigningKeys`). Faults on the way out (`mockwise._domain.faults`, §8.9) are taken when a
notification is queued: a forgery is sent once and never retried (it is not Wise's).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mockwise._domain.clock import iso_seconds, to_micros
from mockwise._domain.codec import JSON, from_data, to_data
from mockwise._domain.entries import Entry
from mockwise._domain.errors import FieldError, ValidationError, clip
from mockwise._domain.faults import Fault, FaultKind, Faults
from mockwise._domain.settings import Webhooks as Rules
from mockwise._domain.webhook_events import EVENT_TYPES, timestamp, transfer_state_change

if TYPE_CHECKING:
    from mockwise._domain.context import TenantContext

Domain = Literal["application", "profile"]
Signature = Literal["sha256", "bad", "none", "legacy", "production"]

#: The retry ladder (§8.5): 1 minute after the first failure, doubling, at most a day apart.
FIRST_RETRY = 60.0
LONGEST_RETRY = 86400.0
#: Statuses in `webhooks.short_retry_statuses` get at most this many attempts (§8.5).
SHORT_RETRY_ATTEMPTS = 3
#: A `Retry-After` is honoured up to this far ahead (Wise names no bound; the ladder's span).
LONGEST_RETRY_AFTER = 15 * 86400.0
#: Input bounds [I]: Wise publishes none.
MAX_SUBSCRIPTIONS = 200
MAX_NAME = 255
MAX_URL = 2048
MAX_EVENT_DATA = 64 * 1024  # bytes of a notification body the control plane may ask for
#: The subject of the certificate presented on mTLS deliveries (§8.7; Wise's own is [?]).
MTLS_CLIENT_NAME = "wise-webhooks"

SIGNATURE_HEADER = "X-Signature-SHA256"
LEGACY_SIGNATURE_HEADER = "X-Signature"
SIGNATURES: dict[FaultKind, Signature] = {
    FaultKind.WEBHOOK_BAD_SIGNATURE: "bad",
    FaultKind.WEBHOOK_NO_SIGNATURE: "none",
    FaultKind.WEBHOOK_LEGACY_SIGNATURE: "legacy",
    FaultKind.WEBHOOK_PRODUCTION_KEY: "production",
}


def retry_delay(attempts: int) -> float:
    """Seconds from a failed attempt number `attempts` (1 = the first) to the next (§8.5)."""
    return min(FIRST_RETRY * float(2 ** min(attempts - 1, 20)), LONGEST_RETRY)


def _nothing(tenant_id: str) -> None:
    pass


# Signing -----------------------------------------------------------------------------------------


class SigningKeys:
    """The sandbox's webhook signing key, whose public half is published (§8.4), and a second one
    standing in for Wise's production key (the `webhook_production_key` fault): RSA 2048, as Wise's."""

    def __init__(self, sandbox_pem: str | None = None, production_pem: str | None = None) -> None:
        self._sandbox = _rsa(sandbox_pem)
        self._production = _rsa(production_pem)

    @property
    def sandbox_pem(self) -> str:
        """The private key, PKCS#8 PEM (the state directory keeps it)."""
        return _private_pem(self._sandbox)

    @property
    def production_pem(self) -> str:
        return _private_pem(self._production)

    @property
    def public_pem(self) -> str:
        """The sandbox key's public half, SubjectPublicKeyInfo PEM: what a receiver verifies with."""
        return _public_pem(self._sandbox)

    @property
    def production_public_pem(self) -> str:
        return _public_pem(self._production)

    def headers(self, body: bytes, signature: Signature) -> dict[str, str]:
        """The signature header(s) of a notification body (§8.4), as `signature` says to make them."""
        sha256, sha1 = hashes.SHA256(), hashes.SHA1()  # noqa: S303 - v1's legacy scheme, on purpose
        if signature == "sha256":
            return {SIGNATURE_HEADER: _sign(self._sandbox, body, sha256)}
        if signature == "bad":  # a well-formed signature over other bytes: tampering in transit
            return {SIGNATURE_HEADER: _sign(self._sandbox, body + b" ", sha256)}
        if signature == "legacy":
            return {LEGACY_SIGNATURE_HEADER: _sign(self._sandbox, body, sha1)}
        if signature == "production":
            return {SIGNATURE_HEADER: _sign(self._production, body, sha256)}
        return {}

    def verify(self, body: bytes, signature_b64: str) -> bool:
        """Whether `signature_b64` is the sandbox key's signature of `body` (what a receiver does)."""
        try:
            self._sandbox.public_key().verify(
                base64.b64decode(signature_b64, validate=True), body, padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


def _rsa(pem: str | None) -> rsa.RSAPrivateKey:
    if pem is None:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("a webhook signing key is an RSA key")
    return key


def _sign(key: rsa.RSAPrivateKey, body: bytes, digest: hashes.HashAlgorithm) -> str:
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), digest)).decode("ascii")


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


# The delivery URL (§8.6) -------------------------------------------------------------------------


def is_local_host(host: str) -> bool:
    """A name or address of this machine: `localhost`, `*.localhost`, 127.0.0.0/8, ::1."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, rules: Rules) -> str | None:
    """What is wrong with a delivery URL under Wise's rules (§8.6) as `rules` apply them, or None."""
    if len(url) > MAX_URL:
        return f"is longer than {MAX_URL} characters"
    if not url.isascii() or not url.isprintable() or " " in url:
        return "must be printable ASCII without spaces (percent-encode the rest)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL"
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("https", "http"):
        return "must be an https:// URL"
    if scheme == "http" and rules.https_only:
        return "must be https: Wise delivers over HTTPS only (webhooks.https_only)"
    if not host:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if parts.fragment:
        return "must not carry a fragment"
    local = is_local_host(host)
    if local and not rules.localhost:
        return "is on this machine, which Wise could not reach (webhooks.localhost)"
    exempt = local and rules.localhost
    if not exempt and rules.no_ip_address and _is_address(host):
        return "must name a domain, not an IP address (webhooks.no_ip_address)"
    default = 443 if scheme == "https" else 80
    if not exempt and rules.port_443_only and (port or default) != 443:
        return "must use port 443 (webhooks.port_443_only)"
    if parts.query and rules.no_query:
        return "must not carry a query string (webhooks.no_query)"
    return None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# Subscriptions and notifications -----------------------------------------------------------------


@dataclass(slots=True)
class Subscription:
    id: str
    name: str
    trigger_on: str
    version: str
    url: str
    mtls: bool
    domain: Domain
    scope_id: str  # the client key, or the profile id
    created_by_type: str  # "application" or "user"
    created_by_id: str  # the client id, or the user id
    created_at: float  # tenant clock
    client_id: str | None = None  # application level: the application that owns it
    profile_id: int | None = None  # profile level

    def as_wise(self, listing: bool = False) -> dict[str, Any]:
        """Wise's subscription shape (§8.1); its list examples leave `created_at` out."""
        delivery: dict[str, Any] = {"version": self.version, "url": self.url}
        if self.mtls:
            delivery["mtls_enabled"] = True
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "delivery": delivery,
            "trigger_on": self.trigger_on,
            "scope": {"domain": self.domain, "id": self.scope_id},
            "created_by": {"type": self.created_by_type, "id": self.created_by_id},
        }
        if not listing:
            body["created_at"] = iso_seconds(self.created_at)
        return body


@dataclass(slots=True)
class Attempt:
    number: int
    at: float  # tenant clock: the moment it was due (the ladder's schedule)
    wall: float  # system clock, when it was sent
    delivery_id: str  # the X-Delivery-Id it carried
    signature: Signature
    status: int | None = None  # the receiver's answer; None when there was none
    error: str | None = None  # why there was no (good) answer: timeout, refused, tls, address...
    latency_ms: int = 0
    acknowledged: bool = False
    fault: str | None = None  # the fault that shaped it (label)
    retry_after: float | None = None  # seconds the receiver asked for


@dataclass(slots=True)
class Notification:
    seq: int
    delivery_id: str
    subscription_id: str
    event_type: str
    version: str
    url: str
    mtls: bool
    body: str  # compact JSON, sent as is on every attempt
    test: bool
    created_at: float  # tenant clock
    due: float | None  # the next attempt (tenant clock); None once finished
    state: str = "pending"  # pending, delivered, failed (gave up), forged (sent once), cancelled
    signature: Signature = "sha256"
    duplicates: int = 0  # more sends due once acknowledged (webhook_duplicate)
    held_until: float | None = None  # webhook_out_of_order: waits for a later one, or this instant
    faults: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    sending: bool = False  # in flight (never saved: a restart sends it again)

    @property
    def forged(self) -> bool:
        return self.signature != "sha256"

    def summary(self) -> dict[str, Any]:
        last = self.attempts[-1] if self.attempts else None
        return {
            "delivery_id": self.delivery_id,
            "subscription_id": self.subscription_id,
            "event_type": self.event_type,
            "schema_version": self.version,
            "url": self.url,
            "mtls": self.mtls,
            "test": self.test,
            "state": self.state,
            "signature": self.signature,
            "faults": list(self.faults),
            "created_at": self.created_at,
            "due": self.due,
            "attempts": len(self.attempts),
            "last_status": last.status if last else None,
            "last_error": last.error if last else None,
        }

    def as_json(self) -> dict[str, Any]:
        """The summary with every attempt and the body as sent."""
        return {**self.summary(), "body": self.body, "attempts": [asdict(a) for a in self.attempts]}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to make, with all it needs to be sent without the tenant's lock."""

    tenant_id: str
    seq: int
    number: int
    delivery_id: str
    url: str
    body: bytes
    signature: Signature
    test: bool
    mtls: bool
    event_type: str
    at: float  # tenant clock: when it was due
    timeout: float  # seconds
    verify_tls: bool
    localhost: bool
    private_networks: bool
    fault: str | None

    def headers(self, keys: SigningKeys) -> dict[str, str]:
        """The request's headers (§8.4), signature included."""
        headers = {"Content-Type": "application/json", "X-Delivery-Id": self.delivery_id}
        if self.test:
            headers["X-Test-Notification"] = "true"
        headers.update(keys.headers(self.body, self.signature))
        return headers


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of one attempt: the receiver's status, or why there was none."""

    status: int | None = None
    error: str | None = None
    latency_ms: int = 0
    retry_after: str | None = None  # the header, as sent
    wall: float = 0.0  # system clock, sent
    done: float = 0.0  # system clock, answered or given up


class Webhooks:
    """One tenant's subscriptions and notifications (a `Part`: `snapshot` is plain JSON data)."""

    def __init__(self, context: TenantContext, faults: Faults, record: Callable[[Entry], Entry]) -> None:
        self._context = context
        self._faults = faults
        self._record = record
        self._subscriptions: dict[str, Subscription] = {}
        self._notifications: dict[int, Notification] = {}  # by seq, oldest first
        self._by_delivery: dict[str, int] = {}
        self._funded: set[tuple[int, int]] = set()  # (profile, transfer) already funded: one event
        self._seq = itertools.count(1)
        self.dropped = 0
        self.wake: Callable[[str], None] = _nothing
        """Called when something may have become due (a notification queued, the clock moved): the
        sandbox's dispatcher listens."""

    @property
    def _rules(self) -> Rules:
        return self._context.settings.webhooks

    # Subscriptions (§8.1) ---------------------------------------------------------------------

    def subscribe(
        self,
        body: Any,
        *,
        domain: Domain,
        scope_id: str,
        created_by: tuple[str, str],
        client_id: str | None = None,
        profile_id: int | None = None,
    ) -> Subscription:
        """A new subscription from a `POST …/subscriptions` body, or Wise's validation errors."""
        name, trigger_on, version, url, mtls = _parse(body, domain, self._rules)
        with self._context.lock:
            if len(self._subscriptions) >= MAX_SUBSCRIPTIONS:
                raise ValidationError(
                    [FieldError("LIMIT", f"At most {MAX_SUBSCRIPTIONS} subscriptions", "subscription")]
                )
            subscription = Subscription(
                id=str(uuid.uuid4()),
                name=name,
                trigger_on=trigger_on,
                version=version,
                url=url,
                mtls=mtls,
                domain=domain,
                scope_id=scope_id,
                created_by_type=created_by[0],
                created_by_id=created_by[1],
                created_at=self._context.clock.now(),
                client_id=client_id,
                profile_id=profile_id,
            )
            self._subscriptions[subscription.id] = subscription
            self._context.changed("webhooks")
        return subscription

    def subscriptions(self, domain: Domain | None = None, scope_id: str | None = None) -> list[Subscription]:
        """Subscriptions, oldest first: all of them, or one scope's."""
        with self._context.lock:
            return [
                s
                for s in self._subscriptions.values()
                if (domain is None or s.domain == domain) and (scope_id is None or s.scope_id == scope_id)
            ]

    def subscription(
        self, subscription_id: str, domain: Domain | None = None, scope_id: str | None = None
    ) -> Subscription:
        """One subscription of a scope; LookupError (404) when it is not that scope's."""
        found = self._subscriptions.get(subscription_id)
        if (
            found is None
            or (domain is not None and found.domain != domain)
            or (scope_id is not None and found.scope_id != scope_id)
        ):
            raise LookupError(f"no subscription {clip(subscription_id, 64)!r}")
        return found

    def unsubscribe(
        self, subscription_id: str, domain: Domain | None = None, scope_id: str | None = None
    ) -> None:
        """Delete a subscription; its notifications not yet delivered are cancelled."""
        with self._context.lock:
            subscription = self.subscription(subscription_id, domain, scope_id)
            del self._subscriptions[subscription.id]
            for n in self._notifications.values():
                if n.subscription_id == subscription.id and n.state == "pending" and not n.sending:
                    n.state, n.due = "cancelled", None
            self._context.changed("webhooks")

    # Notifications ------------------------------------------------------------------------------

    def send(
        self,
        event_type: str,
        data: JSON | Callable[[str], JSON],
        *,
        subscriptions: list[Subscription] | None = None,
        test: bool = False,
    ) -> list[Notification]:
        """Queue a notification of `event_type` to each of `subscriptions` (default: every one
        listening for it). `data` is the `data` object, or a function of the subscription's
        schema version that makes it (§8.2)."""
        with self._context.lock:
            chosen = (
                [s for s in self._subscriptions.values() if s.trigger_on == event_type]
                if subscriptions is None
                else subscriptions
            )
            made = [
                self._queue(s, event_type, data(s.version) if callable(data) else data, test) for s in chosen
            ]
            if made:
                self._trim()
                self._context.changed("webhooks")
        if made:
            self.wake(self._context.id)
        return made

    def test_notifications(self, subscription: Subscription) -> list[Notification]:
        """Test notifications for one subscription (§8.8): its event type and version, dummy data."""
        event = EVENT_TYPES[subscription.trigger_on]
        now = self._context.clock.now()
        return self.send(
            subscription.trigger_on,
            lambda version: event.test_data(now, version),
            subscriptions=[subscription],
            test=True,
        )

    def transfer_funded(self, transfer_id: int, profile_id: int, client_id: str | None) -> list[Notification]:
        """A transfer was funded from a balance: `incoming_payment_waiting` → `processing` (§8.3), to
        the profile's subscriptions and to those of the application that funded it. Once per
        transfer: funding it again changes no state."""
        with self._context.lock:
            if (profile_id, transfer_id) in self._funded:
                return []
            self._funded.add((profile_id, transfer_id))
            self._context.changed("webhooks")
            now = self._context.clock.now()
            event = "transfers#state-change"
            chosen = [
                s
                for s in self._subscriptions.values()
                if s.trigger_on == event
                and (
                    (s.domain == "profile" and s.profile_id == profile_id)
                    or (s.domain == "application" and client_id is not None and s.client_id == client_id)
                )
            ]
        account = 1_000_000 + transfer_id % 1_000_000  # the recipient: not modelled, a stable stand-in
        return self.send(
            event,
            lambda version: transfer_state_change(
                transfer_id, profile_id, account, "processing", "incoming_payment_waiting", now, version
            ),
            subscriptions=chosen,
        )

    def _queue(self, subscription: Subscription, event_type: str, data: JSON, test: bool) -> Notification:
        now = self._context.clock.now()
        envelope = {
            "data": data,
            "subscription_id": subscription.id,
            "event_type": event_type,
            "schema_version": subscription.version,
            "sent_at": timestamp(now, subscription.version),
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
        n = Notification(
            seq=next(self._seq),
            delivery_id=str(uuid.uuid4()),
            subscription_id=subscription.id,
            event_type=event_type,
            version=subscription.version,
            url=subscription.url,
            mtls=subscription.mtls,
            body=body,
            test=test,
            created_at=now,
            due=now,
        )
        for fault in self._faults.take_outgoing(event_type):
            _shape(n, fault, now)
        self._notifications[n.seq] = n
        self._by_delivery[n.delivery_id] = n.seq
        return n

    def _trim(self) -> None:
        """Keep `webhooks.kept_deliveries` notifications: the oldest finished go first."""
        excess = len(self._notifications) - self._rules.kept_deliveries
        if excess <= 0:
            return
        finished = [n for n in self._notifications.values() if n.state != "pending"]
        victims = (
            finished + [n for n in self._notifications.values() if n.state == "pending" and not n.sending]
        )[:excess]
        for n in victims:
            del self._notifications[n.seq]
            self._by_delivery.pop(n.delivery_id, None)
            self.dropped += 1

    # Delivery (the dispatcher's side) -----------------------------------------------------------

    def take_due(self, now: float) -> list[Delivery]:
        """The attempts to make now, each marked in flight: per subscription, the notification due
        first, and none while another of it is in flight (one at a time, in order, unless a fault
        holds one back)."""
        deliveries: list[Delivery] = []
        with self._context.lock:
            rules = self._rules
            busy = {n.subscription_id for n in self._notifications.values() if n.sending}
            for n in self._notifications.values():
                if n.state != "pending" or n.sending or n.due is None or n.due > now:
                    continue
                if n.held_until is not None:
                    if n.held_until > now:
                        continue
                    n.held_until = None  # nothing came after it in time: it goes now
                if n.subscription_id in busy:
                    continue
                busy.add(n.subscription_id)
                n.sending = True
                deliveries.append(self._delivery(n, rules))
        return deliveries

    def _delivery(self, n: Notification, rules: Rules) -> Delivery:
        number = len(n.attempts) + 1
        first = n.attempts[0].delivery_id if n.attempts else n.delivery_id
        delivery_id = first if rules.delivery_id == "notification" or number == 1 else str(uuid.uuid4())
        if n.attempts and n.attempts[-1].acknowledged:  # sent again on purpose: the duplicate fault
            fault = next((f for f in n.faults if f.startswith(FaultKind.WEBHOOK_DUPLICATE.value)), None)
        else:
            fault = ",".join(n.faults) or None if number == 1 else None
        assert n.due is not None
        return Delivery(
            tenant_id=self._context.id,
            seq=n.seq,
            number=number,
            delivery_id=delivery_id,
            url=n.url,
            body=n.body.encode(),
            signature=n.signature,
            test=n.test,
            mtls=n.mtls,
            event_type=n.event_type,
            at=n.due,
            timeout=rules.timeout_ms / 1000,
            verify_tls=rules.verify_tls,
            localhost=rules.localhost,
            private_networks=rules.private_networks,
            fault=fault,
        )

    def attempted(self, delivery: Delivery, outcome: Outcome) -> Attempt:
        """Record an attempt's outcome (and its journal entry); schedule the next one (§8.5)."""
        with self._context.lock:
            rules = self._rules
            ok = outcome.status is not None and (
                outcome.status == 200 if rules.success == "200" else 200 <= outcome.status < 300
            )
            retry_after = _retry_after(outcome.retry_after, delivery.at) if rules.retry_after else None
            attempt = Attempt(
                number=delivery.number,
                at=delivery.at,
                wall=outcome.wall,
                delivery_id=delivery.delivery_id,
                signature=delivery.signature,
                status=outcome.status,
                error=outcome.error,
                latency_ms=outcome.latency_ms,
                acknowledged=ok,
                fault=delivery.fault,
                retry_after=retry_after,
            )
            n = self._notifications.get(delivery.seq)
            if n is not None:
                n.sending = False
                n.attempts.append(attempt)
                self._schedule(n, attempt, rules)
                self._release_held(n, delivery.at)
                self._context.changed("webhooks")
            self._record(_entry(delivery, outcome, attempt))
        self.wake(self._context.id)
        return attempt

    def _schedule(self, n: Notification, attempt: Attempt, rules: Rules) -> None:
        if n.state != "pending":  # cancelled while in flight
            n.due = None
        elif n.forged:
            n.state, n.due = "forged", None  # a forgery is not Wise's: sent once, never retried
        elif attempt.acknowledged and n.duplicates > 0:
            n.duplicates -= 1
            n.due = attempt.at  # sent again at once, as if the acknowledgement had been lost
        elif attempt.acknowledged:
            n.state, n.due = "delivered", None
        else:
            short = str(attempt.status) in {s.strip() for s in rules.short_retry_statuses.split(",")}
            if attempt.number >= rules.max_attempts or (short and attempt.number >= SHORT_RETRY_ATTEMPTS):
                n.state, n.due = "failed", None
            else:
                delay = (
                    attempt.retry_after if attempt.retry_after is not None else retry_delay(attempt.number)
                )
                n.due = attempt.at + delay

    def _release_held(self, sent: Notification, at: float) -> None:
        """A notification held back (out of order) goes once a later one of its subscription went."""
        for n in self._notifications.values():
            if n.held_until is not None and n.subscription_id == sent.subscription_id and n.seq < sent.seq:
                n.held_until = None
                n.due = max(n.due or at, at)

    def busy(self, now: float) -> bool:
        """Whether an attempt is in flight or could be made now."""
        with self._context.lock:
            return any(
                n.sending
                or (
                    n.state == "pending"
                    and n.due is not None
                    and n.due <= now
                    and (n.held_until is None or n.held_until <= now)
                )
                for n in self._notifications.values()
            )

    def next_due(self) -> float | None:
        """The tenant-clock instant of the next attempt not in flight, if any."""
        with self._context.lock:
            instants = [
                max(n.due, n.held_until or n.due)
                for n in self._notifications.values()
                if n.state == "pending" and not n.sending and n.due is not None
            ]
        return min(instants, default=None)

    def has_work(self) -> bool:
        """Whether any notification waits to be sent or is in flight."""
        with self._context.lock:
            return any(n.state == "pending" for n in self._notifications.values())

    def clock_moved(self) -> None:
        if self.has_work():
            self.wake(self._context.id)

    # The log -------------------------------------------------------------------------------------

    def notifications(self) -> list[Notification]:
        """Every notification kept, newest first."""
        with self._context.lock:
            return list(reversed(self._notifications.values()))

    def notification(self, delivery_id: str) -> Notification:
        seq = self._by_delivery.get(delivery_id)
        if seq is None or seq not in self._notifications:
            raise LookupError(f"no notification {clip(delivery_id, 64)!r}")
        return self._notifications[seq]

    # A `Part` ------------------------------------------------------------------------------------

    def snapshot(self) -> JSON:
        """Subscriptions, notifications with their attempts, and the transfers already funded, as
        data (`mockwise._domain.codec`); nothing is in flight in a snapshot."""
        with self._context.lock:
            kept = Kept(
                list(self._subscriptions.values()),
                [dataclasses.replace(n, sending=False) for n in self._notifications.values()],
                sorted(self._funded),
            )
            return to_data(kept)

    def restore(self, snapshot: JSON) -> None:
        """Back to `snapshot` (None: empty); RecordError, before anything changes, for data that is
        not a webhooks snapshot."""
        kept = from_data(Kept, snapshot, "webhooks") if snapshot is not None else Kept()
        with self._context.lock:
            self._subscriptions = {s.id: s for s in kept.subscriptions}
            self._notifications = {n.seq: n for n in kept.notifications}
            self._by_delivery = {n.delivery_id: n.seq for n in kept.notifications}
            self._funded = set(kept.funded)
            top = max(self._notifications, default=0)
            self._seq = itertools.count(top + 1)
            self.dropped = 0
            self._context.changed("webhooks")
        self.wake(self._context.id)


@dataclass(slots=True)
class Kept:
    """What a webhooks snapshot holds."""

    subscriptions: list[Subscription] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    funded: list[tuple[int, int]] = field(default_factory=list)  # (profile, transfer)


def _shape(n: Notification, fault: Fault, now: float) -> None:
    """Apply an outgoing fault to a notification being queued (§8.9)."""
    n.faults.append(fault.label)
    kind = fault.kind
    if kind in SIGNATURES:
        n.signature = SIGNATURES[kind]
    elif kind is FaultKind.WEBHOOK_DUPLICATE:
        n.duplicates += 1
    elif kind is FaultKind.WEBHOOK_DELAY:
        n.due = now + fault.seconds
    elif kind is FaultKind.WEBHOOK_OUT_OF_ORDER:
        n.held_until = now + fault.seconds


def _retry_after(header: str | None, at: float) -> float | None:
    """Seconds from `at` a `Retry-After` asks to wait (§8.5): delay-seconds, or an HTTP date
    (on the tenant's clock: a date already past means at once)."""
    if header is None:
        return None
    value = header.strip()
    if value.isdigit():
        return min(float(value), LONGEST_RETRY_AFTER)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return min(max(0.0, moment.timestamp() - at), LONGEST_RETRY_AFTER)


def _entry(delivery: Delivery, outcome: Outcome, attempt: Attempt) -> Entry:
    """An attempt as a journal entry: the request the sandbox made, its answer and its latency."""
    sent = ["content-type", "x-delivery-id"]
    if delivery.test:
        sent.append("x-test-notification")
    sent += {
        "sha256": ["x-signature-sha256"],
        "bad": ["x-signature-sha256"],
        "production": ["x-signature-sha256"],
        "legacy": ["x-signature"],
        "none": [],
    }[delivery.signature]
    parts = urlsplit(delivery.url)  # like every entry: the path without the query's values
    return Entry(
        at=delivery.at,
        wall=to_micros(outcome.wall),
        done=to_micros(outcome.done),
        method="POST",
        path=urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
        query=tuple(dict.fromkeys(name for name, _ in parse_qsl(parts.query, keep_blank_values=True))),
        route=f"webhook:{delivery.event_type}",
        status=outcome.status or 0,
        error=outcome.error,
        reason=None if attempt.acknowledged else ("not_acknowledged" if outcome.status else outcome.error),
        fault=delivery.fault,
        headers=tuple(sent),
        trace_id=delivery.delivery_id,
    )


def _parse(body: Any, domain: Domain, rules: Rules) -> tuple[str, str, str, str, bool]:
    """A subscription request's fields (§8.1), or every problem with them as Wise's validation errors."""
    errors: list[FieldError] = []

    def missing(path: str) -> None:
        errors.append(FieldError("NotNull", "must not be null", path, [path]))

    def wrong(path: str, message: str) -> None:
        errors.append(FieldError("NotValid", message, path, [path]))

    if not isinstance(body, dict):
        raise ValidationError([FieldError("NotValid", "the body must be a JSON object", "body", ["body"])])
    name, trigger_on, delivery = body.get("name"), body.get("trigger_on"), body.get("delivery")
    if name is None:
        missing("name")
    elif not isinstance(name, str) or not 0 < len(name.strip()) <= MAX_NAME:
        errors.append(
            FieldError("Size", f"must be text of 1 to {MAX_NAME} characters", "name", ["name", 1, MAX_NAME])
        )
    event = None
    if trigger_on is None:
        missing("trigger_on")
    elif not isinstance(trigger_on, str) or trigger_on not in EVENT_TYPES:
        wrong("trigger_on", f"Unknown event type {clip(str(trigger_on), 80)!r}")
    else:
        event = EVENT_TYPES[trigger_on]
        if not (event.profile if domain == "profile" else event.application):
            wrong("trigger_on", f"{trigger_on} is not available for {domain} subscriptions")
            event = None
    version = url = None
    mtls = False
    if delivery is None:
        missing("delivery")
    elif not isinstance(delivery, dict):
        wrong("delivery", "must be an object with version and url")
    else:
        version, url, mtls_value = (
            delivery.get("version"),
            delivery.get("url"),
            delivery.get("mtls_enabled", False),
        )
        if version is None:
            missing("delivery.version")
        elif not isinstance(version, str):
            wrong("delivery.version", "must be a version such as 4.0.0")
        elif event is not None and not event.takes(version):
            wrong("delivery.version", f"{trigger_on} comes in version(s) {', '.join(event.accepted)}")
        if url is None:
            missing("delivery.url")
        elif not isinstance(url, str):
            wrong("delivery.url", "must be a URL")
        elif (problem := check_url(url, rules)) is not None:
            wrong("delivery.url", f"The URL {problem}")
        if not isinstance(mtls_value, bool):
            wrong("delivery.mtls_enabled", "must be true or false")
        else:
            mtls = mtls_value
    if errors:
        raise ValidationError(errors)
    assert (
        isinstance(name, str)
        and isinstance(trigger_on, str)
        and isinstance(version, str)
        and isinstance(url, str)
    )
    return name.strip(), trigger_on, version, url, mtls
