"""Every request the client makes: HTTP Basic and a form for tokens, the grant's parameters, no secret in
a URL, its certificate on the mTLS host, a verified server, its own customer's tokens, and an SCA
challenge cleared before its one-time token goes back, once."""

from __future__ import annotations

from mockwise._domain.journal import Entry
from mockwise.contracts.checks.base import (
    CUSTOMER_OPS,
    PARTNER_PATHS,
    REQUIRED_PARAMS,
    SENSITIVE_QUERY,
    JudgeState,
    Obligation,
    Operation,
    _is_token,
)

OBLIGATIONS: tuple[Obligation, ...] = (
    Obligation(
        "AUTH-BASIC",
        "Every token request authenticates the client with HTTP Basic and sends its parameters as a form.",
        "Wise embedded auth page; reference §2.1",
        "critical",
        "each /oauth/token request carries Basic credentials and a form body with grant_type",
        situation="token requests",
        adversaries=("client_credentials", "registration_code", "authorization_code", "refresh_token"),
    ),
    Obligation(
        "GRANT-PARAMS",
        "Each grant sends the parameters Wise requires (client_id, email, registration_code, code, "
        "redirect_uri, refresh_token).",
        "reference §2.2",
        "major",
        "the form's parameter names include the grant's required ones",
        situation="token requests",
        adversaries=("client_credentials", "registration_code", "authorization_code", "refresh_token"),
    ),
    Obligation(
        "SECRET-NOT-IN-URL",
        "The client secret, codes and tokens never travel in a URL.",
        "Wise auth-and-security page (the client secret is highly sensitive); RFC 6749 §2.3.1",
        "critical",
        "no request has client_secret, code, refresh_token, registration_code or password in its query",
        situation="requests",
        adversaries=("token endpoint", "API"),
    ),
    Obligation(
        "USER-OWN-TOKEN",
        "Each operation presents the tokens of whom it acts for: a customer's call that customer's, a "
        "partner call the partner's.",
        "Wise user-tokens page (a user's tokens act for that user); reference §3 (a token is bound to the "
        "approved profile)",
        "critical",
        "no operation for a customer presents another customer's access or refresh token or registration "
        "code, or the partner's token on a customer's endpoint; no partner call presents a customer's token",
        situation="operations while holding several parties' tokens",
        adversaries=("customer call", "partner call"),
    ),
    Obligation(
        "SCA-CLEARED",
        "After an SCA challenge, the one-time token goes back with the request only once its challenges "
        "are cleared.",
        "reference §5.3 (the token is ready when no challenge is required and not passed)",
        "critical",
        "no request presents a one-time token whose challenges are still pending",
        situation="SCA challenges",
        needs=("start_link", "fund_transfer"),  # only a linked customer has a profile to fund from,
        adversaries=("challenge",),
    ),
    Obligation(
        "SCA-ONE-USE",
        "A one-time token approves one request: the next SCA-protected request waits for its own challenge.",
        "reference §5.2 (a one-time token is single use)",
        "major",
        "no request presents a one-time token already used",
        situation="transfers after an approved one",
        needs=("start_link", "fund_transfer"),
        adversaries=("a transfer after an approved one",),
    ),
    Obligation(
        "MTLS-PRESENT",
        "Every request the partner makes presents its client certificate, on the mTLS host.",
        "Wise embedded auth page (mTLS is a strict requirement); reference §6",
        "critical",
        "no journal entry for the partner's client id arrives without a client certificate",
        situation="partner requests",
        needs=("mtls",),
        adversaries=("token endpoint", "API"),
    ),
    Obligation(
        "VERIFY-SERVER",
        "The client verifies the server's certificate against the sandbox CA: an impostor gets nothing.",
        "reference §6 (trust Wise's CA), §12 (HTTPS only)",
        "critical",
        "no request arrives over a connection whose server certificate another CA signed",
        situation="impostor meetings",
        needs=("impostor",),
        adversaries=("partner", "customer"),
    ),
)


class RequestChecks(JudgeState):
    def _request(self, entry: Entry) -> None:
        """What every request must be: over a verified connection, with the partner's certificate,
        without secrets in its URL; an SCA-challenged one cleared and used once."""
        self._saw("SECRET-NOT-IN-URL", "token endpoint" if _is_token(entry) else "API")
        if entry.server_cert is not None:
            self._fail(
                "VERIFY-SERVER",
                f"talked over a connection whose server certificate ({entry.server_cert}) the sandbox CA "
                "never signed",
                entry,
            )
        if entry.sca is not None:
            self._sca(entry)
        if self.mtls and entry.client_id == self.client_id:
            self._saw("MTLS-PRESENT", "token endpoint" if _is_token(entry) else "API")
            if entry.cert is None:
                self._fail("MTLS-PRESENT", "a request without the partner's client certificate", entry)
        if set(entry.query) & SENSITIVE_QUERY:
            names = ", ".join(sorted(set(entry.query) & SENSITIVE_QUERY))
            self._fail("SECRET-NOT-IN-URL", f"{names} sent in the URL of {entry.method} {entry.path}", entry)

    def _form(self, entry: Entry) -> None:
        """A token request: HTTP Basic and a form body, with the grant's required parameters."""
        grant = entry.grant_type
        self._saw("AUTH-BASIC", grant or "no grant")
        self._saw("GRANT-PARAMS", grant or "no grant")
        if not entry.basic_auth or "grant_type" not in entry.params:
            how = "without HTTP Basic" if not entry.basic_auth else "without a form body"
            self._fail("AUTH-BASIC", f"a token request {how}", entry)
        missing = REQUIRED_PARAMS.get(grant or "", set()) - set(entry.params)
        if missing:
            self._fail("GRANT-PARAMS", f"{grant} grant without {', '.join(sorted(missing))}", entry)

    def _sca(self, entry: Entry) -> None:
        sca = entry.sca or ""
        if sca.startswith("challenged:pending"):
            self._fail("SCA-CLEARED", "sent a one-time token whose challenges were not cleared", entry)
        elif sca.startswith("challenged:reused"):
            self._fail("SCA-ONE-USE", "sent a one-time token that had already approved a request", entry)
        elif sca.startswith("challenged:"):
            self._saw("SCA-CLEARED", "challenge")
        if sca.startswith("approved:"):
            self.approved += 1

    def _owner(self, op: Operation) -> None:
        """USER-OWN-TOKEN: the tokens presented belong to whom the operation acts for (once for the
        requests of workers acting at once)."""
        if op.concurrent and self.owner_checked == op.step:
            return
        self.owner_checked = op.step
        for entry in op.entries:
            customer_token = (
                entry.token_kind in ("user", "refresh") or entry.grant_type == "registration_code"
            )
            if op.name in ("partner_call",) and entry.token_kind in ("user", "refresh"):
                self._fail("USER-OWN-TOKEN", "a partner call presented a customer's token", entry)
            elif op.user_id is not None and customer_token and entry.user_id not in (None, op.user_id):
                self._fail(
                    "USER-OWN-TOKEN",
                    f"{op.name}({op.user}) presented another customer's "
                    f"{'registration code' if entry.grant_type == 'registration_code' else 'token'} "
                    f"(user {entry.user_id}, not {op.user_id})",
                    entry,
                )
            elif (
                op.name in CUSTOMER_OPS
                and entry.token_kind == "client_credentials"
                and not entry.path.startswith(PARTNER_PATHS)
            ):
                self._fail(
                    "USER-OWN-TOKEN",
                    f"{op.name}({op.user}) presented the partner's client-credentials token for the customer",
                    entry,
                )
