"""The JSON-lines protocol is stated once (issue 28): contracts/protocol.schema.json, which the
driver checks every request and answer against, and docs/contracts.md, which must name every op,
answer and configuration key the schema has. What a client does against it is reported, never
swallowed: a missing answer (update_client_secret's included), an answer the schema refuses, a
late answer, log lines on stdout."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mockwise.contracts import subprocess_driver
from mockwise.contracts.adapter import ClientConfig, NewUser
from mockwise.contracts.clocks import NoClock
from mockwise.contracts.protocol import ANSWERS, OUTCOME_OPS, SCHEMA, answer_problem, request_problem
from mockwise.contracts.runner import Arena, run_contracts
from mockwise.contracts.subprocess_driver import SubprocessClient, SubprocessClients, subprocess_client

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
PROTOCOL = PAGE.split("### Clients in other languages", 1)[1].split("\n## ", 1)[0]
FLAWED = Path(__file__).parent / "protocol_clients" / "flawed.py"
REFERENCE = f"{sys.executable} -m mockwise.contracts.subprocess_driver mockwise.contracts.reference:factory"
WAIT = 3.0  # seconds the flawed client gets to answer (the `late` one answers after 6)
CONFIG = ClientConfig(
    api_url="https://localhost:1",
    mtls_api_url="",
    authorize_url="https://localhost:1/oauth/authorize/",
    client_id="mockwise-partner",
    client_secret="secret",
    redirect_uri="https://partner.example/callback",
)


def test_the_schema_is_a_json_schema_the_page_states_in_full() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    operations = PROTOCOL.split("#### Requests and answers", 1)[1].split("\n\n", 3)[2]  # the first table
    table = set(re.findall(r"^\| `([a-z_]+)` \|", operations, flags=re.M))
    assert table - {"op"} == set(ANSWERS)  # every op (beside the header), and no other
    configured = {f.name for f in fields(ClientConfig)} - {"extra"}
    assert configured <= set(SCHEMA["$defs"]["config"]["properties"])
    for name in configured:
        assert f"`{name}`" in PROTOCOL and f"`MOCKWISE_{name.upper()}`" in PROTOCOL, name
    assert "`update_client_secret`" in PROTOCOL and '`{"id", "ok": true}`' in PROTOCOL


def test_the_schema_says_what_the_page_says() -> None:
    assert request_problem({"id": 1, "op": "user_call", "user": "c1"}) is None
    assert "user" in str(request_problem({"id": 1, "op": "user_call"}))
    assert "'teleport' is not one of" in str(request_problem({"id": 1, "op": "teleport"}))
    ok = {"status": "ok", "kind": None, "data": {"anything": [1, 2]}}
    for op in OUTCOME_OPS:
        assert answer_problem(op, {"id": 3, "outcome": ok}) is None
        assert answer_problem(op, {"id": 3, "outcome": {"status": "error"}}) is not None  # kind needed
    assert answer_problem("start_link", {"id": 2, "url": "https://x/oauth/authorize/?state=s"}) is None
    unsupported = {"status": "error", "kind": "unsupported"}
    assert answer_problem("start_link", {"id": 2, "outcome": unsupported}) is None
    assert answer_problem("update_client_secret", {"id": 6, "ok": True}) is None
    assert answer_problem("update_client_secret", {"id": 6}) is not None  # "nothing" is not an answer
    assert answer_problem("reset", {"id": 9, "outcome": unsupported}) is None
    assert answer_problem("close", {"id": 7, "ok": True}) is None


def test_a_run_sends_and_reads_only_what_the_schema_allows(arena: Arena) -> None:
    """The driver checks each request before it sends it (a request its schema refuses is a
    RuntimeError, which would end the run) and each answer it reads (a refusal is noted)."""
    clients, clock = subprocess_client(REFERENCE)
    report = run_contracts(clients, clock, name="reference", examples=4, shrink=False, arena=arena)
    assert report.broken == [] and clients.problems.notes() == []


@pytest.fixture
def flawed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[SubprocessClient]:
    monkeypatch.setattr(subprocess_driver, "OPERATION_TIMEOUT", WAIT)
    clients = SubprocessClients(f"{sys.executable} {FLAWED} {request.param}")
    client = clients(CONFIG, NoClock())
    assert isinstance(client, SubprocessClient)
    yield client
    client.close()
    clients.release()


@pytest.mark.parametrize("flawed", ["quiet-secret"], indirect=True)
def test_a_missing_answer_to_update_client_secret_is_reported(flawed: SubprocessClient) -> None:
    flawed.update_client_secret("rotated")
    [note] = flawed.process.problems.notes()
    assert "no answer to request 1 (update_client_secret) within 3 s" in note
    assert '{"id": N, "ok": true}' in note
    outcome = flawed.partner_call()
    assert outcome.status == "ok", outcome  # and the client goes on


@pytest.mark.parametrize("flawed", ["bad-outcome"], indirect=True)
def test_an_answer_the_schema_refuses_is_an_invalid_outcome_with_the_reason(flawed: SubprocessClient) -> None:
    outcome = flawed.user_call("c1")
    assert outcome.kind == "invalid_outcome"
    assert outcome.data is not None and "outcome.status: 'fine' is not one of" in outcome.data["problem"]
    assert any("breaks the protocol" in note for note in flawed.process.problems.notes())


@pytest.mark.parametrize("flawed", ["chatty"], indirect=True)
def test_log_lines_on_stdout_are_reported_and_ignored(flawed: SubprocessClient) -> None:
    assert flawed.create_user(NewUser("c1", "c1@example.com", "x" * 40)).status == "ok"
    [note] = flawed.process.problems.notes()
    assert "not protocol messages" in note and "starting the Wise client..." in note
    assert "logs belong on stderr" in note


@pytest.mark.parametrize("flawed", ["late"], indirect=True)
def test_a_late_answer_is_reported_not_taken_for_another(flawed: SubprocessClient) -> None:
    outcome = flawed.user_call("c1")
    assert outcome.kind == "client_process" and outcome.data is not None
    assert "no answer to request 1 (user_call) within 3 s" in outcome.data["error"]
    deadline = time.monotonic() + 15
    while not any("answered request 1" in n for n in flawed.process.problems.notes()):
        assert time.monotonic() < deadline, flawed.process.problems.notes()
        time.sleep(0.1)
    assert any("answered request 1, which was not waiting" in n for n in flawed.process.problems.notes())
    assert flawed.partner_call().status == "ok"  # request 2 gets its own answer, not 1's


@pytest.mark.parametrize("flawed", ["no-reset"], indirect=True)
def test_a_client_without_reset_is_not_a_problem(flawed: SubprocessClient) -> None:
    assert flawed.process.reset(CONFIG) is False
    assert flawed.process.problems.notes() == []


@pytest.mark.parametrize("flawed", ["lingers"], indirect=True)
def test_a_client_that_does_not_exit_after_close_is_reported(
    flawed: SubprocessClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subprocess_driver, "CLOSE_TIMEOUT", 1.0)
    flawed.process.stop()
    [note] = flawed.process.problems.notes()
    assert "answered close but had not exited 1 s later, and was killed" in note
