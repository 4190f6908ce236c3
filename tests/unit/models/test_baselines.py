"""Baselines against known values: EWMA by hand, arch's own fits, OLS normal equations, closed-form tails."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from scipy import stats

from models.baselines import EWMA, GARCH, GJR, HAR, VARIANCE_FLOOR, gaussian_tails, har_regressors, student_t_tails


@pytest.fixture(scope="module")
def days() -> pd.DataFrame:
    from models.data import market_days

    return market_days("BTC").loc["2022-01-01":"2024-06-30"]


@pytest.fixture(scope="module")
def split(days):
    start = pd.Timestamp("2024-01-01", tz="UTC")
    return days.loc[days.index < start], days.index[days.index >= start]


def test_ewma_matches_the_recursion_by_hand(days, split):
    history, targets = split
    result = EWMA().fit(history)
    r = days["ret"].to_numpy()
    variance = r[:30].var()
    by_hand = {}
    for t in range(len(r) - 1):
        variance = 0.94 * variance + 0.06 * r[t] ** 2
        by_hand[days.index[t + 1]] = variance
    forecast = result.forecast(days, targets)
    np.testing.assert_allclose(forecast.variance, [by_hand[d] for d in targets], rtol=1e-12)
    assert result.half_life == pytest.approx(np.log(0.5) / np.log(0.94))
    np.testing.assert_allclose(forecast.var99, 2.3263478740 * np.sqrt(forecast.variance), rtol=1e-9)


@pytest.mark.parametrize("spec, o", [(GARCH(), 0), (GJR(), 1)])
def test_garch_family_matches_arch(days, split, spec, o):
    history, targets = split
    result = spec.fit(history)
    reference = arch_model(history["ret"], mean="Constant", vol="GARCH", p=1, o=o, q=1, dist="t",
                           rescale=False).fit(disp="off")
    np.testing.assert_allclose(result.params.to_numpy(), reference.params.to_numpy(), rtol=1e-6)
    assert result.loglikelihood == pytest.approx(reference.loglikelihood)
    assert 0 < result.persistence <= 1 + 1e-9  # arch bounds alpha + beta (+ gamma/2) by 1
    # first out-of-sample day: the GARCH recursion from the last in-sample residual and variance
    p = result.params
    eps, sigma2 = history["ret"].iloc[-1] - p["mu"], reference.conditional_volatility.iloc[-1] ** 2
    expected = p["omega"] + (p["alpha[1]"] + p.get("gamma[1]", 0.0) * (eps < 0)) * eps**2 + p["beta[1]"] * sigma2
    forecast = result.forecast(days, targets)
    assert forecast.variance[0] == pytest.approx(expected, rel=1e-8)


def test_student_t_tails_against_simulation():
    nu = 4.5
    var99, es99 = student_t_tails(np.array([4.0]), nu, mean=0.1)
    draws = 2.0 * np.sqrt((nu - 2) / nu) * stats.t.rvs(nu, size=2_000_000, random_state=1) + 0.1
    loss = -draws
    q = np.quantile(loss, 0.99)
    assert var99[0] == pytest.approx(q, rel=5e-3)
    assert es99[0] == pytest.approx(loss[loss >= q].mean(), rel=1e-2)


def test_gaussian_tails_closed_form():
    var99, es99 = gaussian_tails(np.array([1.0, 4.0]))
    np.testing.assert_allclose(var99, [2.3263479, 4.6526957], rtol=1e-7)
    np.testing.assert_allclose(es99, [2.6652142, 5.3304284], rtol=1e-7)


def test_har_is_ols_on_daily_weekly_monthly_rv(days, split):
    history, targets = split
    result = HAR().fit(history)
    x = har_regressors(history)
    y = history["rv"].shift(-1).reindex(x.index)
    keep = y.notna()
    design = x.loc[keep].to_numpy()
    beta = np.linalg.solve(design.T @ design, design.T @ y.loc[keep].to_numpy())
    np.testing.assert_allclose(result.beta, beta, rtol=1e-8)
    assert x["rv_w"].iloc[0] == pytest.approx(history["rv"].iloc[17:22].mean())
    assert x["rv_m"].iloc[0] == pytest.approx(history["rv"].iloc[:22].mean())
    assert 0 < result.rsquared < 1 and result.bse.shape == (4,)
    forecast = result.forecast(days, targets)
    day = targets[10]
    row = har_regressors(days).loc[day - pd.Timedelta("1D")].to_numpy()
    assert forecast.variance[10] == pytest.approx(max(row @ beta, VARIANCE_FLOOR), rel=1e-8)


def test_har_never_crosses_segments():
    frame = pd.DataFrame({"rv": np.arange(1.0, 61.0), "ret": 0.0,
                          "segment": [0] * 30 + [1] * 30},
                         index=pd.date_range("2024-01-01", periods=60, freq="D", tz="UTC"))
    x = har_regressors(frame)
    assert list(x.index.day[:1]) == [22] and x.index[9] == pd.Timestamp("2024-02-21", tz="UTC")
