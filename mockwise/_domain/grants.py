"""Wise's token lifecycle: the four grants, authorization codes, bearer checks and revocation.

The rules, with their sources in the reference (§) and the seeds:

- client_credentials: a 12 h token, never a refresh token (Wise embedded auth page, §2.2);
- registration_code / authorization_code: a user access token (12 h) and a refresh token (~20 y);
  a new original grant replaces the link's old refresh token, while the last access token minted
  from it lives on until it expires or is replaced (§2.5);
- refresh_token: a new access token, and the previous one dies at once (Wise user-tokens page);
- authorization codes: single use, 30 minutes, bound to client, redirect URI, user and profile
  (§3); a reused code revokes what it issued (RFC 6749 §4.1.2);
- registration codes work again and again until the user reclaims the account, then
  `invalid_grant` / "Invalid user credentials." (§4, Wise user-tokens page).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mockwise._domain.context import TenantContext
from mockwise._domain.directory import Directory
from mockwise._domain.errors import (
    OAuthError,
    WiseError,
    invalid_grant,
    invalid_request,
    unsupported_grant_type,
)
from mockwise._domain.journal import Note
from mockwise._domain.model import ApiClient, Profile, User
from mockwise._domain.records import JSON, RecordError, from_data, to_data
from mockwise._domain.settings import (
    AUTHORIZATION_CODE_LIFETIME,
    PERSONAL_TOKEN_LIFETIME,
    REFRESH_TOKEN_LIFETIME,
    OAuth,
)
from mockwise._domain.store import Ledger
from mockwise._domain.tokens import (
    EndReason,
    Link,
    LinkRecord,
    ShrinkingTable,
    Token,
    TokenKind,
    TokenRecord,
    TokenState,
    TokenStore,
    new_token_value,
    presented,
    token_key,
    uuid_token,
)

INVALID_USER_CREDENTIALS = "Invalid user credentials."  # [C] §2.6, Wise user-tokens page
CODE_ALPHABET = string.ascii_letters + string.digits  # codes look like "G2s8EJ" (§2.4)
CODE_SCAN_MIN = 1024  # codes held before expired ones are looked for


GRANT_TYPES = ("client_credentials", "registration_code", "authorization_code", "refresh_token")


@dataclass(slots=True)
class Issued:
    """What a successful grant hands out. Values exist only here, on their way to the client."""

    access_value: str
    access: Token
    refresh_value: str | None = None
    refresh: Token | None = None
    note: Note = field(default_factory=Note)  # for the journal: what the request presented, what it got
    refreshed: bool = False  # a refresh_token grant issued it
    rotated: bool = False  # ...and rotated the refresh token (`refresh_value` is a new one)


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


LinkKey = tuple[str, int, int | None]


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


@dataclass(slots=True)
class TokensState:
    """A tenant's tokens, links and codes as data (`TokenService.snapshot`)."""

    tokens: list[TokenRecord] = field(default_factory=list)
    links: list[LinkRecord] = field(default_factory=list)
    current: list[int] = field(default_factory=list)  # the current link of each (client, user, profile)
    codes: list[CodeRecord] = field(default_factory=list)
    next_link: int = 1


def _joined(state: TokensState) -> tuple[dict[str, Token], dict[int, Link]]:
    """The tokens and links `state` describes, joined by key and id (RecordError for a key or an
    id that is not there)."""
    tokens = {r.key: r.token() for r in state.tokens}

    def own(key: str, link: int) -> Token:
        token = tokens.get(key)
        if token is None:
            raise RecordError(f"tokens.links: link {link} names token {key[:16]}, which is not there")
        return token

    links: dict[int, Link] = {}
    for lr in state.links:
        links[lr.id] = Link(
            lr.id,
            lr.client_id,
            lr.user_id,
            lr.profile_id,
            lr.grant_type,
            own(lr.refresh, lr.id),
            own(lr.access, lr.id) if lr.access is not None else None,
            lr.code_key,
            {k: tokens[k] for k in lr.history if k in tokens},
            lr.key_profile,
        )
    for tr in state.tokens:
        if tr.link is not None:
            if tr.link not in links:
                raise RecordError(
                    f"tokens.tokens: token {tr.key[:16]} names link {tr.link}, which is not there"
                )
            tokens[tr.key].link = links[tr.link]
    missing = [i for i in state.current if i not in links]
    if missing:
        raise RecordError(f"tokens.current: link {missing[0]} is not there")
    return tokens, links


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


class CurrentLinks:
    """The current link of each (client, user, profile). With a lazy state store, a link not in
    memory is looked up there (the newest for its key)."""

    def __init__(self, store: TokenStore, ledger: Ledger) -> None:
        self._store = store
        self._ledger = ledger
        self._links: dict[LinkKey, Link] = {}

    def get(self, key: LinkKey) -> Link | None:
        link = self._links.get(key)
        if link is None and self._ledger.lazy:
            link_id = self._ledger.current_link(*key)
            link = self._store.link(link_id) if link_id is not None else None
            if link is not None:
                self._links[key] = link
        return link

    def __setitem__(self, key: LinkKey, link: Link) -> None:
        self._links[key] = link

    def all(self) -> dict[LinkKey, Link]:
        if self._ledger.lazy:
            for link_id in self._ledger.current_links():
                link = self._store.link(link_id)
                if link is not None:
                    self._links.setdefault((link.client_id, link.user_id, link.key_profile), link)
        return dict(self._links)

    def replace(self, links: dict[LinkKey, Link]) -> None:
        self._links = dict(links)


class TokenService:
    """The tenant's tokens, codes and links (a `Part`: its snapshot is every token it holds).

    Tokens, codes and links are marked on the tenant's ledger as they change (`mockwise._domain.store`)."""

    def __init__(self, context: TenantContext) -> None:
        self._context = context
        self._ledger = context.ledger
        self.clock = context.clock
        self.store = context.store
        self._codes: ShrinkingTable[str, AuthorizationCode] = ShrinkingTable()
        self._scan_codes_at = CODE_SCAN_MIN
        self.links = CurrentLinks(self.store, self._ledger)  # of each (client, user, profile)
        self._next_link = 1
        self._latest_cc: dict[str, tuple[str, Token]] = {}  # only with oauth.client_credentials_reuse

    @property
    def settings(self) -> OAuth:
        return self._context.settings.oauth

    @property
    def directory(self) -> Directory:
        return self._context.directory

    @property
    def codes(self) -> dict[str, AuthorizationCode]:
        """Authorization codes by key (a hash of the code), used ones included until collected."""
        return self._codes.data

    @codes.setter
    def codes(self, codes: dict[str, AuthorizationCode]) -> None:
        self._codes = ShrinkingTable(codes)

    # The four grants (§2.2) ---------------------------------------------------------------------

    def grant(self, client: ApiClient, grant_type: str, params: dict[str, str]) -> Issued:
        """Run `grant_type` for an authenticated `client` with the request's parameters. The answer
        (or the refusal) carries a journal note on what the request presented and was given."""
        note = self._subject(grant_type, params)
        try:
            issued = self._grant(client, grant_type, params)
        except WiseError as refusal:
            refusal.note = note
            raise
        note.issued = issued.access.id
        note.user_id = issued.access.user_id
        issued.note = note
        return issued

    def _grant(self, client: ApiClient, grant_type: str, params: dict[str, str]) -> Issued:
        if grant_type == "client_credentials":
            return self.client_credentials(client)
        if grant_type == "registration_code":
            if not client.can_create_users:
                raise OAuthError("unauthorized_client", "Unauthorized grant type: registration_code")
            return self.registration_code(
                client, _required(params, "email"), _required(params, "registration_code")
            )
        if grant_type == "authorization_code":
            code = _required(params, "code", "An authorization code must be supplied.")
            return self.authorization_code(client, code, params.get("redirect_uri"))
        if grant_type == "refresh_token":
            return self.refresh(client, _required(params, "refresh_token"))
        raise unsupported_grant_type(grant_type)

    def _subject(self, grant_type: str, params: dict[str, str]) -> Note:
        """What a grant request is about, by identity (never by value), noted even if it fails."""
        if grant_type == "refresh_token" and params.get("refresh_token"):
            return presented(*self.lookup(params["refresh_token"]))
        if grant_type == "authorization_code" and params.get("code"):
            key = token_key(params["code"])
            return Note(token=key[:16], token_kind="authorization_code", token_state=self._code_state(key))
        if grant_type == "registration_code" and params.get("email"):
            user = self.directory.by_signup_email(params["email"])
            return Note(user_id=user.id if user is not None else None)
        return Note()

    # Issuing ---------------------------------------------------------------------------------

    def _mint(self, kind: TokenKind, lifetime: float, now: float, **fields: object) -> tuple[str, Token]:
        row = self._ledger.new_row()
        value = new_token_value(kind, self.settings.client_credentials_token_format, row)
        token = Token(token_key(value), kind, issued_at=now, expires_at=now + lifetime, row=row, **fields)  # type: ignore[arg-type]
        self.store.add(token)
        # amortised collection of long-expired tokens
        self.store.collect(now, self.settings.expired_token_memory, budget=2)
        return value, token

    def client_credentials(self, client: ApiClient) -> Issued:
        now = self.clock.now()
        if self.settings.client_credentials_reuse:
            latest = self._latest_cc.get(client.client_id)
            if latest is not None and latest[1].state(now) is TokenState.VALID:
                return Issued(*latest)
        value, token = self._mint(
            TokenKind.CLIENT_CREDENTIALS,
            self.settings.access_token_lifetime,
            now,
            client_id=client.client_id,
            grant_type="client_credentials",
        )
        if self.settings.client_credentials_reuse:
            self._latest_cc[client.client_id] = (value, token)
        return Issued(value, token)

    def registration_code(self, client: ApiClient, email: str, registration_code: str) -> Issued:
        user = self.directory.by_signup_email(email)
        if (
            user is None
            or user.created_by_client != client.client_id
            or user.reclaimed
            or not self.directory.secrets.matches(registration_code, user.registration_code_digest)
        ):
            raise invalid_grant(
                INVALID_USER_CREDENTIALS,
                status=self.settings.registration_code_failure_status,
                reason="reclaimed" if user is not None and user.reclaimed else "user_credentials",
            )
        return self._new_link(client, user, None, "registration_code")

    def authorization_code(self, client: ApiClient, code: str, redirect_uri: str | None) -> Issued:
        now = self.clock.now()
        found = self._codes.data.get(token_key(code))
        if found is None:
            raise invalid_grant(f"Invalid authorization code: {code[:64]}", reason="code_unknown")
        if found.used_at is not None:
            if found.link is not None:  # RFC 6749 §4.1.2: revoke what the code issued
                self._end_link(found.link, EndReason.CODE_REUSED, now, everything=True)
            raise invalid_grant(f"Invalid authorization code: {code[:64]}", reason="code_reused")
        # Spring consumes the code before any other check, so a failed exchange burns it.
        found.used_at = now
        self._ledger.code(found)
        if now >= found.expires_at:
            raise invalid_grant(f"Invalid authorization code: {code[:64]}", reason="code_expired")
        if found.client_id != client.client_id:
            raise OAuthError("invalid_client", "Client ID mismatch", status=401, reason="code_wrong_client")
        if redirect_uri != found.redirect_uri:
            raise invalid_grant("Redirect URI mismatch.", reason="redirect_uri_mismatch")
        user = self.directory.user(found.user_id)
        issued = self._new_link(client, user, found.profile_id, "authorization_code", code_key=found.key)
        assert issued.access.link is not None
        found.link = issued.access.link
        self._ledger.code(found)
        return issued

    def refresh(self, client: ApiClient, refresh_value: str) -> Issued:
        now = self.clock.now()
        shown = refresh_value[:64]
        token = self.store.find(refresh_value)
        if token is None or token.kind is not TokenKind.REFRESH or token.link is None:
            raise invalid_grant(f"Invalid refresh token: {shown}", reason="refresh_token_unknown")
        if token.client_id != client.client_id:
            raise invalid_grant(
                f"Wrong client for this refresh token: {client.client_id}",
                reason="refresh_token_wrong_client",
            )
        state = token.state(now)
        if state is TokenState.EXPIRED:
            raise invalid_grant(f"Invalid refresh token (expired): {shown}", reason="refresh_token_expired")
        if state is not TokenState.VALID:
            raise invalid_grant(f"Invalid refresh token: {shown}", reason=f"refresh_token_{state.value}")
        link = token.link
        if link.access is not None and link.access.end_reason is None:
            self._end(
                link.access, EndReason.REFRESHED, now
            )  # Wise user-tokens page: the previous token dies now
        lifetime = self.settings.access_token_lifetime
        access_value, link.access = self._mint_in(link, TokenKind.USER, lifetime, now)
        if not self.settings.refresh_token_rotation:
            self._ledger.link(link)
            return Issued(access_value, link.access, refresh_value, token, refreshed=True)
        self._end(token, EndReason.ROTATED, now)
        # a rotated refresh token keeps the original horizon
        new_value, link.refresh = self._mint_in(link, TokenKind.REFRESH, token.expires_at - now, now)
        self._ledger.link(link)
        return Issued(access_value, link.access, new_value, link.refresh, refreshed=True, rotated=True)

    def _mint_in(self, link: Link, kind: TokenKind, lifetime: float, now: float) -> tuple[str, Token]:
        """A token of `link`'s lineage, minted by the refresh_token grant."""
        value, token = self._mint(
            kind,
            lifetime,
            now,
            client_id=link.client_id,
            user_id=link.user_id,
            profile_id=link.profile_id,
            grant_type="refresh_token",
            link=link,
        )
        link.remember(token)
        return value, token

    def _new_link(
        self,
        client: ApiClient,
        user: User,
        profile_id: int | None,
        grant_type: str,
        code_key: str | None = None,
    ) -> Issued:
        now = self.clock.now()
        key: LinkKey = (client.client_id, user.id, profile_id if self.settings.link_per_profile else None)
        old = self.links.get(key)
        if old is not None and old.refresh.end_reason is None:
            self._end(old.refresh, EndReason.REGRANTED, now)  # §2.5; its last access token lives on
        common: dict[str, object] = {
            "client_id": client.client_id,
            "user_id": user.id,
            "profile_id": profile_id,
            "grant_type": grant_type,
        }
        refresh_value, refresh = self._mint(TokenKind.REFRESH, REFRESH_TOKEN_LIFETIME, now, **common)
        access_value, access = self._mint(TokenKind.USER, self.settings.access_token_lifetime, now, **common)
        link = Link(
            id=self._next_link,
            client_id=client.client_id,
            user_id=user.id,
            profile_id=profile_id,
            grant_type=grant_type,
            refresh=refresh,
            access=access,
            code_key=code_key,
            key_profile=key[2],
        )
        link.remember(refresh, access)
        self._next_link += 1
        refresh.link = access.link = link
        self.store.changed(refresh)
        self.store.changed(access)
        self.links[key] = link
        self.store.joined(link)
        return Issued(access_value, access, refresh_value, refresh)

    # Authorization codes ---------------------------------------------------------------------

    def issue_code(self, client: ApiClient, redirect_uri: str, user: User, profile: Profile | None) -> str:
        """The code the authorize page puts in the redirect (§3): 30 min, single use."""
        now = self.clock.now()
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
            key = token_key(code)
            if key not in self._codes.data:
                break
        self._forget_expired_codes(now)
        issued = AuthorizationCode(
            key=key,
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            user_id=user.id,
            profile_id=profile.id if profile is not None else None,
            issued_at=now,
            expires_at=now + AUTHORIZATION_CODE_LIFETIME,
        )
        self._codes.put(key, issued)
        self._ledger.code(issued)
        return code

    def _code_state(self, key: str) -> str:
        """An authorization code as it stood when presented: valid, used, expired or unknown."""
        code = self._codes.data.get(key)
        if code is None:
            return TokenState.UNKNOWN.value
        if code.used_at is not None:
            return "used"
        return TokenState.VALID.value if self.clock.now() < code.expires_at else TokenState.EXPIRED.value

    def _forget_expired_codes(self, now: float, *, always: bool = False) -> None:
        # Used codes are kept while they could still be replayed, so reuse can revoke (RFC 6749).
        # A scan happens when the table has doubled since the last one: amortised O(1) per code.
        codes = self._codes.data
        if len(codes) < self._scan_codes_at and not always:
            return
        horizon = now - self.settings.expired_token_memory
        expired = [k for k, c in codes.items() if c.expires_at < horizon]
        for key in expired:
            del codes[key]
            self._ledger.drop_code(key)
        if expired:
            self._codes.shrink()
        self._scan_codes_at = max(CODE_SCAN_MIN, 2 * len(codes))

    def collect(self, limit: int | None = None) -> int:
        """Forget long-expired tokens and codes (see `TokenStore.collect`), at most `limit` tokens
        (in memory, and as many again in a state store); how many tokens went."""
        now = self.clock.now()
        self._forget_expired_codes(now, always=True)
        return self.store.collect(now, self.settings.expired_token_memory, limit, stored=True)

    @property
    def next_link(self) -> int:
        """The id the next link gets."""
        return self._next_link

    # Personal tokens -------------------------------------------------------------------------

    def personal_token(self, user: User, value: str | None = None) -> str:
        now = self.clock.now()
        row = self._ledger.new_row() if value is None else None  # a chosen value carries no row
        value = value or uuid_token(row)
        token = Token(
            token_key(value),
            TokenKind.PERSONAL,
            issued_at=now,
            expires_at=now + PERSONAL_TOKEN_LIFETIME,
            user_id=user.id,
            row=row,
        )
        self.store.add(token)
        return value

    # Bearer checks ---------------------------------------------------------------------------

    def lookup(self, value: str) -> tuple[Token | None, TokenState]:
        """The token a request presents and its state right now (for the check and the journal)."""
        token = self.store.find(value)
        if token is None:
            return None, TokenState.UNKNOWN
        return token, token.state(self.clock.now())

    # Revocation ------------------------------------------------------------------------------

    def revoke(
        self,
        reason: EndReason,
        which: Callable[[Token], bool],
        *,
        client_id: str | None = None,
        user_id: int | None = None,
    ) -> list[Token]:
        """End every live token matching `which` (of `client_id`, of `user_id`, when given: a state
        store then looks at those only); returns them (for the journal and the caller)."""
        now = self.clock.now()
        ended = []
        for token in self.store.live(now, client_id=client_id, user_id=user_id):
            if which(token):
                self._end(token, reason, now)
                ended.append(token)
        if self.settings.client_credentials_reuse:
            self._latest_cc = {k: v for k, v in self._latest_cc.items() if v[1].end_reason is None}
        return ended

    def _end_link(self, link: Link, reason: EndReason, now: float, everything: bool = False) -> None:
        tokens: Iterable[Token | None] = (
            list(link.history.values()) if everything else (link.refresh, link.access)
        )
        for token in tokens:
            if token is not None and token.end_reason is None and now < token.expires_at:
                self._end(token, reason, now)

    def _end(self, token: Token, reason: EndReason, now: float) -> None:
        token.end_reason = reason
        token.ended_at = now
        self.store.changed(token)

    def clear(self) -> None:
        self.restore(None)

    # State (see `mockwise._domain.context.Part`) ----------------------------------------------

    def snapshot(self) -> JSON:
        """Every token held, the links they belong to, the current links, the codes and the next
        link id, as data (`TokensState`). The client-credentials token kept for reuse is not part
        of it: its value is never kept (a restored tenant mints a new one)."""
        tokens = list(self.store)
        links: dict[int, Link] = {}
        for token in tokens:
            if token.link is not None:
                links[token.link.id] = token.link
        current = self.links.all()
        for link in current.values():
            links.setdefault(link.id, link)
        held = {t.key for t in tokens}
        for link in links.values():  # a link's own tokens, even where the store let them go
            for own in (link.refresh, link.access):
                if own is not None and own.key not in held:
                    tokens.append(own)
                    held.add(own.key)
        return to_data(
            TokensState(
                [TokenRecord.of(t) for t in tokens],
                [LinkRecord.of(link) for link in links.values()],
                sorted(link.id for link in current.values()),
                [CodeRecord.of(c) for c in self._codes.data.values()],
                self._next_link,
            )
        )

    def restore(self, snapshot: JSON) -> None:
        state = from_data(TokensState, snapshot, "tokens") if snapshot is not None else TokensState()
        tokens, links = _joined(state)
        self.store.clear()
        self._codes.clear()
        self._scan_codes_at = CODE_SCAN_MIN
        for token in tokens.values():
            self.store.add(token)  # a state store gives it a row of its own (its value does not carry it)
        for record in state.codes:
            code = record.code(links)
            self._codes.put(code.key, code)
            self._ledger.code(code)
        self.links.replace(
            {(k.client_id, k.user_id, k.key_profile): k for k in map(links.__getitem__, state.current)}
        )
        for link in links.values():
            self.store.joined(link)
        self._next_link = state.next_link
        self._latest_cc = {}

    def load(self, codes: list[AuthorizationCode], next_link: int) -> None:
        """Put back what a state store keeps in memory: the codes (their links fetched by id), and
        the next link id. Tokens and links stay in the store until asked for."""
        for code in codes:
            self._codes.put(code.key, code)
        self._next_link = max(self._next_link, next_link)


def _required(params: dict[str, str], name: str, message: str | None = None) -> str:
    value = params.get(name)
    if not value:
        raise invalid_request(message or f"Missing {name}")
    return value
