"""Judging a client written in any language: the suites drive it as a subprocess, in JSON lines.

The protocol, one JSON object per line (docs/contracts.md has the whole contract):

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
    {"id": 8, "op": "fund_transfer", "user": "l2"}            {"id": 8, "outcome": OUTCOME}  (optional:
                                                              answer kind "unsupported" to skip SCA)
    {"id": 6, "op": "update_client_secret", "client_secret": "..."}
                                                              {"id": 6, "ok": true}
    {"id": 9, "op": "reset", "config": {CONFIG}}              {"id": 9, "ok": true}  (optional)
    {"id": 7, "op": "close"}                                  {"id": 7, "ok": true}, then exit

    OUTCOME = {"status": "ok" | "relink_needed" | "error", "kind": "network" | ..., "data": {...}}

Several requests may be in flight at once (the suite plays several workers): answer each with its
`id`, in any order. Anything on stderr is kept for the report. An operation the client does not
offer is answered `{"status": "error", "kind": "unsupported"}` (or with any answer whose kind is
"unknown_op"): the obligations that need it are reported as not exercised.

`reset` starts a new story in the same process: forget every token, customer and pending link,
and use the new configuration (a new tenant: new credentials and certificate files). A client that
does not offer it is stopped and started again for every story, which is much slower.

The client's configuration arrives as environment variables (`MOCKWISE_API_URL`,
`MOCKWISE_MTLS_API_URL`, `MOCKWISE_AUTHORIZE_URL`, `MOCKWISE_CLIENT_ID`, `MOCKWISE_CLIENT_SECRET`,
`MOCKWISE_REDIRECT_URI`, `MOCKWISE_CA_CERT`, `MOCKWISE_CLIENT_CERT`, `MOCKWISE_CLIENT_KEY`), as the
JSON file named by `MOCKWISE_CONFIG`, and with every `reset`. When Debian's libfaketime is
installed the client's clock is moved with the sandbox's (it is preloaded, reading its offset from
a file the suite rewrites), so proactive renewal can be judged; without it those obligations are
reported as not exercised.
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
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from mockwise.contracts.adapter import ClientConfig, NewUser, Outcome, WiseClient
from mockwise.contracts.clocks import FAKETIME_MISSING, ClientClock, FaketimeClock, NoClock, find_libfaketime

OPERATION_TIMEOUT = 30.0  # seconds a client has to answer one request
RESET_TIMEOUT = 10.0
PYTHON = re.compile(r"python[0-9.]*$")


class ClientProcess:
    """One running client process speaking the protocol, and the clock that moves its time."""

    def __init__(self, argv: list[str], config: ClientConfig, clock: ClientClock) -> None:
        self.clock = clock
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
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._next = 0
        self._lock = threading.Lock()
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.process.stderr,), daemon=True).start()

    def _config_env(self, config: ClientConfig) -> dict[str, str]:
        config.write(self.config_file)
        return {**config.environment(), "MOCKWISE_CONFIG": str(self.config_file)}

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                message = json.loads(line)
                with self._lock:
                    future = self._pending.pop(int(message["id"]))
            except (ValueError, KeyError, TypeError):
                self.stderr.append(f"(stdout, not protocol) {line.rstrip()}")
                continue
            future.set_result(message)
        with self._lock:  # the process is gone: nothing more will be answered
            for future in self._pending.values():
                future.set_exception(ConnectionError(self._exited()))
            self._pending.clear()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr.append(line.rstrip())
            del self.stderr[:-200]

    def _exited(self) -> str:
        code = self.process.poll()
        tail = " | ".join(self.stderr[-3:])
        return f"the client process exited ({code})" + (f": {tail}" if tail else "")

    def ask(self, op: str, timeout: float = OPERATION_TIMEOUT, **args: Any) -> dict[str, Any]:
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if self.process.poll() is not None:
                raise ConnectionError(self._exited())
            self._next += 1
            ident = self._next
            self._pending[ident] = future
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(json.dumps({"id": ident, "op": op, **args}) + "\n")
                self.process.stdin.flush()
            except OSError:
                self._pending.pop(ident, None)
                raise ConnectionError(self._exited()) from None
        return future.result(timeout=timeout)

    def reset(self, config: ClientConfig) -> bool:
        """Start a new story in this process; False when the client does not offer `reset`."""
        if self.resettable is False or not self.alive:
            return False
        config.write(self.config_file)  # for a client that reads its configuration again
        try:
            answer = self.ask("reset", timeout=RESET_TIMEOUT, config=asdict(config))
        except (ConnectionError, TimeoutError, OSError):
            self.resettable = False
            return False
        self.resettable = answer.get("ok") is True
        return self.resettable

    def stop(self, keep_clock: bool = False) -> None:
        """Stop the process; its clock's directory goes too, unless another process takes the
        clock over (`keep_clock`)."""
        try:
            if self.alive:
                self.ask("close", timeout=5)
        except Exception:  # noqa: S110 - a client that cannot close cleanly is stopped below
            pass
        finally:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
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

    def __init__(self, process: ClientProcess, release: Callable[[ClientProcess], None]) -> None:
        self.process = process
        self._release = release

    @property
    def stderr(self) -> list[str]:
        return self.process.stderr

    def _outcome(self, op: str, **args: Any) -> Outcome:
        try:
            answer = Outcome.from_json(self.process.ask(op, **args).get("outcome"))
        except (ConnectionError, TimeoutError, OSError) as exc:
            return Outcome("error", "client_process", {"error": str(exc), "stderr": self.stderr[-5:]})
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
        answer = self.process.ask("start_link", user=user_key, date_of_birth=date_of_birth)
        if "url" not in answer:
            outcome = Outcome.from_json(answer.get("outcome"))
            if outcome.kind in ("unsupported", "unknown_op"):
                raise NotImplementedError("start_link")
        return str(answer.get("url", ""))

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        return self._outcome("finish_link", user=user_key, callback_url=callback_url)

    def user_call(self, user_key: str) -> Outcome:
        return self._outcome("user_call", user=user_key)

    def fund_transfer(self, user_key: str) -> Outcome:
        return self._outcome("fund_transfer", user=user_key)

    def update_client_secret(self, client_secret: str) -> None:
        # A client that died is reported by its next operation, not by a crash of the suite.
        with contextlib.suppress(ConnectionError, TimeoutError, OSError):
            self.process.ask("update_client_secret", client_secret=client_secret)

    def close(self) -> None:
        self._release(self.process)


class SubprocessClients:
    """How the suites make subprocess clients: one long-lived process per worker, `reset` between
    stories (or started again for clients without `reset`), its clock moved by libfaketime.

    Use as the pair `make_client`, `make_clock` of `run_contracts`: `make_clock()` reserves a
    process's clock for the next story, `make_client(config, clock)` resets that process (or starts
    one). `release()` stops the idle processes."""

    def __init__(self, command: str | list[str]) -> None:
        self.command = command if isinstance(command, str) else shlex.join(command)
        self.argv = resolve_interpreter(shlex.split(command) if isinstance(command, str) else command)
        self.library = find_libfaketime()
        self._idle: list[ClientProcess] = []
        self._reserved: dict[int, ClientProcess] = {}  # id(clock) -> process
        self._busy: set[ClientProcess] = set()
        self._lock = threading.Lock()
        self.spawned = 0

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
        if process is not None and not process.reset(config):
            process.stop(keep_clock=True)  # the story's clock: the new process takes it over
            process = None
        if process is None:
            process = ClientProcess(self.argv, config, clock)
            self.spawned += 1
        with self._lock:
            self._busy.add(process)
        return SubprocessClient(process, self._give_back)

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
        for process in idle:
            process.stop()


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


def main(argv: list[str] | None = None) -> int:
    """`python -m mockwise.contracts.subprocess_driver module:factory`: serve a Python client over the
    protocol (handy to judge a client that lives in another virtualenv)."""
    import importlib

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or ":" not in args[0]:
        print("usage: python -m mockwise.contracts.subprocess_driver module:factory", file=sys.stderr)
        return 2
    module_name, attr = args[0].split(":", 1)
    factory = getattr(importlib.import_module(module_name), attr)
    serve(factory(ClientConfig.from_environment()), reset=factory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
