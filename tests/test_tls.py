"""HTTPS and mTLS over real sockets: httpx, requests, curl and `openssl s_client` against an API
listener (TLS only), an mTLS listener (certificate required) and an mTLS listener in "optional"
mode, all served by one `Runner` in a background thread for the module.

Note for this machine and for users: `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE` and `SSL_CERT_FILE`
may be set globally, and httpx 0.28 ignores `cert=` when `verify` is a path; so the tests pass
httpx an `ssl.SSLContext`, and requests an explicit `verify=` on every call.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import requests

from mockwise._domain.certificates import IssuedCertificate
from mockwise._domain.sandbox import Sandbox
from mockwise._domain.seed import Credentials
from mockwise._domain.tenant import Tenant
from mockwise._http.app import create_app
from mockwise._pki import KeyPair
from mockwise._transport.sockets import Listener
from tests.helpers import BAD_CERTIFICATES, bearer, partner, serving

GRANT = {"grant_type": "client_credentials"}
PLAYGROUND = "/v1/authenticated/playground"


@dataclass
class Served:
    sandbox: Sandbox
    api: str
    mtls: str
    optional: str  # an mTLS listener that answers a missing certificate over HTTP


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    sandbox = Sandbox()
    pki = sandbox.pki
    listeners = [
        Listener("api", ssl=pki.server_context("none")),
        Listener("mtls", ssl=pki.server_context("required")),
        Listener("mtls", ssl=pki.server_context("optional")),
    ]
    with serving(create_app(sandbox), *listeners):
        yield Served(sandbox, *(listener.url for listener in listeners))


@pytest.fixture
def sandbox(served: Served) -> Sandbox:
    """conftest's tenant and creds, on the served sandbox."""
    return served.sandbox


@pytest.fixture
def issued(tenant: Tenant, creds: Credentials) -> IssuedCertificate:
    return tenant.certificates.issue(creds.clients[0]["client_id"])


def client(served: Served, pair: KeyPair | None = None, **options: object) -> httpx.Client:
    return httpx.Client(verify=served.sandbox.pki.client_context(pair, **options), timeout=5)  # type: ignore[arg-type]


def test_httpx_gets_a_token_with_the_right_certificate(
    served: Served, tenant: Tenant, creds: Credentials, issued: IssuedCertificate
) -> None:
    with client(served, issued.pair) as http:
        token = http.post(f"{served.mtls}/oauth/token", auth=partner(creds), data=GRANT)
        assert token.status_code == 200, token.text
        playground = http.get(f"{served.mtls}{PLAYGROUND}", headers=bearer(token.json()["access_token"]))
    assert playground.status_code == 200 and playground.json()["certificate"] == issued.fingerprint
    entries = tenant.journal.select()
    assert [(e.path, e.status, e.cert) for e in entries] == [
        ("/oauth/token", 200, issued.fingerprint),
        (PLAYGROUND, 200, issued.fingerprint),
    ]


def test_requests_gets_a_token_with_certificate_files(
    served: Served, creds: Credentials, issued: IssuedCertificate, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(served.sandbox.pki.ca_pem)
    cert = issued.pair.write(tmp_path, "partner")
    response = requests.post(
        f"{served.mtls}/oauth/token", auth=partner(creds), data=GRANT, cert=cert, verify=str(ca), timeout=5
    )
    assert response.status_code == 200 and response.json()["expires_in"] == 43199


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_gets_a_token_with_cacert_cert_and_key(
    served: Served, creds: Credentials, issued: IssuedCertificate, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(served.sandbox.pki.ca_pem)
    cert, key = issued.pair.write(tmp_path, "partner")
    basic = ":".join(partner(creds))
    command = ["curl", "-sS", "--cacert", str(ca), "--cert", str(cert), "--key", str(key), "-u", basic]
    command += ["-d", "grant_type=client_credentials", f"{served.mtls}/oauth/token"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    assert '"token_type":"bearer"' in done.stdout


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2], ids=["tls1.3", "tls1.2"]
)
def test_no_certificate_fails_the_tls_handshake(
    served: Served, tenant: Tenant, creds: Credentials, version: ssl.TLSVersion
) -> None:
    # TLS 1.2: the handshake itself fails. TLS 1.3: the client's handshake completes before the
    # server checks the certificate, so the failure shows on the first read. Either way no HTTP
    # answer comes back (and, on Python's asyncio, no TLS alert either: CPython gh-98078).
    with client(served, maximum_version=version) as http, pytest.raises(httpx.TransportError):
        http.post(f"{served.mtls}/oauth/token", auth=partner(creds), data=GRANT)
    assert len(tenant.journal) == 0  # nothing reached HTTP


def test_a_certificate_from_another_ca_fails_the_tls_handshake(
    served: Served, tenant: Tenant, creds: Credentials
) -> None:
    other = tenant.certificates.issue(creds.clients[0]["client_id"], variant="other_ca")
    with client(served, other.pair) as http, pytest.raises(httpx.TransportError):
        http.post(f"{served.mtls}/oauth/token", auth=partner(creds), data=GRANT)
    assert len(tenant.journal) == 0


@pytest.mark.parametrize(("variant", "message"), BAD_CERTIFICATES)
def test_bad_certificates_pass_tls_and_get_a_clear_401(
    served: Served, tenant: Tenant, creds: Credentials, variant: str, message: str
) -> None:
    bad = tenant.certificates.issue(creds.clients[0]["client_id"], variant=variant)  # type: ignore[arg-type]
    with client(served, bad.pair) as http:
        response = http.post(f"{served.mtls}/oauth/token", auth=partner(creds), data=GRANT)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized" and message in response.json()["error_description"]
    [entry] = tenant.journal.select()
    assert entry.cert == bad.fingerprint and entry.status == 401


def test_another_clients_certificate_gets_a_401(served: Served, tenant: Tenant, creds: Credentials) -> None:
    other = tenant.add_client(name="Other Bank")
    theirs = tenant.certificates.issue(other.client_id)
    with client(served, theirs.pair) as http:
        response = http.post(f"{served.mtls}/oauth/token", auth=partner(creds), data=GRANT)
    assert response.status_code == 401
    assert f"belongs to client {other.client_id!r}" in response.json()["error_description"]


def test_an_enforced_client_on_the_api_listener_gets_a_401(served: Served, creds: Credentials) -> None:
    with client(served) as http:
        response = http.post(f"{served.api}/oauth/token", auth=partner(creds), data=GRANT)
    assert response.status_code == 401
    assert "call the mTLS host" in response.json()["error_description"]


def test_a_client_not_enforced_may_use_the_api_listener(
    served: Served, tenant: Tenant, creds: Credentials
) -> None:
    tenant.certificates.enforce(creds.clients[0]["client_id"], False)
    with client(served) as http:
        assert http.post(f"{served.api}/oauth/token", auth=partner(creds), data=GRANT).status_code == 200
    assert tenant.journal.select()[0].cert is None


def test_the_optional_listener_answers_a_missing_certificate_over_http(
    served: Served, creds: Credentials, issued: IssuedCertificate
) -> None:
    with client(served) as http:
        response = http.post(f"{served.optional}/oauth/token", auth=partner(creds), data=GRANT)
    assert response.status_code == 401
    assert response.json()["error_description"] == "A client certificate is required on the mTLS host"
    with client(served, issued.pair) as http:
        assert http.post(f"{served.optional}/oauth/token", auth=partner(creds), data=GRANT).status_code == 200


def test_a_resumed_session_still_carries_the_certificate(
    served: Served, creds: Credentials, issued: IssuedCertificate
) -> None:
    context = served.sandbox.pki.client_context(issued.pair)
    host, port = served.mtls.removeprefix("https://").rsplit(":", 1)
    token = httpx.post(f"{served.mtls}/oauth/token", auth=partner(creds), data=GRANT, verify=context).json()
    request = (
        f"GET {PLAYGROUND} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token['access_token']}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    session, answers = None, []
    for _ in range(2):
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host, session=session) as tls,
        ):
            tls.sendall(request)
            answers.append((tls.session_reused, _read_all(tls)))
            session = tls.session
    assert [reused for reused, _ in answers] == [False, True]
    assert all(b"200 OK" in body and issued.fingerprint.encode() in body for _, body in answers)


def _read_all(tls: ssl.SSLSocket) -> bytes:
    chunks = []
    while chunk := tls.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_s_client_sees_tls12_and_up_only(served: Served, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(served.sandbox.pki.ca_pem)
    target = served.api.removeprefix("https://")

    def handshake(*flags: str) -> subprocess.CompletedProcess[str]:
        command = [
            "openssl",
            "s_client",
            "-connect",
            target,
            "-CAfile",
            str(ca),
            "-verify_return_error",
            *flags,
        ]
        return subprocess.run(command, input="", capture_output=True, text=True, timeout=10)

    modern = handshake("-tls1_2")
    assert modern.returncode == 0 and "Verify return code: 0 (ok)" in modern.stdout
    legacy = handshake("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert legacy.returncode != 0 and "Cipher is (NONE)" in legacy.stdout


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_s_client_needs_a_certificate_on_the_mtls_listener(
    served: Served, issued: IssuedCertificate, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(served.sandbox.pki.ca_pem)
    cert, key = issued.pair.write(tmp_path, "partner")
    target = served.mtls.removeprefix("https://")

    def handshake(*flags: str) -> subprocess.CompletedProcess[str]:
        command = ["openssl", "s_client", "-connect", target, "-CAfile", str(ca), "-tls1_2", *flags]
        return subprocess.run(command, input="", capture_output=True, text=True, timeout=10)

    assert handshake("-cert", str(cert), "-key", str(key)).returncode == 0
    refused = handshake()
    assert refused.returncode != 0 and "unexpected eof" in refused.stderr


def test_a_client_keeping_an_idle_tls_connection_does_not_hold_up_the_shutdown() -> None:
    # Closing TLS waits for the client's close_notify; a client that keeps an idle keep-alive
    # connection open (a response object still referenced...) must not stall the server's stop.
    sandbox = Sandbox()
    listener = Listener("api", ssl=sandbox.pki.server_context("none"))
    with serving(create_app(sandbox), listener) as runner:
        thread = runner._thread
        assert thread is not None
        host, port = listener.url.removeprefix("https://").rsplit(":", 1)
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            sandbox.pki.client_context().wrap_socket(raw, server_hostname=host) as tls,
        ):
            tls.sendall(b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert tls.recv(65536).startswith(b"HTTP/1.1 404")
            began = time.monotonic()
            runner.stop_thread()
            assert time.monotonic() - began < 2
        assert not thread.is_alive()


def test_the_cas_own_certificate_passes_the_handshake_but_serves_no_one(
    served: Served, creds: Credentials
) -> None:
    """Issue 15 item 3, over real TLS: the CA's self-signed certificate is in the mTLS host's trust
    store, so the handshake accepts it; the sandbox then refuses it, personal tokens included."""
    ca = served.sandbox.pki.ca
    pair = KeyPair(ca.cert_pem.bytes().decode(), ca.private_key_pem.bytes().decode())
    with client(served, pair) as http:
        personal = http.get(f"{served.mtls}{PLAYGROUND}", headers=bearer(creds.personal_tokens[0]["token"]))
        token = http.post(f"{served.mtls}/oauth/token", auth=partner(creds), data=GRANT)
    for refused in (personal, token):
        assert refused.status_code == 401
        assert "is a CA certificate, not a client certificate" in refused.json()["error_description"]
