"""Judging a client written in any language: the suites drive it as a subprocess, in JSON lines.

The protocol, one JSON object per line (docs/contracts.md states it in words, and
`contracts/protocol.schema.json` as a JSON Schema that this driver checks every request it sends
and every answer it reads against):

    suite → client (stdin)                                    client → suite (stdout)
    {"id": 1, "op": "partner_call"}                           {"id": 1, "outcome": OUTCOME}
    {"id": 2, "op": "create_user",
     "user": {"key": "c1", "email": "...", "registration_code": "..."}}
                                                              {"id": 2, "outcome": OUTCOME}
    {"id": 3, "op": "start_link", "user": "l2", "date_of_birth": "1985-04-12"}
                                                              {"id": 3, "url": "https://.../oauth/authorize/?..."}
    {"id": 4, "op": "finish_link", "user": "l2", "callback_url": "http://localhost:8080/wise/callback?code=..."}
                                                              {"id": 4, "outcome": OUTCOME}
    {"id": 5, "op": "user_call", "user": "c1"}                {"id": 5, "outcome": OUTCOME}
    {"id": 8, "op": "fund_transfer", "user": "l2"}            {"id": 8, "outcome": OUTCOME}
    {"id": 6, "op": "update_client_secret", "client_secret": "..."}
                                                              {"id": 6, "ok": true}
    {"id": 9, "op": "reset", "config": {CONFIG}}              {"id": 9, "ok": true}
    {"id": 7, "op": "close"}                                  {"id": 7, "ok": true}, then exit

    OUTCOME = {"status": "ok" | "relink_needed" | "error", "kind": "network" | ..., "data": ...}

Several requests may be in flight at once (the suite plays several workers): answer each with its
`id`, in any order, within `OPERATION_TIMEOUT` seconds. What goes wrong is reported, never
swallowed: a missing answer is the operation's `client_process` error, an answer the schema
refuses its `invalid_outcome` error, and both, with stray stdout lines and late answers, are listed
in the report's notes (`SubprocessClients.problems`). A process that exits stops the run at once
(`ClientGone`), with its exit status and the end of its stderr.

The client's configuration arrives as environment variables (`MOCKWISE_API_URL`...), as the JSON
file named by `MOCKWISE_CONFIG`, and with every `reset`; the driver adds PKCS#12 stores of the
client certificate and the sandbox CA for JVM and .NET clients (`with_stores`). When Debian's
libfaketime is installed the client's wall clock is moved with the sandbox's (`clocks.py`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, replace
from pathlib import Path
from typing import IO, Any, SupportsIndex

from mockwise._pki import STORE_PASSWORD, KeyPair, trust_store, write_private_bytes
from mockwise.contracts.adapter import ClientConfig, NewUser, Outcome, WiseClient
from mockwise.contracts.clocks import FAKETIME_MISSING, ClientClock, FaketimeClock, NoClock, find_libfaketime
from mockwise.contracts.protocol import answer_problem, request_problem

OPERATION_TIMEOUT = 30.0  # seconds a client has to answer one request
RESET_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0
EXIT_WAIT = 2.0  # seconds to wait for the exit status of a process that closed its stdout
STDERR_KEPT = 200  # lines of a process's stderr kept for the report
TAIL = 5  # of them shown with a diagnosis
PYTHON = re.compile(r"python[0-9.]*$")


class ClientGone(BaseException):  # not Exception: no client-facing `except Exception` may hide it
    """The client process ended (or closed its stdout): the run stops at once, and nothing is
    judged from what it never took part in."""

    def __init__(self, command: str, status: int | None, stderr: list[str], answered: int) -> None:
        self.command, self.status, self.stderr, self.answered = command, status, stderr, answered
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.status is None:
            how = "closed its stdout"
        elif self.status < 0:
            how = f"was killed by signal {-self.status}"
        else:
            how = f"exited with status {self.status}"
        when = "before answering any request" if not self.answered else f"after {self.answered} answers"
        said = " | ".join(line[:200] for line in self.stderr[-TAIL:])
        tail = f"; its stderr ends: {said}" if said else "; it wrote nothing on stderr"
        return f"the client process ({self.command}) {how} {when}{tail}"


class NoAnswer(Exception):
    """A request was not answered within its time."""


class BadAnswer(Exception):
    """An answer the protocol's schema refuses."""

    def __init__(self, message: str, answer: Any) -> None:
        super().__init__(message)
        self.answer = answer


class Problems:
    """What a client did against the protocol, once each kind, with how often: the report's notes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[str, int]] = {}

    def add(self, kind: str, message: str) -> None:
        with self._lock:
            first, count = self._seen.get(kind, (message, 0))
            self._seen[kind] = (first, count + 1)

    def notes(self) -> list[str]:
        with self._lock:
            return [f"{m}" + (f" ({n} times)" if n > 1 else "") for m, n in self._seen.values()]


def with_stores(config: ClientConfig, directory: Path) -> ClientConfig:
    """`config` with PKCS#12 stores beside its PEM files (what a JVM or .NET client loads as they
    come): the client certificate, its chain and key as a key store, the sandbox CA as a trust
    store, both with `STORE_PASSWORD`."""
    if config.client_keystore or config.trust_store:
        return config  # made already
    directory.mkdir(parents=True, exist_ok=True)
    ca = Path(config.ca_cert).read_text(encoding="ascii") if config.ca_cert else None
    trusted = keystore = ""
    if ca is not None:
        trusted = str(directory / "truststore.p12")
        write_private_bytes(Path(trusted), trust_store([ca], STORE_PASSWORD))
    if config.client_cert and config.client_key:
        pair = KeyPair(
            Path(config.client_cert).read_text(encoding="ascii"),
            Path(config.client_key).read_text(encoding="ascii"),
        )
        keystore = str(directory / "client.p12")
        stored = pair.pkcs12(STORE_PASSWORD, alias=config.client_id, chain=[ca] if ca else [])
        write_private_bytes(Path(keystore), stored)
    if not (trusted or keystore):
        return config
    return replace(config, client_keystore=keystore, trust_store=trusted, store_password=STORE_PASSWORD)


class ClientProcess:
    """One running client process speaking the protocol, and the clock that moves its time."""

    def __init__(
        self,
        argv: list[str],
        config: ClientConfig,
        clock: ClientClock,
        command: str = "",
        problems: Problems | None = None,
    ) -> None:
        self.clock = clock
        self.command = command or shlex.join(argv)
        self.problems = problems or Problems()
        self._files = tempfile.TemporaryDirectory(prefix="mockwise-subprocess-")
        self.config_file = Path(self._files.name) / "config.json"
        env = {**os.environ, **self._config_env(config), "PYTHONUNBUFFERED": "1"}
        env.update(clock.environment())
        self.process = subprocess.Popen(  # noqa: S603 - the user's own client, by design
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            bufsize=1,
        )
        self.stderr: list[str] = []
        self.resettable: bool | None = None  # unknown until the first reset
        self.answered = 0
        self._pending: dict[int, tuple[str, Future[dict[str, Any]]]] = {}
        self._next = 0
        self._lock = threading.Lock()
        self._closed = False  # its stdout ended
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        self._drainer = threading.Thread(target=self._drain, args=(self.process.stderr,), daemon=True)
        self._drainer.start()

    def _configured(self, config: ClientConfig) -> ClientConfig:
        config = with_stores(config, Path(self._files.name))
        config.write(self.config_file)  # also for a client that reads its configuration again
        return config

    def _config_env(self, config: ClientConfig) -> dict[str, str]:
        return {**self._configured(config).environment(), "MOCKWISE_CONFIG": str(self.config_file)}

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and not self._closed

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                message = json.loads(line)
                ident = message["id"]
                if not isinstance(ident, int):
                    raise TypeError(ident)
            except (ValueError, KeyError, TypeError):
                self.stderr.append(f"(stdout, not protocol) {line.rstrip()}")
                self.problems.add(
                    "stdout",
                    "the client wrote lines on stdout that are not protocol messages (they were ignored; "
                    f"logs belong on stderr): {line.strip()[:120]!r}",
                )
                continue
            with self._lock:
                waiting = self._pending.pop(ident, None)
            if waiting is None:
                self.problems.add(
                    "late",
                    f"the client answered request {ident}, which was not waiting for an answer (it came "
                    f"after its {OPERATION_TIMEOUT:.0f} s, or twice, or was never asked)",
                )
                continue
            self.answered += 1
            waiting[1].set_result(message)
        with self._lock:  # the process is gone: nothing more will be answered
            self._closed = True
            pending = list(self._pending.values())
            self._pending.clear()
        if pending:
            gone = self.gone()
            for _, future in pending:
                future.set_exception(gone)

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr.append(line.rstrip())
            del self.stderr[:-STDERR_KEPT]

    def gone(self) -> ClientGone:
        """What to say of this process, now that it has ended (or closed its stdout)."""
        try:
            status: int | None = self.process.wait(timeout=EXIT_WAIT)
        except subprocess.TimeoutExpired:
            status = None
        else:
            self._drainer.join(EXIT_WAIT)  # its last words, still in the pipe when it exited
        return ClientGone(self.command, status, list(self.stderr), self.answered)

    def ask(self, op: str, timeout: float | None = None, **args: Any) -> dict[str, Any]:
        """Send a request and wait for its answer (`OPERATION_TIMEOUT` seconds unless told),
        checked against the protocol's schema. Raises `ClientGone` (the process ended), `NoAnswer`
        or `BadAnswer`."""
        timeout = OPERATION_TIMEOUT if timeout is None else timeout
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if not self.alive:
                gone = True
            else:
                gone = False
                self._next += 1
                ident = self._next
                message = {"id": ident, "op": op, **args}
                problem = request_problem(message)
                if problem is not None:  # the suite's own mistake: the docs and the driver disagree
                    raise RuntimeError(f"the suite sent a request its own schema refuses: {problem}")
                self._pending[ident] = (op, future)
                assert self.process.stdin is not None
                try:
                    self.process.stdin.write(json.dumps(message) + "\n")
                    self.process.stdin.flush()
                except OSError:
                    self._pending.pop(ident, None)
                    gone = True
        if gone:
            raise self.gone()
        try:
            answer = future.result(timeout=timeout)
        except TimeoutError:
            with self._lock:
                self._pending.pop(ident, None)
            if not self.alive:
                raise self.gone() from None
            raise NoAnswer(f"no answer to request {ident} ({op}) within {timeout:g} s") from None
        problem = answer_problem(op, answer)
        if problem is not None:
            raise BadAnswer(f"the answer to request {ident} ({op}) breaks the protocol: {problem}", answer)
        return answer

    def reset(self, config: ClientConfig) -> bool:
        """Start a new story in this process; False when the client does not offer `reset` (or
        did not answer it in time: it is then started again for each story, and the report says
        why). A process that ends on `reset` raises `ClientGone`."""
        if self.resettable is False or not self.alive:
            return False
        config = self._configured(config)
        try:
            answer = self.ask("reset", timeout=RESET_TIMEOUT, config=asdict(config))
        except (NoAnswer, BadAnswer) as exc:
            self.problems.add(
                "reset",
                f"{exc}: the client is started again for every story, which is much slower (answer "
                '{"id": N, "ok": true}, or an outcome of kind "unsupported")',
            )
            self.resettable = False
            return False
        self.resettable = answer.get("ok") is True
        return self.resettable

    def stop(self, keep_clock: bool = False) -> None:
        """Stop the process; its clock's directory goes too, unless another process takes the
        clock over (`keep_clock`)."""
        closed = False
        try:
            if self.alive:
                self.ask("close", timeout=CLOSE_TIMEOUT)
                closed = True
        except (Exception, ClientGone):  # noqa: S110 - a client that cannot close cleanly is stopped below
            pass
        finally:
            try:
                self.process.wait(timeout=CLOSE_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                if closed:  # each such process costs the run its wait
                    self.problems.add(
                        "exit",
                        f"the client answered close but had not exited {CLOSE_TIMEOUT:g} s later, and was "
                        "killed (exit once the answer is out: an open stdin keeps some runtimes alive)",
                    )
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            self._files.cleanup()
            if isinstance(self.clock, FaketimeClock) and not keep_clock:  # made for it by make_clock
                shutil.rmtree(self.clock.file.parent, ignore_errors=True)


class SubprocessClient:
    """A `WiseClient` that is really another process speaking the protocol above (one story's
    use of it: `close` hands the process back to its pool for the next story)."""

    def __init__(
        self,
        process: ClientProcess,
        release: Callable[[ClientProcess], None],
        gone: Callable[[ClientGone], None] = lambda gone: None,
    ) -> None:
        self.process = process
        self._release = release
        self._gone = gone

    @property
    def stderr(self) -> list[str]:
        return self.process.stderr

    def _ask(self, op: str, **args: Any) -> dict[str, Any]:
        try:
            return self.process.ask(op, **args)
        except ClientGone as gone:
            self._gone(gone)
            raise

    def _outcome(self, op: str, **args: Any) -> Outcome:
        try:
            answer = Outcome.from_json(self._ask(op, **args)["outcome"])
        except NoAnswer as exc:
            self.process.problems.add("no answer", f"{exc} (each request must be answered within its time)")
            return Outcome("error", "client_process", {"error": str(exc), "stderr": self.stderr[-TAIL:]})
        except BadAnswer as exc:
            self.process.problems.add(f"bad {op}", str(exc))
            return Outcome("error", "invalid_outcome", {"received": exc.answer, "problem": str(exc)})
        return Outcome.error("unsupported") if answer.kind == "unknown_op" else answer

    # WiseClient ----------------------------------------------------------------------------------

    def partner_call(self) -> Outcome:
        return self._outcome("partner_call")

    def create_user(self, user: NewUser) -> Outcome:
        return self._outcome(
            "create_user",
            user={"key": user.key, "email": user.email, "registration_code": user.registration_code},
        )

    def start_link(self, user_key: str, date_of_birth: str) -> str:
        try:
            answer = self._ask("start_link", user=user_key, date_of_birth=date_of_birth)
        except (NoAnswer, BadAnswer) as exc:
            self.process.problems.add("bad start_link", str(exc))
            raise
        if "url" in answer:
            return str(answer["url"])
        outcome = Outcome.from_json(answer["outcome"])
        if outcome.kind in ("unsupported", "unknown_op"):
            raise NotImplementedError("start_link")
        raise RuntimeError(f"start_link answered {outcome} instead of a URL")

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        return self._outcome("finish_link", user=user_key, callback_url=callback_url)

    def user_call(self, user_key: str) -> Outcome:
        return self._outcome("user_call", user=user_key)

    def fund_transfer(self, user_key: str) -> Outcome:
        return self._outcome("fund_transfer", user=user_key)

    def update_client_secret(self, client_secret: str) -> None:
        # Its answer is `{"id", "ok": true}`; a missing or wrong one is reported (the client may go
        # on with the old secret: its next operations show it), a process that died stops the run.
        try:
            self._ask("update_client_secret", client_secret=client_secret)
        except (NoAnswer, BadAnswer) as exc:
            answer = '{"id": N, "ok": true}'
            self.process.problems.add("update_client_secret", f"{exc} (the answer is {answer})")

    def close(self) -> None:
        self._release(self.process)


class SubprocessClients:
    """How the suites make subprocess clients: one long-lived process per worker, `reset` between
    stories (or started again for clients without `reset`), its clock moved by libfaketime.

    Use as the pair `make_client`, `make_clock` of `run_contracts`: `make_clock()` reserves a
    process's clock for the next story, `make_client(config, clock)` resets that process (or starts
    one). `release()` stops the idle processes. `died` is the first `ClientGone` (the run stops
    there); `problems` lists what the client did against the protocol."""

    def __init__(self, command: str | list[str]) -> None:
        self.command = command if isinstance(command, str) else shlex.join(command)
        self.argv = resolve_interpreter(shlex.split(command) if isinstance(command, str) else command)
        self.library = find_libfaketime()
        self._idle: list[ClientProcess] = []
        self._reserved: dict[int, ClientProcess] = {}  # id(clock) -> process
        self._busy: set[ClientProcess] = set()
        self._lock = threading.Lock()
        self.spawned = 0
        self.died: ClientGone | None = None
        self.problems = Problems()

    @property
    def clock_reason(self) -> str:
        return "" if self.library is not None else FAKETIME_MISSING

    def make_clock(self) -> ClientClock:
        with self._lock:
            while self._idle:
                process = self._idle.pop()
                if process.alive:
                    self._reserved[id(process.clock)] = process
                    return process.clock
                process.stop()
        if self.library is None:
            return NoClock(FAKETIME_MISSING)
        return FaketimeClock(Path(tempfile.mkdtemp(prefix="mockwise-clock-")), self.library)

    def __call__(self, config: ClientConfig, clock: ClientClock) -> WiseClient:
        with self._lock:
            process = self._reserved.pop(id(clock), None)
        try:
            if process is not None and not process.reset(config):
                process.stop(keep_clock=True)  # the story's clock: the new process takes it over
                process = None
        except ClientGone as gone:
            assert process is not None
            process.stop(keep_clock=True)
            self.gone(gone)
            raise
        if process is None:
            process = ClientProcess(self.argv, config, clock, self.command, self.problems)
            self.spawned += 1
        with self._lock:
            self._busy.add(process)
        return SubprocessClient(process, self._give_back, self.gone)

    def gone(self, gone: ClientGone) -> None:
        with self._lock:
            if self.died is None:
                self.died = gone

    def _give_back(self, process: ClientProcess) -> None:
        with self._lock:
            # Once: a process handed back twice would sit twice in the idle list, and two stories
            # told side by side would share it, each moving (and setting back) the other's clock.
            if process not in self._busy:
                return
            self._busy.discard(process)
            keep = process.alive and process.resettable is not False
            if keep:
                self._idle.append(process)
        if not keep:
            process.stop()

    def release(self) -> None:
        """Stop every idle process (busy ones are stopped when their story gives them back)."""
        with self._lock:
            idle, self._idle = self._idle, []
            idle += self._reserved.values()
            self._reserved.clear()
        stopping = [threading.Thread(target=process.stop, daemon=True) for process in idle]
        for thread in stopping:  # side by side: one that is slow to exit does not hold the others
            thread.start()
        for thread in stopping:
            thread.join()


def resolve_interpreter(argv: list[str]) -> list[str]:
    """`python3 client.py` → the interpreter's real path, asked once: a version manager's shim
    (pyenv, asdf) costs a shell and a lookup on every start."""
    if not argv or not PYTHON.match(Path(argv[0]).name):
        return argv
    found = shutil.which(argv[0])
    if found is None:
        return argv
    try:
        real = subprocess.run(  # noqa: S603 - the user's own interpreter
            [found, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return argv
    return [real or found, *argv[1:]]


def subprocess_client(command: str) -> tuple[SubprocessClients, Callable[[], ClientClock]]:
    """How the suites make a subprocess client, and the clock that moves its time."""
    clients = SubprocessClients(command)
    return clients, clients.make_clock


# The other side: serve any Python WiseClient over the protocol ---------------------------------


def serve(
    client: WiseClient,
    stdin: IO[str] = sys.stdin,
    stdout: IO[str] = sys.stdout,
    reset: Callable[[ClientConfig], WiseClient] | None = None,
) -> None:
    """Answer the protocol on stdin/stdout with `client` (one thread per request); `reset`
    makes the client for a new story's configuration."""
    lock = threading.Lock()
    current = [client]

    def answer(message: dict[str, Any]) -> None:
        ident, op = message.get("id"), message.get("op")
        client = current[0]
        try:
            reply: dict[str, Any]
            if op == "partner_call":
                reply = {"outcome": client.partner_call().as_json()}
            elif op == "create_user":
                user = message["user"]
                reply = {
                    "outcome": client.create_user(
                        NewUser(user["key"], user["email"], user["registration_code"])
                    ).as_json()
                }
            elif op == "start_link":
                reply = {"url": client.start_link(message["user"], message["date_of_birth"])}
            elif op == "finish_link":
                reply = {"outcome": client.finish_link(message["user"], message["callback_url"]).as_json()}
            elif op == "user_call":
                reply = {"outcome": client.user_call(message["user"]).as_json()}
            elif op == "fund_transfer":
                funded = getattr(client, "fund_transfer", None)
                result = funded(message["user"]) if funded is not None else Outcome.error("unsupported")
                reply = {"outcome": result.as_json()}
            elif op == "update_client_secret":
                client.update_client_secret(message["client_secret"])
                reply = {"ok": True}
            else:
                reply = {"outcome": Outcome.error("unknown_op").as_json()}
        except NotImplementedError:
            reply = {"outcome": Outcome.error("unsupported").as_json()}
        except Exception as exc:
            reply = {"outcome": Outcome("error", "exception", {"exception": repr(exc)}).as_json()}
        with lock:
            stdout.write(json.dumps({"id": ident, **reply}) + "\n")
            stdout.flush()

    workers: list[threading.Thread] = []
    for line in stdin:
        message = json.loads(line)
        op = message.get("op")
        if op in ("close", "reset"):
            for worker in workers:  # the story's operations have all been answered
                worker.join()
            workers.clear()
            if op == "reset" and reset is None:
                reply: dict[str, Any] = {"outcome": Outcome.error("unknown_op").as_json()}
            else:
                current[0].close()
                reply = {"ok": True}
                if op == "reset" and reset is not None:
                    current[0] = reset(ClientConfig(**message["config"]))
            with lock:
                stdout.write(json.dumps({"id": message.get("id"), **reply}) + "\n")
                stdout.flush()
            if op == "close":
                return
            continue
        worker = threading.Thread(target=answer, args=(message,), daemon=True)
        worker.start()
        workers.append(worker)


def safe_sleep_under_faketime() -> bool:
    """Python 3.11+ sleeps until an absolute monotonic deadline (`clock_nanosleep`), which Debian's
    libfaketime 0.9.10 gets wrong (EINVAL; see `FaketimeClock`): under it, `time.sleep` becomes a
    wait on an event, which sleeps as long on the real monotonic clock. True when replaced."""
    if "faketime" not in os.environ.get("LD_PRELOAD", ""):
        return False
    try:
        time.sleep(0.001)
    except OSError:
        pass
    else:
        return False  # a libfaketime that sleeps correctly

    def sleep(seconds: float | SupportsIndex) -> None:
        wait = float(seconds)
        if wait < 0:
            raise ValueError("sleep length must be non-negative")
        threading.Event().wait(wait)

    time.sleep = sleep
    return True


def main(argv: list[str] | None = None) -> int:
    """`python -m mockwise.contracts.subprocess_driver module:factory`: serve a Python client over the
    protocol (handy to judge a client that lives in another virtualenv)."""
    import importlib

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or ":" not in args[0]:
        print("usage: python -m mockwise.contracts.subprocess_driver module:factory", file=sys.stderr)
        return 2
    safe_sleep_under_faketime()
    module_name, attr = args[0].split(":", 1)
    factory = getattr(importlib.import_module(module_name), attr)
    serve(factory(ClientConfig.from_environment()), reset=factory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
