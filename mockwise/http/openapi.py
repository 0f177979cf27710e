"""OpenAPI for both planes, collected from each endpoint's docstring (YAML), and a page for humans.

Starlette's `SchemaGenerator` reads the docstrings; this module adds what they need not repeat:
shared components, and the declaration of every `{path}` parameter (typed from the route's
converter).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import BaseRoute
from starlette.schemas import SchemaGenerator

from mockwise import __version__

OAUTH_ERROR = {
    "type": "object",
    "required": ["error", "error_description"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
COMPONENTS: dict[str, Any] = {
    "securitySchemes": {
        "basicAuth": {"type": "http", "scheme": "basic", "description": "client_id:client_secret"},
        "bearerAuth": {"type": "http", "scheme": "bearer"},
        "adminToken": {"type": "http", "scheme": "bearer", "description": "needed from non-loopback callers"},
    },
    "schemas": {
        "OAuthError": OAUTH_ERROR,
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
    for path, operations in schema.get("paths", {}).items():
        names = _PARAM.findall(path)
        for operation in operations.values():
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
    return schema


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
