"""JVM- and .NET-ready credentials (issue 28): `mockwise serve` writes a PKCS#12 key store per client
certificate and a PKCS#12 trust store holding the sandbox CA, names them and their password in
sandbox.json and the banner, and `mockwise certs` exports them; the JDK's keytool reads them, and a
JVM gets a token over mTLS with them as they come."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockwise._standalone import cli
from tests.standalone import Served, serve

REQUIRED = os.environ.get("MOCKWISE_REQUIRE_RUNTIMES") == "1"  # CI: the JDK must be there
TOKEN = """
import java.net.URI;
import java.net.http.*;
import java.nio.file.*;
import java.security.KeyStore;
import java.util.Base64;
import javax.net.ssl.*;

public class Token {
    static KeyStore load(String path, char[] password) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(Path.of(path))) { store.load(in, password); }
        return store;
    }

    public static void main(String[] a) throws Exception {
        char[] password = a[2].toCharArray();
        var keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keys.init(load(a[0], password), password);
        var trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(load(a[1], password));
        var tls = SSLContext.getInstance("TLS");
        tls.init(keys.getKeyManagers(), trust.getTrustManagers(), null);
        var http = HttpClient.newBuilder().sslContext(tls).build();
        var basic = Base64.getEncoder().encodeToString((a[4] + ":" + a[5]).getBytes());
        var request = HttpRequest.newBuilder(URI.create(a[3] + "/oauth/token"))
            .header("Authorization", "Basic " + basic)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .POST(HttpRequest.BodyPublishers.ofString("grant_type=client_credentials")).build();
        var response = http.send(request, HttpResponse.BodyHandlers.ofString());
        System.out.println(response.statusCode() + " " + response.body());
    }
}
"""


def _needs(program: str) -> None:
    if shutil.which(program) is None:
        if REQUIRED:
            pytest.fail(f"{program} is missing (apt-get install openjdk-17-jdk-headless)")
        pytest.skip(f"{program} is missing (a JDK)")


def _keytool_list(store: str, password: str) -> str:
    _needs("keytool")
    done = subprocess.run(
        ["keytool", "-list", "-keystore", store, "-storetype", "PKCS12", "-storepass", password],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path / "state") as server:
        yield server


def test_serve_names_stores_keytool_reads(served: Served) -> None:
    doc, client = served.doc, served.doc["clients"][0]
    assert doc["store_password"] == "changeit"
    assert Path(client["keystore"]).stat().st_mode & 0o777 == 0o600  # it holds the key
    trusted = _keytool_list(doc["trust_store"], doc["store_password"])
    assert "Your keystore contains 1 entry" in trusted and "trustedCertEntry" in trusted
    keys = _keytool_list(client["keystore"], doc["store_password"])
    assert f"{client['client_id']}," in keys and "PrivateKeyEntry" in keys
    banner = served.read_banner()
    assert "JVM, .NET" in banner and "truststore.p12" in banner and f"{client['client_id']}.p12" in banner
    assert "password changeit" in banner


def test_a_jvm_gets_a_token_over_mtls_with_the_stores_as_they_come(served: Served, tmp_path: Path) -> None:
    _needs("java")
    doc, client = served.doc, served.doc["clients"][0]
    source = tmp_path / "Token.java"
    source.write_text(TOKEN, encoding="utf-8")
    done = subprocess.run(
        [
            *("java", str(source), client["keystore"], doc["trust_store"], doc["store_password"]),
            *(doc["mtls_api_url"], client["client_id"], client["client_secret"]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.startswith("200 "), done.stderr
    assert json.loads(done.stdout[4:])["token_type"] == "bearer"


def test_certs_export_writes_the_stores_with_the_server_stopped(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served.stop()
    out = tmp_path / "stores"
    assert cli.main(["certs", "--state-dir", str(served.state), "export", "--out-dir", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    client = served.doc["clients"][0]["client_id"]
    assert result["client_id"] == client and result["store_password"] == "changeit"
    assert "trustedCertEntry" in _keytool_list(result["trust_store"], "changeit")
    assert "PrivateKeyEntry" in _keytool_list(result["keystore"], "changeit")
    assert cli.main(["certs", "--state-dir", str(served.state), "export", "--client", "nobody"]) == 1
    assert "no certificate of client 'nobody'" in capsys.readouterr().err


def test_certs_issue_can_write_a_key_store(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["certs", "--state-dir", str(served.state), "issue", "--pkcs12", "--out-dir", str(tmp_path)]
    assert cli.main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert Path(result["keystore_file"]).is_file() and result["store_password"] == "changeit"
    assert "PrivateKeyEntry" in _keytool_list(result["keystore_file"], "changeit")
