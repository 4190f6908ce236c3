"""Drift rules: a calibrated model stays quiet, a broken one fires, and the PSI sees a shifted input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.drift import DriftRules, drift_report, psi, score_update


def frame(days: int, hit_every: int, qlike: float, seed: int = 0) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=days, freq="1D", tz="UTC")
    hits = np.zeros(days)
    hits[::hit_every] = 1.0
    return pd.DataFrame({"qlike": qlike + np.random.default_rng(seed).normal(0, 0.01, days), "var_breach": hits},
                        index=index)


def test_score_update_marks_a_breach_and_the_excess():
    calm = score_update(vol=0.02, var99=0.05, es99=0.06, ret=-1.0, rv=4.0)
    crash = score_update(vol=0.02, var99=0.05, es99=0.06, ret=-10.0, rv=100.0)
    assert calm["var_breach"] == 0.0 and calm["qlike"] == pytest.approx(0.0, abs=1e-12)
    assert crash["var_breach"] == 1.0 and crash["excess_loss"] == pytest.approx(0.05)


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(1)
    reference = rng.normal(0, 1, 5000)
    assert psi(reference, rng.normal(0, 1, 2000)) < 0.02
    assert psi(reference, rng.normal(1.5, 1, 2000)) > 0.25


def test_a_calibrated_model_fires_nothing_and_a_broken_one_fires():
    rules = DriftRules(window=250, min_days=60)
    inputs = pd.DataFrame({"pkvol_1d": np.random.default_rng(2).normal(3, 1, 300)},
                          index=pd.date_range("2024-01-01", periods=300, freq="1D", tz="UTC"))
    reference = pd.DataFrame({"pkvol_1d": np.random.default_rng(3).normal(3, 1, 3000)})
    good = frame(300, 100, 0.30)
    baseline = {"ewma": pd.Series(0.35, index=good.index), "har": pd.Series(0.33, index=good.index)}
    report = drift_report("BTC", good, baseline, inputs, reference, rules)
    assert not report.drifting and report.days == 250 and report.qlike_ratio < 1
    broken = frame(300, 10, 0.40)  # 10% breaches at a 1% level and worse than the baselines
    fired = drift_report("BTC", broken, baseline, inputs * 2, reference, rules).fired
    assert any(f.startswith("kupiec_p") for f in fired) and any(f.startswith("qlike_ratio") for f in fired)
    assert any(f.startswith("psi[pkvol_1d]") for f in fired)


def test_too_few_days_judge_nothing():
    report = drift_report("ETH", frame(30, 5, 0.5), {}, pd.DataFrame({"x": []}), pd.DataFrame({"x": [1.0]}))
    assert report.kupiec_p is None and not report.drifting
