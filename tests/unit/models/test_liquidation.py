"""Liquidation probabilities: the first-passage formula, its limits, and the calibration backtest's
shape and done-when on the bundled history (the slow part)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from models.liquidation import HORIZONS_HOURS, LiquidationModel, nu_for_var_multiplier, observed_passage, reliability
from models.versions import PRODUCTION, load_card


def test_gaussian_first_passage_is_twice_the_end_point_probability():
    model = LiquidationModel()
    vol, h = 0.03, 1.05
    expected = 2 * stats.norm.cdf(-np.log(h) / vol)
    assert model.probability(h, 24, vol) == pytest.approx(expected)
    # four times the horizon doubles σ: the same probability as half the log-distance
    assert model.probability(h, 96, vol) == pytest.approx(2 * stats.norm.cdf(-np.log(h) / (2 * vol)))


def test_probability_is_monotone_and_bounded():
    model = LiquidationModel(nu=6.0, vol_scale=0.95)
    hf = np.array([1.0, 1.01, 1.05, 1.2, 2.0])
    p = model.probability(hf, 24, 0.04)
    assert p[0] == 1.0 and np.all(np.diff(p) < 0) and np.all(p >= 0)
    horizons = [model.probability(1.1, h, 0.04) for h in (1, 4, 24, 72, 168)]
    assert np.all(np.diff(horizons) > 0)
    assert model.probability(1.1, 24, 0.08) > model.probability(1.1, 24, 0.04)
    with pytest.raises(ValueError):
        model.probability(0.0, 24, 0.04)


def test_fat_tails_raise_far_barriers_and_probabilities_never_fall_with_the_horizon():
    fat, thin = LiquidationModel(nu=5.0), LiquidationModel()
    assert fat.probability(1.3, 24, 0.03) > thin.probability(1.3, 24, 0.03)
    # a first passage within a longer horizon includes every path of a shorter one, far tails too
    shipped = LiquidationModel.from_card(load_card(*PRODUCTION))
    for h in (1.02, 1.1, 1.5, 3.0):
        p = [float(shipped.probability(h, hours, 0.0197)) for hours in HORIZONS_HOURS]
        assert all(later >= earlier for earlier, later in zip(p, p[1:])), (h, p)


def test_nu_matches_the_var_multiplier():
    nu = nu_for_var_multiplier(2.52)
    assert stats.t.ppf(0.99, nu) * np.sqrt((nu - 2) / nu) == pytest.approx(2.52, abs=1e-6)
    assert nu_for_var_multiplier(2.0) == float("inf") and nu_for_var_multiplier(3.5) == 4.0


def test_observed_passage_reads_the_path_not_the_end_point():
    import pandas as pd

    index = pd.date_range("2024-01-01", periods=48, freq="1h", tz="UTC")
    price = np.full(48, 100.0)
    bars = pd.DataFrame({"open": price, "high": price, "low": price.copy(), "close": price, "volume": 1.0}, index=index)
    bars.iloc[5, bars.columns.get_loc("low")] = 90.0  # a wick that recovers within the hour
    days = pd.DatetimeIndex([index[0], index[24]])
    out = observed_passage(bars, days, [1.05, 1.2], 24)
    assert out[0].tolist() == [1.0, 0.0] and out[1].tolist() == [0.0, 0.0]
    assert np.isnan(observed_passage(bars, days[1:], [1.05], 48)).all()  # the horizon runs past the data


def test_reliability_bins_count_every_sample():
    p = np.array([0.001, 0.005, 0.3, 0.35, 0.9])
    y = np.array([0, 0, 1, 0, 1.0])
    rows = reliability(p, y)
    assert sum(n for _, _, n in rows) == 5 and rows[0] == [0.003, 0.0, 2]


@pytest.mark.slow  # the walk-forward forecasts from 2020 (cached under .zkrisk/forecasts/ once built)
def test_calibration_backtest_beats_the_baseline_and_is_reliable(production_version):
    from models.liquidation import calibration_backtest

    report = calibration_backtest(["BTC", "ETH"], production_version.model_id, production_version.version,
                                  horizons=(24,)).to_json()
    for market in ("BTC", "ETH"):
        day = report["markets"][market]["horizons"]["24h"]
        assert day["brier"] < day["brier_baseline"]
        for predicted, observed, count in day["reliability"]:
            if count >= 200:
                assert abs(predicted - observed) <= 0.05, (market, predicted, observed, count)
    check = report["aave_v3_rank_correlation"]
    assert check["days"] > 100 and set(check["spearman"]) == {"BTC", "ETH", "mean"}
