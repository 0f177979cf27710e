"""Pages for a developer at their desk: the tenants, one tenant's live state, and the API docs.

The tenant page is where a developer debugs from: its clock, clients and users, live tokens and
their lineage, faults, scenarios and the journal, with pages for the journal (and each entry),
tokens (and each token), the mailbox, certificates, SCA, rate limits and settings. Every page does
bounded work (a page of rows, counts from a scan off the loop; see `paging`), so a tenant with
100,000 tokens renders as fast as an empty one.

The pages act through the control plane itself: their buttons and forms are read by one static
script (`mockwise/static/control/dashboard.js`), which sends same-origin `fetch` requests with a
JSON body (`Content-Type: application/json`, as every control-plane write wants). No page holds an
inline script, and each is served with a Content-Security-Policy that allows none.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio.lowlevel
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from mockwise._domain.clock import iso_millis
from mockwise._domain.faults import Fault, FaultKind
from mockwise._domain.journal import Entry
from mockwise._domain.scenarios import SCENARIOS, Scenario
from mockwise._domain.settings import SECTIONS, Settings
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import Link, Token, TokenKind
from mockwise._http.control.common import (
    PREFIX,
    ControlError,
    clock_json,
    endpoint,
    known_parameters,
    known_state,
    sandbox_of,
    tenant_of,
    token_json,
    user_json,
)
from mockwise._http.control.paging import (
    STATES,
    integer,
    link,
    next_offset,
    offload,
    tokens_of,
    window_of,
)
from mockwise._http.openapi import openapi_document
from mockwise._http.responses import WiseJSON

PACKAGE = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=PACKAGE / "templates")  # autoescapes every .html template
STATIC = PACKAGE / "static"

#: Rows a page shows at most; the rest are counted and a pager (or a link) leads on.
ROWS = 50
PREVIEW = 20  # live tokens and journal entries on the tenant page
LINEAGES = 10  # user links on the tenant page
EVENTS = 12  # the latest events of a lineage on the tenant page; the token page shows more

#: No inline script or style anywhere; the try-it page also fetches from this origin only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _page(request: Request, name: str, **context: Any) -> Response:
    refresh = request.query_params.get("refresh", "")
    context |= {"prefix": PREFIX, "refresh": refresh if refresh.isdigit() and refresh != "0" else None}
    response = templates.TemplateResponse(request, name, context)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _tenant_page(request: Request, tenant: Tenant, name: str, section: str, **context: Any) -> Response:
    base = f"{PREFIX}/tenants/{tenant.id}"
    return _page(
        request, name, tenant=tenant, section=section, base=base, dash=f"{base}/dashboard", **context
    )


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


def _first(items: Iterable[Any], count: int) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if len(out) == count:
            break
        out.append(item)
    return out


# The tenants ---------------------------------------------------------------------------------


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
    return _page(
        request,
        "control/index.html",
        tenants=rows,
        total=len(tenants),
        offset=window.offset,
        next=next_offset(request, window, len(tenants)),
        previous=link(request, offset=max(0, window.offset - window.limit)) if window.offset else None,
    )


# One tenant ----------------------------------------------------------------------------------


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
            "remaining": _duration(t.expires_at - now),
        }
        for t in scan.page
    ]
    journal = [_entry_row(e) for e in tenant.journal.latest(PREVIEW)]
    directory = tenant.directory
    users = [user_json(tenant, u) for u in _first(list(directory.users.values()), ROWS)]
    return _tenant_page(
        request,
        tenant,
        "control/tenant.html",
        "overview",
        clock=clock_json(tenant) | {"offset_human": _duration(tenant.clock.offset)},
        clients=_first(list(directory.clients.values()), ROWS),
        client_count=len(directory.clients),
        users=users,
        user_count=len(directory.users),
        counts=scan.counts,
        live=live,
        lineages=[_lineage(link_, now, EVENTS) for link_ in scan.links],
        faults=[_fault_row(f) for f in tenant.faults],
        fault_kinds=[k.value for k in FaultKind],
        scenarios=[_scenario_form(s) for s in SCENARIOS.values()],
        user_refs=[u["email"] for u in users],
        client_ids=[c.client_id for c in _first(list(directory.clients.values()), ROWS)],
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


def _entry_row(entry: Entry) -> dict[str, Any]:
    row = entry.as_json()
    row["at"] = iso_millis(entry.at)
    return row


def _lineage(link_: Link, now: float, events: int) -> dict[str, Any]:
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


# The journal ---------------------------------------------------------------------------------

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
    return _tenant_page(
        request,
        tenant,
        "control/journal.html",
        "journal",
        entries=[_entry_row(e) for e in entries],
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
    found = await _tokens_by_id(tenant, wanted)
    tokens = []
    for role, token_id in (("presented", entry.token), ("issued", entry.issued)):
        if token_id:
            token = found.get(token_id)
            tokens.append(
                {
                    "role": role,
                    "id": token_id,
                    "token": _token_row(token, now) if token is not None else None,
                    "lineage": _lineage(token.link, now, 4 * EVENTS)
                    if token is not None and token.link is not None
                    else None,
                }
            )
    fault_id = entry.fault.rpartition("#")[2] if entry.fault else None
    fault = next((f for f in tenant.faults if f.id == fault_id), None) if fault_id else None
    certificate = tenant.certificates.get(entry.cert) if entry.cert else None
    return _tenant_page(
        request,
        tenant,
        "control/entry.html",
        "journal",
        entry=_entry_row(entry),
        wall=_wall(entry.wall),
        done=_wall(entry.done) if entry.done else None,
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


def _wall(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _tokens_by_id(tenant: Tenant, ids: set[str]) -> dict[str, Token]:
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


# Tokens --------------------------------------------------------------------------------------


def _token_row(token: Token, now: float) -> dict[str, Any]:
    """The listing's JSON (`token_json`), as a page shows it."""
    return {
        **token_json(token, now),
        "cause": token.end_reason.value.replace("_", " ") if token.end_reason else None,
        "remaining": _duration(max(0.0, token.expires_at - now)),
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
    return _tenant_page(
        request,
        tenant,
        "control/tokens.html",
        "tokens",
        tokens=[_token_row(t, now) for t in scan.page],
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
    token = (await _tokens_by_id(tenant, {token_id})).get(token_id)
    if token is None:
        raise ControlError(404, "not_found", f"no token {token_id!r} is held (never issued, or collected)")
    now = tenant.clock.now()
    journal = tenant.journal

    def mentions() -> list[Entry]:
        return [e for e in reversed(journal.select()) if token_id in (e.token, e.issued)][:ROWS]

    entries = await offload(mentions, len(journal))
    return _tenant_page(
        request,
        tenant,
        "control/token.html",
        "tokens",
        token=_token_row(token, now),
        lineage=_lineage(token.link, now, 200) if token.link is not None else None,
        entries=[_entry_row(e) for e in entries],
    )


# Mailbox, certificates, SCA, rate limits, settings -------------------------------------------


@endpoint
async def mailbox_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for a tenant's sandbox mailbox
    description: The newest 50 e-mails Wise would have sent, each with its link to follow.
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      404: {description: "No such tenant."}
    """
    tenant = tenant_of(request)
    base = str(request.base_url).rstrip("/")
    mailbox = list(tenant.linking.mailbox)
    mails = [
        {
            "id": m.id,
            "to": m.to,
            "subject": m.subject,
            "text": m.text,
            "url": base + m.link,
            "client_id": m.client_id,
            "sent_at": iso_millis(m.sent_at),
        }
        for m in _first(reversed(mailbox), ROWS)
    ]
    return _tenant_page(request, tenant, "control/mailbox.html", "mailbox", mails=mails, total=len(mailbox))


@endpoint
async def certificates_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for a tenant's client certificates and mTLS enforcement
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      404: {description: "No such tenant."}
    """
    tenant = tenant_of(request)
    now = tenant.clock.now()
    clients = []
    for client in _first(list(tenant.directory.clients.values()), ROWS):
        records = tenant.certificates.of_client(client.client_id)
        clients.append(
            {
                "client_id": client.client_id,
                "name": client.name,
                "mtls_enforced": client.mtls_enforced,
                "certificates": [
                    {
                        "fingerprint": r.fingerprint,
                        "name": r.name,
                        "subject": r.subject,
                        "not_before": iso_millis(r.not_before),
                        "not_after": iso_millis(r.not_after),
                        "origin": r.origin,
                        "state": r.state(now).value,
                    }
                    for r in records[-ROWS:]
                ],
                "more": max(0, len(records) - ROWS),
            }
        )
    return _tenant_page(
        request,
        tenant,
        "control/certificates.html",
        "certificates",
        clients=clients,
        client_count=len(tenant.directory.clients),
        binding=tenant.settings.mtls.token_binding,
    )


@endpoint
async def sca_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for a tenant's strong customer authentication
    description: The tenant's SCA switches, and per user (the first 50) whether SCA is required,
      their SCA keys and any lockout.
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      404: {description: "No such tenant."}
    """
    tenant = tenant_of(request)
    described = tenant.sca.describe()
    states = described["users"]
    users = []
    for user in _first(list(tenant.directory.users.values()), ROWS):
        state = states.get(str(user.id), {})
        locked = state.get("locked_until")
        users.append(
            {
                "id": user.id,
                "email": user.email,
                "required": state.get("required"),
                "keys": state.get("keys", []),
                "locked_until": iso_millis(locked) if locked else None,
            }
        )
    return _tenant_page(
        request,
        tenant,
        "control/sca.html",
        "sca",
        users=users,
        user_count=len(tenant.directory.users),
        one_time_tokens=described["one_time_tokens"],
        settings=_settings_rows(tenant.settings, "sca"),
    )


@endpoint
async def rate_limits_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for a tenant's rate limits and what each caller used of them
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      404: {description: "No such tenant."}
    """
    tenant = tenant_of(request)
    usage = sorted(tenant.rate_limits.usage().items(), key=lambda kv: -kv[1]["last_minute"])
    return _tenant_page(
        request,
        tenant,
        "control/rate_limits.html",
        "rate-limits",
        usage=usage[:ROWS],
        callers=len(usage),
        settings=_settings_rows(tenant.settings, "rate_limits"),
    )


@endpoint
async def settings_page(request: Request) -> Response:
    """
    summary: Dashboard (HTML) for a tenant's settings, section by section, with their documentation
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
      404: {description: "No such tenant."}
    """
    tenant = tenant_of(request)
    sections = [
        {
            "name": section.name,
            "doc": " ".join((section.__doc__ or "").split()),
            "rows": _settings_rows(tenant.settings, section.name),
        }
        for section in SECTIONS
    ]
    return _tenant_page(
        request,
        tenant,
        "control/settings.html",
        "settings",
        sections=sections,
        changed=tenant.settings.changed(),
    )


def _settings_rows(settings: Settings, section_name: str) -> list[dict[str, Any]]:
    """Each setting of one section: its key, value, default, documentation and an input to edit it."""
    section = next(s for s in SECTIONS if s.name == section_name)
    hints = typing.get_type_hints(section)
    docs = Settings.docs()
    default = section()
    rows = []
    for item in dataclasses.fields(section):
        key = f"{section.name}.{item.name}"
        kind = hints[item.name]
        value = settings.get(key)
        input_: dict[str, Any]
        if typing.get_origin(kind) is Literal:
            choices = list(typing.get_args(kind))
            input_ = {"widget": "select", "type": "int" if isinstance(choices[0], int) else "str"}
            input_["choices"] = [str(c) for c in choices]
        elif kind is bool:
            input_ = {"widget": "select", "type": "bool", "choices": ["true", "false"]}
        elif kind is int:
            input_ = {"widget": "number", "type": "int"}
        else:
            input_ = {"widget": "text", "type": "str"}
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        rows.append(
            {
                "key": key,
                "value": shown,
                "default": str(getattr(default, item.name)).lower()
                if isinstance(value, bool)
                else str(getattr(default, item.name)),
                "changed": value != getattr(default, item.name),
                "doc": docs.get(key, ""),
                **input_,
            }
        )
    return rows


# The API documents ---------------------------------------------------------------------------


@endpoint
async def openapi_json(request: Request) -> Response:
    """
    summary: The OpenAPI document of both planes
    tags: [dashboard]
    responses:
      200: {description: "OpenAPI 3.1 JSON."}
    """
    return WiseJSON(await _openapi(request))


@endpoint
async def openapi_30_json(request: Request) -> Response:
    """
    summary: The OpenAPI document of both planes, as OpenAPI 3.0 (for the try-it page)
    description: The same operations as `openapi.json`, written in OpenAPI 3.0.3, which the
      packaged Swagger UI of the try-it page reads.
    tags: [dashboard]
    responses:
      200: {description: "OpenAPI 3.0.3 JSON."}
    """
    state = request.app.state
    if getattr(state, "openapi_30", None) is None:
        document = await _openapi(request)
        state.openapi_30 = await anyio.to_thread.run_sync(as_openapi_30, document)
    return WiseJSON(state.openapi_30)


@endpoint
async def docs_page(request: Request) -> Response:
    """
    summary: The OpenAPI document as a page for humans
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
    """
    doc = await _openapi(request)
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            groups.setdefault((op.get("tags") or ["other"])[0], []).append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "responses": sorted(str(code) for code in op.get("responses", {})),
                }
            )
    return _page(request, "control/docs.html", doc=doc, groups=sorted(groups.items()))


@endpoint
async def try_page(request: Request) -> Response:
    """
    summary: "Try the API (HTML): Swagger UI, served from this package, never a CDN"
    description: Every operation of both planes with a "Try it out" button; requests go to this
      server, the control plane's writes as JSON.
    tags: [dashboard]
    responses:
      200: {description: "An HTML page.", content: {text/html: {}}}
    """
    return _page(request, "control/try.html")


async def _openapi(request: Request) -> dict[str, Any]:
    """The app's OpenAPI document, built once (its routes never change; a build parses every
    endpoint's YAML, about 70 ms: off the loop)."""
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        state.openapi = await anyio.to_thread.run_sync(openapi_document, request.app.routes)
    document: dict[str, Any] = state.openapi
    return document


def as_openapi_30(document: dict[str, Any]) -> dict[str, Any]:
    """`document` (OpenAPI 3.1) written as OpenAPI 3.0.3: the version, and schema keywords 3.0
    spells differently (a type list with "null" → `nullable`, `const` → a one-value `enum`,
    `examples` → `example`, numeric `exclusiveMinimum`/`exclusiveMaximum` → the boolean form)."""

    def convert(node: Any, in_schema: bool = False) -> Any:
        if isinstance(node, list):
            return [convert(item, in_schema) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            schema_child = key in {"schema", "items", "additionalProperties", "not"} or (
                in_schema and key in {"allOf", "anyOf", "oneOf"}
            )
            if isinstance(value, dict) and (key == "schemas" or (key == "properties" and in_schema)):
                out[key] = {name: convert(v, True) for name, v in value.items()}
            else:
                out[key] = convert(value, schema_child or (in_schema and key not in {"example"}))
        if in_schema:
            kind = out.get("type")
            if isinstance(kind, list):
                others = [k for k in kind if k != "null"]
                if "null" in kind:
                    out["nullable"] = True
                if len(others) == 1:
                    out["type"] = others[0]
                else:
                    del out["type"]
                    out["anyOf"] = [{"type": k} for k in others]
            if "const" in out:
                out["enum"] = [out.pop("const")]
            if isinstance(out.get("examples"), list):
                examples = out.pop("examples")
                if examples:
                    out.setdefault("example", examples[0])
            for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
                if isinstance(out.get(bound), int | float) and not isinstance(out.get(bound), bool):
                    out[plain] = out[bound]
                    out[bound] = True
        return out

    converted: dict[str, Any] = convert(document)
    converted["openapi"] = "3.0.3"
    converted.pop("jsonSchemaDialect", None)
    converted.pop("webhooks", None)
    return converted


def tenant_routes() -> list[BaseRoute]:
    """The dashboard's pages of one tenant, mounted under `/tenants/{tenant}`."""
    return [
        Route("/dashboard", tenant_page, methods=["GET"]),
        Route("/dashboard/journal", journal_page, methods=["GET"]),
        Route("/dashboard/journal/{seq:int}", entry_page, methods=["GET"]),
        Route("/dashboard/tokens", tokens_page, methods=["GET"]),
        Route("/dashboard/tokens/{token_id}", token_page, methods=["GET"]),
        Route("/dashboard/mailbox", mailbox_page, methods=["GET"]),
        Route("/dashboard/certificates", certificates_page, methods=["GET"]),
        Route("/dashboard/sca", sca_page, methods=["GET"]),
        Route("/dashboard/rate-limits", rate_limits_page, methods=["GET"]),
        Route("/dashboard/settings", settings_page, methods=["GET"]),
    ]


def site_routes() -> list[BaseRoute]:
    """The dashboard's pages and assets outside any tenant."""
    from swagger_ui_bundle import swagger_ui_path  # the packaged Swagger UI (no CDN)

    return [
        Route("/", index, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/openapi-3.0.json", openapi_30_json, methods=["GET"]),
        Route("/docs", docs_page, methods=["GET"]),
        Route("/docs/try", try_page, methods=["GET"]),
        Mount("/static/swagger-ui", app=StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui"),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
