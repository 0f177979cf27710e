"""Linking an existing Wise account: the authorize page's rules, without HTTP (reference §3, §4,
Wise linking-accounts page).

A user follows a partner's link to `/oauth/authorize/`, logs in (or, with a `claim_account_code`,
secures a partner-created account with a password), passes 2FA when their account has it, picks
(or creates) a profile and approves or denies. Approving issues an authorization code bound to the
client, redirect URI, user and profile (`TokenService.issue_code`). The pages and the scripted user
(`Linking.script`, `Tenant.link`) both walk these same steps, so both obey the same rules:

- the redirect URI must be exactly one the client registered, query string included, or there is
  an error page and never a redirect [C] §3;
- the sandbox 2FA code is always 111111 [C] §1; five wrong codes in a row lock the user out for
  15 minutes on the tenant clock (Wise's OTT rule, §5.3, applied here [I]); wrong passwords lock
  the e-mail the same way by default (`authorize.login_max_failures`, `authorize.login_lockout`);
- claim-account codes last 5 minutes [C] §2.4 and are used once; claiming reclaims the account,
  after which the registration code fails (§4);
- the e-mail flow (Wise linking-accounts page): on a 409 from user creation with
  `sendAuthorizationCodeAsEmail`, an e-mail with a link lands in the tenant's sandbox mailbox;
  following it and approving shows the code on a page instead of redirecting.

Browser sign-ins are server-side sessions keyed by a SHA-256 of the cookie value, so the value is
never stored; each has its own CSRF token.
"""

from __future__ import annotations

import hmac
import math
import secrets
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TypedDict, Unpack
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from mockwise._domain.codec import JSON, from_data, to_data
from mockwise._domain.context import TenantContext
from mockwise._domain.errors import FieldError, RateLimited, ValidationError
from mockwise._domain.grants import TokenService
from mockwise._domain.model import ApiClient, Profile, ProfileType, User
from mockwise._domain.scenarios import Scenarios
from mockwise._domain.settings import (
    CLAIM_ACCOUNT_CODE_LIFETIME,
    SANDBOX_OTP,
    TWO_FACTOR_LOCKOUT,
    TWO_FACTOR_MAX_FAILURES,
)
from mockwise._domain.tokens import token_key

AUTHORIZE_PATH = "/oauth/authorize/"  # with the trailing slash, as Wise writes it (§3)
MAX_SESSIONS = 4096  # beyond this, expired and anonymous sign-ins make room (`Linking._sweep`)
MAX_LOGIN_ATTEMPTS = 4096  # e-mails with wrong passwords remembered at once (`Linking._make_room`)
MIN_PASSWORD = 8


class Step(StrEnum):
    """Where a user is on the authorize page."""

    LOGIN = "login"
    CLAIM = "claim"  # secure a partner-created account with a password (claim_account_code)
    TWO_FACTOR = "two_factor"
    PROFILE = "profile"  # choose one of several profiles, or create the first
    CONSENT = "consent"


class LinkingError(Exception):
    """The authorize request itself is unusable: an error page, never a redirect (§3)."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error, self.message = error, message


class StepRefused(Exception):
    """A step refused its input (wrong password, wrong 2FA code, lockout...); the user stays there."""

    def __init__(self, step: Step, error: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.step, self.error, self.message, self.field = step, error, message, field


@dataclass(slots=True, eq=False)
class LoginSession:
    """One browser's sign-in on the authorize page."""

    key: str  # SHA-256 of the cookie value
    csrf: str
    expires_at: float
    user_id: int | None = None
    verified: bool = False  # password (or claim) done, and 2FA when the user has it

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None and self.verified


@dataclass(slots=True)
class Attempts:
    """Wrong passwords (or 2FA codes) in a row, and the lockout they led to."""

    failures: int = 0
    locked_until: float | None = None
    last_failed_at: float = 0.0  # tenant clock

    def live(self, now: float, window: float) -> bool:
        """Whether forgetting this would help a guesser: a lockout in force, or failures within
        `window` seconds (the lockout's length) that could still add up to one."""
        if self.locked_until is not None:
            return now < self.locked_until
        return self.failures > 0 and now - self.last_failed_at < window


@dataclass(slots=True, eq=False)
class ClaimCode:
    key: str
    user_id: int
    client_id: str
    expires_at: float
    used_at: float | None = None


@dataclass(slots=True, eq=False)
class Mail:
    """An e-mail Wise would have sent; in the sandbox it lands in the tenant's mailbox (§1)."""

    id: int
    to: str
    subject: str
    text: str
    link: str  # path and query of the authorize page; the HTTP layer adds the host
    link_id: str
    client_id: str
    redirect_uri: str
    user_id: int
    sent_at: float


@dataclass(slots=True)
class LinkingState:
    """A tenant's linking state as data (`Linking.snapshot`, `Linking.kept`)."""

    attempts: dict[int, Attempts] = field(default_factory=dict)  # 2FA, by user id
    login_attempts: dict[str, Attempts] = field(default_factory=dict)  # passwords, by e-mail
    claims: list[ClaimCode] = field(default_factory=list)
    mailbox: list[Mail] = field(default_factory=list)
    next_mail: int = 1
    sessions: list[LoginSession] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    """The authorize page's query, checked: the client exists and the redirect URI is registered."""

    client: ApiClient
    redirect_uri: str
    state: str | None = None
    claim_account_code: str | None = None
    email_link: str | None = None

    def query(self) -> str:
        """The canonical query string, to carry the request through the page's forms."""
        pairs = [("client_id", self.client.client_id), ("redirect_uri", self.redirect_uri)]
        if self.state is not None:
            pairs.append(("state", self.state))
        if self.claim_account_code is not None:
            pairs.append(("claim_account_code", self.claim_account_code))
        if self.email_link is not None:
            pairs.append(("email_link", self.email_link))
        return urlencode(pairs, quote_via=quote)


class LinkOptions(TypedDict, total=False):
    """How the scripted user goes through the authorize page (`link` on every tenant handle)."""

    password: str | None
    """The user's password; with a `claim_account_code` in the URL, the new password."""
    approve: bool
    """True (the default): approve; False: deny."""
    otp: str
    """The 2FA code typed: the sandbox's is always 111111 (§1), the default; anything else is wrong."""
    profile_id: int | None
    """The profile chosen; by default the first (a user with none gets a personal profile)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an authorize request ended: a redirect, a code shown on a page (e-mail flow), or a page
    with a link back to the partner (a denial, when `authorize.deny_redirects` is off)."""

    redirect: str | None = None
    code: str | None = None
    link_back: str | None = None
    profile_id: int | None = None
    denied: bool = False


def first_params(query: str) -> dict[str, str]:
    """Query parameters, the first value of a repeated name winning (as on Spring)."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace", max_num_fields=100):
        params.setdefault(name, value)
    return params


def with_params(uri: str, params: list[tuple[str, str]]) -> str:
    """`uri` with `params` appended to its query (a registered URI may have one, §3)."""
    base, hash_, fragment = uri.partition("#")
    separator = "" if base.endswith(("?", "&")) else "&" if "?" in base else "?"
    return base + separator + urlencode(params, quote_via=quote) + hash_ + fragment


class Linking:
    """A tenant's account-linking state: sign-ins, 2FA attempts, claim codes and the mailbox."""

    def __init__(self, context: TenantContext, tokens: TokenService, scenarios: Scenarios) -> None:
        self._context = context
        self._tokens = tokens
        self._scenarios = scenarios
        self.restore(None)

    def clear(self) -> None:
        self.restore(None)

    def clear_mailbox(self) -> None:
        with self._context.lock:
            self.mailbox.clear()
            self._mail_links.clear()
            self._context.changed("linking")

    def snapshot(self) -> JSON:
        """Sign-ins, 2FA and password attempts, claim codes and the mailbox (a `Part`)."""
        with self._context.lock:
            return to_data(self._state(sessions=True))

    def kept(self) -> JSON:
        """What a state store keeps: everything but the sign-ins (a restarted server signs browsers
        out, as servers do, and their CSRF tokens stay in memory)."""
        with self._context.lock:
            return to_data(self._state(sessions=False))

    def _state(self, *, sessions: bool) -> LinkingState:
        return LinkingState(
            attempts=self.attempts,
            login_attempts=self.login_attempts,
            claims=list(self.claims.values()),
            mailbox=list(self.mailbox),
            next_mail=self._next_mail,
            sessions=list(self.sessions.values()) if sessions else [],
        )

    def restore(self, snapshot: JSON) -> None:
        state = from_data(LinkingState, snapshot, "linking") if snapshot is not None else LinkingState()
        with self._context.lock:
            self.sessions: dict[str, LoginSession] = {s.key: s for s in state.sessions}
            self.attempts: dict[int, Attempts] = state.attempts
            self.login_attempts: dict[str, Attempts] = state.login_attempts
            self.claims: dict[str, ClaimCode] = {c.key: c for c in state.claims}
            self.mailbox: deque[Mail] = deque(state.mailbox)
            self._mail_links: dict[str, Mail] = {m.link_id: m for m in self.mailbox}
            self._next_mail: int = state.next_mail
            self._context.changed("linking")

    def _now(self) -> float:
        return self._context.clock.now()

    # The request -------------------------------------------------------------------------------

    def authorize(self, params: Mapping[str, str]) -> AuthorizeRequest:
        """Check the authorize page's query (§3). `response_type` is accepted and ignored."""
        client_id = params.get("client_id") or ""
        client = self._context.directory.clients.get(client_id)
        if client is None:
            raise LinkingError("invalid_client", "We don't recognise the app that sent you here.")
        redirect_uri = params.get("redirect_uri")
        if not redirect_uri:
            raise LinkingError("invalid_request", f"{client.name} didn't say where to send you back to.")
        if redirect_uri not in client.redirect_uris:  # exact match, query string included [C] §3
            raise LinkingError(
                "invalid_redirect_uri",
                f"{client.name} asked us to send you to an address it has not registered with Wise, "
                "so we won't send you there.",
            )
        claim_code = params.get("claim_account_code") or None
        if claim_code is not None:
            claim = self.claims.get(token_key(claim_code))
            if claim is None or claim.client_id != client.client_id:
                raise LinkingError(
                    "invalid_claim_account_code",
                    f"This link to claim your account isn't valid. Go back to {client.name} and try again.",
                )
        email_link = params.get("email_link") or None
        if email_link is not None:
            mail = self._mail_links.get(email_link)
            if mail is None or mail.client_id != client.client_id or mail.redirect_uri != redirect_uri:
                raise LinkingError("invalid_email_link", "This link from your e-mail isn't valid.")
        return AuthorizeRequest(client, redirect_uri, params.get("state"), claim_code, email_link)

    def mail_for(self, request: AuthorizeRequest) -> Mail | None:
        return self._mail_links.get(request.email_link) if request.email_link else None

    # Sessions ----------------------------------------------------------------------------------

    def session(self, cookie: str | None) -> LoginSession | None:
        """The live session a cookie names, or None."""
        if not cookie:
            return None
        with self._context.lock:
            found = self.sessions.get(token_key(cookie))
            if found is None:
                return None
            if self._now() >= found.expires_at:
                del self.sessions[found.key]
                return None
            return found

    def open_session(self, cookie: str | None) -> tuple[LoginSession, str | None]:
        """The browser's live session, or a new one with its cookie value (None: keep the cookie)."""
        found = self.session(cookie)
        if found is not None:
            return found, None
        value = secrets.token_urlsafe(32)
        with self._context.lock:
            self._sweep()
            session = LoginSession(token_key(value), secrets.token_urlsafe(24), self._expiry())
            self.sessions[session.key] = session
        return session, value

    def rekey(self, session: LoginSession) -> str:
        """A new cookie value for a session whose sign-in changed (no session fixation)."""
        value = secrets.token_urlsafe(32)
        with self._context.lock:
            self.sessions.pop(session.key, None)
            session.key = token_key(value)
            session.csrf = secrets.token_urlsafe(24)
            session.expires_at = self._expiry()
            self.sessions[session.key] = session
        return value

    def csrf_ok(self, session: LoginSession, presented: str) -> bool:
        return hmac.compare_digest(session.csrf.encode(), presented.encode("utf-8", "replace"))

    def end_session(self, session: LoginSession) -> None:
        with self._context.lock:
            self.sessions.pop(session.key, None)

    def _expiry(self) -> float:
        return self._now() + self._context.settings.authorize.login_session_lifetime

    def _sweep(self) -> None:
        """Keep at most MAX_SESSIONS: expired ones go first, then the oldest not signed in (pages
        opened and never used, by crawlers, property tests or a flood). A signed-in session is
        never forgotten for room: a table full of them refuses a new one with Wise's rate-limit
        answer (§9)."""
        if len(self.sessions) < MAX_SESSIONS:
            return
        now = self._now()
        for key in [k for k, s in self.sessions.items() if s.expires_at <= now]:
            del self.sessions[key]
        if len(self.sessions) < MAX_SESSIONS:
            return
        anonymous = [k for k, s in self.sessions.items() if s.user_id is None]
        for key in anonymous[: len(self.sessions) - MAX_SESSIONS + 1]:
            del self.sessions[key]
        if len(self.sessions) >= MAX_SESSIONS:
            soonest = min(s.expires_at for s in self.sessions.values())
            raise RateLimited(max(1, math.ceil(soonest - now)))

    # Steps -------------------------------------------------------------------------------------

    def step(self, session: LoginSession, request: AuthorizeRequest, profile_id: int | None = None) -> Step:
        """The step this session is at for this request (profile_id: the profile chosen, if any)."""
        with self._context.lock:
            claim = self.claim_for(request)
            if claim is not None:
                if claim.used_at is None:
                    if self._now() >= claim.expires_at:  # 5 minutes [C] §2.4
                        raise LinkingError(
                            "invalid_claim_account_code",
                            f"This link to claim your account has expired. Go back to "
                            f"{request.client.name} and try again.",
                        )
                    return Step.CLAIM
                if session.user_id != claim.user_id:
                    raise LinkingError(
                        "invalid_claim_account_code", "This account has already been claimed. Log in instead."
                    )
            if session.user_id is None or session.user_id not in self._context.directory.users:
                return Step.LOGIN
            if not session.verified:
                return Step.TWO_FACTOR
            profiles = self.profiles(session)
            if profile_id is not None and any(p.id == profile_id for p in profiles):
                return Step.CONSENT
            return Step.CONSENT if len(profiles) == 1 else Step.PROFILE

    def user(self, session: LoginSession) -> User | None:
        if session.user_id is None:
            return None
        return self._context.directory.users.get(session.user_id)

    def profiles(self, session: LoginSession) -> list[Profile]:
        user = self.user(session)
        return self._context.directory.profiles_of(user) if user is not None else []

    def log_in(self, session: LoginSession, email: str, password: str) -> None:
        """E-mail and password, checked with `Directory.check_password`. After
        `authorize.login_max_failures` wrong passwords in a row an e-mail is locked for
        `authorize.login_lockout` seconds of tenant time, the right password included. Unknown
        e-mails are counted alike, so the page never tells which accounts exist. The count is
        marked for the state store at once: a crash must not unlock an e-mail."""
        with self._context.lock:
            try:
                self._log_in(session, email, password)
            finally:
                self._context.changed("linking")  # attempts counted, reset or locked

    def _log_in(self, session: LoginSession, email: str, password: str) -> None:
        directory = self._context.directory
        rules = self._context.settings.authorize
        key = email.strip().casefold()
        now = self._now()
        attempts = self.login_attempts.get(key)
        if attempts is not None and attempts.locked_until is not None:
            if now < attempts.locked_until:
                raise StepRefused(
                    Step.LOGIN,
                    "locked",
                    _locked_message(attempts.locked_until - now, "passwords"),
                    "password",
                )
            del self.login_attempts[key]  # the lockout is over: a fresh count
            attempts = None
        user = directory.by_email(email.strip())
        if user is not None and user.active and directory.check_password(user, password):
            self.login_attempts.pop(key, None)
            self._signed_in_as(session, user)
            return
        wrong = "That e-mail and password don't match."
        if rules.login_max_failures:
            if attempts is None:
                self._make_room(self.login_attempts, now, rules.login_lockout)
                attempts = self.login_attempts[key] = Attempts()
            attempts.failures += 1
            attempts.last_failed_at = now
            if attempts.failures >= rules.login_max_failures:
                attempts.locked_until = now + rules.login_lockout
                raise StepRefused(
                    Step.LOGIN,
                    "locked",
                    f"{wrong} {_locked_message(rules.login_lockout, 'passwords')}",
                    "password",
                )
        raise StepRefused(Step.LOGIN, "bad_credentials", f"{wrong} Check them and try again.", "password")

    def _make_room(self, table: dict[str, Attempts], now: float, window: float) -> None:
        """Room for one more e-mail in a full table: the oldest entry that is not live goes (an
        ended lockout, or failures older than the lockout's length). A table full of live ones
        refuses the newcomer with Wise's rate-limit answer (§9) rather than forget a victim's
        count: a flood of made-up e-mails must not unlock an account."""
        if len(table) < MAX_LOGIN_ATTEMPTS:
            return
        idle = next((k for k, a in table.items() if not a.live(now, window)), None)
        if idle is None:
            soonest = min(
                (a.locked_until if a.locked_until is not None else a.last_failed_at + window)
                for a in table.values()
            )
            raise RateLimited(max(1, math.ceil(soonest - now)))
        del table[idle]

    def claim_account(
        self, session: LoginSession, request: AuthorizeRequest, password: str, confirm: str
    ) -> None:
        """Secure a partner-created account with a password: the account is now the user's, and
        the partner's registration code stops working (§4). Denying consent later does not undo it."""
        with self._context.lock:
            claim = self.claim_for(request)
            if claim is None or self.step(session, request) is not Step.CLAIM:
                raise StepRefused(Step.CLAIM, "not_claimable", "This account can't be claimed here.")
            if len(password) < MIN_PASSWORD:
                raise StepRefused(
                    Step.CLAIM,
                    "weak_password",
                    f"Choose a password of at least {MIN_PASSWORD} characters.",
                    "password",
                )
            if password != confirm:
                raise StepRefused(Step.CLAIM, "password_mismatch", "The passwords don't match.", "confirm")
            user = self._context.directory.user(claim.user_id)
            user.password_digest = self._context.directory.secrets.digest(password)
            claim.used_at = self._now()
            self._context.directory.changed()
            self._context.changed("linking")
            self._scenarios.reclaim(user)
            self._signed_in_as(session, user)

    def _signed_in_as(self, session: LoginSession, user: User) -> None:
        session.user_id = user.id
        session.verified = not user.two_factor  # a per-user setting (§1, Wise linking-accounts page)
        session.expires_at = self._expiry()

    def verify_two_factor(self, session: LoginSession, otp: str) -> None:
        """The sandbox code is always 111111 [C] §1; 5 wrong codes lock the user out for 15 min."""
        with self._context.lock:
            if session.user_id is None:
                raise StepRefused(Step.LOGIN, "not_signed_in", "Log in first.")
            try:
                self._two_factor(session, session.user_id, otp)
            finally:
                self._context.changed("linking")  # attempts counted, reset or locked

    def _two_factor(self, session: LoginSession, user_id: int, otp: str) -> None:
        """One 2FA code for `user_id` (the tenant's lock held)."""
        now = self._now()
        attempts = self.attempts.setdefault(user_id, Attempts())
        if attempts.locked_until is not None:
            if now < attempts.locked_until:
                raise StepRefused(
                    Step.TWO_FACTOR, "locked", _locked_message(attempts.locked_until - now), "otp"
                )
            attempts.failures, attempts.locked_until = 0, None
        if hmac.compare_digest("".join(otp.split()).encode("utf-8", "replace"), SANDBOX_OTP.encode()):
            attempts.failures = 0
            session.verified = True
            return
        attempts.failures += 1
        attempts.last_failed_at = now
        if attempts.failures >= TWO_FACTOR_MAX_FAILURES:
            attempts.locked_until = now + TWO_FACTOR_LOCKOUT
            raise StepRefused(
                Step.TWO_FACTOR,
                "locked",
                "That code is wrong. " + _locked_message(TWO_FACTOR_LOCKOUT),
                "otp",
            )
        left = TWO_FACTOR_MAX_FAILURES - attempts.failures
        raise StepRefused(
            Step.TWO_FACTOR,
            "wrong_code",
            f"That code is wrong. You have {left} more {'try' if left == 1 else 'tries'}.",
            "otp",
        )

    def locked_for(self, user_id: int) -> float:
        """Seconds of lockout left for a user (0 when not locked)."""
        attempts = self.attempts.get(user_id)
        if attempts is None or attempts.locked_until is None:
            return 0.0
        return max(0.0, attempts.locked_until - self._now())

    def create_profile(
        self, session: LoginSession, first_name: str, last_name: str, date_of_birth: str
    ) -> Profile:
        """A first (personal) profile for a user who has none: Wise asks the user to "create or
        select one profile" (§3)."""
        with self._context.lock:
            user = self.user(session)
            if user is None or not session.verified:
                raise StepRefused(Step.LOGIN, "not_signed_in", "Log in first.")
            if self.profiles(session):
                raise StepRefused(Step.PROFILE, "has_profile", "You already have a profile: choose it.")
            first, last = first_name.strip(), last_name.strip()
            if not first or len(first) > 100:
                raise StepRefused(Step.PROFILE, "invalid_first_name", "Enter your first name.", "first_name")
            if not last or len(last) > 100:
                raise StepRefused(Step.PROFILE, "invalid_last_name", "Enter your last name.", "last_name")
            born = _date_of_birth(date_of_birth, self._now())
            if born is None:
                raise StepRefused(
                    Step.PROFILE,
                    "invalid_date_of_birth",
                    "Enter your date of birth as YYYY-MM-DD (you must be 18 or over).",
                    "date_of_birth",
                )
            user.first_name = user.first_name or first
            user.last_name = user.last_name or last
            user.date_of_birth = user.date_of_birth or born
            return self._context.directory.add_profile(  # marks the directory changed
                user,
                ProfileType.PERSONAL,
                created_at=self._now(),
                first_name=first,
                last_name=last,
                date_of_birth=born,
            )

    def approve(self, session: LoginSession, request: AuthorizeRequest, profile_id: int) -> Outcome:
        """Consent: an authorization code bound to client, redirect URI, user and profile (§3)."""
        with self._context.lock:
            if self.step(session, request, profile_id) is not Step.CONSENT:
                raise StepRefused(Step.PROFILE, "not_ready", "Log in and choose a profile first.")
            user = self.user(session)
            profile = next((p for p in self.profiles(session) if p.id == profile_id), None)
            if user is None or profile is None:
                raise StepRefused(
                    Step.PROFILE, "invalid_profile", "Choose one of your profiles.", "profile_id"
                )
            code = self._tokens.issue_code(request.client, request.redirect_uri, user, profile)
        if (
            request.email_link is not None
        ):  # Wise linking-accounts page: the user is shown the code to type in
            return Outcome(code=code, profile_id=profile.id)
        params = [("code", code)]
        if request.state is not None:
            params.append(("state", request.state))  # returned unchanged, only when sent [C] §3
        params.append(("profileId", str(profile.id)))
        return Outcome(redirect=with_params(request.redirect_uri, params), code=code, profile_id=profile.id)

    def deny(self, request: AuthorizeRequest) -> Outcome:
        """The user said no: `error=access_denied` (standard OAuth; Wise's values are [I] §3)."""
        settings = self._context.settings.authorize
        params = [("error", "access_denied"), ("error_description", settings.access_denied_description)]
        if request.state is not None:
            params.append(("state", request.state))
        back = with_params(request.redirect_uri, params)
        if request.email_link is not None:  # nothing to redirect to from an e-mail
            return Outcome(denied=True)
        if settings.deny_redirects:
            return Outcome(redirect=back, denied=True)
        return Outcome(link_back=back, denied=True)

    def claim_for(self, request: AuthorizeRequest) -> ClaimCode | None:
        if request.claim_account_code is None:
            return None
        return self.claims.get(token_key(request.claim_account_code))

    # Claim-account codes (§4) ------------------------------------------------------------------

    def issue_claim_code(self, user: User, client_id: str | None, registration_code: str) -> str:
        """`POST /v1/user/claim-account`: a code, valid 5 minutes, for the authorize page [C] §4.

        Wise is silent on refusals; they are 400s in its validation shape here."""
        with self._context.lock:
            if user.created_by_client is None or user.created_by_client != client_id:
                raise ValidationError(
                    [FieldError("NOT_CLAIMABLE", "This user was not created by this partner", "userId")], 400
                )
            if user.reclaimed:
                raise ValidationError(
                    [
                        FieldError(
                            "ALREADY_CLAIMED", "The account has already been claimed", "registrationCode"
                        )
                    ],
                    400,
                )
            if not self._context.directory.secrets.matches(registration_code, user.registration_code_digest):
                raise ValidationError(
                    [
                        FieldError(
                            "INVALID", "Invalid registration code", "registrationCode", ["registrationCode"]
                        )
                    ],
                    400,
                )
            now = self._now()
            code = str(uuid.uuid4())  # Wise's example is a UUID [C] DOCS claim-account
            if len(self.claims) >= MAX_SESSIONS:
                self.claims = {k: c for k, c in self.claims.items() if c.expires_at > now}
                while len(self.claims) >= MAX_SESSIONS:
                    del self.claims[next(iter(self.claims))]
            self.claims[token_key(code)] = ClaimCode(
                token_key(code), user.id, client_id, now + CLAIM_ACCOUNT_CODE_LIFETIME
            )
            self._context.changed("linking")
            return code

    # The sandbox mailbox (Wise linking-accounts page) -------------------------------------------------------

    def send_authorization_email(self, client: ApiClient, user: User) -> Mail | None:
        """The e-mail flow: a link to log in, approve and be shown a code (Wise linking-accounts page).

        The code is bound to the client's first registered redirect URI (the exchange must send it,
        §3); a client with none gets no e-mail sent."""
        if not client.redirect_uris:
            return None
        with self._context.lock:
            link_id = secrets.token_urlsafe(18)
            redirect_uri = client.redirect_uris[0]
            query = urlencode(
                [("client_id", client.client_id), ("redirect_uri", redirect_uri), ("email_link", link_id)],
                quote_via=quote,
            )
            link = f"{AUTHORIZE_PATH}?{query}"
            mail = Mail(
                id=self._next_mail,
                to=user.email,
                subject=f"Connect your Wise account to {client.name}",
                text=(
                    f"{client.name} would like to connect to your Wise account.\n\n"
                    "Log in with the link below and approve the connection. We'll show you a code: "
                    f"type it into {client.name} to finish. The code works once, for 30 minutes.\n\n"
                    "If you didn't ask for this, ignore this e-mail."
                ),
                link=link,
                link_id=link_id,
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                user_id=user.id,
                sent_at=self._now(),
            )
            self._next_mail += 1
            self.mailbox.append(mail)
            self._mail_links[link_id] = mail
            while len(self.mailbox) > self._context.settings.limits.mailbox_size:  # the oldest go
                self._mail_links.pop(self.mailbox.popleft().link_id, None)
            self._context.changed("linking")
            return mail

    # The scripted user -------------------------------------------------------------------------

    def script(self, authorize_url: str, email: str | None = None, **options: Unpack[LinkOptions]) -> Outcome:
        """A user clicking through the authorize page, for automation: the same steps and rules as
        the pages. Raises `LinkingError` for a bad authorize URL and `StepRefused` where a person
        would see an error (wrong password, wrong 2FA code, lockout). `email` logs in (default:
        the addressee of a link from the sandbox mailbox); `options` are `LinkOptions`."""
        password = options.get("password")
        approve, otp = options.get("approve", True), options.get("otp", SANDBOX_OTP)
        profile_id = options.get("profile_id")
        request = self.authorize(first_params(urlsplit(authorize_url).query))
        session, _ = self.open_session(None)
        try:
            step = self.step(session, request, profile_id)
            if step is Step.CLAIM:
                if password is None:
                    raise StepRefused(Step.CLAIM, "missing_password", "A new password is needed to claim.")
                self.claim_account(session, request, password, password)
            elif step is Step.LOGIN:
                mail = self.mail_for(request)
                login = email if email is not None else (mail.to if mail is not None else None)
                if login is None or password is None:
                    raise StepRefused(
                        Step.LOGIN, "missing_credentials", "An e-mail and a password are needed."
                    )
                self.log_in(session, login, password)
            if self.step(session, request, profile_id) is Step.TWO_FACTOR:
                self.verify_two_factor(session, otp)
            if not approve:
                return self.deny(request)
            profiles = self.profiles(session)
            if not profiles:
                user = self.user(session)
                assert user is not None
                profiles = [
                    self.create_profile(
                        session,
                        user.first_name or "Sandbox",
                        user.last_name or "User",
                        (user.date_of_birth or date(1990, 1, 1)).isoformat(),
                    )
                ]
            chosen = profile_id if profile_id is not None else profiles[0].id
            return self.approve(session, request, chosen)
        finally:
            self.end_session(session)


def _locked_message(seconds: float, what: str = "codes") -> str:
    minutes = max(1, int(-(-seconds // 60)))
    return (
        f"Too many wrong {what}: for your security, try again in {minutes} "
        f"minute{'' if minutes == 1 else 's'}."
    )


def _date_of_birth(value: str, now: float) -> date | None:
    try:
        born = date.fromisoformat(value.strip())
    except ValueError:
        return None
    today = datetime.fromtimestamp(now, UTC).date()
    adult = (today.year - born.year - ((today.month, today.day) < (born.month, born.day))) >= 18
    return born if born.year >= 1900 and adult else None


__all__ = [
    "AUTHORIZE_PATH",
    "AuthorizeRequest",
    "ClaimCode",
    "Linking",
    "LinkingError",
    "LoginSession",
    "Mail",
    "Outcome",
    "Step",
    "StepRefused",
    "first_params",
    "with_params",
]
