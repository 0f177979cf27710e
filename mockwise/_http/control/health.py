"""`GET /_mockwise/health`: is this sandbox up? For container health checks, CI `services:` and
load balancers. It answers every caller (no admin token needed) and says nothing secret."""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import Response

from mockwise._http.control.common import endpoint, sandbox_of
from mockwise._http.responses import WiseJSON
from mockwise._version import __version__


@endpoint
async def health(request: Request) -> Response:
    """
    summary: Health check
    description: >
      200 while the sandbox serves requests. Open to every caller, loopback or not, without the
      admin token (a container's or an orchestrator's probe), and not journaled. 503 `degraded`,
      with the cause, while the state store cannot write (a full disk): the data plane answers
      503 meanwhile, and both recover by themselves once it can write again.
    tags: [health]
    responses:
      200:
        description: "The sandbox is up."
        content:
          application/json:
            schema:
              type: object
              required: [status]
              properties:
                status: {type: string, enum: [ok, degraded]}
                version: {type: string, description: "mockwise's version"}
                tenants: {type: integer, description: "how many tenants it holds"}
                cause: {type: string, description: "why it is degraded"}
      503: {description: "degraded: the state store cannot write; `cause` says why."}
    """
    sandbox = sandbox_of(request)
    body: dict[str, object] = {"status": "ok", "version": __version__, "tenants": len(sandbox.tenants)}
    store = sandbox.store
    if store.failure is not None:
        with contextlib.suppress(Exception):  # try again: the disk may have room now
            store.flush()
    failure = store.failure
    if failure is not None:
        return WiseJSON(
            {**body, "status": "degraded", "cause": f"the state store cannot write: {failure}"}, 503
        )
    return WiseJSON(body)
