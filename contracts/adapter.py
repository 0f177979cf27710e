"""The adapter: what a partner's Wise integration does, in business terms.

The suites never hand a client a token. They ask it to do what a partner's product does (call the
API as the partner, create a user, link a user, call the API as a user) and the client must get,
keep, renew and drop tokens by itself: that is what is judged.

A Python client implements `WiseClient` (see `mockwise.contracts.reference` for a complete one); a client
in any other language speaks the same operations as JSON lines over stdin/stdout
(`mockwise.contracts.subprocess_driver`). Every client is configured with a `ClientConfig`. The whole
contract, with a worked example, is docs/contracts.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

Status = Literal["ok", "relink_needed", "error"]

#: The failure kinds a client reports (`Outcome.kind`). Unknown kinds are accepted and shown. The
#: judge requires `state_mismatch` (STATE-CHECKED) and `dob_mismatch` (DOB-CHECK) where they apply,
#: and counts `unsupported` against nothing; the others are for the reader (docs/contracts.md).
ERROR_KINDS = (
    "rate_limited",  # 429 and the client gave up
    "server_error",  # 5xx, a gateway page or a malformed body, after bounded retries
    "network",  # connection failures, resets, TLS errors
    "unauthorized",  # the partner's own credentials were refused (bad or rotated secret)
    "state_mismatch",  # the redirect back carried a `state` the client did not issue
    "declined",  # the customer declined on the authorize page (error=access_denied came back)
    "dob_mismatch",  # the linked profile's date of birth is not the partner's customer's
    "sca_rejected",  # the SCA challenge could not be cleared, or the retry was refused
    "unsupported",  # the client does not offer this operation (or raise NotImplementedError)
    "rejected",  # any other refusal
)


@dataclass(frozen=True)
class Outcome:
    """What a business operation came to, as the client reports it."""

    status: Status
    kind: str | None = None  # for errors: one of ERROR_KINDS
    data: dict[str, Any] | None = None

    @classmethod
    def ok(cls, data: dict[str, Any] | None = None) -> Outcome:
        return cls("ok", None, data)

    @classmethod
    def relink_needed(cls) -> Outcome:
        return cls("relink_needed")

    @classmethod
    def error(cls, kind: str) -> Outcome:
        return cls("error", kind)

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "kind": self.kind, "data": self.data}

    @classmethod
    def from_json(cls, data: Any) -> Outcome:
        if not isinstance(data, dict) or data.get("status") not in ("ok", "relink_needed", "error"):
            return cls("error", "invalid_outcome", {"received": data})
        kind = data.get("kind")
        return cls(data["status"], kind if isinstance(kind, str) else None, data.get("data"))

    def __str__(self) -> str:
        return self.status if self.kind is None else f"{self.status}:{self.kind}"

    def shown(self) -> str:
        """As a report shows it: with what an exception said and where the client raised it
        (`error:exception (KeyError: 'x' at client.py:42 in store)`), or why it was stopped."""
        data = self.data or {}
        if self.kind == "exception" and "exception" in data:
            where = f" at {data['where']}" if data.get("where") else ""
            return f"{self} ({data['exception']}{where})"
        if self.kind == "hung" and "stopped" in data:
            return f"{self} ({data['stopped']})"
        return str(self)


@dataclass(frozen=True)
class ClientConfig:
    """Everything a partner's client is configured with. Also given to other languages as
    environment variables (`MOCKWISE_API_URL`...) or as the JSON file named by `MOCKWISE_CONFIG`."""

    api_url: str  # the API host (TLS only), like https://api.wise-sandbox.com
    mtls_api_url: str  # the mTLS host, like https://api-mtls.wise-sandbox.com ("" when not served)
    authorize_url: str  # the authorize page, like https://wise-sandbox.com/oauth/authorize/
    client_id: str
    client_secret: str
    redirect_uri: str
    ca_cert: str = ""  # PEM file of the sandbox's CA (the "Wise certificate")
    client_cert: str = ""  # PEM file of the partner's client certificate
    client_key: str = ""  # PEM file of its private key (PKCS#8)
    # The same as PKCS#12 stores, for the JVM and .NET (written for subprocess clients): the client
    # certificate with its chain and key, and a trust store holding the sandbox CA; one password.
    client_keystore: str = ""
    trust_store: str = ""
    store_password: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        env = {f"MOCKWISE_{k.upper()}": str(v) for k, v in asdict(self).items() if k != "extra"}
        env.update({f"MOCKWISE_{k.upper()}": v for k, v in self.extra.items()})
        return env

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        return path

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> ClientConfig:
        """For clients written in Python but run as subprocesses: read the config back."""
        env = dict(os.environ if environ is None else environ)
        if "MOCKWISE_CONFIG" in env:
            return cls(**json.loads(Path(env["MOCKWISE_CONFIG"]).read_text(encoding="utf-8")))
        names = [f for f in cls.__dataclass_fields__ if f != "extra"]
        values: dict[str, Any] = {name: env.get(f"MOCKWISE_{name.upper()}", "") for name in names}
        return cls(**values)


@dataclass(frozen=True)
class NewUser:
    """A customer the partner creates a Wise account for (user creation over API, §4)."""

    key: str  # the partner's own name for this customer
    email: str
    # a code the client may use, or it generates its own (32+ characters, §4): the suite never needs
    # it; the client must store whichever it registered, to get tokens with it later
    registration_code: str


@runtime_checkable
class WiseClient(Protocol):
    """A partner's integration, driven through business operations only.

    Users are named by the partner's own `key` (a customer id in its database). Each method is
    called from one thread at a time per call, but several calls may run concurrently (the suite
    plays several workers): token storage must be safe under concurrency."""

    def partner_call(self) -> Outcome:
        """Do something as the partner itself (client-credentials authentication): here, ask
        whether a Wise account exists for an e-mail (`POST /v1/users/exists`)."""
        ...

    def create_user(self, user: NewUser) -> Outcome:
        """Create a Wise account for a customer over the API, then get their tokens."""
        ...

    def start_link(self, user_key: str, date_of_birth: str) -> str:
        """Begin linking a customer's existing Wise account: return the authorize URL to send them
        to. `date_of_birth` is what the partner's own records say (check it after linking)."""
        ...

    def finish_link(self, user_key: str, callback_url: str) -> Outcome:
        """The customer came back to the partner's redirect URI with this URL: finish linking."""
        ...

    def user_call(self, user_key: str) -> Outcome:
        """Do something as the customer (their user access token): here, fetch `GET /v1/me`."""
        ...

    def fund_transfer(self, user_key: str) -> Outcome:
        """Fund a transfer from the customer's balance, an SCA-protected action (§5.5): the first
        attempt is answered 403 with a one-time token in `x-2fa-approval`; clear its challenges
        through the one-time-token endpoints (§5.3: SMS, WhatsApp or voice, code 111111) and send
        the request again with the token. Optional: a client without it answers
        `error` / `unsupported`, and the SCA obligations are not exercised."""
        ...

    def update_client_secret(self, client_secret: str) -> None:
        """The partner deploys a rotated client secret (Developer Hub)."""
        ...

    def close(self) -> None: ...
