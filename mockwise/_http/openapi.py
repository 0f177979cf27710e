"""OpenAPI for both planes, collected from each endpoint's docstring (YAML), and a page for humans.

Starlette's `SchemaGenerator` reads the docstrings; this module adds what they need not repeat:
shared components, and the declaration of every `{path}` parameter (typed from the route's
converter).
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from mockwise._domain.directory import PROFILE_TEXT
from mockwise._domain.model import Address
from mockwise._domain.settings import RateLimits, json_schema
from mockwise._domain.webhook_events import EVENT_TYPES
from mockwise._http.control.common import PREFIX
from mockwise._http.control.fidelity import LEGACY
from mockwise._http.pipeline import Auth, Endpoint, Needs
from mockwise._version import __version__

OAUTH_ERROR = {
    "type": "object",
    "required": ["error", "error_description"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
COMPONENTS: dict[str, Any] = {
    "parameters": {
        "OneTimeToken": {
            "name": "One-Time-Token",
            "in": "header",
            "required": True,
            "description": "The one-time token of an SCA challenge (`x-2fa-approval`, reference §5.3).",
            "schema": {"type": "string", "minLength": 1, "pattern": "^[!-~]+$"},
        }
    },
    "securitySchemes": {
        "basicAuth": {"type": "http", "scheme": "basic", "description": "client_id:client_secret"},
        "bearerAuth": {"type": "http", "scheme": "bearer"},
        "adminToken": {"type": "http", "scheme": "bearer", "description": "needed from non-loopback callers"},
    },
    "schemas": {
        "ProfileSpec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["personal", "business"]},
                "address": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "properties": {f.name: {"type": "string"} for f in fields(Address)},
                },
                "balances": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["currency"],
                        "properties": {
                            "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
                            "amount": {"type": "number"},
                        },
                    },
                },
                "date_of_birth": {
                    "type": ["string", "null"],
                    "format": "date",
                    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                },
                **{name: {"type": "string"} for name in sorted(PROFILE_TEXT)},
            },
        },
        "Settings": json_schema(),
        "LegacySettings": json_schema(LEGACY),
        "RateLimitSettings": json_schema({f.name: f"rate_limits.{f.name}" for f in fields(RateLimits)}),
        "OAuthError": OAUTH_ERROR,
        "SubscriptionRequest": {
            "type": "object",
            "required": ["name", "trigger_on", "delivery"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 255},
                "trigger_on": {"type": "string", "enum": sorted(EVENT_TYPES)},
                "delivery": {
                    "type": "object",
                    "required": ["version", "url"],
                    "properties": {
                        "version": {"type": "string", "example": "4.0.0"},
                        "url": {"type": "string", "format": "uri", "maxLength": 2048},
                        "mtls_enabled": {"type": "boolean"},
                    },
                },
            },
        },
        "TokenResponse": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in", "scope"],
            "properties": {
                "access_token": {"type": "string"},
                "token_type": {"type": "string", "enum": ["bearer"]},
                "refresh_token": {"type": "string"},
                "expires_in": {"type": "integer", "example": 43199},
                "expires_at": {"type": "string", "example": "2025-04-11T03:43:28.148Z"},
                "refresh_token_expires_in": {"type": "integer", "example": 628639555},
                "refresh_token_expires_at": {"type": "string"},
                "scope": {"type": "string", "enum": ["transfers"]},
                "created_at": {"type": "string"},
            },
        },
        "ValidationErrors": {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "path": {"type": "string"},
                            "arguments": {"type": "array", "items": {}},
                        },
                    },
                }
            },
        },
        "ControlError": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        },
        "SpringError": {
            "type": "object",
            "properties": {
                "timestamp": {"type": "string"},
                "status": {"type": "integer"},
                "error": {"type": "string"},
                "message": {"type": "string"},
                "path": {"type": "string"},
            },
        },
    },
    "responses": {
        "Refusal": {
            "description": (
                "Refused: an OAuth error (a bad token, an mTLS failure: `mtls.refusal_status`), Spring's "
                "403 (no access; an SCA challenge, with `x-2fa-approval`), or a JOSE refusal "
                "(`jose.refusal_status`), each a JSON object (reference §5, §6, §7, §10)."
            ),
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "RateLimited": {
            "description": "Past the rate limits: an empty body, `Retry-After` (unless switched off) (§9).",
            "headers": {
                "Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}},
                "X-Rate-Limited-By": {"required": True, "schema": {"type": "string"}},
            },
        },
        "TooLarge": {
            "description": "A body (413) or headers (431) past the tenant's `limits` (Spring's error body).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SpringError"}}},
        },
        "ServerError": {
            "description": (
                "A JWE that cannot be decrypted (Wise's generic 500, §7.3), or a fault the tenant armed "
                "(`server_error`: Spring's body; `gateway_html`: a gateway's HTML page)."
            ),
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/SpringError"}},
                "text/html": {"schema": {"type": "string"}},
            },
        },
        "NotFound": {
            "description": "No such resource (Spring's error body).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SpringError"}}},
        },
        "ControlError": {
            "description": (
                "The control plane's error: 400 a bad body or value, 403 a caller the guard refuses "
                "(`forbidden`, `unknown_host`, `cross_site`), 404 no such tenant or resource, 409 a "
                "conflict, 413 too large, 415 a write that is not JSON."
            ),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ControlError"}}},
        },
        "OAuthError": {
            "description": "An OAuth error (reference §2.6, §10).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}},
        },
        "ValidationErrors": {
            "description": "Field errors (reference §4, §10).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrors"}}},
        },
        "SpringError": {
            "description": "Spring Boot's error body (reference §10).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SpringError"}}},
        },
    },
}

_PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")


def openapi_document(routes: list[BaseRoute]) -> dict[str, Any]:
    generator = SchemaGenerator(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "mockwise: Wise Platform API sandbox (data plane) and control plane (/_mockwise)",
                "version": __version__,
                "description": (
                    "Data-plane paths also answer under a CalVer prefix (/2026Q3/oauth/token), and "
                    "under their 2026Q3 names (/2026Q3/me for /v1/me; see docs/calver-2026q3.md)."
                ),
            },
            "components": COMPONENTS,
        }
    )
    schema = generator.get_schema(routes)
    typed = _typed_params(routes)
    kinds = _kinds(routes)
    for path, operations in schema.get("paths", {}).items():
        names = _PARAM.findall(path)
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
            extra = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": typed.get((path, name), {"type": "string"}),
                }
                for name, _ in names
                if name not in declared
            ]
            if extra:
                operation["parameters"] = [*extra, *operation.get("parameters", [])]
            operation.setdefault("responses", {"200": {"description": "OK"}})
            _add_standard_answers(operation, method, kinds.get((path, method)), bool(names))
    return schema


WRITES = frozenset({"post", "put", "patch", "delete"})
PAGING = frozenset({"limit", "offset", "since", "before"})  # the control plane's page cursors
CONTROL = "control"  # a route of the control plane, behind `ControlGuard`


def _add_standard_answers(
    operation: dict[str, Any], method: str, kind: Needs | str | None, has_path_params: bool
) -> None:
    """The answers every operation of a kind may give, which its docstring need not repeat: the
    control plane's guard and body reader, the data plane's edge and request pipeline (what the
    route declared: its caller, JOSE)."""
    responses = operation["responses"] = {str(k): v for k, v in operation["responses"].items()}

    def add(statuses: tuple[str, ...], component: str) -> None:
        for status in statuses:
            responses.setdefault(status, {"$ref": f"#/components/responses/{component}"})

    body = "requestBody" in operation
    if body and any(
        media.get("schema", {}).get("required")
        for media in operation["requestBody"].get("content", {}).values()
    ):
        operation["requestBody"]["required"] = True  # a body with required fields is itself required
    queried = any(p.get("in") == "query" for p in operation.get("parameters", ()))
    for parameter in operation.get("parameters", ()):
        if parameter.get("in") == "query" and parameter.get("name") in PAGING:
            parameter["allowEmptyValue"] = True  # `paging.integer` reads `?limit=` as the default
    if kind == CONTROL:
        add(("403",), "ControlError")
        if body or queried:
            add(("400",), "ControlError")
        if method in WRITES:
            add(("415",), "ControlError")
        if body:
            add(("413",), "ControlError")
        if has_path_params:
            add(("404",), "ControlError")
    elif isinstance(kind, Needs):
        add(("431",), "TooLarge")
        add(("5XX",), "ServerError")
        if body:
            add(("400",), "SpringError")
            add(("413",), "TooLarge")
        if has_path_params:
            add(("404",), "NotFound")
        if kind.auth in (Auth.BEARER, Auth.CLIENT):
            add(("401",), "OAuthError")
            add(("403",), "Refusal")
            add(("429",), "RateLimited")
        if kind.jose != "no":
            add(("400", "401", "403"), "Refusal")


def _kinds(routes: list[BaseRoute], prefix: str = "", control: bool = False) -> dict[tuple[str, str], Any]:
    """(document path, method) → the route's `Needs` (data plane) or `CONTROL`."""
    found: dict[tuple[str, str], Any] = {}
    for route in routes:
        path = prefix + getattr(route, "path", "")
        children = getattr(route, "routes", None)
        if children:
            found |= _kinds(children, path, control or path == PREFIX)
        elif isinstance(route, Route):
            clean = _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)
            kind = CONTROL if control else route.needs if isinstance(route, Endpoint) else None
            found |= {(clean, m.lower()): kind for m in route.methods or ()}
    return found


def _typed_params(routes: list[BaseRoute]) -> dict[tuple[str, str], dict[str, str]]:
    """`{user_id:int}` in a route path → an integer path parameter in the document."""
    typed: dict[tuple[str, str], dict[str, str]] = {}
    for raw in _raw_paths(routes):
        clean = _PARAM.sub(lambda m: "{" + m.group(1) + "}", raw)
        for name, converter in _PARAM.findall(raw):
            if converter == "int":
                typed[(clean, name)] = {"type": "integer"}
    return typed


def _raw_paths(routes: list[BaseRoute], prefix: str = "") -> list[str]:
    found: list[str] = []
    for route in routes:
        path = getattr(route, "path", "")
        children = getattr(route, "routes", None)
        if children:
            found += _raw_paths(children, prefix + path)
        elif path:
            found.append(prefix + path)
    return found
