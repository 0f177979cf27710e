"""The baseline the benchmark compares mockwise with: a bare Starlette endpoint that only parses the
form and returns a UUID token, served exactly as mockwise is served (`mockwise._transport.sockets.Runner`:
uvicorn, httptools, uvloop, the same `uvicorn.Config`), but with uvicorn's own httptools protocol
instead of mockwise's `WiseProtocol`, so nothing of mockwise is in its path.

    python bench/baseline.py [--port 0]

It prints `{"url": ...}` on one line once it accepts connections, and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mockwise._transport.sockets import Listener, Runner


async def token(request: Request) -> Response:
    form = await request.form()
    return JSONResponse(
        {
            "access_token": str(uuid.uuid4()),
            "token_type": "bearer",
            "expires_in": 43199,
            "scope": "transfers",
            "grant_type": form.get("grant_type"),
        }
    )


app = Starlette(routes=[Route("/oauth/token", token, methods=["POST"])])


def stock_protocol(config: uvicorn.Config, listener: Listener) -> None:
    config.http_protocol_class = HttpToolsProtocol  # uvicorn's own: no mockwise extensions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    listener = Listener("api", args.host, args.port)
    runner = Runner(app, [listener], configure=stock_protocol)
    runner.run(lambda: print(json.dumps({"url": listener.url}), flush=True))


if __name__ == "__main__":
    sys.exit(main())
