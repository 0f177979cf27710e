"""Control plane for enhanced security (mounted under `/_mockwise/tenants/{tenant}`): rotate Wise's
JOSE keys, switch SCA on for a tenant or a user, upload or generate a user's SCA key, and configure
rate limits. The same operations are `tenant.jose`, `tenant.sca` and `tenant.rate_limits`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockwise._domain.settings import RateLimits
from mockwise._domain.tenant import Tenant
from mockwise._http.control.common import ControlError, body_of, endpoint, field, tenant_of
from mockwise._http.responses import WiseJSON


@endpoint
async def get_jose(request: Request) -> Response:
    """
    summary: The tenant's JOSE keys
    description: Wise's key version, the keys made in it so far, and each client's uploaded keys.
    tags: [security]
    responses:
      200: {description: "version, sandbox_keys, partner_keys (public material only)."}
    """
    tenant = tenant_of(request)
    now = tenant.clock.now()
    return WiseJSON(
        {
            "version": tenant.jose.version,
            "sandbox_keys": [k.as_json() for k in tenant.jose.sandbox_keys()],
            "partner_keys": {
                client_id: [k.as_json() | {"active": k.active(now)} for k in keys]
                for client_id in tenant.directory.clients
                if (keys := tenant.jose.partner_keys(client_id))
            },
        }
    )


@endpoint
async def rotate_jose(request: Request) -> Response:
    """
    summary: Rotate Wise's JOSE keys
    description: >
      New signing and encryption keys, in force at once: responses are signed with them, and a JWE
      encrypted to an older key fails with Wise's generic 500 (clients should then fetch the key
      again, reference §7.5). Older versions stay readable with `?version=n`.
    tags: [security]
    responses:
      200: {description: "The new version."}
    """
    return WiseJSON({"version": tenant_of(request).jose.rotate()})


@endpoint
async def delete_partner_key(request: Request) -> Response:
    """
    summary: Remove a key a partner uploaded
    tags: [security]
    responses:
      204: {description: "Removed."}
      404: {description: "No such client or key."}
    """
    tenant = tenant_of(request)
    tenant.jose.remove(request.path_params["client_id"], request.path_params["key_id"])
    return Response(status_code=204)


def _sca_json(tenant: Tenant) -> dict[str, object]:
    return {
        "personal_tokens": tenant.settings.sca.personal_tokens,
        "user_tokens": tenant.settings.sca.user_tokens,
        **tenant.sca.describe(),
    }


@endpoint
async def get_sca(request: Request) -> Response:
    """
    summary: The tenant's SCA switches, users' keys and lockouts
    tags: [security]
    responses:
      200: {description: "personal_tokens, user_tokens, users (required, keys, locked_until)."}
    """
    return WiseJSON(_sca_json(tenant_of(request)))


@endpoint
async def patch_sca(request: Request) -> Response:
    """
    summary: Switch SCA on or off for the tenant's personal tokens and OAuth user tokens
    description: A view of the settings `sca.personal_tokens` and `sca.user_tokens`.
    tags: [security]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              personal_tokens: {type: [boolean, "null"], description: "null: unchanged"}
              user_tokens: {type: [boolean, "null"], description: "null: unchanged"}
    responses:
      200: {description: "The SCA state now."}
    """
    tenant = tenant_of(request)
    data = await body_of(request)
    changes = {}
    for name in ("personal_tokens", "user_tokens"):
        value = field(data, name, bool, None)
        if value is not None:
            changes[f"sca.{name}"] = value
    tenant.configure(changes)
    return WiseJSON(_sca_json(tenant))


@endpoint
async def put_user_sca(request: Request) -> Response:
    """
    summary: Switch SCA on or off for one user (null follows the tenant)
    tags: [security]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [required]
            properties: {required: {type: [boolean, "null"]}}
    responses:
      200: {description: "The SCA state now."}
      404: {description: "No such user."}
    """
    tenant = tenant_of(request)
    user = tenant.user(request.path_params["user_id"])
    data = await body_of(request)
    if "required" not in data:
        raise ControlError(400, "invalid_request", "missing 'required' (true, false or null)")
    tenant.sca.require(user, field(data, "required", bool, None))
    return WiseJSON(_sca_json(tenant))


@endpoint
async def add_sca_key(request: Request) -> Response:
    """
    summary: Upload a user's SCA public key, or generate a key pair for them
    description: >
      As the "Manage public keys" page does (reference §5.2): an RSA key of at least 2048 bits, at
      most 5 per user. Without `public_key`, a key pair is made and its private key returned in
      clear, this once, to sign one-time tokens with (`openssl dgst -sha256 -sign`).
    tags: [security]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              public_key: {type: string, description: "an RSA public key, PEM"}
    responses:
      201: {description: "The key's fingerprint, bits and PEM (and private_key, when generated)."}
      400: {description: "Not an RSA PEM key of 2048+ bits, or 5 keys already."}
    """
    tenant = tenant_of(request)
    user = tenant.user(request.path_params["user_id"])
    pem = field(await body_of(request), "public_key", str, None)
    if pem is not None:
        return WiseJSON(tenant.sca.add_key(user, pem).as_json(), 201)
    key, private = tenant.sca.new_key(user)
    return WiseJSON(key.as_json() | {"private_key": private}, 201)


@endpoint
async def delete_sca_key(request: Request) -> Response:
    """
    summary: Remove one of a user's SCA keys
    tags: [security]
    responses:
      204: {description: "Removed."}
      404: {description: "No such user or key."}
    """
    tenant = tenant_of(request)
    user = tenant.user(request.path_params["user_id"])
    tenant.sca.remove_key(user, request.path_params["fingerprint"])
    return Response(status_code=204)


@endpoint
async def get_rate_limits(request: Request) -> Response:
    """
    summary: The tenant's rate limits and what each caller used of them
    tags: [security]
    responses:
      200: {description: "enabled, per_second, per_minute, limited_by, usage per caller."}
    """
    limits = tenant_of(request).rate_limits
    return WiseJSON(_rate_limits_json(limits.settings) | {"usage": limits.usage()})


@endpoint
async def patch_rate_limits(request: Request) -> Response:
    """
    summary: Configure the tenant's rate limits (Wise's defaults are 100/s and 1000/min per client)
    description: Off for new tenants; the standalone server's default tenant has them on. Counts restart.
    tags: [security]
    requestBody:
      content:
        application/json:
          schema: {$ref: "#/components/schemas/RateLimitSettings"}
          example: {enabled: true, per_second: 100, per_minute: 1000, limited_by: wise-public-api}
    responses:
      200: {description: "The settings now in force."}
      400: {description: "Unknown setting or bad value."}
    """
    limits = tenant_of(request).rate_limits
    return WiseJSON(_rate_limits_json(limits.configure(**await body_of(request))))


def _rate_limits_json(settings: RateLimits) -> dict[str, object]:
    """A view of the settings `rate_limits.*` (also under `…/settings`)."""
    return {
        "enabled": settings.enabled,
        "per_second": settings.per_second,
        "per_minute": settings.per_minute,
        "limited_by": settings.limited_by,
    }


routes = [
    Route("/jose", get_jose, methods=["GET"]),
    Route("/jose/rotate", rotate_jose, methods=["POST"]),
    Route("/jose/clients/{client_id}/keys/{key_id}", delete_partner_key, methods=["DELETE"]),
    Route("/sca", get_sca, methods=["GET"]),
    Route("/sca", patch_sca, methods=["PATCH"]),
    Route("/users/{user_id:int}/sca", put_user_sca, methods=["PUT"]),
    Route("/users/{user_id:int}/sca-keys", add_sca_key, methods=["POST"]),
    Route("/users/{user_id:int}/sca-keys/{fingerprint}", delete_sca_key, methods=["DELETE"]),
    Route("/rate-limits", get_rate_limits, methods=["GET"]),
    Route("/rate-limits", patch_rate_limits, methods=["PATCH"]),
]
