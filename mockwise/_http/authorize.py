"""The authorize page, `GET|POST /oauth/authorize/` (reference §3, Wise linking-accounts page):
server-rendered pages for logging in, 2FA, claiming an account, choosing a profile and consenting.

Routes parse and render; the rules live in `mockwise._domain.linking`. The tenant is found from
`client_id`; the browser's sign-in is a server-side session named by a per-tenant cookie, and each
form carries that session's CSRF token. The authorize request itself travels in the forms' query
string and is checked again on every post. An unknown client or an unregistered `redirect_uri`
gets an error page, never a redirect [C] §3.

Pages work without JavaScript; all reflected values go through Jinja2's autoescaping; responses
forbid framing and caching, and the CSS is inline under a CSP hash.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mockwise._domain.entries import Note
from mockwise._domain.linking import (
    AUTHORIZE_PATH,
    AuthorizeRequest,
    LinkingError,
    LoginSession,
    Outcome,
    Step,
    StepRefused,
)
from mockwise._domain.tenant import Tenant
from mockwise._http.forms import form_params
from mockwise._http.pipeline import Auth, NotedResponse, RouteCall, endpoint

COOKIE_PREFIX = "mockwise_session_"
COOKIE_PATH = "/oauth/authorize"  # covers `/oauth/authorize/` and `/oauth/authorize`

ENV = Environment(
    loader=PackageLoader("mockwise", "templates"),
    autoescape=True,  # every reflected value is escaped, in every template
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@cache
def stylesheet() -> tuple[str, str]:
    """The page CSS and its CSP source (`'sha256-…'`), so styles need no `unsafe-inline`."""
    loader = ENV.loader
    assert loader is not None
    css, _, _ = loader.get_source(ENV, "authorize.css")
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return css, f"'sha256-{digest}'"


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    css, css_hash = stylesheet()
    context.setdefault("details", [])
    html = ENV.get_template(template).render(css=css, **context)
    return HTMLResponse(
        html,
        status,
        headers={
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
            "X-Frame-Options": "DENY",  # a consent page must not be framed (clickjacking)
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",  # codes and state stay out of Referer headers
            "Content-Security-Policy": (
                f"default-src 'none'; style-src {css_hash}; img-src 'self' data:; "
                "frame-ancestors 'none'; base-uri 'none'"
            ),
        },
    )


def error_page(error: str, message: str, status: int = 400, restart: str | None = None) -> HTMLResponse:
    title = "This page has expired" if restart else "We can't continue with this link"
    return page("error.html", status, title=title, error=error, message=message, restart=restart)


def cookie_name(tenant: Tenant) -> str:
    return COOKIE_PREFIX + tenant.id  # tenant ids are letters, digits, '-' and '_'


class Flow:
    """One authorize request in progress: its tenant, checked request and browser session."""

    def __init__(self, request: Request, tenant: Tenant, authorize: AuthorizeRequest) -> None:
        self.request = request
        self.tenant = tenant
        self.linking = tenant.linking
        self.authorize = authorize
        self.action = f"{AUTHORIZE_PATH}?{authorize.query()}"
        self.new_cookie: str | None = None

    def details(self) -> list[tuple[str, str]]:
        rows = [("client_id", self.authorize.client.client_id), ("redirect_uri", self.authorize.redirect_uri)]
        if self.authorize.state is not None:
            rows.append(("state", self.authorize.state))
        if self.authorize.claim_account_code is not None:
            rows.append(("claim_account_code", self.authorize.claim_account_code))
        return rows

    def render(
        self,
        session: LoginSession,
        *,
        profile_id: int | None = None,
        refused: StepRefused | None = None,
        values: dict[str, str] | None = None,
    ) -> Response:
        step = self.linking.step(session, self.authorize, profile_id)
        errors: dict[str, str] = {}
        form_error = None
        status = 200
        if refused is not None:
            status = 400
            if refused.field is not None and refused.step is step:
                errors[refused.field] = refused.message
            else:
                form_error = refused.message
        user = self.linking.user(session)
        context: dict[str, Any] = {
            "client_name": self.authorize.client.name,
            "action": self.action,
            "csrf": session.csrf,
            "details": self.details(),
            "errors": errors,
            "error_field": next(iter(errors), None),
            "form_error": form_error,
            "values": values or {},
            "email": user.email if user is not None else "",
        }
        if step is Step.LOGIN:
            mail = self.linking.mail_for(self.authorize)
            if mail is not None and "email" not in context["values"]:
                context["values"] = {"email": mail.to}
            response = page("login.html", status, **context)
        elif step is Step.CLAIM:
            claim = self.linking.claim_for(self.authorize)
            assert claim is not None
            context["email"] = self.tenant.directory.user(claim.user_id).email
            response = page("claim.html", status, **context)
        elif step is Step.TWO_FACTOR:
            assert user is not None
            locked = self.linking.locked_for(user.id)
            if locked and refused is None:
                context["errors"] = {"otp": "Too many wrong codes. Try again later."}
            context["phone_hint"] = user.phone_number[-2:] if user.phone_number else ""
            response = page("two_factor.html", status, **context)
        elif step is Step.PROFILE:
            profiles = self.linking.profiles(session)
            if profiles:
                response = page("profile.html", status, profiles=profiles, **context)
            else:
                response = page("create_profile.html", status, **context)
        else:
            profiles = self.linking.profiles(session)
            chosen = next((p for p in profiles if p.id == profile_id), profiles[0])
            response = page("consent.html", status, profile=chosen, **context)
        return self.with_cookie(response)

    def with_cookie(self, response: Response) -> Response:
        if self.new_cookie is not None:
            response.set_cookie(
                cookie_name(self.tenant),
                self.new_cookie,
                path=COOKIE_PATH,
                httponly=True,
                samesite="lax",
                secure=self.request.url.scheme == "https",
            )
        return response

    def finish(self, outcome: Outcome) -> Response:
        if outcome.redirect is not None:
            return RedirectResponse(outcome.redirect, 302, headers={"Cache-Control": "no-store"})
        name = self.authorize.client.name
        if outcome.code is not None:
            return page("code.html", code=outcome.code, client_name=name, details=self.details())
        return page("declined.html", client_name=name, link_back=outcome.link_back, details=self.details())


async def authorize_page(call: RouteCall) -> Response | NotedResponse:
    """
    summary: The authorize page (account linking)
    description: >
      Wise's OAuth authorize page (reference §3): the user logs in, passes 2FA (code 111111), chooses
      a profile and approves or denies. `response_type` is accepted and ignored. An unknown client or
      a `redirect_uri` that is not exactly one the client registered (query string included) gets
      an error page, never a redirect.
    tags: [linking]
    parameters:
      - {name: client_id, in: query, required: true, schema: {type: string}}
      - {name: redirect_uri, in: query, required: true, schema: {type: string}}
      - {name: state, in: query, required: false, schema: {type: string}}
      - {name: claim_account_code, in: query, required: false, schema: {type: string}}
      - {name: response_type, in: query, required: false, schema: {type: string}}
    responses:
      200:
        description: "The step the browser is at (login, 2FA, profile, consent), as HTML."
        content: {text/html: {}}
      400:
        description: "An error page: unknown client, unregistered redirect_uri, bad claim code."
        content: {text/html: {}}
    """
    return await _authorize(call, _show)


async def authorize_form(call: RouteCall) -> Response | NotedResponse:
    """
    summary: A form posted from the authorize page
    description: >
      Each step's form (`action`: login, two_factor, claim, create_profile, choose_profile, approve,
      deny, logout) with the session's CSRF token. Approve redirects to `redirect_uri` with `code`,
      `state` (when sent) and `profileId`; deny with `error=access_denied`.
    tags: [linking]
    parameters:
      - {name: client_id, in: query, required: true, schema: {type: string}}
      - {name: redirect_uri, in: query, required: true, schema: {type: string}}
      - {name: state, in: query, required: false, schema: {type: string}}
      - {name: claim_account_code, in: query, required: false, schema: {type: string}}
    requestBody:
      content:
        application/x-www-form-urlencoded:
          schema:
            type: object
            properties:
              csrf: {type: string}
              action: {type: string}
              email: {type: string}
              password: {type: string}
              otp: {type: string}
              profile_id: {type: string}
    responses:
      200:
        description: "The next step, or the code page of the e-mail flow, as HTML."
        content: {text/html: {}}
      302: {description: "Back to the registered redirect_uri with a code, or with error=access_denied."}
      400:
        description: "The step refused its input (shown on the page), or the link is unusable."
        content: {text/html: {}, application/json: {}}
      403:
        description: "Missing or wrong CSRF token, or no live session: a page to start again."
        content: {text/html: {}}
      413:
        description: "The form is too large."
        content: {application/json: {}}
    """
    return await _authorize(call, _post)


async def _authorize(
    call: RouteCall, step: Callable[[Flow], Awaitable[Response | NotedResponse]]
) -> Response | NotedResponse:
    """The checks both methods share (the client, its redirect_uri, the claim code), then `step`."""
    tenant, params = call.tenant, call.params
    if tenant is None:
        client_id = params.get("client_id", "")
        message = (
            "The link you followed doesn't say which app sent you here."
            if not client_id
            else "We don't recognise the app that sent you here."
        )
        return error_page("invalid_client" if client_id else "invalid_request", message)
    try:
        return await step(Flow(call.request, tenant, tenant.linking.authorize(params)))
    except LinkingError as exc:
        return error_page(exc.error, exc.message)


async def _show(flow: Flow) -> NotedResponse:
    session, flow.new_cookie = flow.linking.open_session(flow.request.cookies.get(cookie_name(flow.tenant)))
    return NotedResponse(flow.render(session), Note(user_id=session.user_id))


async def _post(flow: Flow) -> Response | NotedResponse:
    form = await form_params(flow.request)
    linking = flow.linking
    session = linking.session(flow.request.cookies.get(cookie_name(flow.tenant)))
    if session is None or not linking.csrf_ok(session, form.get("csrf", "")):
        return error_page(
            "invalid_csrf",
            "For your security, this page timed out or was opened somewhere else. Start again.",
            403,
            restart=flow.action,
        )
    note = Note(user_id=session.user_id)
    action = form.get("action", "")
    profile_id = _int(form.get("profile_id"))
    values: dict[str, str] = {
        k: form[k] for k in ("email", "first_name", "last_name", "date_of_birth") if k in form
    }
    try:
        if action == "login":
            linking.log_in(session, form.get("email", ""), form.get("password", ""))
            flow.new_cookie = linking.rekey(session)
        elif action == "claim":
            linking.claim_account(session, flow.authorize, form.get("password", ""), form.get("confirm", ""))
            flow.new_cookie = linking.rekey(session)
        elif action == "two_factor":
            linking.verify_two_factor(session, form.get("otp", ""))
        elif action == "create_profile":
            created = linking.create_profile(
                session, form.get("first_name", ""), form.get("last_name", ""), form.get("date_of_birth", "")
            )
            profile_id = created.id
        elif action == "choose_profile":
            if profile_id is None or all(p.id != profile_id for p in linking.profiles(session)):
                raise StepRefused(
                    Step.PROFILE, "invalid_profile", "Choose one of your profiles.", "profile_id"
                )
        elif action == "approve":
            if profile_id is None:
                raise StepRefused(
                    Step.PROFILE, "invalid_profile", "Choose one of your profiles.", "profile_id"
                )
            return NotedResponse(flow.finish(linking.approve(session, flow.authorize, profile_id)), note)
        elif action == "deny":
            return NotedResponse(flow.finish(linking.deny(flow.authorize)), note)
        elif action == "logout":
            linking.end_session(session)
            session, flow.new_cookie = linking.open_session(None)
        else:
            raise StepRefused(Step.LOGIN, "unknown_action", "Something went wrong with that form. Try again.")
    except StepRefused as refused:
        return NotedResponse(
            flow.render(session, profile_id=profile_id, refused=refused, values=values), note
        )
    return NotedResponse(flow.render(session, profile_id=profile_id), note)


def _int(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


routes = [
    endpoint("/oauth/authorize", authorize_page, methods=["GET"], auth=Auth.PAGE, name="authorize"),
    endpoint("/oauth/authorize", authorize_form, methods=["POST"], auth=Auth.PAGE, name="authorize_form"),
]
