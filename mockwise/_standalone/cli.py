"""The `mockwise` command line.

Every `serve` option can also come from the environment, `MOCKWISE_` and the option's name
(`MOCKWISE_PORT=0`, `MOCKWISE_STATE_DIR=/state`; lists comma-separated, `MOCKWISE_SET` as a shell
would split it); the command line wins. A mistake in what was given is one line on stderr, naming
the input and the fix, and exit status 2.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import os
import re
import shlex
import shutil
import ssl
import sys
import sysconfig
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from mockwise._version import __version__

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
    args, extras = parser.parse_known_args(argv)
    if extras:
        raise UsageError(_unrecognized(parser, args.command, extras), args.command)
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
    if args.command == "settings":
        from mockwise._domain.settings import text

        print(text())
        return 0
    if args.command == "health":
        return _health(args.state_dir)
    if args.command == "reset":
        return _reset(args.state_dir)
    return _serve(args)


def _unrecognized(parser: argparse.ArgumentParser, command: str, extras: list[str]) -> str:
    """Which of `extras` the subcommand does not take, a close option when there is one, and its help."""
    options = [o for a in _subparser(parser, command)._actions for o in a.option_strings]
    near = difflib.get_close_matches(extras[0].partition("=")[0], options, n=1, cutoff=0.75)
    hint = f"; did you mean {near[0]}?" if near else ""
    return f"unrecognized arguments: {' '.join(extras)}{hint} (see `mockwise {command} --help`)"


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[command]
            return found
    return parser


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
        "--mtls-port", type=_port, default=None, help="mTLS API port; 0 picks a free one (default: 8444)"
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

    reset = commands.add_parser(
        "reset",
        help="forget the state a stopped `mockwise serve` kept in state.db",
        description="Forget the tenants, users, tokens, clock and journal a stopped `mockwise serve` kept "
        "in <state dir>/state.db, so its next start is fresh. The CA, the certificates, their keys and "
        "sandbox.json stay (clients keep trusting the server). Refused while a server holds the "
        "directory: stop it first, or start it with --fresh. Exit status 0 when done, 1 when it "
        "could not be done.",
    )
    reset.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get(f"{ENV_PREFIX}STATE_DIR") or ".mockwise"),
        help="the server's state directory (default: $MOCKWISE_STATE_DIR or .mockwise)",
    )

    health = commands.add_parser(
        "health",
        help="exit 0 when the sandbox a state directory describes answers its health check",
        description="Ask the `mockwise serve` that wrote <state dir>/sandbox.json for GET "
        "/_mockwise/health and print its answer. Exit status 0 when it answers, 1 when it does not "
        "(no sandbox.json, or nothing listening at its URL). A container's HEALTHCHECK runs it.",
    )
    health.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get(f"{ENV_PREFIX}STATE_DIR") or ".mockwise"),
        help="the server's state directory (default: $MOCKWISE_STATE_DIR or .mockwise)",
    )

    commands.add_parser(
        "settings",
        help="list every setting of a tenant, with its default and what it answers",
        description='Every setting (by dotted key, as `serve --set`, a seed\'s "settings" and GET/PATCH '
        "/_mockwise/tenants/{id}/settings take them), its default, and the question of Wise's it answers.",
    )

    from mockwise._standalone import certs as certcli

    certcli.add_parser(commands)

    contract = commands.add_parser(
        "contract",
        help="judge a Wise client with the contract suites",
        description="Judge a Wise client: tell it stories in which the sandbox expires, revokes, "
        "rotates, fails and moves time, and check that it keeps every obligation of the catalog "
        "(`python -m mockwise.contracts.obligations` prints it; docs/obligations.md and docs/contracts.md "
        "in the source distribution explain it, and how to write a client in any language). "
        "--profile wise judges what Wise documents; --profile strict adds good practice beyond it.",
        epilog="exit status: 0 every obligation kept; 1 an obligation broken (a replayable "
        "counterexample is printed, and written with --scenarios); 2 a usage error (the line says "
        "which input and the fix); 3 the client could not be judged (its process died, or it could "
        "not start).",
    )
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
    replay = commands.add_parser(
        "replay",
        help="replay a counterexample's scenario file against a client",
        description="Tell the story of a scenario file (written by `mockwise contract --scenarios DIR`) "
        "again, step by step, to the client, and say whether its obligation is still broken. With "
        "--sandbox it runs in a tenant of that server, to be watched in its dashboard.",
        epilog="exit status: 0 the obligation held; 1 still broken; 2 a usage error; 3 the client could "
        "not be judged.",
    )
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
    parser.add_argument(
        "--profile",
        choices=["wise", "strict"],
        default="wise",
        help="which obligations: wise (what Wise documents; default) or strict (adds good practice "
        "beyond it, such as checking the date of birth after linking)",
    )


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
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KEY=VALUE: e.g. --set oauth.refresh_token_rotation=true "
            "(`mockwise settings` lists every key)"
        )
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
    shape = (
        "--client takes MODULE:FACTORY, e.g. my_client:factory (FACTORY defaults to `factory`), where "
        "factory(config) returns the client; a program in another language is given as --client-cmd"
    )
    if not module_name.strip() or not all(p.isidentifier() for p in module_name.split(".")):
        raise UsageError(f"--client {spec}: {module_name!r} is not a module name; {shape}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # a client module beside the user, as `python -m` finds it
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name and f"{module_name}.".startswith(f"{exc.name}."):
            raise UsageError(
                f"--client {spec}: no module named {exc.name!r} here; run from the directory that "
                f"holds it, or add that directory to PYTHONPATH; {shape}"
            ) from None
        raise UsageError(
            f"--client {spec}: importing {module_name!r} failed ({exc}); install what it needs here"
        ) from None
    except Exception as exc:  # the module's own code raised while it was imported
        raise UsageError(
            f"--client {spec}: importing {module_name!r} raised {type(exc).__name__}: {exc} "
            f"({_where(exc)}); a module for --client must import cleanly (a program that speaks JSON "
            'lines is given as --client-cmd "python3 path/to/it.py")'
        ) from None
    if not callable(getattr(module, attr or "factory", None)):
        raise UsageError(
            f"--client {spec}: module {module_name!r} has no function {attr or 'factory'!r}; {shape}"
        )


def _where(exc: BaseException) -> str:
    """file:line of the innermost frame of `exc` in the user's code (not Python's own library)."""
    stdlib = sysconfig.get_paths()["stdlib"]
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(("<", stdlib)) and Path(f.filename).resolve() != Path(__file__).resolve()
    ]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "while importing"


def _check_sandbox(where: str, option: str) -> None:
    from mockwise.testing._server import sandbox_problem

    problem = sandbox_problem(where, option)
    if problem is not None:
        raise UsageError(problem)


# Commands ----------------------------------------------------------------------------------------


def _health(state_dir: Path) -> int:
    """For a container's HEALTHCHECK: 0 when the server answers `GET /_mockwise/health`."""
    document = state_dir / "sandbox.json"
    running = f"is `mockwise serve --state-dir {state_dir}` running?"
    try:
        doc = json.loads(document.read_text(encoding="utf-8"))
        url = f"{doc['control_url']}/health"
        ca = doc.get("ca_cert")
    except FileNotFoundError:
        return _unhealthy(f"no {document}: {running} (it writes sandbox.json once it is ready)")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return _unhealthy(f"{document} is not a sandbox.json written by `mockwise serve` ({exc}); {running}")
    try:
        context = ssl.create_default_context(cafile=ca) if ca else None
        with urllib.request.urlopen(url, context=context, timeout=5) as answer:  # noqa: S310
            print(answer.read().decode("utf-8", "replace").strip())
    except urllib.error.HTTPError as exc:
        return _unhealthy(f"{url} answered {exc.code}: {exc.read().decode('utf-8', 'replace').strip()}")
    except (OSError, ValueError) as exc:
        return _unhealthy(f"nothing answers at {url} ({getattr(exc, 'reason', None) or exc}); {running}")
    return 0


def _unhealthy(line: str) -> int:
    print(f"mockwise health: {line}", file=sys.stderr)
    return 1


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
