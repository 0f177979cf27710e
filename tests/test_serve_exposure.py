"""`mockwise serve` beyond loopback, as a user starts it (issue 15 items 1 and 7): the banner always
says who can reach the control plane, an empty admin token opens nothing, and a server bound to
every address prints URLs its certificate covers."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.standalone import context, serve
from tests.test_remote_control import own_address

GRANT = {"grant_type": "client_credentials"}
EVERYWHERE = "0.0.0.0"  # noqa: S104 - binding every address is what these tests try


@pytest.fixture
def address() -> str:
    found = own_address()
    if found is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    return found


def test_the_banner_says_the_control_plane_is_loopback_only(tmp_path: Path) -> None:
    with serve(tmp_path / "state") as served:
        banner = served.read_banner()
    assert "loopback callers only (--admin-token or MOCKWISE_ADMIN_TOKEN opens it to others)" in banner


@pytest.mark.parametrize("given", ["environment", "option"])
def test_an_empty_admin_token_opens_nothing(
    tmp_path: Path, address: str, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    args = ["--host", address]
    if given == "environment":
        monkeypatch.setenv("MOCKWISE_ADMIN_TOKEN", "")  # set, but empty: a common .env template
    else:
        args += ["--admin-token", ""]
    with serve(tmp_path / "state", *args) as served:
        banner = served.read_banner()
        with httpx.Client(verify=context(served.doc)) as remote:  # from this machine's own address
            for authorization in ("Bearer", ""):  # `Bearer ` arrives as `Bearer` (OWS is stripped)
                reset = remote.post(
                    f"{served.doc['control_url']}/reset", headers={"Authorization": authorization}
                )
                assert reset.status_code == 403 and reset.json()["error"] == "forbidden"
    assert "control plane" in banner and "loopback callers only" in banner.split("control plane", 1)[1]
    if given == "option":
        assert "loopback callers only: the admin token given is empty, so there is none" in banner


def test_the_banner_says_who_holds_the_admin_token(tmp_path: Path, address: str) -> None:
    with serve(tmp_path / "state", "--host", address, "--admin-token", "t0ken") as served:
        banner = served.read_banner()
        with httpx.Client(verify=context(served.doc)) as remote:
            opened = remote.get(
                f"{served.doc['control_url']}/tenants", headers={"Authorization": "Bearer t0ken"}
            )
    assert opened.status_code == 200
    assert "loopback callers, and any caller sending the admin token (Authorization: Bearer …)" in banner


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_a_wildcard_bind_prints_urls_its_certificate_covers(tmp_path: Path, address: str) -> None:
    with serve(tmp_path / "state", "--host", EVERYWHERE) as served:
        banner = served.read_banner()
        doc = served.doc
        assert doc["api_url"].startswith("https://127.0.0.1:") and EVERYWHERE not in banner
        # The printed curl works as printed, from the state directory's parent.
        printed = banner.split("Get a client-credentials token over mTLS:\n", 1)[1].split("\n\n", 1)[0]
        done = subprocess.run(
            shlex.split(printed.replace("\\\n", " ")), capture_output=True, text=True, timeout=10
        )
        assert done.returncode == 0 and '"expires_in":43199' in done.stdout, done.stderr
        # Other machines use this machine's address: the banner names it and the certificate covers it.
        port = doc["api_url"].rsplit(":", 1)[1]
        assert f"https://{address}:{port}" in banner.split("also reachable", 1)[1].splitlines()[0]
        client = doc["clients"][0]
        token = httpx.post(
            f"https://{address}:{doc['mtls_api_url'].rsplit(':', 1)[1]}/oauth/token",
            auth=(client["client_id"], client["client_secret"]),
            data=GRANT,
            verify=context(doc, client["cert"], client["key"]),
        )
        assert token.status_code == 200
        # On its own address the control plane still answers loopback callers only.
        remote = httpx.get(f"https://{address}:{port}/_mockwise/tenants", verify=context(doc))
        assert remote.status_code == 403 and remote.json()["error"] == "forbidden"
