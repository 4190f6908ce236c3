"""Compact, ZK-friendly risk forecasters (Linear and ReLU only) and the graph that is proved.

Every forecaster maps the return window (percent) of N markets, [N, W], to horizon forecasts in
fractions, [N, 3] = (vol, var99, es99), with vol ≥ 0, var99 ≥ 0 and es99 ≥ var99 by construction.
`ProvedGraph` is what gets exported: K input tensors (one per market, each hashed separately, so each
market has its own commitment) → drop the meta fields → forecaster → parameter mapping → [K, 5].
"""

from __future__ import annotations

import torch

from models.mapping import MappingConfig, ParameterMapping
from models.spec import META_FIELDS

PERCENT = 0.01


class WindowMLP(torch.nn.Module):
    """MLP over the raw returns and their absolute values: |r| = relu(r) + relu(−r) inside the graph."""

    def __init__(self, window: int, hidden: int = 16) -> None:
        super().__init__()
        self.window, self.hidden = window, hidden
        self.body = torch.nn.Sequential(torch.nn.Linear(2 * window, hidden), torch.nn.ReLU(),
                                        torch.nn.Linear(hidden, 3))

    def forward(self, returns: torch.Tensor) -> torch.Tensor:
        magnitude = torch.relu(returns) + torch.relu(-returns)
        raw = self.body(torch.cat([returns, magnitude], dim=1))
        vol = torch.relu(raw[:, 0:1])
        var99 = torch.relu(raw[:, 1:2])
        es99 = var99 + torch.relu(raw[:, 2:3])
        return PERCENT * torch.cat([vol, var99, es99], dim=1)


class RiskModel(torch.nn.Module):
    """Forecaster + mapping: [N, W] returns → [N, 5] (vol, var99, es99, lt, cr)."""

    def __init__(self, forecaster: torch.nn.Module, mapping: MappingConfig) -> None:
        super().__init__()
        self.forecaster = forecaster
        self.mapping = ParameterMapping(mapping)

    def forward(self, returns: torch.Tensor) -> torch.Tensor:
        return self.mapping(self.forecaster(returns))


class ProvedGraph(torch.nn.Module):
    """K per-market input vectors [1, F] (F = meta + window) → [K, 5]."""

    def __init__(self, model: RiskModel, k: int) -> None:
        super().__init__()
        self.model, self.k = model, k

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        batch = torch.cat(inputs, dim=0)
        return self.model(batch[:, len(META_FIELDS):])
