"""The sandbox's public-key infrastructure: its CA ("the Wise certificate"), the server certificate,
and the partners' client certificates (reference §6).

    pki = SandboxPKI()                                   # a fresh CA, in memory
    pair = pki.issue_client("partner-1", "Acme Bank", not_before=t, not_after=t + YEAR)
    pki.server_context(client_certificates="required")   # the mTLS listener's ssl.SSLContext
    pki.client_context(pair)                             # a client trusting the CA, presenting `pair`

trustme makes the CA and the server certificate; `cryptography` signs client certificates and CSRs
and inspects what partners send. Keys are ECDSA P-256 unless asked otherwise: they are generated in
well under a millisecond, so a fresh PKI per test costs nothing. Nothing here knows about tenants;
`mockwise._domain.certificates` records which certificate belongs to which client.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import hashlib
import ipaddress
import os
import re
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import trustme
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def fingerprint(der: bytes) -> str:
    """SHA-256 of a certificate's DER, lower-case hex (`openssl x509 -fingerprint -sha256`, without
    the colons): how a certificate is known here, on connections and in records."""
    return hashlib.sha256(der).hexdigest()


#: The server certificate always covers these; more names come from `--server-name`.
DEFAULT_SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
#: The CA's subject: what "Get Wise certificate" downloads, for the partner's trust store (§6).
CA_ORGANISATION = "mockwise"
CA_UNIT = "mockwise sandbox CA (the Wise certificate)"
SERVER_UNIT = "mockwise server"
#: CSR keys Wise accepts: RSA 2048/3072/4096 or ECC 256/384 [C] §6.
RSA_SIZES = frozenset({2048, 3072, 4096})
EC_CURVES = frozenset({"secp256r1", "secp384r1"})

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: the TLS layer checks the chain only; a client certificate's
# validity is judged over HTTP against the *tenant's* clock, so tests can move time.
NO_CHECK_TIME = 0x200000

ClientCertificates = Literal["none", "required", "optional"]
KeyType = Literal["ec", "rsa"]

_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n(?P<body>[A-Za-z0-9+/=\r\n]+)-----END (?P=label)-----"
)


class CertificateError(ValueError):
    """A CSR or certificate the sandbox refuses; the message says why, for the partner."""


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What the sandbox needs to know about one certificate (no key material)."""

    fingerprint: str  # SHA-256 of the DER, lower-case hex: the journal's `cert`
    serial: int
    common_name: str | None
    organisation: str | None
    subject: str  # RFC 4514, e.g. "O=Acme Bank,CN=partner-1"
    issuer: str
    not_before: float  # POSIX seconds
    not_after: float
    pem: str
    ca: bool = False  # a CA certificate (basicConstraints CA:TRUE), which is never a client's


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A certificate and its private key, both PEM; written to files only when a client needs paths."""

    cert_pem: str
    key_pem: str

    @property
    def info(self) -> CertificateInfo:
        return inspect_certificate(self.cert_pem)

    def matches(self) -> bool:
        """Whether the key is the certificate's (a torn state directory could mix them up)."""
        try:
            cert = x509.load_pem_x509_certificate(self.cert_pem.encode("ascii"))
            key = serialization.load_pem_private_key(self.key_pem.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError):
            return False
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        return bool(cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki))

    def write(self, directory: str | Path, stem: str = "client") -> tuple[Path, Path]:
        """Write `<stem>.pem` and `<stem>.key` (mode 0600) into `directory`; returns both paths."""
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # holds a private key: its owner's
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
        write_private(key_path, self.key_pem)
        write_file(cert_path, self.cert_pem)
        return cert_path, key_path

    def pkcs12(self, password: str, *, alias: str = "client", chain: Sequence[str] = ()) -> bytes:
        """A PKCS#12 key store (what the JVM and .NET load): this key and certificate under `alias`,
        with the CA certificates `chain` (PEM), encrypted with `password`."""
        cert = x509.load_pem_x509_certificate(self.cert_pem.encode("ascii"))
        key = serialization.load_pem_private_key(self.key_pem.encode("ascii"), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise CertificateError("only ECDSA and RSA keys go into a key store here")
        cas = [x509.load_pem_x509_certificate(pem.encode("ascii")) for pem in chain]
        return pkcs12.serialize_key_and_certificates(
            alias.encode("utf-8"), key, cert, cas or None, _store_encryption(password)
        )

    def configure_cert(self, context: ssl.SSLContext) -> None:
        """Present this certificate from `context` (`load_cert_chain` wants files: temporary ones)."""
        with tempfile.TemporaryDirectory(prefix="mockwise-") as tmp:
            context.load_cert_chain(*self.write(tmp))


class SandboxPKI:
    """One sandbox's CA and server certificate; signs and inspects client certificates."""

    def __init__(self, ca: trustme.CA | None = None, server_names: Iterable[str] = ()) -> None:
        self.ca = ca or trustme.CA(organization_name=CA_ORGANISATION, organization_unit_name=CA_UNIT)
        self._ca_cert = x509.load_pem_x509_certificate(self.ca.cert_pem.bytes())
        key = serialization.load_pem_private_key(self.ca.private_key_pem.bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise CertificateError("the CA key must be ECDSA or RSA")
        self._ca_key = key
        self.server_names = _names([*DEFAULT_SERVER_NAMES, *server_names])
        self._server: trustme.LeafCert | None = None

    @classmethod
    def elsewhere(cls) -> SandboxPKI:
        """A throwaway CA the sandbox does not trust: for "signed by another CA" negative tests."""
        return cls(trustme.CA(organization_name="not mockwise", organization_unit_name="another CA"))

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, server_names: Iterable[str] = ()) -> SandboxPKI:
        return cls(trustme.CA.from_pem(cert_pem, key_pem), server_names)

    # The CA ----------------------------------------------------------------------------------

    @property
    def ca_pem(self) -> str:
        """The CA certificate: what "Get Wise certificate" downloads (§6)."""
        return self.ca.cert_pem.bytes().decode("ascii")

    @property
    def ca_fingerprint(self) -> str:
        return fingerprint(self._ca_cert.public_bytes(serialization.Encoding.DER))

    def issued(self, cert: x509.Certificate) -> bool:
        """Whether the sandbox CA signed `cert`."""
        try:
            cert.verify_directly_issued_by(self._ca_cert)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    # The server ------------------------------------------------------------------------------

    @property
    def server(self) -> trustme.LeafCert:
        """The server certificate (made on first use) for localhost, 127.0.0.1, ::1 and more names."""
        if self._server is None:
            self._server = self.ca.issue_cert(
                *self.server_names, organization_name=CA_ORGANISATION, organization_unit_name=SERVER_UNIT
            )
        return self._server

    def use_server(self, cert_pem: bytes, key_pem: bytes) -> bool:
        """Reuse a server certificate made earlier (the state directory) when this CA signed it
        and it covers every server name. Returns whether it was taken."""
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            serialization.load_pem_private_key(key_pem, password=None)
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (ValueError, TypeError, x509.ExtensionNotFound):
            return False
        covered = {str(n) for n in sans.get_values_for_type(x509.DNSName)}
        covered |= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
        now = datetime.datetime.now(datetime.UTC)
        if not (self.issued(cert) and set(self.server_names) <= covered and cert.not_valid_after_utc > now):
            return False
        leaf = trustme.LeafCert(key_pem, cert_pem, [])
        self._server = leaf
        return True

    def server_context(self, client_certificates: ClientCertificates = "none") -> ssl.SSLContext:
        """A TLS 1.2+ server context ([C] §12). "required": the mTLS host, where a handshake without
        a certificate chaining to the sandbox CA fails (§6 [I]); "optional": a missing certificate
        is answered over HTTP instead; "none": the TLS-only API host."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        self.server.configure_cert(ctx)
        if client_certificates != "none":
            ctx.verify_mode = ssl.CERT_REQUIRED if client_certificates == "required" else ssl.CERT_OPTIONAL
            ctx.load_verify_locations(cadata=self.ca_pem)
            ctx.verify_flags = ssl.VerifyFlags(ctx.verify_flags | NO_CHECK_TIME)
        return ctx

    def client_context(
        self, pair: KeyPair | None = None, *, maximum_version: ssl.TLSVersion | None = None
    ) -> ssl.SSLContext:
        """A client context that trusts only the sandbox CA (never the system store, whatever
        SSL_CERT_FILE says) and presents `pair` when given: pass it as httpx's `verify=`."""
        ctx = ssl.create_default_context(cadata=self.ca_pem)
        if maximum_version is not None:
            ctx.maximum_version = maximum_version
        if pair is not None:
            pair.configure_cert(ctx)
        return ctx

    # Client certificates ---------------------------------------------------------------------

    def issue_client(
        self,
        client_id: str,
        organisation: str,
        *,
        not_before: float,
        not_after: float,
        key_type: KeyType = "ec",
    ) -> KeyPair:
        """A new key and a certificate for it: CN = the client id, O = `organisation` (§6)."""
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            ec.generate_private_key(ec.SECP256R1())
            if key_type == "ec"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        subject = _subject(client_id, [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])
        cert = self._sign(subject, key.public_key(), not_before, not_after)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return KeyPair(_pem(cert), key_pem.decode("ascii"))

    def sign_csr(self, csr_pem: str | bytes, client_id: str, *, not_before: float, not_after: float) -> str:
        """Sign a partner's CSR as the Developer Hub does (§6): PEM only, no comments, an O required,
        an RSA 2048/3072/4096 or EC P-256/P-384 key; the CN is overridden with the client id."""
        der = _single_pem(csr_pem, ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"), "CSR")
        try:
            csr = x509.load_der_x509_csr(der)
        except ValueError:
            raise CertificateError("the CSR is not a valid PKCS#10 certificate request") from None
        if not csr.is_signature_valid:
            raise CertificateError("the CSR's signature does not verify")
        public_key = csr.public_key()
        _check_key(public_key)
        kept = [a for a in csr.subject if a.oid != NameOID.COMMON_NAME]
        if not any(a.oid == NameOID.ORGANIZATION_NAME and str(a.value).strip() for a in kept):
            raise CertificateError("the CSR must set an Organisation (O)")
        assert isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
        return _pem(self._sign(_subject(client_id, kept), public_key, not_before, not_after))

    def check_registrable(self, cert_pem: str | bytes, client_id: str) -> CertificateInfo:
        """A certificate made elsewhere, to register for `client_id`: it must be signed by the
        sandbox CA (or the mTLS host would refuse it), name the client as CN, carry an O, be a leaf
        and allow client authentication."""
        der = _single_pem(cert_pem, ("CERTIFICATE",), "certificate")
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise CertificateError("the certificate is not a valid X.509 certificate") from None
        info = _info(cert)
        if not self.issued(cert):
            raise CertificateError("the certificate is not signed by the sandbox CA (download it: ca.pem)")
        if info.ca:
            raise CertificateError("a CA certificate cannot be a client certificate")
        try:
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
                raise CertificateError("the certificate's extended key usage does not allow clientAuth")
        except x509.ExtensionNotFound:
            pass
        if info.common_name != client_id:
            raise CertificateError(f"the certificate's CN is {info.common_name!r}; it must be the client id")
        if not info.organisation:
            raise CertificateError("the certificate must set an Organisation (O)")
        return info

    def _sign(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
        not_before: float,
        not_after: float,
    ) -> x509.Certificate:
        ca_ski = self._ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        key_encipherment = isinstance(public_key, rsa.RSAPublicKey)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._ca_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(_utc(not_before))
            .not_valid_after(_utc(not_after))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=key_encipherment,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
            )
            .sign(self._ca_key, hashes.SHA256())
        )


# Inspection --------------------------------------------------------------------------------------


def inspect_certificate(pem: str | bytes) -> CertificateInfo:
    der = _single_pem(pem, ("CERTIFICATE",), "certificate", strict=False)
    try:
        return _info(x509.load_der_x509_certificate(der))
    except ValueError:
        raise CertificateError("the certificate is not a valid X.509 certificate") from None


def _info(cert: x509.Certificate) -> CertificateInfo:
    def attribute(oid: x509.ObjectIdentifier) -> str | None:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else None

    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False

    return CertificateInfo(
        fingerprint=fingerprint(cert.public_bytes(serialization.Encoding.DER)),
        serial=cert.serial_number,
        common_name=attribute(NameOID.COMMON_NAME),
        organisation=attribute(NameOID.ORGANIZATION_NAME),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        pem=_pem(cert),
        ca=ca,
    )


def _single_pem(value: str | bytes, labels: Sequence[str], what: str, *, strict: bool = True) -> bytes:
    """The DER inside exactly one PEM block. `strict`: nothing else around it (Wise: "no comments")."""
    try:
        text = value.decode("ascii") if isinstance(value, bytes) else value
        text.encode("ascii")
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise CertificateError(f"the {what} must be PEM text (ASCII)") from None
    blocks = list(_PEM_BLOCK.finditer(text))
    if len(blocks) != 1 or blocks[0].group("label") not in labels:
        raise CertificateError(f"send exactly one PEM block: -----BEGIN {labels[0]}-----")
    if strict and text.strip() != blocks[0].group(0).strip():
        raise CertificateError(f"the {what} PEM must contain no comments or other text")
    try:
        return base64.b64decode("".join(blocks[0].group("body").split()), validate=True)
    except binascii.Error:
        raise CertificateError(f"the {what} PEM is not valid base64") from None


def _check_key(key: object) -> None:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in RSA_SIZES:
            raise CertificateError(f"an RSA key must be 2048, 3072 or 4096 bits, not {key.key_size}")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise CertificateError(f"an EC key must be on P-256 or P-384, not {key.curve.name}")
    else:
        raise CertificateError("the key must be RSA (2048/3072/4096) or ECC (P-256/P-384)")


def _subject(client_id: str, others: Iterable[x509.NameAttribute[str | bytes]]) -> x509.Name:
    # ASN.1 limits a CN to 64 characters; Wise's client ids are far shorter.
    if not 0 < len(client_id) <= 64:
        raise CertificateError("a client id used as CN must be 1-64 characters")
    return x509.Name([*others, x509.NameAttribute(NameOID.COMMON_NAME, client_id)])


def _names(names: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for name in names:
        name = name.strip()
        if not name:
            continue
        try:
            name = str(ipaddress.ip_address(name.strip("[]")))
        except ValueError:
            name = name.lower()
        seen[name] = None
    return tuple(seen)


def _utc(instant: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(instant, datetime.UTC)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


#: The password of the PKCS#12 stores mockwise writes, unless told otherwise: the JDK's own default
#: for its trust store, so Java developers recognise it. It protects nothing the key's 0600 file
#: does not; a sandbox's stores are for convenience, not secrecy.
STORE_PASSWORD = "changeit"


def trust_store(ca_pems: Sequence[str], password: str, *, alias: str = "mockwise-sandbox-ca") -> bytes:
    """A PKCS#12 trust store holding the CA certificates `ca_pems`, marked as trusted for the JVM
    (Java reads a certificate-only PKCS#12 entry as trusted only with Oracle's trusted-key-usage
    attribute, which `serialize_java_truststore` sets); .NET and OpenSSL read it too."""
    certificates = [
        pkcs12.PKCS12Certificate(
            x509.load_pem_x509_certificate(pem.encode("ascii")),
            f"{alias}-{n}".encode() if len(ca_pems) > 1 else alias.encode(),
        )
        for n, pem in enumerate(ca_pems, 1)
    ]
    return pkcs12.serialize_java_truststore(certificates, _store_encryption(password))


def _store_encryption(password: str) -> serialization.KeySerializationEncryption:
    # AES-256 and PBKDF2-SHA256 (PKCS#12's modern profile): JDK 8u301+, .NET and OpenSSL 1.1.1+
    # read it; the legacy RC2/3DES profile is what they still read but should not be given.
    return (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)  # OpenSSL's default for PKCS#12
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode("utf-8"))
    )


def write_private_bytes(path: Path, data: bytes) -> None:
    """As `write_private`, for bytes (key stores)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (keys, credentials): `write_file` with mode 0600."""
    write_file(path, text, 0o600)


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write `path` whole or not at all, never through a link: a temporary file beside it, created
    anew (`O_EXCL`: a leftover or a planted link is removed first, and one planted in between makes
    the write fail, never follow) with `mode`, then renamed over `path` (a rename replaces a link at
    `path` instead of writing where it points)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # a crash's leftover, or a link: unlink never follows one
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            if hasattr(os, "fchmod"):
                os.fchmod(out.fileno(), mode)  # the umask does not decide who may read a key
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
