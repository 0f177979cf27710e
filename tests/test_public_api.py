"""The public API is what `mockwise`, `mockwise.testing` and `mockwise.contracts` export: every name
in their `__all__` resolves, and importing `mockwise.testing` or `mockwise.contracts` loads none of
what they export until a name is used (the pytest plugin imports them at start-up)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PUBLIC = ("mockwise", "mockwise.testing", "mockwise.contracts")


@pytest.mark.parametrize("name", PUBLIC)
def test_every_exported_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__ == sorted(module.__all__), "keep __all__ sorted"
    for exported in module.__all__:
        assert getattr(module, exported) is not None, f"{name}.{exported}"


@pytest.mark.parametrize("name", ["mockwise.testing", "mockwise.contracts"])
def test_importing_a_lazy_package_loads_nothing_it_exports(name: str) -> None:
    code = (
        f"import sys, {name} as m\n"
        "loaded = sorted({m._EXPORTS[n] for n in m.__all__} & set(sys.modules))\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_an_unknown_name_is_an_attribute_error() -> None:
    contracts = importlib.import_module("mockwise.contracts")
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        contracts.nosuch  # noqa: B018
