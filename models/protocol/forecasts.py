"""Walk-forward out-of-sample forecasts the mapping policies publish, cached on disk.

`models.train.walk_forward` refits a version's forecaster (from its model card's train_config) and
every baseline at each yearly fold start from `start`, and forecasts each fold one day ahead. That
takes a while, so the forecasts are stored under `.zkrisk/forecasts/` (ignored), in a file named by
the hash of everything they depend on: the version's train config, the fold start, the
bundled hourly files' sha256 and this module's format version. Changing any input misses the cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.baselines import VolForecast
from models.data import DATA_DIR, HOURLY_FILES
from models.versions import load_card, sha256_file

#: First fold start: 2020 gives the 2020-03 stress window forecasts (training from 2018-01).
FORECAST_START = "2020-01-01"
CACHE_DIR = Path(__file__).resolve().parents[2] / ".zkrisk" / "forecasts"
#: Bump when what is stored, or how it is computed, changes.
FORMAT = 2

Forecasts = dict[str, dict[str, VolForecast]]


def policy_forecast_name(model_id: str) -> str:
    """Key of a model's calendar-free forecasts (what its policy reads) among the forecasts."""
    return f"{model_id}@weekday"


def walk_forward_forecasts(model_id: str, version: str, start: str = FORECAST_START,
                           cache_dir: Path = CACHE_DIR) -> Forecasts:
    """market → model name (the version's `model_id`, its calendar-free `policy_forecast_name` and the
    baselines) → one-day forecasts from `start`."""
    from models.train import ForecasterConfig, walk_forward

    card = load_card(model_id, version)
    config = ForecasterConfig.from_dict(card["train_config"])
    key = {"format": FORMAT, "model": [model_id, version], "train_config": config.to_dict(), "start": start,
           "data": {m: sha256_file(DATA_DIR / HOURLY_FILES[m]) for m in config.markets}}
    path = cache_dir / f"walk-forward-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.npz"
    if path.exists():
        return _read(path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the networks are tiny; one thread is faster and reproducible
    try:
        backtest = walk_forward(config, model_id, config.markets, start)
    finally:
        torch.set_num_threads(threads)
    forecasts = {m: {**b.forecasts, policy_forecast_name(model_id): b.policy_forecast}
                 for m, b in backtest.markets.items()}
    _write(path, forecasts, key)
    return forecasts


def _write(path: Path, forecasts: Forecasts, key: dict) -> None:
    arrays: dict[str, np.ndarray] = {"key": np.array(json.dumps(key, sort_keys=True))}
    for market, models in forecasts.items():
        for name, f in models.items():
            arrays[f"{market}/{name}/index"] = f.index.asi8
            arrays[f"{market}/{name}/forecast"] = np.column_stack([f.variance, f.var99, f.es99])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(path)


def _read(path: Path) -> Forecasts:
    forecasts: Forecasts = {}
    with np.load(path) as stored:
        for name in stored.files:
            if not name.endswith("/index"):
                continue
            market, model, _ = name.split("/")
            index = pd.DatetimeIndex(pd.to_datetime(stored[name], utc=True))
            values = stored[f"{market}/{model}/forecast"]
            forecasts.setdefault(market, {})[model] = VolForecast(index, values[:, 0], values[:, 1], values[:, 2])
    return forecasts
