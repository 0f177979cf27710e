"""Where a sandbox's state lives: in memory only (the default), or also in a state store that
survives restarts and crashes (`mockwise._store.SqliteStore`, what `mockwise serve` uses); this
module is the domain's side of that seam: the ledger each tenant marks its changes on.

The domain does not save anything itself. Each tenant has a `Ledger`, its line to the store, and
every change to the tenant's state is marked there by the piece of state that changed, right
after the change (never before: a store may write between the two):

- the big, hot state row by row: a token issued, ended or collected (`token`, `drop_token`), an
  authorization code (`code`, `drop_code`), a link (`link`), a journal entry (`entry`);
- the rest (settings, clock, directory, linking, SCA, JOSE, certificates, faults, the seeded
  snapshot) part by part (`changed("sca")`): the store saves that part's snapshot whole
  (`Tenant.stored_parts`), and since those change rarely, that is cheap;
- a part replaced whole (a reset, a restore) as `rewritten("tokens")` or `rewritten("journal")`.

The store writes what was marked in one transaction per event-loop turn (group commit), and the
HTTP edge holds each response until what it may have seen is written (`Store.unsettled`,
`Store.settle`): a client never hears of a token the store could still lose.

A store that keeps tokens only on disk (`Ledger.lazy`) lets the tenant's `TokenStore` hold just
the tokens in use: the rest are fetched by hash when presented (`fetch_token`), with their link
(`fetch_link`), so start-up does not depend on how many tokens are stored.

The in-memory store's ledger (`NO_LEDGER`) ignores every mark: the in-memory path costs a call
to an empty method per change, nothing more.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mockwise._domain.entries import Entry
    from mockwise._domain.tokens import AuthorizationCode, Link, LinkRow, Token, TokenRow


class Ledger:
    """One tenant's line to its state store. This base ignores everything: the in-memory store."""

    __slots__ = ()

    @property
    def lazy(self) -> bool:
        """True when tokens and links live in the store and memory holds only those in use."""
        return False

    # Marks, each made right after the change ------------------------------------------------------

    def token(self, token: Token, new: bool = False) -> None:
        """A token was issued (`new`: never marked before) or changed (ended, bound to a certificate)."""

    def drop_token(self, token: Token) -> None:
        """A token was collected."""

    def code(self, code: AuthorizationCode) -> None:
        """An authorization code was issued or changed (used, linked)."""

    def drop_code(self, key: str) -> None:
        """An authorization code was collected."""

    def link(self, link: Link) -> None:
        """A link was made, or its current access or refresh token changed."""

    def entry(self, entry: Entry) -> None:
        """A journal entry was recorded."""

    def changed(self, part: str) -> None:
        """Something in one of `Tenant.stored_parts` changed: the store saves it whole."""

    def rewritten(self, part: str) -> None:
        """ "tokens" (tokens, codes and links) or "journal" was replaced whole: what the store holds
        of it goes, and what is marked after this takes its place."""

    def unwritten(self) -> Collection[str] | None:
        """The keys of the tokens marked and not yet written, asked with the tenant's lock held; None
        when the store cannot tell (not lazy, or a write in flight that may hold some)."""
        return None

    def new_row(self) -> int | None:
        """A row for a token about to be minted, which its value will carry (`uuid_token(row)`), so
        the store finds it without a search; None for a store that needs none."""
        return None

    # Lazy loading (only when `lazy`) --------------------------------------------------------------

    def fetch_token(self, key: str, value: str | None = None) -> TokenRow | None:
        """The stored token with this key (`mockwise._domain.tokens.token_row`), if any; `value`,
        when known, may carry its row."""
        return None

    def fetch_link(self, link_id: int) -> tuple[LinkRow, list[TokenRow]] | None:
        """A stored link and every token of its lineage, oldest first."""
        return None

    def current_link(self, client_id: str, user_id: int, key_profile: int | None) -> int | None:
        """The newest link for (client, user, profile), by id."""
        return None

    def current_links(self) -> list[int]:
        """The newest link of every (client, user, profile)."""
        return []

    def scan_tokens(
        self, *, live_at: float | None = None, client_id: str | None = None, user_id: int | None = None
    ) -> list[TokenRow]:
        """Every stored token (or those live at `live_at`, of a client, of a user), oldest first."""
        return []

    def count_tokens(self) -> int:
        return 0

    def collect_tokens(self, horizon: float, limit: int | None = None) -> int:
        """Forget stored tokens that expired at or before `horizon` (at most `limit`); how many went."""
        return 0


NO_LEDGER = Ledger()
