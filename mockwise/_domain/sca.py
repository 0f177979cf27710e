"""Strong Customer Authentication (reference §5): one-time tokens, their challenges, users' SCA keys.

An SCA-protected endpoint (§5.5) answers 403 with `x-2fa-approval-result: REJECTED` and
`x-2fa-approval: <one-time token>`. The client clears the token one of two ways, then retries the
same request with `x-2fa-approval: <token>` and gets `x-2fa-approval-result: APPROVED`:

- signed (§5.2; personal tokens, business accounts): `X-Signature` is Base64 RSA-SHA256 PKCS#1 v1.5
  over the token, checked against the user's uploaded public keys (at most 5, RSA >= 2048);
- the one-time-token framework (§5.3; OAuth partners): pass the token's challenges (PIN over JWE,
  SMS/WhatsApp/voice OTP, always 111111 in the sandbox) through `/v1/one-time-token/*`.

One-time tokens are single use and live 3600 s on the tenant clock. A missing, unknown, expired,
reused or badly signed token gets a fresh 403 challenge rather than a hard error (§5.2 [I]). Five
failed checks in a row lock the user out of new tokens for 15 minutes (§5.3, §9). A successful SCA
opens a 5-minute session for low-risk actions (§5.3), and a statement needs SCA once every 90 days
(§5.2). Token values are never stored: like access tokens they are keyed by SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mockwise._domain.codec import RecordError, from_data, to_data
from mockwise._domain.context import TenantContext
from mockwise._domain.entries import Note
from mockwise._domain.errors import JSON, FieldError, RateLimited, SpringError, ValidationError, WiseError
from mockwise._domain.model import Profile, ProfileType, User
from mockwise._domain.settings import SANDBOX_OTP, Sca
from mockwise._domain.tokens import TokenKind, token_key, uuid_token

#: One-time tokens: `validity: 3600` [C] §2.4.
#: "low-risk actions within a 5-minute window after successfully completing SCA once" [C] §5.3.
SESSION_LIFETIME = 5 * 60
#: "5 failed attempts in a row ... OTT creation will be blocked for 15 minutes" [C] §5.3, §9.
LOCKOUT_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60
#: "at most 5 keys", RSA of at least 2048 bits [C] §5.2.
MAX_KEYS = 5
RSA_MIN_BITS = 2048
#: The documented 403 message [C] §5.2.
FORBIDDEN = "You are forbidden to send this request"
_MAX_TOKENS = 10_000  # live one-time tokens per tenant: a bound on memory


class ScaAction(StrEnum):
    """What a one-time token was issued for (`actionType`)."""

    BALANCE__GET_STATEMENT = "BALANCE__GET_STATEMENT"  # [C] §5.3 example
    TRANSFER__FUND = "TRANSFER__FUND"  # Wise's name for funding is not public [?]

    @property
    def high_risk(self) -> bool:
        # "high-risk operations include fund a transfer ... retrieving a balance statement is
        # considered a low-risk operation" [C] §5.3
        return self is ScaAction.TRANSFER__FUND


class ChallengeType(StrEnum):
    PIN = "PIN"
    FACE_MAP = "FACE_MAP"
    SMS = "SMS"
    WHATSAPP = "WHATSAPP"
    VOICE = "VOICE"
    PARTNER_DEVICE_FINGERPRINT = "PARTNER_DEVICE_FINGERPRINT"


PHONE_CHANNELS = (ChallengeType.SMS, ChallengeType.WHATSAPP, ChallengeType.VOICE)


@dataclass(slots=True)
class Challenge:
    primary: ChallengeType
    alternatives: tuple[ChallengeType, ...] = ()
    required: bool = True
    passed: bool = False
    triggered: ChallengeType | None = None  # the phone channel a code was sent on

    def offers(self, kind: ChallengeType) -> bool:
        return kind is self.primary or kind in self.alternatives

    def as_json(self, user_id: int) -> JSON:
        def view(kind: ChallengeType) -> JSON:
            return {"type": kind.value, "viewData": {"attributes": {"userId": user_id}}}

        return {
            "primaryChallenge": view(self.primary),
            "alternatives": [view(k) for k in self.alternatives],
            "required": self.required,
            "passed": self.passed,
        }


@dataclass(slots=True, eq=False)
class OneTimeToken:
    key: str  # SHA-256 of the value
    user_id: int
    profile_id: int
    action: ScaAction
    issued_at: float
    expires_at: float
    challenges: list[Challenge]
    spent: str | None = None  # why it can no longer be used: "approved", "bad_signature"...

    @property
    def id(self) -> str:
        """A short identity for the journal; not the token."""
        return self.key[:16]

    @property
    def cleared(self) -> bool:
        return all(c.passed for c in self.challenges if c.required)

    def properties(self, value: str, *, pending_only: bool = False) -> JSON:
        """`oneTimeTokenProperties` [C] §5.3; verify answers list only what is left to pass."""
        shown = [c for c in self.challenges if not (pending_only and (c.passed or not c.required))]
        return {
            "oneTimeToken": value,
            "challenges": [c.as_json(self.user_id) for c in shown],
            "validity": round(self.expires_at - self.issued_at),
            "actionType": self.action.value,
            "userId": self.user_id,
        }


@dataclass(frozen=True, slots=True, eq=False)
class ScaKey:
    """A public key a user uploaded on the "Manage public keys" page (§5.2)."""

    fingerprint: str  # SHA-256 of the DER SubjectPublicKeyInfo, hex, first 16
    pem: str
    public: rsa.RSAPublicKey = field(repr=False)

    def as_json(self) -> JSON:
        return {"fingerprint": self.fingerprint, "bits": self.public.key_size, "pem": self.pem}


@dataclass(frozen=True, slots=True)
class Approval:
    """Why a protected request may go ahead. `stamped`: answer `x-2fa-approval-result: APPROVED`."""

    how: str  # "not_required", "session", "exempt", "signature", "challenges"
    ott: str | None = None

    @property
    def stamped(self) -> bool:
        return self.how in ("signature", "challenges")

    @property
    def journal(self) -> str | None:
        if self.how == "not_required":
            return None
        return f"approved:{self.how}" + (f" ott={self.ott}" if self.ott else "")


class ScaChallenge(WiseError):
    """403 with `x-2fa-approval-result: REJECTED` and a one-time token to clear [C] §5.2."""

    status = 403
    code = "sca_required"

    def __init__(
        self,
        value: str,
        token: OneTimeToken,
        reason: str,
        *,
        presented: str | None = None,
        empty_body: bool = False,
    ) -> None:
        super().__init__({"x-2fa-approval-result": "REJECTED", "x-2fa-approval": value})
        self.value = value
        self.token = token
        self.reason = reason
        self.empty_body = empty_body
        # the journal names tokens by a hash prefix, never by value: the new one and the one sent
        self.note = Note(
            sca=f"challenged:{reason} ott={token.id}" + (f" presented={presented}" if presented else "")
        )

    def body(self, path: str, now: float) -> JSON | None:
        return None if self.empty_body else SpringError(403, FORBIDDEN).body(path, now)


class ScaRefused(SpringError):
    """403 REJECTED with no new token: signing again cannot help (a personal account, a lockout)."""

    def __init__(self, message: str, reason: str, presented: str | None = None) -> None:
        super().__init__(403, message, {"x-2fa-approval-result": "REJECTED"})
        self.code = "sca_rejected"
        self.note = Note(sca=f"refused:{reason}" + (f" presented={presented}" if presented else ""))


class ScaLocked(RateLimited):
    """429 while new one-time tokens are blocked after 5 failed checks (§5.3, §9)."""

    code = "sca_locked"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after, "wise-sca")
        self.note = Note(sca="refused:locked")


PSD2_REFUSAL = (
    "Personal API tokens cannot {action} for customers in the EU/UK (PSD2); use OAuth user tokens instead"
)


def refuse_psd2(kind: TokenKind, user: User, action: str) -> None:
    """ "EU/UK: Due to PSD2, you cannot fund transfers or view balance statements via API with a
    personal token" [C] §5.1. The body shape of that refusal is not documented; Spring's is used."""
    if kind is TokenKind.PERSONAL and user.psd2:
        raise SpringError(403, PSD2_REFUSAL.format(action=action))


def load_public_key(pem: str | bytes) -> tuple[rsa.RSAPublicKey, str]:
    """An SCA public key from PEM, with its fingerprint; ValueError if it is not RSA >= 2048."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("SCA keys are RSA keys")
    if key.key_size < RSA_MIN_BITS:
        raise ValueError(f"SCA keys are at least {RSA_MIN_BITS} bits; this one has {key.key_size}")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, hashlib.sha256(der).hexdigest()[:16]


def obfuscate_phone(number: str) -> str:
    """`*********8888`: all but the last four characters masked [C] §5.3."""
    return "*" * max(0, len(number) - 4) + number[-4:]


class StrongAuth:
    """A tenant's SCA state: per-user switches and keys, one-time tokens, sessions and lockouts."""

    def __init__(self, context: TenantContext) -> None:
        self._context = context
        self._clock = context.clock
        self._lock = context.lock
        self._required: dict[int, bool] = {}
        self._keys: dict[int, list[ScaKey]] = {}
        self._tokens: dict[str, OneTimeToken] = {}
        self._order: deque[OneTimeToken] = deque()
        self._sessions: dict[int, float] = {}
        self._statements: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._locked: dict[int, float] = {}

    @property
    def _settings(self) -> Sca:
        return self._context.settings.sca

    # Who is challenged -----------------------------------------------------------------------

    def require(self, user: User | int, required: bool | None) -> None:
        """Switch SCA on or off for one user; None follows the tenant's settings
        (`sca.personal_tokens`, `sca.user_tokens`)."""
        uid = _uid(user)
        with self._lock:
            if required is None:
                self._required.pop(uid, None)
            else:
                self._required[uid] = required
            self._context.changed("sca")

    def required_for(self, user: User | int, kind: TokenKind) -> bool:
        override = self._required.get(_uid(user))
        if override is not None:
            return override
        settings = self._settings
        if kind is TokenKind.PERSONAL:
            return settings.personal_tokens
        if kind is TokenKind.USER:
            return settings.user_tokens
        return False

    def overrides(self) -> dict[int, bool]:
        return dict(self._required)

    # Keys ------------------------------------------------------------------------------------

    def add_key(self, user: User | int, pem: str | bytes) -> ScaKey:
        """Upload a user's public key (PEM); ValueError past 5 keys, or for a weak or foreign key."""
        public, fingerprint = load_public_key(pem)
        uid = _uid(user)
        text = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        with self._lock:
            keys = self._keys.setdefault(uid, [])
            if any(k.fingerprint == fingerprint for k in keys):
                raise ValueError("this key is uploaded already")
            if len(keys) >= MAX_KEYS:
                raise ValueError(f"a user has at most {MAX_KEYS} SCA keys; remove one first")
            key = ScaKey(fingerprint, text, public)
            keys.append(key)
            self._context.changed("sca")
            return key

    def generate_key(self, user: User | int) -> str:
        """Make a key pair for `user`, upload its public half, and return the private key as PEM."""
        return self.new_key(user)[1]

    def new_key(self, user: User | int) -> tuple[ScaKey, str]:
        """`generate_key`, answering the uploaded key too."""
        private = rsa.generate_private_key(65537, RSA_MIN_BITS)
        key = self.add_key(user, private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ))  # fmt: skip
        return key, private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def keys(self, user: User | int) -> list[ScaKey]:
        return list(self._keys.get(_uid(user), ()))

    def remove_key(self, user: User | int, fingerprint: str) -> None:
        uid = _uid(user)
        with self._lock:
            keys = self._keys.get(uid, [])
            kept = [k for k in keys if k.fingerprint != fingerprint]
            if len(kept) == len(keys):
                raise LookupError(f"user {uid} has no SCA key {fingerprint!r}")
            self._keys[uid] = kept
            self._context.changed("sca")

    # The guard of SCA-protected endpoints ----------------------------------------------------

    def authorize(
        self,
        user: User,
        profile: Profile,
        action: ScaAction,
        kind: TokenKind,
        presented: str | None,
        signature: str | None,
    ) -> Approval:
        """May this request go ahead? An Approval, or ScaChallenge / ScaRefused / ScaLocked."""
        if not self.required_for(user, kind):
            return Approval("not_required")
        with self._lock:
            try:
                return self._authorize(user, profile, action, kind, presented, signature)
            finally:
                self._context.changed("sca")  # a token issued or spent, a session opened

    def _authorize(
        self,
        user: User,
        profile: Profile,
        action: ScaAction,
        kind: TokenKind,
        presented: str | None,
        signature: str | None,
    ) -> Approval:
        """The guard's rules, the tenant's lock held."""
        settings = self._settings
        now = self._clock.now()
        if not action.high_risk:
            if self._sessions.get(user.id, 0.0) > now:
                return Approval("session")
            last = self._statements.get(user.id)
            days = settings.statement_exemption_days
            if action is ScaAction.BALANCE__GET_STATEMENT and last is not None and now - last < days * 86400:
                return Approval("exempt")
        if presented is None:
            raise self._challenge(user, profile, action, "missing", None)
        key = token_key(presented)
        sent = key[:16]
        token = self._tokens.get(key)
        if token is None:
            raise self._challenge(user, profile, action, "unknown", sent)
        if token.user_id != user.id or token.action is not action or token.profile_id != profile.id:
            raise self._challenge(user, profile, action, "other_request", sent)
        if token.spent is not None:
            raise self._challenge(user, profile, action, "reused", sent)
        if now >= token.expires_at:
            raise self._challenge(user, profile, action, "expired", sent)
        if signature is not None and kind is TokenKind.PERSONAL:
            if not self._business(user, profile, settings):
                token.spent = "personal_account"
                raise ScaRefused(
                    "Signing API requests is supported for business accounts only",
                    "personal_account",
                    sent,
                )
            if not self._keys.get(user.id):
                token.spent = "no_keys"
                raise self._challenge(user, profile, action, "no_keys", sent)
            if not self._signed(user.id, presented, signature):
                token.spent = "bad_signature"
                raise self._challenge(user, profile, action, "bad_signature", sent)
            return self._approve(token, "signature", now)
        if token.cleared:
            return self._approve(token, "challenges", now)
        empty = settings.challenge_body == "empty"
        raise ScaChallenge(presented, token, "pending", presented=sent, empty_body=empty)

    def issue(
        self, user: User | int, profile_id: int, action: ScaAction, value: str | None = None
    ) -> tuple[str, OneTimeToken]:
        """A new one-time token (a chosen `value` makes a test vector reproducible)."""
        uid = _uid(user)
        value = value or uuid_token()
        settings = self._settings
        kinds = settings.high_risk_challenges if action.high_risk else settings.low_risk_challenges
        with self._lock:
            now = self._clock.now()
            self._collect(now)
            token = OneTimeToken(
                token_key(value),
                uid,
                profile_id,
                action,
                now,
                now + self._settings.one_time_token_lifetime,
                _challenges(kinds),
            )
            self._tokens[token.key] = token
            self._order.append(token)
            self._context.changed("sca")
            return value, token

    def _challenge(
        self, user: User, profile: Profile, action: ScaAction, reason: str, sent: str | None
    ) -> WiseError:
        """A fresh token to clear, unless new tokens are blocked (§5.3)."""
        now = self._clock.now()
        until = self._locked.get(user.id, 0.0)
        if until > now:
            if self._settings.lockout_status == 403:
                return ScaRefused("Too many failed attempts: one-time tokens are blocked", "locked", sent)
            return ScaLocked(max(1, math.ceil(until - now)))
        value, token = self.issue(user, profile.id, action)
        empty = self._settings.challenge_body == "empty"
        return ScaChallenge(value, token, reason, presented=sent, empty_body=empty)

    def _approve(self, token: OneTimeToken, how: str, now: float) -> Approval:
        token.spent = "approved"
        self._sessions[token.user_id] = now + SESSION_LIFETIME
        if token.action is ScaAction.BALANCE__GET_STATEMENT:
            self._statements[token.user_id] = now
        return Approval(how, token.id)

    def _business(self, user: User, profile: Profile, settings: Sca) -> bool:
        rule = settings.signing_accounts
        if rule == "any":
            return True
        if rule == "business_user":
            return any(p.type is ProfileType.BUSINESS for p in self._context.directory.profiles_of(user))
        return profile.type is ProfileType.BUSINESS

    def _signed(self, user_id: int, value: str, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        data = value.encode("utf-8", "surrogatepass")
        for key in self._keys.get(user_id, ()):
            try:
                key.public.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
            except (InvalidSignature, ValueError):
                continue
            return True
        return False

    def _collect(self, now: float) -> None:
        # Tokens are issued in time order, all with the same lifetime: drop those an hour past expiry
        # (they then read as unknown, which gets the same fresh challenge), and bound the count.
        order = self._order
        while order and (
            order[0].expires_at + (order[0].expires_at - order[0].issued_at) <= now
            or len(order) >= _MAX_TOKENS
        ):
            self._tokens.pop(order.popleft().key, None)

    # The one-time-token framework (§5.3) -------------------------------------------------------

    def find(self, user: User | int, value: str) -> OneTimeToken:
        """The caller's live token, or LookupError (unknown, expired or another user's)."""
        token = self._tokens.get(token_key(value))
        if token is None or token.user_id != _uid(user):
            raise LookupError("One-time token not found")
        if self._clock.now() >= token.expires_at:
            raise LookupError("One-time token expired")
        return token

    def trigger(self, user: User, value: str, channel: ChallengeType) -> str:
        """Send the OTP on a phone channel; returns the obfuscated number."""
        with self._lock:
            token = self.find(user, value)
            challenge = self._open(token, channel, _path(channel))
            if not user.phone_number:
                raise ValidationError([FieldError("NO_PHONE", "The user has no phone number", "phoneNumber")])
            challenge.triggered = channel
            self._context.changed("sca")
            return obfuscate_phone(user.phone_number)

    def verify(self, user: User, value: str, kind: ChallengeType, code: Any) -> OneTimeToken:
        """Check a PIN or an OTP against the token's challenge; five failures in a row lock the user."""
        with self._lock:
            try:
                return self._verify(user, value, kind, code)
            finally:
                self._context.changed("sca")  # a failure counted, a lockout, a challenge passed

    def _verify(self, user: User, value: str, kind: ChallengeType, code: Any) -> OneTimeToken:
        """One PIN or OTP, the tenant's lock held."""
        path = _path(kind)
        now = self._clock.now()
        token = self.find(user, value)
        until = self._locked.get(user.id, 0.0)
        if until > now:
            raise ValidationError(
                [FieldError("BLOCKED", f"Too many failed attempts; retry in {int(until - now)} s", path)]
            )
        challenge = self._open(token, kind, path)
        if kind in PHONE_CHANNELS and challenge.triggered is not kind:
            raise ValidationError(
                [FieldError("NOT_TRIGGERED", f"No code was sent by {kind.value}: trigger it first", path)]
            )
        expected = self._settings.pin if kind is ChallengeType.PIN else SANDBOX_OTP
        if not isinstance(code, str) or not hmac.compare_digest(code.encode(), expected.encode()):
            failures = self._failures.get(user.id, 0) + 1
            if failures >= LOCKOUT_FAILURES:
                self._locked[user.id] = now + LOCKOUT_SECONDS
                failures = 0
            self._failures[user.id] = failures
            what = "PIN" if kind is ChallengeType.PIN else "code"
            raise ValidationError([FieldError("INVALID", f"The {what} is incorrect", path)])
        self._failures.pop(user.id, None)
        challenge.passed = True
        return token

    def _open(self, token: OneTimeToken, kind: ChallengeType, path: str) -> Challenge:
        if token.spent is not None:
            raise ValidationError([FieldError("USED", "This one-time token was used already", path)])
        challenge = next((c for c in token.challenges if c.offers(kind) and not c.passed), None)
        if challenge is None:
            raise ValidationError(
                [FieldError("NOT_REQUIRED", f"This one-time token has no open {kind.value} challenge", path)]
            )
        return challenge

    def locked_until(self, user: User | int) -> float | None:
        until = self._locked.get(_uid(user))
        return until if until is not None and until > self._clock.now() else None

    # Lifecycle -------------------------------------------------------------------------------

    def describe(self) -> JSON:
        with self._lock:
            return self._describe()

    def _describe(self) -> JSON:
        return {
            "users": {
                str(uid): {
                    "required": self._required.get(uid),
                    "keys": [k.as_json() for k in self._keys.get(uid, ())],
                    "locked_until": self.locked_until(uid),
                }
                for uid in sorted({*self._required, *self._keys, *self._locked})
            },
            "one_time_tokens": len(self._tokens),
        }

    def snapshot(self) -> Any:
        """Per-user switches and keys (as PEM), and the live one-time tokens, sessions, exemptions
        and lockouts (a `Part`)."""
        with self._lock:
            return to_data(
                ScaState(
                    self._required,
                    {uid: [k.pem for k in keys] for uid, keys in self._keys.items()},
                    list(self._order),
                    self._sessions,
                    self._statements,
                    self._failures,
                    self._locked,
                )
            )

    def restore(self, snapshot: Any) -> None:
        state = from_data(ScaState, snapshot, "sca") if snapshot is not None else ScaState()
        keys = {}
        for uid, pems in state.keys.items():
            try:
                keys[uid] = [ScaKey(*_key(pem)) for pem in pems]
            except ValueError as exc:
                raise RecordError(f"sca.keys[{uid}]: {exc}") from None
        with self._lock:
            self._required = state.required
            self._keys = keys
            self._order = deque(state.tokens)
            self._tokens = {t.key: t for t in self._order}
            self._sessions = state.sessions
            self._statements = state.statements
            self._failures = state.failures
            self._locked = state.locked
            self._context.changed("sca")


@dataclass(slots=True)
class ScaState:
    """A tenant's SCA state as data (`StrongAuth.snapshot`)."""

    required: dict[int, bool] = field(default_factory=dict)
    keys: dict[int, list[str]] = field(default_factory=dict)  # public keys, PEM
    tokens: list[OneTimeToken] = field(default_factory=list)  # oldest first
    sessions: dict[int, float] = field(default_factory=dict)
    statements: dict[int, float] = field(default_factory=dict)
    failures: dict[int, int] = field(default_factory=dict)
    locked: dict[int, float] = field(default_factory=dict)


def _key(pem: str) -> tuple[str, str, rsa.RSAPublicKey]:
    public, fingerprint = load_public_key(pem)
    return fingerprint, pem, public


def _uid(user: User | int) -> int:
    return user if isinstance(user, int) else user.id


def _path(kind: ChallengeType) -> str:
    return "pin" if kind is ChallengeType.PIN else "otpCode"


def _challenges(spec: str) -> list[Challenge]:
    """ "PIN,SMS" → a PIN challenge and a phone challenge (SMS, alternatives WhatsApp and voice)."""
    out: list[Challenge] = []
    for name in (part.strip().upper() for part in spec.split(",")):
        if name == "PIN":
            out.append(Challenge(ChallengeType.PIN))
        elif name in PHONE_CHANNELS:
            first = ChallengeType(name)
            out.append(Challenge(first, tuple(c for c in PHONE_CHANNELS if c is not first)))
    return out or [Challenge(ChallengeType.PIN)]
