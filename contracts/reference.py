"""A correct Wise client, the suites' reference: it passes every obligation.

It is also a readable example of what Wise asks of a partner (each rule cites its source):

- client authentication with HTTP Basic and a form body, for every grant (§2.1, Wise embedded auth page);
- one client-credentials token, reused until shortly before it expires, then renewed (Wise embedded
  auth page);
- user tokens renewed shortly before expiry, one refresh at a time per user, kept in one central
  place so no thread uses a token a refresh replaced (Wise user-tokens page);
- on `invalid_grant`: drop the tokens; for a user created over API try the stored registration
  code once; otherwise report "re-link needed" (Wise user-tokens page);
- bounded retries with exponential backoff, honouring `Retry-After` in either of its forms, on a
  429 and on a 503 (§9, RFC 9110 §10.2.3); never retry refused client credentials;
- token answers read as RFC 6749 §5.1 allows them to vary: unknown fields ignored, `token_type`
  in any case, no `expires_in` (then `expires_at`, or Wise's documented 12 hours), no new
  `refresh_token` on a refresh (the old one is kept, §6);
- an unguessable `state`, checked on the way back; the exact registered `redirect_uri`; the code
  exchanged once; the linked profile's date of birth checked against the partner's record (§3,
  Wise linking-accounts page);
- the client certificate presented and the server's certificate verified against the sandbox CA
  (§6);
- an SCA challenge (403 with `x-2fa-approval`) cleared through the one-time-token endpoints before
  the request is sent again with the token, and each token used once (§5.3).

Each behaviour is a small method so that `mockwise.contracts.mutants` can break exactly one.
"""

from __future__ import annotations

import datetime
import email.utils
import itertools
import random
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx

from mockwise.contracts.adapter import ClientConfig, NewUser, Outcome

RENEW_MARGIN = 300.0  # renew a token this many seconds before it expires
MAX_ATTEMPTS = 4  # one try and three retries, for transient failures
FIRST_BACKOFF = 0.05  # seconds; doubles on each retry
MAX_PENDING = 5  # link attempts a customer may have under way at once
MAX_RETRY_AFTER = 10.0  # never wait longer than this for a Retry-After
DOCUMENTED_LIFETIME = 43199  # Wise's `expires_in` for a 12-hour token (§2.3), when an answer has none
OTP_CHANNELS = ("SMS", "WHATSAPP", "VOICE")  # challenges passed with a one-time password (§5.3)
SANDBOX_OTP = "111111"  # the sandbox's OTP (reference §5.3)


class GiveUp(Exception):
    """The operation cannot be done; `kind` is what the client reports."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class RelinkNeeded(Exception):
    """The user's tokens are gone for good: the customer must link their account again."""


@dataclass
class UserRecord:
    """The partner's central token storage for one customer."""

    kind: str  # "created" (over API) or "linked" (through the authorize page)
    email: str = ""
    registration_code: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: float = 0.0  # on the client's own clock
    profile_id: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class PendingLink:
    state: str
    date_of_birth: str


class ReferenceClient:
    def __init__(
        self,
        config: ClientConfig,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        # looked up at each call, not bound here: a test may patch time.time and time.sleep
        self.clock: Callable[[], float] = clock or (lambda: time.time())
        self.sleep: Callable[[float], None] = sleep or (lambda seconds: time.sleep(seconds))
        self.client_secret = config.client_secret
        base = config.mtls_api_url or config.api_url
        self.http = httpx.Client(base_url=base, verify=self._tls_context(), timeout=10.0)
        self._cc: tuple[str, float] | None = None
        self._cc_lock = threading.Lock()
        self._users: dict[str, UserRecord] = {}
        # link attempts under way, by customer: several may be in flight (two tabs, a page closed
        # and opened again); each callback finishes its own, found by its state
        self._pending: dict[str, list[PendingLink]] = {}
        self._lock = threading.Lock()
        self._transfer_ids = itertools.count(1)  # any transfer id is fundable in the sandbox

    # Transport ---------------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext | bool:
        """Trust the sandbox CA (the "Wise certificate") and present the client certificate (§6).
        An SSLContext, not a path: httpx ignores `cert=` when `verify` is a path."""
        if not self.config.ca_cert:
            return True
        context = ssl.create_default_context(cafile=self.config.ca_cert)
        if self.config.client_cert:
            context.load_cert_chain(self.config.client_cert, self.config.client_key or None)
        return context

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request with bounded, backed-off retries of transient failures (§9)."""
        backoff = FIRST_BACKOFF
        for attempt in range(1, MAX_ATTEMPTS + 1):
            last = attempt == MAX_ATTEMPTS
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                if last:
                    raise GiveUp("network") from None
                self.sleep(backoff)
                backoff *= 2
                continue
            if response.status_code == 429 or (response.status_code == 503 and self._says_when(response)):
                if last:
                    raise GiveUp("rate_limited" if response.status_code == 429 else "server_error")
                self.sleep(self._retry_after(response, backoff))
                backoff *= 2
                continue
            # a gateway page or a broken body where an answer was due; a bare 403 (an SCA
            # challenge may have no body, §5.2) or 401 is an answer
            if response.status_code >= 500 or (response.status_code < 300 and not _is_json(response)):
                if last:
                    raise GiveUp("server_error")
                self.sleep(backoff)
                backoff *= 2
                continue
            return response
        raise AssertionError("unreachable")

    def _says_when(self, response: httpx.Response) -> bool:
        return "retry-after" in response.headers

    def _retry_after(self, response: httpx.Response, fallback: float) -> float:
        """Wait as long as the server asks (§9), within reason: delay-seconds or an HTTP-date
        (RFC 9110 §10.2.3); without either, back off."""
        value = response.headers.get("retry-after", "").strip()
        if value.isdigit():
            return min(float(value), MAX_RETRY_AFTER)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return fallback
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        return min(max(0.0, when.timestamp() - self.clock()), MAX_RETRY_AFTER)

    # The token endpoint ------------------------------------------------------------------------

    def _token_url(self) -> str:
        return "/oauth/token"

    def _token_request(self, form: dict[str, str]) -> httpx.Response:
        """HTTP Basic client authentication and a form body, for every grant (§2.1)."""
        return self._send(
            "POST", self._token_url(), auth=(self.config.client_id, self.client_secret), data=form
        )

    def _grant(self, form: dict[str, str]) -> dict[str, Any] | None:
        """Tokens, or None on `invalid_grant`. Refused client credentials are never retried."""
        response = self._token_request(form)
        if response.status_code == 200:
            tokens: dict[str, Any] = response.json()
            return tokens
        error = _body(response).get("error")
        if response.status_code == 401 and error in ("unauthorized", "invalid_client"):
            raise GiveUp(self._on_refused_client())
        if error == "invalid_grant":
            return None
        raise GiveUp("rejected")

    def _on_refused_client(self) -> str:
        return "unauthorized"

    def _expires_at(self, tokens: dict[str, Any]) -> float:
        """When a token expires, on this client's clock: `expires_in` (RFC 6749 §5.1 RECOMMENDED),
        else the `expires_at` instant, else the 12 hours Wise documents (§2.4)."""
        if isinstance(tokens.get("expires_in"), int | float):
            return self.clock() + float(tokens["expires_in"])
        if isinstance(tokens.get("expires_at"), str):
            at = datetime.datetime.fromisoformat(tokens["expires_at"].replace("Z", "+00:00"))
            return at.timestamp()
        return self.clock() + DOCUMENTED_LIFETIME

    def _needs_renewal(self, expires_at: float) -> bool:
        return self.clock() >= expires_at - RENEW_MARGIN

    # Client-credentials token ------------------------------------------------------------------

    def _partner_token(self, force: str | None = None) -> str:
        """The partner's token: reused while it lives, renewed before it expires (Wise embedded auth page).
        `force`: the token that was just refused, to be replaced (once) if still current."""
        with self._cc_lock:
            current = self._cc
            if current is not None and (current[0] == force or self._needs_renewal(current[1])):
                current = None
            if current is None:
                tokens = self._grant({"grant_type": "client_credentials"})
                if tokens is None:
                    raise GiveUp("rejected")
                current = (tokens["access_token"], self._expires_at(tokens))
                self._cc = current
            return current[0]

    def partner_call(self) -> Outcome:
        try:
            token = self._partner_token()
            response = self._users_exists(token)
            if response.status_code == 401:  # revoked or expired early: renew once, try once more
                response = self._users_exists(self._partner_token(force=token))
        except GiveUp as failure:
            return Outcome.error(failure.kind)
        if response.status_code == 200:
            return Outcome.ok(response.json())
        return Outcome.error("unauthorized" if response.status_code == 401 else "rejected")

    def _users_exists(self, token: str) -> httpx.Response:
        return self._send(
            "POST", "/v1/users/exists", headers=_bearer(token), json={"email": "nobody@example.com"}
        )

    # User creation over API (§4) ---------------------------------------------------------------

    def create_user(self, user: NewUser) -> Outcome:
        try:
            token = self._partner_token()
            body = {"email": user.email, "registrationCode": user.registration_code}
            response = self._send(
                "POST", "/v1/user/signup/registration_code", headers=_bearer(token), json=body
            )
            if response.status_code == 401:
                token = self._partner_token(force=token)
                response = self._send(
                    "POST", "/v1/user/signup/registration_code", headers=_bearer(token), json=body
                )
            if response.status_code != 200:
                return Outcome.error("rejected")
            record = UserRecord(kind="created", email=user.email, registration_code=user.registration_code)
            with self._lock:
                self._users[user.key] = record
            with record.lock:
                self._use_registration_code(record)
            return Outcome.ok(response.json())
        except GiveUp as failure:
            return Outcome.error(failure.kind)
        except RelinkNeeded:
            return Outcome.relink_needed()

    def _use_registration_code(self, record: UserRecord) -> None:
        """Tokens from the stored registration code (valid until the user reclaims, §4)."""
        if record.registration_code is None:
            raise RelinkNeeded
        tokens = self._grant(
            {
                "grant_type": "registration_code",
                "client_id": self.config.client_id,
                "email": record.email,
                "registration_code": record.registration_code,
            }
        )
        if tokens is None:
            record.registration_code = None  # reclaimed: never try it again
            raise RelinkNeeded
        self._store(record, tokens)

    def _store(self, record: UserRecord, tokens: dict[str, Any]) -> None:
        record.access_token = tokens["access_token"]
        record.refresh_token = tokens.get("refresh_token") or record.refresh_token
        record.expires_at = self._expires_at(tokens)

    # Linking an existing account (§3, Wise linking-accounts page) -------------------------------------------

    def start_link(self, user_key: str, date_of_birth: str) -> str:
        state = self._new_state()
        with self._lock:
            attempts = self._pending.setdefault(user_key, [])
            attempts.append(PendingLink(state, date_of_birth))
            del attempts[:-MAX_PENDING]  # the oldest unfinished attempts are forgotten
        query = {"client_id": self.config.client_id, "redirect_uri": self._redirect_uri(), "state": state}
        return f"{self.config.authorize_url}?{urlencode(query)}"

    def _new_state(self) -> str:
        return secrets.token_urlsafe(32)

    def _redirect_uri(self) -> str:
        return self.config.redirect_uri

    def _take_pending(self, user_key: str, returned: str | None) -> PendingLink | None:
        """The link attempt this callback finishes (its state is the one returned), no longer
        pending; None when the state is none this client issued for the customer."""
        with self._lock:
            attempts = self._pending.get(user_key, [])
            pending = next((p for p in attempts if self._state_matches(p, returned)), None)
            if pending is not None:
                attempts.remove(pending)
            return pending

    def _state_matches(self, pending: PendingLink | None, returned: str | None) -> bool:
        return (
            pending is not None and returned is not None and secrets.compare_digest(pending.state, returned)
        )

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        query = {k: v[0] for k, v in parse_qs(urlparse(callback_url).query).items()}
        pending = self._take_pending(user_key, query.get("state"))
        if pending is None:
            return Outcome.error("state_mismatch")
        if "error" in query or "code" not in query:
            # declined, or no code: nothing changes for the customer's existing link, if any
            return Outcome.error("declined" if query.get("error") == "access_denied" else "rejected")
        try:
            tokens = self._exchange_code(query["code"])
            if tokens is None:
                return Outcome.error("rejected")
            record = UserRecord(kind="linked", profile_id=_int(query.get("profileId")))
            self._store(record, tokens)
            if not self._date_of_birth_matches(record, pending.date_of_birth):
                return Outcome.error("dob_mismatch")  # not our customer: keep nothing
        except GiveUp as failure:
            return Outcome.error(failure.kind)
        except RelinkNeeded:
            return Outcome.relink_needed()
        with self._lock:
            self._users[user_key] = record
        return Outcome.ok({"profileId": record.profile_id})

    def _exchange_code(self, code: str) -> dict[str, Any] | None:
        """Exchange the code once: it is single use (§2.4), so a failed exchange is not retried."""
        form = self._code_form(code)
        try:
            response = self.http.post(
                self._token_url(), auth=(self.config.client_id, self.client_secret), data=form
            )
        except httpx.TransportError:
            raise GiveUp("network") from None
        if response.status_code == 200 and _is_json(response):
            tokens: dict[str, Any] = response.json()
            return tokens
        if response.status_code == 429:
            raise GiveUp("rate_limited")
        if response.status_code >= 500 or not _is_json(response):
            raise GiveUp("server_error")
        if response.status_code == 401:
            raise GiveUp("unauthorized")
        return None

    def _code_form(self, code: str) -> dict[str, str]:
        return {
            "grant_type": "authorization_code",
            "client_id": self.config.client_id,
            "code": code,
            "redirect_uri": self._redirect_uri(),
        }

    def _date_of_birth_matches(self, record: UserRecord, expected: str) -> bool:
        """After linking, check the profile's date of birth against our own records (Wise linking-accounts
        page)."""
        path = f"/v2/profiles/{record.profile_id}" if record.profile_id else "/v1/me"
        token = self._user_token(record)
        response = self._send("GET", path, headers=_bearer(token))
        if response.status_code == 401:  # revoked or expired early: refresh once, try once more
            response = self._send("GET", path, headers=_bearer(self._user_token(record, force=token)))
        if response.status_code != 200:
            raise GiveUp("rejected")
        body = response.json()
        if body.get("type") == "BUSINESS":
            return (
                True  # businesses are checked by other means (Wise linking-accounts page); not modelled here
            )
        found = body.get("dateOfBirth") or (body.get("details") or {}).get("dateOfBirth")
        return self._same_date(str(found or ""), expected)

    def _same_date(self, found: str, expected: str) -> bool:
        return found == expected

    # Calling as a user (Wise user-tokens page) --------------------------------------------------------------

    def user_call(self, user_key: str) -> Outcome:
        with self._lock:
            record = self._users.get(user_key)
        if record is None:
            return Outcome.relink_needed()
        try:
            token = self._user_token(record)
            response = self._send("GET", "/v1/me", headers=_bearer(token))
            if response.status_code == 401:  # revoked, or expired early: refresh once, try once more
                token = self._user_token(record, force=token)
                response = self._send("GET", "/v1/me", headers=_bearer(token))
        except RelinkNeeded:
            self._forget(user_key, record)
            return Outcome.relink_needed()
        except GiveUp as failure:
            return Outcome.error(failure.kind)
        if response.status_code == 200:
            return Outcome.ok(response.json())
        return Outcome.error("rejected")

    def _user_token(self, record: UserRecord, force: str | None = None) -> str:
        """The user's access token, renewed before expiry; one refresh at a time (Wise user-tokens page)."""
        with record.lock:
            stale = record.access_token is None or record.access_token == force
            if stale or self._needs_renewal(record.expires_at):
                self._refresh(record)
            assert record.access_token is not None
            return record.access_token

    def _refresh(self, record: UserRecord) -> None:
        tokens = None
        if record.refresh_token is not None:
            tokens = self._grant({"grant_type": "refresh_token", "refresh_token": record.refresh_token})
        if tokens is not None:
            self._store(record, tokens)
            return
        # invalid_grant: the refresh token is dead and must never be sent again (Wise user-tokens page)
        record.access_token = record.refresh_token = None
        if record.kind == "created":
            self._use_registration_code(record)  # raises RelinkNeeded once that is gone too
            return
        raise RelinkNeeded

    def _forget(self, user_key: str, record: UserRecord) -> None:
        with self._lock:
            if self._users.get(user_key) is record:
                del self._users[user_key]

    # An SCA-protected action (§5) ------------------------------------------------------------

    def fund_transfer(self, user_key: str) -> Outcome:
        """Fund a transfer from the balance: answer the 403 challenge, then send it again (§5.3)."""
        with self._lock:
            record = self._users.get(user_key)
        if record is None:
            return Outcome.relink_needed()
        path = f"/v3/profiles/{record.profile_id}/transfers/{next(self._transfer_ids)}/payments"
        try:
            token = self._user_token(record)
            response = self._fund(path, token)
            if response.status_code == 401:
                token = self._user_token(record, force=token)
                response = self._fund(path, token)
            ott = response.headers.get("x-2fa-approval")
            if response.status_code == 403 and ott:
                self._clear_challenges(token, ott)
                response = self._fund(path, token, ott)
        except RelinkNeeded:
            self._forget(user_key, record)
            return Outcome.relink_needed()
        except GiveUp as failure:
            return Outcome.error(failure.kind)
        if response.status_code == 201:
            return Outcome.ok(response.json())
        return Outcome.error("sca_rejected" if response.status_code == 403 else "rejected")

    def _fund(self, path: str, token: str, ott: str | None = None) -> httpx.Response:
        """The protected request; with `ott`, the one-time token its challenge issued (§5.3)."""
        headers = {**_bearer(token), **({"x-2fa-approval": ott} if ott else {})}
        return self._send("POST", path, headers=headers, json={"type": "BALANCE"})

    def _clear_challenges(self, token: str, ott: str) -> None:
        """Pass each required challenge the sandbox offers by OTP (code 111111, §5.3); the token
        is ready once none is required and not passed."""
        headers = {**_bearer(token), "One-Time-Token": ott}
        response = self._send("GET", "/v1/one-time-token/status", headers=headers)
        if response.status_code != 200:
            raise GiveUp("sca_rejected")
        for challenge in response.json()["oneTimeTokenProperties"]["challenges"]:
            if not challenge["required"] or challenge["passed"]:
                continue
            channel = challenge["primaryChallenge"]["type"]
            if channel not in OTP_CHANNELS:
                raise GiveUp("sca_rejected")  # PIN, facemap or device: beyond this client
            base = f"/v1/one-time-token/{channel.lower()}"
            self._send("POST", f"{base}/trigger", headers=headers)
            verified = self._send("POST", f"{base}/verify", headers=headers, json={"otpCode": SANDBOX_OTP})
            if verified.status_code != 200:
                raise GiveUp("sca_rejected")

    # Administration -----------------------------------------------------------------------------

    def update_client_secret(self, client_secret: str) -> None:
        self.client_secret = client_secret

    def close(self) -> None:
        self.http.close()


class RetryingReference(ReferenceClient):
    """The second reference: as correct, and patient where the first gives up at once. It retries
    *every* transient failure (a 5xx, a 429, a reset, a gateway page, a broken body), the code
    exchange and the refresh included, with jittered exponential backoff, honouring `Retry-After`
    (§9, RFC 9110 §10.2.3). A code exchange answered with a transient failure was not acted on as
    far as the client can tell, and the sandbox never acted on one: retrying it is what
    RETRY-BOUNDED asks (docs/contracts.md, "Attempts whose outcome the client could not know")."""

    FIRST_BACKOFF = 0.1

    def __init__(self, config: ClientConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._jitter = random.Random(config.client_id)  # noqa: S311 - jitter, not a secret

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        backoff = self.FIRST_BACKOFF
        failure = "server_error"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            told: float | None = None  # how long the server asked to wait, if it did
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                failure = "network"
            else:
                status = response.status_code
                if not (status == 429 or status >= 500 or (status < 300 and not _is_json(response))):
                    return response
                failure = "rate_limited" if status == 429 else "server_error"
                if status in (429, 503) and self._says_when(response):
                    told = self._retry_after(response, backoff)
            if attempt < MAX_ATTEMPTS:
                # Retry-After as asked; otherwise exponential backoff with jitter (half to all of it)
                self.sleep(told if told is not None else backoff * (0.5 + self._jitter.random() / 2))
                backoff *= 2
        raise GiveUp(failure)

    def _exchange_code(self, code: str) -> dict[str, Any] | None:
        response = self._token_request(self._code_form(code))
        if response.status_code == 200:
            tokens: dict[str, Any] = response.json()
            return tokens
        if response.status_code == 401:
            raise GiveUp("unauthorized")
        return None


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object answered, or {} (an empty or non-JSON body)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _is_json(response: httpx.Response) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def factory(config: ClientConfig) -> ReferenceClient:
    """The entry point the suites call: `--wise-client mockwise.contracts.reference:factory`."""
    return ReferenceClient(config)


def retrying_factory(config: ClientConfig) -> ReferenceClient:
    """The second reference: `--wise-client mockwise.contracts.reference:retrying_factory`."""
    return RetryingReference(config)
