"""Thin resources behind Wise's PSD2 limits on personal tokens (seed 000, reference §5.1, §5.5):
the balance statement and transfer funding. EU/UK customers cannot use either with a personal
token; partners' user tokens can. Both are SCA-protected (§5.5): see `mockwise.http.sca`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockwise.domain.clock import iso_millis
from mockwise.domain.model import Profile
from mockwise.domain.sca import ScaAction
from mockwise.domain.tokens import TokenKind
from mockwise.errors import FieldError, ValidationError, forbidden, not_found
from mockwise.http.auth import Caller, bearer
from mockwise.http.forms import json_object
from mockwise.http.responses import WiseJSON
from mockwise.http.sca import approved, require_sca

PSD2_REFUSAL = (
    "Personal API tokens cannot {action} for customers in the EU/UK (PSD2); use OAuth user tokens instead"
)


def refuse_psd2(caller: Caller, action: str) -> None:
    """Seed 000: "EU/UK: Due to PSD2, you cannot fund transfers or view balance statements via API
    with a personal token." The body shape of that refusal is not documented; Spring's is used."""
    if caller.kind is TokenKind.PERSONAL and caller.user().psd2:
        raise forbidden(PSD2_REFUSAL.format(action=action))


def _interval(request: Request, name: str, default: datetime) -> datetime:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            [
                FieldError(
                    "INVALID", "must be an ISO-8601 instant such as 2026-01-01T00:00:00.000Z", name, [name]
                )
            ]
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def statement(request: Request) -> Response:
    """
    summary: A balance statement (PSD2-limited for personal tokens)
    tags: [balances]
    security: [{bearerAuth: []}]
    parameters:
      - {name: currency, in: query, schema: {type: string}}
      - {name: intervalStart, in: query, schema: {type: string, format: date-time}}
      - {name: intervalEnd, in: query, schema: {type: string, format: date-time}}
      - {name: type, in: query, schema: {type: string, enum: [COMPACT, FLAT]}}
    responses:
      200: {description: "The statement."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
      404: {$ref: "#/components/responses/SpringError"}
    """
    caller = await bearer(request)
    profile = caller.profile(request.path_params["profile_id"])
    refuse_psd2(caller, "view balance statements")
    approval = await require_sca(request, caller, profile, ScaAction.BALANCE__GET_STATEMENT)
    balance = next((b for b in profile.balances if b.id == request.path_params["balance_id"]), None)
    if balance is None:
        raise not_found("Balance not found")
    now = datetime.fromtimestamp(caller.tenant.clock.now(), UTC)
    start = _interval(request, "intervalStart", now - timedelta(days=30))
    end = _interval(request, "intervalEnd", now)
    currency = request.query_params.get("currency", balance.currency).upper()
    query = {
        "intervalStart": iso_millis(start.timestamp()),
        "intervalEnd": iso_millis(end.timestamp()),
        "type": request.query_params.get("type", "COMPACT").upper(),
        "addStamp": False,
        "currency": currency,
        "profileId": profile.id,
        "timezone": "Z",
    }
    answer = WiseJSON(
        {
            "accountHolder": _holder(profile),
            "issuer": {
                "name": "Wise Payments Limited",
                "firstLine": "Worship Square, 65 Clifton Street",
                "city": "London",
                "postCode": "EC2A 4JE",
                "stateCode": None,
                "country": "United Kingdom",
            },
            "bankDetails": None,
            "transactions": [],
            "startOfStatementBalance": {"value": balance.amount, "currency": balance.currency},
            "endOfStatementBalance": {"value": balance.amount, "currency": balance.currency},
            "endOfStatementUnrealisedGainLoss": None,
            "balanceAssetConfiguration": None,
            "query": query,
            "request": {
                "id": str(uuid.uuid4()),
                "creationTime": iso_millis(now.timestamp()),
                "profileId": profile.id,
                "currency": currency,
                "balanceId": balance.id,
                "balanceName": None,
                "intervalStart": query["intervalStart"],
                "intervalEnd": query["intervalEnd"],
            },
        }
    )
    return approved(answer, approval)


def _holder(profile: Profile) -> dict[str, object]:
    a = profile.address
    address = {
        "addressFirstLine": a.first_line,
        "city": a.city,
        "postCode": a.post_code,
        "stateCode": a.state or None,
        "countryName": a.country,
    }
    if profile.type.value == "business":
        return {"type": "BUSINESS", "address": address, "businessName": profile.business_name}
    return {
        "type": "PERSONAL",
        "address": address,
        "firstName": profile.first_name,
        "lastName": profile.last_name,
    }


async def fund_transfer(request: Request) -> Response:
    """
    summary: Fund a transfer from the balance (PSD2-limited for personal tokens)
    tags: [balances]
    security: [{bearerAuth: []}]
    requestBody:
      required: true
      content:
        application/json:
          schema: {type: object, required: [type], properties: {type: {type: string, enum: [BALANCE]}}}
    responses:
      201: {description: "The payment, COMPLETED."}
      400: {$ref: "#/components/responses/ValidationErrors"}
      401: {$ref: "#/components/responses/OAuthError"}
      403: {$ref: "#/components/responses/SpringError"}
    """
    caller = await bearer(request)
    profile = caller.profile(request.path_params["profile_id"])
    refuse_psd2(caller, "fund transfers")
    approval = await require_sca(request, caller, profile, ScaAction.TRANSFER__FUND)
    data = await json_object(request)
    if data.get("type") != "BALANCE":
        raise ValidationError([FieldError("NotValid", "type must be BALANCE", "type", ["type"])])
    funded = WiseJSON(
        {
            "type": "BALANCE",
            "status": "COMPLETED",
            "errorCode": None,
            "errorMessage": None,
            "balanceTransactionId": uuid.uuid4().int % 10**9,
        },
        201,
    )
    return approved(funded, approval)


routes = [
    Route(
        "/v1/profiles/{profile_id:int}/balance-statements/{balance_id:int}/statement.json",
        statement,
        methods=["GET"],
    ),
    Route(
        "/v3/profiles/{profile_id:int}/transfers/{transfer_id:int}/payments", fund_transfer, methods=["POST"]
    ),
]
