"""Running the suites against a client, and replaying a counterexample.

`run_contracts` first explores (`mockwise.contracts.stories` tells seeded stories and the judge records every
broken obligation and every situation that put one to the test), then shrinks each broken obligation's
story by replaying shorter ones (`mockwise.contracts.shrink`). The run is derandomised: the same client gets
the same verdict in CI.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockwise._domain.sandbox import Sandbox
from mockwise._http.app import create_app
from mockwise._pki import SandboxPKI
from mockwise._transport.inprocess import SyncASGITransport
from mockwise._transport.sockets import Listener, Runner
from mockwise.contracts.adapter import ClientConfig, WiseClient
from mockwise.contracts.clocks import ClientClock, ManualClock, NoClock, TimeMachineClock, fixed_because
from mockwise.contracts.judge import Violation
from mockwise.contracts.obligations import NEEDS, Obligation, catalog
from mockwise.contracts.progress import Progress
from mockwise.contracts.report import Counterexample, Report, Verdict
from mockwise.contracts.shrink import Moves, Replayed
from mockwise.contracts.shrink import shrink as shrink_story
from mockwise.contracts.stories import Finding, RunContext, explore
from mockwise.contracts.subprocess_driver import ClientGone
from mockwise.contracts.variation import dotted
from mockwise.contracts.world import ClientFactory, World, moves_of_steps
from mockwise.testing import WiseServer
from mockwise.testing._client import SandboxClient


class Impostor:
    """A man in the middle: while active, new TLS connections are answered with a server certificate
    from a CA no client should trust. A client that still talks breaks VERIFY-SERVER.

    He is a server identity of his own, not a costume the sandbox puts on: each new connection is
    handed, before its first byte is read, to the sandbox's TLS context or to his, and he gets a
    fresh one at every visit (its own session cache and session-ticket keys). So a client cannot
    resume a session from the real sandbox (a TLS 1.3 ticket, a TLS 1.2 session id) into him, as a
    real man in the middle could not: what it resumes with is refused and the handshake is a full
    one, with his certificate. Only a connection that completed such a handshake is labelled his,
    and only requests on it count against VERIFY-SERVER. (Swapping the context in the SNI callback,
    as this did before, let OpenSSL decrypt the real server's tickets: a client resuming a session,
    as Node, Java, .NET, Go and libcurl do by default, was blamed for talking to him.) 0-RTT early
    data is refused by both identities (OpenSSL's servers accept none unless told to), and the
    connections already open when he arrives or leaves are dropped: a kept-alive connection does
    not outlive a change of identity."""

    LABEL = "impostor"

    def __init__(self, pki: SandboxPKI) -> None:
        self.active = False
        self._lock = threading.Lock()
        self.drop_connections: Callable[[], None] = lambda: None
        self._pki = pki
        self._other = SandboxPKI.elsewhere()
        self._guarded: list[ssl.SSLContext] = []
        self._own: dict[int, ssl.SSLContext] = {}  # id(real context) -> his, for this visit

    def guard(self, real: ssl.SSLContext) -> ssl.SSLContext:
        """The context a listener serves with: `real`'s handshakes, or his while he is there."""
        self._guarded.append(real)
        return Identities(real, self._identity_for)

    def _identity_for(self, real: ssl.SSLContext) -> ssl.SSLContext:
        # No lock: the event loop asks while `set` holds it, waiting for the loop to drop
        # connections; `_own` is replaced whole, never changed in place.
        return self._own.get(id(real), real)

    def _context(self, real: ssl.SSLContext) -> ssl.SSLContext:
        """His context for a listener: his certificate, the listener's client-certificate rules."""
        fake = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        fake.minimum_version = ssl.TLSVersion.TLSv1_2
        fake.set_alpn_protocols(["http/1.1"])
        self._other.server.configure_cert(fake)
        fake.verify_mode = real.verify_mode
        if real.verify_mode != ssl.CERT_NONE:
            self._pki.ca.configure_trust(fake)  # it still accepts the partner's real certificate
            fake.verify_flags = real.verify_flags
        fake.mockwise_label = self.LABEL  # type: ignore[attr-defined]
        return fake

    def set(self, active: bool) -> None:
        with self._lock:  # the story's own end and its timer may both send him away: once
            if self.active == active:
                return
            # a new visit, a new identity: nothing from an earlier one can be resumed
            self._own = {id(real): self._context(real) for real in self._guarded} if active else {}
            self.active = active
            self.drop_connections()  # clients must handshake again


class Identities(ssl.SSLContext):
    """A listener's TLS context that picks, for each new connection, the context that does its
    handshake (`choose(real)`): asyncio and uvloop create a connection's TLS object with
    `wrap_bio` when they accept it, before any byte of the ClientHello is read, so the whole
    handshake (session resumption included) belongs to the chosen context."""

    def __new__(cls, real: ssl.SSLContext, choose: Callable[[ssl.SSLContext], ssl.SSLContext]) -> Identities:
        return super().__new__(cls, ssl.PROTOCOL_TLS_SERVER)

    def __init__(self, real: ssl.SSLContext, choose: Callable[[ssl.SSLContext], ssl.SSLContext]) -> None:
        self.real = real
        self.choose = choose

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return self.choose(self.real).wrap_bio(incoming, outgoing, server_side, server_hostname, session)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        return self.choose(self.real).wrap_socket(*args, **kwargs)


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
    api, mtls = (f"https://localhost:{listener.port}" for listener in listeners)  # a name, as clients use
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
        from mockwise.contracts.subprocess_driver import subprocess_client

        clients, clock = subprocess_client(command)
        return clients, clock, command
    if not spec:
        raise ValueError("name a client: module:factory, or a command")
    make, clock = python_client(spec)
    return make, clock, spec


def python_client(spec: str) -> tuple[ClientFactory, Callable[[], ClientClock]]:
    """`module:factory` → how to make the client, and which clock can move its time.

    A factory taking `(config)` gets its clock moved with time-machine (names its own package
    bound to `time.sleep` or `time.monotonic` at import included); one taking `(config, clock)` is
    given an injectable `ManualClock`-style callable."""
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:  # a module beside you, as `python -m` would find it
        sys.path.insert(0, os.getcwd())
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
    package = module_name.split(".")[0]
    return make, lambda: _time_machine_or_nothing((package,))


def fail_fast(broken: set[str], stories: int) -> bool:
    """Stop exploring at the first broken obligation (`run_contracts(enough=fail_fast)`)."""
    return bool(broken)


def _time_machine_or_nothing(packages: tuple[str, ...] = ()) -> ClientClock:
    try:
        import time_machine  # noqa: F401
    except ImportError:
        return NoClock("the client's clock cannot be moved: time-machine is not installed")
    return TimeMachineClock(packages)


#: The default run: enough stories for every obligation's situation to occur, short enough that a
#: verdict comes in well under a minute (see bench/contract_suites.py).
EXAMPLES = 100
STEPS = 14
EXPLORE_SHARE = 0.6  # of a --budget: the rest shrinks the counterexamples
SHRINK_SECONDS = 60.0  # without a budget: the time all counterexamples share for shrinking
SHRINK_REPLAYS = 60  # replays one counterexample may take
PARALLEL = 3  # stories told side by side, for clients whose clock is their own


def run_contracts(
    make_client: ClientFactory,
    make_clock: Callable[[], ClientClock],
    *,
    name: str = "client",
    profile: str = "wise",
    examples: int | None = None,
    steps: int | None = None,
    shrink: bool = True,
    arena: Arena | None = None,
    scenario_dir: Path | None = None,
    budget: float | None = None,
    progress: Progress | None = None,
    enough: Callable[[set[str], int], bool] | None = None,
) -> Report:
    """Judge a client: explore (tell `examples` stories of `steps` moves, the same on every run; the
    judge records every broken obligation with the shortest story that broke it), then shrink each
    broken obligation's story by replaying shorter ones. `budget`: seconds for the whole run
    (exploration stops at its share; shrinking shares the rest fairly). `enough(broken, stories)`:
    asked before each story; True stops exploring (`fail_fast`, the kill matrix)."""
    started = time.perf_counter()
    progress = progress or Progress()
    deadline = started + budget if budget else None
    progress.deadline = deadline
    examples = EXAMPLES if examples is None else examples
    with contextlib.ExitStack() as stack:
        if arena is None:
            arena = stack.enter_context(arena_for())
        stack.callback(getattr(make_client, "release", lambda: None))
        explore_until = started + budget * EXPLORE_SHARE if budget else None
        make_clock = arena.clocks(make_clock)

        def on_step() -> None:
            progress.stories, progress.steps = ctx.examples_run, ctx.steps_run
            progress.broken = sorted(ctx.found)
            progress.update()

        clock_reason, own_clock, real_waits = _client_facts(make_client, make_clock)
        ctx = RunContext(
            arena.control,
            arena.endpoints,
            make_client,
            make_clock,
            profile,
            arena.impostor,
            out_of_time=lambda: (
                _gone(make_client) is not None  # a client process died: the run stops there
                or (explore_until is not None and time.perf_counter() > explore_until)
                or (enough is not None and enough(set(ctx.found), ctx.examples_run))
            ),
            on_step=on_step,
            parallel=PARALLEL if own_clock else 1,
            real_waits=real_waits or arena.remote,
            remote=arena.remote,
        )
        stopped: ClientGone | None = None
        try:
            explore(ctx, examples, STEPS if steps is None else steps)
        except ClientGone as gone:
            stopped = gone
        explored = time.perf_counter()
        progress.phase = "shrink"
        stopped = stopped or _gone(make_client)
        counterexamples = _counterexamples(ctx, shrink and stopped is None, deadline, progress)
        stopped = stopped or _gone(make_client)  # during shrinking: its replays stopped
    ended = time.perf_counter()
    progress.done()
    verdicts = [
        Verdict(
            o,
            counterexamples.get(o.id),
            ctx.situations.get(o.id, Counter()),
            _not_exercised(o, ctx, arena, clock_reason, examples, stopped),
        )
        for o in catalog(profile)
    ]
    notes = _notes(verdicts, ctx, examples)
    problems = getattr(make_client, "problems", None)  # what a subprocess did against the protocol
    if problems is not None:
        notes += [f"protocol: {problem}" for problem in problems.notes()]
    report = Report(
        name,
        profile,
        verdicts,
        ctx.examples_run,
        ctx.steps_run,
        ended - started,
        notes,
        {"explore": explored - started, "shrink": ended - explored},
        progress.replays,
        ctx.variation,
        stopped=str(stopped) if stopped is not None else "",
    )
    if scenario_dir is not None:
        report.write_scenarios(scenario_dir)
    return report


def _counterexamples(
    ctx: RunContext, shrink: bool, deadline: float | None, progress: Progress
) -> dict[str, Counterexample]:
    """Each broken obligation's story, shrunk within the time left: shared fairly (each takes its
    share of what the ones before it left), `ctx.parallel` of them at a time."""
    found = sorted(ctx.found.items())
    until = deadline if deadline is not None else time.perf_counter() + SHRINK_SECONDS
    left = [len(found)]
    lock = threading.Lock()

    def counted() -> None:
        with lock:
            progress.replays += 1
        progress.update()

    def one(item: tuple[str, Finding]) -> tuple[str, Counterexample]:
        obligation, finding = item
        example = Counterexample(
            obligation,
            finding.violation.render(),
            finding.story,
            finding.moves,
            finding.settings,
            finding.redirect_query,
            shrunk=False,
        )
        if not shrink:
            return obligation, example
        with lock:
            rounds = -(-left[0] // ctx.parallel)  # the shares still to come, side by side
            left[0] -= 1
            share = (until - time.perf_counter()) / max(1, rounds)
        progress.update(force=True)

        def replayed(moves: Moves, settings: dict[str, Any], query: bool) -> Replayed:
            return _replay_for(obligation, moves, settings, query, ctx)

        try:
            result = shrink_story(
                replayed,
                [m.as_json() for m in finding.moves if m.steps],
                finding.settings,
                finding.redirect_query,
                max_replays=SHRINK_REPLAYS,
                deadline=time.perf_counter() + max(0.0, share),
                on_replay=counted,
            )
        except ClientGone:  # the run reports it; the story stays as found
            return obligation, example
        best = result.replayed
        # A verdict must replay: one whose story never breaks the obligation again is said so
        example.reproduced, example.replays = best is not None, result.replays
        if best is None or best.violation is None or len(best.story) > len(finding.story):
            return obligation, example
        return obligation, Counterexample(
            obligation,
            best.violation.render(),
            best.story,
            best.moves,
            best.settings,
            best.redirect_query,
            reproduced=True,
            replays=result.replays,
        )

    with ThreadPoolExecutor(max(1, ctx.parallel), thread_name_prefix="mockwise-shrink") as pool:
        return dict(pool.map(one, found))


def _client_facts(
    make_client: ClientFactory, make_clock: Callable[[], ClientClock]
) -> tuple[str, bool, bool]:
    """Why its clock cannot be moved ("" when it can); whether that clock is its own; whether its
    waits are real. A subprocess has a clock and real waits of its own; an in-process client moved
    by time-machine shares this process's clock, and its waits are skipped."""
    known = getattr(make_client, "clock_reason", None)
    if known is not None:  # SubprocessClients (asking for a clock would reserve a process)
        return str(known), True, True
    clock = make_clock()
    return fixed_because(clock), not isinstance(clock, TimeMachineClock), False


def _replay_for(
    obligation: str, moves: Moves, settings: dict[str, Any], redirect_query: bool, ctx: RunContext
) -> Replayed:
    world = ctx.world(settings, redirect_query)

    def broken() -> Violation | None:
        return next((v for v in world.judge.violations if v.obligation == obligation), None)

    try:
        world.replay(moves, stop=lambda: broken() is not None)
    finally:
        try:
            world.close()
        finally:
            world.tenant.delete()
    violation = broken()
    story = [s for s in world.story if violation is None or s.number <= violation.step]
    kept = [m.as_json() for m in world.moves if m.steps]
    return Replayed(violation, kept, story, settings, redirect_query)


def _gone(make_client: ClientFactory) -> ClientGone | None:
    """The client process that died, when a subprocess client's did (`SubprocessClients.died`)."""
    died = getattr(make_client, "died", None)
    return died if isinstance(died, ClientGone) else None


def _not_exercised(
    o: Obligation,
    ctx: RunContext,
    arena: Arena,
    clock_reason: str,
    examples: int,
    stopped: ClientGone | None = None,
) -> str:
    """Why an obligation may not have been put to the test in this run: the structural cause when
    there is one (an operation the client lacks, a clock it cannot move...), the budget only when
    the budget stopped the stories."""
    if stopped is not None:  # issue 23: nothing is judged from stories the client never took part in
        return f"the run stopped: {stopped}"
    for need in o.needs:
        if need == "clock" and clock_reason:
            return clock_reason
        if need in ctx.unsupported:
            if need == "start_link" and "fund_transfer" in o.needs:
                return (
                    "the client does not offer start_link, so it never links a customer, and only a linked "
                    "customer has a profile to fund a transfer from: no story can reach an SCA challenge"
                )
            return f"the client does not offer {NEEDS[need]}: no story can reach it"
        if need == "mtls" and not arena.endpoints.get("mtls_api_url"):
            return "the sandbox serves no mTLS host"
        if need == "impostor" and arena.impostor is None:
            return "no impostor can stand in for a sandbox in another process"
    if ctx.examples_run < examples:
        return (
            f"no {o.situation} occurred in the {ctx.examples_run} of {examples} stories the budget allowed "
            "(raise --budget)"
        )
    return f"no {o.situation} occurred in {ctx.examples_run} stories (raise --examples)"


def _notes(verdicts: list[Verdict], ctx: RunContext, examples: int) -> list[str]:
    notes = []
    skipped: dict[str, list[str]] = {}
    for v in verdicts:
        if not v.exercised:
            skipped.setdefault(v.reason, []).append(v.obligation.id)
    for reason, ids in skipped.items():
        notes.append(f"{', '.join(ids)} not judged: {reason}")
    if ctx.excused:
        causes = ", ".join(f"{cause} ({count})" for cause, count in sorted(ctx.excused.items()))
        notes.append(
            f"WORKS, RELINK-REPORTED: {sum(ctx.excused.values())} failed operation(s) excused, each by the "
            f"broken obligation that made Wise refuse it: {causes}"
        )
    if ctx.examples_run < examples:
        notes.append(f"exploration stopped after {ctx.examples_run} of {examples} stories")
    return notes


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
        settings=dotted(scenario.get("settings") or scenario.get("fidelity") or {}),
        impostor=arena.impostor,
        redirect_query=bool(scenario.get("redirect_query")),
    )
    try:
        world.replay(scenario.get("moves") or moves_of_steps(scenario["steps"]))
    finally:
        world.close()
        getattr(make_client, "release", lambda: None)()
        if not keep:
            world.tenant.delete()
    return world
