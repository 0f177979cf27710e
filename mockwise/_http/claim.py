"""`POST /v1/user/claim-account` (reference §4): a partner turns the registration code of a user it
created into a 5-minute `claimAccountCode` for the authorize page's `claim_account_code`."""

from __future__ import annotations

from starlette.responses import Response

from mockwise._domain.errors import FieldError, forbidden
from mockwise._domain.tokens import TokenKind
from mockwise._http.forms import require_valid, string_field
from mockwise._http.pipeline import RouteCall, endpoint
from mockwise._http.responses import WiseJSON


async def claim_account(call: RouteCall) -> Response:
    """
    summary: A claim-account code for a user the partner created (valid 5 minutes)
    tags: [users]
    security: [{bearerAuth: []}]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [registrationCode]
            properties: {registrationCode: {type: string}}
    responses:
      200:
        description: "{claimAccountCode}: pass it to the authorize page as claim_account_code."
        content:
          application/json:
            schema:
              type: object
              required: [claimAccountCode]
              properties: {claimAccountCode: {type: string}}
      400: {description: "Missing or wrong registration code, or the account is already claimed."}
      401: {description: "No, or an invalid, bearer token."}
      403: {description: "Not a user token of the partner."}
    """
    caller = call.bearer
    user = caller.user()  # a user token: the partner acts for the user it created (§4)
    if caller.kind is not TokenKind.USER:
        raise forbidden("This endpoint needs a user access token from the partner that created the user")
    data = await call.json()
    errors: list[FieldError] = []
    registration_code = string_field(data, "registrationCode", errors)
    require_valid(errors)
    assert registration_code is not None
    code = caller.tenant.linking.issue_claim_code(user, caller.token.client_id, registration_code)
    return WiseJSON({"claimAccountCode": code})


routes = [endpoint("/v1/user/claim-account", claim_account, methods=["POST"])]
