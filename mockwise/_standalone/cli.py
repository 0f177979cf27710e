"""The `mockwise` command line.

Every `serve` option can also come from the environment, `MOCKWISE_` and the option's name
(`MOCKWISE_PORT=0`, `MOCKWISE_STATE_DIR=/state`; lists comma-separated, `MOCKWISE_SET` as a shell
would split it); the command line wins. A mistake in what was given is one line on stderr, naming
the input and the fix, and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shlex
import shutil
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from mockwise import __version__

ENV_PREFIX = "MOCKWISE_"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class UsageError(Exception):
    """Something the user gave cannot work; the message names it and says what to do instead."""

    def __init__(self, message: str, command: str = "") -> None:
        super().__init__(message)
        self.prog = f"mockwise {command}" if command else "mockwise"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one line, not argparse's usage block: what was wrong, and where to read more
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except UsageError as exc:
        print(f"{exc.prog}: {exc}", file=sys.stderr)
        return 2


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for problem in getattr(args, "environment_problems", ()):
        raise UsageError(problem, args.command)
    if args.command == "certs":
        from mockwise._standalone import certs as certcli

        return certcli.run(args)
    if args.command in ("contract", "replay"):
        try:
            if args.command == "replay" and not Path(args.file).is_file():
                raise UsageError(
                    f"{args.file}: no such scenario file; `mockwise contract --scenarios DIR` writes them"
                )
            _check_client(args)
            if args.sandbox is not None:
                _check_sandbox(args.sandbox, "--sandbox")
        except UsageError as exc:
            raise UsageError(str(exc), args.command) from None
        from mockwise.contracts import cli as contract_cli

        if args.command == "contract":
            return contract_cli.contract(args)
        return contract_cli.replay_scenario(args)
    if args.command == "health":
        return _health(args.state_dir)
    if args.command == "reset":
        return _reset(args.state_dir)
    return _serve(args)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mockwise", description="A sandbox fake of the Wise Platform API.")
    parser.add_argument("--version", action="version", version=f"mockwise {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the standalone sandbox server",
        description="Run the standalone sandbox. Every option can also be set in the environment, "
        "as shown in brackets; the command line wins.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=_port,
        default=None,
        help="API (TLS) port; 0 picks a free one (default: 8443; 8000 with --http)",
    )
    serve.add_argument(
        "--mtls-port", type=_port, default=8444, help="mTLS API port; 0 picks a free one (default: 8444)"
    )
    serve.add_argument(
        "--http",
        action="store_true",
        help="plain HTTP on one port instead of HTTPS: no TLS, client certificates not checked",
    )
    serve.add_argument(
        "--server-name",
        action="append",
        default=[],
        metavar="NAME",
        help="another DNS name or IP for the server certificate (localhost, 127.0.0.1, ::1 always)",
    )
    serve.add_argument(
        "--missing-client-cert",
        choices=["tls", "http"],
        default="tls",
        help="on the mTLS port, refuse a missing client certificate in the TLS handshake (default) "
        "or answer 401 over HTTP",
    )
    serve.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".mockwise"),
        help="where sandbox.json, the CA and the certificates go (default: .mockwise)",
    )
    serve.add_argument("--seed", type=Path, default=None, help="seed JSON (default: the bundled fixtures)")
    serve.add_argument(
        "--set",
        dest="set",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the served tenant, by dotted key: oauth.refresh_token_rotation=true, "
        "rate_limits.per_second=5 (repeatable; VALUE is read as JSON when it parses, else as text)",
    )
    serve.add_argument("--quiet", action="store_true", help="do not log each request on the console")
    serve.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="the HTTP server's own messages (default: warning)",
    )
    serve.add_argument(
        "--admin-token", default=None, help="lets non-loopback callers use the control plane (empty: none)"
    )
    kept = serve.add_mutually_exclusive_group()
    kept.add_argument(
        "--fresh", action="store_true", help="forget the state kept in <state dir>/state.db and start clean"
    )
    kept.add_argument(
        "--in-memory",
        action="store_true",
        help="keep tenants, users and tokens in memory only (lost on exit)",
    )
    _defaults_from_environment(serve)

    reset = commands.add_parser("reset", help="forget the state a stopped `mockwise serve` kept in state.db")
    reset.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get(f"{ENV_PREFIX}STATE_DIR") or ".mockwise"),
        help="the server's state directory (default: $MOCKWISE_STATE_DIR or .mockwise)",
    )

    health = commands.add_parser(
        "health", help="exit 0 when the sandbox a state directory describes answers its health check"
    )
    health.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get(f"{ENV_PREFIX}STATE_DIR") or ".mockwise"),
        help="the server's state directory (default: $MOCKWISE_STATE_DIR or .mockwise)",
    )

    from mockwise._standalone import certs as certcli

    certcli.add_parser(commands)

    contract = commands.add_parser("contract", help="judge a Wise client with the contract suites")
    _client_arguments(contract)
    contract.add_argument("--examples", type=int, default=None, help="stories to tell (default 100)")
    contract.add_argument("--steps", type=int, default=None, help="moves per story (default 14)")
    contract.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="finish within this many seconds: fewer stories and shorter shrinking if need be",
    )
    contract.add_argument(
        "--no-shrink", action="store_true", help="report counterexamples as found, unshrunk"
    )
    contract.add_argument("--quiet", action="store_true", help="no progress line while it runs")
    contract.add_argument("--junit", metavar="FILE", help="also write the verdicts as JUnit XML")
    contract.add_argument("--json", metavar="FILE", help="also write the verdicts as JSON")
    contract.add_argument("--scenarios", metavar="DIR", help="write each counterexample as a scenario file")
    replay = commands.add_parser("replay", help="replay a counterexample's scenario file against a client")
    replay.add_argument("file", help="a scenario file written by `mockwise contract --scenarios`")
    _client_arguments(replay)
    return parser


def _client_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--client", metavar="MODULE:FACTORY", help="a Python client: factory(config) -> WiseClient"
    )
    which.add_argument(
        "--client-cmd", metavar="COMMAND", help="a client in any language, speaking JSON lines"
    )
    parser.add_argument(
        "--sandbox",
        metavar="STATE_DIR",
        help="a running `mockwise serve` (its state directory or sandbox.json); default: one in-process",
    )
    parser.add_argument("--admin-token", help="the control plane's admin token, for a non-loopback server")
    parser.add_argument("--profile", choices=["wise", "strict"], default="wise", help="strictness profile")


# Values ------------------------------------------------------------------------------------------


def _port(text: str) -> int:
    fix = "use 0-65535 (0 picks a free one)"
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number: {fix}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: {fix}")
    return port


def _setting(text: str) -> tuple[str, Any]:
    """`key=value`, the value JSON-decoded when it parses (`true`, `5`, `"a"`), else the text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE: e.g. --set refresh_token_rotation=true")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def _defaults_from_environment(parser: argparse.ArgumentParser) -> None:
    """Let every option of `parser` be set as `MOCKWISE_<NAME>` too: the variable becomes the
    option's default (so the command line wins), checked as the option itself would be; a bad
    value is reported when the command runs (`environment_problems`)."""
    problems: list[str] = []
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        name = ENV_PREFIX + action.dest.upper()
        action.help = f"{action.help} [{name}]"
        raw = os.environ.get(name)
        if raw is None or raw == "":
            continue
        try:
            action.default = _env_value(action, raw)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            problems.append(f"{name}={raw}: {exc}")
    parser.set_defaults(environment_problems=problems)


def _env_value(action: argparse.Action, raw: str) -> Any:
    if action.nargs == 0:  # a switch
        if raw.lower() not in _TRUE + _FALSE:
            raise ValueError("use 1 or 0 (true or false)")
        return raw.lower() in _TRUE
    convert: Callable[[str], Any] = action.type if callable(action.type) else str
    if isinstance(action, argparse._AppendAction):
        split: Callable[[str], list[str]] = (
            shlex.split if action.dest == "set" else lambda s: [p for p in re.split(r"[,\s]+", s) if p]
        )
        return [convert(part) for part in split(raw)]
    value = convert(raw)
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"choose from {', '.join(map(str, action.choices))}")
    return value


# Checks made before anything starts -------------------------------------------------------------


def _check_client(args: argparse.Namespace) -> None:
    """The client to judge exists: a Python `module:factory` importable from here (the current
    directory counts, as for `python -m`), or a command whose program can be found."""
    if args.client_cmd is not None:
        try:
            program = shlex.split(args.client_cmd)[0]
        except (ValueError, IndexError):
            raise UsageError(
                f'--client-cmd {args.client_cmd!r}: give a command, e.g. "python3 client.py"'
            ) from None
        if shutil.which(program) is None:
            where = "is not an executable file" if os.sep in program else "is not on PATH"
            raise UsageError(
                f"--client-cmd {args.client_cmd!r}: {program!r} {where}; give a command that runs from "
                'this directory, e.g. "python3 client.py"'
            )
        return
    spec = args.client
    module_name, _, attr = spec.partition(":")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # a client module beside the user, as `python -m` finds it
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name and f"{module_name}.".startswith(f"{exc.name}."):
            raise UsageError(
                f"--client {spec}: no module named {exc.name!r} here; run from the directory that "
                "holds it, or add that directory to PYTHONPATH"
            ) from None
        raise UsageError(
            f"--client {spec}: importing {module_name!r} failed ({exc}); install what it needs here"
        ) from None
    if not callable(getattr(module, attr or "factory", None)):
        raise UsageError(
            f"--client {spec}: module {module_name!r} has no function {attr or 'factory'!r}; "
            "give MODULE:FACTORY, where factory(config) returns the client"
        )


def sandbox_problem(where: str, option: str) -> str | None:
    """Why `where` cannot name a running `mockwise serve` (a state directory, its sandbox.json,
    or an http(s) URL), in one line naming `option`; None when it can."""
    if re.match(r"^https?://", where):
        return None
    path = Path(where)
    fix = "start `mockwise serve` (it writes .mockwise/) and give its state directory, or its https:// URL"
    if not path.exists():
        return f"{option} {where}: no such state directory or sandbox.json; {fix}"
    document = path / "sandbox.json" if path.is_dir() else path
    if not document.is_file():
        return f"{option} {where}: no sandbox.json in it; is `mockwise serve --state-dir {where}` running?"
    try:
        doc = json.loads(document.read_text(encoding="utf-8"))
        url = f"{doc['control_url']}/health"
    except (OSError, ValueError, KeyError, TypeError):
        return f"{option} {where}: {document} is not a sandbox.json written by `mockwise serve`; {fix}"
    ca = doc.get("ca_cert")
    try:
        context = ssl.create_default_context(cafile=ca) if ca else None
        urllib.request.urlopen(url, context=context, timeout=5).close()  # noqa: S310 - http(s) only
    except urllib.error.HTTPError:
        return None  # it answers (an older server without /health)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return (
            f"{option} {where}: nothing answers at {doc.get('api_url')} ({reason}); that server has "
            f"stopped: start `mockwise serve --state-dir {document.parent}` again"
        )
    return None


def _check_sandbox(where: str, option: str) -> None:
    problem = sandbox_problem(where, option)
    if problem is not None:
        raise UsageError(problem)


# Commands ----------------------------------------------------------------------------------------


def _health(state_dir: Path) -> int:
    """For a container's HEALTHCHECK: 0 when the server answers `GET /_mockwise/health`."""
    document = state_dir / "sandbox.json"
    try:
        doc = json.loads(document.read_text(encoding="utf-8"))
        ca = doc.get("ca_cert")
        context = ssl.create_default_context(cafile=ca) if ca else None
        url = f"{doc['control_url']}/health"
        with urllib.request.urlopen(url, context=context, timeout=5) as answer:  # noqa: S310
            print(answer.read().decode("utf-8", "replace").strip())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"mockwise health: {document}: {getattr(exc, 'reason', None) or exc}", file=sys.stderr)
        return 1
    return 0


def _reset(state_dir: Path) -> int:
    """`mockwise reset`: forget the state of a stopped server (certificates and keys stay)."""
    from mockwise._store import STATE_FILE, StateError, UnsafeState, forget

    try:
        found = forget(state_dir)
    except UnsafeState as exc:
        raise UsageError(str(exc), "reset") from None
    except (OSError, StateError) as exc:
        print(f"mockwise reset: {exc}", file=sys.stderr)
        return 1
    where = state_dir / STATE_FILE
    print(f"mockwise: forgot {where}; the next start is fresh" if found else f"mockwise: no state in {where}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from mockwise._standalone.keystore import KeystoreError
    from mockwise._standalone.server import ServeOptions, Standalone, StartupError
    from mockwise._store import StateError, UnsafeState

    options = ServeOptions(
        host=args.host,
        port=args.port,
        mtls_port=args.mtls_port,
        http=args.http,
        server_names=tuple(args.server_name),
        missing_client_cert=args.missing_client_cert,
        state_dir=args.state_dir,
        seed=args.seed,
        settings=dict(args.set),
        quiet=args.quiet,
        log_level=args.log_level,
        admin_token=args.admin_token,
        persist=not args.in_memory,
        fresh=args.fresh,
    )
    try:
        server = Standalone(options)
    except (StartupError, UnsafeState) as exc:  # what was given cannot work: exit status 2
        raise UsageError(str(exc), "serve") from None
    except PermissionError as exc:
        raise UsageError(
            f"--state-dir {options.state_dir}: cannot write {exc.filename or 'there'} as user {os.getuid()}; "
            'make the directory this user\'s (in a container: --user "$(id -u):$(id -g)")',
            "serve",
        ) from None
    except (OSError, KeystoreError, StateError) as exc:
        print(f"mockwise: cannot start: {exc}", file=sys.stderr)
        return 1
    server.serve()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
