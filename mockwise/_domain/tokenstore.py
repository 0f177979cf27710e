"""The tenant's token table: the store that issues, finds, ends and collects tokens, marking each
change on the tenant's ledger.

Token values are handed out once and never kept: the table is keyed by a SHA-256 of the value, so a
token's identity (`Token.id`) can appear in the journal and the dashboard without the token itself.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Generic, TypeVar

from mockwise._domain.ledger import NO_LEDGER, Ledger
from mockwise._domain.tokens import LINK_ID, Link, Token, TokenRow, token_from_row, token_key

K = TypeVar("K")
V = TypeVar("V")


COMPACT_MIN = 4096  # below this a dict's table is too small to be worth copying
RELEASE_BATCH = 64  # written tokens leave memory this many at a time: asking the ledger costs a set
RELEASED_MIN = 1024  # released tokens' references: dead ones are dropped past twice the live ones


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
    """All tokens of one tenant, keyed by hash; long-expired tokens are collected (`collect`).

    Every change is marked on the tenant's ledger (`mockwise._domain.ledger`). With a lazy ledger the
    state store holds the tokens and this holds those in use: a token not in memory is fetched
    when asked for, with its whole lineage (its link's tokens), and stays. One object per token
    and per link, always: lineages are joined through `link` (an identity map of links).

    With a lazy ledger a token issued outside a lineage (client credentials, personal) leaves
    memory once it is written (`_release`): the store answers for it from then on, so tokens
    issued and never presented again do not pile up in memory (and in every garbage collection)
    for a day after they expire. Until nothing holds it, it is still found as the same object
    (`_released`, weakly): whoever kept it sees what the store would say."""

    def __init__(
        self,
        bind: Callable[[str], None],
        unbind: Callable[[str], None],
        ledger: Ledger = NO_LEDGER,
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self._lock = lock if lock is not None else nullcontext()  # the tenant's: a fetch adds to memory
        self._tokens: ShrinkingTable[str, Token] = ShrinkingTable()
        self._expiry: list[tuple[float, str]] = []
        self._bind = bind
        self._unbind = unbind
        self._ledger = ledger
        self._links: weakref.WeakValueDictionary[int, Link] = weakref.WeakValueDictionary()
        self._fresh: list[Token] = []  # issued outside a lineage, to leave memory once written
        self._released: dict[str, weakref.ref[Token]] = {}  # left memory; found while anything holds them
        self._released_peak = RELEASED_MIN  # dead references are dropped when it grows past this
        self._release_at = RELEASE_BATCH  # fresh tokens that make a release worth trying

    @property
    def lazy(self) -> bool:
        return self._ledger.lazy

    def add(self, token: Token) -> Token:
        if token.link is None and self._ledger.lazy:
            if len(self._fresh) >= self._release_at:
                self._release()
            self._tokens.put(token.key, token)  # no expiry entry: it leaves memory once written
            self._bind(token.key)
            self._fresh.append(token)
        else:
            self._hold(token)
        self._ledger.token(token, True)
        return token

    def _release(self) -> None:
        """Let the tokens issued outside a lineage that the store has written leave memory (the
        tenant's lock held: no write can drain the tenant meanwhile). One the store could not
        answer for yet stays for the next time."""
        fresh, self._fresh = self._fresh, []
        unwritten = self._ledger.unwritten()
        if unwritten is None:  # no longer lazy (or a write in flight): kept, collected by expiry
            if not self._ledger.lazy:
                for token in fresh:
                    heapq.heappush(self._expiry, (token.expires_at, token.key))
            else:
                self._fresh = fresh
                self._wait()
            return
        tokens, released = self._tokens.data, self._released
        for token in fresh:
            key = token.key
            if tokens.get(key) is not token:
                continue  # collected or cleared meanwhile
            if key in unwritten:
                self._fresh.append(token)
                continue
            del tokens[key]
            self._unbind(key)
            released[key] = weakref.ref(token)
        if len(released) > self._released_peak:
            self._released = released = {k: r for k, r in released.items() if r() is not None}
            self._released_peak = max(RELEASED_MIN, 2 * len(released))
        self._tokens.shrink()
        self._wait()

    def _wait(self) -> None:
        """Try again once the tokens still waiting have doubled: with nothing written for a while
        (issued in process, no flush), each try would walk them all, O(n) per token."""
        self._release_at = max(RELEASE_BATCH, 2 * len(self._fresh))

    def _in_memory(self, key: str) -> Token | None:
        """The token with this key if this process has it (the tenant's lock held, the store
        holding its row): held, or released and still held by someone (then held again: in use)."""
        token = self._tokens.data.get(key)
        if token is None:
            ref = self._released.pop(key, None)
            token = ref() if ref is not None else None
            if token is not None:
                self._hold(token)
        return token

    def changed(self, token: Token) -> None:
        """`token` changed (ended, bound to a certificate): mark it."""
        self._ledger.token(token)

    def _hold(self, token: Token) -> Token:
        self._tokens.put(token.key, token)
        heapq.heappush(self._expiry, (token.expires_at, token.key))
        self._bind(token.key)
        return token

    def find(self, value: str) -> Token | None:
        key = token_key(value)
        token = self._tokens.data.get(key)
        if token is None and self._ledger.lazy:
            return self._fetch(key, value)
        return token

    def get(self, key: str) -> Token | None:
        token = self._tokens.data.get(key)
        if token is None and self._ledger.lazy:
            return self._fetch(key, None)
        return token

    def _fetch(self, key: str, value: str | None) -> Token | None:
        with self._lock:
            held = self._tokens.data.get(key)
            if held is not None:
                return held
            # a released token comes back only while the store has it (`_from_row`): collected
            # there, it is unknown, as it would be had it stayed in memory until collected
            row = self._ledger.fetch_token(key, value)
            return self._from_row(row) if row is not None else None

    def _from_row(self, row: TokenRow) -> Token:
        """The token of a fetched row: the one in memory, or the row made a token (with its lineage)."""
        key, link_id = row[0], row[LINK_ID]
        held = self._in_memory(key)
        if held is None and link_id is not None and self.link(link_id) is not None:
            held = self._tokens.data.get(key)  # fetched with its lineage
        return held if held is not None else self._hold(token_from_row(row))

    def link(self, link_id: int) -> Link | None:
        """The link with this id when something holds it; with a lazy ledger, fetched with its
        lineage when stored (None when its refresh token, the last of its tokens to expire, went)."""
        link = self._links.get(link_id)
        if link is not None or not self._ledger.lazy:
            return link
        with self._lock:
            return self._links.get(link_id) or self._fetch_link(link_id)

    def _fetch_link(self, link_id: int) -> Link | None:
        fetched = self._ledger.fetch_link(link_id)
        if fetched is None:
            return None
        row, rows = fetched
        held = self._tokens.data
        lineage = {r[0]: held.get(r[0]) or token_from_row(r) for r in rows}
        lid, client_id, user_id, profile_id, grant_type, refresh_key, access_key, code_key, key_profile = row
        refresh = lineage.get(refresh_key)
        if refresh is None:
            return None
        link = Link(
            lid,
            client_id,
            user_id,
            profile_id,
            grant_type,
            refresh,
            lineage.get(access_key) if access_key is not None else None,
            code_key,
            lineage,
            key_profile,
        )
        for key, token in lineage.items():
            token.link = link
            if key not in held:
                self._hold(token)
        self._links[lid] = link
        return link

    def joined(self, link: Link) -> None:
        """A new link, or one put back by a restore: mark it, and know it by id."""
        self._links[link.id] = link
        self._ledger.link(link)

    def collect(
        self, now: float, retention: float, budget: int | None = None, *, stored: bool = False
    ) -> int:
        """Forget tokens that expired more than `retention` seconds ago; at most `budget` of them.
        `stored`: in a lazy ledger's state store too (at most `budget` more)."""
        horizon = now - retention
        heap, tokens, dropped = self._expiry, self._tokens.data, 0
        while heap and heap[0][0] <= horizon and (budget is None or dropped < budget):
            _, key = heapq.heappop(heap)
            token = tokens.pop(key, None)
            if token is not None:
                self._unbind(key)
                self._ledger.drop_token(token)
                link = token.link
                if link is not None:
                    link.history.pop(key, None)
                    if link.access is token:  # long expired: it needs ending by no refresh
                        link.access = None
                dropped += 1
        if dropped:
            self._tokens.shrink()
        if stored and self._ledger.lazy:
            dropped += self._ledger.collect_tokens(horizon, budget)
        return dropped

    def live(self, now: float, *, client_id: str | None = None, user_id: int | None = None) -> list[Token]:
        """The tokens live at `now` (of `client_id`, of `user_id`, when given)."""
        if self._ledger.lazy:
            with self._lock:
                rows = self._ledger.scan_tokens(live_at=now, client_id=client_id, user_id=user_id)
                found: Iterator[Token] = iter([self._from_row(row) for row in rows])
        else:
            found = iter(list(self._tokens.data.values()))
        return [
            t
            for t in found
            if t.end_reason is None
            and now < t.expires_at
            and (client_id is None or t.client_id == client_id)
            and (user_id is None or t.user_id == user_id)
        ]

    def clear(self) -> None:
        for key in self._tokens.data:
            self._unbind(key)
        self._tokens.clear()
        self._expiry = []
        self._fresh, self._released, self._release_at = [], {}, RELEASE_BATCH
        self._links = weakref.WeakValueDictionary()
        self._ledger.rewritten("tokens")

    def __len__(self) -> int:
        if self._ledger.lazy:
            return self._ledger.count_tokens()
        return len(self._tokens)

    def __iter__(self) -> Iterator[Token]:
        if self._ledger.lazy:
            with self._lock:
                return iter([self._from_row(row) for row in self._ledger.scan_tokens()])
        return iter(list(self._tokens.data.values()))

    def newest_first(self) -> list[Token]:
        """The tokens, the latest issued first (a copy, made in one step: safe from another thread
        while tokens are issued). With a lazy ledger, those the state store holds, by row."""
        if self._ledger.lazy:
            return list(reversed(list(self)))
        return list(reversed(self._tokens.data.values()))

    @property
    def held(self) -> int:
        """How many tokens are in memory (all of them, unless the ledger is lazy)."""
        return len(self._tokens)
