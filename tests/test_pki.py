"""The sandbox PKI: CA, server certificate, client certificates, CSR signing and what it refuses."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from mockwise._pki import (
    NO_CHECK_TIME,
    CertificateError,
    KeyPair,
    SandboxPKI,
    fingerprint,
    inspect_certificate,
)

YEAR = 365 * 24 * 3600


@pytest.fixture(scope="module")
def pki() -> SandboxPKI:
    return SandboxPKI(server_names=["mockwise.test", "10.0.0.7"])


def csr(key: object = None, *, cn: str = "whatever", org: str | None = "Acme Bank") -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return request.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()  # type: ignore[arg-type]


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def test_server_certificate_covers_localhost_and_configured_names(pki: SandboxPKI) -> None:
    cert = x509.load_pem_x509_certificate(pki.server.cert_chain_pems[0].bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = {str(n) for n in sans.get_values_for_type(x509.DNSName)}
    ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert names == {"localhost", "mockwise.test"} and ips == {"127.0.0.1", "::1", "10.0.0.7"}
    assert pki.issued(cert)


def test_client_certificate_names_the_client_and_lasts_a_year(pki: SandboxPKI) -> None:
    now = time.time()
    pair = pki.issue_client("partner-1", "Acme Bank", not_before=now, not_after=now + YEAR)
    info = pair.info
    assert info.common_name == "partner-1" and info.organisation == "Acme Bank"
    assert info.not_after - info.not_before == pytest.approx(YEAR, abs=1)
    cert = load(pair.cert_pem)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert pki.issued(cert) and pair.matches()
    assert info.fingerprint == fingerprint(cert.public_bytes(serialization.Encoding.DER))


def test_rsa_client_certificates_on_request(pki: SandboxPKI) -> None:
    pair = pki.issue_client("p", "O", not_before=0, not_after=YEAR, key_type="rsa")
    key = load(pair.cert_pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048


def test_csr_signing_overrides_the_cn_and_keeps_the_organisation(pki: SandboxPKI) -> None:
    signed = pki.sign_csr(
        csr(cn="not-the-client", org="Acme Bank"), "partner-1", not_before=0, not_after=YEAR
    )
    info = inspect_certificate(signed)
    assert info.common_name == "partner-1" and info.organisation == "Acme Bank"
    assert pki.issued(load(signed))


@pytest.mark.parametrize(
    ("make_key", "message"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), None),
        (lambda: ec.generate_private_key(ec.SECP384R1()), None),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "2048, 3072 or 4096"),  # noqa: S505
        (lambda: ec.generate_private_key(ec.SECP521R1()), "P-256 or P-384"),
        (ed25519.Ed25519PrivateKey.generate, "RSA"),
    ],
    ids=["rsa2048", "p384", "rsa1024", "p521", "ed25519"],
)
def test_csr_keys_wise_accepts(pki: SandboxPKI, make_key: Callable[[], object], message: str | None) -> None:
    key = make_key()
    if message is None:
        pki.sign_csr(csr(key), "p", not_before=0, not_after=YEAR)
    else:
        with pytest.raises(CertificateError, match=message):
            pki.sign_csr(csr(key), "p", not_before=0, not_after=YEAR)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (csr(org=None), "Organisation"),
        (csr(org=" "), "Organisation"),
        ("Certificate Request:\n    Data: ...\n" + csr(), "no comments"),
        (csr() + csr(), "exactly one PEM block"),
        ("not a pem", "exactly one PEM block"),
        ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", "PKCS#10"),
        ("-----BEGIN CERTIFICATE REQUEST-----\nA\n-----END CERTIFICATE REQUEST-----", "base64"),
        ("caf\u00e9", "ASCII"),
    ],
    ids=["no-o", "blank-o", "comment", "two-blocks", "garbage", "not-der", "bad-base64", "non-ascii"],
)
def test_csrs_wise_refuses(pki: SandboxPKI, text: str, message: str) -> None:
    with pytest.raises(CertificateError, match=message):
        pki.sign_csr(text, "p", not_before=0, not_after=YEAR)


def test_a_csr_with_a_forged_signature_is_refused(pki: SandboxPKI) -> None:
    good = x509.load_pem_x509_csr(csr().encode())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte belongs to the signature
    forged = ssl.DER_cert_to_PEM_cert(bytes(der)).replace("CERTIFICATE", "CERTIFICATE REQUEST")
    with pytest.raises(CertificateError):
        pki.sign_csr(forged, "p", not_before=0, not_after=YEAR)


def test_registrable_certificates(pki: SandboxPKI) -> None:
    mine = pki.issue_client("partner-1", "Acme", not_before=0, not_after=YEAR)
    assert pki.check_registrable(mine.cert_pem, "partner-1").fingerprint == mine.info.fingerprint
    with pytest.raises(CertificateError, match="CN is 'partner-1'"):
        pki.check_registrable(mine.cert_pem, "partner-2")
    foreign = SandboxPKI().issue_client("partner-1", "Acme", not_before=0, not_after=YEAR)
    with pytest.raises(CertificateError, match="not signed by the sandbox CA"):
        pki.check_registrable(foreign.cert_pem, "partner-1")
    with pytest.raises(CertificateError, match="a CA certificate"):
        pki.check_registrable(pki.ca_pem, "mockwise")
    server = pki.ca.issue_cert("partner-1", common_name="partner-1", organization_name="x")
    server_only = _with_eku(pki, ExtendedKeyUsageOID.SERVER_AUTH)
    assert pki.check_registrable(server.cert_chain_pems[0].bytes(), "partner-1").organisation == "x"
    with pytest.raises(CertificateError, match="clientAuth"):
        pki.check_registrable(server_only, "partner-1")


def _with_eku(pki: SandboxPKI, usage: x509.ObjectIdentifier) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    ca_key = serialization.load_pem_private_key(pki.ca.private_key_pem.bytes(), None)
    ca = x509.load_pem_x509_certificate(pki.ca_pem.encode())
    organisation = x509.NameAttribute(NameOID.ORGANIZATION_NAME, "o")
    name = x509.Name([organisation, x509.NameAttribute(NameOID.COMMON_NAME, "partner-1")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(1).not_valid_before(ca.not_valid_before_utc).not_valid_after(ca.not_valid_after_utc)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_the_ca_survives_a_round_trip_through_pem(pki: SandboxPKI) -> None:
    again = SandboxPKI.from_pem(pki.ca.cert_pem.bytes(), pki.ca.private_key_pem.bytes())
    assert again.ca_fingerprint == pki.ca_fingerprint
    pair = again.issue_client("p", "O", not_before=0, not_after=YEAR)
    assert pki.issued(load(pair.cert_pem))


def test_a_server_certificate_is_reused_only_when_it_still_fits(pki: SandboxPKI) -> None:
    leaf = pki.server
    cert, key = leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes()
    same_ca = SandboxPKI.from_pem(pki.ca.cert_pem.bytes(), pki.ca.private_key_pem.bytes(), ["mockwise.test"])
    assert same_ca.use_server(cert, key)
    more_names = SandboxPKI.from_pem(pki.ca.cert_pem.bytes(), pki.ca.private_key_pem.bytes(), ["other.test"])
    assert not more_names.use_server(cert, key)
    assert not SandboxPKI().use_server(cert, key)
    assert not same_ca.use_server(b"junk", key)


def test_contexts_are_tls12_plus_and_the_mtls_one_requires_a_certificate(pki: SandboxPKI) -> None:
    api, mtls, optional = (pki.server_context(m) for m in ("none", "required", "optional"))
    assert all(c.minimum_version is ssl.TLSVersion.TLSv1_2 for c in (api, mtls, optional))
    assert api.verify_mode is ssl.CERT_NONE
    assert mtls.verify_mode is ssl.CERT_REQUIRED and optional.verify_mode is ssl.CERT_OPTIONAL
    assert mtls.verify_flags & NO_CHECK_TIME  # validity is judged on the tenant clock
    client = pki.client_context()
    assert client.verify_mode is ssl.CERT_REQUIRED and client.check_hostname
    assert len(client.get_ca_certs()) == 1  # the sandbox CA only, never the system store


def test_pem_files_on_demand(pki: SandboxPKI, tmp_path: Path) -> None:
    pair = pki.issue_client("p", "O", not_before=0, not_after=YEAR)
    cert, key = pair.write(tmp_path / "certs", "partner")
    assert cert.read_text() == pair.cert_pem and key.read_text() == pair.key_pem
    assert key.stat().st_mode & 0o777 == 0o600
    assert not KeyPair(pair.cert_pem, pki.issue_client("q", "O", not_before=0, not_after=1).key_pem).matches()


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_any_input_is_either_signed_or_refused_with_a_reason(text: str | bytes) -> None:
    pki = _shared()
    for attempt in (
        lambda: pki.sign_csr(text, "p", not_before=0, not_after=YEAR),
        lambda: pki.check_registrable(text, "p"),
        lambda: inspect_certificate(text),
    ):
        with pytest.raises(CertificateError):
            attempt()


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n", max_size=200))
def test_any_pem_body_is_refused_with_a_reason(body: str) -> None:
    pem = f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(CertificateError):
        _shared().sign_csr(pem, "p", not_before=0, not_after=YEAR)


_PKI: list[SandboxPKI] = []


def _shared() -> SandboxPKI:
    if not _PKI:
        _PKI.append(SandboxPKI())
    return _PKI[0]
