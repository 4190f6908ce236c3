"""The test session's own machinery: module order (tests/module_order.py) and build freshness
(tests/contract_build.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from contract_build import DIGEST_NAME, build_inputs, ensure_fresh_build
from module_order import order_modules


@dataclass(frozen=True)
class Collected:
    """What order_modules reads of a pytest item: its module's path (and a name to tell items apart)."""

    path: Path
    name: str


ITEMS = [Collected(Path(f"test_{module}.py"), f"{module}{i}") for module in "abc" for i in range(3)]


def names(items) -> list[str]:
    return [item.name for item in items]


def test_order_modules_file_keeps_the_collected_order() -> None:
    assert order_modules(ITEMS, "file") == ITEMS


def test_order_modules_reverse_moves_whole_modules_and_keeps_file_order_inside() -> None:
    assert names(order_modules(ITEMS, "reverse")) == ["c0", "c1", "c2", "b0", "b1", "b2", "a0", "a1", "a2"]


def test_order_modules_shuffle_is_a_reproducible_permutation_of_modules() -> None:
    orders = {tuple(names(order_modules(ITEMS, f"shuffle:{seed}"))) for seed in range(20)}
    assert len(orders) > 1
    assert names(order_modules(ITEMS, "shuffle:7")) == names(order_modules(ITEMS, "shuffle:7"))
    for order in orders:
        assert sorted(order) == sorted(names(ITEMS))
        modules = [order[i:i + 3] for i in range(0, 9, 3)]  # each module whole, its tests in file order
        assert all(group == tuple(f"{group[0][0]}{i}" for i in range(3)) for group in modules)


@pytest.mark.parametrize("spec", ["reversed", "shuffle", "shuffle:x", "file:1"])
def test_order_modules_rejects_an_unknown_order(spec: str) -> None:
    with pytest.raises(pytest.UsageError, match="ZKRISK_TEST_ORDER"):
        order_modules(ITEMS, spec)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A checkout-like tree: two contracts, one importing the other, an OpenZeppelin file, the config."""
    (tmp_path / "contracts" / "libraries").mkdir(parents=True)
    (tmp_path / "contracts" / "libraries" / "Lib.sol").write_text("library Lib {}\n")
    (tmp_path / "contracts" / "Oracle.sol").write_text('import "./libraries/Lib.sol";\ncontract Oracle {}\n')
    (tmp_path / "node_modules" / "@openzeppelin" / "contracts").mkdir(parents=True)
    (tmp_path / "node_modules" / "@openzeppelin" / "contracts" / "Ownable.sol").write_text("contract Ownable {}\n")
    (tmp_path / "ape-config.yaml").write_text("solidity:\n  optimize: true\n")
    return tmp_path


def built(project: Path) -> Path:
    """The build folder after a session start and a compile (a file standing for Ape's manifest)."""
    build = project / ".build"
    ensure_fresh_build(project, build)
    (build / "__local__.json").write_text("{}")
    return build


def test_ensure_fresh_build_keeps_a_build_of_unchanged_sources(project: Path) -> None:
    build = built(project)
    assert ensure_fresh_build(project, build) is False
    assert (build / "__local__.json").exists()


@pytest.mark.parametrize("changed", ["contracts/libraries/Lib.sol", "node_modules/@openzeppelin/contracts/Ownable.sol",
                                     "ape-config.yaml"])
def test_ensure_fresh_build_deletes_the_build_when_any_input_changed(project: Path, changed: str) -> None:
    """An imported file's change rebuilds its importers too: the whole build goes, not one file."""
    build = built(project)
    (project / changed).write_text((project / changed).read_text() + "// changed\n")
    assert ensure_fresh_build(project, build) is True
    assert not (build / "__local__.json").exists() and (build / DIGEST_NAME).exists()
    assert ensure_fresh_build(project, build) is False


def test_ensure_fresh_build_counts_a_renamed_or_new_contract(project: Path) -> None:
    build = built(project)
    (project / "contracts" / "libraries" / "Lib.sol").rename(project / "contracts" / "libraries" / "Lib2.sol")
    assert ensure_fresh_build(project, build) is True
    (project / "contracts" / "New.sol").write_text("contract New {}\n")
    assert ensure_fresh_build(project, build) is True


def test_build_inputs_of_this_checkout_cover_contracts_and_openzeppelin() -> None:
    root = Path(__file__).resolve().parents[2]
    inputs = [str(path.relative_to(root)) for path in build_inputs(root)]
    assert "contracts/RiskOracle.sol" in inputs
    assert any(name.startswith("node_modules/@openzeppelin/contracts/") for name in inputs)
