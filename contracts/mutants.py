"""Broken clients, one realistic bug each: the proof that the suites catch what they claim to.

Each mutant is the reference client with one behaviour changed, and names the obligation that
must catch it. The kill matrix (`tests/contracts/test_kill_matrix.py`) runs them all: the
reference keeps every obligation; each mutant breaks its own and no other.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import httpx

from contracts.adapter import ClientConfig, Outcome
from contracts.reference import GiveUp, PendingLink, ReferenceClient, UserRecord, _is_json


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
    """Retries transient failures at once, up to eight times."""

    catches = "RETRY-BOUNDED"

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for _ in range(7):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                continue
            if response.status_code >= 500 or (response.status_code == 200 and not _is_json(response)):
                continue
            if response.status_code == 429:
                self.sleep(self._retry_after(response, 1.0))
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

    def _exchange_code(self, code: str) -> dict[str, Any] | None:
        response = self._send(
            "POST",
            self._token_url(),
            auth=(self.config.client_id, self.client_secret),
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": self._redirect_uri()},
        )
        tokens: dict[str, Any] | None = response.json() if response.status_code == 200 else None
        return tokens


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
)
