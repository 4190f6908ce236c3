"""Training: `zkrisk train` reproduces the shipped version bit for bit; the tail fit minimises FZ0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import models.versions as versions
from models.train import ForecasterConfig, fit_tail_multipliers, fz0_loss, train

@pytest.mark.slow  # six fits and the baselines' walk-forward (about a minute)
def test_training_reproduces_the_shipped_weights(tmp_path, monkeypatch):
    shipped = versions.load_version(*versions.SHIPPED)
    monkeypatch.setattr(versions, "CIRCUITS_DIR", tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stored, backtest = train(ForecasterConfig.from_dict(shipped.card["train_config"]),
                                 shipped.mapping, *versions.SHIPPED)
    finally:
        torch.set_num_threads(threads)
    assert stored.directory.parent.parent == tmp_path
    assert stored.card["weights_sha256"] == shipped.card["weights_sha256"]
    assert stored.card["walk_forward"] == shipped.card["walk_forward"]


def test_tail_multipliers_minimise_fz0():
    rng = np.random.default_rng(5)
    vol = rng.uniform(1, 4, 50_000)
    loss = vol * rng.standard_t(4, 50_000) / np.sqrt(2)  # unit-variance t(4) scaled by vol
    q, e = fit_tail_multipliers(vol, loss)
    z = loss / vol
    assert q == pytest.approx(np.quantile(z, 0.99), rel=0.03)
    assert e == pytest.approx(z[z >= np.quantile(z, 0.99)].mean(), rel=0.05)
    assert fz0_loss(loss, q * vol, e * vol) < fz0_loss(loss, 0.9 * q * vol, e * vol)
