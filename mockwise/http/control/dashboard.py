"""Pages for a developer at their desk: the tenants, one tenant's live state, and the API docs."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from mockwise.domain.clock import iso_millis
from mockwise.domain.journal import Entry
from mockwise.domain.tenant import Tenant
from mockwise.domain.tokens import Token, TokenKind
from mockwise.http.control.common import (
    PREFIX,
    clock_json,
    endpoint,
    live_tokens,
    sandbox_of,
    tenant_of,
    user_json,
)
from mockwise.http.openapi import openapi_document
from mockwise.http.responses import WiseJSON

templates = Jinja2Templates(directory=Path(__file__).resolve().parents[2] / "templates")
JOURNAL_ROWS = 200


def _page(request: Request, name: str, **context: Any) -> Response:
    refresh = request.query_params.get("refresh", "")
    context |= {"prefix": PREFIX, "refresh": refresh if refresh.isdigit() else None}
    return templates.TemplateResponse(request, name, context)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        f"{sign}{days}d {hours:02d}:{minutes:02d}:{secs:02d}"
        if days
        else f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}"
    )


@endpoint
async def index(request: Request) -> Response:
    """
    summary: Dashboard (HTML) listing the tenants
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
    """
    rows = []
    for tenant in sandbox_of(request).tenants.values():
        now = tenant.clock.now()
        rows.append(
            {
                "id": tenant.id,
                "clock": iso_millis(now),
                "frozen": tenant.clock.frozen,
                "clients": len(tenant.directory.clients),
                "users": len(tenant.directory.users),
                "live": len(live_tokens(tenant, now)),
                "journal": len(tenant.journal),
                "faults": len(tenant.faults),
            }
        )
    return _page(request, "control/index.html", tenants=rows)


@endpoint
async def tenant_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for one tenant
    description: Clock, clients, users, live tokens with their remaining lifetime, each token's
      lineage (issued, refreshed, superseded, revoked and why), faults and the journal.
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      404: {description: "No such tenant."}
    """
    tenant = tenant_of(request)
    now = tenant.clock.now()
    tokens = sorted(tenant.store, key=lambda t: t.issued_at)
    alive = set(live_tokens(tenant, now))
    live = [
        {
            "id": t.id,
            "kind": t.kind.value,
            "client_id": t.client_id,
            "user_id": t.user_id,
            "profile_id": t.profile_id,
            "remaining": _duration(t.expires_at - now),
        }
        for t in reversed(tokens)
        if t in alive
    ]
    journal = [_entry_row(e) for e in reversed(list(tenant.journal)[-JOURNAL_ROWS:])]
    faults = [
        {
            "id": f.id,
            "kind": f.kind.value,
            "fired": f.fired,
            "times": f.times,
            "scope": " ".join(
                f"{k}={v}"
                for k, v in (("path", f.path), ("grant", f.grant_type), ("client", f.client_id))
                if v
            ),
        }
        for f in tenant.faults
    ]
    return _page(
        request,
        "control/tenant.html",
        tenant=tenant,
        clock=clock_json(tenant) | {"offset_human": _duration(tenant.clock.offset)},
        users=[user_json(tenant, u) for u in tenant.directory.users.values()],
        live=live,
        lineages=_lineages(tenant, tokens, now),
        faults=faults,
        journal=journal,
        dropped=tenant.journal.dropped,
    )


def _entry_row(entry: Entry) -> dict[str, Any]:
    row = entry.as_json()
    row["at"] = iso_millis(entry.at)
    return row


def _lineages(tenant: Tenant, tokens: list[Token], now: float) -> list[dict[str, Any]]:
    """Each user link's story, oldest token first: issued by which grant, ended and why."""
    by_link: dict[int, list[Token]] = defaultdict(list)
    for token in tokens:
        if token.link is not None:
            by_link[token.link.id].append(token)
    stories = []
    for link_id, members in sorted(by_link.items(), reverse=True):
        link = members[0].link
        assert link is not None
        events = []
        for token in members:
            kind = "refresh token" if token.kind is TokenKind.REFRESH else "access token"
            events.append(
                {
                    "at": iso_millis(token.issued_at),
                    "text": f"{kind} {token.id} issued by {token.grant_type}",
                    "state": token.state(now).value,
                }
            )
            if token.ended_at is not None and token.end_reason is not None:
                events.append(
                    {
                        "at": iso_millis(token.ended_at),
                        "text": f"{kind} {token.id} ended: {token.end_reason.value.replace('_', ' ')}",
                        "state": token.state(now).value,
                    }
                )
        events.sort(key=lambda e: e["at"])
        profile = f", profile {link.profile_id}" if link.profile_id else ""
        title = f"Link {link_id}: user {link.user_id} ↔ {link.client_id}{profile} (from {link.grant_type})"
        stories.append({"title": title, "events": events})
    return stories


@endpoint
async def openapi_json(request: Request) -> Response:
    """
    summary: The OpenAPI document of both planes
    tags: [dashboard]
    responses:
      200: {description: "OpenAPI 3.1 JSON."}
    """
    return WiseJSON(_openapi(request))


@endpoint
async def docs_page(request: Request) -> Response:
    """
    summary: The OpenAPI document as a page for humans
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
    """
    doc = _openapi(request)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            groups[(op.get("tags") or ["other"])[0]].append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "responses": sorted(str(code) for code in op.get("responses", {})),
                }
            )
    return _page(request, "control/docs.html", doc=doc, groups=sorted(groups.items()))


def _openapi(request: Request) -> dict[str, Any]:
    """The app's OpenAPI document, built once (its routes never change; a build parses every
    endpoint's YAML, about 70 ms)."""
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        state.openapi = openapi_document(request.app.routes)
    document: dict[str, Any] = state.openapi
    return document
