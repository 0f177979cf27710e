"""`mockwise serve` with enhanced security, as a new user meets it: the README's SCA flow runs
verbatim (real bash, curl and openssl) against a real server, so it cannot rot."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.standalone import serve

README = Path(__file__).resolve().parents[1] / "README.md"
FLOW = re.search(r"<!-- sca-flow -->\n```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with serve(tmp_path / ".mockwise") as server:  # the default state directory, as the README assumes
        yield server.doc


def test_the_readme_sca_flow_runs_against_mockwise_serve(served: dict[str, Any], tmp_path: Path) -> None:
    assert FLOW is not None, "README.md lost its <!-- sca-flow --> block"
    missing = [
        tool for tool in ("bash", "curl", "openssl", "base64", "awk", "python3") if shutil.which(tool) is None
    ]
    assert not missing, f"the README flow needs {missing} (.ci/run installs them)"
    for attempt in range(2):  # a second run works too: funding is challenged every time
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", FLOW.group(1)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        head = result.stdout.split("\r\n\r\n", 1)[0].lower()
        assert head.startswith("http/1.1 201"), (attempt, result.stdout)
        assert "x-2fa-approval-result: approved" in head
    journal = requests.get(
        f"{served['control_url']}/tenants/default/journal",
        params={"since": 0},
        timeout=5,
        verify=served["ca_cert"],
    ).json()
    outcomes = [e["sca"].split(" ")[0] for e in journal["entries"] if e.get("sca")]
    assert outcomes == ["challenged:missing", "approved:signature"] * 2


def test_sandbox_json_names_the_sca_key_and_limits_are_on(served: dict[str, Any]) -> None:
    alex = next(u for u in served["users"] if u["email"] == "alex.morgan@example.com")
    key = Path(alex["sca"]["private_key"])
    assert key.is_absolute() and key.parent.name == ".mockwise"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and "PRIVATE KEY" in key.read_text()
    assert alex["sca"]["required"] is True
    assert all("sca" not in u for u in served["users"] if u is not alex)
    limits = requests.get(
        f"{served['control_url']}/tenants/default/rate-limits", timeout=5, verify=served["ca_cert"]
    ).json()
    assert limits["enabled"] is True and (limits["per_second"], limits["per_minute"]) == (100, 1000)
    reset = requests.post(
        f"{served['control_url']}/tenants/default/reset", timeout=5, verify=served["ca_cert"]
    )
    assert reset.status_code == 200  # a reset keeps the user's key and switch, and the limits
    sca = requests.get(
        f"{served['control_url']}/tenants/default/sca", timeout=5, verify=served["ca_cert"]
    ).json()
    assert sca["users"][str(alex["id"])]["required"] is True
    assert [k["fingerprint"] for k in sca["users"][str(alex["id"])]["keys"]] == [alex["sca"]["fingerprint"]]
    assert requests.get(
        f"{served['control_url']}/tenants/default/rate-limits", timeout=5, verify=served["ca_cert"]
    ).json()["enabled"]


def test_a_restart_keeps_the_sca_key(tmp_path: Path) -> None:
    with serve(tmp_path / ".mockwise") as first:
        pass
    with serve(tmp_path / ".mockwise") as second:
        assert first.doc["users"][0]["sca"] == second.doc["users"][0]["sca"]
