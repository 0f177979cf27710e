"""The journal's pages: the entries, filtered and paged, and one entry in full."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockwise._domain.clock import iso_millis
from mockwise._domain.entries import Entry
from mockwise._http.control.common import (
    ControlError,
    endpoint,
    known_parameters,
    tenant_of,
)
from mockwise._http.control.dashboard.pages import EVENTS, ROWS, render_tenant, wall
from mockwise._http.control.dashboard.tenants import _fault_row, entry_row, lineage
from mockwise._http.control.dashboard.tokens import token_row, tokens_by_id
from mockwise._http.control.paging import (
    integer,
    link,
    offload,
)

JOURNAL_FILTERS = ("path", "method", "status", "client_id", "grant_type", "token")


@endpoint
async def journal_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for a tenant's journal
    description: >
      The journal's entries, newest first, 50 a page (`before`, a sequence number, for older
      ones), filtered by `path`, `method`, `status`, `client_id`, `grant_type` or `token`; each
      entry opens to its detail.
    tags: [dashboard]
    parameters:
      - name: before
        in: query
        description: "empty or absent: from the newest"
        schema:
          anyOf: [{type: integer, minimum: 0, maximum: 4611686018427387904}, {type: string, enum: [""]}]
      - {name: path, in: query, schema: {type: string}}
      - {name: method, in: query, schema: {type: string}}
      - name: status
        in: query
        description: "empty or absent: any (what the page's filter form sends)"
        schema: {anyOf: [{type: integer, minimum: 0, maximum: 999}, {type: string, enum: [""]}]}
      - {name: client_id, in: query, schema: {type: string}}
      - {name: grant_type, in: query, schema: {type: string}}
      - {name: token, in: query, schema: {type: string}}
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      400: {description: "An unknown parameter, or a filter or cursor that is not a number."}
      404: {description: "No such tenant."}
    """
    known_parameters(request, "before", *JOURNAL_FILTERS)
    tenant = tenant_of(request)
    filters = {k: request.query_params.get(k, "").strip() for k in JOURNAL_FILTERS}
    match: dict[str, Any] = {k: v for k, v in filters.items() if v}
    if "status" in match:
        match["status"] = integer(request, "status", 0, 0, 999)
    before = integer(request, "before", 0, 0, 2**62) or None
    journal = tenant.journal

    def select() -> tuple[list[Entry], int, bool]:
        matching = journal.select(**match)
        earlier = [e for e in reversed(matching) if before is None or e.seq < before]
        return earlier[:ROWS], len(matching), len(earlier) > ROWS

    entries, total, more = await offload(select, len(journal))
    return render_tenant(
        request,
        tenant,
        "control/journal.html",
        "journal",
        entries=[entry_row(e) for e in entries],
        total=total,
        held=len(journal),
        dropped=journal.dropped,
        filters=filters,
        filtered=bool(match),
        newest=link(request, before=None) if before else None,
        next=link(request, before=entries[-1].seq) if more else None,
    )


@endpoint
async def entry_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for one journal entry
    description: >
      The request (method, path, parameter, query and header names: never values), the answer,
      the token presented and the token issued with their lineage, the fault that fired, the
      client certificate, SCA and JOSE notes, and the timings.
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      404: {description: "No such tenant, or no such entry held."}
    """
    tenant = tenant_of(request)
    seq = request.path_params["seq"]
    journal = tenant.journal
    entry = await offload(lambda: _find_entry(journal.select(), seq), len(journal))
    if entry is None:
        raise ControlError(404, "not_found", f"no journal entry {seq} is held (dropped, or not yet made)")
    now = tenant.clock.now()
    wanted = {i for i in (entry.token, entry.issued) if i}
    found = await tokens_by_id(tenant, wanted)
    tokens = []
    for role, token_id in (("presented", entry.token), ("issued", entry.issued)):
        if token_id:
            token = found.get(token_id)
            tokens.append(
                {
                    "role": role,
                    "id": token_id,
                    "token": token_row(token, now) if token is not None else None,
                    "lineage": lineage(token.link, now, 4 * EVENTS)
                    if token is not None and token.link is not None
                    else None,
                }
            )
    fault_id = entry.fault.rpartition("#")[2] if entry.fault else None
    fault = next((f for f in tenant.faults if f.id == fault_id), None) if fault_id else None
    certificate = tenant.certificates.get(entry.cert) if entry.cert else None
    return render_tenant(
        request,
        tenant,
        "control/entry.html",
        "journal",
        entry=entry_row(entry),
        wall=wall(entry.wall),
        done=wall(entry.done) if entry.done else None,
        took_ms=round((entry.done - entry.wall) * 1000, 2) if entry.done else None,
        tokens=tokens,
        fault=_fault_row(fault) if fault is not None else None,
        certificate=certificate,
        certificate_state=certificate.state(now).value if certificate is not None else None,
        certificate_times=(iso_millis(certificate.not_before), iso_millis(certificate.not_after))
        if certificate is not None
        else None,
    )


def _find_entry(entries: list[Entry], seq: int) -> Entry | None:
    return next((e for e in reversed(entries) if e.seq == seq), None)
