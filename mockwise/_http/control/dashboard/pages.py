"""What every dashboard page shares: the templates, the page limits, the Content-Security-Policy,
and how a page is rendered (`render`, `render_tenant`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from mockwise._domain.tenant import Tenant
from mockwise._http.control.common import (
    PREFIX,
)

PACKAGE = Path(__file__).resolve().parents[3]


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


def render(request: Request, name: str, **context: Any) -> Response:
    refresh = request.query_params.get("refresh", "")
    context |= {"prefix": PREFIX, "refresh": refresh if refresh.isdigit() and refresh != "0" else None}
    response = templates.TemplateResponse(request, name, context)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def render_tenant(request: Request, tenant: Tenant, name: str, section: str, **context: Any) -> Response:
    base = f"{PREFIX}/tenants/{tenant.id}"
    return render(
        request, name, tenant=tenant, section=section, base=base, dash=f"{base}/dashboard", **context
    )


def duration(seconds: float) -> str:
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


def first(items: Iterable[Any], count: int) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if len(out) == count:
            break
        out.append(item)
    return out


def wall(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
