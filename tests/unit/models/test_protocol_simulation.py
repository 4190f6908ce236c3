"""Lending-market mechanics on small hand-built hourly bars, and the chain replay's stale/fallback rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd
import pytest

from models.protocol.chain import MarketRules, replay
from models.protocol.guards import Guards, NoGuards, lending_guards
from models.protocol.policies import Listing, StaticPolicy, Stored
from models.protocol.report import PolicyRun, Window
from models.protocol.simulation import SimulationConfig, simulate

START = pd.Timestamp("2024-01-01", tz="UTC")
NOTIONAL = 1_000_000.0
QUOTE_VOLUME = 1e9  # per bar, at price 100
BONUS = 0.05
CONFIG = SimulationConfig(ltv_fractions=(1.0,), collateral_notional=NOTIONAL, holding_days=3)


def flat_bars(days: int, price: float = 100.0, quote_volume: float = QUOTE_VOLUME) -> pd.DataFrame:
    index = pd.date_range(START, periods=24 * days, freq="1h")
    return pd.DataFrame({"open": price, "high": price, "low": price, "close": price,
                         "volume": quote_volume / price}, index=index)


def path(days: int, max_ltv: float = 0.7, lt: float | list[float] = 0.8) -> pd.DataFrame:
    lts = lt if isinstance(lt, list) else [lt] * days
    return pd.DataFrame({"max_ltv": max_ltv, "lt": lts}, index=pd.date_range(START, periods=days, freq="1D"))


def set_low(bars: pd.DataFrame, bar: int, low: float) -> None:
    bars.iloc[bar, bars.columns.get_loc("low")] = low


def test_simulate_wick_liquidates_at_the_next_bar_without_bad_debt():
    bars = flat_bars(5)
    set_low(bars, 30, 85.0)  # HF = 85 * 0.8 / 70 < 1 at day 1, 06:00
    set_low(bars, 31, 90.0)
    sim = simulate(bars, path(5), BONUS, CONFIG)
    first = sim.positions.iloc[0]
    assert first["debt"] == pytest.approx(0.7 * NOTIONAL)
    fills = sim.fills[sim.fills["position"] == 0]
    assert len(fills) == 1
    fill = fills.iloc[0]
    assert fill["detected"] == bars.index[30] and fill["filled"] == bars.index[31]
    # HF at the fill bar's low is 90 * 0.8 / 70 >= 0.95: Aave's 50% close factor
    repaid = 0.5 * 0.7 * NOTIONAL
    slip = 0.1 * np.sqrt(repaid * (1 + BONUS) / QUOTE_VOLUME)
    assert fill["slippage"] == pytest.approx(slip)
    assert fill["fill_price"] == pytest.approx(90.0 * (1 - slip))
    assert fill["seized"] == pytest.approx(repaid * (1 + BONUS) / fill["fill_price"])
    assert first["bad_debt"] == 0 and first["liquidated_debt"] == pytest.approx(repaid)


def test_simulate_wick_through_the_bonus_leaves_bad_debt():
    bars = flat_bars(5)
    set_low(bars, 30, 85.0)
    set_low(bars, 31, 60.0)
    sim = simulate(bars, path(5), BONUS, CONFIG)
    fill = sim.fills[sim.fills["position"] == 0].iloc[0]
    assert fill["insolvent"]
    collateral = NOTIONAL / 100
    recovered = collateral * fill["fill_price"] / (1 + BONUS)
    position = sim.positions.iloc[0]
    assert fill["seized"] == pytest.approx(collateral)
    assert position["bad_debt"] == pytest.approx(0.7 * NOTIONAL - recovered)
    metrics = run_metrics(sim, path(5))
    assert metrics["positions_with_bad_debt"] >= 1
    assert metrics["bad_debt_per_million"] == pytest.approx(1e6 * sim.positions["bad_debt"].sum()
                                                            / sim.positions["debt"].sum())


def test_simulate_fills_at_the_next_bar_low_even_when_it_is_above_the_detecting_low():
    bars = flat_bars(5)
    set_low(bars, 30, 70.0)
    set_low(bars, 31, 95.0)
    fill = simulate(bars, path(5), BONUS, CONFIG).fills.iloc[0]
    assert fill["filled"] == bars.index[31]
    assert 94.0 < fill["fill_price"] < 95.0


def test_slippage_grows_with_size_over_volume_and_is_capped():
    config = SimulationConfig()
    assert config.slippage(4e6, 1e9) == pytest.approx(2 * config.slippage(1e6, 1e9))
    assert config.slippage(1e6, 1e8) > config.slippage(1e6, 1e9)
    assert config.slippage(1e12, 1.0) == config.max_slippage
    assert config.slippage(1e6, 0.0) == config.max_slippage
    bars_deep, bars_thin = flat_bars(5), flat_bars(5, quote_volume=1e6)
    for bars in (bars_deep, bars_thin):
        set_low(bars, 30, 85.0)
        set_low(bars, 31, 90.0)
    deep = simulate(bars_deep, path(5), BONUS, CONFIG).fills.iloc[0]
    thin = simulate(bars_thin, path(5), BONUS, CONFIG).fills.iloc[0]
    assert thin["fill_price"] < deep["fill_price"] and thin["seized"] > deep["seized"]


def test_simulate_counts_a_liquidation_by_an_lt_cut_at_an_unchanged_price():
    lt_cut = path(5, max_ltv=0.75, lt=[0.85, 0.85, 0.70, 0.70, 0.70])
    sim = simulate(flat_bars(5), lt_cut, BONUS, CONFIG)
    induced = sim.positions[sim.positions["parameter_induced"]]
    assert list(induced["open_day"]) == [START, START + pd.Timedelta("1D")]
    assert sim.fills.iloc[0]["detected"] == START + pd.Timedelta("2D")
    assert run_metrics(sim, lt_cut)["parameter_induced_liquidations"] == 2


def test_simulate_does_not_count_an_lt_cut_after_an_adverse_move_or_one_that_leaves_positions_healthy():
    bars = flat_bars(5)
    bars.loc[START + pd.Timedelta("1D"):, ["open", "high", "low", "close"]] = 95.0  # above 0.75/0.85 * 100
    lt_cut = path(5, max_ltv=0.75, lt=[0.85, 0.85, 0.70, 0.70, 0.70])
    sim = simulate(bars, lt_cut, BONUS, CONFIG)
    first = sim.positions.iloc[0]
    assert first["liquidations"] > 0 and not first["parameter_induced"]  # opened at 100, cut at 95
    assert sim.positions.iloc[1]["parameter_induced"]  # opened at 95, cut at 95
    small_cut = path(5, max_ltv=0.75, lt=[0.85, 0.85, 0.80, 0.80, 0.80])
    assert simulate(flat_bars(5), small_cut, BONUS, CONFIG).fills.empty


def test_simulate_opens_cohorts_whose_holding_period_fits_and_repays_them():
    sim = simulate(flat_bars(6), path(6), BONUS, SimulationConfig(ltv_fractions=(0.5, 1.0), holding_days=3))
    assert list(sim.positions["open_day"].unique()) == list(pd.date_range(START, periods=3, freq="1D"))
    assert sim.fills.empty and (sim.positions["bad_debt"] == 0).all()


@dataclass(frozen=True)
class ScriptedPolicy:
    """A policy publishing given values by day number, stepping lt from the stored value if `step`."""

    name: str
    guards: Guards
    values: Mapping[int, Mapping[str, float]]
    step: float | None = None
    start: pd.Timestamp = field(default=START)

    def propose(self, day: pd.Timestamp, stored: Stored | None) -> Mapping[str, float] | None:
        values = self.values.get((day - self.start).days)
        if values is None or self.step is None or stored is None:
            return values
        lt = stored.values["lt"] + float(np.clip(values["lt"] - stored.values["lt"], -self.step, self.step))
        return {**values, "lt": lt}


FALLBACK = Listing(max_ltv=0.6, lt=0.7, bonus=BONUS, source="test")
CALM = {"vol": 0.02, "var99": 0.05, "es99": 0.06, "max_ltv": 0.8, "lt": 0.85}


def test_replay_stale_values_send_borrows_to_the_fallback_and_liquidations_after_the_grace_period():
    guards = lending_guards(max_ltv_loosen_bp=100, lt_step_bp=100)
    crash = {**CALM, "max_ltv": 0.5, "lt": 0.6}  # an lt cut of 0.25 is rejected by the 100 bp step
    policy = ScriptedPolicy("scripted", guards, {d: CALM if d < 3 else crash for d in range(12)})
    days = pd.date_range(START, periods=12, freq="1D")
    r = replay(policy, days, FALLBACK, MarketRules(staleness_days=3, grace_days=3))
    assert r.rejected.tolist() == [False] * 3 + [True] * 9
    assert r.frozen.tolist() == r.rejected.tolist()
    # last accepted epoch is day 2: stale from day 5, fallback LT from day 8
    assert r.stale.tolist() == [False] * 5 + [True] * 7
    assert r.max_ltv[:5] == pytest.approx([0.8] * 5) and r.max_ltv[5:] == pytest.approx([0.6] * 7)
    assert r.lt[:8] == pytest.approx([0.85] * 8) and r.lt[8:] == pytest.approx([0.7] * 4)
    assert r.rejection_reasons == {"lt": 9}


def test_replay_frozen_days_include_a_stateful_policy_catching_up_after_a_rejection():
    guards = lending_guards(max_ltv_loosen_bp=100, lt_step_bp=600)  # the policy steps 500 bp at most
    spike = {**CALM, "vol": 7.0, "lt": 0.76}  # vol above the forecast bound (6.5535) rejects day 2
    values = {0: CALM, 1: CALM, 2: spike, **{d: {**CALM, "lt": 0.76} for d in range(3, 8)}}
    policy = ScriptedPolicy("stepper", guards, values, step=0.05)
    r = replay(policy, pd.date_range(START, periods=8, freq="1D"), FALLBACK)
    assert int(r.rejected.sum()) == 1 and r.rejected[2]
    assert np.flatnonzero(r.frozen).tolist() == [2, 3]  # the chain reaches 0.76 a day after the shadow
    assert r.lt[3:] == pytest.approx([0.80, 0.76, 0.76, 0.76, 0.76], abs=1e-6)


def test_replay_static_listing_is_never_rejected_frozen_or_stale():
    days = pd.date_range(START, periods=10, freq="1D")
    r = replay(StaticPolicy("static", FALLBACK), days, FALLBACK)
    assert not (r.rejected.any() or r.frozen.any() or r.stale.any())
    assert r.max_ltv == pytest.approx([0.6] * 10)


def test_replay_refuses_days_that_are_not_consecutive_utc_days():
    with pytest.raises(ValueError):
        replay(StaticPolicy("static", FALLBACK), pd.DatetimeIndex([START, START + pd.Timedelta("2D")]), FALLBACK)


def run_metrics(sim, daily: pd.DataFrame) -> dict:
    """The window metrics of `sim` with the replay of a governance-set policy publishing `daily`."""
    values = {i: {"max_ltv": row.max_ltv, "lt": row.lt} for i, row in enumerate(daily.itertuples())}
    r = replay(ScriptedPolicy("p", NoGuards(), values), daily.index, FALLBACK)
    np.testing.assert_allclose(r.lt, daily["lt"], atol=1e-6)
    return PolicyRun(r, sim).metrics(Window("all", daily.index[0], daily.index[-1]))
