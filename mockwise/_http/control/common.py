"""Shared pieces of the control plane: JSON errors, request helpers, rendering without secrets."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockwise._domain.clock import iso_millis
from mockwise._domain.directory import Taken
from mockwise._domain.errors import SpringError
from mockwise._domain.model import Profile, User
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import SeedError
from mockwise._domain.settings import Settings
from mockwise._domain.tenant import Tenant
from mockwise._domain.tokens import Token
from mockwise._http.forms import parse_json, read_body
from mockwise._http.responses import WiseJSON

JSON = dict[str, Any]
PREFIX = "/_mockwise"


class ControlError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def control_error_response(exc: ControlError) -> Response:
    return WiseJSON({"error": exc.error, "message": exc.message}, exc.status)


Endpoint = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Endpoint) -> Endpoint:
    """Turn domain refusals into control-plane JSON errors, keeping the handler's docstring."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ControlError as exc:
            return control_error_response(exc)
        except Taken as exc:
            return control_error_response(ControlError(409, "conflict", _message(exc)))
        except LookupError as exc:
            return control_error_response(ControlError(404, "not_found", _message(exc)))
        except (SeedError, ValueError, TypeError) as exc:
            return control_error_response(ControlError(400, "invalid_request", _message(exc)))

    wrapped.__doc__ = handler.__doc__
    wrapped.__name__ = handler.__name__
    return wrapped


def _message(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__


#: When the deprecated routes and names were deprecated, as RFC 9745's `Deprecation` header gives
#: it (a structured-field date: 2026-12-07T00:00:00Z).
DEPRECATED_SINCE = "@1796601600"


def deprecated(response: Response, successor: str) -> Response:
    """`response`, marked as the answer of a deprecated route or name (RFC 9745), with a link to
    what replaces it (`successor`, relative to the request's path)."""
    response.headers["Deprecation"] = DEPRECATED_SINCE
    response.headers["Link"] = f'<{successor}>; rel="successor-version"'
    return response


# Request helpers ---------------------------------------------------------------------------------


def sandbox_of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def known_state(request: Request, states: tuple[str, ...]) -> str | None:
    """The `state` a listing is filtered by, if any: one of `states`, or a 400. Empty is none (all
    states), as a page's filter form sends it."""
    wanted = request.query_params.get("state") or None
    if wanted is not None and wanted not in states:
        raise ControlError(400, "invalid_request", f"'state' is one of {', '.join(states)}")
    return wanted


def known_parameters(request: Request, *names: str) -> None:
    """A 400 for a query parameter the endpoint does not take, or one given twice: a mistyped or
    doubled filter (`?stauts=401`, `?status=401&status=`) must not quietly show everything."""
    query = request.query_params
    unknown = set(query) - set(names)
    if unknown:
        raise ControlError(400, "invalid_request", f"unknown parameter(s): {', '.join(sorted(unknown))}")
    repeated = sorted(name for name in set(query) if len(query.getlist(name)) > 1)
    if repeated:  # which one would count? Starlette would quietly take the last
        listed = ", ".join(repeated)
        raise ControlError(400, "invalid_request", f"parameter(s) given more than once: {listed}")


def tenant_of(request: Request) -> Tenant:
    return sandbox_of(request).tenant(request.path_params["tenant"])


#: The control plane skips the edge's 64 KiB limit (seed documents can be larger); this bounds it.
MAX_CONTROL_BODY = 8 * 1024 * 1024


async def raw_body(request: Request, limit: int = MAX_CONTROL_BODY, what: str = "a body") -> bytes:
    """The whole body, read with the data plane's reader (chunked bodies included): 413 past
    `limit`, 408 when it never arrives in full."""
    try:
        return await read_body(request, limit)
    except SpringError as exc:
        if exc.status == 413:
            raise ControlError(413, "too_large", f"{what} is at most {limit // 1024} KiB") from None
        raise ControlError(exc.status, "incomplete_body", exc.message) from None


async def body_of(request: Request) -> JSON:
    raw = await raw_body(request)
    if not raw.strip():
        return {}
    try:
        data = parse_json(raw)
    except ValueError as exc:  # bad syntax or encoding, or nested too deep
        raise ControlError(400, "invalid_json", f"the body is not usable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ControlError(400, "invalid_json", "the body must be a JSON object")
    return data


def field(
    data: JSON, name: str, kind: type | tuple[type, ...], default: Any = ..., *, required: bool = False
) -> Any:
    """`data[name]`, of `kind`, or `default` when absent (`...`: required). A null is a value
    only where the default is None; a whole float (`3.0`) is an int, as JSON has it."""
    value = data.get(name, default)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if value is ... or (required and value is None):
        raise ControlError(400, "invalid_request", f"missing {name!r}")
    if value is None and default is not None:
        raise ControlError(400, "invalid_request", f"{name!r} cannot be null")
    if isinstance(value, float) and int in kinds and float not in kinds and value.is_integer():
        value = int(value)
    if value is not None and value is not default and not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ControlError(400, "invalid_request", f"{name!r} must be {names}")
    if isinstance(value, bool) and bool not in kinds:  # a bool is an int to Python, not to JSON
        raise ControlError(
            400, "invalid_request", f"{name!r} must be {' or '.join(k.__name__ for k in kinds)}"
        )
    return value


def user_ref(data: JSON, name: str = "user") -> int | str:
    value = field(data, name, (int, str), required=True)
    if isinstance(value, bool):
        raise ControlError(400, "invalid_request", f"{name!r} is a user id or an e-mail")
    return value  # type: ignore[no-any-return]


# Rendering (never secrets) -----------------------------------------------------------------------


def described_settings(settings: Settings, keys: Mapping[str, str]) -> JSON:
    """Each setting in `keys` (shown name → dotted key) with its value and its documentation."""
    docs = Settings.docs()
    return {shown: {"value": settings.get(key), "doc": docs.get(key, "")} for shown, key in keys.items()}


def live_tokens(tenant: Tenant, now: float) -> list[Token]:
    """The tenant's tokens that still work at `now` (a state store looks at those only)."""
    return tenant.store.live(now)


def clock_json(tenant: Tenant) -> JSON:
    now = tenant.clock.now()
    return {
        "now": iso_millis(now),
        "epoch": now,
        "frozen": tenant.clock.frozen,
        "offset": tenant.clock.offset,
    }


def profile_json(profile: Profile) -> JSON:
    return {
        "id": profile.id,
        "user_id": profile.user_id,
        "type": profile.type.value,
        "name": profile.full_name,
        "date_of_birth": profile.date_of_birth.isoformat() if profile.date_of_birth else None,
        "balances": [{"id": b.id, "currency": b.currency, "amount": b.amount} for b in profile.balances],
    }


def user_json(tenant: Tenant, user: User) -> JSON:
    return {
        "id": user.id,
        "email": user.email,
        "country": user.country,
        "date_of_birth": user.date_of_birth.isoformat() if user.date_of_birth else None,
        "created_over_api": user.created_over_api,
        "created_by_client": user.created_by_client,
        "reclaimed": user.reclaimed,
        "enhanced_security": user.enhanced_security,
        "two_factor": user.two_factor,
        "profiles": [profile_json(p) for p in tenant.directory.profiles_of(user)],
    }


def token_json(token: Token, now: float) -> JSON:
    return {
        "id": token.id,
        "kind": token.kind.value,
        "state": token.state(now).value,
        "cause": token.end_reason.value if token.end_reason else None,
        "client_id": token.client_id,
        "user_id": token.user_id,
        "profile_id": token.profile_id,
        "grant_type": token.grant_type,
        "link": token.link.id if token.link else None,
        "issued_at": iso_millis(token.issued_at),
        "expires_at": iso_millis(token.expires_at),
        "ended_at": iso_millis(token.ended_at) if token.ended_at else None,
        "remaining_seconds": max(0, int(token.expires_at - now)),
    }


#: Clients and users a tenant's description lists (the first ones); the rest are only counted.
EMBEDDED = 100


def tenant_json(tenant: Tenant, token_counts: Mapping[str, int] | None = None) -> JSON:
    """A tenant without secrets. `token_counts` (by state, from a scan off the loop) saves counting
    the tenant's tokens here; the first `EMBEDDED` clients and users are listed."""
    if token_counts is None:
        now = tenant.clock.now()
        token_counts = {"valid": len(live_tokens(tenant, now)), "total": len(tenant.store)}
    total = token_counts.get("total", sum(token_counts.values()))
    directory = tenant.directory
    return {
        "id": tenant.id,
        "clock": clock_json(tenant),
        "clients": [
            {
                "client_id": c.client_id,
                "name": c.name,
                "redirect_uris": list(c.redirect_uris),
                "mtls_enforced": c.mtls_enforced,
                "secret_revoked": c.secret_revoked,
            }
            for c in itertools.islice(list(directory.clients.values()), EMBEDDED)
        ],
        "users": [user_json(tenant, u) for u in itertools.islice(list(directory.users.values()), EMBEDDED)],
        "counts": {"clients": len(directory.clients), "users": len(directory.users)},
        "tokens": {"total": total, "live": token_counts.get("valid", 0)},
        "journal": {"entries": len(tenant.journal), "dropped": tenant.journal.dropped},
        "settings": tenant.settings.as_dict(),
    }
