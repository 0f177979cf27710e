"""The README's shell walkthroughs, run with real bash and curl against a real `mockwise serve`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests

from tests.linking import ALEX, Pages, query_of
from tests.standalone import Served, context, serve

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")
SHELL = re.findall(r"```sh\n(.*?)```", TEXT, flags=re.S)
STORY = next(block for block in SHELL if "clock/advance" in block)
FAULT = next(block for block in SHELL if "/faults" in block and "API=" not in block)
LINK = TEXT.split("## Link a user", 1)[1].split("\n## ", 1)[0]

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path / ".mockwise") as server:  # the default state directory, as the README assumes
        yield server


def run(script: str, cwd: Path) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def on_ports(script: str, served: Served) -> str:
    """The README assumes the default ports; the test server has free ones."""
    return script.replace("https://127.0.0.1:8443", served.doc["api_url"]).replace(
        "https://127.0.0.1:8444", served.doc["mtls_api_url"]
    )


def test_control_plane_story_runs_as_written(served: Served) -> None:
    out = run(on_ports(STORY + FAULT, served), served.state.parent)
    assert '{"error":"invalid_token","error_description":"Invalid token"}' in out
    assert '"token_state":"expired"' in out and '"path":"/v1/users/exists"' in out
    assert '"kind":"rate_limited"' in out


def test_link_a_user_walkthrough(served: Served) -> None:
    """The README's authorize URL (approved by the scripted user) and its curl exchange."""
    url = re.search(r"<(https://127\.0\.0\.1:8443/oauth/authorize/\?[^>]+)>", LINK)
    curl = re.search(r"```sh\n(curl .*?)```", LINK, flags=re.S)
    assert url and curl
    doc = served.doc
    assert doc["authorize_url"] == f"{doc['api_url']}/oauth/authorize/"
    linked = requests.post(
        f"{doc['control_url']}/tenants/default/link",
        json={"authorize_url": on_ports(url.group(1), served), "email": "alex.morgan@example.com",
              "password": "sandbox-Passw0rd"},
        timeout=10,
        verify=doc["ca_cert"],
    ).json()  # fmt: skip
    redirect = linked["redirect"]
    assert redirect.startswith("http://localhost:8080/wise/callback?code=") and "state=try-me" in redirect
    code = redirect.split("code=")[1].split("&")[0]
    tokens = json.loads(
        run(on_ports(curl.group(1).replace("PASTE-THE-CODE", code), served), served.state.parent)
    )
    assert tokens["token_type"] == "bearer" and "refresh_token" in tokens
    client = doc["clients"][0]  # mTLS is enforced for the partner: its user tokens go to the mTLS host
    me = requests.get(
        f"{doc['mtls_api_url']}/v1/me",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
        verify=doc["ca_cert"],
        cert=(client["cert"], client["key"]),
    )
    assert me.json()["email"] == "alex.morgan@example.com"


def test_a_user_linked_on_the_page_refreshes_with_the_readme_curl_after_a_restart(tmp_path: Path) -> None:
    """As a new user would: link on the authorize page (its HTML forms, over HTTPS), exchange the
    code with the README's curl, stop and start `mockwise serve`, refresh with the README's curl."""
    url = re.search(r"<(https://127\.0\.0\.1:8443/oauth/authorize/\?[^>]+)>", LINK)
    exchange, refresh = re.findall(r"```sh\n(curl .*?)```", LINK, flags=re.S)
    assert url and "PASTE-THE-CODE" in exchange and "PASTE-THE-REFRESH-TOKEN" in refresh
    state = tmp_path / ".mockwise"
    with serve(state) as served:
        doc = served.doc
        with httpx.Client(base_url=doc["api_url"], verify=context(doc), timeout=10) as browser:
            pages = Pages(browser, on_ports(url.group(1), served))
            alex = next(u for u in doc["users"] if u["email"] == ALEX)
            redirect = pages.link(alex["profiles"][0]["id"]).headers["location"]
        code = query_of(redirect)["code"]
        tokens = json.loads(run(on_ports(exchange.replace("PASTE-THE-CODE", code), served), tmp_path))
        assert served.stop() and served.process.returncode == 0
    with serve(state) as served:
        assert "restored 1 tenant" in served.read_banner()
        script = on_ports(refresh.replace("PASTE-THE-REFRESH-TOKEN", tokens["refresh_token"]), served)
        refreshed = json.loads(run(script, tmp_path))
        assert refreshed["token_type"] == "bearer" and refreshed["access_token"] != tokens["access_token"]
        client = served.doc["clients"][0]
        me = requests.get(
            f"{served.doc['mtls_api_url']}/v1/me",
            headers={"Authorization": f"Bearer {refreshed['access_token']}"},
            timeout=5,
            verify=served.doc["ca_cert"],
            cert=(client["cert"], client["key"]),
        )
        assert me.status_code == 200 and me.json()["email"] == ALEX
