"""The standalone server's PKI on disk, so that a restart keeps trust.

The state directory (`--state-dir`, default `.mockwise/`) holds:

    ca.pem, ca.key                  the sandbox CA ("Get Wise certificate": trust ca.pem)
    truststore.p12                  the same CA as a PKCS#12 trust store (JVM, .NET)
    server.pem, server.key          the server certificate of both listeners
    clients/<client id>.pem, .key   a client certificate for each client of the default tenant
    clients/<client id>.p12         the same certificate, its chain and key as a PKCS#12 key store

The PKCS#12 stores are made again from the PEM files at every start (`java_stores`), with the
password `STORE_PASSWORD`, so a JVM or .NET client loads them as they come.

Each is made once and reused while it is still good (signed by this CA, covering the server names,
more than 30 days of validity left); a client holding the old `ca.pem` keeps trusting the server
across restarts. Private keys are written with mode 0600. Reading and writing happen at start-up
only, never on the request path.
"""

from __future__ import annotations

import re
from pathlib import Path

from mockwise._domain.certificates import CertificateLimit
from mockwise._domain.tenant import Tenant
from mockwise._pki import (
    STORE_PASSWORD,
    CertificateError,
    KeyPair,
    SandboxPKI,
    inspect_certificate,
    trust_store,
    write_private_bytes,
)

CA_CERT, CA_KEY = "ca.pem", "ca.key"
TRUST_STORE = "truststore.p12"
SERVER_CERT, SERVER_KEY = "server.pem", "server.key"
CLIENTS = "clients"
CERTIFICATE_NAME = "mockwise serve"  # the name of the served client certificates in the records
RENEW_BEFORE = 30 * 24 * 3600.0  # reissue a client certificate this close to its expiry


class KeystoreError(RuntimeError):
    """The state directory's PKI cannot be used; the message says what to do."""


class Keystore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def ca_cert(self) -> Path:
        return self.directory / CA_CERT

    def load_pki(self, server_names: tuple[str, ...] = ()) -> SandboxPKI:
        """The CA of earlier runs (or a new one), with a server certificate for `server_names`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        cert, key = self.ca_cert, self.directory / CA_KEY
        if cert.exists() != key.exists():
            present, missing = (cert, key) if cert.exists() else (key, cert)
            raise KeystoreError(
                f"{missing} is missing but {present} is there; restore it, or delete {present} to make "
                "a new CA (clients must then trust the new ca.pem)"
            )
        if cert.exists():
            try:
                pki = SandboxPKI.from_pem(cert.read_bytes(), key.read_bytes(), server_names)
            except (ValueError, TypeError) as exc:
                raise KeystoreError(
                    f"{cert} or {key} is not a usable CA ({exc}); delete both to make a new one "
                    "(clients must then trust the new ca.pem)"
                ) from None
        else:
            pki = SandboxPKI(server_names=server_names)
            KeyPair(pki.ca_pem, pki.ca.private_key_pem.bytes().decode("ascii")).write(self.directory, "ca")
        server_cert, server_key = self.directory / SERVER_CERT, self.directory / SERVER_KEY
        reused = (
            server_cert.exists()
            and server_key.exists()
            and pki.use_server(server_cert.read_bytes(), server_key.read_bytes())
        )
        if not reused:
            leaf = pki.server
            KeyPair(
                "".join(blob.bytes().decode("ascii") for blob in leaf.cert_chain_pems),
                leaf.private_key_pem.bytes().decode("ascii"),
            ).write(self.directory, "server")
        return pki

    def client_certificates(self, tenant: Tenant) -> dict[str, tuple[Path, Path]]:
        """A certificate and key file for each of the tenant's clients, recorded in the tenant's
        Developer Hub: the ones on disk when still good, new ones otherwise."""
        files: dict[str, tuple[Path, Path]] = {}
        for client_id in tenant.directory.clients:
            stem = file_stem(client_id)
            cert, key = self.directory / CLIENTS / f"{stem}.pem", self.directory / CLIENTS / f"{stem}.key"
            if not self._reuse(tenant, client_id, cert, key):
                for stale in tenant.certificates.active(client_id):
                    if stale.name == CERTIFICATE_NAME:  # renewed: the old one goes
                        tenant.certificates.revoke(stale.fingerprint)
                issued = tenant.certificates.issue(client_id, name=CERTIFICATE_NAME)
                issued.pair.write(cert.parent, stem)
            files[client_id] = (cert.resolve(), key.resolve())
        return files

    def java_stores(
        self, files: dict[str, tuple[Path, Path]], password: str = STORE_PASSWORD
    ) -> tuple[Path, dict[str, Path]]:
        """The sandbox CA as a PKCS#12 trust store, and a PKCS#12 key store beside each client's
        certificate and key (`files`, as `client_certificates` gives them): their paths."""
        ca_pem = self.ca_cert.read_text(encoding="ascii")
        trusted = self.directory / TRUST_STORE
        write_private_bytes(trusted, trust_store([ca_pem], password))
        trusted.chmod(0o644)  # certificates only: anyone may read it
        stores: dict[str, Path] = {}
        for client_id, (cert, key) in files.items():
            pair = KeyPair(cert.read_text(encoding="ascii"), key.read_text(encoding="ascii"))
            store = cert.with_suffix(".p12")
            write_private_bytes(store, pair.pkcs12(password, alias=client_id, chain=[ca_pem]))
            stores[client_id] = store.resolve()
        return trusted.resolve(), stores

    def _reuse(self, tenant: Tenant, client_id: str, cert: Path, key: Path) -> bool:
        if not (cert.exists() and key.exists()):
            return False
        try:
            pem = cert.read_text(encoding="ascii")
            info = inspect_certificate(pem)
            if info.not_after - tenant.clock.now() < RENEW_BEFORE:
                return False
            if not KeyPair(pem, key.read_text(encoding="ascii")).matches():
                return False
            recorded = tenant.certificates.get(info.fingerprint)
            if recorded is not None:
                return recorded.client_id == client_id and recorded.revoked_at is None
            tenant.certificates.register(client_id, pem, name=CERTIFICATE_NAME)
        except (CertificateError, CertificateLimit, UnicodeDecodeError):
            return False
        return True


def file_stem(client_id: str) -> str:
    """A file name for a client id (seeds may hold any string)."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", client_id).lstrip(".")
    return stem or "client"
