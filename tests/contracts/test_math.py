"""The Solidity instance layout and guardrail math against models/spec.py and Python references."""

from __future__ import annotations

import ape
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain_helpers import BTC, PLACEHOLDER_MODEL, risk_update
from models.spec import FIELD_MODULUS, OUTPUTS, felt_to_wad, instance_count, split_instances

pytestmark = pytest.mark.chain

CHAIN_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
UINT96 = 2**96 - 1
MAX_OUTPUT_FELT = 2**128
guards = st.builds(lambda lo, width, change, relative: (lo, min(lo + width, UINT96), change, relative),
                   st.integers(0, 10**19), st.integers(0, 10**19), st.integers(1, 2**64 - 1), st.booleans())


def test_layout_constants_match_spec(harness):
    assert harness.outputCount() == len(OUTPUTS)
    assert harness.fieldModulus() == FIELD_MODULUS
    assert harness.maxOutputFelt() == MAX_OUTPUT_FELT < FIELD_MODULUS // 2
    for k in (1, 2, 4, 16, 32):
        assert harness.instanceCount(k) == instance_count(k)


def test_output_felt_matches_split_instances(harness):
    k = 3
    instances = list(range(100, 100 + instance_count(k)))
    _, outputs = split_instances(instances, k)
    for i in range(k):
        for j in range(len(OUTPUTS)):
            assert harness.outputFelt(instances, k, i, j) == outputs[i][j]


@CHAIN_SETTINGS
@given(felt=st.one_of(st.integers(0, 2**80), st.integers(0, MAX_OUTPUT_FELT)), scale=st.integers(1, 64))
def test_felt_to_wad_matches_spec(harness, felt, scale):
    assert harness.feltToWad(felt, scale) == felt_to_wad(felt, scale)


@CHAIN_SETTINGS
@given(felt=st.one_of(st.integers(FIELD_MODULUS // 2 + 1, 2**256 - 1), st.integers(MAX_OUTPUT_FELT + 1, 2**254)),
       scale=st.integers(1, 64))
def test_felt_to_wad_negative_or_huge_reverts_invalid_output(harness, felt, scale):
    with ape.reverts(harness.InvalidOutput, felt=felt):
        harness.feltToWad(felt, scale)


@CHAIN_SETTINGS
@given(guard=guards, value=st.integers(0, 2**100))
def test_within_bounds_matches_reference(harness, guard, value):
    assert harness.withinBounds(guard, value) == (guard[0] <= value <= guard[1])


@CHAIN_SETTINGS
@given(guard=guards, previous=st.integers(0, UINT96), value=st.integers(0, UINT96))
def test_within_change_matches_reference(harness, guard, previous, value):
    _, _, max_change, relative = guard
    delta = abs(value - previous)
    expected = delta * 10**18 <= previous * max_change if relative else delta <= max_change
    assert harness.withinChange(guard, previous, value) == expected


def test_parameter_order_matches_spec_outputs(oracle, owner):
    """IRiskOracle.Parameter order is models/spec.py OUTPUTS order: each value lands in its named field."""
    values = [11 * (i + 1) for i in range(len(OUTPUTS))]
    oracle.setGuardrail(OUTPUTS.index("cr"), (0, 10**18, 1, False), sender=owner)
    oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [risk_update(BTC, 1, values)], sender=owner)
    params = oracle.getRiskParameters(BTC)
    fields = {"vol": "volatility", "var99": "valueAtRisk", "es99": "expectedShortfall",
              "lt": "liquidationThreshold", "cr": "collateralRatio"}
    for index, name in enumerate(OUTPUTS):
        assert getattr(params, fields[name]) == values[index]
