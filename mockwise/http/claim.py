"""`POST /v1/user/claim-account` (reference §4): a partner turns the registration code of a user it
created into a 5-minute `claimAccountCode` for the authorize page's `claim_account_code`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockwise.domain.tokens import TokenKind
from mockwise.errors import FieldError, forbidden
from mockwise.http.auth import bearer
from mockwise.http.forms import json_object, require_valid, string_field
from mockwise.http.responses import WiseJSON


async def claim_account(request: Request) -> Response:
    caller = await bearer(request)
    user = caller.user()  # a user token: the partner acts for the user it created (§4)
    if caller.kind is not TokenKind.USER:
        raise forbidden("This endpoint needs a user access token from the partner that created the user")
    data = await json_object(request)
    errors: list[FieldError] = []
    registration_code = string_field(data, "registrationCode", errors)
    require_valid(errors)
    assert registration_code is not None
    code = caller.tenant.linking.issue_claim_code(user, caller.token.client_id, registration_code)
    return WiseJSON({"claimAccountCode": code})


routes = [Route("/v1/user/claim-account", claim_account, methods=["POST"])]
