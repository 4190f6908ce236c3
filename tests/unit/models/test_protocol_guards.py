"""Guard replay arithmetic at the exact boundaries, new per-direction steps and round-1 guardrails."""

from __future__ import annotations

import pytest

from models.protocol.guards import (LENDING_OUTPUTS, ROUND1_GUARDS, UNLIMITED_STEP, Guard, LayoutGuards, NoGuards,
                                    lending_guards, to_fixed)
from models.spec import WAD

SCALE = 20
#: 625 bp of 2^20 is an integer (2^20 · 625 / 10000 = 65536): a step exactly at the limit exists.
STEP_BP = 625
STEP_UNITS = 65536


def test_check_step_exactly_at_the_limit_passes_and_one_unit_above_fails():
    guard = Guard(min_bp=0, max_bp=0xFFFF, max_increase_bp=STEP_BP, max_decrease_bp=STEP_BP)
    previous = to_fixed(0.7, SCALE)
    assert guard.check(previous, previous + STEP_UNITS, SCALE) is None
    assert "increase" in guard.check(previous, previous + STEP_UNITS + 1, SCALE)
    assert guard.check(previous, previous - STEP_UNITS, SCALE) is None
    assert "decrease" in guard.check(previous, previous - STEP_UNITS - 1, SCALE)


def test_check_bounds_exactly_at_the_limit_pass_and_one_unit_outside_fail():
    guard = Guard(min_bp=STEP_BP, max_bp=15 * STEP_BP)
    assert guard.check(None, STEP_UNITS, SCALE) is None
    assert "bounds" in guard.check(None, STEP_UNITS - 1, SCALE)
    assert guard.check(None, 15 * STEP_UNITS, SCALE) is None
    assert "bounds" in guard.check(None, 15 * STEP_UNITS + 1, SCALE)


def test_check_unlimited_direction_passes_any_step_and_the_first_update_checks_bounds_only():
    tighten_at_once = Guard(min_bp=0, max_bp=9500, max_increase_bp=100)
    previous = to_fixed(0.9, SCALE)
    assert tighten_at_once.max_decrease_bp == UNLIMITED_STEP
    assert tighten_at_once.check(previous, to_fixed(0.1, SCALE), SCALE) is None
    assert tighten_at_once.check(previous, previous + 2 * to_fixed(0.01, SCALE), SCALE) is not None
    assert tighten_at_once.check(None, to_fixed(0.95, SCALE), SCALE) is None


def test_layout_guards_one_failing_output_rejects_the_update():
    guards = lending_guards(max_ltv_loosen_bp=100, lt_step_bp=STEP_BP)
    before = guards.encode({"vol": 0.03, "var99": 0.08, "es99": 0.1, "max_ltv": 0.7, "lt": 0.8})
    after = list(before)
    after[LENDING_OUTPUTS.index("vol")] *= 5  # a forecast jump: forecasts are bounds only
    after[LENDING_OUTPUTS.index("lt")] -= STEP_UNITS
    assert guards.check(before, tuple(after)) is None
    after[LENDING_OUTPUTS.index("lt")] -= 1
    assert guards.check(before, tuple(after)).startswith("lt:")


def test_layout_guards_decode_inverts_encode_to_the_fixed_point_resolution():
    guards = lending_guards(max_ltv_loosen_bp=100, lt_step_bp=50)
    values = {"vol": 0.031, "var99": 0.082, "es99": 0.097, "max_ltv": 0.705, "lt": 0.79}
    decoded = guards.decode(guards.encode(values))
    assert all(abs(decoded[k] - v) <= 2.0 ** -(SCALE + 1) for k, v in values.items())


@pytest.mark.parametrize("kwargs", [{"min_bp": 10, "max_bp": 5}, {"min_bp": 0, "max_bp": 10, "max_increase_bp": 0},
                                    {"min_bp": 0, "max_bp": 0x10000}])
def test_guard_invalid_fields_are_refused(kwargs):
    with pytest.raises(ValueError):
        Guard(**kwargs)


def test_layout_guards_need_one_guard_per_output():
    with pytest.raises(ValueError):
        LayoutGuards({"lt": Guard(0, 9800)})


def test_round1_relative_change_exactly_at_the_limit_passes_and_one_wei_above_fails():
    vol = ROUND1_GUARDS.guards["vol"]  # relative, 50% of the previous value
    previous = 2 * 10**16
    assert vol.check(previous, previous + 10**16) is None
    assert vol.check(previous, previous + 10**16 + 1) is not None
    assert vol.check(previous, previous - 10**16) is None
    assert vol.check(previous, previous - 10**16 - 1) is not None


def test_round1_absolute_change_and_bounds_exactly_at_the_limit_pass_and_one_wei_beyond_fail():
    lt = ROUND1_GUARDS.guards["lt"]  # absolute 0.1, bounds [0.25, 0.95]
    previous = 8 * WAD // 10
    assert lt.check(previous, previous - WAD // 10) is None
    assert lt.check(previous, previous - WAD // 10 - 1) is not None
    assert lt.check(None, 95 * WAD // 100) is None
    assert lt.check(None, 95 * WAD // 100 + 1) is not None
    assert lt.check(None, WAD // 4 - 1) is not None


def test_round1_encode_stores_wad_of_the_quantised_output_and_cr_is_one_over_max_ltv():
    values = {"vol": 0.03, "var99": 0.08, "es99": 0.1, "max_ltv": 1 / 1.3, "lt": 0.84}
    stored = ROUND1_GUARDS.encode(values)
    assert stored[0] == (to_fixed(0.03, SCALE) * WAD) >> SCALE
    assert stored[4] == (to_fixed(1.3, SCALE) * WAD) >> SCALE
    decoded = ROUND1_GUARDS.decode(stored)
    assert decoded["max_ltv"] == pytest.approx(1 / 1.3, abs=1e-6) and decoded["lt"] == pytest.approx(0.84, abs=1e-6)


def test_round1_guards_freeze_a_vol_doubling_and_no_guards_never_reject():
    calm = ROUND1_GUARDS.encode({"vol": 0.03, "var99": 0.08, "es99": 0.1, "max_ltv": 0.75, "lt": 0.84})
    crash = ROUND1_GUARDS.encode({"vol": 0.061, "var99": 0.08, "es99": 0.1, "max_ltv": 0.75, "lt": 0.84})
    assert ROUND1_GUARDS.check(calm, crash).startswith("vol:")
    static = NoGuards()
    assert static.check(static.encode({"max_ltv": 0.7, "lt": 0.78}), static.encode({"max_ltv": 0.1, "lt": 0.2})) is None


def test_to_fixed_refuses_values_the_oracle_cannot_store():
    with pytest.raises(ValueError):
        to_fixed(-0.01, SCALE)
    with pytest.raises(ValueError):
        to_fixed(float("nan"), SCALE)


def test_check_a_float_step_of_exactly_the_limit_can_round_one_unit_past_it():
    # 500 bp is 52428.8 units at 2^20: stepping 0.05 in float from a stored value rounds to 52429 units
    guard = Guard(min_bp=0, max_bp=9800, max_increase_bp=500, max_decrease_bp=500)
    previous = to_fixed(0.85, SCALE)
    assert guard.check(previous, to_fixed(previous / 2**SCALE - 0.05, SCALE), SCALE) is not None
    assert guard.check(previous, previous - (500 * 2**SCALE) // 10_000, SCALE) is None
