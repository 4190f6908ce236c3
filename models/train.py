"""Training of the compact forecasters on real daily data, with a chronological split.

Losses (returns r and loss L = −r as fractions, τ = 0.99):
  vol:   Gaussian negative log-likelihood   log σ² + r² / σ²
  var99: pinball (quantile) loss            (L − q)(τ − 1{L < q})
  es99:  Rockafellar–Uryasev target         (e − [q + (L − q)⁺ / (1 − τ)])², q held fixed
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from models.data import DATA_DIR, load_daily
from models.features import rolling_windows
from models.mapping import MappingConfig
from models.nets import RiskModel, WindowMLP
from models.versions import ModelVersion, save_version, sha256_file

TAU = 0.99


@dataclass(frozen=True)
class TrainConfig:
    markets: tuple[str, ...] = ("BTC", "ETH")
    window: int = 30
    hidden: int = 16
    train_end: str = "2022-12-31"
    epochs: int = 600
    learning_rate: float = 3e-3
    seed: int = 7


def supervised_windows(symbol: str, window: int) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """Windows [n, W] (percent) with the next-day return (fraction) each one forecasts."""
    frame = load_daily(symbol)
    windows, ends = rolling_windows(frame, window)
    next_return = np.log(frame["close"]).diff().shift(-1).loc[ends].to_numpy()
    keep = np.isfinite(next_return)
    return windows[keep], next_return[keep], ends[keep]


def risk_loss(forecast: torch.Tensor, realised: torch.Tensor) -> torch.Tensor:
    vol, var99, es99 = forecast[:, 0], forecast[:, 1], forecast[:, 2]
    variance = vol.square() + 1e-6
    nll = (torch.log(variance) + realised.square() / variance).mean()
    loss = -realised
    pinball = ((loss - var99) * (TAU - (loss < var99).float())).mean()
    es_target = var99.detach() + torch.relu(loss - var99.detach()) / (1 - TAU)
    es_fit = (es99 - es_target).square().mean()
    return nll + 100.0 * pinball + 10.0 * es_fit


def train(config: TrainConfig = TrainConfig(), mapping: MappingConfig = MappingConfig(),
          model_id: str = "window-mlp", version: str = "0.1.0") -> ModelVersion:
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    cutoff = pd.Timestamp(config.train_end, tz="UTC")
    parts = [supervised_windows(m, config.window) for m in config.markets]
    x = np.concatenate([w[t <= cutoff] for w, _, t in parts])
    y = np.concatenate([r[t <= cutoff] for _, r, t in parts])
    model = RiskModel(WindowMLP(config.window, config.hidden), mapping)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    for _ in range(config.epochs):
        optimiser.zero_grad()
        objective = risk_loss(model.forecaster(xt), yt)
        objective.backward()
        optimiser.step()
    model.eval()
    data_files = {m: f"binance_spot_daily/{m}USDT_1d.csv" for m in config.markets}
    card = {
        "architecture": "WindowMLP",
        "architecture_args": {"window": config.window, "hidden": config.hidden},
        "window": config.window,
        "input_size": 2 + config.window,
        "input_layout": ["market_id", "epoch"] + [f"r_t-{config.window - 1 - i}" for i in range(config.window)],
        "input_units": "daily log returns in percent, oldest first",
        "horizon_days": 1,
        "outputs": ["vol", "var99", "es99", "lt", "cr"],
        "mapping": mapping.to_dict(),
        "parameter_count": sum(p.numel() for p in model.parameters()),
        "train": {"markets": list(config.markets), "end": config.train_end, "epochs": config.epochs,
                  "seed": config.seed, "samples": int(len(x)), "final_loss": float(objective.detach())},
        "data": {m: {"file": f, "sha256": sha256_file(DATA_DIR / f),
                     "first": str(parts[i][2][0].date()), "last": str(parts[i][2][-1].date())}
                 for i, (m, f) in enumerate(data_files.items())},
    }
    return save_version(model, model_id, version, card)
