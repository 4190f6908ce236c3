"""The options margin backtest's methods on hand-checkable books, its statistics and report shape."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from models.margin_backtest import (
    BASELINES,
    DERIBIT_PM_STATIC,
    DERIBIT_STANDARD,
    DERIVE_PMRM_STATIC,
    EWMA_SCALED,
    PORTFOLIOS,
    Book,
    Leg,
    MarginBacktest,
    MarketInputs,
    MethodPath,
    delta_strike,
    deribit_standard_margin,
    derive_pmrm_margin,
    grid_margin,
    run_market,
)
from models.options import SHORT_CONTINGENCY, ScenarioGrid, bs_call, bs_delta, bs_put
from models.spec import MARKETS

DAY = 86_400
NOW = 1_750_000_000
#: vol small enough that every option is worth its intrinsic value to many digits
NO_VOL = 1e-9
SHIPPED = "har-margin@1.0.0"


def book(*legs: Leg, days: int = 30) -> Book:
    return Book(tuple(legs), NOW, NOW + days * DAY)


# ----------------------------------------------------------------------------- deribit-standard

def test_deribit_standard_short_otm_call_uses_the_im_floor() -> None:
    margin = deribit_standard_margin(book(Leg("call", 110.0, -1.0)), 100.0, NO_VOL, NOW)
    # 0.15 - 10/100 = 0.05 < 0.10 floor; mark 0
    assert margin.initial == pytest.approx(10.0)
    assert margin.maintenance == pytest.approx(7.5)


def test_deribit_standard_short_itm_put_adds_its_mark() -> None:
    margin = deribit_standard_margin(book(Leg("put", 120.0, -2.0)), 100.0, NO_VOL, NOW)
    # OTM amount 0 → 0.15 U + mark 20, per contract, two contracts
    assert margin.initial == pytest.approx(2 * (15.0 + 20.0))
    assert margin.maintenance == pytest.approx(2 * (7.5 + 20.0))


def test_deribit_standard_long_option_at_mark_and_underlying_as_future() -> None:
    margin = deribit_standard_margin(book(Leg("call", 90.0, 1.0), Leg("underlying", 0.0, -1.0)), 100.0, NO_VOL, NOW)
    assert margin.initial == pytest.approx(10.0 + 10.0)
    assert margin.maintenance == pytest.approx(10.0 + 3.0)


# ----------------------------------------------------------------------------- grids

def test_derive_pmrm_worst_scenario_is_the_far_spot_point_with_vol_up() -> None:
    short_call = book(Leg("call", 100.0, -1.0))
    tau = 30 / 365
    margin = derive_pmrm_margin(short_call, 100.0, 0.5, NOW)
    # 30 days: vol multiplier 1, vol up 0.5 * 1.6 = 0.8 at spot 120
    expected = float(bs_call(120.0, 100.0, 0.8, tau) - bs_call(100.0, 100.0, 0.5, tau))
    assert margin.initial == pytest.approx(expected, rel=1e-12)
    assert margin.maintenance == margin.initial


def test_derive_pmrm_underlying_loses_twenty_percent() -> None:
    assert derive_pmrm_margin(book(Leg("underlying", 0.0, 1.0)), 100.0, 0.5, NOW).initial == pytest.approx(20.0)
    assert derive_pmrm_margin(book(Leg("underlying", 0.0, -1.0)), 100.0, 0.5, NOW).initial == pytest.approx(20.0)


def test_static_grid_on_the_underlying_is_the_spot_shock_at_im_and_mm() -> None:
    margin = grid_margin(book(Leg("underlying", 0.0, 1.0)), 100.0, ScenarioGrid.static_grid(0.5), NOW, MARKETS["BTC"])
    assert margin.initial == pytest.approx(16.0)
    assert margin.maintenance == pytest.approx(16.0)


def test_static_grid_short_put_is_its_worst_scenario_plus_contingency() -> None:
    short_put = book(Leg("put", 100.0, -1.0))
    margin = grid_margin(short_put, 100.0, ScenarioGrid.static_grid(0.5), NOW, MARKETS["BTC"])
    # 30 days: multiplier 1; the worst IM scenario is spot 84 at the highest IM vol, one day later
    mark = float(bs_put(100.0, 100.0, 0.5, 30 / 365))
    worst_im = max(float(bs_put(84.0, 100.0, v, 29 / 365)) for v in (0.5, 0.75, 0.5 * 0.75)) - mark
    assert margin.initial == pytest.approx(worst_im + SHORT_CONTINGENCY * 100.0, rel=1e-9)


# ----------------------------------------------------------------------------- portfolios

def test_delta_strikes_have_their_delta() -> None:
    tau = 30 / 365
    call = delta_strike(100.0, 0.6, tau, 0.25, True)
    put = delta_strike(100.0, 0.6, tau, 0.25, False)
    assert float(bs_delta(100.0, call, 0.6, tau, True)) == pytest.approx(0.25, abs=1e-12)
    assert float(bs_delta(100.0, put, 0.6, tau, False)) == pytest.approx(-0.25, abs=1e-12)
    assert put < 100.0 < call


def test_delta_hedged_straddle_has_no_delta_at_the_open() -> None:
    spec = next(p for p in PORTFOLIOS if p.name == "delta-hedged-short-straddle-30d")
    opened = spec.open(100.0, 0.6, NOW)
    tau = opened.tau(NOW)
    delta = sum(leg.size * (1.0 if leg.kind == "underlying" else float(bs_delta(100.0, leg.strike, 0.6, tau,
                                                                                  leg.kind == "call")))
                for leg in opened.legs)
    assert delta == pytest.approx(0.0, abs=1e-12)
    assert [leg.kind for leg in opened.legs] == ["call", "put", "underlying"]


def test_leg_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="call, put or underlying"):
        Leg("future", 0.0, 1.0)


def _inputs(days: int, **overrides: float) -> MarketInputs:
    index = pd.date_range("2024-01-01", periods=days, freq="1D", tz="UTC")
    rng = np.random.default_rng(3)
    spot = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.03, days + 1)))
    vol = 0.5 * np.exp(np.cumsum(rng.normal(0, 0.03, days + 1)))
    frame = pd.DataFrame({"spot": spot[:-1], "spot_next": spot[1:], "vol": vol[:-1], "vol_next": vol[1:],
                          "ewma_spot": 1.0, "ewma_vol": 1.0, "spot_down": 0.05, "spot_up": 0.06, "iv_up": 0.2,
                          "iv_down": 0.1, "ref_iv": vol[:-1]}, index=index)
    for name, value in overrides.items():
        frame[name] = value
    return MarketInputs(frame)


def test_ewma_scaled_with_unit_scale_is_the_static_grid() -> None:
    paths = run_market("BTC", _inputs(5), SHIPPED, PORTFOLIOS[:2])
    for methods in paths.values():
        np.testing.assert_allclose(methods[EWMA_SCALED].initial, methods[DERIBIT_PM_STATIC].initial, rtol=1e-12)
        np.testing.assert_allclose(methods[EWMA_SCALED].maintenance, methods[DERIBIT_PM_STATIC].maintenance,
                                   rtol=1e-12)
        assert set(methods) == {*BASELINES, SHIPPED}


def test_ewma_scaled_doubles_the_underlying_shock() -> None:
    covered = [p for p in PORTFOLIOS if p.name == "covered-call-30d"]
    one = run_market("BTC", _inputs(3), SHIPPED, covered)["covered-call-30d"][EWMA_SCALED]
    two = run_market("BTC", _inputs(3, ewma_spot=2.0), SHIPPED, covered)["covered-call-30d"][EWMA_SCALED]
    assert np.all(two.initial > one.initial)


def test_insane_shipped_shocks_fall_back_to_the_static_grid() -> None:
    paths = run_market("BTC", _inputs(4, spot_down=0.6), SHIPPED, PORTFOLIOS[:1])["short-straddle-7d"]
    assert paths[SHIPPED].static_days == 4
    np.testing.assert_allclose(paths[SHIPPED].maintenance, paths[DERIBIT_PM_STATIC].maintenance, rtol=1e-12)


def test_next_day_loss_is_the_books_revaluation() -> None:
    inputs = _inputs(2)
    loss = run_market("BTC", inputs, SHIPPED, PORTFOLIOS[1:2])["short-straddle-30d"][SHIPPED].loss
    r = inputs.frame.iloc[0]
    tau0, tau1 = 30 / 365, 29 / 365
    k = r["spot"]
    before = -(bs_call(k, k, r["vol"], tau0) + bs_put(k, k, r["vol"], tau0))
    after = -(bs_call(r["spot_next"], k, r["vol_next"], tau1) + bs_put(r["spot_next"], k, r["vol_next"], tau1))
    assert loss[0] == pytest.approx(float(before - after), rel=1e-10)


# ----------------------------------------------------------------------------- statistics and report

def _kupiec(n: int, x: int, alpha: float = 0.01) -> float:
    def xlogy(a: float, b: float) -> float:
        return 0.0 if a == 0 else a * math.log(b)

    rate = x / n
    lr = -2 * (xlogy(n - x, 1 - alpha) + xlogy(x, alpha) - xlogy(n - x, 1 - rate) - xlogy(x, rate))
    return float(stats.chi2.sf(lr, 1))


@pytest.mark.parametrize("exceedances", [0, 10, 20, 40])
def test_stats_count_exceedances_and_kupiec(exceedances: int) -> None:
    n = 1000
    loss = np.zeros(n)
    loss[:exceedances] = 2.0
    path = MethodPath(initial=np.full(n, 3.0), maintenance=np.full(n, 1.0), loss=loss)
    s = path.stats(0.99)
    assert (s["days"], s["exceedances"], s["im_exceedances"]) == (n, exceedances, 0)
    assert s["exceedance_rate"] == pytest.approx(exceedances / n)
    assert s["kupiec_p"] == pytest.approx(_kupiec(n, exceedances), rel=1e-9)
    assert s["mean_margin"] == pytest.approx(1.0) and s["mean_initial_margin"] == pytest.approx(3.0)


def test_kupiec_is_one_at_the_expected_rate_and_small_far_from_it() -> None:
    exact = MethodPath(np.ones(1000), np.ones(1000), np.r_[np.full(10, 2.0), np.zeros(990)]).stats(0.99)
    assert exact["kupiec_p"] == pytest.approx(1.0)
    none = MethodPath(np.ones(1000), np.ones(1000), np.zeros(1000)).stats(0.99)
    assert none["kupiec_p"] == pytest.approx(stats.chi2.sf(-2000 * math.log(0.99), 1), rel=1e-9)
    assert none["kupiec_p"] < 1e-4


def _report(shipped_hits: int, shipped_margin: float) -> MarginBacktest:
    n = 200
    days = pd.date_range("2024-01-01", periods=n, freq="1D", tz="UTC")
    loss = np.zeros(n)
    loss[:shipped_hits] = 5.0
    paths = {name: MethodPath(np.full(n, 10.0), np.full(n, 8.0), loss) for name in BASELINES}
    paths[SHIPPED] = MethodPath(np.full(n, 4.0), np.full(n, shipped_margin), loss)
    return MarginBacktest({"BTC": {"short-straddle-7d": paths}}, {"BTC": days}, SHIPPED, 0.99, "2024-01-01",
                          PORTFOLIOS[:1])


def test_json_has_the_issue_shape(tmp_path) -> None:
    report = _report(shipped_hits=2, shipped_margin=3.0)
    report.write(tmp_path / "r.json", tmp_path / "r.md", tmp_path / "png")
    data = json.loads((tmp_path / "r.json").read_text())
    market = data["markets"]["BTC"]
    assert market["shipped_method"] == SHIPPED
    methods = market["portfolios"]["short-straddle-7d"]["methods"]
    assert set(methods) == {DERIBIT_STANDARD, DERIBIT_PM_STATIC, DERIVE_PMRM_STATIC, EWMA_SCALED, SHIPPED}
    for entry in methods.values():
        assert isinstance(entry["days"], int) and isinstance(entry["exceedances"], int)
        for key in ("exceedance_rate", "kupiec_p", "mean_margin"):
            assert isinstance(entry[key], float)
    assert methods[SHIPPED]["exceedances"] == 2 and methods[DERIBIT_PM_STATIC]["exceedances"] == 0
    assert market["done_when"]["short-straddle-7d"]["passed"] is True
    assert "flat smile" in (tmp_path / "r.md").read_text()
    assert (tmp_path / "png" / "options_margin_BTC.png").stat().st_size > 0


@pytest.mark.parametrize(("hits", "margin", "failed"), [(6, 3.0, "exceedance_rate"), (0, 3.0, "kupiec_p"),
                                                       (2, 9.0, "mean_margin_vs_deribit_pm")])
def test_done_when_names_the_failed_check(hits: int, margin: float, failed: str) -> None:
    done = _report(hits, margin).done_when()["BTC"]["short-straddle-7d"]
    assert done["passed"] is False and done[failed] is False
    assert "fails for short-straddle-7d" in _report(hits, margin).markdown()
