"""Slither over the project's contracts (scripts/run_slither.py): nothing the triage does not cover."""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNNER = REPO_ROOT / "scripts" / "run_slither.py"


def _runner():
    spec = importlib.util.spec_from_file_location("run_slither", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_slither = _runner()
TRIAGE = json.loads(run_slither.TRIAGE.read_text())


def finding(check: str, contract: str, function: str) -> dict:
    """A detector result as Slither's JSON report gives it (first element: the function it is in)."""
    element = {"type": "function", "name": function.split("(")[0],
               "type_specific_fields": {"signature": function, "parent": {"type": "contract", "name": contract}}}
    return {"check": check, "elements": [element], "impact": "Medium", "confidence": "High", "description": ""}


def test_untriaged_keeps_a_new_finding_and_drops_excluded_and_accepted_ones() -> None:
    accepted = TRIAGE["accepted_findings"][0]
    contract, function = accepted["in"].split(".", 1)
    results = [finding("naming-convention", "RiskOracle", "ORACLE()"),
               finding(accepted["detector"], contract, function),
               finding(accepted["detector"], contract, "somewhereElse()"),
               finding("reentrancy-eth", "LendingMarket", "borrow(uint256)")]
    assert run_slither.untriaged(results, TRIAGE) == results[2:]


def test_location_names_a_parameter_by_its_function_and_contract() -> None:
    element = {"type": "variable", "name": "timing", "type_specific_fields": {"parent": {
        "type": "function", "name": "setTiming", "type_specific_fields": {
            "signature": "setTiming(IRiskOracle.Timing)", "parent": {"type": "contract", "name": "IRiskOracle"}}}}}
    assert run_slither.location(element) == "IRiskOracle.setTiming(IRiskOracle.Timing).timing"


def test_triage_names_only_real_detectors_and_gives_each_a_reason() -> None:
    from slither.detectors import all_detectors
    from slither.detectors.abstract_detector import AbstractDetector

    known = {d.ARGUMENT for _, d in inspect.getmembers(all_detectors, inspect.isclass) if issubclass(d, AbstractDetector)}
    assert set(TRIAGE["excluded_detectors"]) <= known
    assert {entry["detector"] for entry in TRIAGE["accepted_findings"]} <= known
    assert all(reason.strip() for reason in TRIAGE["excluded_detectors"].values())
    assert all(entry["why"].strip() for entry in TRIAGE["accepted_findings"])


def test_project_sources_are_every_contract_but_generated_verifiers_and_test_helpers() -> None:
    sources = {path.relative_to(REPO_ROOT).as_posix() for path in run_slither.project_sources()}
    assert "contracts/RiskOracle.sol" in sources and "contracts/interfaces/IRiskParameterSource.sol" in sources
    assert not any(s.startswith(("contracts/verifiers/", "contracts/test/")) for s in sources)


@pytest.mark.slow
def test_slither_reports_nothing_untriaged_in_project_contracts() -> None:
    completed = subprocess.run([sys.executable, str(RUNNER)], cwd=REPO_ROOT, capture_output=True, text=True,
                               timeout=900)
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-3000:]
    assert "0 not triaged" in completed.stdout
