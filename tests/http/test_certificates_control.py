"""The Developer Hub's certificate page over the control plane."""

from __future__ import annotations

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockwise._domain.certificates import MAX_ACTIVE
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._pki import inspect_certificate


def base(tenant: Tenant, creds: Credentials) -> str:
    return f"/_mockwise/tenants/{tenant.id}/clients/{creds.clients[0]['client_id']}"


def make_csr(org: str = "Acme Bank") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, "x")]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


def test_get_wise_certificate(api: httpx.Client, sandbox: Sandbox, tenant: Tenant) -> None:
    response = api.get(f"/_mockwise/tenants/{tenant.id}/ca.pem")
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-pem-file"
    assert response.text == sandbox.pki.ca_pem
    assert "ca-certificate.sandbox.pem" in response.headers["content-disposition"]


def test_sign_a_csr_as_json_or_as_the_body(api: httpx.Client, tenant: Tenant, creds: Credentials) -> None:
    client_id = creds.clients[0]["client_id"]
    signed = api.post(f"{base(tenant, creds)}/certificates", json={"csr": make_csr(), "name": "prod"})
    assert signed.status_code == 201, signed.text
    body = signed.json()
    assert body["name"] == "prod" and body["origin"] == "signed" and body["state"] == "active"
    info = inspect_certificate(body["certificate"])
    assert info.common_name == client_id and info.organisation == "Acme Bank"
    assert body["fingerprint"] == info.fingerprint and "private_key" not in body
    raw = api.post(
        f"{base(tenant, creds)}/certificates?name=staging",
        content=make_csr(),
        headers={"Content-Type": "application/pkcs10"},
    )
    assert raw.status_code == 201 and raw.json()["name"] == "staging"


def test_a_refused_csr_says_why(api: httpx.Client, tenant: Tenant, creds: Credentials) -> None:
    response = api.post(f"{base(tenant, creds)}/certificates", json={"csr": "# my csr\n" + make_csr()})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_certificate",
        "message": "the CSR PEM must contain no comments or other text",
    }


def test_make_a_key_and_certificate_and_variants(
    api: httpx.Client, tenant: Tenant, creds: Credentials
) -> None:
    made = api.post(f"{base(tenant, creds)}/certificates", json={})
    assert made.status_code == 201
    body = made.json()
    assert body["private_key"].startswith("-----BEGIN PRIVATE KEY-----") and body["variant"] is None
    for variant, state in [
        ("expired", "expired"),
        ("not_yet_valid", "not_yet_valid"),
        ("revoked", "revoked"),
    ]:
        answer = api.post(f"{base(tenant, creds)}/certificates", json={"variant": variant}).json()
        assert answer["state"] == state and answer["variant"] == variant
    loose = api.post(f"{base(tenant, creds)}/certificates", json={"variant": "other_ca"}).json()
    assert loose["client_id"] is None and loose["certificate"] and loose["private_key"]
    bad = api.post(f"{base(tenant, creds)}/certificates", json={"variant": "nope"})
    assert bad.status_code == 400 and "variant" in bad.json()["message"]


def test_register_list_get_and_revoke(
    api: httpx.Client, sandbox: Sandbox, tenant: Tenant, creds: Credentials
) -> None:
    client_id = creds.clients[0]["client_id"]
    pair = sandbox.pki.issue_client(client_id, "Acme", not_before=0, not_after=4e9)
    registered = api.post(f"{base(tenant, creds)}/certificates", json={"certificate": pair.cert_pem})
    assert registered.status_code == 201 and registered.json()["origin"] == "registered"
    again = api.post(f"{base(tenant, creds)}/certificates", json={"certificate": pair.cert_pem})
    assert again.status_code == 409
    fingerprint = registered.json()["fingerprint"]
    listed = api.get(f"{base(tenant, creds)}/certificates").json()["certificates"]
    assert [c["fingerprint"] for c in listed] == [fingerprint]
    one = api.get(f"{base(tenant, creds)}/certificates/{fingerprint[:16]}")
    assert one.status_code == 200 and one.json()["certificate"] == pair.cert_pem
    revoked = api.post(f"{base(tenant, creds)}/certificates/{fingerprint}/revoke")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert api.delete(f"{base(tenant, creds)}/certificates/{fingerprint}").json()["state"] == "revoked"
    by_state = api.get(f"/_mockwise/tenants/{tenant.id}/certificates", params={"state": "active"})
    assert by_state.json()["certificates"] == []
    assert api.get(f"{base(tenant, creds)}/certificates/{'0' * 64}").status_code == 404


def test_at_most_ten_active_certificates(api: httpx.Client, tenant: Tenant, creds: Credentials) -> None:
    for _ in range(MAX_ACTIVE):
        assert api.post(f"{base(tenant, creds)}/certificates", json={}).status_code == 201
    response = api.post(f"{base(tenant, creds)}/certificates", json={"csr": make_csr()})
    assert response.status_code == 409 and "10 active" in response.json()["message"]


def test_unknown_client_or_tenant_is_404(api: httpx.Client, tenant: Tenant) -> None:
    assert api.post(f"/_mockwise/tenants/{tenant.id}/clients/nobody/certificates", json={}).status_code == 404
    assert api.get("/_mockwise/tenants/nowhere/ca.pem").status_code == 404


def test_mtls_enforcement_per_client(api: httpx.Client, tenant: Tenant, creds: Credentials) -> None:
    url = f"{base(tenant, creds)}/mtls"
    assert api.get(url).json()["mtls_enforced"] is True
    assert api.put(url, json={"mtls_enforced": False}).json()["mtls_enforced"] is False
    assert not tenant.client(creds.clients[0]["client_id"]).mtls_enforced
    assert api.put(url, json={"mtls_enforced": "no"}).status_code == 400


FIELDS = st.sampled_from(["csr", "certificate", "name", "variant", "key_type"])
BODIES = st.one_of(
    st.text(max_size=200),
    st.dictionaries(FIELDS, st.one_of(st.text(max_size=50), st.integers(), st.none())),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_any_body_gets_a_json_answer_never_a_500(
    api: httpx.Client, tenant: Tenant, creds: Credentials, body: str | dict[str, object]
) -> None:
    url = f"{base(tenant, creds)}/certificates"
    if isinstance(body, str):
        response = api.post(url, content=body.encode(), headers={"Content-Type": "application/pkcs10"})
    else:
        response = api.post(url, json=body)
    assert response.status_code in (201, 400, 409, 413), response.text
    assert response.json()
    for record in list(tenant.certificates):  # keep room under the limit for later examples
        tenant.certificates.revoke(record.fingerprint)


def test_oversized_pem_is_refused(api: httpx.Client, tenant: Tenant, creds: Credentials) -> None:
    response = api.post(f"{base(tenant, creds)}/certificates", json={"csr": "A" * 70_000})
    assert response.status_code == 413


def test_every_certificate_endpoint_documents_itself_as_openapi_yaml() -> None:
    import inspect

    import yaml

    from mockwise._http.control.certificates import routes as control_routes
    from mockwise._http.mtls import routes

    for route in [*control_routes, *routes]:
        operation = yaml.safe_load(inspect.getdoc(route.endpoint) or "")  # type: ignore[attr-defined]
        assert isinstance(operation, dict) and operation["summary"] and operation["responses"], route
