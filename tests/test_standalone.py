"""`mockwise serve` as a user runs it: a real process, real sockets, HTTPS and mTLS by default,
sandbox.json, the printed curl command, a restart that keeps trust, `--http`, Ctrl-C."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests

from tests.standalone import Served, context, serve

GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path / "state") as server:
        yield server


def test_sandbox_json_describes_the_running_sandbox(served: Served) -> None:
    doc = served.doc
    assert doc["api_url"].startswith("https://127.0.0.1:") and doc["mtls_api_url"].startswith(
        "https://127.0.0.1:"
    )
    assert doc["api_url"] != doc["mtls_api_url"]
    assert Path(doc["ca_cert"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    client = doc["clients"][0]
    assert {"client_id", "client_secret", "redirect_uris", "cert", "key", "mtls_enforced"} <= set(client)
    assert (
        client["mtls_enforced"] is True and Path(client["cert"]).is_file() and Path(client["key"]).is_file()
    )
    assert Path(client["key"]).stat().st_mode & 0o777 == 0o600
    assert len(doc["users"]) >= 2 and all(
        {"id", "email", "password", "profiles"} <= set(u) for u in doc["users"]
    )
    assert {p["type"] for u in doc["users"] for p in u["profiles"]} == {"personal", "business"}
    assert doc["personal_tokens"] and {"token", "user_id"} <= set(doc["personal_tokens"][0])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_printed_curl_command_gets_a_token_over_mtls_and_ctrl_c_stops(served: Served) -> None:
    # The README's flow, as a new user: run the command the server printed, exactly as printed,
    # from the directory the server was started in.
    banner = served.read_banner()
    assert "HTTPS" in banner and "mTLS" in banner
    printed = banner.split("Get a client-credentials token over mTLS:\n", 1)[1].split("\n\n", 1)[0]
    command = shlex.split(printed.replace("\\\n", " "))
    assert command[:2] == ["curl", "-s"] and {"--cacert", "--cert", "--key"} <= set(command)
    assert command[-1] == f"{served.doc['mtls_api_url']}/oauth/token"
    done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    assert '"token_type":"bearer"' in done.stdout and '"expires_in":43199' in done.stdout

    output = served.stop()
    assert served.process.returncode == 0
    assert "mockwise stopped." in output and "Traceback" not in output


def test_httpx_and_requests_over_both_listeners(served: Served) -> None:
    doc, client = served.doc, served.doc["clients"][0]
    basic = (client["client_id"], client["client_secret"])
    mtls = context(doc, client["cert"], client["key"])
    token = httpx.post(f"{doc['mtls_api_url']}/oauth/token", auth=basic, data=GRANT, verify=mtls)
    assert token.status_code == 200
    playground = requests.get(
        f"{doc['mtls_api_url']}/v1/authenticated/playground",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        cert=(client["cert"], client["key"]),
        verify=doc["ca_cert"],
        timeout=5,
    )
    assert playground.status_code == 200 and playground.json()["clientId"] == client["client_id"]
    refused = httpx.post(f"{doc['api_url']}/oauth/token", auth=basic, data=GRANT, verify=context(doc))
    assert refused.status_code == 401 and "mTLS is enforced" in refused.json()["error_description"]
    me = requests.get(
        f"{doc['api_url']}/v1/me",
        headers={"Authorization": f"Bearer {doc['personal_tokens'][0]['token']}"},
        verify=doc["ca_cert"],
        timeout=5,
    )
    assert me.json()["id"] == doc["personal_tokens"][0]["user_id"]  # personal tokens need no mTLS
    journal = httpx.get(
        f"{doc['control_url']}/tenants/default/journal", params={"since": 0}, verify=context(doc)
    ).json()
    fingerprints = [e["cert"] for e in journal["entries"] if e["path"].startswith("/oauth")]
    assert fingerprints[0] is not None and len(fingerprints[0]) == 64 and fingerprints[1] is None


def test_a_restarted_server_is_still_trusted_with_the_old_ca_file(served: Served, tmp_path: Path) -> None:
    doc, client = served.doc, served.doc["clients"][0]
    kept = tmp_path / "kept"
    kept.mkdir()
    old_ca = shutil.copy(doc["ca_cert"], kept / "ca.pem")
    old_cert, old_key = shutil.copy(client["cert"], kept), shutil.copy(client["key"], kept)
    served.stop()
    with serve(served.state) as again:
        response = httpx.post(
            f"{again.doc['mtls_api_url']}/oauth/token",
            auth=(client["client_id"], client["client_secret"]),
            data=GRANT,
            verify=context({"ca_cert": old_ca}, old_cert, old_key),
        )
        assert response.status_code == 200, response.text
        assert again.started_in < 10  # certificates are reused, not remade


def test_plain_http_mode_is_clearly_labelled(tmp_path: Path) -> None:
    with serve(tmp_path / "state", "--http") as served:
        doc = served.doc
        assert doc["api_url"].startswith("http://") and doc["mtls_api_url"] is None and doc["ca_cert"] is None
        client = doc["clients"][0]
        assert client["cert"] is None
        token = requests.post(
            f"{doc['api_url']}/oauth/token",
            auth=(client["client_id"], client["client_secret"]),
            data=GRANT,
            timeout=5,
        )
        assert token.status_code == 200  # no TLS: client certificates are not checked
        output = served.stop()
    assert "PLAIN HTTP" in output and "curl -s -u" in output


def test_missing_client_certificate_can_be_answered_over_http(tmp_path: Path) -> None:
    with serve(tmp_path / "state", "--missing-client-cert", "http") as served:
        doc, client = served.doc, served.doc["clients"][0]
        response = httpx.post(
            f"{doc['mtls_api_url']}/oauth/token",
            auth=(client["client_id"], client["client_secret"]),
            data=GRANT,
            verify=context(doc),
        )
    assert response.status_code == 401
    assert response.json()["error_description"] == "A client certificate is required on the mTLS host"
