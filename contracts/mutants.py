"""Broken clients, one realistic bug each: the proof that the suites catch what they claim to.

Each mutant is the reference client with one behaviour changed, and names the obligation that
must catch it. The kill matrix (`tests/contracts/test_kill_matrix.py`) runs them all: the
reference keeps every obligation; each mutant breaks its own and no other.
"""

from __future__ import annotations

import contextlib
import datetime
import ssl
import threading
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlparse

import httpx

from mockwise.contracts.adapter import ClientConfig, Outcome
from mockwise.contracts.reference import (
    MAX_RETRY_AFTER,
    GiveUp,
    PendingLink,
    ReferenceClient,
    RelinkNeeded,
    UserRecord,
    _is_json,
)


def _bearer(record: UserRecord) -> dict[str, str]:
    return {"Authorization": f"Bearer {record.access_token}"}


class TokenPerCall(ReferenceClient):
    """Fetches a new client-credentials token for every call."""

    catches = "CC-REUSE"

    def _partner_token(self, force: str | None = None) -> str:
        with self._cc_lock:
            self._cc = None
        return super()._partner_token(force)


class PartnerTokenUntil401(ReferenceClient):
    """Never renews its client-credentials token until the API refuses it."""

    catches = "CC-NO-EXPIRED"

    def _partner_token(self, force: str | None = None) -> str:
        with self._cc_lock:
            if self._cc is not None and self._cc[0] != force:
                return self._cc[0]
        return super()._partner_token(force)


class RefreshAfter401(ReferenceClient):
    """Refreshes user tokens only after a 401, never before expiry."""

    catches = "USER-NO-EXPIRED"

    def _user_token(self, record: UserRecord, force: str | None = None) -> str:
        with record.lock:
            if record.access_token is None or record.access_token == force:
                self._refresh(record)
            assert record.access_token is not None
            return record.access_token


class NoRefreshLock(ReferenceClient):
    """No single flight: concurrent workers each refresh, and use what they got."""

    catches = "USER-NO-STALE"

    def _user_token(self, record: UserRecord, force: str | None = None) -> str:
        stale = record.access_token is None or record.access_token == force
        if stale or self._needs_renewal(record.expires_at):
            tokens = None
            if record.refresh_token is not None:
                tokens = self._grant({"grant_type": "refresh_token", "refresh_token": record.refresh_token})
            if tokens is not None:
                self._store(record, tokens)
                return str(tokens["access_token"])  # this worker's copy, whatever others did since
            record.refresh_token = None  # dead: fall back as the reference does
            with record.lock:
                self._refresh(record)
        assert record.access_token is not None
        return record.access_token


class StaleAfterRefresh(ReferenceClient):
    """Refreshes early, as it should, but the call in flight still sends the (unexpired) token it read
    before refreshing."""

    catches = "USER-NO-STALE"

    def _user_token(self, record: UserRecord, force: str | None = None) -> str:
        before, still_good = record.access_token, self.clock() < record.expires_at
        token = super()._user_token(record, force)
        return before if before is not None and before != force and still_good else token


class LoopsOnInvalidGrant(ReferenceClient):
    """On invalid_grant, tries the same refresh token a few more times before giving up."""

    catches = "INVALID-GRANT-STOP"

    def _refresh(self, record: UserRecord) -> None:
        if record.refresh_token is not None:
            for _ in range(3):
                tokens = self._grant({"grant_type": "refresh_token", "refresh_token": record.refresh_token})
                if tokens is not None:
                    self._store(record, tokens)
                    return
        super()._refresh(record)


class NoRegistrationCodeFallback(ReferenceClient):
    """Treats every invalid_grant as "re-link needed", even for users it created over API."""

    catches = "REGCODE-FALLBACK"

    def _refresh(self, record: UserRecord) -> None:
        if record.kind == "created" and record.access_token is not None:
            record.registration_code = None
        super()._refresh(record)


class RelinkAsError(ReferenceClient):
    """Reports a dead link as a generic error instead of "re-link needed"."""

    catches = "RELINK-REPORTED"

    def user_call(self, user_key: str) -> Outcome:
        outcome = super().user_call(user_key)
        return Outcome.error("rejected") if outcome.status == "relink_needed" else outcome


class IgnoresRetryAfter(ReferenceClient):
    """Backs off on 429 as on any failure, ignoring the Retry-After it was given."""

    catches = "RETRY-AFTER"

    def _retry_after(self, response: httpx.Response, fallback: float) -> float:
        return fallback


class TightRetryLoop(ReferenceClient):
    """Retries transient failures at once, up to eight times (it does wait when told how long)."""

    catches = "RETRY-BOUNDED"

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for _ in range(7):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                continue
            if response.status_code in (429, 503) and self._says_when(response):
                self.sleep(self._retry_after(response, 1.0))
                continue
            if response.status_code >= 500 or (response.status_code == 200 and not _is_json(response)):
                continue
            if response.status_code == 429:
                self.sleep(1.0)
                continue
            return response
        return super()._send(method, path, **kwargs)


class RetriesInvalidClient(ReferenceClient):
    """Retries a token request whose client credentials were refused."""

    catches = "NO-RETRY-INVALID-CLIENT"

    def _grant(self, form: dict[str, str]) -> dict[str, Any] | None:
        try:
            return super()._grant(form)
        except GiveUp as refused:
            if refused.kind != "unauthorized":
                raise
            return super()._grant(form)


class SkipsStateCheck(ReferenceClient):
    """Sends a state but never checks the one that comes back."""

    catches = "STATE-CHECKED"

    def _state_matches(self, pending: PendingLink | None, returned: str | None) -> bool:
        return pending is not None


class SecretInQuery(ReferenceClient):
    """Also puts its credentials in the token URL's query string (Basic auth is still sent)."""

    catches = "SECRET-NOT-IN-URL"

    def _token_url(self) -> str:
        return f"/oauth/token?client_id={self.config.client_id}&client_secret={self.client_secret}"


class CredentialsInBody(ReferenceClient):
    """Sends client_id and client_secret as form fields instead of HTTP Basic."""

    catches = "AUTH-BASIC"

    def _token_request(self, form: dict[str, str]) -> httpx.Response:
        body = {**form, "client_id": self.config.client_id, "client_secret": self.client_secret}
        return self._send("POST", self._token_url(), data=body)


class MissingClientId(ReferenceClient):
    """Leaves client_id out of the registration_code and authorization_code grants."""

    catches = "GRANT-PARAMS"

    def _token_request(self, form: dict[str, str]) -> httpx.Response:
        return super()._token_request({k: v for k, v in form.items() if k != "client_id"})

    def _code_form(self, code: str) -> dict[str, str]:
        return {k: v for k, v in super()._code_form(code).items() if k != "client_id"}


class NoDateOfBirthCheck(ReferenceClient):
    """Links whatever profile comes back, without checking the date of birth."""

    catches = "DOB-CHECK"

    def _date_of_birth_matches(self, record: UserRecord, expected: str) -> bool:
        return True


class SloppyRedirectUri(ReferenceClient):
    """Builds the redirect URI with a trailing slash the partner never registered."""

    catches = "REDIRECT-EXACT"

    def _redirect_uri(self) -> str:
        return self.config.redirect_uri.rstrip("/") + "/"


class PredictableState(ReferenceClient):
    """Uses a short counter as its state."""

    catches = "STATE-CHECKED"
    _counter = 0
    _counter_lock = threading.Lock()

    def _new_state(self) -> str:
        with self._counter_lock:
            PredictableState._counter += 1
            return f"s{PredictableState._counter}"


def factory_for(mutant: type[ReferenceClient]) -> Any:
    def factory(config: ClientConfig) -> ReferenceClient:
        return mutant(config)

    factory.__name__ = f"{mutant.__name__}_factory"
    return factory


class NoClientCertificate(ReferenceClient):
    """Trusts the sandbox CA but never loads its client certificate."""

    catches = "MTLS-PRESENT"

    def _tls_context(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=self.config.ca_cert) if self.config.ca_cert else True


class AcceptsAnyServer(ReferenceClient):
    """Presents its certificate but turns server verification off ("it's only the sandbox")."""

    catches = "VERIFY-SERVER"

    def _tls_context(self) -> ssl.SSLContext | bool:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if self.config.client_cert:
            context.load_cert_chain(self.config.client_cert, self.config.client_key or None)
        return context


class RetriesUncleared(ReferenceClient):
    """Sends the SCA-challenged request again with its one-time token, without passing the
    token's challenges first."""

    catches = "SCA-CLEARED"

    def _clear_challenges(self, token: str, ott: str) -> None:
        return None


class ReusesOneTimeToken(ReferenceClient):
    """Keeps the last one-time token that approved a transfer, and sends it with the next one
    for the same profile (then answers that request's own challenge correctly)."""

    catches = "SCA-ONE-USE"

    def __init__(self, config: ClientConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._approved: dict[str, str] = {}

    def _fund(self, path: str, token: str, ott: str | None = None) -> httpx.Response:
        profile = path.split("/transfers/")[0]
        response = super()._fund(path, token, ott or self._approved.get(profile))
        if ott and response.status_code == 201:
            self._approved[profile] = ott
        return response


class RenewsHoursEarly(ReferenceClient):
    """Renews a customer's token once less than 23/24 of its life is left (a margin meant as the
    last 24th, written the wrong way round): every half hour, for a token that lives twelve."""

    catches = "USER-REUSE"

    def _store(self, record: UserRecord, tokens: dict[str, Any]) -> None:
        super()._store(record, tokens)
        self._lives = getattr(self, "_lives", {})
        self._lives[id(record)] = record.expires_at - self.clock()

    def _user_token(self, record: UserRecord, force: str | None = None) -> str:
        with record.lock:
            life = getattr(self, "_lives", {}).get(id(record), 12 * 3600)
            early = self.clock() >= record.expires_at - life * 23 / 24
            if record.access_token is None or record.access_token == force or early:
                self._refresh(record)
            assert record.access_token is not None
            return record.access_token


class RegistrationCodeEveryCall(ReferenceClient):
    """For customers it created, gets fresh tokens from the stored registration code on every call
    instead of keeping them (each grant kills the refresh token before it)."""

    catches = "USER-REUSE"

    def _user_token(self, record: UserRecord, force: str | None = None) -> str:
        if record.kind == "created" and record.registration_code is not None:
            with record.lock, contextlib.suppress(RelinkNeeded):  # refused: its refresh token, then
                self._use_registration_code(record)
                assert record.access_token is not None
                return record.access_token
        return super()._user_token(record, force)


class LastUserTokenCache(ReferenceClient):
    """Caches "the user token" it fetched last and reuses it while it is fresh, whichever customer
    the call is for."""

    catches = "USER-OWN-TOKEN"

    def __init__(self, config: ClientConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._last: tuple[str, float] | None = None

    def _user_token(self, record: UserRecord, force: str | None = None) -> str:
        last = self._last
        if force is None and last is not None and not self._needs_renewal(last[1]):
            return last[0]
        token = super()._user_token(record, force)
        self._last = (token, record.expires_at)
        return token


class KeepsFirstRefreshToken(ReferenceClient):
    """Keeps the refresh token it got when the customer linked, ignoring the one each refresh
    returns (fine while Wise returns the same one; not when it rotates them)."""

    catches = "USER-NO-STALE"

    def _store(self, record: UserRecord, tokens: dict[str, Any]) -> None:
        first = record.refresh_token
        super()._store(record, tokens)
        record.refresh_token = first or record.refresh_token


class StatePrefixCheck(ReferenceClient):
    """Compares only the first 8 characters of the state that comes back."""

    catches = "STATE-CHECKED"

    def _state_matches(self, pending: PendingLink | None, returned: str | None) -> bool:
        return pending is not None and returned is not None and returned[:8] == pending.state[:8]


class StateCheckedWhenPresent(ReferenceClient):
    """Checks the state only when the redirect carries one."""

    catches = "STATE-CHECKED"

    def _state_matches(self, pending: PendingLink | None, returned: str | None) -> bool:
        return pending is not None and (not returned or returned == pending.state)


class StateCaseInsensitive(ReferenceClient):
    """Compares the state without regard to case."""

    catches = "STATE-CHECKED"

    def _state_matches(self, pending: PendingLink | None, returned: str | None) -> bool:
        return pending is not None and (returned or "").lower() == pending.state.lower()


class StateAnyValue(ReferenceClient):
    """Accepts a redirect if any of its `state` values is the one it issued."""

    catches = "STATE-CHECKED"

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        values = parse_qs(urlparse(callback_url).query).get("state", [])
        with self._lock:
            pending = next((p for p in self._pending.get(user_key, []) if p.state in values), None)
        if pending is not None:
            query = urlparse(callback_url)._replace(query=_only_state(callback_url, pending.state))
            return super().finish_link(user_key, query.geturl())
        return super().finish_link(user_key, callback_url)


def _only_state(url: str, state: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(urlparse(url).query) if k != "state"]
    return urlencode([*pairs, ("state", state)])


class DobYearOnly(ReferenceClient):
    """Checks only the year of the linked profile's date of birth."""

    catches = "DOB-CHECK"

    def _same_date(self, found: str, expected: str) -> bool:
        return found[:4] == expected[:4]


class TwelveHoursNoMargin(ReferenceClient):
    """Assumes a customer's token lives 12 hours from when it arrived (not the `expires_in` it was
    told, a second less) and renews it only at that instant."""

    catches = "USER-NO-EXPIRED"

    def _store(self, record: UserRecord, tokens: dict[str, Any]) -> None:
        super()._store(record, tokens)
        record.expires_at = self.clock() + 12 * 3600

    def _user_token(self, record: UserRecord, force: str | None = None) -> str:
        with record.lock:
            if (
                record.access_token is None
                or record.access_token == force
                or self.clock() >= record.expires_at
            ):
                self._refresh(record)
            assert record.access_token is not None
            return record.access_token


class RetriesForever(ReferenceClient):
    """Backs off politely on transient failures, but never gives up."""

    catches = "RETRY-BOUNDED"

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        backoff = 0.05
        for _ in range(12):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                self.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            if response.status_code == 429 or (response.status_code == 503 and self._says_when(response)):
                self.sleep(self._retry_after(response, backoff))
                continue
            if response.status_code >= 500 or (response.status_code < 300 and not _is_json(response)):
                self.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            return response
        raise GiveUp("server_error")


class LinksAgainFromScratch(ReferenceClient):
    """When anything after the code exchange fails (the profile check meets an outage), starts
    the whole callback over, exchanging the redirect's code a second time."""

    catches = "CODE-ONCE"

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        with self._lock:
            before = list(self._pending.get(user_key, []))
        outcome = super().finish_link(user_key, callback_url)
        if outcome.kind in ("server_error", "network", "rate_limited"):
            self.sleep(MAX_RETRY_AFTER)  # patiently, past any Retry-After
            with self._lock:
                self._pending[user_key] = before
            return super().finish_link(user_key, callback_url)
        return outcome


class NeedsExpiresIn(ReferenceClient):
    """Reads `expires_in` as if every answer had it (RFC 6749 §5.1 only recommends it)."""

    catches = "WORKS"

    def _expires_at(self, tokens: dict[str, Any]) -> float:
        return self.clock() + float(tokens["expires_in"])


class LowercaseTokenTypeOnly(ReferenceClient):
    """Refuses a token answer whose `token_type` is not exactly "bearer" (RFC 6749 §5.1: the value
    is case-insensitive)."""

    catches = "WORKS"

    def _grant(self, form: dict[str, str]) -> dict[str, Any] | None:
        tokens = super()._grant(form)
        # (checked where nothing was replaced: a refresh's answer refused would leave it sending
        # the token that refresh killed, which USER-NO-STALE judges)
        if (
            tokens is not None
            and form["grant_type"] != "refresh_token"
            and tokens.get("token_type") != "bearer"
        ):
            raise GiveUp("rejected")
        return tokens

    def _exchange_code(self, code: str) -> dict[str, Any] | None:
        tokens = super()._exchange_code(code)
        if tokens is not None and tokens.get("token_type") != "bearer":
            raise GiveUp("rejected")
        return tokens


class StrictTokenFields(ReferenceClient):
    """Reads token answers into a strict record that refuses fields it does not know (RFC 6749 §5.1:
    a client ignores them)."""

    catches = "WORKS"

    KNOWN = frozenset({
        "access_token", "token_type", "refresh_token", "expires_in", "expires_at", "scope",
        "refresh_token_expires_in", "refresh_token_expires_at", "created_at",
    })  # fmt: skip

    def _grant(self, form: dict[str, str]) -> dict[str, Any] | None:
        tokens = super()._grant(form)
        # (where refusing replaces nothing: see LowercaseTokenTypeOnly)
        if tokens is not None and form["grant_type"] != "refresh_token" and set(tokens) - self.KNOWN:
            raise GiveUp("rejected")
        return tokens

    def _exchange_code(self, code: str) -> dict[str, Any] | None:
        tokens = super()._exchange_code(code)
        if tokens is not None and set(tokens) - self.KNOWN:
            raise GiveUp("rejected")
        return tokens


class ForgetsRefreshToken(ReferenceClient):
    """Stores whatever a refresh answer says of the refresh token: when it says nothing (RFC 6749
    §6 allows that), the refresh token is lost."""

    catches = "WORKS"

    def _store(self, record: UserRecord, tokens: dict[str, Any]) -> None:
        super()._store(record, tokens)
        record.refresh_token = tokens.get("refresh_token")


class AssumesTwelveHours(ReferenceClient):
    """Ignores a customer's `expires_in` and takes every user token for a 12-hour one."""

    catches = "USER-NO-EXPIRED"

    def _store(self, record: UserRecord, tokens: dict[str, Any]) -> None:
        super()._store(record, tokens)
        record.expires_at = self.clock() + 43199


class RetryAfterSecondsOnly(ReferenceClient):
    """Understands a `Retry-After` of delay-seconds only; an HTTP-date (RFC 9110 §10.2.3) falls
    back to its own short backoff."""

    catches = "RETRY-AFTER"

    def _retry_after(self, response: httpx.Response, fallback: float) -> float:
        value = response.headers.get("retry-after", "")
        return min(float(value), 10.0) if value.isdigit() else fallback


class RetryAfterOn429Only(ReferenceClient):
    """Honours `Retry-After` on a 429, and backs off by itself on a 503 that says when to come
    back (RFC 9110 §10.2.3)."""

    catches = "RETRY-AFTER"

    def _says_when(self, response: httpx.Response) -> bool:
        return False


class FirstListedProfile(ReferenceClient):
    """Takes the customer's profile from the first one `/v2/profiles` lists, not from the redirect
    (right while a linked token lists only its own profile)."""

    catches = "WORKS"

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        outcome = super().finish_link(user_key, callback_url)
        with self._lock:
            record = self._users.get(user_key)
        if outcome.status == "ok" and record is not None:
            listed = self._send("GET", "/v2/profiles", headers=_bearer(record))
            profiles = listed.json() if listed.status_code == 200 else []
            if profiles:
                record.profile_id = profiles[0]["id"]
        return outcome


class TruncatesTokens(ReferenceClient):
    """Stores access tokens in a column sized for UUIDs (64 characters)."""

    catches = "WORKS"

    def _grant(self, form: dict[str, str]) -> dict[str, Any] | None:
        tokens = super()._grant(form)
        if tokens is not None:
            tokens = {**tokens, "access_token": str(tokens["access_token"])[:64]}
        return tokens


class NeedsExpiresAt(ReferenceClient):
    """Reads a token's expiry from `expires_at` only, which Wise's responses before 2023 lack."""

    catches = "WORKS"

    def _expires_at(self, tokens: dict[str, Any]) -> float:
        when = datetime.datetime.fromisoformat(str(tokens["expires_at"]).replace("Z", "+00:00"))
        return when.timestamp()


class ChallengeNeedsBody(ReferenceClient):
    """Reads the SCA challenge's JSON body before its headers (Wise may send none)."""

    catches = "WORKS"

    def _fund(self, path: str, token: str, ott: str | None = None) -> httpx.Response:
        response = super()._fund(path, token, ott)
        if response.status_code == 403:
            response.json()  # raises on an empty body
        return response


class StrictCallback(ReferenceClient):
    """Refuses a redirect back that carries parameters it does not know."""

    catches = "WORKS"

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        known = {"code", "state", "profileId", "error", "error_description"}
        registered = set(parse_qs(urlparse(self.config.redirect_uri).query))
        if set(parse_qs(urlparse(callback_url).query)) - known - registered:
            return Outcome.error("rejected")
        return super().finish_link(user_key, callback_url)


class DropsLinkOnNewAttempt(ReferenceClient):
    """Forgets a customer's tokens as soon as they start linking again ("they are re-linking
    anyway"): a declined or abandoned attempt leaves them with nothing."""

    catches = "LINK-KEPT"

    def start_link(self, user_key: str, date_of_birth: str) -> str:
        with self._lock:
            self._users.pop(user_key, None)
        return super().start_link(user_key, date_of_birth)


class KeepsFirstLink(ReferenceClient):
    """When a customer it already holds links again, keeps the tokens it had (and ignores the new
    link's): their old refresh token died with the new grant (§2.5)."""

    catches = "RELINK-REPLACES"

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        with self._lock:
            held = self._users.get(user_key)
        outcome = super().finish_link(user_key, callback_url)
        if held is not None and outcome.status == "ok":
            with self._lock:
                self._users[user_key] = held
        return outcome


class OnePendingLinkPerCustomer(ReferenceClient):
    """Remembers one link attempt per customer: starting a second forgets the first, whose callback
    is then refused as foreign."""

    catches = "LINKS-IN-FLIGHT"

    def start_link(self, user_key: str, date_of_birth: str) -> str:
        with self._lock:
            self._pending.pop(user_key, None)
        return super().start_link(user_key, date_of_birth)


MUTANTS: tuple[type[ReferenceClient], ...] = (
    TokenPerCall,
    PartnerTokenUntil401,
    RefreshAfter401,
    NoRefreshLock,
    StaleAfterRefresh,
    LoopsOnInvalidGrant,
    NoRegistrationCodeFallback,
    RelinkAsError,
    IgnoresRetryAfter,
    TightRetryLoop,
    RetriesInvalidClient,
    SkipsStateCheck,
    PredictableState,
    SecretInQuery,
    CredentialsInBody,
    MissingClientId,
    NoDateOfBirthCheck,
    SloppyRedirectUri,
    NoClientCertificate,
    AcceptsAnyServer,
    RetriesUncleared,
    ReusesOneTimeToken,
    RenewsHoursEarly,
    RegistrationCodeEveryCall,
    LastUserTokenCache,
    KeepsFirstRefreshToken,
    StatePrefixCheck,
    StateCheckedWhenPresent,
    StateCaseInsensitive,
    StateAnyValue,
    DobYearOnly,
    TwelveHoursNoMargin,
    RetriesForever,
    LinksAgainFromScratch,
    NeedsExpiresIn,
    LowercaseTokenTypeOnly,
    StrictTokenFields,
    ForgetsRefreshToken,
    AssumesTwelveHours,
    RetryAfterSecondsOnly,
    RetryAfterOn429Only,
    FirstListedProfile,
    TruncatesTokens,
    NeedsExpiresAt,
    ChallengeNeedsBody,
    StrictCallback,
    DropsLinkOnNewAttempt,
    KeepsFirstLink,
    OnePendingLinkPerCustomer,
)
