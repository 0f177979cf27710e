"""Named faults over HTTP: arm, list, disarm (see `mockwise._domain.faults`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockwise._domain.faults import FaultKind
from mockwise._http.control.common import ControlError, body_of, endpoint, field, tenant_of
from mockwise._http.responses import WiseJSON

SCOPE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "path": str,
    "method": str,
    "grant_type": str,
    "client_id": str,
    "event_type": str,
    "probability": (int, float),
    "status": int,
    "retry_after": int,
    "retry_after_form": str,
    "clock_offset": (int, float),
    "seconds": (int, float),
    "seed": int,
}


@endpoint
async def list_faults(request: Request) -> Response:
    """
    summary: The tenant's armed faults and how often each has fired
    tags: [faults]
    responses:
      200: {description: "Faults in the order they are tried."}
    """
    return WiseJSON({"faults": [f.as_json() for f in tenant_of(request).faults]})


@endpoint
async def add_fault(request: Request) -> Response:
    """
    summary: Arm a fault
    description: >
      Kinds: `server_error` (5xx, Spring body; `status` 500/502/503/504; a 503 may carry
      `Retry-After`), `rate_limited` (429, `retry_after` seconds, written as `retry_after_form`:
      `seconds` (default), `http-date` (that far ahead on a clock `clock_offset` seconds ahead
      of the sandbox's) or `absent`), `delay` (`seconds`, then the normal answer),
      `connection_reset` (no answer),
      `malformed_json` (200 with a truncated JSON body), `gateway_html` (an nginx 502/503/504
      page), `invalid_grant` (the next refresh_token grant), `invalid_token` (the next API call).
      Scope with `path` (glob, without CalVer prefix), `method`, `grant_type`, `client_id`.
      On the way out, the notifications the sandbox sends (reference §8.9), scoped by `event_type`
      (a glob) only: `webhook_duplicate` (delivered again once acknowledged), `webhook_out_of_order`
      (held until a later notification of its subscription has gone, or `seconds` on the tenant's
      clock), `webhook_delay` (first attempt `seconds` later, tenant clock), and forgeries, sent
      once: `webhook_bad_signature`, `webhook_no_signature`, `webhook_legacy_signature` (only v1's
      `X-Signature`, RSA-SHA1), `webhook_production_key` (signed with the production stand-in). Fires
      `times` times (default 1; null or "always" for always), with `probability` (seeded by
      `seed`, reproducible).
    tags: [faults]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [kind]
            properties:
              kind:
                type: string
                enum: [server_error, rate_limited, delay, connection_reset, malformed_json, gateway_html,
                       invalid_grant, invalid_token, webhook_duplicate, webhook_out_of_order,
                       webhook_delay, webhook_bad_signature, webhook_no_signature,
                       webhook_legacy_signature, webhook_production_key]
              path: {type: string, example: /oauth/token}
              method: {type: string}
              grant_type: {type: string}
              client_id: {type: string}
              event_type: {type: string, example: "transfers#state-change"}
              times:
                description: "an integer >= 1, or null / \\"always\\""
                anyOf: [{type: [integer, "null"], minimum: 1}, {const: always}]
              probability: {type: number, exclusiveMinimum: 0, maximum: 1}
              status: {type: integer, enum: [500, 502, 503, 504]}
              retry_after: {type: integer, minimum: 0}
              retry_after_form: {type: string, enum: [seconds, http-date, absent]}
              clock_offset: {type: number}
              seconds: {type: number, minimum: 0, maximum: 1209600}
              seed: {type: integer}
    responses:
      201: {description: "The armed fault."}
      400: {description: "Unknown kind or bad scope."}
    """
    tenant = tenant_of(request)
    data = await body_of(request)
    kind = field(data, "kind", str, required=True)
    if kind not in set(FaultKind):
        raise ControlError(
            400, "invalid_request", f"unknown fault kind {kind!r}; one of {', '.join(FaultKind)}"
        )
    unknown = set(data) - set(SCOPE_FIELDS) - {"kind", "times"}
    if unknown:
        raise ControlError(400, "invalid_request", f"unknown field(s): {', '.join(sorted(unknown))}")
    scope: dict[str, Any] = {
        name: field(data, name, kind_) for name, kind_ in SCOPE_FIELDS.items() if name in data
    }
    times = data.get("times", 1)
    if times == "always":
        times = None
    if times is not None and (isinstance(times, bool) or not isinstance(times, int)):
        raise ControlError(400, "invalid_request", "'times' is an integer >= 1, or null / \"always\"")
    fault = tenant.faults.add(kind, times=times, **scope)
    return WiseJSON(fault.as_json(), 201)


@endpoint
async def clear_faults(request: Request) -> Response:
    """
    summary: Disarm every fault
    tags: [faults]
    responses:
      204: {description: "Cleared."}
    """
    tenant_of(request).faults.clear()
    return Response(status_code=204)


@endpoint
async def remove_fault(request: Request) -> Response:
    """
    summary: Disarm one fault
    tags: [faults]
    responses:
      204: {description: "Removed."}
      404: {description: "No such fault."}
    """
    tenant_of(request).faults.remove(request.path_params["fault_id"])
    return Response(status_code=204)
