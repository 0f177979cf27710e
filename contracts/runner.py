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
import ssl
import tempfile
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
from mockwise.pki import SandboxPKI
from mockwise.server import Listener, Runner
from mockwise.testing import WiseServer


class Impostor:
    """A man in the middle: while active, new TLS connections are answered with a server certificate
    from a CA no client should trust. A client that still talks breaks VERIFY-SERVER."""

    LABEL = "impostor"

    def __init__(self, pki: SandboxPKI) -> None:
        self.active = False
        self.drop_connections: Callable[[], None] = lambda: None
        self._pki = pki
        self._other = SandboxPKI.elsewhere()

    def guard(self, real: ssl.SSLContext) -> ssl.SSLContext:
        """Let `real` hand new handshakes to a stand-in while active (clients must send SNI)."""
        fake = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        fake.minimum_version = ssl.TLSVersion.TLSv1_2
        self._other.server.configure_cert(fake)
        fake.verify_mode = real.verify_mode
        if real.verify_mode != ssl.CERT_NONE:
            self._pki.ca.configure_trust(fake)  # it still accepts the partner's real certificate
        fake.mockwise_label = self.LABEL  # type: ignore[attr-defined]

        def swap(ssl_object: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
            if self.active:
                ssl_object.context = fake

        real.sni_callback = swap
        return real

    def set(self, active: bool) -> None:
        self.active = active
        self.drop_connections()  # clients must handshake again


@dataclass
class Arena:
    """The sandbox the suites run against, and where a client finds it."""

    control: SandboxClient
    endpoints: dict[str, str]
    closer: Callable[[], None]
    impostor: Impostor | None = None
    remote: bool = False  # the sandbox runs in another process (its clock is not this process's)

    def close(self) -> None:
        self.closer()

    def clocks(self, make_clock: Callable[[], ClientClock]) -> Callable[[], ClientClock]:
        """`make_clock`, fitted to this sandbox: one in another process cannot see a wait that
        time-machine skips, so an in-process client's sleeps (Retry-After, backoff) are real there."""
        if not self.remote:
            return make_clock

        def make() -> ClientClock:
            clock = make_clock()
            if isinstance(clock, TimeMachineClock):
                clock.real_waits = True
            return clock

        return make


def local_arena() -> Arena:
    """A sandbox served on free ports of this machine, in a background thread: HTTPS on an API
    host and an mTLS host, like Wise's. The mTLS host asks for a client certificate but lets a
    request without one through to be refused over HTTP, so the journal can say who forgot it."""
    sandbox = Sandbox()
    app = create_app(sandbox)
    control = SandboxClient("http://sandbox", transport=SyncASGITransport(app))
    pki = sandbox.pki
    impostor = Impostor(pki)
    listeners = [
        Listener("api", ssl=impostor.guard(pki.server_context("none"))),
        Listener("mtls", ssl=impostor.guard(pki.server_context("optional"))),
    ]
    runner = Runner(app, listeners)
    impostor.drop_connections = runner.drop_connections
    runner.start_in_thread()
    files = tempfile.TemporaryDirectory(prefix="mockwise-contracts-")
    ca = Path(files.name) / "ca.pem"
    ca.write_text(pki.ca_pem, encoding="ascii")
    api, mtls = (f"https://localhost:{listener.port}" for listener in listeners)  # a name: SNI is sent
    endpoints = {
        "api_url": api,
        "mtls_api_url": mtls,
        "authorize_url": f"{api}/oauth/authorize/",
        "ca_cert": str(ca),
    }

    def close() -> None:
        runner.stop_thread()
        files.cleanup()

    return Arena(control, endpoints, close, impostor)


def remote_arena(where: str, admin_token: str | None = None, ca_cert: str | None = None) -> Arena:
    """A `mockwise serve` already running, found as the pytest plugin finds one: its state
    directory, its sandbox.json, or its API URL (with `ca_cert` for HTTPS)."""
    server = WiseServer.connect(where, ca_cert=ca_cert, admin_token=admin_token)
    endpoints = {
        "api_url": server.api_url,
        # `connect` falls back to the API host; the suites judge mTLS only where there is an mTLS host
        "mtls_api_url": server.mtls_api_url if server.mtls_api_url != server.api_url else "",
        "authorize_url": server.authorize_url,
        "ca_cert": server.ca_cert,
    }
    return Arena(server.control, endpoints, server.stop, remote=True)


@contextlib.contextmanager
def arena_for(
    sandbox: str | None = None, admin_token: str | None = None, ca_cert: str | None = None
) -> Iterator[Arena]:
    """A local sandbox, or the running one `sandbox` names (see `remote_arena`)."""
    arena = local_arena() if sandbox is None else remote_arena(sandbox, admin_token, ca_cert)
    try:
        yield arena
    finally:
        arena.close()


def client_for(spec: str | None, command: str | None) -> tuple[ClientFactory, Callable[[], ClientClock], str]:
    """The client to judge, as the command line and the pytest plugin name it: a command to run
    as a subprocess (`command`), or a Python `module:factory`; with its clock and its name."""
    if command:
        from contracts.subprocess_driver import subprocess_client

        make, clock = subprocess_client(command)
        return make, clock, command
    if not spec:
        raise ValueError("name a client: module:factory, or a command")
    make, clock = python_client(spec)
    return make, clock, spec


def python_client(spec: str) -> tuple[ClientFactory, Callable[[], ClientClock]]:
    """`module:factory` → how to make the client, and which clock can move its time.

    A factory taking `(config)` gets its clock moved with time-machine (when installed); one
    taking `(config, clock)` is given an injectable `ManualClock`-style callable."""
    module_name, _, attr = spec.partition(":")
    factory: Callable[..., WiseClient] = getattr(importlib.import_module(module_name), attr or "factory")
    positional = [
        p
        for p in inspect.signature(factory).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    takes_clock = len(positional) >= 2

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
        ctx = RunContext(
            arena.control, arena.endpoints, make_client, arena.clocks(make_clock), profile, arena.impostor
        )
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
    verdicts = [
        Verdict(o, counterexamples.get(o.id), o.needs is None or o.needs in ctx.exercised)
        for o in catalog(profile)
    ]
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
        arena.clocks(make_clock)(),
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
