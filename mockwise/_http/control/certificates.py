"""The Developer Hub's certificate page, over the control plane (reference §6).

Per tenant, under `/_mockwise/tenants/{tenant}`:

- `GET ca.pem`: "Get Wise certificate", the sandbox CA for the partner's trust store;
- `GET certificates`, `GET clients/{client_id}/certificates`: the records, with their state;
- `POST clients/{client_id}/certificates`: "Generate certificate" from a CSR (`{"csr": PEM}`, or
  the PEM itself as the body), register one made elsewhere (`{"certificate": PEM}`), or let the
  sandbox make a key and certificate (`{}`; `variant` for negative tests); at most 10 active;
- `GET clients/{client_id}/certificates/{fingerprint}`: one record and its PEM;
- `POST clients/{client_id}/certificates/{fingerprint}/revoke` (or `DELETE` it): revoke;
- `GET`/`PUT clients/{client_id}/mtls`: whether mTLS is enforced for the client.

Fingerprints are SHA-256 hex (colons allowed), or the 16-character `id` prefix.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mockwise._domain.certificates import Certificate, CertificateLimit, CertificateState
from mockwise._domain.clock import iso_millis
from mockwise._domain.tenant import Tenant
from mockwise._http.control.common import (
    JSON,
    ControlError,
    body_of,
    endpoint,
    field,
    known_state,
    raw_body,
    tenant_of,
)
from mockwise._http.responses import WiseJSON
from mockwise._pki import CertificateError

MAX_PEM = 64 * 1024
PEM_TYPES = ("application/x-pem-file", "application/pkcs10", "application/pkix-cert")


def certificate_json(record: Certificate, now: float, *, pem: bool = False) -> JSON:
    data: JSON = {
        "id": record.id,
        "fingerprint": record.fingerprint,
        "client_id": record.client_id,
        "name": record.name,
        "serial": format(record.serial, "x"),
        "subject": record.subject,
        "not_before": iso_millis(record.not_before),
        "not_after": iso_millis(record.not_after),
        "origin": record.origin,
        "created_at": iso_millis(record.created_at),
        "revoked_at": iso_millis(record.revoked_at) if record.revoked_at is not None else None,
        "state": record.state(now).value,
    }
    if pem:
        data["certificate"] = record.pem
    return data


def _record(tenant: Tenant, request: Request) -> Certificate:
    client_id = request.path_params["client_id"]
    tenant.client(client_id)
    record = tenant.certificates.get(request.path_params["fingerprint"])
    if record is None or record.client_id != client_id:
        raise ControlError(404, "not_found", f"no certificate {request.path_params['fingerprint']!r}")
    return record


@endpoint
async def get_ca(request: Request) -> Response:
    """
    summary: The sandbox CA certificate ("Get Wise certificate")
    description: >
      PEM, for the partner's trust store: the server certificates of both listeners and every client
      certificate are signed by it. It is sandbox-wide; every tenant answers the same.
    tags: [certificates]
    responses:
      200:
        description: "The CA certificate."
        content: {application/x-pem-file: {schema: {type: string}}}
    """
    tenant = tenant_of(request)
    pem = tenant.certificates.pki.ca_pem
    return Response(
        pem,
        media_type="application/x-pem-file",
        headers={"Content-Disposition": 'attachment; filename="mockwise.ca-certificate.sandbox.pem"'},
    )


@endpoint
async def list_certificates(request: Request) -> Response:
    """
    summary: The tenant's client certificates (all clients, or one)
    tags: [certificates]
    parameters:
      - {name: client_id, in: query, schema: {type: string}}
      - name: state
        in: query
        description: "one state; empty or absent: all"
        schema: {type: string, enum: ["", active, revoked, expired, not_yet_valid]}
    responses:
      200: {description: "Records, oldest first (never a private key)."}
    """
    tenant = tenant_of(request)
    client_id = request.path_params.get("client_id") or request.query_params.get("client_id")
    if client_id is not None:
        tenant.client(client_id)
    now = tenant.clock.now()
    wanted = known_state(request, tuple(CertificateState))
    records = tenant.certificates.of_client(client_id) if client_id else list(tenant.certificates)
    rows = [certificate_json(r, now) for r in records if wanted is None or r.state(now).value == wanted]
    return WiseJSON({"certificates": rows})


@endpoint
async def add_certificate(request: Request) -> Response:
    """
    summary: Sign a CSR, register a certificate, or make a key and certificate for a client
    description: >
      `{"csr": PEM}` signs a partner's CSR as the Developer Hub does: PEM only, no comments, an O
      required, RSA 2048/3072/4096 or EC P-256/P-384; the CN becomes the client id; one year.
      The body may also be the PEM itself (`Content-Type: application/pkcs10` or
      `application/x-pem-file`; the name as `?name=`).
      `{"certificate": PEM}` registers a certificate signed by the sandbox CA with CN = client id.
      `{}` makes a new key and certificate (the key is returned this once). `variant` makes a
      certificate for a negative test: expired, not_yet_valid, revoked (recorded), other_ca,
      other_client (recorded nowhere). At most 10 active certificates per client, names unique.
    tags: [certificates]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              csr: {type: string}
              certificate: {type: string}
              name: {type: string}
              variant: {type: string, enum: [expired, not_yet_valid, revoked, other_ca, other_client]}
              key_type: {type: string, enum: [ec, rsa]}
    responses:
      201: {description: "The record, the certificate PEM, and the private key when the sandbox made it."}
      400: {description: "The CSR or certificate is refused; the message says why."}
      404: {description: "No such client."}
      409: {description: "10 active certificates already, or the name or certificate is taken."}
    """
    tenant = tenant_of(request)
    client_id = request.path_params["client_id"]
    tenant.client(client_id)
    data = await _certificate_body(request)
    name = field(data, "name", str, None)
    certificates = tenant.certificates
    try:
        if "csr" in data:
            record = certificates.sign(client_id, _pem_field(data, "csr"), name=name)
            return WiseJSON(certificate_json(record, tenant.clock.now(), pem=True), 201)
        if "certificate" in data:
            record = certificates.register(client_id, _pem_field(data, "certificate"), name=name)
            return WiseJSON(certificate_json(record, tenant.clock.now(), pem=True), 201)
        variant = field(data, "variant", str, None)
        key_type = field(data, "key_type", str, "ec")
        issued = certificates.issue(client_id, name=name, variant=variant, key_type=key_type)
    except CertificateLimit as exc:
        raise ControlError(409, "conflict", str(exc)) from None
    except CertificateError as exc:
        raise ControlError(400, "invalid_certificate", str(exc)) from None
    now = tenant.clock.now()
    body: JSON = (
        certificate_json(issued.certificate, now)
        if issued.certificate is not None
        else {"id": issued.fingerprint[:16], "fingerprint": issued.fingerprint, "client_id": None}
    )
    body |= {"variant": variant, "certificate": issued.cert_pem, "private_key": issued.key_pem}
    return WiseJSON(body, 201)


async def _certificate_body(request: Request) -> JSON:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in PEM_TYPES:
        raw = await raw_body(request, MAX_PEM, "a PEM body")
        text = raw.decode("ascii", "replace")
        key = "certificate" if "BEGIN CERTIFICATE-----" in text else "csr"
        data: JSON = {key: text}
        if "name" in request.query_params:
            data["name"] = request.query_params["name"]
        return data
    return await body_of(request)


def _pem_field(data: JSON, name: str) -> str:
    value: str = field(data, name, str, required=True)
    if len(value) > MAX_PEM:
        raise ControlError(413, "too_large", f"'{name}' is at most 64 KiB")
    return value


@endpoint
async def get_certificate(request: Request) -> Response:
    """
    summary: One client certificate, with its PEM
    tags: [certificates]
    responses:
      200: {description: "The record and the certificate."}
      404: {description: "No such client or certificate."}
    """
    tenant = tenant_of(request)
    return WiseJSON(certificate_json(_record(tenant, request), tenant.clock.now(), pem=True))


@endpoint
async def revoke_certificate(request: Request) -> Response:
    """
    summary: Revoke a client certificate (the mTLS host refuses it from now on)
    tags: [certificates]
    responses:
      200: {description: "The record, now revoked (revoking twice is harmless)."}
      404: {description: "No such client or certificate."}
    """
    tenant = tenant_of(request)
    record = tenant.certificates.revoke(_record(tenant, request).fingerprint)
    return WiseJSON(certificate_json(record, tenant.clock.now()))


def _mtls_json(tenant: Tenant, client_id: str) -> JSON:
    client = tenant.client(client_id)
    return {
        "client_id": client_id,
        "mtls_enforced": client.mtls_enforced,
        "active_certificates": len(tenant.certificates.active(client_id)),
    }


@endpoint
async def get_mtls(request: Request) -> Response:
    """
    summary: Whether mTLS is enforced for a client
    tags: [certificates]
    responses:
      200: {description: "client_id, mtls_enforced, active_certificates."}
    """
    return WiseJSON(_mtls_json(tenant_of(request), request.path_params["client_id"]))


@endpoint
async def put_mtls(request: Request) -> Response:
    """
    summary: Turn mTLS enforcement on or off for a client
    description: >
      An enforced client's calls are refused on the TLS-only API host (Wise: "calls are accepted
      only on the mTLS endpoints"). OAuth partners are enforced by default, as on Wise.
    tags: [certificates]
    requestBody:
      required: true
      content:
        application/json:
          schema: {type: object, required: [mtls_enforced], properties: {mtls_enforced: {type: boolean}}}
    responses:
      200: {description: "The setting now in force."}
    """
    tenant = tenant_of(request)
    client_id = request.path_params["client_id"]
    enforced = field(await body_of(request), "mtls_enforced", bool, required=True)
    tenant.certificates.enforce(client_id, enforced)
    return WiseJSON(_mtls_json(tenant, client_id))


CERTIFICATE = "/clients/{client_id}/certificates/{fingerprint}"
routes: list[BaseRoute] = [
    Route("/ca.pem", get_ca, methods=["GET"]),
    Route("/certificates", list_certificates, methods=["GET"]),
    Route("/clients/{client_id}/certificates", list_certificates, methods=["GET"]),
    Route("/clients/{client_id}/certificates", add_certificate, methods=["POST"]),
    Route(CERTIFICATE, get_certificate, methods=["GET"]),
    Route(CERTIFICATE, revoke_certificate, methods=["DELETE"]),
    Route(f"{CERTIFICATE}/revoke", revoke_certificate, methods=["POST"]),
    Route("/clients/{client_id}/mtls", get_mtls, methods=["GET"]),
    Route("/clients/{client_id}/mtls", put_mtls, methods=["PUT"]),
]
