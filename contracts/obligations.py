"""The obligations catalog: what a Wise client must do, each judged from the sandbox's journal and
the outcomes the client reports.

Every obligation has an id, a one-line statement, its source (a seed file or a section of the
reference), a severity, the strictness profiles it belongs to, and how it is checked. Each is
declared beside its check, in a module of `mockwise.contracts.checks` per family; this is their
catalog, in the order reports list them.
`python -m mockwise.contracts.obligations` prints the catalog as Markdown.
"""

from __future__ import annotations

import json
import sys

from mockwise.contracts.checks import linking, outcomes, requests, retries, tokens
from mockwise.contracts.checks.base import NEEDS, PROFILES, Obligation, Severity

__all__ = [
    "ADVERSARIES", "BY_ID", "CATALOG", "NEEDS", "PROFILES", "Obligation", "Severity", "catalog", "markdown",
]  # fmt: skip

#: The order reports and docs/obligations.md list obligations in.
ORDER = (
    "AUTH-BASIC",
    "GRANT-PARAMS",
    "SECRET-NOT-IN-URL",
    "CC-REUSE",
    "CC-NO-EXPIRED",
    "USER-REUSE",
    "USER-NO-EXPIRED",
    "USER-NO-STALE",
    "USER-OWN-TOKEN",
    "INVALID-GRANT-STOP",
    "REGCODE-FALLBACK",
    "RELINK-REPORTED",
    "RETRY-AFTER",
    "RETRY-BOUNDED",
    "NO-RETRY-INVALID-CLIENT",
    "REDIRECT-EXACT",
    "STATE-CHECKED",
    "CODE-ONCE",
    "DOB-CHECK",
    "LINK-KEPT",
    "RELINK-REPLACES",
    "LINKS-IN-FLIGHT",
    "SCA-CLEARED",
    "SCA-ONE-USE",
    "MTLS-PRESENT",
    "VERIFY-SERVER",
    "WORKS",
    "REFRESH-EARLY",
)
_DECLARED = {o.id: o for family in (requests, tokens, retries, linking, outcomes) for o in family.OBLIGATIONS}
CATALOG: tuple[Obligation, ...] = tuple(_DECLARED[o] for o in ORDER)
BY_ID = {o.id: o for o in CATALOG}
#: Each obligation's adversaries (see `Obligation.adversaries`).
ADVERSARIES: dict[str, tuple[str, ...]] = {o.id: o.adversaries for o in CATALOG}


def catalog(profile: str = "wise") -> tuple[Obligation, ...]:
    if profile not in PROFILES:
        raise ValueError(f"unknown strictness profile {profile!r}; one of {', '.join(PROFILES)}")
    return tuple(o for o in CATALOG if profile in o.profiles)


def markdown(profile: str | None = None) -> str:
    rows = [
        "| Id | Obligation | Source | Severity | Profiles | Checked by | Counted | Adversaries |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in CATALOG if profile is None else catalog(profile):
        needs = f" (needs {', '.join(NEEDS[n] for n in o.needs)})" if o.needs else ""
        rows.append(
            f"| `{o.id}` | {o.statement} | {o.source} | {o.severity} | {', '.join(o.profiles)} | "
            f"{o.check}{needs} | {o.situation} | {'; '.join(o.adversaries)} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["--json"]:
        print(json.dumps([o.as_json() for o in CATALOG], indent=2))
    else:
        print(markdown())
