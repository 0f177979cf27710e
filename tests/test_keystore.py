"""The standalone server's PKI in its state directory: made once, reused, renewed when it must be."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockwise._domain.sandbox import DEFAULT_TENANT, Sandbox
from mockwise._domain.tenant import Tenant
from mockwise._pki import SandboxPKI, inspect_certificate
from mockwise._standalone.keystore import RENEW_BEFORE, Keystore, KeystoreError


def served_tenant(keystore: Keystore, names: tuple[str, ...] = ()) -> tuple[SandboxPKI, Tenant, Path]:
    pki = keystore.load_pki(names)
    tenant, creds = Sandbox(pki=pki).create_tenant(DEFAULT_TENANT, fixed=True)
    cert, _ = keystore.client_certificates(tenant)[creds.clients[0]["client_id"]]
    return pki, tenant, cert


def test_made_once_then_reused(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path)
    pki, _, _ = served_tenant(keystore)
    first = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert {"ca.pem", "ca.key", "server.pem", "server.key"} <= set(first)
    assert {"mockwise-partner.pem", "mockwise-partner.key"} <= set(first)
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    again, tenant2, cert2 = served_tenant(keystore)
    assert again.ca_fingerprint == pki.ca_fingerprint
    assert {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == first  # nothing rewritten
    [record] = list(tenant2.certificates)
    assert record.fingerprint == inspect_certificate(cert2.read_text()).fingerprint
    assert record.origin == "registered"


def test_new_server_names_get_a_new_server_certificate_from_the_same_ca(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path)
    pki, _, _ = served_tenant(keystore)
    server = (tmp_path / "server.pem").read_bytes()
    again, _, _ = served_tenant(keystore, ("mockwise.internal",))
    assert again.ca_fingerprint == pki.ca_fingerprint and (tmp_path / "server.pem").read_bytes() != server


def test_a_client_certificate_near_its_end_or_without_its_key_is_renewed(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path)
    _, tenant, cert = served_tenant(keystore)
    old = cert.read_text()
    tenant.clock.advance(365 * 24 * 3600 - RENEW_BEFORE + 60)
    keystore.client_certificates(tenant)
    assert cert.read_text() != old
    active = tenant.certificates.active("mockwise-partner")
    assert [r.fingerprint for r in active] == [inspect_certificate(cert.read_text()).fingerprint]
    keystore.client_certificates(tenant)  # nothing to do the second time
    assert len(tenant.certificates) == 2
    key = cert.with_suffix(".key")
    key.write_text(SandboxPKI().issue_client("x", "O", not_before=0, not_after=1).key_pem)
    renewed = cert.read_text()
    _, _, cert2 = served_tenant(keystore)
    assert cert2.read_text() != renewed


def test_a_broken_ca_is_an_error_not_a_silent_new_trust(tmp_path: Path) -> None:
    Keystore(tmp_path).load_pki()
    (tmp_path / "ca.key").unlink()
    with pytest.raises(KeystoreError, match=r"ca\.key is missing"):
        Keystore(tmp_path).load_pki()
    (tmp_path / "ca.pem").write_text("junk")
    (tmp_path / "ca.key").write_text("junk")
    with pytest.raises(KeystoreError, match="not a usable CA"):
        Keystore(tmp_path).load_pki()
