"""Thin resources behind Wise's PSD2 limits on personal tokens (reference §5.1, §5.5): the balance
statement and transfer funding. EU/UK customers cannot use either with a personal token; partners'
user tokens can. Both are SCA-protected (§5.5): each route runs its own checks (403, 404, 400) and
answers `Guarded`, and the pipeline challenges only a request that would otherwise succeed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from starlette.requests import Request

from mockwise._domain.clock import iso_millis
from mockwise._domain.errors import FieldError, ValidationError, not_found
from mockwise._domain.model import Profile, country_name
from mockwise._domain.sca import ScaAction, refuse_psd2
from mockwise._http.pipeline import Call, Guarded, endpoint
from mockwise._http.responses import WiseJSON


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


async def statement(call: Call) -> Guarded:
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
    request, caller = call.request, call.bearer
    profile = caller.profile(request.path_params["profile_id"])
    refuse_psd2(caller.kind, caller.user(), "view balance statements")
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
        "accountId": balance.id,  # in Wise's example and the 2026Q3 shape (docs/calver-2026q3.md)
        "timezone": "Z",
    }
    body = {
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
    return Guarded(profile, lambda: WiseJSON(body))


def _holder(profile: Profile) -> dict[str, object]:
    a = profile.address
    address = {
        "addressFirstLine": a.first_line,
        "city": a.city,
        "postCode": a.post_code,
        "stateCode": a.state or None,
        "countryName": country_name(a.country),  # a name at Wise; the profile keeps the code
    }
    if profile.type.value == "business":
        return {"type": "BUSINESS", "address": address, "businessName": profile.business_name}
    return {
        "type": "PERSONAL",
        "address": address,
        "firstName": profile.first_name,
        "lastName": profile.last_name,
    }


async def fund_transfer(call: Call) -> Guarded:
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
    caller = call.bearer
    profile = caller.profile(call.path_params["profile_id"])
    refuse_psd2(caller.kind, caller.user(), "fund transfers")
    data = await call.json()
    if data.get("type") != "BALANCE":
        raise ValidationError([FieldError("NotValid", "type must be BALANCE", "type", ["type"])])

    def respond() -> WiseJSON:
        # funded: the transfer moves to `processing` and subscribers hear of it (§8.3)
        caller.tenant.transfer_funded(call.path_params["transfer_id"], profile, caller.token.client_id)
        return WiseJSON(
            {
                "type": "BALANCE",
                "status": "COMPLETED",
                "errorCode": None,
                "errorMessage": None,
                "balanceTransactionId": uuid.uuid4().int % 10**9,
            },
            201,
        )

    return Guarded(profile, respond)


routes = [
    endpoint(
        "/v1/profiles/{profile_id:int}/balance-statements/{balance_id:int}/statement.json",
        statement,
        methods=["GET"],
        sca=ScaAction.BALANCE__GET_STATEMENT,
    ),
    endpoint(
        "/v3/profiles/{profile_id:int}/transfers/{transfer_id:int}/payments",
        fund_transfer,
        methods=["POST"],
        sca=ScaAction.TRANSFER__FUND,
    ),
]
