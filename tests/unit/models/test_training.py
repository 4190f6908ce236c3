"""Training: `zkrisk train` reproduces the shipped weights and walk-forward scores (within the
cross-CPU tolerances of tests/float_tolerance.py); the tail fit minimises FZ0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import models.versions as versions
from float_tolerance import assert_forecasts_match, assert_scores_match
from models.data import market_days
from models.train import ForecasterConfig, Samples, fit_tail_multipliers, fz0_loss, train

def test_score_comparison_tolerates_last_digits_and_an_edge_breach_but_not_real_changes():
    expected = {"BTC": {"test_start": "2021-01-01", "scores": {"garch": {
        "qlike": 0.477336761878782, "hits": 16, "kupiec_p": 0.92, "es_mcneil_frey_p": 0.98}}}}
    moved = {"BTC": {"test_start": "2021-01-01", "scores": {"garch": {
        "qlike": 0.47733663085197, "hits": 16, "kupiec_p": 0.9201, "es_mcneil_frey_p": 0.9805}}}}
    edge_breach = {"BTC": {"test_start": "2021-01-01", "scores": {"garch": {
        "qlike": 0.4774, "hits": 17, "kupiec_p": 0.71, "es_mcneil_frey_p": 0.93}}}}
    assert_scores_match(moved, expected)
    assert_scores_match(edge_breach, expected)
    for change in ({"qlike": 0.4790}, {"hits": 18}, {"kupiec_p": 0.90}, {"es_mcneil_frey_p": 0.95}):
        changed = {"BTC": {"test_start": "2021-01-01", "scores": {"garch": {**moved["BTC"]["scores"]["garch"], **change}}}}
        with pytest.raises(AssertionError):
            assert_scores_match(changed, expected)


@pytest.mark.slow  # six fits and the baselines' walk-forward (about a minute)
def test_training_reproduces_the_shipped_weights(tmp_path, monkeypatch):
    shipped = versions.load_version(*versions.SHIPPED)
    config = ForecasterConfig.from_dict(shipped.card["train_config"])
    monkeypatch.setattr(versions, "CIRCUITS_DIR", tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stored, backtest = train(config, shipped.policy, *versions.SHIPPED)
    finally:
        torch.set_num_threads(threads)
    assert stored.directory.parent.parent == tmp_path
    assert stored.card["policy"] == shipped.card["policy"] and stored.card["guards_bp"] == shipped.card["guards_bp"]
    for market in ("BTC", "ETH"):
        windows = torch.as_tensor(Samples.of(market_days(market), shipped.window, config.feature_set).features,
                                  dtype=torch.float32)
        assert_forecasts_match(stored.model.forecaster, shipped.model.forecaster, windows)
    assert_scores_match(stored.card["walk_forward"], shipped.card["walk_forward"])


def test_tail_multipliers_minimise_fz0():
    rng = np.random.default_rng(5)
    vol = rng.uniform(1, 4, 50_000)
    loss = vol * rng.standard_t(4, 50_000) / np.sqrt(2)  # unit-variance t(4) scaled by vol
    q, e = fit_tail_multipliers(vol, loss)
    z = loss / vol
    assert q == pytest.approx(np.quantile(z, 0.99), rel=0.03)
    assert e == pytest.approx(z[z >= np.quantile(z, 0.99)].mean(), rel=0.05)
    assert fz0_loss(loss, q * vol, e * vol) < fz0_loss(loss, 0.9 * q * vol, e * vol)
