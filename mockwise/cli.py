"""The `mockwise` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mockwise", description="A sandbox fake of the Wise Platform API.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the standalone sandbox server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="API port; 0 picks a free one (default: 8000)")
    serve.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".mockwise"),
        help="where sandbox.json goes (default: .mockwise)",
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

    args = parser.parse_args(argv)
    if args.command == "serve":
        from mockwise.standalone import ServeOptions, Standalone

        options = ServeOptions(
            host=args.host,
            port=args.port,
            state_dir=args.state_dir,
            seed=args.seed,
            log_level=args.log_level,
            admin_token=args.admin_token,
        )
        try:
            server = Standalone(options)
        except OSError as exc:
            print(f"mockwise: cannot start: {exc}", file=sys.stderr)
            return 1
        server.serve()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
