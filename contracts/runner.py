"""Running the suites against a client, and replaying a counterexample.

`run_contracts` first explores (hypothesis generates stories and the judge records every broken
obligation), then, for each broken obligation, searches again with that obligation as the failing
condition so hypothesis shrinks it to its shortest story. The run is derandomised: the same client
gives the same verdict in CI.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test

from contracts.adapter import ClientConfig, WiseClient
from contracts.clocks import ClientClock, ManualClock, NoClock, TimeMachineClock
from contracts.machine import ObligationBroken, RunContext, build_machine
from contracts.obligations import catalog
from contracts.report import Counterexample, Report, Verdict
from contracts.world import ClientFactory, World
from mockwise.client import SandboxClient
from mockwise.domain.sandbox import Sandbox
from mockwise.http.app import create_app
from mockwise.inprocess import SyncASGITransport
from mockwise.server import Listener, Runner


@dataclass
class Arena:
    """The sandbox the suites run against, and where a client finds it."""

    control: SandboxClient
    endpoints: dict[str, str]
    closer: Callable[[], None]

    def close(self) -> None:
        self.closer()


def local_arena() -> Arena:
    """A sandbox served on a free port of this machine, in a background thread."""
    app = create_app(Sandbox())
    runner = Runner(app, [Listener("api")])
    runner.start_in_thread()
    url = runner.listeners[0].url
    control = SandboxClient(url, transport=SyncASGITransport(app))

    def close() -> None:
        control.close()
        runner.stop_thread()

    return Arena(control, {"api_url": url, "authorize_url": f"{url}/oauth/authorize/"}, close)


def remote_arena(url: str, admin_token: str | None = None, **endpoints: str) -> Arena:
    """A sandbox already running elsewhere (`mockwise serve`)."""
    control = SandboxClient(url, admin_token=admin_token)
    base = url.rstrip("/")
    found = {"api_url": base, "authorize_url": f"{base}/oauth/authorize/", **endpoints}
    return Arena(control, found, control.close)


@contextlib.contextmanager
def arena_for(url: str | None = None, admin_token: str | None = None) -> Iterator[Arena]:
    arena = local_arena() if url is None else remote_arena(url, admin_token)
    try:
        yield arena
    finally:
        arena.close()


def python_client(spec: str) -> tuple[ClientFactory, Callable[[], ClientClock]]:
    """`module:factory` → how to make the client, and which clock can move its time.

    A factory taking `(config)` gets its clock moved with time-machine (when installed); one
    taking `(config, clock)` is given an injectable `ManualClock`-style callable."""
    module_name, _, attr = spec.partition(":")
    factory: Callable[..., WiseClient] = getattr(importlib.import_module(module_name), attr or "factory")
    takes_clock = len(inspect.signature(factory).parameters) >= 2

    def make(config: ClientConfig, clock: ClientClock) -> WiseClient:
        if takes_clock:
            assert isinstance(clock, ManualClock)
            return factory(config, clock.now)
        return factory(config)

    if takes_clock:
        return make, ManualClock
    return make, _time_machine_or_nothing


def _time_machine_or_nothing() -> ClientClock:
    try:
        import time_machine  # noqa: F401
    except ImportError:
        return NoClock()
    return TimeMachineClock()


def run_contracts(
    make_client: ClientFactory,
    make_clock: Callable[[], ClientClock],
    *,
    name: str = "client",
    profile: str = "wise",
    examples: int = 30,
    steps: int = 20,
    shrink: bool = True,
    arena: Arena | None = None,
    scenario_dir: Path | None = None,
) -> Report:
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if arena is None:
            arena = stack.enter_context(arena_for())
        ctx = RunContext(arena.control, arena.endpoints, make_client, make_clock, profile)
        machine = build_machine(ctx)
        explore = settings(
            max_examples=examples,
            stateful_step_count=steps,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            report_multiple_bugs=False,
        )
        run_state_machine_as_test(machine, settings=explore)
        counterexamples: dict[str, Counterexample] = {}
        for obligation, finding in sorted(ctx.found.items()):
            story, fidelity, program, violation = finding.story, finding.fidelity, "", finding.violation
            if shrink:
                ctx.target = obligation
                try:
                    run_state_machine_as_test(machine, settings=settings(explore, phases=list(Phase)))
                except Flaky:
                    pass  # a race that did not repeat: the story found while exploring stands
                except ObligationBroken as failure:
                    program = "\n".join(getattr(failure, "__notes__", []))
                    if ctx.last_world is not None and ctx.raised is not None:  # the shortest story ran last
                        story, fidelity, violation = (
                            list(ctx.last_world.story),
                            ctx.last_world.fidelity,
                            ctx.raised,
                        )
                ctx.target = None
            counterexamples[obligation] = Counterexample(
                obligation, violation.render(), story, program, fidelity
            )
    verdicts = [Verdict(o, counterexamples.get(o.id)) for o in catalog(profile)]
    report = Report(name, profile, verdicts, ctx.examples_run, ctx.steps_run, time.perf_counter() - started)
    if scenario_dir is not None:
        report.write_scenarios(scenario_dir)
    return report


def replay(
    scenario: dict[str, Any],
    make_client: ClientFactory,
    make_clock: Callable[[], ClientClock],
    arena: Arena,
    *,
    profile: str = "wise",
    keep: bool = True,
) -> World:
    """Run a scenario file's story again; the tenant is kept so the dashboard can show it."""
    world = World(
        arena.control,
        arena.endpoints,
        make_client,
        make_clock(),
        profile=profile,
        fidelity=scenario.get("fidelity") or {},
    )
    try:
        world.replay(scenario["steps"])
    finally:
        world.close()
        if not keep:
            world.tenant.delete()
    return world
