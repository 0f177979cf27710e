"""mockwise's pytest plugin (registered through the `pytest11` entry point).

Fixtures: `wise_server` (one sandbox per session, on free ports, HTTPS and mTLS) and
`wise_sandbox` (a fresh tenant per test). Options: `--mockwise-url` (a running `mockwise serve`
instead of starting one) and `--mockwise-strictness`; and the contract suites, `--wise-client
module:factory` or `--wise-client-cmd "COMMAND"`, which judge a client and report each obligation
as a test.

This module imports nothing of mockwise until a fixture or the suites are used, so installing
mockwise costs a pytest run nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mockwise.contracts.report import Report
    from mockwise.testing import WiseSandbox, WiseServer


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockwise", "mockwise: a Wise Platform API sandbox")
    group.addoption(
        "--mockwise-url",
        help="use a running `mockwise serve`: its state directory, sandbox.json, or API URL",
    )
    group.addoption("--mockwise-ca", help="the sandbox CA (PEM) when --mockwise-url is a URL")
    group.addoption(
        "--mockwise-admin-token", help="the control plane's admin token, for a non-loopback server"
    )
    group.addoption(
        "--mockwise-strictness", choices=["wise", "strict"], help="the contract suites' strictness profile"
    )
    group.addoption(
        "--wise-client", help="judge a Python client: module:factory (factory(config) -> WiseClient)"
    )
    group.addoption("--wise-client-cmd", help="judge a client in any language: a command speaking JSON lines")
    group.addoption("--wise-examples", type=int, help="stories the contract suites tell (default 100)")
    group.addoption("--wise-budget", type=float, help="seconds the contract suites may take at most")
    group.addoption("--wise-junit", help="also write the contract verdicts as JUnit XML here")
    group.addoption("--wise-json", help="also write the contract verdicts as JSON here")
    group.addoption("--wise-scenarios", help="write each counterexample as a replayable scenario file here")
    parser.addini("mockwise_url", "a running mockwise serve (state directory, sandbox.json, or URL)")
    parser.addini("mockwise_ca", "the sandbox CA when mockwise_url is a URL")
    parser.addini(
        "mockwise_strictness", "the contract suites' strictness profile: wise or strict", default="wise"
    )


def pytest_configure(config: pytest.Config) -> None:
    where = _option(config, "mockwise_url")
    if where:  # a mistake here would otherwise fail every test that uses the sandbox, at length
        from mockwise.testing._server import sandbox_problem

        problem = sandbox_problem(where, "--mockwise-url")
        if problem is not None:
            raise pytest.UsageError(problem)


INI_OPTIONS = frozenset({"mockwise_url", "mockwise_ca", "mockwise_strictness"})


def _option(config: pytest.Config, name: str) -> Any:
    """A command-line option, or its ini-file equivalent."""
    value = config.getoption("--" + name.replace("_", "-"), default=None)
    if value is None and name in INI_OPTIONS:
        value = config.getini(name) or None
    return value


@pytest.fixture(scope="session")
def wise_server(pytestconfig: pytest.Config) -> Iterator[WiseServer]:
    """The session's sandbox: started on free ports on first use, or the one `--mockwise-url` names."""
    from mockwise.testing import WiseServer

    url = _option(pytestconfig, "mockwise_url")
    if url:
        server = WiseServer.connect(
            url, _option(pytestconfig, "mockwise_ca"), _option(pytestconfig, "mockwise_admin_token")
        )
    else:
        server = WiseServer.start()
    yield server
    server.stop()


@pytest.fixture
def wise_sandbox(wise_server: WiseServer) -> Iterator[WiseSandbox]:
    """A fresh tenant for this test: a partner client (mTLS enforced, as Wise does), users, a
    personal token, and handles on the tenant's clock, scenarios, faults and journal."""
    sandbox = wise_server.new_tenant()
    yield sandbox
    sandbox.close()


# The contract suites as tests -------------------------------------------------------------------


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not (config.getoption("--wise-client") or config.getoption("--wise-client-cmd")):
        return
    from mockwise.contracts.obligations import catalog

    profile = _option(config, "mockwise_strictness") or "wise"
    suite = ContractSuite(config, profile)
    items[:] = [
        ObligationItem.from_parent(session, name=o.id, suite=suite, obligation=o.id) for o in catalog(profile)
    ]


class ContractSuite:
    """Runs the suites once (on the first obligation's test) and keeps the report."""

    def __init__(self, config: pytest.Config, profile: str) -> None:
        self.config = config
        self.profile = profile
        self._report: Report | None = None

    def report(self) -> Report:
        if self._report is None:
            self._report = self._run()
        return self._report

    def _run(self) -> Report:
        from pathlib import Path

        from mockwise.contracts.progress import Progress
        from mockwise.contracts.runner import arena_for, client_for, run_contracts

        make, clock, name = client_for(
            self.config.getoption("--wise-client"), self.config.getoption("--wise-client-cmd")
        )
        examples = self.config.getoption("--wise-examples")
        scenarios = self.config.getoption("--wise-scenarios")
        where, ca, admin = (
            _option(self.config, name) for name in ("mockwise_url", "mockwise_ca", "mockwise_admin_token")
        )
        with arena_for(where, admin, ca) as arena:
            report = run_contracts(
                make,
                clock,
                name=name,
                profile=self.profile,
                examples=examples,
                budget=self.config.getoption("--wise-budget"),
                progress=Progress(_TerminalLines(self.config)),
                arena=arena,
                scenario_dir=Path(scenarios) if scenarios else None,
            )
        report.write(self.config.getoption("--wise-junit"), self.config.getoption("--wise-json"))
        return report


class _TerminalLines:
    """The contract run's progress, a line every few seconds, through pytest's terminal (stdout and
    stderr are captured while the first obligation's test runs the suites)."""

    def __init__(self, config: pytest.Config) -> None:
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")

    def write(self, text: str) -> None:
        if self.reporter is not None and text.strip():
            self.reporter.write_line(text.strip())

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class ObligationItem(pytest.Item):
    def __init__(self, *, suite: ContractSuite, obligation: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.obligation = obligation

    def runtest(self) -> None:
        report = self.suite.report()
        verdict = next(v for v in report.verdicts if v.obligation.id == self.obligation)
        if verdict.counterexample is not None:
            raise ObligationBroken(verdict)
        if not verdict.exercised:
            pytest.skip(verdict.skip_reason)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ObligationBroken):
            verdict = excinfo.value.verdict
            o = verdict.obligation
            return f"{o.id}: {o.statement}\n  [{o.severity}; {o.source}]\n{verdict.counterexample.text()}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int, str]:
        return "wise-contract", 0, f"obligation {self.obligation}"


class ObligationBroken(Exception):
    def __init__(self, verdict: Any) -> None:
        super().__init__(verdict.obligation.id)
        self.verdict = verdict
