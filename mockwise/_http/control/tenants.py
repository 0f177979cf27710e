"""Tenants, their settings, and seeding them with clients, users and profiles."""

from __future__ import annotations

from datetime import date
from typing import Any

import anyio.lowlevel
from starlette.requests import Request
from starlette.responses import Response

from mockwise._domain.directory import check_profile
from mockwise._domain.model import Address, Profile, User
from mockwise._domain.settings import Settings
from mockwise._domain.tenant import Tenant
from mockwise._http.control.common import (
    PREFIX,
    ControlError,
    body_of,
    described_settings,
    endpoint,
    field,
    profile_json,
    sandbox_of,
    tenant_json,
    tenant_of,
    user_json,
)
from mockwise._http.control.fidelity import dotted
from mockwise._http.control.paging import next_offset, tokens_of, window_of
from mockwise._http.responses import WiseJSON

KEYS = {key: key for key in Settings().as_dict()}  # every setting, shown by its dotted key


@endpoint
async def list_tenants(request: Request) -> Response:
    """
    summary: List tenants
    description: >
      One page of tenants, newest first, each described as `GET /_mockwise/tenants/{tenant}`
      does (no secrets): `limit` of them (default 100, at most 1000) after skipping `offset`.
      `total` counts every tenant; `next` is the next page (null on the last).
    tags: [tenants]
    parameters:
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 100}}
      - {name: offset, in: query, schema: {type: integer, minimum: 0, maximum: 1000000000000, default: 0}}
    responses:
      200: {description: "{tenants, total, offset, limit, next}"}
      400: {description: "A bad limit or offset."}
    """
    window = window_of(request)
    tenants = list(reversed(sandbox_of(request).tenants.values()))
    chosen = tenants[window.offset : window.offset + window.limit]
    rows = []
    for tenant in chosen:  # about a millisecond each: let the loop serve others between them
        rows.append(tenant_json(tenant, (await tokens_of(tenant)).counts))
        await anyio.lowlevel.checkpoint()
    return WiseJSON(
        {
            "tenants": rows,
            "total": len(tenants),
            "offset": window.offset,
            "limit": window.limit,
            "next": next_offset(request, window, len(tenants)),
        }
    )


@endpoint
async def create_tenant(request: Request) -> Response:
    """
    summary: Create a tenant
    description: >
      A new isolated tenant, seeded with the default fixtures unless `seed` is given (`false` for an
      empty tenant). The answer carries the seeded credentials in clear, this once, in the shape
      of `sandbox.json`.
    tags: [tenants]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              id:
                type: [string, "null"]
                pattern: "^[A-Za-z0-9_-]{1,64}$"
                description: "1-64 letters, digits, '-' or '_' (null or absent: random)"
              seed:
                description: "a seed document like fixtures/default.json; true: the default one; false: empty"
                anyOf: [{type: boolean}, {type: object}]
              settings: {$ref: "#/components/schemas/Settings"}
              fidelity:
                $ref: "#/components/schemas/LegacySettings"
                deprecated: true
                description: "deprecated (removed in 0.3.0): settings by their flat names; use settings"
    responses:
      201: {description: "The tenant's id, URLs and credentials."}
      400: {description: "Bad id, seed or settings."}
      409: {description: "A tenant with that id exists."}
    """
    data = await body_of(request)
    sandbox = sandbox_of(request)
    tenant_id = field(data, "id", str, None)
    if tenant_id is not None and tenant_id in sandbox.tenants:
        raise ControlError(409, "conflict", f"tenant {tenant_id!r} already exists")
    seed = data.get("seed", True)
    if not isinstance(seed, bool | dict):
        raise ControlError(400, "invalid_request", "'seed' is a seed object, or false for an empty tenant")
    legacy = dotted(field(data, "fidelity", dict, {}))  # deprecated: flat names (`fidelity.py`)
    settings = sandbox.settings.apply(legacy).apply(field(data, "settings", dict, {}))  # ValueError: 400
    tenant, creds = sandbox.create_tenant(tenant_id, seed=seed, settings=settings)
    base = str(request.base_url).rstrip("/")
    return WiseJSON(
        {"api_url": base, "control_url": f"{base}{PREFIX}/tenants/{tenant.id}", **creds.as_json()}, 201
    )


@endpoint
async def get_tenant(request: Request) -> Response:
    """
    summary: Describe a tenant (no secrets)
    tags: [tenants]
    responses:
      200: {description: "Clients, users, profiles, token counts, clock, settings."}
      404: {description: "No such tenant."}
    """
    tenant = tenant_of(request)
    return WiseJSON(tenant_json(tenant, (await tokens_of(tenant)).counts))


@endpoint
async def delete_tenant(request: Request) -> Response:
    """
    summary: Delete a tenant and everything in it
    tags: [tenants]
    responses:
      204: {description: "Deleted."}
      404: {description: "No such tenant."}
    """
    sandbox_of(request).delete_tenant(request.path_params["tenant"])
    return Response(status_code=204)


@endpoint
async def reset_tenant(request: Request) -> Response:
    """
    summary: Reset a tenant to its seeded state
    description: Tokens, codes, faults and journal are cleared, the clock returns to system time.
    tags: [tenants]
    responses:
      200: {description: "The tenant, as now."}
    """
    tenant = tenant_of(request)
    tenant.reset()
    return WiseJSON(tenant_json(tenant, (await tokens_of(tenant)).counts))


@endpoint
async def reset_all(request: Request) -> Response:
    """
    summary: Reset every tenant to its seeded state
    tags: [tenants]
    responses:
      200: {description: "The ids of the tenants reset."}
    """
    sandbox = sandbox_of(request)
    sandbox.reset()
    return WiseJSON({"reset": sorted(sandbox.tenants)})


@endpoint
async def get_settings(request: Request) -> Response:
    """
    summary: The tenant's settings (its answers to questions Wise leaves open), by dotted key
    description: >
      Every setting in its section (oauth, authorize, sca, jose, rate_limits, mtls, limits, webhooks) with
      its value and its documentation: what Wise says, and why this default.
    tags: [tenants]
    responses:
      200: {description: "Each setting (section.name) with its value and doc."}
    """
    return WiseJSON(described_settings(tenant_of(request).settings, KEYS))


@endpoint
async def patch_settings(request: Request) -> Response:
    """
    summary: Change the tenant's settings by dotted key
    description: >
      All or nothing: an unknown key or a value the sandbox cannot act on is a 400 and changes
      nothing. A reset returns the tenant to the settings it was seeded with.
    tags: [tenants]
    requestBody:
      content:
        application/json:
          schema: {$ref: "#/components/schemas/Settings"}
          example: {"oauth.refresh_token_rotation": true, "sca.pin": "9876"}
    responses:
      200: {description: "Every setting now, as GET."}
      400: {description: "Unknown setting or bad value."}
    """
    tenant = tenant_of(request)
    tenant.configure(await body_of(request))
    return WiseJSON(described_settings(tenant.settings, KEYS))


# Seeding -----------------------------------------------------------------------------------------


@endpoint
async def add_client(request: Request) -> Response:
    """
    summary: Add an API client (a partner)
    tags: [seeding]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              client_id:
                type: [string, "null"]
                minLength: 1
                maxLength: 255
                pattern: '^[^:\\x00-\\x1f\\x7f-\\x9f]*$'
                description: "no ':' (HTTP Basic cannot carry it) or control characters; null: a random one"
              client_secret: {type: [string, "null"], description: "null or empty: a random one"}
              name: {type: string}
              redirect_uris:
                type: array
                items:
                  type: string
                  pattern: '^[A-Za-z][A-Za-z0-9+.-]*:[!-"$-~]+$'
                  description: >
                    an absolute http(s) URI with a host, or an app's scheme (myapp://callback); printable
                    ASCII (percent-encode the rest), no fragment, never javascript:, data:, file:...
              mtls_enforced: {type: boolean}
    responses:
      201: {description: "The client's credentials (the secret in clear, this once)."}
      409: {$ref: "#/components/responses/ControlError"}
    """
    tenant = tenant_of(request)
    data = await body_of(request)
    uris = field(data, "redirect_uris", list, [])
    if not all(isinstance(u, str) for u in uris):
        raise ControlError(400, "invalid_request", "'redirect_uris' must be a list of strings")
    made = tenant.add_client(
        field(data, "client_id", str, None),
        field(data, "client_secret", str, None),
        name=field(data, "name", str, ""),
        redirect_uris=uris,
        mtls_enforced=field(data, "mtls_enforced", bool, False),
    )
    return WiseJSON(made.as_json(), 201)


@endpoint
async def add_user(request: Request) -> Response:
    """
    summary: Add a Wise user (an existing Wise customer), optionally with profiles
    tags: [seeding]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [email]
            properties:
              email: {type: string, format: email, maxLength: 254}
              password: {type: [string, "null"]}
              date_of_birth: {type: [string, "null"], format: date, pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
              country:
                type: string
                pattern: "^[A-Za-z]{2}$"
                description: "ISO 3166-1 alpha-2; EU/UK users get PSD2 limits"
              first_name: {type: string}
              last_name: {type: string}
              phone_number: {type: string}
              two_factor: {type: boolean}
              profiles: {type: array, items: {$ref: "#/components/schemas/ProfileSpec"}}
    responses:
      201: {description: "The user."}
      400: {description: "A bad field."}
      409: {$ref: "#/components/responses/ControlError"}
    """
    tenant = tenant_of(request)
    data = await body_of(request)
    profiles = [_profile_args(spec) for spec in field(data, "profiles", list, [])]  # all or nothing
    user = tenant.add_user(
        field(data, "email", str, required=True),
        field(data, "password", str, None),
        date_of_birth=field(data, "date_of_birth", str, None),
        country=field(data, "country", str, "GB"),
        first_name=field(data, "first_name", str, ""),
        last_name=field(data, "last_name", str, ""),
        phone_number=field(data, "phone_number", str, ""),
        two_factor=field(data, "two_factor", bool, True),
    )
    for parts in profiles:
        _add_profile(tenant, user, parts)
    return WiseJSON(user_json(tenant, user), 201)


@endpoint
async def get_user(request: Request) -> Response:
    """
    summary: One user, by id or e-mail (no secrets)
    tags: [seeding]
    responses:
      200: {description: "The user, as adding one answers."}
      404: {description: "No such user."}
    """
    tenant = tenant_of(request)
    ref: str = request.path_params["user"]
    user = tenant.user(int(ref) if ref.isascii() and ref.isdigit() else ref)
    return WiseJSON(user_json(tenant, user))


def _profile_args(spec: Any) -> tuple[str, Address | None, list[tuple[str, float]], dict[str, Any]]:
    """A profile spec's parts, checked as the directory checks them, before anything is made."""
    if not isinstance(spec, dict):
        raise ControlError(400, "invalid_request", "a profile is an object")
    spec = dict(spec)
    kind = spec.pop("type", "personal")
    address = spec.pop("address", None)
    balances = spec.pop("balances", [])
    if address is not None and not isinstance(address, dict):
        raise ControlError(400, "invalid_request", "'address' is an object")
    if not isinstance(balances, list) or not all(
        isinstance(b, dict)
        and set(b) <= {"currency", "amount"}
        and isinstance(b.get("currency"), str)
        and isinstance(b.get("amount", 0), int | float)
        and not isinstance(b.get("amount", 0), bool)
        for b in balances
    ):
        raise ControlError(400, "invalid_request", "'balances' is a list of {currency, amount}")
    if isinstance(spec.get("date_of_birth"), str):
        spec["date_of_birth"] = date.fromisoformat(spec["date_of_birth"])
    made = Address(**address) if address else None
    amounts = [(b["currency"], float(b.get("amount", 0))) for b in balances]
    check_profile(kind, made, spec, amounts)
    return kind, made, amounts, spec


def _add_profile(
    tenant: Tenant, user: User, parts: tuple[str, Address | None, list[tuple[str, float]], dict[str, Any]]
) -> Profile:
    kind, address, balances, fields = parts
    return tenant.add_profile(user, kind, address=address, balances=balances, **fields)


@endpoint
async def add_profile(request: Request) -> Response:
    """
    summary: Add a personal or business profile to a user
    tags: [seeding]
    requestBody:
      content:
        application/json:
          schema: {$ref: "#/components/schemas/ProfileSpec"}
    responses:
      201: {description: "The profile."}
    """
    tenant = tenant_of(request)
    user = tenant.user(int(request.path_params["user_id"]))
    profile = _add_profile(tenant, user, _profile_args(await body_of(request)))
    return WiseJSON(profile_json(profile), 201)


@endpoint
async def add_personal_token(request: Request) -> Response:
    """
    summary: Create a personal API token for a user (as on wise.com)
    tags: [seeding]
    responses:
      201: {description: "The token (in clear, this once)."}
    """
    tenant = tenant_of(request)
    user = tenant.user(int(request.path_params["user_id"]))
    return WiseJSON({"token": tenant.add_personal_token(user), "user_id": user.id}, 201)
