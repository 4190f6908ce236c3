"""PortfolioMargin.sol against models/options.py: marks, scenario losses, IM and MM of portfolios, and the
properties the engine's safety rests on (margin >= worst scenario loss, IM >= MM).

Tolerance: |engine - reference| <= 1e-12 of the portfolio's gross notional (sum |size| * spot) for marks,
losses and margins; measured 4.8e-16 at most over the portfolios below and 150 random ones on random
grids (the fixed-point prices agree with scipy to 1.5e-16 of S + K, see test_options_math.py, and a
margin is a max over sums of such prices).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain_helpers import BTC
from models.options import IM_SCENARIOS, MM_SCENARIOS, Position, ScenarioGrid, market_margin, scenario_losses
from options_helpers import DAY, SHOCKS, from_wad, shocks_tuple, wad

pytestmark = pytest.mark.chain

MARGIN_TOLERANCE = 1e-12  # of gross notional
NOW = 1_750_000_000
SPOT = 60_000.0
PROVED = ScenarioGrid.from_shocks(SHOCKS[BTC])
STATIC = ScenarioGrid.static_grid(SHOCKS[BTC]["ref_iv"])
CHAIN_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def leg(strike: float, days: float, is_call: bool, size: float, settlement: float | None = None) -> Position:
    return Position(market=BTC, strike=strike, expiry=NOW + int(days * DAY), is_call=is_call, size=size,
                    settlement_price=settlement)


PORTFOLIOS = {
    "short straddle": [leg(60_000, 7, True, -1), leg(60_000, 7, False, -1)],
    "long call spread": [leg(60_000, 30, True, 2), leg(70_000, 30, True, -2)],
    "iron condor": [leg(50_000, 14, False, 1), leg(55_000, 14, False, -1), leg(65_000, 14, True, -1),
                    leg(70_000, 14, True, 1)],
    "calendar": [leg(60_000, 3, True, -3), leg(60_000, 90, True, 3)],
    "far OTM short puts": [leg(30_000, 60, False, -10)],
    "expired legs": [leg(55_000, -1, True, 1), leg(65_000, -1, False, -1, settlement=64_000),
                     leg(60_000, 20, True, -1)],
    "one hour left": [leg(60_500, 1 / 24, True, -5), leg(59_500, 1 / 24, False, 5)],
}

legs_strategy = st.lists(st.builds(
    leg, strike=st.floats(20_000, 150_000), days=st.floats(0.05, 365), is_call=st.booleans(),
    size=st.floats(-20, 20).filter(lambda x: abs(x) > 1e-3)), min_size=1, max_size=6)
grids = st.builds(ScenarioGrid, spot_down=st.floats(0.005, 0.5), spot_up=st.floats(0.005, 1.0),
                  iv_up=st.floats(0, 3), iv_down=st.floats(0, 0.9), ref_iv=st.floats(0.05, 3))


def chain_legs(positions: list[Position]) -> list[tuple]:
    return [(p.expiry, wad(p.strike), p.is_call, wad(p.size), wad(p.settlement_price or 0)) for p in positions]


def exact(positions: list[Position]) -> list[Position]:
    """The positions at the WAD values the contract sees."""
    return [Position(p.market, from_wad(wad(p.strike)), p.expiry, p.is_call, from_wad(wad(p.size)),
                     p.settlement_price) for p in positions]


def gross(positions: list[Position]) -> float:
    return sum(abs(p.size) for p in positions) * SPOT


@pytest.mark.parametrize("grid", [PROVED, STATIC], ids=["proved", "static"])
@pytest.mark.parametrize("name", list(PORTFOLIOS))
def test_market_margin_matches_reference(options_math, name, grid):
    positions = PORTFOLIOS[name]
    result = options_math.marketMargin(chain_legs(positions), wad(SPOT), shocks_tuple(grid), NOW, True)
    reference = market_margin(positions, SPOT, grid, NOW)
    tolerance = MARGIN_TOLERANCE * gross(positions)
    assert from_wad(result.markValue) == pytest.approx(reference.mark_value, abs=tolerance)
    assert from_wad(result.initialMargin) == pytest.approx(reference.initial, abs=tolerance)
    assert from_wad(result.maintenanceMargin) == pytest.approx(reference.maintenance, abs=tolerance)
    assert result.initialMargin >= result.maintenanceMargin > 0


def test_maintenance_only_evaluation_matches_full(options_math):
    legs = chain_legs(PORTFOLIOS["iron condor"])
    full = options_math.marketMargin(legs, wad(SPOT), shocks_tuple(PROVED), NOW, True)
    only = options_math.marketMargin(legs, wad(SPOT), shocks_tuple(PROVED), NOW, False)
    assert (only.initialMargin, only.maintenanceMargin, only.markValue) == (0, full.maintenanceMargin, full.markValue)


def test_static_grid_is_more_conservative_than_a_calm_proved_one(options_math):
    legs = chain_legs(PORTFOLIOS["short straddle"])
    proved = options_math.marketMargin(legs, wad(SPOT), shocks_tuple(PROVED), NOW, True)
    static = options_math.marketMargin(legs, wad(SPOT), shocks_tuple(STATIC), NOW, True)
    assert static.initialMargin > proved.initialMargin and static.maintenanceMargin > proved.maintenanceMargin


@CHAIN_SETTINGS
@given(positions=legs_strategy, grid=grids)
def test_margin_covers_worst_scenario_loss_and_initial_covers_maintenance(options_math, positions, grid):
    legs = chain_legs(positions)
    losses, _, _ = options_math.scenarioLosses(legs, wad(SPOT), shocks_tuple(grid), NOW, True)
    losses = np.array(losses, dtype=object).reshape(IM_SCENARIOS.shape)
    result = options_math.marketMargin(legs, wad(SPOT), shocks_tuple(grid), NOW, True)
    assert result.initialMargin >= max(losses[IM_SCENARIOS].max(), 0)
    assert result.maintenanceMargin >= max(losses[MM_SCENARIOS].max(), 0)
    assert result.initialMargin >= result.maintenanceMargin


@CHAIN_SETTINGS
@given(positions=legs_strategy, grid=grids)
def test_scenario_losses_match_reference(options_math, positions, grid):
    chain_grid = ScenarioGrid(*(from_wad(x) for x in shocks_tuple(grid)))
    losses, mark_value, _ = options_math.scenarioLosses(chain_legs(positions), wad(SPOT), shocks_tuple(grid), NOW,
                                                        True)
    got = np.array([from_wad(x) for x in losses]).reshape(IM_SCENARIOS.shape)
    reference = scenario_losses(exact(positions), SPOT, chain_grid, NOW)
    tolerance = MARGIN_TOLERANCE * gross(positions)
    np.testing.assert_allclose(got, reference, rtol=0, atol=tolerance)  # every scenario is an IM one
    # without IM the MM scenarios alone are evaluated, to the same values
    maintenance_only, _, _ = options_math.scenarioLosses(chain_legs(positions), wad(SPOT), shocks_tuple(grid), NOW,
                                                         False)
    got = np.array([from_wad(x) for x in maintenance_only]).reshape(IM_SCENARIOS.shape)
    np.testing.assert_allclose(got[MM_SCENARIOS], reference[MM_SCENARIOS], rtol=0, atol=tolerance)
    assert np.all(got[~MM_SCENARIOS] == 0)
    assert from_wad(mark_value) == pytest.approx(market_margin(exact(positions), SPOT, chain_grid, NOW).mark_value,
                                                 abs=tolerance)
