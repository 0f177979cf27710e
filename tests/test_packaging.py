"""How mockwise installs: one top-level package, `mockwise`. The contract suites live in the
repository's `contracts/` folder and import as `mockwise.contracts` (`mockwise/contracts` links to
the folder; the wheel carries them there), so nothing of ours can collide with another
distribution's top-level `contracts` package (PyContracts has one)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_contract_suites_import_under_mockwise() -> None:
    link = ROOT / "mockwise" / "contracts"
    assert link.is_symlink() and link.resolve() == (ROOT / "contracts").resolve()
    import mockwise.contracts.judge

    assert Path(mockwise.contracts.judge.__file__).name == "judge.py"


def test_no_code_imports_a_top_level_contracts_package() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("mockwise", "contracts", "tests", "examples", "bench")
        for path in (ROOT / folder).rglob("*.py")
        if "mockwise/contracts" not in path.as_posix()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.lstrip().startswith(("from contracts", "import contracts"))
    ]
    assert offenders == []


@pytest.mark.slow
def test_the_wheel_has_one_top_level_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("mockwise-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"mockwise", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "mockwise/contracts/judge.py" in names and "mockwise/_fixtures/default.json" in names
