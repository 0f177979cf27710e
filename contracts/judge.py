"""The judge: reads the sandbox's journal and the client's outcomes, and finds broken obligations.

It knows what the client was told (each token's `expires_in`, and `expires_at` when the response
had it) and how far the sandbox's clock has run ahead of the client's (moves of the sandbox's clock
alone), so a client is only blamed for what it could have known: a token that expired early
because only the sandbox's clock moved is excused; one the client kept past the expiry it was given
is not.

It also counts, for every obligation, the situations that put it to the test (`situations`): an
obligation whose situation never occurred was not exercised, and is never reported as kept."""

from __future__ import annotations

from collections.abc import Iterable

from mockwise._domain.journal import Entry
from mockwise.contracts.checks.base import (
    ACCESS_LIFETIME,
    CUSTOMER_OPS,
    REQUIRED_PARAMS,
    Issued,
    Operation,
    Violation,
    _is_token,
)
from mockwise.contracts.checks.linking import TAMPERINGS, LinkChecks
from mockwise.contracts.checks.outcomes import OutcomeChecks
from mockwise.contracts.checks.requests import RequestChecks
from mockwise.contracts.checks.retries import RetryChecks
from mockwise.contracts.checks.tokens import TokenChecks
from mockwise.contracts.obligations import catalog

__all__ = ["ACCESS_LIFETIME", "REQUIRED_PARAMS", "TAMPERINGS", "Issued", "Judge", "Operation", "Violation"]


class Judge(RequestChecks, TokenChecks, RetryChecks, LinkChecks, OutcomeChecks):
    """Every family's checks together, and the order they run in: each journal entry as it is
    observed (`observe`), each operation once it answered (`judge`)."""

    def __init__(
        self,
        client_id: str,
        redirect_uri: str,
        profile: str = "wise",
        mtls: bool = False,
        absolute_expiry: bool = True,
        lifetime: float = ACCESS_LIFETIME,
        told_expiry: bool = True,
    ) -> None:
        super().__init__(
            client_id,
            redirect_uri,
            {o.id for o in catalog(profile)},
            mtls,
            absolute_expiry,
            lifetime,
            told_expiry,
        )

    # Knowledge from server moves ----------------------------------------------------------------

    def sandbox_clock_moved(self, seconds: float) -> None:
        """Only the sandbox's clock moved: it now runs further ahead of the client's."""
        self.skew += seconds

    def tokens_ended(self, token_ids: Iterable[str]) -> None:
        self.ended.update(token_ids)

    def learn_links(self, links: dict[str, int]) -> None:
        """Which lineage each token belongs to (from the sandbox's token list)."""
        self.links.update(links)
        for token_id, info in self.issued.items():
            if info.link is None and token_id in links:
                info.link = links[token_id]

    def workers(self, count: int) -> None:
        self.partner_workers = max(self.partner_workers, count)

    # Before an operation: the situations it meets -----------------------------------------------

    def begin(self, op: Operation, now: float) -> None:
        """The client is about to do `op` at tenant time `now`: count what it is put to."""
        client_now = now - self.skew
        if self.impostor:
            self._saw("VERIFY-SERVER", "partner" if op.user is None else "customer")
        customers = {i.user_id for i in self.issued.values() if i.kind == "user" and i.user_id is not None}
        if op.name == "partner_call":
            held = self.newest("client_credentials", None)
            if held is not None:
                self._saw("CC-REUSE", "a live token")
                self._due("CC-NO-EXPIRED", None, held, client_now)
            if customers:
                self._saw("USER-OWN-TOKEN", "partner call")
        if op.name in CUSTOMER_OPS and op.links:
            current = self.newest("user", op.links)
            if current is not None:
                self._due("USER-NO-EXPIRED", "REFRESH-EARLY", current, client_now)
                if self._young(current, client_now) and self._usable(current):
                    self._saw("USER-REUSE", "a token under two hours old")
            if len(customers - {op.user_id}) >= 1:
                self._saw("USER-OWN-TOKEN", "customer call")
        if op.name == "fund_transfer" and self.approved:
            self._saw("SCA-ONE-USE", "a transfer after an approved one")

    # Entries: what the client sent --------------------------------------------------------------

    def observe(
        self,
        entries: Iterable[Entry],
        step: int,
        *,
        concurrency: int = 1,
        batch_start: int = 0,
        links: frozenset[int] = frozenset(),
        user_id: int | None = None,
    ) -> None:
        """Judge what the client sent during `step`: `concurrency` workers at once, begun after the
        journal's entry `batch_start`, for the customer whose lineages are `links`."""
        self.step, self.concurrency, self.batch_start = step, concurrency, batch_start
        self.op_links, self.op_user = links, user_id
        self.batch_refreshes = {}
        self.refusals = 0  # API calls answered 401 so far in these entries: new tokens are due
        for entry in entries:
            self._request(entry)
            if _is_token(entry):
                self._token_request(entry)
                continue
            if entry.status == 401:  # whatever it presented (even a token the sandbox never issued)
                self.refusals += 1
            if entry.token is not None:
                self.presented.add(entry.token)
                self._api_call(entry)

    def _token_request(self, entry: Entry) -> None:
        grant = entry.grant_type
        self._form(entry)
        self._exchange(entry)
        if entry.error == "invalid_grant" and grant in ("refresh_token", "registration_code"):
            self._saw("INVALID-GRANT-STOP", entry.reason or "invalid_grant")
        if grant == "refresh_token" and entry.token is not None:
            self._refresh(entry, entry.token)
        if grant == "registration_code" and entry.user_id is not None:
            self._registration(entry, entry.user_id)
        if entry.status == 200 and entry.issued is not None:
            self._issued(entry, grant)

    # Operations: what the client did and said ---------------------------------------------------

    def judge(self, op: Operation) -> None:
        self.step, self.op_user = op.step, op.user_id
        outcome = op.outcome
        if outcome is not None and outcome.kind == "unsupported":
            self.unsupported.add(op.name)  # the adapter's documented answer: counts against nothing
            return
        if not op.concurrent:
            self._retries(op)
        self._owner(op)
        getattr(self, f"_op_{op.name}", lambda op: None)(op)
