"""The guard and record math (contracts/test/RiskMathHarness.sol over Guardrails and RiskRecords) against
models/protocol/guards.py's integer replay, the packed record against its documented bit widths, and
the production card's guards against the production policy's own steps (they must always pass)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chain_helpers import LENDING_GUARDS, POLICIES, TEST_INPUT_SCALE, fixed
from models.protocol.guards import Guard
from models.spec import LENDING, MARKETS

pytestmark = pytest.mark.chain

CHAIN_SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NONE, BOUNDS, STEP = range(3)  # Guardrails.Failure
U16 = st.integers(0, 0xFFFF)
VALUE = st.integers(0, (1 << 24) - 1)
SCALE = st.integers(1, 23)


def reference_failure(guard: Guard, previous: int | None, value: int, scale: int) -> int:
    reason = guard.check(previous, value, scale)
    return NONE if reason is None else BOUNDS if "bounds" in reason else STEP


def valid_guards():
    return st.builds(lambda lo, width, up, down: (lo, min(lo + width, 0xFFFF), up, down),
                     U16, U16, st.integers(1, 0xFFFF), st.integers(1, 0xFFFF))


@CHAIN_SETTINGS
@given(guard=st.tuples(U16, U16, U16, U16))
def test_isValidGuard_matches_reference(harness, guard):
    try:
        Guard(*guard)
        expected = True
    except ValueError:
        expected = False
    assert harness.isValidGuard(guard) == expected


@CHAIN_SETTINGS
@given(guard=st.tuples(U16, U16, U16, U16))
def test_packGuard_round_trips(harness, guard):
    assert tuple(harness.packGuard(guard)) == guard


def edge_cases():
    """Values exactly on a bound or a step, and one unit past it (scale 20, the lending layout's LT guard)."""
    unit = 1 << 20
    lt = (3998, 8802, 52, 52)
    at_min = -(-3998 * unit // 10_000)  # smallest v with v * 10000 >= minBp * 2^20
    at_max = 8802 * unit // 10_000  # largest v with v * 10000 <= maxBp * 2^20
    step = 52 * unit // 10_000  # largest change with delta * 10000 <= bp * 2^20
    previous = 800_000
    return [(lt, at_min, None, NONE), (lt, at_min - 1, None, BOUNDS), (lt, at_max, None, NONE),
            (lt, at_max + 1, None, BOUNDS), (lt, previous + step, previous, NONE),
            (lt, previous + step + 1, previous, STEP), (lt, previous - step, previous, NONE),
            (lt, previous - step - 1, previous, STEP)]


@CHAIN_SETTINGS
@given(guard=valid_guards(), value=VALUE, has_previous=st.booleans(), previous=VALUE, scale=SCALE)
@example(guard=(0, 0xFFFF, 0xFFFF, 0xFFFF), value=(1 << 24) - 1, has_previous=True, previous=0, scale=20)
def test_checkGuard_matches_reference(harness, guard, value, has_previous, previous, scale):
    expected = reference_failure(Guard(*guard), previous if has_previous else None, value, scale)
    assert harness.checkGuard(guard, value, has_previous, previous, scale) == expected


@pytest.mark.parametrize("guard,value,previous,expected", edge_cases())
def test_checkGuard_boundaries_are_inclusive(harness, guard, value, previous, expected):
    """On the bound or the step passes, one unit past fails (catches a `<` for `<=`), as in the reference."""
    assert reference_failure(Guard(*guard), previous, value, 20) == expected
    assert harness.checkGuard(guard, value, previous is not None, previous or 0, 20) == expected


@CHAIN_SETTINGS
@given(model=st.integers(0, 2**32 - 1), epoch=st.integers(0, 2**32 - 1), observed=st.integers(0, 2**40 - 1),
       values=st.lists(VALUE, min_size=1, max_size=16))
@example(model=2**32 - 1, epoch=2**32 - 1, observed=2**40 - 1, values=[(1 << 24) - 1] * 16)
def test_packRecord_round_trips_every_documented_width(harness, model, epoch, observed, values):
    model_id, epoch_out, observed_out, unpacked = harness.packRecord(model, epoch, observed, values)
    assert (model_id, epoch_out, observed_out, list(unpacked)) == (model, epoch, observed, values)


@CHAIN_SETTINGS
@given(market=st.sampled_from(sorted(MARKETS)), es99=st.floats(0.0, 1.5), lt_at=st.floats(0.0, 1.0),
       ltv_at=st.floats(0.0, 1.0))
@example(market="BTC", es99=1.5, lt_at=1.0, ltv_at=1.0)  # the sharpest cut from the top
@example(market="ETH", es99=0.0, lt_at=0.0, ltv_at=0.0)  # the largest loosening from the bottom
def test_policy_steps_always_pass_the_cards_guards(harness, market, es99, lt_at, ltv_at):
    """Issue 10's defence-in-depth rule: from any stored state the policy can reach (within the market's
    bounds, LT at least the buffer above max LTV; `*_at` place it in that range), the proved policy's
    step (computed from the state rounded to the circuit's input scale, as the proof passes it) passes
    every guard of its market; the guard never freezes a market that follows the policy."""
    policy = POLICIES[market]
    prev_lt = policy.lt_min + lt_at * (policy.lt_max - policy.lt_min)
    prev_ltv = policy.ltv_min + ltv_at * (min(policy.ltv_max, prev_lt - policy.buffer) - policy.ltv_min)
    stored = {"max_ltv": fixed(prev_ltv), "lt": fixed(prev_lt)}
    rounded = {name: round(v / 2 ** (LENDING.scale - TEST_INPUT_SCALE)) / 2**TEST_INPUT_SCALE
               for name, v in stored.items()}
    max_ltv, lt = policy.step(es99, rounded["max_ltv"], rounded["lt"])
    guards = LENDING_GUARDS[MARKETS[market]]
    for name, value in (("max_ltv", max_ltv), ("lt", lt)):
        guard = guards[LENDING.index[name]]
        assert harness.checkGuard(guard, fixed(value), True, stored[name], LENDING.scale) == NONE, (name, value)
