"""The import packages are this repository's, not same-named packages from site-packages."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("package", ["models", "prover", "oracle"])
def test_package_resolves_inside_repository(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__file__ is not None, f"{package} is a namespace package: another {package} shadows ours"
    assert Path(module.__file__).resolve().parent == REPO_ROOT / package


def test_dependencies_point_one_way() -> None:
    """models imports neither prover nor oracle; prover does not import oracle."""
    def imports(package: str) -> str:
        return "\n".join(p.read_text() for p in (REPO_ROOT / package).rglob("*.py"))

    models_source, prover_source = imports("models"), imports("prover")
    for forbidden in ("import prover", "from prover", "import oracle", "from oracle"):
        assert forbidden not in models_source
    for forbidden in ("import oracle", "from oracle"):
        assert forbidden not in prover_source
