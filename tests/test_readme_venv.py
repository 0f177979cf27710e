"""The README as a newcomer follows it: a fresh checkout, the README's first command, a venv holding
only what the README installs, and then its snippets, run as written.

- the venv: `python3 -m venv .venv && .venv/bin/pip install .`, then each `.venv/bin/pip install`
  the README gives for a snippet (the `pytest` extra, requests); never the test extra;
- its Python blocks, each a script run by the venv's python (not importable from the checkout);
- the pytest example, as the README runs it (on four pytest-xdist workers);
- `.venv/bin/mockwise serve` with its banner and request log, the Try-it `curl`s, the `mockwise
  certs` walkthrough (CSR included), `serve --set ...`, and `mockwise contract` on the example
  client (with `--examples 5 --no-shrink` added: the full run takes minutes and is the contract
  suites' own test).

The README assumes the default ports; the servers here take free ones (`MOCKWISE_PORT=0`), and the
snippets' URLs are rewritten to them. The other shell snippets need only curl and openssl and run in
`test_readme_shell.py` and `test_standalone_sca.py`; `test_every_snippet_has_a_test` keeps the list
whole.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "README.md").read_text(encoding="utf-8")
SHELL = re.findall(r"```sh\n(.*?)```", TEXT, flags=re.S)
PYTHON = [b for b in re.findall(r"```python\n(.*?)```", TEXT, flags=re.S) if "wise_sandbox" not in b]
FIRST = SHELL[0].strip()
SERVE_STEP = " && .venv/bin/mockwise serve"
INSTALLS = [
    found.strip()
    for found in re.findall(r"\.venv/bin/pip install ([^`&\n]+)", TEXT)
    if found.strip() != "tox" and not found.startswith("-e")  # the test suite's, the benchmarks'
]


def block(*needles: str) -> str:
    (found,) = [b for b in SHELL if all(needle in b for needle in needles)]
    return found


TRY_IT = block("grant_type=client_credentials https://127.0.0.1:8444", "registration_code=")
PYTEST_RUN = block(".venv/bin/pytest -n 4 examples/partner_tests")
CERTS = block(".venv/bin/mockwise certs ca")
SETTINGS = block(".venv/bin/mockwise serve --set")
CONTRACT = block(".venv/bin/mockwise contract --client-cmd")
ELSEWHERE = {  # snippets other tests run, and why
    "python3 -m venv .venv && .venv/bin/pip install tox": "the test suite itself",
    "$API/_mockwise/tenants/demo/clock/advance": "test_readme_shell.py",
    "$API/_mockwise/tenants/demo/faults": "test_readme_shell.py",
    "grant_type=authorization_code": "test_readme_shell.py (Link a user)",
    "refresh_token=PASTE-THE-REFRESH-TOKEN": "test_readme_shell.py (the link outlives a restart)",
    "x-2fa-approval: $OTT": "test_standalone_sca.py (the sca-flow block)",
    "bench/run.py": "a benchmark, not a test",
    "docker build -f Containerfile": "test_container.py, with podman",
    "docker run --rm -p 8443:8443": "test_container.py, with podman",
    "examples/webhook_receiver.py --port 9443": "test_readme_webhooks.py (Receive webhooks)",
    "/test-notifications": "test_readme_webhooks.py (Receive webhooks)",
    "apt-get update && apt-get install -y": ".ci/run (test_readme.py checks it names the same packages)",
}

TOOLS = ("curl", "openssl", "git", "faketime")
needs_tools = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in TOOLS),
    reason=f"needs {', '.join(TOOLS)} (.ci/run installs them)",
)


def test_every_snippet_has_a_test() -> None:
    ours = {b.strip() for b in (FIRST, TRY_IT, PYTEST_RUN, CERTS, SETTINGS, CONTRACT)}
    others = [b for b in SHELL if b.strip() not in ours]
    assert all(any(marker in b for marker in ELSEWHERE) for b in others), [
        b[:80] for b in others if not any(marker in b for marker in ELSEWHERE)
    ]
    assert FIRST.endswith(SERVE_STEP) and "'.[pytest]'" in INSTALLS and "requests" in INSTALLS


def sh(script: str, cwd: Path, timeout: float = 600, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
    )
    if ok:
        assert done.returncode == 0, (
            f"{script}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        )
    return done


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh checkout (the files git would clone, with uncommitted changes) and the README's venv."""
    where = tmp_path_factory.mktemp("newcomer") / "mockwise"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_symlink() or (ROOT / name).is_file():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            # a link stays a link, as git clones it
            shutil.copy2(ROOT / name, where / name, follow_symlinks=False)
    began = time.monotonic()
    sh(FIRST.removesuffix(SERVE_STEP), where)
    for install in INSTALLS:
        if install != ".":
            sh(f".venv/bin/pip install {install}", where)
    print(f"the README's venv in {time.monotonic() - began:.1f} s")
    return where


@pytest.mark.slow
@needs_tools
def test_the_venv_holds_only_what_the_readme_installs(checkout: Path) -> None:
    installed = sh(".venv/bin/pip list --format json", checkout).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    assert {"mockwise", "pytest", "pytest-xdist", "requests"} <= names
    assert not names & {"schemathesis", "playwright", "tox", "openapi-spec-validator"}  # the test extra's


@pytest.mark.slow
@needs_tools
@pytest.mark.parametrize("number", range(len(PYTHON)), ids=[f"block{i}" for i in range(len(PYTHON))])
def test_python_blocks_run_in_the_venv(checkout: Path, number: int) -> None:
    scripts = checkout / "snippets"  # a script's own directory is on sys.path: not the checkout's
    scripts.mkdir(exist_ok=True)
    (scripts / f"readme_{number}.py").write_text(PYTHON[number])
    sh(f".venv/bin/python snippets/readme_{number}.py", checkout, timeout=120)


@pytest.mark.slow
@needs_tools
def test_the_pytest_example_runs_as_the_readme_says(checkout: Path) -> None:
    runs = [line for line in PYTEST_RUN.strip().splitlines() if line.startswith(".venv/bin/pytest")]
    assert runs and all("-n 4" in run for run in runs)  # its install line ran with the venv
    for command in runs:
        done = sh(command, checkout, timeout=300)
        assert re.search(r"=+ \d+ passed in ", done.stdout), done.stdout[-2000:]  # nothing else


@dataclass
class Server:
    process: subprocess.Popen[str]
    doc: dict[str, object]
    output: Path

    def on_ports(self, script: str) -> str:
        return script.replace("https://127.0.0.1:8443", str(self.doc["api_url"])).replace(
            "https://127.0.0.1:8444", str(self.doc["mtls_api_url"])
        )

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(10)
        return self.output.read_text()


def start(command: str, cwd: Path) -> Server:
    """A serve command from the README, on free ports, until its sandbox.json is written."""
    state = cwd / ".mockwise" / "sandbox.json"
    state.unlink(missing_ok=True)
    output = cwd / f"serve-{time.monotonic_ns()}.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "MOCKWISE_PORT": "0", "MOCKWISE_MTLS_PORT": "0"},
        )
    deadline = time.monotonic() + 30
    while not state.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"{command} did not start:\n{output.read_text()}")
        time.sleep(0.05)
    return Server(process, json.loads(state.read_text()), output)


@pytest.fixture
def served(checkout: Path) -> Iterator[Server]:
    server = start(FIRST.split(" && ")[-1], checkout)  # `.venv/bin/mockwise serve`
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


@pytest.mark.slow
@needs_tools
def test_serve_and_the_curl_walkthroughs(served: Server, checkout: Path) -> None:
    answers = json_documents(sh(served.on_ports(TRY_IT), checkout).stdout)
    assert answers[0]["token_type"] == "bearer" and "refresh_token" in answers[1]
    assert answers[2]["email"] == "alex.morgan@example.com"

    # `<fingerprint>`: the one of the certificate signed from the CSR, as `certs list` shows it
    fingerprint = "openssl x509 -in partner.pem -outform der | openssl dgst -sha256 -r | cut -d' ' -f1"
    certs = sh(served.on_ports(CERTS.replace("<fingerprint>", f'"$({fingerprint})"')), checkout)
    assert (checkout / "wise.ca-certificate.sandbox.pem").read_text().startswith("-----BEGIN CERTIFICATE")
    assert list((checkout / "certs").glob("*expired*.pem"))
    printed = json_documents(certs.stdout)  # sign, list, issue, revoke, enforce
    assert printed[-2]["revoked_at"] is not None and printed[-1]["mtls_enforced"] is False

    log = served.stop()
    assert re.search(r"default +POST +/oauth/token 200 [\d.]+ms grant=registration_code", log)
    assert "6a4f1c2e-93b7-4d2a-b8e5-0c7d9f3a1b24" not in log.split("Press Ctrl-C to stop.")[1]


def json_documents(text: str) -> list[dict[str, object]]:
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) != -1:
        document, at = decoder.raw_decode(text, at)
        found.append(document)
    return found


SETTINGS_GIVEN = {"oauth.refresh_token_rotation": True, "rate_limits.per_second": 5, "sca.user_tokens": True}


@pytest.mark.slow
@needs_tools
def test_serve_with_settings(checkout: Path) -> None:
    server = start(SETTINGS.strip(), checkout)
    try:
        control = f"{server.doc['control_url']}/tenants/default"
        curl = f"curl -sf --cacert {server.doc['ca_cert']}"
        settings = json.loads(sh(f"{curl} {control}/settings", checkout).stdout)
    finally:
        server.stop()
    shown = {key: settings[key]["value"] for key in SETTINGS_GIVEN}
    assert shown == SETTINGS_GIVEN


def test_the_contract_command(checkout: Path) -> None:
    done = sh(CONTRACT.strip() + " --examples 5 --no-shrink", checkout, timeout=600, ok=False)
    assert done.returncode == 1, done.stderr[-3000:]  # the example client has bugs, on purpose
    first = done.stdout.splitlines()[0]
    assert first.startswith("Wise client contract: python3 examples/partner_client.py (profile wise) — ")
    assert "FAIL  STATE-CHECKED" in done.stdout and "Traceback" not in done.stderr
