"""mTLS over HTTP, in-process: the transport facts a TLS listener would set are injected into the
ASGI scope, so every HTTP-level answer is checked here fast; `tests/test_tls.py` does it on sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from mockwise._domain.certificates import API, EXTENSION, MTLS, Connection
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._transport.inprocess import SyncASGITransport
from tests.helpers import BAD_CERTIFICATES, bearer, error, partner, registration_tokens

Connect = Callable[[Connection], httpx.Client]


@pytest.fixture
def connect(sandbox: Sandbox) -> Iterator[Connect]:
    app = create_app(sandbox)
    clients: list[httpx.Client] = []

    def make(connection: Connection) -> httpx.Client:
        transport = SyncASGITransport(app, extensions={EXTENSION: connection})
        clients.append(httpx.Client(transport=transport, base_url="https://api-mtls.wise-sandbox.com"))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def client_credentials(api: httpx.Client, creds: Credentials) -> httpx.Response:
    return api.post("/oauth/token", auth=partner(creds), data={"grant_type": "client_credentials"})


def test_the_right_certificate_gets_a_token_and_the_playground(
    connect: Connect, tenant: Tenant, creds: Credentials
) -> None:
    issued = tenant.certificates.issue(creds.clients[0]["client_id"])
    api = connect(Connection.presenting(MTLS, issued.cert_pem))
    token = client_credentials(api, creds)
    assert token.status_code == 200
    playground = api.get("/v1/authenticated/playground", headers=bearer(token.json()["access_token"]))
    assert playground.status_code == 200
    assert playground.json() == {
        "message": "authenticated-playground-response",
        "method": "GET",
        "clientId": creds.clients[0]["client_id"],
        "certificate": issued.fingerprint,
    }
    entries = tenant.journal.select()
    assert [e.cert for e in entries] == [issued.fingerprint] * 2  # the fingerprint is journaled


def test_an_enforced_client_is_refused_on_the_api_host(
    connect: Connect, api: httpx.Client, tenant: Tenant, creds: Credentials
) -> None:
    response = client_credentials(connect(Connection(API)), creds)
    status, code, description = error(response)
    assert (status, code) == (401, "unauthorized")
    assert description.startswith("mTLS is enforced for client")
    [entry] = tenant.journal.select(path="/oauth/token")
    assert entry.status == 401 and entry.cert is None
    assert client_credentials(api, creds).status_code == 200  # in-process, no TLS: not judged


def test_user_tokens_of_an_enforced_client_are_refused_on_the_api_host(
    connect: Connect, api: httpx.Client, creds: Credentials
) -> None:
    tokens = registration_tokens(api, creds)  # issued in-process
    response = connect(Connection(API)).get("/v1/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 401 and "mTLS is enforced" in response.json()["error_description"]


def test_enforcement_can_be_turned_off(connect: Connect, tenant: Tenant, creds: Credentials) -> None:
    tenant.certificates.enforce(creds.clients[0]["client_id"], False)
    assert client_credentials(connect(Connection(API)), creds).status_code == 200


@pytest.mark.parametrize(("variant", "message"), BAD_CERTIFICATES)
def test_bad_certificates_get_a_clear_401(
    connect: Connect, tenant: Tenant, creds: Credentials, variant: str, message: str
) -> None:
    issued = tenant.certificates.issue(creds.clients[0]["client_id"], variant=variant)  # type: ignore[arg-type]
    status, code, description = error(
        client_credentials(connect(Connection.presenting(MTLS, issued.cert_pem)), creds)
    )
    assert (status, code) == (401, "unauthorized") and message in description
    assert tenant.journal.select()[-1].cert == issued.fingerprint


def test_403_access_denied_when_the_tenant_says_so(
    connect: Connect, tenant: Tenant, creds: Credentials
) -> None:
    tenant.settings = tenant.settings.apply({"mtls.refusal_status": 403})
    status, code, _ = error(client_credentials(connect(Connection(API)), creds))
    assert (status, code) == (403, "access_denied")


def test_a_token_is_checked_against_its_clients_certificate(
    connect: Connect, tenant: Tenant, creds: Credentials
) -> None:
    mine = tenant.certificates.issue(creds.clients[0]["client_id"])
    other = tenant.add_client(name="Other Bank")
    theirs = tenant.certificates.issue(other.client_id)
    token = client_credentials(connect(Connection.presenting(MTLS, mine.cert_pem)), creds).json()
    response = connect(Connection.presenting(MTLS, theirs.cert_pem)).get(
        "/v1/authenticated/playground", headers=bearer(token["access_token"])
    )
    assert response.status_code == 401
    assert f"belongs to client {other.client_id!r}" in response.json()["error_description"]


def test_a_certificate_revoked_after_issuance_stops_the_token(
    connect: Connect, tenant: Tenant, creds: Credentials
) -> None:
    issued = tenant.certificates.issue(creds.clients[0]["client_id"])
    api = connect(Connection.presenting(MTLS, issued.cert_pem))
    token = client_credentials(api, creds).json()["access_token"]
    tenant.certificates.revoke(issued.fingerprint)
    assert (
        "revoked"
        in api.get("/v1/authenticated/playground", headers=bearer(token)).json()["error_description"]
    )


def test_moving_the_clock_a_year_expires_the_certificate(
    connect: Connect, tenant: Tenant, creds: Credentials
) -> None:
    issued = tenant.certificates.issue(creds.clients[0]["client_id"])
    api = connect(Connection.presenting(MTLS, issued.cert_pem))
    tenant.clock.advance(366 * 24 * 3600)
    assert "expired at" in error(client_credentials(api, creds))[2]


def test_no_certificate_on_an_optional_mtls_host(connect: Connect, creds: Credentials) -> None:
    status, _, description = error(client_credentials(connect(Connection(MTLS)), creds))
    assert status == 401 and description == "A client certificate is required on the mTLS host"


def test_personal_tokens_need_a_certificate_on_the_mtls_host_but_no_particular_one(
    connect: Connect, tenant: Tenant, creds: Credentials
) -> None:
    personal = bearer(creds.personal_tokens[0]["token"])
    issued = tenant.certificates.issue(creds.clients[0]["client_id"])
    assert (
        connect(Connection.presenting(MTLS, issued.cert_pem)).get("/v1/me", headers=personal).status_code
        == 200
    )
    assert connect(Connection(MTLS)).get("/v1/me", headers=personal).status_code == 401
    assert connect(Connection(API)).get("/v1/me", headers=personal).status_code == 200


def test_the_playground_answers_on_the_mtls_host_only(connect: Connect, creds: Credentials) -> None:
    personal = bearer(creds.personal_tokens[0]["token"])
    response = connect(Connection(API)).get("/v1/authenticated/playground", headers=personal)
    assert response.status_code == 401 and "mTLS host only" in response.json()["error_description"]
    assert connect(Connection(API)).get("/v1/authenticated/playground").status_code == 401  # no token


def test_certificate_bound_tokens(connect: Connect, tenant: Tenant, creds: Credentials) -> None:
    tenant.settings = tenant.settings.apply({"mtls.token_binding": True})
    client_id = creds.clients[0]["client_id"]
    first, second = tenant.certificates.issue(client_id), tenant.certificates.issue(client_id)
    token = client_credentials(connect(Connection.presenting(MTLS, first.cert_pem)), creds).json()
    [bound] = [t for t in tenant.store if t.client_id == client_id]
    assert bound.cert == first.fingerprint
    ok = connect(Connection.presenting(MTLS, first.cert_pem))
    assert ok.get("/v1/authenticated/playground", headers=bearer(token["access_token"])).status_code == 200
    wrong = connect(Connection.presenting(MTLS, second.cert_pem))
    response = wrong.get("/v1/authenticated/playground", headers=bearer(token["access_token"]))
    assert error(response)[:2] == (401, "invalid_token") and "RFC 8705" in error(response)[2]


def test_tokens_are_not_bound_by_default(connect: Connect, tenant: Tenant, creds: Credentials) -> None:
    client_id = creds.clients[0]["client_id"]
    first, second = tenant.certificates.issue(client_id), tenant.certificates.issue(client_id)
    token = client_credentials(connect(Connection.presenting(MTLS, first.cert_pem)), creds).json()
    other = connect(Connection.presenting(MTLS, second.cert_pem))
    assert other.get("/v1/authenticated/playground", headers=bearer(token["access_token"])).status_code == 200


PERSONAL_REFUSALS = [
    ("expired", "expired at"),
    ("not_yet_valid", "is not valid before"),
    ("revoked", "was revoked at"),
    ("other_client", "is not registered for any client of this tenant in the Developer Hub"),
    ("other_ca", "is not registered for any client of this tenant in the Developer Hub"),
]


@pytest.mark.parametrize("path", ["/v1/me", "/v1/authenticated/playground"])
@pytest.mark.parametrize(("variant", "message"), PERSONAL_REFUSALS)
def test_personal_tokens_are_judged_like_any_caller_on_the_mtls_host(
    connect: Connect, tenant: Tenant, creds: Credentials, path: str, variant: str, message: str
) -> None:
    """Issue 15 item 3: a personal token is no client, but its certificate is still judged."""
    issued = tenant.certificates.issue(creds.clients[0]["client_id"], variant=variant)  # type: ignore[arg-type]
    response = connect(Connection.presenting(MTLS, issued.cert_pem)).get(
        path, headers=bearer(creds.personal_tokens[0]["token"])
    )
    status, code, description = error(response)
    assert (status, code) == (401, "unauthorized") and message in description
    assert tenant.journal.select()[-1].cert == issued.fingerprint


def test_the_sandbox_cas_own_certificate_is_no_client_certificate(
    connect: Connect, sandbox: Sandbox, tenant: Tenant, creds: Credentials
) -> None:
    """The mTLS handshake trusts the CA's self-signed certificate; the sandbox does not."""
    api = connect(Connection.presenting(MTLS, sandbox.pki.ca_pem))
    expected = "is a CA certificate, not a client certificate"
    personal = api.get("/v1/authenticated/playground", headers=bearer(creds.personal_tokens[0]["token"]))
    assert error(personal)[0] == 401 and expected in error(personal)[2]
    partner = client_credentials(api, creds)
    assert error(partner)[0] == 401 and expected in error(partner)[2]


def test_another_tenants_certificate_does_not_serve_a_personal_token(
    connect: Connect, sandbox: Sandbox, creds: Credentials
) -> None:
    other, other_creds = sandbox.create_tenant()
    theirs = other.certificates.issue(other_creds.clients[0]["client_id"])
    response = connect(Connection.presenting(MTLS, theirs.cert_pem)).get(
        "/v1/me", headers=bearer(creds.personal_tokens[0]["token"])
    )
    assert error(response)[0] == 401 and "for any client of this tenant" in error(response)[2]


def test_the_authorize_page_on_the_mtls_host_is_judged_too(
    connect: Connect, tenant: Tenant, creds: Credentials
) -> None:
    client = creds.clients[0]
    expired = tenant.certificates.issue(client["client_id"], variant="expired")
    page = f"/oauth/authorize/?client_id={client['client_id']}&redirect_uri={client['redirect_uris'][0]}"
    refused = connect(Connection.presenting(MTLS, expired.cert_pem)).get(page)
    assert refused.status_code == 401 and "expired at" in refused.json()["error_description"]
    good = tenant.certificates.issue(client["client_id"])
    assert connect(Connection.presenting(MTLS, good.cert_pem)).get(page).status_code == 200
