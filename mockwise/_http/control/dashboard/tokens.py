"""The tokens' pages: a tenant's tokens, filtered and paged, and one token with its lineage."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockwise._domain.entries import Entry
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import Token
from mockwise._http.control.common import (
    ControlError,
    endpoint,
    known_parameters,
    known_state,
    tenant_of,
    token_json,
)
from mockwise._http.control.dashboard.pages import ROWS, duration, render_tenant
from mockwise._http.control.dashboard.tenants import entry_row, lineage
from mockwise._http.control.paging import (
    STATES,
    link,
    next_offset,
    offload,
    tokens_of,
    window_of,
)


async def tokens_by_id(tenant: Tenant, ids: set[str]) -> dict[str, Token]:
    """Tokens by `Token.id` (a prefix of the key the store is indexed by): one scan, off the loop."""
    if not ids:
        return {}
    store = tenant.store

    def scan() -> dict[str, Token]:
        found: dict[str, Token] = {}
        for token in store.newest_first():
            if token.key[:16] in ids:
                found[token.key[:16]] = token
                if len(found) == len(ids):
                    break
        return found

    return await offload(scan, len(store))


def token_row(token: Token, now: float) -> dict[str, Any]:
    """The listing's JSON (`token_json`), as a page shows it."""
    return {
        **token_json(token, now),
        "cause": token.end_reason.value.replace("_", " ") if token.end_reason else None,
        "remaining": duration(max(0.0, token.expires_at - now)),
        "cert": token.cert,
    }


@endpoint
async def tokens_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for a tenant's tokens
    description: >
      Tokens (ids, never values), newest first, 50 a page (`offset`), all or in one `state`,
      with counts by state; each opens to its detail and lineage.
    tags: [dashboard]
    parameters:
      - name: state
        in: query
        description: "one state; empty or absent: all"
        schema: {type: string, enum: ["", valid, expired, superseded, revoked]}
      - {name: offset, in: query, schema: {type: integer, minimum: 0, maximum: 1000000000000, default: 0}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 50}}
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      400: {description: "Unknown state or parameter, or a bad offset or limit."}
      404: {description: "No such tenant."}
    """
    tenant = tenant_of(request)
    known_parameters(request, "state", "offset", "limit")  # its own next link carries the limit
    state = known_state(request, STATES)
    window = window_of(request, ROWS)
    scan = await tokens_of(tenant, state=state, offset=window.offset, limit=window.limit)
    total = scan.counts[state] if state else scan.total
    now = tenant.clock.now()
    return render_tenant(
        request,
        tenant,
        "control/tokens.html",
        "tokens",
        tokens=[token_row(t, now) for t in scan.page],
        counts=scan.counts,
        total=total,
        all_tokens=scan.total,
        state=state,
        offset=window.offset,
        next=next_offset(request, window, total),
        previous=link(request, offset=max(0, window.offset - window.limit)) if window.offset else None,
    )


@endpoint
async def token_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for one token
    description: The token (its id, never its value), its lineage, and the latest journal entries
      that presented it or were given it.
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      404: {description: "No such tenant, or no such token held."}
    """
    tenant = tenant_of(request)
    token_id = request.path_params["token_id"]
    token = (await tokens_by_id(tenant, {token_id})).get(token_id)
    if token is None:
        raise ControlError(404, "not_found", f"no token {token_id!r} is held (never issued, or collected)")
    now = tenant.clock.now()
    journal = tenant.journal

    def mentions() -> list[Entry]:
        return [e for e in reversed(journal.select()) if token_id in (e.token, e.issued)][:ROWS]

    entries = await offload(mentions, len(journal))
    return render_tenant(
        request,
        tenant,
        "control/token.html",
        "tokens",
        token=token_row(token, now),
        lineage=lineage(token.link, now, 200) if token.link is not None else None,
        entries=[entry_row(e) for e in entries],
    )
