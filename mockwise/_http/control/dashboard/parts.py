"""The pages of a tenant's other parts: the mailbox, certificates, SCA, rate limits and settings."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from mockwise._domain.clock import iso_millis
from mockwise._domain.settings import SECTIONS, Settings
from mockwise._http.control.common import (
    endpoint,
    tenant_of,
)
from mockwise._http.control.dashboard.pages import ROWS, first, render_tenant


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
        for m in first(reversed(mailbox), ROWS)
    ]
    return render_tenant(request, tenant, "control/mailbox.html", "mailbox", mails=mails, total=len(mailbox))


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
    for client in first(list(tenant.directory.clients.values()), ROWS):
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
    return render_tenant(
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
    for user in first(list(tenant.directory.users.values()), ROWS):
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
    return render_tenant(
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
    return render_tenant(
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
    return render_tenant(
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
