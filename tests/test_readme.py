"""The README's examples are tests, so they cannot rot: its Python blocks run, its pytest excerpt
is the example file's own code, and the obligations catalog in docs/ matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mockwise._domain.settings import markdown as settings_markdown
from mockwise.contracts.obligations import markdown

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
EXCERPTS = [b for b in BLOCKS if "wise_sandbox" in b]  # fixtures: they run with pytest, in examples/
RUNNABLE = [b for b in BLOCKS if b not in EXCERPTS]
EXAMPLE = ROOT / "examples" / "partner_tests" / "test_wise_integration.py"


@pytest.mark.parametrize("code", RUNNABLE, ids=[f"block{i}" for i in range(len(RUNNABLE))])
def test_readme_python_block_runs(code: str) -> None:
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})  # noqa: S102


def test_readme_has_examples() -> None:
    assert len(RUNNABLE) >= 2 and EXCERPTS


def test_use_in_pytest_is_the_example_file_verbatim() -> None:
    source = EXAMPLE.read_text(encoding="utf-8")
    for excerpt in EXCERPTS:
        for chunk in excerpt.strip().split("\n\n\n"):
            assert chunk.strip() in source, chunk[:200]


def test_settings_in_docs_are_current() -> None:
    assert (ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == settings_markdown() + "\n"


def test_obligations_catalog_in_docs_is_current() -> None:
    assert (ROOT / "docs" / "obligations.md").read_text(encoding="utf-8").endswith(markdown() + "\n")


def test_readme_names_only_environment_variables_that_serve_reads() -> None:
    from mockwise._standalone import cli

    serve = vars(cli.build_parser().parse_args(["serve"]))
    known = {f"MOCKWISE_{dest.upper()}" for dest in serve if dest not in ("command", "environment_problems")}
    named = set(re.findall(r"\bMOCKWISE_[A-Z_]+\b", README.read_text(encoding="utf-8")))
    others = {"MOCKWISE_CONFIG", "MOCKWISE_SOAK_SECONDS"}  # the subprocess driver's, the soak test's
    others |= {"MOCKWISE_FUZZ_EXAMPLES"}  # the fuzz test's
    others |= {"MOCKWISE_REQUIRE_BROWSER", "MOCKWISE_REQUIRE_CONTAINER"}  # the test suite's
    others |= {"MOCKWISE_REQUIRE_RUNTIMES"}  # the test suite's (Node and the JDK)
    assert named - others <= known and {"MOCKWISE_PORT", "MOCKWISE_SET"} <= named


def test_readme_yaml_blocks_parse_and_name_the_image_and_its_volume() -> None:
    import yaml

    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    documents = [yaml.safe_load(block) for block in blocks]
    compose = next(d for d in documents if "services" in d and "jobs" not in d)
    assert compose["services"]["wise"]["image"] == "mockwise"
    assert compose["services"]["wise"]["volumes"] == ["wise-state:/state"]  # the Containerfile's VOLUME
    assert compose["services"]["app"]["depends_on"]["wise"] == {"condition": "service_healthy"}
    ci = next(d for d in documents if "jobs" in d)
    assert ci["jobs"]["test"]["services"]["wise"]["ports"] == ["8443:8443", "8444:8444"]


PUBLIC = ("mockwise", "mockwise.testing", "mockwise.contracts")


def test_readme_imports_only_public_names() -> None:
    """What a user copies from the README is the public API: names exported by `mockwise`,
    `mockwise.testing` and `mockwise.contracts`, never a private module (`mockwise._store`...)."""
    import importlib

    found = 0
    for module, names in re.findall(r"^\s*from (mockwise[\w.]*) import ([\w, ]+)$", README.read_text(), re.M):
        assert module in PUBLIC or module.startswith("mockwise.contracts."), f"README imports {module}"
        exported = getattr(importlib.import_module(module), "__all__", None)
        for name in (n.strip() for n in names.split(",")):
            found += 1
            assert exported is None or name in exported, f"README imports {module}.{name}, not in __all__"
    assert found >= 5


def test_readme_apt_line_names_what_ci_installs() -> None:
    """The README's `apt-get install` line and `.ci/run` install the same Debian packages."""
    line = re.search(r"apt-get install -y ([^\n`]+)", README.read_text(encoding="utf-8"))
    assert line is not None
    ci = set(re.findall(r"missing\+=\(([\w.-]+)\)", (ROOT / ".ci" / "run").read_text(encoding="utf-8")))
    assert set(line.group(1).split()) == ci and "chromium" in ci and "faketime" in ci
