"""Clients in other languages, judged across the process boundary (issue 28): the Node example
(built-ins only) and the Java example (the JDK's HttpClient and JSSE, compiled here with javac)
keep every obligation with none skipped, as the Python reference does, and each language's
one-bug variant is caught under its own obligation and no other (the kill matrix, across
languages). The full verdicts take a minute or more each: they are slow-marked, and CI runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mockwise.contracts.clocks import find_libfaketime
from mockwise.contracts.report import Report
from mockwise.contracts.runner import Arena, run_contracts
from mockwise.contracts.subprocess_driver import subprocess_client

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REQUIRED = os.environ.get("MOCKWISE_REQUIRE_RUNTIMES") == "1"  # CI: Node and the JDK must be there
AT_LEAST = 10  # stories a variant is given, so a bug that breaks another obligation too can show it


def _needs(program: str) -> None:
    if shutil.which(program) is None:
        if REQUIRED:
            pytest.fail(f"{program} is missing (apt-get install nodejs openjdk-17-jdk-headless)")
        pytest.skip(f"{program} is missing")
    if find_libfaketime() is None:
        if REQUIRED:
            pytest.fail("libfaketime is missing (apt-get install faketime)")
        pytest.skip("libfaketime (apt: faketime) missing: the clock obligations would not be judged")


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Java example and its variant, compiled with the JDK's javac (no build tool, no jars)."""
    _needs("javac")
    build = tmp_path_factory.mktemp("java-build")
    sources = sorted(str(p) for p in (EXAMPLES / "java").glob("*/*.java"))
    subprocess.run(["javac", "-Xlint:all", "-Werror", "-d", str(build), *sources], check=True, timeout=300)
    return build


def _command(language: str, main: str, java_classes: Path | None) -> str:
    if language == "node":
        _needs("node")
        return f"node {EXAMPLES / 'node' / main}"
    _needs("java")
    assert java_classes is not None
    return f"java -cp {java_classes} {main}"


def _judge(arena: Arena, command: str, **options: object) -> tuple[Report, list[str]]:
    clients, clock = subprocess_client(command)
    report = run_contracts(clients, clock, name=command, shrink=False, arena=arena, **options)  # type: ignore[arg-type]
    return report, clients.problems.notes()


@pytest.fixture
def java(request: pytest.FixtureRequest) -> Path | None:
    """The compiled Java example, for the Java cases only (Node's do not need a JDK)."""
    return request.getfixturevalue("java_classes") if "java" in request.node.callspec.id else None


EXAMPLE_CLIENTS = pytest.mark.parametrize(
    ("language", "main"), [("node", "client.mjs"), ("java", "Client")], ids=["node", "java"]
)


@EXAMPLE_CLIENTS
def test_the_example_speaks_the_protocol(arena: Arena, java: Path | None, language: str, main: str) -> None:
    """A few stories, quickly: every answer valid, nothing broken (the full verdict is below)."""
    report, problems = _judge(arena, _command(language, main, java), examples=4)
    assert problems == [] and not report.stopped
    assert report.broken == [], report.text()


@pytest.mark.slow
@EXAMPLE_CLIENTS
def test_the_example_keeps_every_obligation(
    arena: Arena, java: Path | None, language: str, main: str
) -> None:
    """The default run, as `mockwise contract --client-cmd` gives it: the Python reference's verdict."""
    report, problems = _judge(arena, _command(language, main, java))
    assert problems == [] and not report.stopped
    assert report.broken == [], report.text()
    assert report.not_exercised == [], report.notes  # the clock really moved under the runtime


@pytest.mark.slow
@pytest.mark.parametrize(
    ("language", "main", "catches"),
    [
        ("node", "variants/trusts-any-server.mjs", "VERIFY-SERVER"),  # rejectUnauthorized: false
        ("java", "RefreshesAfter401", "USER-NO-EXPIRED"),  # needs the JVM's clock moved
    ],
    ids=["node", "java"],
)
def test_the_one_bug_variant_is_caught_under_its_own_obligation(
    arena: Arena, java: Path | None, language: str, main: str, catches: str
) -> None:
    report, _ = _judge(
        arena,
        _command(language, main, java),
        enough=lambda broken, stories: catches in broken and stories >= AT_LEAST,
    )
    assert report.broken == [catches], report.text()


def test_node_resumes_tls_sessions_by_default(arena: Arena, tmp_path: Path) -> None:
    """What makes the Node example's VERIFY-SERVER verdict mean something: its https.Agent resumes
    the sandbox's sessions, and the impostor still gets nothing (test_impostor.py)."""
    _needs("node")
    script = tmp_path / "resume.mjs"
    script.write_text(
        "import https from 'node:https';\n"
        "import { readFileSync } from 'node:fs';\n"
        "const agent = new https.Agent({ ca: readFileSync(process.argv[3]) });\n"
        "const reused = [];\n"
        "for (let i = 0; i < 3; i++) {\n"
        "  await new Promise((resolve, reject) => https.get(`${process.argv[2]}/v1/me`, { agent }, (r) => {\n"
        "    reused.push(r.socket.isSessionReused()); r.resume(); r.on('end', resolve);\n"
        "  }).on('error', reject));\n"
        "}\n"
        "console.log(JSON.stringify(reused));\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        ["node", str(script), arena.endpoints["api_url"], arena.endpoints["ca_cert"]],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[false,true,true]"
