"""What the client answers: an operation works when nothing is in the way, a customer whose tokens
are gone is reported as needing a re-link, and a created customer falls back on the registration
code. A failed operation is excused only by a broken obligation that makes Wise refuse what follows."""

from __future__ import annotations

from mockwise.contracts.checks.base import (
    CAUSES_FAILURE,
    DISRUPTIVE_FAULTS,
    JudgeState,
    Obligation,
    Operation,
)

OBLIGATIONS: tuple[Obligation, ...] = (
    Obligation(
        "REGCODE-FALLBACK",
        "For a user created over API, a dead refresh token is replaced through the stored registration code.",
        "Wise user-tokens page (store the registration code; it works until the user reclaims the account)",
        "major",
        "a created, unreclaimed user is never reported as needing a re-link",
        situation="operations for created customers with a working registration code",
        needs=("create_user",),
        adversaries=("dead refresh token",),
    ),
    Obligation(
        "RELINK-REPORTED",
        "When a user's tokens are gone for good, the client reports 're-link needed'.",
        "Wise user-tokens page (send the user through the linking flow again)",
        "major",
        "an operation for a user with no usable refresh token or registration code answers relink_needed",
        situation="operations for customers whose tokens are gone",
        adversaries=("user_call", "fund_transfer"),
    ),
    Obligation(
        "WORKS",
        "When the sandbox is healthy, the business operation succeeds.",
        "the purpose of the integration",
        "major",
        "an operation with no fault and live credentials answers ok",
        situation="operations that must work",
        adversaries=("partner_call", "create_user", "finish_link", "user_call", "fund_transfer"),
    ),
)


class OutcomeChecks(JudgeState):
    def _outcome_rules(self, op: Operation) -> None:
        outcome = op.outcome
        assert outcome is not None
        disrupted = self._disrupted(op)
        if op.expect.get("registration_code_alive") and op.expect.get("refresh_dead"):
            self._saw("REGCODE-FALLBACK", "dead refresh token")
        if op.expect.get("registration_code_alive") and outcome.status == "relink_needed":
            # Even when the partner's own credentials are refused: that is no reason to drop the
            # customer, whose registration code works again once the secret is deployed.
            why = "" if op.expect.get("deployed", True) else " (once the partner's secret is fixed)"
            self._fail(
                "REGCODE-FALLBACK",
                f"{op.name}({op.user}) gave up with relink_needed; the stored registration code still "
                f"works{why}",
                *op.entries[-3:],
            )
        elif op.expect.get("relink") and not disrupted:
            self._saw("RELINK-REPORTED", op.name)
            if outcome.status != "relink_needed" and not self._excused(op):
                self._fail(
                    "RELINK-REPORTED",
                    f"{op.name}({op.user}) answered {outcome.shown()}; the user's tokens are gone: a "
                    "re-link is needed",
                    *op.entries[-3:],
                )
        elif not disrupted:
            self._works(op)

    def _disrupted(self, op: Operation) -> bool:
        """An impostor or a disruptive fault was in the way, or a token was refused again after
        the one renewal a refusal calls for: no answer is wrong."""
        faults = op.faults()
        # an injected invalid_token on top of a natural refusal (an expired token) counts too: the
        # fault strikes the first request that authenticates, which may be the renewal's retry
        refused = sum(1 for e in op.entries if e.error == "invalid_token")
        refused_again = "invalid_token" in faults and refused > 1
        return self.impostor or refused_again or any(kind in DISRUPTIVE_FAULTS for kind in faults)

    def _works(self, op: Operation) -> None:
        """WORKS, unless an obligation broken in the same step, or earlier for the same customer,
        may explain the failure."""
        outcome = op.outcome
        assert outcome is not None
        if not op.expect.get("works"):
            return
        self._saw("WORKS", op.name)
        attempt = self.unfinished.pop(op.user_id, None) if op.user_id is not None else None
        if attempt is not None and op.name != "finish_link":
            self._saw("LINK-KEPT", f"after a re-link {attempt}")
        if outcome.status != "ok" and not self._excused(op):
            what = f"{op.name}({op.user or ''})"
            if attempt is not None and op.name != "finish_link":
                self._fail(
                    "LINK-KEPT",
                    f"{what} answered {outcome.shown()} after the customer {attempt} a new link: the link "
                    "they had still works",
                    *op.entries[-3:],
                )
                return
            self._fail(
                "WORKS", f"{what} answered {outcome.shown()} though nothing was wrong", *op.entries[-3:]
            )

    def _excused(self, op: Operation) -> bool:
        """Whether a wrong answer is excused, and by which obligation (counted in `excused`): one
        whose breach makes Wise refuse what follows, broken in this very operation for this
        customer (or for the partner), or earlier for this customer. A breach that cannot make an
        operation fail (a retry too soon, a token renewed too early) excuses nothing."""
        cause = next(
            (
                v.obligation
                for v in self.violations
                if v.step == op.step and v.obligation in CAUSES_FAILURE and v.user in (op.user_id, None)
            ),
            None,
        )
        if cause is None and op.user_id is not None:
            cause = self.tainted.get(op.user_id)
        if cause is not None:
            self.excused[cause] += 1
        return cause is not None

    # the operations whose answer these rules judge (finish_link: linking.LinkChecks)
    _op_partner_call = _outcome_rules
    _op_create_user = _outcome_rules
    _op_user_call = _outcome_rules
    _op_fund_transfer = _outcome_rules
