"""The float reference of the options margin engine: Black-Scholes, the grid, IM/MM and their rules."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.errors import MarginInputError
from models.options import (DTE_FLOOR, IM_SCENARIOS, MM_CONTINGENCY_FLOOR, MM_SCENARIOS, MIN_VOL_FOR_SHOCK_UP, REFERENCE_TENOR,
                            SANITY, SHOCK_NAMES, SHORT_CONTINGENCY, STATIC_REF_IV, STATIC_SPOT_SHOCK, VOL_DOWN_FLOOR,
                            Margin, Position, ScenarioGrid, bs_call, bs_delta, bs_put, bs_vega, market_margin,
                            max_liquidation_fraction, portfolio_margin, scenario_losses, scenario_table,
                            vol_multiplier)

DAY = 86_400
NOW = 1_750_000_000
SHOCKS = {"spot_down": 0.08, "spot_up": 0.09, "iv_up": 0.3, "iv_down": 0.2, "ref_iv": 0.55}
GRID = ScenarioGrid.from_shocks(SHOCKS)

positions = st.lists(st.builds(
    Position, market=st.just(1), strike=st.floats(20_000, 120_000),
    expiry=st.integers(NOW + 3_600, NOW + 365 * DAY), is_call=st.booleans(),
    size=st.floats(-5, 5).filter(lambda x: abs(x) > 1e-3)), min_size=1, max_size=8)


def test_call_put_match_closed_form_and_parity():
    spot, strike, vol, tau = 60_000.0, 65_000.0, 0.55, 30 / 365
    call, put = bs_call(spot, strike, vol, tau), bs_put(spot, strike, vol, tau)
    assert call == pytest.approx(1921.5931059383547, rel=1e-12)  # Hull's formula at r = 0, evaluated by hand
    assert call - put == pytest.approx(spot - strike, abs=1e-9)


def test_greeks_match_finite_differences():
    spot, strike, vol, tau = 60_000.0, 58_000.0, 0.7, 0.2
    h = 1e-3
    delta = (bs_call(spot + h, strike, vol, tau) - bs_call(spot - h, strike, vol, tau)) / (2 * h)
    vega = (bs_call(spot, strike, vol + h, tau) - bs_call(spot, strike, vol - h, tau)) / (2 * h)
    assert bs_delta(spot, strike, vol, tau, True) == pytest.approx(delta, rel=1e-6)
    assert bs_delta(spot, strike, vol, tau, False) == pytest.approx(delta - 1, rel=1e-6)
    assert bs_vega(spot, strike, vol, tau) == pytest.approx(vega, rel=1e-6)


def test_zero_time_is_intrinsic():
    assert bs_call(60_000.0, 50_000.0, 0.5, 0.0) == 10_000.0
    assert bs_put(60_000.0, 50_000.0, 0.5, 0.0) == 0.0


def test_vol_multiplier_continuous_at_tenor_and_floored():
    assert vol_multiplier(REFERENCE_TENOR) == 1.0
    assert vol_multiplier(REFERENCE_TENOR - 1) == pytest.approx(1.0, abs=1e-6)
    assert vol_multiplier(60) == vol_multiplier(DTE_FLOOR) == pytest.approx(30**0.3)
    assert vol_multiplier(365 * DAY) == pytest.approx((30 / 365) ** 0.13)


def test_grid_scenarios_initial_covers_maintenance():
    assert IM_SCENARIOS.sum() == 28 and MM_SCENARIOS.sum() == 21
    assert not (MM_SCENARIOS & ~IM_SCENARIOS).any()
    np.testing.assert_allclose(GRID.spot_moves(), [-0.08, -0.056, -0.028, 0, 0.0315, 0.063, 0.09])


def test_vols_shocked_with_floors():
    vols = GRID.vols(10 * DAY)
    m = 3**0.3
    np.testing.assert_allclose(vols, [0.55, 0.55 * (1 + 0.3 * m), 0.55 * (1 - 0.2 * m), 0.55 * (1 + 0.3 * m)])
    calm = ScenarioGrid(0.05, 0.05, 0.1, 0.95, 0.3)
    assert calm.vols(DAY)[1] == pytest.approx(0.3 * (1 + 0.1 * 30**0.3))
    assert calm.vols(DAY)[1] < MIN_VOL_FOR_SHOCK_UP
    assert calm.vols(DAY)[3] == MIN_VOL_FOR_SHOCK_UP
    assert calm.vols(DAY)[2] == pytest.approx(0.3 * VOL_DOWN_FLOOR)


def test_select_falls_back_to_static_grid():
    assert ScenarioGrid.select(SHOCKS, live=True) == GRID
    stale = ScenarioGrid.select(SHOCKS, live=False)
    assert stale.static and stale.spot_down == STATIC_SPOT_SHOCK and stale.ref_iv == 0.55
    for name, (lo, hi) in SANITY.items():
        for bad in (lo - 1e-4, hi + 1e-4):
            grid = ScenarioGrid.select({**SHOCKS, name: bad}, live=True)
            assert grid.static, (name, bad)
    assert ScenarioGrid.select({**SHOCKS, "ref_iv": 9.0}, live=True).ref_iv == STATIC_REF_IV
    assert ScenarioGrid.select(None, live=True).ref_iv == STATIC_REF_IV


def test_from_shocks_missing_value_raises():
    with pytest.raises(MarginInputError, match="missing iv_down"):
        ScenarioGrid.from_shocks({k: v for k, v in SHOCKS.items() if k != "iv_down"})
    from models.spec import OPTIONS

    assert SHOCK_NAMES == OPTIONS.names == ("spot_down", "spot_up", "iv_up", "iv_down", "ref_iv")


def test_short_contingency_floors_margin_when_shocks_vanish():
    flat = ScenarioGrid(0.0, 0.0, 0.0, 0.0, 0.5)  # what no engine grid allows, but a short still needs margin
    short = Position(1, 60_000.0, NOW + 30 * DAY, True, -2.0)
    margin = market_margin([short], 60_000.0, flat, NOW)
    assert scenario_losses([short], 60_000.0, flat, NOW).max() < 0  # it only earns the day's time decay
    assert margin.initial == pytest.approx(2 * SHORT_CONTINGENCY * 60_000)
    assert margin.maintenance == pytest.approx(MM_CONTINGENCY_FLOOR * margin.initial)


def test_scenarios_revalue_one_horizon_later():
    flat = ScenarioGrid(0.0, 0.0, 0.0, 0.0, 0.5)
    call = Position(1, 60_000.0, NOW + 30 * DAY, True, 1.0)
    decay = bs_call(60_000.0, 60_000.0, 0.5, 30 / 365) - bs_call(60_000.0, 60_000.0, 0.5, 29 / 365)
    losses = scenario_losses([call], 60_000.0, flat, NOW)
    np.testing.assert_allclose(losses, decay, rtol=1e-12)  # no move anywhere: the loss is the day's decay
    assert market_margin([call], 60_000.0, flat, NOW).maintenance == pytest.approx(decay, rel=1e-12)
    # a leg expiring within the horizon is worth its payoff at each scenario spot
    expiring = Position(1, 60_000.0, NOW + 3_600, False, -1.0)
    mark = float(bs_put(60_000.0, 60_000.0, GRID.ref_iv, 3_600 / (365 * DAY)))
    payoff = np.maximum(60_000.0 - 60_000.0 * (1 + GRID.spot_moves()), 0.0)
    np.testing.assert_allclose(scenario_losses([expiring], 60_000.0, GRID, NOW), np.broadcast_to(payoff - mark, (4, 7)))


def test_scenario_table_is_its_books_grid_and_margin():
    straddle = [Position(1, 60_000.0, NOW + 30 * DAY, is_call, -1.0) for is_call in (True, False)]
    table = scenario_table(straddle, 60_000.0, GRID, NOW)
    losses = scenario_losses(straddle, 60_000.0, GRID, NOW)
    margin = market_margin(straddle, 60_000.0, GRID, NOW)
    assert table.seconds_to_expiry == 30 * DAY
    np.testing.assert_allclose(table.vols, GRID.vols(30 * DAY))
    np.testing.assert_allclose(table.spot_moves, GRID.spot_moves())
    np.testing.assert_allclose(table.losses, losses)
    assert (table.margin.initial, table.margin.maintenance) == pytest.approx((margin.initial, margin.maintenance))
    # the marked scenarios are the worst of each set and, with the contingency, the margins
    assert IM_SCENARIOS[table.worst_initial] and MM_SCENARIOS[table.worst_maintenance]
    assert losses[table.worst_initial] == pytest.approx(losses[IM_SCENARIOS].max())
    assert losses[table.worst_maintenance] == pytest.approx(losses[MM_SCENARIOS].max())
    assert table.contingency == pytest.approx(2 * SHORT_CONTINGENCY * 60_000)
    assert margin.initial == pytest.approx(losses[table.worst_initial] + table.contingency)
    assert margin.maintenance == pytest.approx(max(losses[table.worst_maintenance],
                                                   MM_CONTINGENCY_FLOOR * table.contingency))
    shown = json.loads(json.dumps(table.to_dict()))
    assert np.shape(shown["losses"]) == (4, 7) and shown["worst_initial"] == list(table.worst_initial)


def test_scenario_table_needs_live_legs_of_one_expiry():
    legs = [Position(1, 60_000.0, NOW + 30 * DAY, True, -1.0), Position(1, 60_000.0, NOW + 7 * DAY, False, -1.0)]
    with pytest.raises(MarginInputError, match="one expiry"):
        scenario_table(legs, 60_000.0, GRID, NOW)
    with pytest.raises(MarginInputError, match="one expiry"):
        scenario_table(legs[1:], 60_000.0, GRID, NOW + 7 * DAY)


def test_expired_positions_intrinsic_then_settled():
    call = Position(1, 50_000.0, NOW - DAY, True, 1.0)
    unsettled = market_margin([call], 60_000.0, GRID, NOW)
    assert unsettled.mark_value == 10_000 and unsettled.initial == pytest.approx(60_000 * 0.08)
    settled = market_margin([Position(1, 50_000.0, NOW - DAY, True, 1.0, settlement_price=61_000.0)], 60_000.0, GRID,
                            NOW)
    assert settled == Margin(11_000.0, 0.0, 0.0)


def test_portfolio_margin_sums_markets_and_needs_each_spot():
    btc = Position(1, 60_000.0, NOW + 7 * DAY, False, -1.0)
    eth = Position(2, 3_000.0, NOW + 7 * DAY, True, -10.0)
    total = portfolio_margin([btc, eth], {1: 60_000.0, 2: 3_000.0}, {1: GRID, 2: GRID}, NOW)
    assert total == market_margin([btc], 60_000.0, GRID, NOW) + market_margin([eth], 3_000.0, GRID, NOW)
    with pytest.raises(MarginInputError, match="market 2"):
        portfolio_margin([btc, eth], {1: 60_000.0}, GRID, NOW)


@settings(max_examples=200, deadline=None)
@given(positions=positions)
def test_margin_at_least_worst_loss_and_initial_at_least_maintenance(positions):
    margin = market_margin(positions, 60_000.0, GRID, NOW)
    losses = scenario_losses(positions, 60_000.0, GRID, NOW)
    assert margin.initial >= losses[IM_SCENARIOS].max() - 1e-9
    assert margin.maintenance >= losses[MM_SCENARIOS].max() - 1e-9
    assert margin.initial >= margin.maintenance >= 0


@settings(max_examples=100, deadline=None)
@given(equity=st.floats(-1e4, 1e4), mm=st.floats(1, 1e4), ratio=st.floats(1, 3), bonus=st.floats(0, 0.5))
def test_max_liquidation_fraction_restores_initial_margin(equity, mm, ratio, bonus):
    im = mm * ratio
    f = max_liquidation_fraction(equity, im, mm, bonus)
    assert 0 <= f <= 1
    if equity >= mm:
        assert f == 0
    elif equity > 0 and f < 1:
        assert equity - bonus * f * mm == pytest.approx((1 - f) * im, rel=1e-9, abs=1e-9)
