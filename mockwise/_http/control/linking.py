"""Control-plane endpoints for account linking (mounted under `/_mockwise/tenants/{tenant}`):

- `POST /link`: a scripted user clicks through the authorize page (headless tests, contract suites);
- `GET|DELETE /mailbox`: the e-mails Wise would have sent (the e-mail flow, Wise linking-accounts page);
- `GET /mailbox/inbox`: the same mailbox as a page for people, with the links to follow.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockwise._domain.clock import iso_millis
from mockwise._domain.linking import LinkingError, Mail, StepRefused
from mockwise._domain.settings import SANDBOX_OTP
from mockwise._http.authorize import page
from mockwise._http.control.common import ControlError, body_of, endpoint, field, tenant_of
from mockwise._http.responses import WiseJSON


@endpoint
async def link(request: Request) -> Response:
    """
    summary: A scripted user links their account on the authorize page
    description: >
      Performs the authorize page's steps for a user, with the same rules as the pages: log in
      (or claim the account, when the URL has a `claim_account_code`: `password` is then the new
      password), 2FA with `otp`, choose `profile_id` (default: the first profile), then approve or
      deny. Answers with the redirect the browser would follow (with `code`, `state` and
      `profileId`, or `error=access_denied`), or, for a link from the sandbox mailbox, the code the
      page shows. A refused step (wrong password, wrong 2FA code, lockout) answers 422 with the
      step and the message a person would see.
    tags: [linking]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [authorize_url]
            properties:
              authorize_url: {type: string, example: "http://127.0.0.1:8000/oauth/authorize/?client_id=mockwise-partner&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fwise%2Fcallback&state=xyz"}
              email: {type: [string, "null"], example: alex.morgan@example.com}
              password: {type: [string, "null"], example: sandbox-Passw0rd}
              approve: {type: boolean, default: true}
              otp: {type: string, default: "111111", description: "anything else is a wrong 2FA code"}
              profile_id: {type: [integer, "null"], description: "null: the first profile"}
    responses:
      200: {description: "{redirect, code, profile_id, denied}: where the user ends up."}
      400: {description: "The authorize URL is unusable (unknown client, unregistered redirect_uri...)."}
      422: {description: "{error, step, message}: a step refused the user."}
    """
    tenant = tenant_of(request)
    data = await body_of(request)
    url = field(data, "authorize_url", str, required=True)
    profile_id = field(data, "profile_id", int, None)
    try:
        outcome = tenant.linking.script(
            url,
            field(data, "email", str, None),
            password=field(data, "password", str, None),
            approve=field(data, "approve", bool, True),
            otp=field(data, "otp", str, SANDBOX_OTP),
            profile_id=profile_id,
        )
    except LinkingError as exc:
        raise ControlError(400, exc.error, exc.message) from None
    except StepRefused as exc:
        return WiseJSON({"error": exc.error, "step": exc.step.value, "message": exc.message}, 422)
    return WiseJSON(
        {
            "redirect": outcome.redirect or outcome.link_back,
            "code": outcome.code,
            "profile_id": outcome.profile_id,
            "denied": outcome.denied,
        }
    )


def mail_json(mail: Mail, base: str) -> dict[str, Any]:
    return {
        "id": mail.id,
        "to": mail.to,
        "subject": mail.subject,
        "text": mail.text,
        "link": base + mail.link,
        "client_id": mail.client_id,
        "user_id": mail.user_id,
        "sent_at": iso_millis(mail.sent_at),
    }


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@endpoint
async def get_mailbox(request: Request) -> Response:
    """
    summary: The tenant's sandbox mailbox
    description: >
      E-mails Wise would have sent, newest last. User creation over API that hits an existing user
      (409) with `sendAuthorizationCodeAsEmail: true` sends one with a link to the authorize page;
      following it and approving shows the authorization code on a page (Wise linking-accounts page).
    tags: [linking]
    responses:
      200: {description: "{mails: [{id, to, subject, text, link, client_id, user_id, sent_at}]}"}
    """
    tenant = tenant_of(request)
    base = _base(request)
    return WiseJSON({"mails": [mail_json(m, base) for m in list(tenant.linking.mailbox)]})


@endpoint
async def clear_mailbox(request: Request) -> Response:
    """
    summary: Empty the tenant's sandbox mailbox
    tags: [linking]
    responses:
      200: {description: "{mails: []}"}
    """
    tenant = tenant_of(request)
    tenant.linking.clear_mailbox()
    return WiseJSON({"mails": []})


@endpoint
async def inbox(request: Request) -> Response:
    """
    summary: The tenant's sandbox mailbox as a page, with links to follow
    tags: [linking]
    responses:
      200:
        description: "An HTML page."
        content: {text/html: {}}
    """
    tenant = tenant_of(request)
    base = _base(request)
    mails = [mail_json(m, base) | {"url": base + m.link} for m in reversed(tenant.linking.mailbox)]
    return page("mailbox.html", tenant=tenant.id, mails=mails)


routes = [
    Route("/link", link, methods=["POST"]),
    Route("/mailbox", get_mailbox, methods=["GET"]),
    Route("/mailbox", clear_mailbox, methods=["DELETE"]),
    Route("/mailbox/inbox", inbox, methods=["GET"]),
]
