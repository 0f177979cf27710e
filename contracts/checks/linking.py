"""Linking a customer's account: the registered redirect URI, an unguessable state checked on the way
back, the code exchanged once, the date of birth checked; and every journey after it (declining,
leaving the page, linking again, two attempts at once)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from mockwise._domain.journal import Entry
from mockwise.contracts.checks.base import (
    JudgeState,
    Obligation,
    Operation,
    _unacted,
)

OBLIGATIONS: tuple[Obligation, ...] = (
    Obligation(
        "REDIRECT-EXACT",
        "The authorize URL and the code exchange use exactly the registered redirect_uri.",
        "reference §3 (must equal the registered value, query string included)",
        "critical",
        "the authorize URL names our client_id and the registered redirect_uri; no exchange is refused "
        "for a redirect_uri mismatch",
        situation="authorize URLs",
        needs=("start_link",),
        adversaries=("authorize URL",),
    ),
    Obligation(
        "STATE-CHECKED",
        "The client sends an unguessable state and refuses a redirect back whose state it did not issue.",
        "RFC 6749 §10.12; reference §3",
        "critical",
        "state has 16+ characters and is never reused; a redirect whose state is not exactly the one issued "
        "(foreign, a near miss, empty, missing, repeated) ends in state_mismatch without exchanging the code",
        situation="foreign redirects",
        needs=("start_link",),
        adversaries=tuple(
            ["foreign", "prefix", "suffix", "one-char", "case", "truncated", "empty", "missing", "repeated"]
        ),
    ),
    Obligation(
        "CODE-ONCE",
        "An authorization code is exchanged at most once.",
        "reference §2.4 (codes are single use)",
        "major",
        "no code appears in two authorization_code grants",
        situation="code exchanges",
        needs=("start_link",),
        adversaries=("exchange", "an exchange a transient failure answered", "a failure after the exchange"),
    ),
    Obligation(
        "DOB-CHECK",
        "After linking, the client checks the profile's date of birth and refuses a mismatch.",
        "Wise linking-accounts page (actions after linking an account)",
        "critical",
        "a link to a personal profile whose date of birth differs from the partner's record (by a day, a "
        "month, a year, or entirely) ends in dob_mismatch",
        situation="links to someone else",
        needs=("start_link",),
        adversaries=("day", "month", "year", "other"),
    ),
    Obligation(
        "LINK-KEPT",
        "A customer who declines on the authorize page, or leaves it and never comes back, keeps the link "
        "they had.",
        "reference §3 (a denial comes back as error=access_denied; RFC 6749 §4.1.2.1), §2.5 (only a new "
        "grant replaces a link's refresh token)",
        "critical",
        "a declined callback is answered with an error and exchanges nothing; after a declined or "
        "abandoned attempt, an operation for the customer whose tokens still work succeeds",
        situation="declined or abandoned re-links",
        needs=("start_link",),
        adversaries=("declined", "after a re-link declined", "after a re-link abandoned"),
    ),
    Obligation(
        "RELINK-REPLACES",
        "When a customer links again, the client goes on with the new link's tokens.",
        "reference §2.5 (a new authorization_code grant immediately invalidates the old refresh token)",
        "major",
        "no refresh presents the refresh token of a link the same customer replaced by linking again",
        situation="re-links that replaced a refresh token",
        needs=("start_link",),
        adversaries=("re-link",),
    ),
    Obligation(
        "LINKS-IN-FLIGHT",
        "Each link attempt the client started is finished by its own redirect: starting a second does not "
        "void the first.",
        "reference §3 (state returned unchanged, per authorization request); RFC 6749 §10.12 (good "
        "practice: Wise says nothing of two attempts at once)",
        "minor",
        "with two attempts under way for one customer, the redirect of either (with its own state) links "
        "the customer",
        situation="redirects of one of two attempts under way",
        profiles=("strict",),
        needs=("start_link",),
        adversaries=("attempt 1 of 2", "attempt 2 of 2"),
    ),
)


#: How the suite tampers with the `state` of a redirect back (STATE-CHECKED), in the report's words.
TAMPERINGS = {
    "foreign": "a state of another session",
    "prefix": "the issued state's first half, then other characters",
    "suffix": "other characters, then the issued state's second half",
    "one-char": "the issued state with one character changed",
    "case": "the issued state in another case",
    "truncated": "the issued state without its last character",
    "empty": "an empty state",
    "missing": "no state at all",
    "repeated": "the state parameter three times: foreign, issued, foreign",
}


class LinkChecks(JudgeState):
    def _exchange(self, entry: Entry) -> None:
        """A code exchange: the registered redirect_uri, and each code exchanged once."""
        if entry.reason == "redirect_uri_mismatch":
            self._fail(
                "REDIRECT-EXACT",
                "the code exchange sent a redirect_uri that is not the registered one",
                entry,
            )
        if entry.grant_type == "authorization_code" and entry.token is not None:
            self.codes[entry.token] += 1
            self._saw("CODE-ONCE", "exchange" if self.codes[entry.token] == 1 else "again")
            if self.codes[entry.token] == 2:
                self._fail("CODE-ONCE", "exchanged the same authorization code twice", entry)

    def link_attempt(self, user_id: int | None, how: str) -> None:
        """A customer's link attempt was declined or abandoned: their next operations must work."""
        if user_id is not None:
            self.unfinished[user_id] = how

    def relinked(self, user_id: int | None, replaced: set[int]) -> None:
        """A customer linked again, and the new grant ended these lineages' refresh tokens (§2.5)."""
        if user_id is not None:
            self.unfinished.pop(user_id, None)
        if replaced:
            self._saw("RELINK-REPLACES", "re-link")
            self.replaced_links |= replaced

    def _replaced_link(self, entry: Entry, link: int | None) -> None:
        """RELINK-REPLACES: a refresh with the refresh token of a link the customer replaced."""
        if link in self.replaced_links:
            self._fail(
                "RELINK-REPLACES",
                "sent the refresh token of a link the customer had replaced by linking again (the new "
                "grant killed it, §2.5)",
                entry,
            )

    def _op_start_link(self, op: Operation) -> None:
        assert op.url is not None
        self._saw("REDIRECT-EXACT", "authorize URL")
        query = {k: v[0] for k, v in parse_qs(urlparse(op.url).query, keep_blank_values=True).items()}
        if query.get("redirect_uri") != self.redirect_uri or query.get("client_id") != self.client_id:
            self._fail(
                "REDIRECT-EXACT",
                f"authorize URL has client_id={query.get('client_id')!r}, "
                f"redirect_uri={query.get('redirect_uri')!r}; "
                f"registered: {self.client_id!r}, {self.redirect_uri!r}",
            )
        state = query.get("state", "")
        if len(state) < 16:
            self._fail(
                "STATE-CHECKED", f"the authorize URL's state is {len(state)} characters long (16+ needed)"
            )
        elif state in self.states:
            self._fail("STATE-CHECKED", "the authorize URL reuses a state from an earlier link")
        self.states.add(state)

    def _op_finish_link(self, op: Operation) -> None:
        outcome = op.outcome
        assert outcome is not None
        exchanged = [e for e in op.entries if e.grant_type == "authorization_code"]
        # An attempt the sandbox answered with a transient failure without acting on it is no
        # exchange (docs/contracts.md, "Attempts whose outcome the client could not know"): a retry
        # after it is what RETRY-BOUNDED asks for. One redirect carries one code: a second exchange
        # the sandbox acted on is that code again, whatever the journal could name.
        acted = [e for e in exchanged if not _unacted(e)]
        if len(acted) < len(exchanged):
            self._saw("CODE-ONCE", "an exchange a transient failure answered")
        if acted and any(e.fault and e.seq > acted[0].seq for e in op.entries):
            self._saw("CODE-ONCE", "a failure after the exchange")
        flagged = any(v.obligation == "CODE-ONCE" and v.step == op.step for v in self.violations)
        if len(acted) > 1 and not flagged:
            self._fail("CODE-ONCE", "exchanged the redirect's authorization code again", *acted[:2])
        if op.expect.get("declined"):
            self._saw("LINK-KEPT", "declined")
            if acted or outcome.status == "ok":
                self._fail(
                    "LINK-KEPT",
                    f"the customer declined on the authorize page, and finish_link answered {outcome.shown()}"
                    + (" after exchanging a code" if acted else ""),
                    *acted,
                )
            return
        in_flight = op.expect.get("in_flight")
        if in_flight and not self._disrupted(op):
            self._saw("LINKS-IN-FLIGHT", f"attempt {in_flight} of 2")
            if outcome.kind == "state_mismatch":
                self._fail(
                    "LINKS-IN-FLIGHT",
                    f"refused the redirect of link attempt {in_flight}, which it had started, because "
                    "another attempt was under way for the customer",
                )
                return
        tamper = op.expect.get("tamper")
        if tamper:
            self._saw("STATE-CHECKED", tamper)
            if exchanged or outcome.kind != "state_mismatch":
                self._fail(
                    "STATE-CHECKED",
                    f"accepted a redirect whose state was not its own ({TAMPERINGS.get(tamper, tamper)}; "
                    f"answered {outcome.shown()})",
                    *exchanged,
                )
            return
        wrong_dob = op.expect.get("wrong_dob")
        if wrong_dob:
            self._saw("DOB-CHECK", wrong_dob)
            if outcome.status == "ok":
                self._fail(
                    "DOB-CHECK",
                    f"linked a profile whose date of birth is not the customer's ({wrong_dob})",
                    *op.entries[-2:],
                )
            return
        # a faked invalid_grant on the new tokens' first refresh leaves nothing to link with
        if not self._disrupted(op) and "invalid_grant" not in op.faults():
            self._works(op)
