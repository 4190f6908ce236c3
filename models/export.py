"""ONNX export of the proved graph (K markets) and the calibration inputs EZKL needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.data import load_daily, market_days
from models.features import DAY, epoch_of, realised_samples, rolling_windows
from models.nets import ProvedGraph
from models.spec import MARKETS
from models.versions import ModelVersion

OPSET = 17


def export_onnx(version: ModelVersion, k: int, path: Path) -> Path:
    """Write the K-market graph: inputs x0..x{K-1} of shape [1, F], output [K, 5]."""
    graph = ProvedGraph(version.model, k).eval()
    example = tuple(torch.zeros(1, version.input_size) for _ in range(k))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(graph, example, str(path), input_names=[f"x{i}" for i in range(k)],
                      output_names=["risk"], opset_version=OPSET, dynamo=False)
    return path


def calibration_vectors(version: ModelVersion, samples_per_market: int = 256, seed: int = 0) -> np.ndarray:
    """Real input vectors spanning calm and stressed history of every market, [n, F].

    EZKL sizes its lookup tables from these, so they must cover the range proving will see.
    """
    rng = np.random.default_rng(seed)
    vectors = []
    for symbol, mid in MARKETS.items():
        if version.features == "realised-hourly":
            days = market_days(symbol)
            parts = [realised_samples(d, version.window) for _, d in days.groupby("segment")]
            windows = np.concatenate([x for x, _ in parts])
            # a window's last day is the day before the target day its parameters apply to
            ends = pd.DatetimeIndex(np.concatenate([t.index for _, t in parts])) - DAY
        else:
            windows, ends = rolling_windows(load_daily(symbol), version.window)
        pick = rng.choice(len(windows), size=min(samples_per_market, len(windows)), replace=False)
        epochs = np.array([epoch_of(ends[i]) for i in pick], dtype=np.float64)
        vectors.append(np.column_stack([np.full(len(pick), mid, dtype=np.float64), epochs, windows[pick]]))
    return np.concatenate(vectors)
