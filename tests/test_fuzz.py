"""The long fuzz (issue 15): Schemathesis, with every check, against a real `mockwise serve` over
TLS, on both planes, derandomised. The control plane is fuzzed on a tenant of its own; the data
plane on the mTLS host with the partner's certificate, as its partner (a client-credentials
token), as a user (a personal token) and at the token endpoint (HTTP Basic). Exceptions to "a
schema-valid request is accepted" are in schemathesis.toml, with their reasons.

Marked slow. `MOCKWISE_FUZZ_EXAMPLES` sets the examples per operation (default 30, a few thousand
cases per plane); the issue's closing figures were taken with 600 (over 20,000 per plane):

    MOCKWISE_FUZZ_EXAMPLES=600 .venv/bin/pytest tests/test_fuzz.py -s
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.standalone import Served, context, serve

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("MOCKWISE_FUZZ_EXAMPLES", "30"))
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
#: Deleting the fuzzed tenant would make every later control-plane case a 404.
CONTROL_CONFIG = """
[parameters]
tenant = "fuzz"

[[operations]]
include-path = "/_mockwise/tenants/{tenant}"
include-method = "DELETE"
parameters = { tenant = "doomed" }
"""

pytestmark = pytest.mark.slow


def fuzz(served: Served, config: Path, *args: str) -> int:
    """One Schemathesis run with every check; fails on any failure; returns the cases it ran."""
    done = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            *args,
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES),
            "--generation-deterministic",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=served.state.parent,
    )
    summary = done.stdout.rsplit("SUMMARY", 1)[-1]
    assert done.returncode == 0, done.stdout[-20_000:] + done.stderr[-5_000:]
    counted = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counted is not None and counted.group(1) == counted.group(2), summary
    print(f"\n{args[0]} {' '.join(a for a in args[1:] if a.startswith('--include'))}: {summary.strip()}")
    return int(counted.group(1))


def test_both_planes_keep_their_documents_under_every_check(tmp_path: Path) -> None:
    with serve(tmp_path / "state") as served:
        doc = served.doc
        client = doc["clients"][0]
        basic = (client["client_id"], client["client_secret"])
        with httpx.Client(verify=context(doc)) as control:
            assert control.post(f"{doc['control_url']}/tenants", json={"id": "fuzz"}).status_code == 201
        rules = (ROOT / "schemathesis.toml").read_text(encoding="utf-8")
        control_config, data_config = tmp_path / "control.toml", tmp_path / "data.toml"
        control_config.write_text(CONTROL_CONFIG + rules, encoding="utf-8")
        data_config.write_text(rules, encoding="utf-8")

        tls = ["--tls-verify", doc["ca_cert"]]
        control_cases = fuzz(
            served,
            control_config,
            f"{doc['control_url']}/openapi.json",
            *tls,
            "--include-path-regex",
            "^/_mockwise",
        )
        # The control-plane fuzz reset every tenant (POST /_mockwise/reset): the default tenant is
        # as seeded, rate limits on. 429s are documented, but would hide what lies behind them.
        with httpx.Client(verify=context(doc)) as control:
            limits = control.patch(
                f"{doc['control_url']}/tenants/default/rate-limits", json={"enabled": False}
            )
            assert limits.status_code == 200
        with httpx.Client(verify=context(doc, client["cert"], client["key"])) as mtls:
            partner = mtls.post(
                f"{doc['mtls_api_url']}/oauth/token", auth=basic, data={"grant_type": "client_credentials"}
            ).json()["access_token"]
        mtls_args = [
            f"{doc['mtls_api_url']}/_mockwise/openapi.json",
            *tls,
            "--request-cert",
            client["cert"],
            "--request-cert-key",
            client["key"],
        ]
        data_cases = sum(
            fuzz(served, data_config, *mtls_args, *selection)
            for selection in (
                [
                    "--exclude-path-regex",
                    "^/_mockwise|^/oauth/token$",
                    "-H",
                    f"Authorization: Bearer {partner}",
                ],
                [
                    "--exclude-path-regex",
                    "^/_mockwise|^/oauth/token$",
                    "-H",
                    f"Authorization: Bearer {doc['personal_tokens'][0]['token']}",
                ],
                ["--include-path", "/oauth/token", "--auth", ":".join(basic)],
            )
        )
        print(f"\ncontrol plane: {control_cases} cases; data plane: {data_cases} cases; no failures")
