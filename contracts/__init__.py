"""Contract suites that judge any Wise client against the mockwise sandbox (docs/contracts.md,
docs/obligations.md).

    from mockwise.contracts import ClientConfig, Outcome, WiseClient, python_client, run_contracts

A client is judged through the adapter it implements (`WiseClient`, configured by `ClientConfig`,
answering `Outcome`s), in this process (`python_client("module:factory")`) or in any language over
JSON lines (`subprocess_client("node client.mjs")`, whose side `serve` is for Python processes);
`run_contracts` runs the stories and returns a `Report`. The suite for a webhook receiver is
`mockwise.contracts.receiver`. Names are imported lazily: importing this package costs nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "WiseClient": "mockwise.contracts.adapter",
    "ClientConfig": "mockwise.contracts.adapter",
    "NewUser": "mockwise.contracts.adapter",
    "Outcome": "mockwise.contracts.adapter",
    "Obligation": "mockwise.contracts.obligations",
    "catalog": "mockwise.contracts.obligations",
    "ReferenceClient": "mockwise.contracts.reference",
    "Report": "mockwise.contracts.report",
    "Verdict": "mockwise.contracts.report",
    "Counterexample": "mockwise.contracts.report",
    "Arena": "mockwise.contracts.runner",
    "local_arena": "mockwise.contracts.runner",
    "python_client": "mockwise.contracts.runner",
    "replay": "mockwise.contracts.runner",
    "run_contracts": "mockwise.contracts.runner",
    "subprocess_client": "mockwise.contracts.subprocess_driver",
    "serve": "mockwise.contracts.subprocess_driver",
}

__all__ = [
    "Arena",
    "ClientConfig",
    "Counterexample",
    "NewUser",
    "Obligation",
    "Outcome",
    "ReferenceClient",
    "Report",
    "Verdict",
    "WiseClient",
    "catalog",
    "local_arena",
    "python_client",
    "replay",
    "run_contracts",
    "serve",
    "subprocess_client",
]

if TYPE_CHECKING:
    from mockwise.contracts.adapter import ClientConfig, NewUser, Outcome, WiseClient
    from mockwise.contracts.obligations import Obligation, catalog
    from mockwise.contracts.reference import ReferenceClient
    from mockwise.contracts.report import Counterexample, Report, Verdict
    from mockwise.contracts.runner import Arena, local_arena, python_client, replay, run_contracts
    from mockwise.contracts.subprocess_driver import serve, subprocess_client


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mockwise.contracts' has no attribute {name!r}")
