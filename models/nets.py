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


# --- Forecasters over realised features: input [N, 2W] = [rvol_1..rvol_W, ret_1..ret_W] (percent) ------

#: Volatility floor (percent per day) added after the last ReLU: a zero variance forecast would make
#: the QLIKE loss and VaR meaningless; no day in the data comes close (min realised vol 0.31%).
VOL_FLOOR = 0.2


class TailHead(torch.nn.Module):
    """vol (percent) → (vol, var99, es99) in fractions: VaR and ES as fixed multiples of vol.

    The multipliers are fitted after the volatility network by minimising the Fissler–Ziegel FZ0 loss
    (a strictly consistent joint score for VaR and ES), i.e. filtered historical simulation with a
    proper score. A scale family keeps the tails robust: only two numbers come from the rare tail.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("multipliers", torch.tensor([1.0, 2.33, 2.67]))

    def forward(self, vol: torch.Tensor) -> torch.Tensor:
        return PERCENT * vol * self.multipliers


def har_aggregation(window: int) -> torch.Tensor:
    """Fixed weights [5, 2W]: daily, weekly and monthly mean realised vol; last return; weekly mean return."""
    weights = torch.zeros(5, 2 * window)
    weights[0, window - 1] = 1.0
    weights[1, window - 5:window] = 1.0 / 5
    weights[2, :window] = 1.0 / window
    weights[3, 2 * window - 1] = 1.0
    weights[4, 2 * window - 5:] = 1.0 / 5
    return weights


class HARMLP(torch.nn.Module):
    """HAR-style features (fixed averages, in the graph) → linear HAR term + small ReLU MLP → vol."""

    features = "realised-hourly"

    def __init__(self, window: int = 22, hidden: int = 8) -> None:
        super().__init__()
        self.window, self.hidden = window, hidden
        self.register_buffer("aggregation", har_aggregation(window))
        self.linear = torch.nn.Linear(5, 1)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(5, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
        self.tails = TailHead()

    def volatility(self, features: torch.Tensor) -> torch.Tensor:
        har = features @ self.aggregation.T
        return VOL_FLOOR + torch.relu(self.linear(har) + self.mlp(har))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.tails(self.volatility(features))


class TemporalConvNet(torch.nn.Module):
    """Two channels (realised vol, return) over W days → Conv1d + ReLU → mean and last-step pooling → vol."""

    features = "realised-hourly"

    def __init__(self, window: int = 22, channels: int = 4, kernel: int = 5) -> None:
        super().__init__()
        self.window, self.channels, self.kernel = window, channels, kernel
        self.conv = torch.nn.Conv1d(2, channels, kernel)
        self.pool = torch.nn.AvgPool1d(window - kernel + 1)
        self.head = torch.nn.Linear(2 * channels + 1, 1)
        self.tails = TailHead()

    def volatility(self, features: torch.Tensor) -> torch.Tensor:
        sequence = features.reshape(-1, 2, self.window)
        hidden = torch.relu(self.conv(sequence))
        pooled = torch.cat([self.pool(hidden)[:, :, 0], hidden[:, :, -1], sequence[:, 0, -1:]], dim=1)
        return VOL_FLOOR + torch.relu(self.head(pooled))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.tails(self.volatility(features))


#: Architecture name in a model card → class.
ARCHITECTURES: dict[str, type[torch.nn.Module]] = {
    "WindowMLP": WindowMLP, "HARMLP": HARMLP, "TemporalConvNet": TemporalConvNet}
