"""Backtest statistics against hand-computed values and their defining properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from models.backtest import (
    acerbi_szekely_z2,
    christoffersen_independence,
    kupiec_pof,
    mcneil_frey_p,
    qlike,
    walk_forward_folds,
)


def test_qlike_is_zero_at_the_truth_and_penalises_under_forecasts_more():
    rv = np.array([1.0, 4.0, 9.0])
    assert qlike(rv, rv) == 0.0
    assert qlike(rv, rv / 2) > qlike(rv, rv * 2) > 0


def test_kupiec_by_hand():
    hits = np.zeros(1000, dtype=bool)
    hits[:20] = True
    lr = -2 * (980 * np.log(0.99) + 20 * np.log(0.01) - 980 * np.log(0.98) - 20 * np.log(0.02))
    assert kupiec_pof(hits) == pytest.approx(stats.chi2.sf(lr, 1))
    hits[10:] = False
    assert kupiec_pof(hits) == pytest.approx(1.0)
    assert kupiec_pof(np.zeros(1000, dtype=bool)) == pytest.approx(stats.chi2.sf(-2 * 1000 * np.log(0.99), 1))


def test_christoffersen_detects_clustering():
    spread = np.zeros(1000, dtype=bool)
    spread[::100] = True
    clustered = np.zeros(1000, dtype=bool)
    clustered[500:510] = True
    assert christoffersen_independence(spread) > 0.5
    assert christoffersen_independence(clustered) < 1e-6
    # by hand for a small sequence: transitions n00=3, n01=2, n10=2, n11=1
    seq = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0], dtype=bool)
    pi, pi0, pi1 = 3 / 8, 2 / 5, 1 / 3
    lr = -2 * ((5 * np.log(1 - pi) + 3 * np.log(pi))
               - (3 * np.log(1 - pi0) + 2 * np.log(pi0) + 2 * np.log(1 - pi1) + np.log(pi1)))
    assert christoffersen_independence(seq) == pytest.approx(stats.chi2.sf(lr, 1))


def test_es_tests_on_a_correct_and_an_understated_model():
    rng = np.random.default_rng(3)
    loss = rng.standard_normal(200_000)
    var99, es99 = np.full(loss.size, 2.3263479), np.full(loss.size, 2.6652142)
    assert abs(acerbi_szekely_z2(loss, var99, es99)) < 0.05
    assert acerbi_szekely_z2(loss, var99, es99 * 0.8) > 0.2
    vol = np.ones(loss.size)
    assert mcneil_frey_p(loss, var99, es99 * 0.8, vol) < 0.01
    assert mcneil_frey_p(loss, var99, es99, vol) > 0.05


def test_yearly_folds_end_with_the_data():
    days = pd.date_range("2018-01-01", "2025-06-30", freq="D", tz="UTC")
    folds = walk_forward_folds(days)
    assert folds[0][0] == pd.Timestamp("2021-01-01", tz="UTC")
    assert [f[0].year for f in folds] == [2021, 2022, 2023, 2024, 2025]
    assert folds[-1][1] == pd.Timestamp("2025-07-01", tz="UTC")
