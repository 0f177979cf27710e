"""Clients in any language: judged as subprocesses speaking JSON lines, one process reset between
stories, their clock moved by libfaketime (and, without it, the obligations that need it reported
as not exercised, never as kept)."""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mockwise.contracts.clocks import FAKETIME_MISSING, find_libfaketime
from mockwise.contracts.runner import PARALLEL, Arena, run_contracts
from mockwise.contracts.subprocess_driver import SubprocessClients, resolve_interpreter, subprocess_client

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "partner_client.py"
REFERENCE = f"{sys.executable} -m mockwise.contracts.subprocess_driver mockwise.contracts.reference:factory"
needs_faketime = pytest.mark.skipif(
    find_libfaketime() is None and shutil.which("faketime") is None,
    reason="libfaketime (apt: faketime) missing",
)
CLOCK_BOUND = {"USER-NO-EXPIRED", "CC-NO-EXPIRED"}


@needs_faketime
def test_the_reference_client_passes_as_a_subprocess_in_few_processes(arena: Arena) -> None:
    clients, clock = subprocess_client(REFERENCE)
    report = run_contracts(
        clients, clock, name="reference (subprocess)", examples=30, shrink=False, arena=arena
    )
    assert report.broken == []
    assert clients.spawned <= PARALLEL + 1  # reset between stories, not a new process for each


def test_a_client_without_reset_is_started_for_each_story(arena: Arena, tmp_path: Path) -> None:
    script = tmp_path / "no_reset.py"
    script.write_text(
        "from mockwise.contracts.adapter import ClientConfig\n"
        "from mockwise.contracts.reference import factory\n"
        "from mockwise.contracts.subprocess_driver import serve\n"
        "serve(factory(ClientConfig.from_environment()))\n",
        encoding="utf-8",
    )
    clients, clock = subprocess_client(f"{sys.executable} {script}")
    report = run_contracts(clients, clock, name="no reset", examples=4, shrink=False, arena=arena)
    assert report.broken == [] and clients.spawned == 4


@needs_faketime
def test_the_readme_example_client_gets_its_verdict(arena: Arena) -> None:
    """The README's "Test your client": a standalone script with two bugs on purpose."""
    clients, clock = subprocess_client(f"{sys.executable} {EXAMPLE}")
    report = run_contracts(
        clients, clock, name="examples/partner_client.py", examples=40, shrink=False, arena=arena
    )
    broken = set(report.broken)
    assert {"USER-NO-EXPIRED", "STATE-CHECKED"} <= broken  # its two deliberate bugs
    assert not broken & {"AUTH-BASIC", "SECRET-NOT-IN-URL", "MTLS-PRESENT", "VERIFY-SERVER", "DOB-CHECK"}
    assert {"SCA-CLEARED", "SCA-ONE-USE"} <= set(report.not_exercised)  # it has no fund_transfer


def test_without_faketime_the_clock_obligations_are_not_judged(
    arena: Arena, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mockwise.contracts.subprocess_driver.find_libfaketime", lambda: None)
    clients, clock = subprocess_client(f"{sys.executable} {EXAMPLE}")
    report = run_contracts(clients, clock, name="example", examples=20, shrink=False, arena=arena)
    assert set(report.not_exercised) >= CLOCK_BOUND and not CLOCK_BOUND & set(report.broken)
    assert "STATE-CHECKED" in report.broken  # what it can judge, it still judges
    text = report.text()
    assert "SKIP  USER-NO-EXPIRED" in text and FAKETIME_MISSING in text
    assert any("USER-NO-EXPIRED" in note and FAKETIME_MISSING in note for note in report.notes)
    verdicts = {o["id"]: o for o in json.loads(report.as_json_text())["obligations"]}
    assert verdicts["USER-NO-EXPIRED"]["status"] == "SKIP"
    assert verdicts["USER-NO-EXPIRED"]["not_exercised_because"] == FAKETIME_MISSING
    suite = ET.fromstring(report.junit_xml())  # noqa: S314 - our own output
    skipped = {case.get("name", "").split(":")[0]: case.find("skipped") for case in suite.findall("testcase")}
    assert skipped["USER-NO-EXPIRED"] is not None
    assert FAKETIME_MISSING in (skipped["USER-NO-EXPIRED"].get("message") or "")


def test_a_client_that_dies_is_diagnosed_at_once(arena: Arena) -> None:
    """Issue 23: a process that prints "boom" and exits 3 stops the run at once; the report says
    so with its exit status and stderr, judges nothing it never took part in (no PASS, not even
    VERIFY-SERVER), and is not passed."""
    command = f"{sys.executable} -c \"import sys; print('boom', file=sys.stderr); sys.exit(3)\""
    clients, clock = subprocess_client(command)
    report = run_contracts(clients, clock, name="dead", examples=20, shrink=False, arena=arena)
    assert not report.passed and report.examples <= PARALLEL  # stopped, not 20 stories
    assert "exited with status 3 before answering any request" in report.stopped
    assert "its stderr ends: boom" in report.stopped
    assert report.broken == [] and report.not_exercised == [o.obligation.id for o in report.verdicts]
    assert all(v.reason.startswith("the run stopped: ") for v in report.verdicts)
    assert report.text().splitlines()[1].startswith("STOPPED  the client process")
    assert json.loads(report.as_json_text())["stopped"] == report.stopped
    suite = ET.fromstring(report.junit_xml())  # noqa: S314 - our own output
    assert suite.get("errors") == "1" and suite.find("testcase/error") is not None


def test_a_client_that_dies_later_keeps_what_it_earned(arena: Arena, tmp_path: Path) -> None:
    """A client that serves some stories and then dies: the stories it finished count, the run
    stops at the death, and the verdict is not a pass."""
    script = tmp_path / "dies_later.py"
    script.write_text(
        "import os, sys\n"
        "from mockwise.contracts.adapter import ClientConfig\n"
        "from mockwise.contracts.reference import ReferenceClient, factory\n"
        "from mockwise.contracts.subprocess_driver import serve\n"
        "count = [0]\n"
        "class Dying(ReferenceClient):\n"
        "    def user_call(self, key):\n"
        "        count[0] += 1\n"
        "        if count[0] > 40:\n"
        "            print('out of memory, say', file=sys.stderr, flush=True)\n"
        "            os._exit(70)\n"
        "        return super().user_call(key)\n"
        "serve(Dying(ClientConfig.from_environment()), reset=Dying)\n",
        encoding="utf-8",
    )
    clients, clock = subprocess_client(f"{sys.executable} {script}")
    report = run_contracts(clients, clock, name="dies later", examples=30, shrink=False, arena=arena)
    assert "exited with status 70 after" in report.stopped and "out of memory, say" in report.stopped
    assert 1 < report.examples < 30 and not report.passed
    assert "AUTH-BASIC" not in report.not_exercised  # earned in the stories it finished


def test_the_interpreter_is_resolved_once() -> None:
    real = resolve_interpreter(["python3", "client.py"])
    assert Path(real[0]).is_absolute() and real[1:] == ["client.py"]
    assert resolve_interpreter(["./client", "--flag"]) == ["./client", "--flag"]
    assert SubprocessClients("python3 client.py").argv[0] == real[0]


def test_a_client_handed_back_twice_goes_back_to_the_pool_once(arena: Arena) -> None:
    from mockwise.contracts.adapter import ClientConfig
    from mockwise.contracts.clocks import NoClock

    clients = SubprocessClients(
        f"{sys.executable} -m mockwise.contracts.subprocess_driver mockwise.contracts.reference:factory"
    )
    config = ClientConfig(
        api_url=arena.endpoints["api_url"],
        mtls_api_url="",
        authorize_url=arena.endpoints["authorize_url"],
        client_id="x",
        client_secret="y",
        redirect_uri="https://example.com/cb",
    )
    try:
        client = clients(config, NoClock())
        client.close()
        client.close()  # a second close must not let two stories share the process (and its clock)
        assert len(clients._idle) == 1
    finally:
        clients.release()


def test_the_impostor_drops_connections_once_per_change() -> None:
    from mockwise._pki import SandboxPKI
    from mockwise.contracts.runner import Impostor

    impostor = Impostor(SandboxPKI.elsewhere())
    drops: list[bool] = []
    impostor.drop_connections = lambda: drops.append(impostor.active)
    impostor.set(True)
    impostor.set(False)
    impostor.set(False)  # the story's end after its timer already sent him away: nothing more
    assert drops == [True, False]
