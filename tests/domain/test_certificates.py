"""A tenant's client certificates (its Developer Hub) and the mTLS host's checks, without HTTP."""

from __future__ import annotations

import pytest

from mockwise._domain.certificates import (
    API,
    MAX_ACTIVE,
    MTLS,
    NO_TLS,
    CertificateLimit,
    CertificateState,
    Connection,
)
from mockwise._domain.errors import OAuthError
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._pki import CertificateError, inspect_certificate
from tests.helpers import BAD_CERTIFICATES

DAY = 24 * 3600


@pytest.fixture
def partner(creds: Credentials) -> str:
    return str(creds.clients[0]["client_id"])


def refusal(tenant: Tenant, client_id: str | None, connection: Connection) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        tenant.certificates.admit(client_id, connection)
    return caught.value


def test_the_seeded_partner_is_mtls_enforced(tenant: Tenant, partner: str) -> None:
    assert tenant.client(partner).mtls_enforced  # Wise enforces mTLS for OAuth partners (§6)


def test_issued_certificates_are_recorded_with_their_identity(tenant: Tenant, partner: str) -> None:
    tenant.clock.freeze()
    issued = tenant.certificates.issue(partner, name="ci")
    record = issued.certificate
    assert record is not None and record is tenant.certificates.get(issued.fingerprint)
    assert record.client_id == partner and record.name == "ci" and record.origin == "issued"
    assert record.serial == issued.info.serial and f"CN={partner}" in record.subject
    assert record.not_after - tenant.clock.now() == pytest.approx(365 * DAY, abs=1)
    assert record.state(tenant.clock.now()) is CertificateState.ACTIVE
    assert tenant.certificates.get(issued.fingerprint[:16]) is record  # the short id works too
    assert tenant.certificates.get(":".join(issued.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper())


def test_validity_follows_the_tenant_clock(tenant: Tenant, partner: str) -> None:
    record = tenant.certificates.issue(partner).certificate
    assert record is not None
    tenant.clock.advance(366 * DAY)
    assert record.state(tenant.clock.now()) is CertificateState.EXPIRED
    tenant.clock.advance(-2 * 366 * DAY)
    assert record.state(tenant.clock.now()) is CertificateState.NOT_YET_VALID


def test_at_most_ten_active_certificates_per_client(tenant: Tenant, partner: str) -> None:
    issued = [tenant.certificates.issue(partner) for _ in range(MAX_ACTIVE)]
    with pytest.raises(CertificateLimit, match="10 active"):
        tenant.certificates.issue(partner)
    tenant.certificates.revoke(issued[0].fingerprint)
    tenant.certificates.issue(partner)  # revoked ones do not count
    other = tenant.add_client().client_id
    tenant.certificates.issue(other)  # the limit is per client


def test_names_are_unique_among_active_certificates(tenant: Tenant, partner: str) -> None:
    first = tenant.certificates.issue(partner, name="prod")
    with pytest.raises(CertificateLimit, match="named 'prod'"):
        tenant.certificates.issue(partner, name="prod")
    tenant.certificates.revoke(first.fingerprint)
    assert tenant.certificates.issue(partner, name="prod").certificate is not None


def test_registering_and_revoking(tenant: Tenant, sandbox: Sandbox, partner: str) -> None:
    made = sandbox.pki.issue_client(partner, "Acme", not_before=0, not_after=4e9)
    record = tenant.certificates.register(partner, made.cert_pem)
    assert record.origin == "registered" and record.fingerprint == made.info.fingerprint
    with pytest.raises(CertificateLimit, match="already registered"):
        tenant.certificates.register(partner, made.cert_pem)
    with pytest.raises(CertificateError):
        tenant.certificates.register(tenant.add_client().client_id, made.cert_pem)
    assert tenant.certificates.revoke(record.fingerprint).revoked_at is not None
    assert tenant.certificates.revoke(record.fingerprint) is record  # idempotent
    with pytest.raises(LookupError):
        tenant.certificates.revoke("00" * 32)
    with pytest.raises(LookupError):
        tenant.certificates.issue("no-such-client")


def test_reset_returns_to_the_certificates_of_the_seeded_state(tenant: Tenant, partner: str) -> None:
    kept = tenant.certificates.issue(partner)
    tenant.mark_seeded()
    tenant.certificates.revoke(kept.fingerprint)
    tenant.certificates.issue(partner)
    tenant.reset()
    [record] = list(tenant.certificates)
    assert record.fingerprint == kept.fingerprint and record.revoked_at is None


# The mTLS host's checks ----------------------------------------------------------------------------


def test_no_tls_is_not_judged(tenant: Tenant, partner: str) -> None:
    tenant.certificates.admit(partner, NO_TLS)  # in-process or --http: nothing to judge


def test_an_enforced_client_is_refused_on_the_api_host(tenant: Tenant, partner: str) -> None:
    error = refusal(tenant, partner, Connection(API))
    assert (error.status, error.code) == (401, "unauthorized") and "mTLS is enforced" in error.description
    tenant.certificates.enforce(partner, False)
    tenant.certificates.admit(partner, Connection(API))
    tenant.certificates.admit(None, Connection(API))  # personal tokens have no client


def test_the_right_certificate_on_the_mtls_host(tenant: Tenant, partner: str) -> None:
    issued = tenant.certificates.issue(partner)
    tenant.certificates.admit(partner, Connection.presenting(MTLS, issued.cert_pem))


@pytest.mark.parametrize(("variant", "message"), BAD_CERTIFICATES)
def test_each_bad_certificate_is_refused_with_a_reason(
    tenant: Tenant, partner: str, variant: str, message: str
) -> None:
    issued = tenant.certificates.issue(partner, variant=variant)  # type: ignore[arg-type]
    error = refusal(tenant, partner, Connection.presenting(MTLS, issued.cert_pem))
    assert error.status == 401 and message in error.description


def test_other_ca_certificates_are_recorded_nowhere(tenant: Tenant, partner: str, sandbox: Sandbox) -> None:
    issued = tenant.certificates.issue(partner, variant="other_ca")
    assert issued.certificate is None
    assert issued.info.issuer == "OU=another CA,O=not mockwise"
    assert issued.info.issuer != inspect_certificate(sandbox.pki.ca_pem).subject
    assert tenant.certificates.get(issued.fingerprint) is None


def test_another_clients_certificate_is_refused(tenant: Tenant, partner: str) -> None:
    other = tenant.add_client(name="Other Bank").client_id
    theirs = tenant.certificates.issue(other)
    error = refusal(tenant, partner, Connection.presenting(MTLS, theirs.cert_pem))
    assert f"belongs to client {other!r}" in error.description


def test_a_signed_but_unregistered_certificate_is_refused(
    tenant: Tenant, partner: str, sandbox: Sandbox
) -> None:
    loose = sandbox.pki.issue_client(partner, "Acme", not_before=0, not_after=4e9)
    error = refusal(tenant, partner, Connection.presenting(MTLS, loose.cert_pem))
    assert "is not registered for client" in error.description


def test_the_expiry_check_uses_the_tenant_clock(tenant: Tenant, partner: str) -> None:
    issued = tenant.certificates.issue(partner)
    connection = Connection.presenting(MTLS, issued.cert_pem)
    tenant.clock.advance(366 * DAY)
    assert "expired at" in refusal(tenant, partner, connection).description


def test_no_certificate_on_an_optional_mtls_host(tenant: Tenant, partner: str) -> None:
    assert refusal(tenant, partner, Connection(MTLS)).description.startswith(
        "A client certificate is required"
    )
    assert refusal(tenant, None, Connection(MTLS)).status == 401


def test_403_when_the_tenant_says_so(tenant: Tenant, partner: str) -> None:
    tenant.settings = tenant.settings.apply({"mtls.refusal_status": 403})
    error = refusal(tenant, partner, Connection(API))
    assert (error.status, error.code) == (403, "access_denied")
