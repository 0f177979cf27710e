"""The tenants page, and one tenant's page: the page a developer debugs from (its clock, clients
and users, live tokens and their lineage, faults, scenarios and the latest journal entries)."""

from __future__ import annotations

from typing import Any

import anyio.lowlevel
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from mockwise._domain.clock import iso_millis
from mockwise._domain.entries import Entry
from mockwise._domain.faults import Fault, FaultKind
from mockwise._domain.scenarios import SCENARIOS, Scenario
from mockwise._domain.tokens import Link, TokenKind
from mockwise._http.control.common import (
    clock_json,
    endpoint,
    sandbox_of,
    tenant_of,
    user_json,
)
from mockwise._http.control.dashboard.pages import (
    EVENTS,
    LINEAGES,
    PREVIEW,
    ROWS,
    duration,
    first,
    render,
    render_tenant,
)
from mockwise._http.control.paging import (
    link,
    next_offset,
    tokens_of,
    window_of,
)


@endpoint
async def index(request: Request) -> Response:
    """
    summary: Dashboard (HTML) listing the tenants
    description: >
      One page of tenants, newest first (`limit`, default 50, at most 1000; `offset`), with the
      total and a link to the next page.
    tags: [dashboard]
    parameters:
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 50}}
      - {name: offset, in: query, schema: {type: integer, minimum: 0, maximum: 1000000000000, default: 0}}
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      400: {description: "A bad limit or offset."}
    """
    window = window_of(request, ROWS)
    tenants = list(reversed(sandbox_of(request).tenants.values()))
    rows = []
    for tenant in tenants[window.offset : window.offset + window.limit]:
        counts = (await tokens_of(tenant)).counts
        await anyio.lowlevel.checkpoint()  # let the loop serve others between rows
        rows.append(
            {
                "id": tenant.id,
                "clock": iso_millis(tenant.clock.now()),
                "frozen": tenant.clock.frozen,
                "clients": len(tenant.directory.clients),
                "users": len(tenant.directory.users),
                "live": counts["valid"],
                "tokens": sum(counts.values()),
                "journal": len(tenant.journal),
                "faults": len(tenant.faults),
            }
        )
    return render(
        request,
        "control/index.html",
        tenants=rows,
        total=len(tenants),
        offset=window.offset,
        next=next_offset(request, window, len(tenants)),
        previous=link(request, offset=max(0, window.offset - window.limit)) if window.offset else None,
    )


@endpoint
async def tenant_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for one tenant
    description: >
      Clock (advance, set, freeze), clients, users, the newest live tokens with their remaining
      lifetime, the newest token lineages (issued, refreshed, superseded, revoked and why),
      faults (arm, disarm), scenarios (trigger) and the latest journal entries; links to the
      journal, tokens, mailbox, certificates, SCA, rate limits and settings pages. Bounded: the
      newest 20 live tokens and journal entries, 10 lineages, 50 clients and users, with counts.
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      404: {description: "No such tenant."}
    """
    tenant = tenant_of(request)
    now = tenant.clock.now()
    scan = await tokens_of(tenant, state="valid", limit=PREVIEW, links=LINEAGES)
    live = [
        {
            "id": t.id,
            "kind": t.kind.value,
            "client_id": t.client_id,
            "user_id": t.user_id,
            "profile_id": t.profile_id,
            "remaining": duration(t.expires_at - now),
        }
        for t in scan.page
    ]
    journal = [entry_row(e) for e in tenant.journal.latest(PREVIEW)]
    directory = tenant.directory
    users = [user_json(tenant, u) for u in first(list(directory.users.values()), ROWS)]
    return render_tenant(
        request,
        tenant,
        "control/tenant.html",
        "overview",
        clock=clock_json(tenant) | {"offset_human": duration(tenant.clock.offset)},
        clients=first(list(directory.clients.values()), ROWS),
        client_count=len(directory.clients),
        users=users,
        user_count=len(directory.users),
        counts=scan.counts,
        live=live,
        lineages=[lineage(link_, now, EVENTS) for link_ in scan.links],
        faults=[_fault_row(f) for f in tenant.faults],
        fault_kinds=[k.value for k in FaultKind],
        scenarios=[_scenario_form(s) for s in SCENARIOS.values()],
        user_refs=[u["email"] for u in users],
        client_ids=[c.client_id for c in first(list(directory.clients.values()), ROWS)],
        journal=journal,
        journal_held=len(tenant.journal),
        dropped=tenant.journal.dropped,
    )


def _fault_row(fault: Fault) -> dict[str, Any]:
    scope = (
        ("path", fault.path),
        ("method", fault.method),
        ("grant", fault.grant_type),
        ("client", fault.client_id),
        ("event", fault.event_type),
    )
    return {
        "id": fault.id,
        "kind": fault.kind.value,
        "label": fault.label,
        "fired": fault.fired,
        "times": fault.times,
        "exhausted": fault.exhausted,
        "scope": " ".join(f"{k}={v}" for k, v in scope if v),
    }


def _scenario_form(scenario: Scenario) -> dict[str, Any]:
    """A scenario's form, from the domain's registry: one input per parameter."""
    return {
        "name": scenario.name,
        "doc": scenario.doc,
        "params": [
            {
                "name": p.name,
                "required": p.required,
                "doc": p.doc,
                "type": "user" if p.user else "str",
                "list": "dash-users" if p.user else "dash-clients" if p.name == "client_id" else None,
            }
            for p in scenario.params
        ],
    }


def entry_row(entry: Entry) -> dict[str, Any]:
    row = entry.as_json()
    row["at"] = iso_millis(entry.at)
    return row


def lineage(link_: Link, now: float, events: int) -> dict[str, Any]:
    """A user link's story, oldest event first (the latest `events` of them): each token issued
    by which grant, and when and why it ended."""
    members = [link_.refresh, *link_.history.values()]
    if link_.access is not None:
        members.append(link_.access)
    unique = list({t.key: t for t in members}.values())
    story = []
    for token in unique:
        kind = "refresh token" if token.kind is TokenKind.REFRESH else "access token"
        state = token.state(now).value
        story.append((token.issued_at, f"{kind} {token.id} issued by {token.grant_type}", state, token.id))
        if token.ended_at is not None and token.end_reason is not None:
            why = token.end_reason.value.replace("_", " ")
            story.append((token.ended_at, f"{kind} {token.id} ended: {why}", state, token.id))
    story.sort(key=lambda e: e[0])
    profile = f", profile {link_.profile_id}" if link_.profile_id else ""
    return {
        "title": f"Link {link_.id}: user {link_.user_id} ↔ {link_.client_id}{profile}"
        f" (from {link_.grant_type})",
        "earlier": max(0, len(story) - events),
        "events": [
            {"at": iso_millis(at), "text": text, "state": state, "token": token}
            for at, text, state, token in story[-events:]
        ],
    }
