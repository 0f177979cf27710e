"""Tokens, their states, and the store that issues, finds, ends and collects them.

Token values are handed out once and never kept: the store is keyed by a SHA-256 of the value, so a
token's identity (`Token.id`) can appear in the journal and the dashboard without the token itself.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from mockwise.domain.fidelity import TokenFormat
from mockwise.domain.journal import Note


class TokenKind(StrEnum):
    CLIENT_CREDENTIALS = "client_credentials"  # the partner's app-level access token (seed 002)
    USER = "user"  # a user access token (seed 003)
    REFRESH = "refresh"  # a user refresh token
    PERSONAL = "personal"  # a personal API token made on wise.com (seed 000)


class TokenState(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"  # replaced by a newer token: a refresh, a new grant, a rotation
    REVOKED = "revoked"  # ended early by a named cause
    UNKNOWN = "unknown"  # never issued here (or collected long after it expired)


class EndReason(StrEnum):
    """Why a token stopped working before its expiry. Each is visible in the journal."""

    # Superseded (reference §2.5)
    REFRESHED = "refreshed"  # "Using a refresh_token ... invalidates the previously granted access_token"
    REGRANTED = "regranted"  # a new registration_code/authorization_code grant replaced the refresh token
    ROTATED = "rotated"  # the refresh token was replaced on use (oauth.refresh_token_rotation)
    # Revoked (seed 003, reference §2.5)
    USER_REVOKED_ACCESS = "user_revoked_access"
    ENHANCED_SECURITY = "enhanced_security"
    SECURITY_BREACH = "security_breach"  # Wise revokes a client's tokens for a suspected breach
    EMAIL_CHANGED = "email_changed"  # "all tokens to the account are revoked" (§2.5)
    SECRET_ROTATED = "secret_rotated"
    SECRET_REVOKED = "secret_revoked"
    CODE_REUSED = "code_reused"  # RFC 6749 §4.1.2: a reused code revokes the tokens issued from it
    TOKEN_DELETED = "token_deleted"  # a personal token deleted on wise.com

    @property
    def supersedes(self) -> bool:
        return self in _SUPERSEDING


_SUPERSEDING = frozenset({EndReason.REFRESHED, EndReason.REGRANTED, EndReason.ROTATED})

K = TypeVar("K")
V = TypeVar("V")


@dataclass(slots=True, eq=False)
class Token:
    key: str  # SHA-256 of the value, hex
    kind: TokenKind
    issued_at: float
    expires_at: float
    client_id: str | None = None
    user_id: int | None = None
    profile_id: int | None = None  # set when the token reaches one profile only (authorize page, §3)
    grant_type: str | None = None
    link: Link | None = None
    ended_at: float | None = None
    end_reason: EndReason | None = None
    cert: str | None = None  # fingerprint of the client certificate it is bound to (RFC 8705)

    @property
    def id(self) -> str:
        """A short, stable identity for logs and the dashboard; not the token."""
        return self.key[:16]

    def state(self, now: float) -> TokenState:
        if self.end_reason is not None:
            return TokenState.SUPERSEDED if self.end_reason.supersedes else TokenState.REVOKED
        return TokenState.VALID if now < self.expires_at else TokenState.EXPIRED

    def remaining(self, now: float) -> float:
        return self.expires_at - now


def presented(token: Token | None, state: TokenState) -> Note:
    """The journal's note on a token a request presented, as it stood when the request arrived."""
    if token is None:
        return Note(token_state=state.value)
    return Note(
        user_id=token.user_id,
        token=token.id,
        token_kind=token.kind.value,
        token_state=state.value,
        token_cause=token.end_reason.value if token.end_reason else None,
    )


@dataclass(slots=True, eq=False)
class Link:
    """One original grant's lineage for a (client, user, profile): its refresh token and the access
    tokens minted from it. A new original grant starts a new link (§2.5)."""

    id: int
    client_id: str
    user_id: int
    profile_id: int | None
    grant_type: str
    refresh: Token
    access: Token | None = None
    code_key: str | None = None
    history: dict[str, Token] = field(default_factory=dict)  # by key, oldest first; O(1) to forget

    def remember(self, *tokens: Token) -> None:
        for token in tokens:
            self.history[token.key] = token

    def live(self, now: float) -> list[Token]:
        return [t for t in (self.refresh, self.access) if t is not None and t.state(now) is TokenState.VALID]


def token_key(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def uuid_token() -> str:
    """A random (version 4) UUID, as `str(uuid.uuid4())` writes it, at half the cost: every grant
    mints one or two."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_JWE_HEADER = base64.urlsafe_b64encode(b'{"alg":"RS256","enc":"A256GCM","typ":"JWT"}').rstrip(b"=").decode()


def jwe_like_token() -> str:
    """Five dot-separated parts, 500-800 characters, like Wise's encrypted client-credentials JWTs
    (reference §2.4). Opaque on purpose: it is not a real JWE."""

    def part(n: int) -> str:
        return base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=").decode()

    return ".".join((_JWE_HEADER, part(256), part(12), part(300), part(16)))


def new_token_value(kind: TokenKind, fmt: TokenFormat) -> str:
    if kind is TokenKind.CLIENT_CREDENTIALS and fmt == "jwe":
        return jwe_like_token()
    return uuid_token()


COMPACT_MIN = 4096  # below this a dict's table is too small to be worth copying


class ShrinkingTable(Generic[K, V]):
    """A dict (`data`) that gives its memory back after a mass deletion: a dict never returns the
    slots of deleted keys, so only a copy does. Add with `put` (it tracks the peak); delete from
    `data` directly, then call `shrink`. Read `data` directly: a lookup stays a plain dict get.

    `data` is copied when a quarter of its peak or less is left, which keeps the cost amortised
    O(1) per deletion. It is replaced whole, never rebuilt in place, so readers need no lock."""

    __slots__ = ("_peak", "data")

    def __init__(self, data: dict[K, V] | None = None) -> None:
        self.data: dict[K, V] = {} if data is None else data
        self._peak = len(self.data)  # the most entries held since `data` was last copied

    def put(self, key: K, value: V) -> None:
        data = self.data
        data[key] = value
        if len(data) > self._peak:
            self._peak = len(data)

    def shrink(self) -> bool:
        """After deletions: copy `data` down if it has shrunk enough; whether it was copied."""
        data, peak = self.data, self._peak
        if peak < COMPACT_MIN or len(data) > peak // 4:
            return False
        self.data = dict(data)
        self._peak = len(data)
        return True

    def clear(self) -> None:
        self.data = {}
        self._peak = 0

    def __len__(self) -> int:
        return len(self.data)


class TokenStore:
    """All tokens of one tenant, keyed by hash; long-expired tokens are collected (`collect`)."""

    def __init__(self, bind: Callable[[str], None], unbind: Callable[[str], None]) -> None:
        self._tokens: ShrinkingTable[str, Token] = ShrinkingTable()
        self._expiry: list[tuple[float, str]] = []
        self._bind = bind
        self._unbind = unbind

    def add(self, token: Token) -> Token:
        self._tokens.put(token.key, token)
        heapq.heappush(self._expiry, (token.expires_at, token.key))
        self._bind(token.key)
        return token

    def find(self, value: str) -> Token | None:
        return self._tokens.data.get(token_key(value))

    def get(self, key: str) -> Token | None:
        return self._tokens.data.get(key)

    def collect(self, now: float, retention: float, budget: int | None = None) -> int:
        """Forget tokens that expired more than `retention` seconds ago; at most `budget` of them."""
        horizon = now - retention
        heap, tokens, dropped = self._expiry, self._tokens.data, 0
        while heap and heap[0][0] <= horizon and (budget is None or dropped < budget):
            _, key = heapq.heappop(heap)
            token = tokens.pop(key, None)
            if token is not None:
                self._unbind(key)
                if token.link is not None:
                    token.link.history.pop(key, None)
                dropped += 1
        if dropped:
            self._tokens.shrink()
        return dropped

    def clear(self) -> None:
        for key in self._tokens.data:
            self._unbind(key)
        self._tokens.clear()
        self._expiry = []

    def __len__(self) -> int:
        return len(self._tokens)

    def __iter__(self) -> Iterator[Token]:
        return iter(list(self._tokens.data.values()))

    def newest_first(self) -> list[Token]:
        """The tokens, the latest issued first (a copy, made in one step: safe from another thread
        while tokens are issued)."""
        return list(reversed(self._tokens.data.values()))
