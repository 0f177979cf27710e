"""`mockwise serve` as a user runs it: a real process, a real socket, sandbox.json, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "mockwise", "serve", "--port", "0", "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 15
    while not (state / "sandbox.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"server did not start: {process.communicate()[0]}")
        time.sleep(0.02)
    yield process, json.loads((state / "sandbox.json").read_text())
    if process.poll() is None:
        process.kill()
    process.communicate()


def test_sandbox_json_describes_the_running_sandbox(
    served: tuple[subprocess.Popen[str], dict[str, Any]],
) -> None:
    _, doc = served
    assert doc["api_url"].startswith("http://127.0.0.1:")
    client = doc["clients"][0]
    assert {"client_id", "client_secret", "redirect_uris"} <= set(client)
    assert len(doc["users"]) >= 2 and all(
        {"id", "email", "password", "profiles"} <= set(u) for u in doc["users"]
    )
    assert {p["type"] for u in doc["users"] for p in u["profiles"]} == {"personal", "business"}
    assert doc["personal_tokens"] and {"token", "user_id"} <= set(doc["personal_tokens"][0])


def test_printed_curl_command_gets_a_token_and_ctrl_c_stops(
    served: tuple[subprocess.Popen[str], dict[str, Any]],
) -> None:
    process, doc = served
    client = doc["clients"][0]
    response = requests.post(
        f"{doc['api_url']}/oauth/token",
        auth=(client["client_id"], client["client_secret"]),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )
    assert response.status_code == 200 and response.json()["expires_in"] == 43199
    me = requests.get(
        f"{doc['api_url']}/v1/me",
        headers={"Authorization": f"Bearer {doc['personal_tokens'][0]['token']}"},
        timeout=5,
    )
    assert me.json()["id"] == doc["personal_tokens"][0]["user_id"]

    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "curl -s -u" in output and "grant_type=client_credentials" in output
    assert f"{doc['api_url']}/oauth/authorize/?client_id=mockwise-partner&redirect_uri=" in output
    assert "mockwise stopped." in output
    assert "Traceback" not in output


def test_the_readme_link_a_user_walkthrough(served: tuple[subprocess.Popen[str], dict[str, Any]]) -> None:
    """The README's authorize URL and curl command, against a real `mockwise serve`."""
    _, doc = served
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Link a user", 1)[1].split("\n## ", 1)[0]
    url = re.search(r"<(http://127\.0\.0\.1:8000/oauth/authorize/\?[^>]+)>", section)
    curl = re.search(r"```sh\n(curl .*?)```", section, flags=re.S)
    assert url and curl
    api_url = doc["api_url"]
    assert doc["authorize_url"] == f"{api_url}/oauth/authorize/"
    linked = requests.post(
        f"{api_url}/_mockwise/tenants/default/link",
        json={
            "authorize_url": url.group(1).replace("http://127.0.0.1:8000", api_url),
            "email": "alex.morgan@example.com",
            "password": "sandbox-Passw0rd",
        },
        timeout=10,
    ).json()
    redirect = linked["redirect"]
    assert redirect.startswith("http://localhost:8080/wise/callback?code=") and "state=try-me" in redirect
    code = redirect.split("code=")[1].split("&")[0]
    command = curl.group(1).replace("PASTE-THE-CODE", code).replace("http://127.0.0.1:8000", api_url)
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    result = subprocess.run(
        ["/bin/bash", "-c", command], capture_output=True, text=True, timeout=20, check=True
    )
    tokens = json.loads(result.stdout)
    assert tokens["token_type"] == "bearer" and "refresh_token" in tokens
    me = requests.get(
        f"{api_url}/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=5
    )
    assert me.json()["email"] == "alex.morgan@example.com"
