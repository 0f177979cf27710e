"""The tenant's tokens (identities, never values) and its request journal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockwise._domain.entries import Entry
from mockwise._domain.journal import Journal
from mockwise._http.control.common import (
    ControlError,
    endpoint,
    known_parameters,
    known_state,
    sandbox_of,
    tenant_of,
    token_json,
)
from mockwise._http.control.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    STATES,
    integer,
    link,
    next_offset,
    offload,
    tokens_of,
    window_of,
)
from mockwise._http.responses import WiseJSON


@endpoint
async def list_tokens(request: Request) -> Response:
    """
    summary: The tenant's tokens (ids, never values) with their state and remaining lifetime
    description: >
      One page of tokens, newest (latest issued) first: `limit` of them (default 100, at most 1000)
      after skipping `offset`. `total` counts the tokens in the requested `state` (all tokens
      without one), `counts` every state; `next` is this listing's next page (null on the last):
      follow it until it is null to read them all.
    tags: [tokens]
    parameters:
      - name: state
        in: query
        description: "one state; empty or absent: all"
        schema: {type: string, enum: ["", valid, expired, superseded, revoked]}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 100}}
      - {name: offset, in: query, schema: {type: integer, minimum: 0, maximum: 1000000000000, default: 0}}
    responses:
      200:
        description: "{tokens, total, counts: {valid, expired, superseded, revoked}, offset, limit, next}"
      400: {description: "Unknown state, or a bad limit or offset."}
      404: {description: "No such tenant."}
    """
    tenant = tenant_of(request)
    wanted = known_state(request, STATES)
    window = window_of(request)
    scan = await tokens_of(tenant, state=wanted, offset=window.offset, limit=window.limit)
    total = scan.counts[wanted] if wanted is not None else scan.total
    now = tenant.clock.now()
    return WiseJSON(
        {
            "tokens": [token_json(t, now) for t in scan.page],
            "total": total,
            "counts": scan.counts,
            "offset": window.offset,
            "limit": window.limit,
            "next": next_offset(request, window, total),
        }
    )


FILTER_ORDER: tuple[str, ...] = ("path", "method", "grant_type", "client_id", "status", "error")
FILTER_ORDER += ("reason", "token", "token_state", "user_id")
JOURNAL_FILTERS = set(FILTER_ORDER)
CURSORS = {"since", "before", "limit"}


@dataclass(frozen=True, slots=True)
class JournalPage:
    entries: list[Entry]
    total: int  # entries held that match the filters
    more: bool  # whether entries past this page match too


def journal_page(
    journal: Journal, match: dict[str, Any], *, since: int | None, before: int | None, limit: int
) -> JournalPage:
    """One page of the entries matching `match`: after `since`, oldest first (following the
    journal as it grows), or else newest first, before `before` when given."""
    matching = journal.select(**match)  # a copy, oldest first
    if since is not None:
        later = [e for e in matching if e.seq > since]
        return JournalPage(later[:limit], len(matching), len(later) > limit)
    earlier = [e for e in reversed(matching) if before is None or e.seq < before]
    return JournalPage(earlier[:limit], len(matching), len(earlier) > limit)


@endpoint
async def get_journal(request: Request) -> Response:
    """
    summary: The tenant's request journal (secrets never appear)
    description: >
      One page of the entries the journal holds that match every filter given: the newest first,
      `limit` of them (default 100, at most 1000); `next` (null on the last page) continues with
      older ones (`before`, a sequence number). To follow the journal as it grows, pass `since`
      (a sequence number, 0 for the oldest held): entries after it, oldest first; `next` then
      moves `since` on, and is null once the page reaches the newest entry. `total` counts the
      entries held that match; `dropped` those the capacity pushed out.
    tags: [journal]
    parameters: {parameters}
    responses:
      200: {description: "{entries, total, limit, next, dropped, capacity}"}
      400: {description: "An unknown or repeated filter, or a filter or cursor that is not a number."}
      404: {description: "No such tenant."}
    """
    return await _entries(tenant_of(request).journal, request)


@endpoint
async def get_unrouted(request: Request) -> Response:
    """
    summary: Requests that reached no tenant (secrets never appear)
    description: >
      The sandbox's journal of requests whose credentials name no tenant: an unknown client id or
      token, no credentials on a route that needs them, an unknown path, a body that never
      arrived. The same entries, filters and pages as a tenant's journal; `DELETE` empties it,
      and so does `POST /_mockwise/reset`.
    tags: [journal]
    parameters: {parameters}
    responses:
      200: {description: "{entries, total, limit, next, dropped, capacity}"}
      400: {description: "An unknown or repeated filter, or a filter or cursor that is not a number."}
    """
    return await _entries(sandbox_of(request).unrouted, request)


def _parameters() -> str:
    """Both journals' query parameters, for their OpenAPI operations: the filters, then the cursors."""
    typed = {"status": "integer", "user_id": "integer"}
    filters = [
        f"{{name: {name}, in: query, schema: {{type: {typed.get(name, 'string')}}}}}" for name in FILTER_ORDER
    ]
    bound = "minimum: 0, maximum: 4611686018427387904"
    cursors = [
        f'{{name: since, in: query, description: "entries after this sequence number, oldest first", '
        f"schema: {{type: integer, {bound}}}}}",
        f'{{name: before, in: query, description: "entries before this sequence number, newest first", '
        f"schema: {{type: integer, {bound}}}}}",
        "{name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 100}}",
    ]
    return "[" + ", ".join(filters + cursors) + "]"


for _journal_route in (get_journal, get_unrouted):
    assert _journal_route.__doc__ is not None
    _journal_route.__doc__ = _journal_route.__doc__.replace("{parameters}", _parameters())


async def _entries(journal: Journal, request: Request) -> Response:
    known_parameters(request, *JOURNAL_FILTERS, *CURSORS)
    query = request.query_params
    match: dict[str, Any] = {k: v for k, v in query.items() if k in JOURNAL_FILTERS}
    try:
        for name in ("status", "user_id"):
            if name in match:
                match[name] = int(match[name])
    except ValueError:
        raise ControlError(400, "invalid_request", "status and user_id are integers") from None
    if "since" in query and "before" in query:
        raise ControlError(400, "invalid_request", "'since' and 'before' go one at a time")
    since = integer(request, "since", -1, 0, 2**62) if "since" in query else None
    before = integer(request, "before", -1, 0, 2**62) if "before" in query else None
    limit = integer(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    page = await offload(
        lambda: journal_page(journal, match, since=since, before=before, limit=limit), len(journal)
    )
    following = None
    if page.more and page.entries:
        last = page.entries[-1].seq
        following = link(request, since=last) if since is not None else link(request, before=last)
    return WiseJSON(
        {
            "entries": [e.as_json() for e in page.entries],
            "total": page.total,
            "limit": limit,
            "next": following,
            "dropped": journal.dropped,
            "capacity": journal.capacity,
        }
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
