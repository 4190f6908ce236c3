"""ONNX export of the proved graph (K markets) and the calibration inputs EZKL needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.data import market_days
from models.features import DAY, epoch_of
from models.nets import ProvedGraph
from models.spec import MARKETS
from models.versions import ModelVersion

OPSET = 17


def input_names(version: ModelVersion, k: int) -> list[str]:
    """Graph input names: one window per market, then the policy state when the layout has one."""
    return [f"x{i}" for i in range(k)] + (["state"] if version.layout.state else [])


def export_onnx(version: ModelVersion, k: int, path: Path) -> Path:
    """Write the K-market graph: windows x0..x{K-1} of shape [1, F] (and state [K, S]) → [K, N + S]."""
    graph = ProvedGraph(version.model, k, version.layout).eval()
    example = tuple(torch.zeros(1, version.input_size) for _ in range(k))
    if version.layout.state:
        example += (torch.tensor([version.layout.initial_state] * k, dtype=torch.float32),)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(graph, example, str(path), input_names=input_names(version, k),
                      output_names=["risk"], opset_version=OPSET, dynamo=False)
    return path


def calibration_vectors(version: ModelVersion, samples_per_market: int = 256, seed: int = 0) -> np.ndarray:
    """Real input vectors spanning calm and stressed history of every market, [n, F].

    EZKL sizes its lookup tables from these, so they must cover the range proving will see.
    """
    rng = np.random.default_rng(seed)
    vectors = []
    features = version.feature_set
    for symbol, mid in MARKETS.items():
        days = market_days(symbol, dvol=version.feature_set.uses_dvol)
        parts = [features.samples(d, version.window) for _, d in days.groupby("segment")]
        windows = np.concatenate([x for x, _ in parts])
        # a window's last day is the day before the target day its parameters apply to
        ends = pd.DatetimeIndex(np.concatenate([t.index for _, t in parts])) - DAY
        pick = rng.choice(len(windows), size=min(samples_per_market, len(windows)), replace=False)
        epochs = np.array([epoch_of(ends[i]) for i in pick], dtype=np.float64)
        vectors.append(np.column_stack([np.full(len(pick), mid, dtype=np.float64), epochs, windows[pick]]))
    return np.concatenate(vectors)


def calibration_states(version: ModelVersion, vectors: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """Policy states [n, S] for input vectors [n, F], covering what the oracle can hold (None for a
    layout without state): for the lending policy, max LTV and LT anywhere in the vector's market's
    bounds with LT at least the buffer above."""
    if not version.layout.state:
        return None
    rng = np.random.default_rng(seed)
    rows = []
    for mid in vectors[:, 0]:
        policy = version.policy.for_market_id(int(mid))
        lt = rng.uniform(policy.lt_min, policy.lt_max)
        ltv = rng.uniform(policy.ltv_min, max(policy.ltv_min, min(policy.ltv_max, lt - policy.buffer)))
        rows.append((ltv, lt))
    return np.asarray(rows, dtype=np.float64)
