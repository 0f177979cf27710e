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

One module per group of pages: `tenants`, `journal`, `tokens`, `parts` (mailbox, certificates,
SCA, rate limits, settings) and `docs` (the API documents), on what `pages` shares.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mockwise._http.control.dashboard.docs import docs_page, openapi_30_json, openapi_json, try_page
from mockwise._http.control.dashboard.journal import entry_page, journal_page
from mockwise._http.control.dashboard.pages import STATIC
from mockwise._http.control.dashboard.parts import (
    certificates_page,
    mailbox_page,
    rate_limits_page,
    sca_page,
    settings_page,
)
from mockwise._http.control.dashboard.tenants import index, tenant_page
from mockwise._http.control.dashboard.tokens import token_page, tokens_page


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
