"""The tenant's tokens (identities, never values) and its request journal."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockwise.domain.journal import Journal
from mockwise.http.control.common import (
    ControlError,
    endpoint,
    known_state,
    sandbox_of,
    tenant_of,
    token_json,
)
from mockwise.http.responses import WiseJSON


@endpoint
async def list_tokens(request: Request) -> Response:
    """
    summary: The tenant's tokens (ids, never values) with their state and remaining lifetime
    tags: [tokens]
    parameters:
      - {name: state, in: query, schema: {type: string, enum: [valid, expired, superseded, revoked]}}
    responses:
      200: {description: "Tokens, newest first."}
    """
    tenant = tenant_of(request)
    now = tenant.clock.now()
    wanted = known_state(request, ("valid", "expired", "superseded", "revoked"))
    tokens = sorted(tenant.store, key=lambda t: t.issued_at, reverse=True)
    rows = [token_json(t, now) for t in tokens if wanted is None or t.state(now).value == wanted]
    return WiseJSON({"tokens": rows})


JOURNAL_FILTERS = {
    "path",
    "method",
    "grant_type",
    "client_id",
    "status",
    "error",
    "reason",
    "token",
    "token_state",
    "user_id",
}


@endpoint
async def get_journal(request: Request) -> Response:
    """
    summary: The tenant's request journal (secrets never appear)
    tags: [journal]
    parameters:
      - {name: path, in: query, schema: {type: string}}
      - {name: method, in: query, schema: {type: string}}
      - {name: grant_type, in: query, schema: {type: string}}
      - {name: client_id, in: query, schema: {type: string}}
      - {name: status, in: query, schema: {type: integer}}
      - {name: error, in: query, schema: {type: string}}
      - {name: token, in: query, schema: {type: string}}
      - {name: token_state, in: query, schema: {type: string}}
      - {name: user_id, in: query, schema: {type: integer}}
      - {name: since, in: query, description: "entries after this sequence number", schema: {type: integer}}
    responses:
      200: {description: "Matching entries, oldest first, and how many were dropped by the cap."}
    """
    return _entries(tenant_of(request).journal, request)


@endpoint
async def get_unrouted(request: Request) -> Response:
    """
    summary: Requests that reached no tenant (secrets never appear)
    description: >
      The sandbox's journal of requests whose credentials name no tenant: an unknown client id or
      token, no credentials on a route that needs them, an unknown path, a body that never
      arrived. The same entries and filters as a tenant's journal; `DELETE` empties it, and so
      does `POST /_mockwise/reset`.
    tags: [journal]
    parameters:
      - {name: path, in: query, schema: {type: string}}
      - {name: method, in: query, schema: {type: string}}
      - {name: grant_type, in: query, schema: {type: string}}
      - {name: client_id, in: query, schema: {type: string}}
      - {name: status, in: query, schema: {type: integer}}
      - {name: error, in: query, schema: {type: string}}
      - {name: token, in: query, schema: {type: string}}
      - {name: token_state, in: query, schema: {type: string}}
      - {name: user_id, in: query, schema: {type: integer}}
      - {name: since, in: query, description: "entries after this sequence number", schema: {type: integer}}
    responses:
      200: {description: "Matching entries, oldest first, and how many were dropped by the cap."}
    """
    return _entries(sandbox_of(request).unrouted, request)


def _entries(journal: Journal, request: Request) -> Response:
    query = request.query_params
    unknown = set(query) - JOURNAL_FILTERS - {"since"}
    if unknown:
        raise ControlError(400, "invalid_request", f"unknown filter(s): {', '.join(sorted(unknown))}")
    match: dict[str, Any] = {k: v for k, v in query.items() if k in JOURNAL_FILTERS}
    try:
        for name in ("status", "user_id"):
            if name in match:
                match[name] = int(match[name])
        since = int(query.get("since", "0"))
    except ValueError:
        raise ControlError(400, "invalid_request", "status, user_id and since are integers") from None
    entries = journal.select(since=since, **match)
    return WiseJSON(
        {"entries": [e.as_json() for e in entries], "dropped": journal.dropped, "capacity": journal.capacity}
    )


@endpoint
async def clear_journal(request: Request) -> Response:
    """
    summary: Empty the tenant's journal
    tags: [journal]
    responses:
      204: {description: "Cleared."}
    """
    tenant_of(request).journal.clear()
    return Response(status_code=204)


@endpoint
async def clear_unrouted(request: Request) -> Response:
    """
    summary: Empty the journal of requests that reached no tenant
    tags: [journal]
    responses:
      204: {description: "Cleared."}
    """
    sandbox_of(request).unrouted.clear()
    return Response(status_code=204)
