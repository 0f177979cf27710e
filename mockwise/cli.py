"""The `mockwise` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mockwise import certcli


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mockwise", description="A sandbox fake of the Wise Platform API.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the standalone sandbox server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=int,
        default=None,
        help="API (TLS) port; 0 picks a free one (default: 8443; 8000 with --http)",
    )
    serve.add_argument(
        "--mtls-port", type=int, default=8444, help="mTLS API port; 0 picks a free one (default: 8444)"
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
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument(
        "--admin-token",
        default=os.environ.get("MOCKWISE_ADMIN_TOKEN"),
        help="lets non-loopback callers use the control plane (default: $MOCKWISE_ADMIN_TOKEN)",
    )

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

    args = parser.parse_args(argv)
    if args.command == "certs":
        return certcli.run(args)
    if args.command in ("contract", "replay"):
        from contracts import cli as contract_cli

        return (
            contract_cli.contract(args) if args.command == "contract" else contract_cli.replay_scenario(args)
        )
    if args.command == "serve":
        from mockwise.keystore import KeystoreError
        from mockwise.standalone import ServeOptions, Standalone

        options = ServeOptions(
            host=args.host,
            port=args.port,
            mtls_port=args.mtls_port,
            http=args.http,
            server_names=tuple(args.server_name),
            missing_client_cert=args.missing_client_cert,
            state_dir=args.state_dir,
            seed=args.seed,
            log_level=args.log_level,
            admin_token=args.admin_token,
        )
        try:
            server = Standalone(options)
        except (OSError, KeystoreError) as exc:
            print(f"mockwise: cannot start: {exc}", file=sys.stderr)
            return 1
        server.serve()
    return 0


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
