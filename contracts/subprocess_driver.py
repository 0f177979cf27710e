"""Judging a client written in any language: the suites drive it as a subprocess, in JSON lines.

The protocol, one JSON object per line:

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
    {"id": 7, "op": "close"}                                  {"id": 7, "ok": true}, then exit

    OUTCOME = {"status": "ok" | "relink_needed" | "error", "kind": "network" | ..., "data": {...}}

Several requests may be in flight at once (the suite plays several workers): answer each with its
`id`, in any order. Anything on stderr is kept for the report. The client's configuration arrives as
environment variables (`MOCKWISE_API_URL`, `MOCKWISE_MTLS_API_URL`, `MOCKWISE_AUTHORIZE_URL`,
`MOCKWISE_CLIENT_ID`, `MOCKWISE_CLIENT_SECRET`, `MOCKWISE_REDIRECT_URI`, `MOCKWISE_CA_CERT`,
`MOCKWISE_CLIENT_CERT`, `MOCKWISE_CLIENT_KEY`) and as the JSON file named by `MOCKWISE_CONFIG`.
When Debian's libfaketime is installed, the client's clock is moved with the sandbox's (it is
preloaded, reading its offset from a file the suite rewrites), so proactive renewal can be judged.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

from contracts.adapter import ClientConfig, NewUser, Outcome, WiseClient
from contracts.clocks import ClientClock, FaketimeClock, NoClock, find_libfaketime

OPERATION_TIMEOUT = 30.0  # seconds a client has to answer one request


class SubprocessClient:
    """A `WiseClient` that is really another process speaking the protocol above."""

    def __init__(
        self, command: str | list[str], config: ClientConfig, clock: ClientClock | None = None
    ) -> None:
        self.command = shlex.split(command) if isinstance(command, str) else command
        self._files = tempfile.TemporaryDirectory(prefix="mockwise-subprocess-")
        config_file = config.write(Path(self._files.name) / "config.json")
        env = {
            **os.environ,
            **config.environment(),
            "MOCKWISE_CONFIG": str(config_file),
            "PYTHONUNBUFFERED": "1",
        }
        if clock is not None:
            env.update(clock.environment())
        self.process = subprocess.Popen(  # noqa: S603 - the user's own client, by design
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            bufsize=1,
        )
        self.stderr: list[str] = []
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._next = 0
        self._lock = threading.Lock()
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.process.stderr,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                message = json.loads(line)
                future = self._pending.pop(int(message["id"]))
            except (ValueError, KeyError, TypeError):
                self.stderr.append(f"(stdout, not protocol) {line.rstrip()}")
                continue
            future.set_result(message)
        with self._lock:  # the process is gone: nothing more will be answered
            for future in self._pending.values():
                future.set_exception(ConnectionError("the client process exited"))
            self._pending.clear()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr.append(line.rstrip())
            del self.stderr[:-200]

    def _ask(self, op: str, **args: Any) -> dict[str, Any]:
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            self._next += 1
            ident = self._next
            if self.process.poll() is not None:
                raise ConnectionError(f"the client process exited ({self.process.returncode})")
            self._pending[ident] = future
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"id": ident, "op": op, **args}) + "\n")
            self.process.stdin.flush()
        return future.result(timeout=OPERATION_TIMEOUT)

    def _outcome(self, op: str, **args: Any) -> Outcome:
        try:
            return Outcome.from_json(self._ask(op, **args).get("outcome"))
        except (ConnectionError, TimeoutError, OSError) as exc:
            return Outcome("error", "client_process", {"error": str(exc), "stderr": self.stderr[-5:]})

    # WiseClient ----------------------------------------------------------------------------------

    def partner_call(self) -> Outcome:
        return self._outcome("partner_call")

    def create_user(self, user: NewUser) -> Outcome:
        return self._outcome(
            "create_user",
            user={"key": user.key, "email": user.email, "registration_code": user.registration_code},
        )

    def start_link(self, user_key: str, date_of_birth: str) -> str:
        return str(self._ask("start_link", user=user_key, date_of_birth=date_of_birth).get("url", ""))

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        return self._outcome("finish_link", user=user_key, callback_url=callback_url)

    def user_call(self, user_key: str) -> Outcome:
        return self._outcome("user_call", user=user_key)

    def fund_transfer(self, user_key: str) -> Outcome:
        outcome = self._outcome("fund_transfer", user=user_key)
        return Outcome.error("unsupported") if outcome.kind == "unknown_op" else outcome

    def update_client_secret(self, client_secret: str) -> None:
        self._ask("update_client_secret", client_secret=client_secret)

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self._ask("close")
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
                    stream.close()
            self._files.cleanup()


def subprocess_client(
    command: str,
) -> tuple[Callable[[ClientConfig, ClientClock], WiseClient], Callable[[], ClientClock]]:
    """How the suites make a subprocess client, and the clock that moves its time."""
    clock_dir = Path(tempfile.mkdtemp(prefix="mockwise-clock-"))

    def make_clock() -> ClientClock:
        return FaketimeClock(clock_dir) if find_libfaketime() is not None else NoClock()

    def make(config: ClientConfig, clock: ClientClock) -> WiseClient:
        return SubprocessClient(command, config, clock)

    return make, make_clock


# The other side: serve any Python WiseClient over the protocol ---------------------------------


def serve(client: WiseClient, stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout) -> None:
    """Answer the protocol on stdin/stdout with `client` (one thread per request)."""
    lock = threading.Lock()

    def answer(message: dict[str, Any]) -> None:
        ident, op = message.get("id"), message.get("op")
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
        except Exception as exc:
            reply = {"outcome": Outcome("error", "exception", {"exception": repr(exc)}).as_json()}
        with lock:
            stdout.write(json.dumps({"id": ident, **reply}) + "\n")
            stdout.flush()

    workers: list[threading.Thread] = []
    for line in stdin:
        message = json.loads(line)
        if message.get("op") == "close":
            for worker in workers:
                worker.join()
            client.close()
            with lock:
                stdout.write(json.dumps({"id": message.get("id"), "ok": True}) + "\n")
                stdout.flush()
            return
        worker = threading.Thread(target=answer, args=(message,), daemon=True)
        worker.start()
        workers.append(worker)


def main(argv: list[str] | None = None) -> int:
    """`python -m contracts.subprocess_driver module:factory`: serve a Python client over the
    protocol (handy to judge a client that lives in another virtualenv)."""
    import importlib

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or ":" not in args[0]:
        print("usage: python -m contracts.subprocess_driver module:factory", file=sys.stderr)
        return 2
    module_name, attr = args[0].split(":", 1)
    factory = getattr(importlib.import_module(module_name), attr)
    serve(factory(ClientConfig.from_environment()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
