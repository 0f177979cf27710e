"""`mockwise certs ...` against a running `mockwise serve`: the Developer Hub from the shell."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mockwise._pki import inspect_certificate
from tests.standalone import Served, context, serve


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("certs") / "state") as server:
        yield server


def certs(served: Served, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mockwise", "certs", "--state-dir", str(served.state), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    assert (done.returncode == 0) is ok, done.stdout + done.stderr
    return done


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def test_ca_prints_the_sandbox_ca(served: Served, tmp_path: Path) -> None:
    assert certs(served, "ca").stdout == Path(served.doc["ca_cert"]).read_text()
    certs(served, "ca", "--out", str(tmp_path / "wise.pem"))
    assert (tmp_path / "wise.pem").read_text() == Path(served.doc["ca_cert"]).read_text()


def test_sign_a_csr_then_use_it_over_mtls(served: Served, tmp_path: Path) -> None:
    client = served.doc["clients"][0]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Bank")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    (tmp_path / "partner.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    key_file = tmp_path / "partner.key"
    pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    key_file.write_bytes(key.private_bytes(*pkcs8))
    signed = tmp_path / "p.pem"
    done = certs(served, "sign", str(tmp_path / "partner.csr"), "--name", "from-csr", "--out", str(signed))
    record = as_json(done)
    assert record["name"] == "from-csr" and record["state"] == "active"
    assert inspect_certificate(signed.read_text()).common_name == client["client_id"]

    response = httpx.post(
        f"{served.doc['mtls_api_url']}/oauth/token",
        auth=(client["client_id"], client["client_secret"]),
        data={"grant_type": "client_credentials"},
        verify=context(served.doc, signed, key_file),
    )
    assert response.status_code == 200

    certs(served, "revoke", record["id"])
    listed = as_json(certs(served, "list"))["certificates"]
    assert {c["name"]: c["state"] for c in listed}["from-csr"] == "revoked"


def test_issue_writes_key_and_certificate_files(served: Served, tmp_path: Path) -> None:
    made = as_json(certs(served, "issue", "--variant", "expired", "--out-dir", str(tmp_path)))
    assert made["state"] == "expired" and Path(made["key_file"]).stat().st_mode & 0o777 == 0o600
    refused = certs(served, "register", made["certificate_file"], ok=False)
    assert "already registered" in refused.stderr


def test_enforcement_on_and_off(served: Served) -> None:
    assert as_json(certs(served, "enforce", "off"))["mtls_enforced"] is False
    assert as_json(certs(served, "enforce", "on"))["mtls_enforced"] is True


def test_errors_are_one_line_with_a_reason(served: Served, tmp_path: Path) -> None:
    (tmp_path / "bad.csr").write_text("not a csr")
    assert "exactly one PEM block" in certs(served, "sign", str(tmp_path / "bad.csr"), ok=False).stderr
    assert "404" in certs(served, "list", "--client", "nobody", ok=False).stderr
    nowhere = certs(served, "--state-dir", str(tmp_path), "list", ok=False)
    assert "is `mockwise serve --state-dir" in nowhere.stderr and "Traceback" not in nowhere.stderr
