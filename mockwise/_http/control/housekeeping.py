"""Per-tenant control routes that bound memory: the journal's capacity, and collecting expired tokens.

Mounted under `/_mockwise/tenants/{tenant}` (see `control_routes()`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockwise._http.control.common import ControlError, body_of, endpoint, field, tenant_of
from mockwise._http.responses import WiseJSON

MAX_JOURNAL_CAPACITY = 10_000_000  # a bound on the bound: ~5 GB of entries


@endpoint
async def patch_journal(request: Request) -> Response:
    """
    summary: Set how many entries the tenant's journal keeps
    description: >
      The journal keeps the latest `capacity` requests (10,000 by default); older ones are dropped
      and counted in `dropped`, which the journal listing, the dashboard and failed journal
      assertions show. Shrinking drops the oldest entries at once.
    tags: [journal]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [capacity]
            properties: {capacity: {type: integer, minimum: 0, maximum: 10000000, example: 50000}}
    responses:
      200: {description: "The journal's capacity, entries held and entries dropped."}
      400: {description: "Not a whole number in range."}
    """
    tenant = tenant_of(request)
    capacity = field(await body_of(request), "capacity", int, required=True)
    if not 0 <= capacity <= MAX_JOURNAL_CAPACITY:
        raise ControlError(400, "invalid_request", f"'capacity' is 0 to {MAX_JOURNAL_CAPACITY}")
    journal = tenant.journal
    journal.resize(capacity)
    return WiseJSON({"capacity": journal.capacity, "entries": len(journal), "dropped": journal.dropped})


@endpoint
async def collect(request: Request) -> Response:
    """
    summary: Forget the tenant's long-expired tokens and codes now
    description: >
      Tokens are remembered for a day of tenant time after they expire (so the journal can say
      "expired"), then forgotten; issuing tokens forgets a few at a time. This forgets all of them
      at once, e.g. after a load test.
    tags: [tokens]
    responses:
      200: {description: "How many tokens were forgotten, and how many the tenant still holds."}
    """
    tenant = tenant_of(request)
    collected = tenant.collect()
    return WiseJSON({"collected": collected, "tokens": len(tenant.store)})


routes = [
    Route("/journal", patch_journal, methods=["PATCH"]),
    Route("/collect", collect, methods=["POST"]),
]
