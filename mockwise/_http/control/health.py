"""`GET /_mockwise/health`: is this sandbox up? For container health checks, CI `services:` and
load balancers. It answers every caller (no admin token needed) and says nothing secret."""

from __future__ import annotations

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
      admin token (a container's or an orchestrator's probe), and not journaled.
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
                status: {type: string, enum: [ok]}
                version: {type: string, description: "mockwise's version"}
                tenants: {type: integer, description: "how many tenants it holds"}
    """
    return WiseJSON({"status": "ok", "version": __version__, "tenants": len(sandbox_of(request).tenants)})
