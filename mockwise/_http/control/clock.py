"""The tenant's clock: read, advance, set, freeze, unfreeze."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mockwise._http.control.common import ControlError, body_of, clock_json, endpoint, field, tenant_of
from mockwise._http.responses import WiseJSON


@endpoint
async def get_clock(request: Request) -> Response:
    """
    summary: The tenant's clock
    tags: [clock]
    responses:
      200: {description: "now (ISO and epoch seconds), frozen, offset from system time."}
    """
    return WiseJSON(clock_json(tenant_of(request)))


@endpoint
async def advance_clock(request: Request) -> Response:
    """
    summary: Move the tenant's clock forward (or back) by some seconds
    tags: [clock]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [seconds]
            properties: {seconds: {type: number, minimum: -6307200000, maximum: 6307200000, example: 43200}}
    responses:
      200: {description: "The clock after the move."}
    """
    tenant = tenant_of(request)
    seconds = field(await body_of(request), "seconds", (int, float), required=True)
    if abs(seconds) > 200 * 365 * 86400:
        raise ControlError(400, "invalid_request", "'seconds' is out of range")
    tenant.clock.advance(seconds)
    return WiseJSON(clock_json(tenant))


@endpoint
async def set_clock(request: Request) -> Response:
    """
    summary: Set the tenant's clock to an instant
    tags: [clock]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [at]
            properties:
              at:
                description: "ISO-8601 with a timezone, or epoch seconds"
                example: "2030-01-01T00:00:00Z"
                anyOf:
                  - {type: string, format: date-time, pattern: "^(19[7-9][0-9]|[2-9][0-9]{3})-"}
                  - {type: number, minimum: 0, maximum: 253402300799}
    responses:
      200: {description: "The clock after the move."}
    """
    tenant = tenant_of(request)
    at = field(await body_of(request), "at", (str, int, float), required=True)
    try:
        tenant.clock.set(at)
    except ValueError as exc:
        raise ControlError(400, "invalid_request", f"'at': {exc}") from None
    return WiseJSON(clock_json(tenant))


@endpoint
async def freeze_clock(request: Request) -> Response:
    """
    summary: Stop the tenant's clock (advance and set still move it)
    tags: [clock]
    responses:
      200: {description: "The clock."}
    """
    tenant = tenant_of(request)
    tenant.clock.freeze()
    return WiseJSON(clock_json(tenant))


@endpoint
async def unfreeze_clock(request: Request) -> Response:
    """
    summary: Let the tenant's clock run again from where it stands
    tags: [clock]
    responses:
      200: {description: "The clock."}
    """
    tenant = tenant_of(request)
    tenant.clock.unfreeze()
    return WiseJSON(clock_json(tenant))
