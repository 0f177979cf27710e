"""Client certificates: which belong to which API client, and the mTLS rules (reference §6).

Each tenant keeps its own record of certificates, as Wise's Developer Hub does per partner: every
certificate signed from a CSR, issued, or registered for a client, with its fingerprint, serial,
validity and revocation. The sandbox CA that signs them is sandbox-wide (`Sandbox.pki`).

How each mTLS failure is answered. Wise documents none of this ([?] §6, §13 q5). TLS-level answers
are fixed by the listener; HTTP-level ones use `mtls.refusal_status` (401 `unauthorized`
or 403 `access_denied`, Spring's two shapes) with a clear `error_description`:

- no certificate on the mTLS host: TLS, the handshake fails (§6 [I]: the likeliest behaviour);
  a listener in "optional" mode answers over HTTP instead;
- a certificate the sandbox CA did not sign: TLS (the mTLS host's trust store decides);
- expired or not yet valid on the tenant's clock: HTTP. The clock is simulated and per tenant, so
  the listener skips OpenSSL's time check and the tenant judges;
- revoked in the Developer Hub: HTTP (the record is per tenant; there is no CRL);
- another client's certificate, or one not registered for this client (for a personal token: for
  no client of the tenant), or a CA certificate: HTTP, since the client is known only from the
  request's credentials, Basic or bearer (§6 [I]: CN = client id);
- an mTLS-enforced client on the TLS-only API host: HTTP ("calls are accepted only on the mTLS
  endpoints" [C] §1, §6; the answer is unknown);
- a certificate-bound token without its certificate (only with `mtls.token_binding`):
  401 `invalid_token`, as RFC 8705 §3 says.

On the mTLS host every request is judged, whoever makes it, enforced or not: presenting a
certificate is what the host is for. Personal tokens (and the authorize page) belong to no API
client: their certificate must be one of the tenant's clients', active, but no particular one.
A CA certificate is never a client certificate: the mTLS host's trust store accepts the sandbox
CA's own certificate in the handshake (it is self-signed and trusted), and the Developer Hub,
which never records it, refuses it. Requests that reached the sandbox without TLS (in-process
transports, the plain-HTTP `--http` mode) carry no transport facts and are not judged.
"""

from __future__ import annotations

import dataclasses
import secrets
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from mockwise._domain.clock import iso_millis
from mockwise._domain.codec import JSON, from_data, to_data
from mockwise._domain.context import TenantContext
from mockwise._domain.errors import OAuthError, invalid_token
from mockwise._domain.settings import Mtls

if TYPE_CHECKING:
    from mockwise._domain.tokens import Token
    from mockwise._pki import CertificateInfo, KeyPair, KeyType, SandboxPKI

# `mockwise._pki` (cryptography, trustme) is imported where certificates are made or read, so a
# sandbox that never does TLS never loads it.

#: Client certificates last one year [C] §6.
CLIENT_CERTIFICATE_LIFETIME = 365 * 24 * 3600.0
#: At most 10 active certificates per client [C] §6.
MAX_ACTIVE = 10
#: A minute of slack before "now" on new certificates, for verifiers whose clocks run behind.
BACKDATE = 60.0
DAY = 24 * 3600.0

API = "api"  # the TLS-only API host (api.wise-sandbox.com)
MTLS = "mtls"  # the mTLS host (api-mtls.wise-sandbox.com)

Origin = Literal["issued", "signed", "registered"]
Variant = Literal["expired", "not_yet_valid", "other_ca", "other_client", "revoked"]
VARIANTS: tuple[Variant, ...] = ("expired", "not_yet_valid", "other_ca", "other_client", "revoked")


class CertificateState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


@dataclass(slots=True, eq=False)
class Certificate:
    """One client certificate in the Developer Hub: never its key, only what identifies it."""

    fingerprint: str  # SHA-256 of the DER, hex
    client_id: str
    name: str  # unique among the client's active certificates [C] §6
    serial: int
    subject: str
    not_before: float
    not_after: float
    origin: Origin
    created_at: float  # tenant clock
    pem: str = dataclasses.field(default="", repr=False)  # the certificate (public; never the key)
    revoked_at: float | None = None

    @property
    def id(self) -> str:
        """A short identity for messages and logs (like `Token.id`)."""
        return self.fingerprint[:16]

    def state(self, now: float) -> CertificateState:
        if self.revoked_at is not None:
            return CertificateState.REVOKED
        if now < self.not_before:
            return CertificateState.NOT_YET_VALID
        if now >= self.not_after:
            return CertificateState.EXPIRED
        return CertificateState.ACTIVE


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A certificate made by the sandbox with its private key (the only time the key exists here).
    `certificate` is its Developer Hub record, or None for variants no client owns."""

    pair: KeyPair
    info: CertificateInfo
    certificate: Certificate | None

    @property
    def cert_pem(self) -> str:
        return self.pair.cert_pem

    @property
    def key_pem(self) -> str:
        return self.pair.key_pem

    @property
    def fingerprint(self) -> str:
        return self.info.fingerprint


@dataclass(frozen=True, slots=True)
class Connection:
    """What the transport knows about a request: the listener it came in on (`API`, `MTLS`, or
    None when there was no TLS) and the client certificate presented. One per TLS connection."""

    listener: str | None = None
    fingerprint: str | None = None
    cert_pem: str | None = None
    server_cert: str | None = None  # a label when the server presented a stand-in certificate

    @classmethod
    def presenting(cls, listener: str, cert_pem: str | None = None) -> Connection:
        """A connection to `listener` presenting `cert_pem` (for in-process tests: no sockets)."""
        from mockwise._pki import fingerprint

        if cert_pem is None:
            return cls(listener)
        der = ssl.PEM_cert_to_DER_cert(cert_pem)
        return cls(listener, fingerprint(der), cert_pem)


NO_TLS = Connection()
#: The ASGI scope extension that carries a request's `Connection` (set by `mockwise._transport.sockets`).
EXTENSION = "mockwise.connection"


def mtls_refused(status: int, description: str) -> OAuthError:
    """An HTTP-level mTLS refusal: 401 `unauthorized` (Spring's failed authentication) or 403
    `access_denied` (Spring's AccessDeniedException), per `mtls.refusal_status`."""
    if status == 403:
        return OAuthError("access_denied", description, 403)
    return OAuthError("unauthorized", description, 401)


class Certificates:
    """A tenant's client certificates (its Developer Hub), and the checks of the mTLS host."""

    def __init__(self, context: TenantContext, pki: Callable[[], SandboxPKI]) -> None:
        self._context = context
        self._pki = pki
        self._records: dict[str, Certificate] = {}

    @property
    def pki(self) -> SandboxPKI:
        """The sandbox-wide CA (made on first use)."""
        return self._pki()

    # The Developer Hub -----------------------------------------------------------------------

    def issue(
        self,
        client_id: str,
        *,
        name: str | None = None,
        organisation: str | None = None,
        key_type: KeyType = "ec",
        variant: Variant | None = None,
        lifetime: float = CLIENT_CERTIFICATE_LIFETIME,
    ) -> IssuedCertificate:
        """A key and a certificate for `client_id`, signed by the sandbox CA and recorded, valid one
        year from the tenant's now. A `variant` makes one for a negative test instead:

        - "expired" / "not_yet_valid": recorded, outside its validity on the tenant's clock;
        - "revoked": recorded, then revoked;
        - "other_ca": signed by a throwaway CA, so the mTLS host's TLS handshake refuses it;
        - "other_client": signed by the sandbox CA for another client id, recorded nowhere."""
        from mockwise._pki import SandboxPKI

        context = self._context
        client = context.directory.client(client_id)
        if variant is not None and variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; try one of {', '.join(VARIANTS)}")
        if key_type not in ("ec", "rsa"):
            raise ValueError(f"unknown key_type {key_type!r}; ec or rsa")
        organisation = organisation or client.name or client_id
        now = context.clock.now()
        not_before, not_after = now - BACKDATE, now + lifetime
        if variant == "expired":
            not_before, not_after = now - lifetime - DAY, now - DAY
        elif variant == "not_yet_valid":
            not_before, not_after = now + 30 * DAY, now + 30 * DAY + lifetime
        pki, subject = self.pki, client_id
        if variant == "other_ca":
            pki = SandboxPKI.elsewhere()
        elif variant == "other_client":
            subject = f"other-{secrets.token_hex(4)}"
        pair = pki.issue_client(
            subject, organisation, not_before=not_before, not_after=not_after, key_type=key_type
        )
        info = pair.info
        if variant in ("other_ca", "other_client"):
            return IssuedCertificate(pair, info, None)
        with context.lock:
            record = self._record(client_id, info, name, "issued", limited=variant is None)
            if variant == "revoked":
                record.revoked_at = now
            context.changed("certificates")
        return IssuedCertificate(pair, info, record)

    def sign(self, client_id: str, csr_pem: str | bytes, *, name: str | None = None) -> Certificate:
        """The Developer Hub's "Generate certificate": sign a partner's CSR (§6). The CN becomes the
        client id; the CSR must be PEM with an O. Returns the record; its `pem` is the certificate."""
        from mockwise._pki import inspect_certificate

        context = self._context
        context.directory.client(client_id)
        now = context.clock.now()
        with context.lock:
            cert_pem = self.pki.sign_csr(
                csr_pem, client_id, not_before=now - BACKDATE, not_after=now + CLIENT_CERTIFICATE_LIFETIME
            )
            record = self._record(client_id, inspect_certificate(cert_pem), name, "signed")
            context.changed("certificates")
            return record

    def register(self, client_id: str, cert_pem: str | bytes, *, name: str | None = None) -> Certificate:
        """Record a certificate made elsewhere (signed by the sandbox CA, CN = the client id)."""
        context = self._context
        context.directory.client(client_id)
        info = self.pki.check_registrable(cert_pem, client_id)
        with context.lock:
            existing = self._records.get(info.fingerprint)
            if existing is not None:
                raise CertificateLimit(f"certificate {existing.id} is already registered ({existing.name!r})")
            record = self._record(client_id, info, name, "registered")
            context.changed("certificates")
            return record

    def revoke(self, fingerprint: str, client_id: str | None = None) -> Certificate:
        """Revoke a certificate; the mTLS host refuses it from now on. Idempotent."""
        with self._context.lock:
            record = self.get(fingerprint)
            if record is None or (client_id is not None and record.client_id != client_id):
                owner = f" for client {client_id!r}" if client_id else ""
                raise LookupError(f"no certificate {fingerprint[:64]!r}{owner}")
            if record.revoked_at is None:
                record.revoked_at = self._context.clock.now()
                self._context.changed("certificates")
            return record

    def enforce(self, client_id: str, enforced: bool = True) -> None:
        """Turn mTLS enforcement on or off for a client (Wise does it for OAuth partners, §1)."""
        with self._context.lock:
            self._context.directory.client(client_id).mtls_enforced = enforced
            self._context.directory.changed()

    def get(self, fingerprint: str) -> Certificate | None:
        """A record by SHA-256 fingerprint (hex; colons and case are ignored), or by its prefix `id`."""
        key = fingerprint.replace(":", "").lower()
        record = self._records.get(key)
        if record is None and 8 <= len(key) < 64:
            found = [r for fp, r in self._records.items() if fp.startswith(key)]
            record = found[0] if len(found) == 1 else None
        return record

    def of_client(self, client_id: str) -> list[Certificate]:
        return [r for r in self._records.values() if r.client_id == client_id]

    def active(self, client_id: str, now: float | None = None) -> list[Certificate]:
        at = self._context.clock.now() if now is None else now
        return [r for r in self.of_client(client_id) if r.state(at) is CertificateState.ACTIVE]

    def __iter__(self) -> Iterator[Certificate]:
        return iter(list(self._records.values()))

    def __len__(self) -> int:
        return len(self._records)

    def _check_room(self, client_id: str, name: str | None, now: float) -> None:
        active = self.active(client_id, now)
        if len(active) >= MAX_ACTIVE:
            raise CertificateLimit(
                f"client {client_id!r} already has {MAX_ACTIVE} active certificates; revoke one first"
            )
        if name is not None and any(r.name == name for r in active):
            raise CertificateLimit(f"client {client_id!r} already has an active certificate named {name!r}")

    def _record(
        self, client_id: str, info: CertificateInfo, name: str | None, origin: Origin, *, limited: bool = True
    ) -> Certificate:
        now = self._context.clock.now()
        if limited:
            self._check_room(client_id, name, now)
        if name is not None and not 0 < len(name) <= 100:
            raise ValueError("a certificate name is 1-100 characters")
        record = Certificate(
            fingerprint=info.fingerprint,
            client_id=client_id,
            name=name or self._next_name(client_id),
            serial=info.serial,
            subject=info.subject,
            not_before=info.not_before,
            not_after=info.not_after,
            origin=origin,
            created_at=now,
            pem=info.pem,
        )
        self._records[record.fingerprint] = record
        return record

    def _next_name(self, client_id: str) -> str:
        taken = {r.name for r in self.of_client(client_id)}
        n = len(taken) + 1
        while f"certificate-{n}" in taken:
            n += 1
        return f"certificate-{n}"

    # Reset -----------------------------------------------------------------------------------

    def snapshot(self) -> JSON:
        """Every certificate record (a `Part`)."""
        return to_data(list(self._records.values()))

    def restore(self, snapshot: JSON) -> None:
        records = from_data(list[Certificate], snapshot, "certificates") if snapshot is not None else []
        self._records = {r.fingerprint: r for r in records}
        self._context.changed("certificates")

    @property
    def _settings(self) -> Mtls:
        return self._context.settings.mtls

    # The mTLS host's checks ------------------------------------------------------------------

    def admit(self, client_id: str | None, connection: Connection) -> None:
        """Refuse a request whose transport does not fit the caller. On the API host, an
        mTLS-enforced client is refused. On the mTLS host every request is judged: its certificate
        must be recorded in this tenant's Developer Hub, for `client_id` (the Basic client, or the
        client behind a bearer token) or, for a caller that is no client (a personal token, the
        authorize page: None), for any of the tenant's clients, and be active on the tenant's clock.
        A CA certificate, the sandbox CA's own included, is never recorded, so never admitted."""
        listener = connection.listener
        if listener is None:
            return
        context = self._context
        status = self._settings.refusal_status
        if listener != MTLS:
            client = context.directory.clients.get(client_id) if client_id is not None else None
            if client is not None and client.mtls_enforced:
                raise mtls_refused(
                    status,
                    f"mTLS is enforced for client {client_id!r}: call the mTLS host (mtls_api_url) and "
                    "present the client's certificate",
                )
            return
        if connection.fingerprint is None:
            raise mtls_refused(status, "A client certificate is required on the mTLS host")
        record = self._records.get(connection.fingerprint)
        if record is None:
            raise mtls_refused(status, _unrecorded(connection, client_id))
        if client_id is not None and record.client_id != client_id:
            raise mtls_refused(
                status,
                f"The client certificate {record.id} belongs to client {record.client_id!r}, "
                f"not to {client_id!r}",
            )
        now = context.clock.now()
        state = record.state(now)
        if state is CertificateState.REVOKED:
            assert record.revoked_at is not None
            raise mtls_refused(
                status, f"The client certificate {record.id} was revoked at {iso_millis(record.revoked_at)}"
            )
        if state is CertificateState.EXPIRED:
            raise mtls_refused(
                status,
                f"The client certificate {record.id} expired at {iso_millis(record.not_after)} "
                f"(sandbox time {iso_millis(now)})",
            )
        if state is CertificateState.NOT_YET_VALID:
            raise mtls_refused(
                status,
                f"The client certificate {record.id} is not valid before {iso_millis(record.not_before)} "
                f"(sandbox time {iso_millis(now)})",
            )

    def admit_token(self, token: Token, connection: Connection) -> None:
        """The checks for a bearer token: its client's, then its certificate binding (RFC 8705)."""
        self.admit(token.client_id, connection)
        bound = token.cert
        if (
            bound is not None
            and connection.listener is not None
            and self._settings.token_binding
            and connection.fingerprint != bound
        ):
            raise invalid_token(
                "The access token is bound to a client certificate (RFC 8705) this request did not present"
            )

    def bind(self, token: Token, connection: Connection) -> None:
        """Bind a token issued over mTLS to the certificate presented, when the tenant asks for it."""
        if self._settings.token_binding and connection.fingerprint is not None:
            token.cert = connection.fingerprint
            self._context.store.changed(token)


class CertificateLimit(ValueError):
    """Too many active certificates, a name or a certificate already taken (§6): a conflict."""


def _unrecorded(connection: Connection, client_id: str | None) -> str:
    """Why a certificate no Developer Hub record names is refused (only refusals read the PEM)."""
    from mockwise._pki import CertificateError, inspect_certificate

    assert connection.fingerprint is not None
    try:
        info = inspect_certificate(connection.cert_pem) if connection.cert_pem is not None else None
    except CertificateError:
        info = None
    presented = (info.common_name if info is not None else None) or "?"
    if info is not None and info.ca:
        return f"The certificate presented (CN={presented}) is a CA certificate, not a client certificate"
    if client_id is None:
        return (
            f"The client certificate {connection.fingerprint[:16]} (CN={presented}) is not registered "
            "for any client of this tenant in the Developer Hub"
        )
    if presented != client_id:
        return f"The client certificate (CN={presented}) was not issued to client {client_id!r}"
    return (
        f"The client certificate {connection.fingerprint[:16]} is not registered for client "
        f"{client_id!r} in the Developer Hub"
    )
