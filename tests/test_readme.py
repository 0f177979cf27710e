"""The README's examples are tests, so they cannot rot: its Python blocks run, its pytest excerpt
is the example file's own code, and the obligations catalog in docs/ matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contracts.obligations import markdown
from mockwise.domain.fidelity import markdown as settings_markdown

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
