"""What the token lifecycle is made of: tokens and their states, links (a user's lineage of tokens
from one grant), authorization codes, their rows and records, and how token values are made.

Token values are handed out once and never kept: tokens are keyed by a SHA-256 of the value, so a
token's identity (`Token.id`) can appear in the journal and the dashboard without the token itself.
The table that holds a tenant's tokens is `mockwise._domain.tokenstore`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from mockwise._domain.codec import RecordError
from mockwise._domain.entries import Note
from mockwise._domain.entropy import random_bytes
from mockwise._domain.settings import TokenFormat


class TokenKind(StrEnum):
    CLIENT_CREDENTIALS = (
        "client_credentials"  # the partner's app-level access token (Wise embedded auth page)
    )
    USER = "user"  # a user access token (Wise user-tokens page)
    REFRESH = "refresh"  # a user refresh token
    PERSONAL = "personal"  # a personal API token made on wise.com (Wise auth-and-security page)


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
    # Revoked (Wise user-tokens page, reference §2.5)
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


@dataclass(slots=True, eq=False, weakref_slot=True)
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
    row: int | None = None  # its row in a state store (`mockwise._domain.ledger`), when it has one

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


@dataclass(slots=True, eq=False, weakref_slot=True)
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
    key_profile: int | None = None  # the profile of its (client, user, profile) key: None per user

    def remember(self, *tokens: Token) -> None:
        for token in tokens:
            self.history[token.key] = token

    def live(self, now: float) -> list[Token]:
        return [t for t in (self.refresh, self.access) if t is not None and t.state(now) is TokenState.VALID]


# Rows: a token and a link as plain data, for a state store (`mockwise._domain.ledger`).

TokenRow = tuple[
    str, str, float, float, str | None, int | None, int | None, str | None, int | None, float | None,
    str | None, str | None, int | None,
]  # fmt: skip
"""key, kind, issued_at, expires_at, client_id, user_id, profile_id, grant_type, link id,
ended_at, end_reason, cert, row"""
LINK_ID: Final = 8  # the link id's place in a TokenRow

LinkRow = tuple[int, str, int, int | None, str, str, str | None, str | None, int | None]
"""id, client_id, user_id, profile_id, grant_type, refresh key, access key, code key, key_profile"""


def token_row(token: Token) -> TokenRow:
    link, reason = token.link, token.end_reason
    return (
        token.key,
        token.kind.value,
        token.issued_at,
        token.expires_at,
        token.client_id,
        token.user_id,
        token.profile_id,
        token.grant_type,
        link.id if link is not None else None,
        token.ended_at,
        reason.value if reason is not None else None,
        token.cert,
        token.row,
    )


def token_from_row(row: TokenRow) -> Token:
    """The token a row describes, without its link (`TokenStore` joins it to its lineage)."""
    key, kind, issued, expires, client_id, user_id, profile_id, grant, _, ended, reason, cert, n = row
    return Token(
        key,
        TokenKind(kind),
        issued,
        expires,
        client_id,
        user_id,
        profile_id,
        grant,
        None,
        ended,
        EndReason(reason) if reason is not None else None,
        cert,
        n,
    )


def link_row(link: Link) -> LinkRow:
    access = link.access
    return (
        link.id,
        link.client_id,
        link.user_id,
        link.profile_id,
        link.grant_type,
        link.refresh.key,
        access.key if access is not None else None,
        link.code_key,
        link.key_profile,
    )


@dataclass(slots=True)
class TokenRecord:
    """A token as data, for a tenant's snapshot (its link by id)."""

    key: str
    kind: TokenKind
    issued_at: float
    expires_at: float
    client_id: str | None = None
    user_id: int | None = None
    profile_id: int | None = None
    grant_type: str | None = None
    link: int | None = None
    ended_at: float | None = None
    end_reason: EndReason | None = None
    cert: str | None = None

    @staticmethod
    def of(token: Token) -> TokenRecord:
        link = token.link
        return TokenRecord(
            token.key,
            token.kind,
            token.issued_at,
            token.expires_at,
            token.client_id,
            token.user_id,
            token.profile_id,
            token.grant_type,
            link.id if link is not None else None,
            token.ended_at,
            token.end_reason,
            token.cert,
        )

    def token(self) -> Token:
        """The token, without its link (the caller joins it)."""
        return Token(
            self.key,
            self.kind,
            self.issued_at,
            self.expires_at,
            self.client_id,
            self.user_id,
            self.profile_id,
            self.grant_type,
            None,
            self.ended_at,
            self.end_reason,
            self.cert,
        )


@dataclass(slots=True)
class LinkRecord:
    """A link as data: its tokens by key (`history`: those it still holds, oldest first)."""

    id: int
    client_id: str
    user_id: int
    profile_id: int | None
    grant_type: str
    refresh: str
    access: str | None = None
    code_key: str | None = None
    key_profile: int | None = None
    history: list[str] = field(default_factory=list)

    @staticmethod
    def of(link: Link) -> LinkRecord:
        return LinkRecord(*link_row(link), list(link.history))  # the row's columns, then the lineage


def token_key(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def uuid_token(row: int | None = None) -> str:
    """A random (version 4) UUID, as `str(uuid.uuid4())` writes it, at half the cost: every grant
    mints one or two. With a `row`, the token carries it (`row_of`): a state store finds it by that,
    not by a search through every token's hash (82 random bits remain)."""
    raw = bytearray(random_bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    if row is not None:
        raw[:ROW_BYTES] = _carried(row, raw[ROW_BYTES:])
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_JWE_HEADER = base64.urlsafe_b64encode(b'{"alg":"RS256","enc":"A256GCM","typ":"JWT"}').rstrip(b"=").decode()


def jwe_like_token(row: int | None = None) -> str:
    """Five dot-separated parts, 500-800 characters, like Wise's encrypted client-credentials JWTs
    (reference §2.4). Opaque on purpose: it is not a real JWE. A `row` goes into its third part."""

    def part(raw: bytes | bytearray) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    iv = bytearray(random_bytes(12))
    if row is not None:
        iv[:ROW_BYTES] = _carried(row, iv[ROW_BYTES:])
    return ".".join(
        (_JWE_HEADER, part(random_bytes(256)), part(iv), part(random_bytes(300)), part(random_bytes(16)))
    )


def new_token_value(kind: TokenKind, fmt: TokenFormat, row: int | None = None) -> str:
    if kind is TokenKind.CLIENT_CREDENTIALS and fmt == "jwe":
        return jwe_like_token(row)
    return uuid_token(row)


ROW_BYTES = 5  # a carried row number: up to 2**40 tokens


def _carried(row: int, rest: bytes | bytearray) -> bytes:
    """`row`, masked with a hash of the token's other (random) bytes, so that the token still looks
    random. (Schema 2 masked it with the token's last five bytes, which its first five then repeated
    for any row below a few million: such tokens are found by their hash, `token_keys`.)"""
    return (row ^ _mask(rest)).to_bytes(ROW_BYTES, "big")


def _mask(rest: bytes | bytearray) -> int:
    return int.from_bytes(hashlib.blake2b(rest, digest_size=ROW_BYTES).digest(), "big")


def row_of(value: str) -> int | None:
    """The row a token minted by a state store carries (`uuid_token(row)`), or None for a value
    of another shape. Any UUID yields some number: the store checks the row's hash is the token's."""
    raw: bytes | None = None
    try:
        if len(value) == 36 and value[8] == value[13] == value[18] == value[23] == "-":
            raw = bytes.fromhex(value.replace("-", ""))
        elif value.startswith(_JWE_HEADER + ".") and value.count(".") == 4:
            third = value.split(".")[2]
            raw = base64.urlsafe_b64decode(third + "=" * (-len(third) % 4))
    except ValueError:
        return None
    if raw is None or len(raw) < 2 * ROW_BYTES:
        return None
    return int.from_bytes(raw[:ROW_BYTES], "big") ^ _mask(raw[ROW_BYTES:])


@dataclass(slots=True, eq=False)
class AuthorizationCode:
    key: str
    client_id: str
    redirect_uri: str
    user_id: int
    profile_id: int | None
    issued_at: float
    expires_at: float
    used_at: float | None = None
    link: Link | None = None


@dataclass(slots=True)
class CodeRecord:
    """An authorization code as data (its link by id)."""

    key: str
    client_id: str
    redirect_uri: str
    user_id: int
    profile_id: int | None
    issued_at: float
    expires_at: float
    used_at: float | None = None
    link: int | None = None

    @staticmethod
    def of(code: AuthorizationCode) -> CodeRecord:
        return CodeRecord(*code_row(code))

    def code(self, links: dict[int, Link]) -> AuthorizationCode:
        if self.link is not None and self.link not in links:
            raise RecordError(
                f"tokens.codes: code {self.key[:16]} names link {self.link}, which is not there"
            )
        link = links[self.link] if self.link is not None else None
        return AuthorizationCode(
            self.key,
            self.client_id,
            self.redirect_uri,
            self.user_id,
            self.profile_id,
            self.issued_at,
            self.expires_at,
            self.used_at,
            link,
        )


CodeRow = tuple[str, str, str, int, int | None, float, float, float | None, int | None]
"""key, client_id, redirect_uri, user_id, profile_id, issued_at, expires_at, used_at, link id"""


def code_row(code: AuthorizationCode) -> CodeRow:
    link = code.link
    return (
        code.key,
        code.client_id,
        code.redirect_uri,
        code.user_id,
        code.profile_id,
        code.issued_at,
        code.expires_at,
        code.used_at,
        link.id if link is not None else None,
    )
