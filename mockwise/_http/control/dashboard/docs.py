"""The API documents: OpenAPI 3.1 and 3.0 JSON, a page for humans, and the try-it page."""

from __future__ import annotations

from typing import Any

import anyio.lowlevel
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from mockwise._http.control.common import (
    endpoint,
)
from mockwise._http.control.dashboard.pages import render
from mockwise._http.openapi import as_openapi_30, openapi_document
from mockwise._http.responses import WiseJSON


@endpoint
async def openapi_json(request: Request) -> Response:
    """
    summary: The OpenAPI document of both planes
    tags: [dashboard]
    responses:
      200: {description: "OpenAPI 3.1 JSON."}
    """
    return WiseJSON(await openapi_of(request))


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
        document = await openapi_of(request)
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
    doc = await openapi_of(request)
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
    return render(request, "control/docs.html", doc=doc, groups=sorted(groups.items()))


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
    return render(request, "control/try.html")


async def openapi_of(request: Request) -> dict[str, Any]:
    """The app's OpenAPI document, built once (its routes never change; a build parses every
    endpoint's YAML, about 70 ms: off the loop)."""
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        state.openapi = await anyio.to_thread.run_sync(openapi_document, request.app.routes)
    document: dict[str, Any] = state.openapi
    return document
