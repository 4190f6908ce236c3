"""Model versions on disk: circuits/<model_id>/<version>/ holds weights.pt and model_card.json.

The model card is the auditor's description of a version: architecture and its arguments, window,
mapping, parameter count, data files with their sha256 and date ranges, training split and metrics.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from models.data import HOUR, HOURLY_RULES, hourly_segments, load_daily
from models.features import input_vector, realised_input_vector
from models.validation import ValidationRules, validate_ohlcv
from models.errors import ModelVersionError
from models.mapping import MappingConfig
from models.nets import ARCHITECTURES, RiskModel

CIRCUITS_DIR = Path(__file__).resolve().parent.parent / "circuits"
#: The version the oracle proves with unless told otherwise.
#: The version `zkrisk train` writes and `zkrisk backtest` scores by default. It reads hourly bars
#: (see `ModelVersion.market_frame`, `lookback_bars`, `bar_interval`).
SHIPPED = ("har-mlp", "1.0.0")
PRODUCTION = SHIPPED


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class ModelVersion:
    model_id: str
    version: str
    directory: Path
    model: RiskModel
    card: dict[str, Any]

    @property
    def window(self) -> int:
        return int(self.card["window"])

    @property
    def input_size(self) -> int:
        return int(self.card["input_size"])

    @property
    def mapping(self) -> MappingConfig:
        return MappingConfig(**self.card["mapping"])

    @property
    def features(self) -> str:
        """Feature set of the input vector: "realised-hourly" (hourly bars) or "daily-returns" (daily bars)."""
        return str(self.card.get("features", "daily-returns"))

    def input_vector(self, symbol: str, end: pd.Timestamp | None = None,
                     frame: pd.DataFrame | None = None) -> np.ndarray:
        """The proved input of one update, [market_id, epoch, features...], from bundled data or `frame`.

        `frame` holds OHLCV bars at the frequency the feature set needs (hourly for "realised-hourly"),
        indexed by UTC bar open time; it is validated first and bad data raises `DataQualityError`.
        """
        if frame is None:
            frame = self.market_frame(symbol)
        else:
            frame = validate_ohlcv(frame, symbol.upper(), self.bar_interval, self.validation_rules)
        if self.features == "realised-hourly":
            return realised_input_vector(frame, symbol, self.window, end)
        return input_vector(frame, symbol, self.window, end)

    @property
    def bar_interval(self) -> pd.Timedelta:
        """Spacing of the bars the features read."""
        return HOUR if self.features == "realised-hourly" else pd.Timedelta("1D")

    @property
    def validation_rules(self) -> ValidationRules:
        """The rules the features' bars must pass (the same for training and proving)."""
        return HOURLY_RULES if self.features == "realised-hourly" else ValidationRules()

    @property
    def lookback_bars(self) -> int:
        """Bars `input_vector` reads before and including the window's last bar: the window's days
        plus the previous close (the 23:00 bar of the day before, for hourly bars)."""
        if self.features == "realised-hourly":
            return 24 * self.window + 1
        return self.window + 1

    def market_frame(self, symbol: str) -> pd.DataFrame:
        """The bundled, validated bars this version's features read: hourly bars since the last long
        outage for "realised-hourly", daily bars for "daily-returns"."""
        if self.features == "realised-hourly":
            return hourly_segments(symbol)[-1]
        return load_daily(symbol)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """Float model on input vectors [N, F] (meta included) → [N, 5]."""
        with torch.no_grad():
            batch = torch.as_tensor(np.atleast_2d(vectors), dtype=torch.float32)
            return self.model(batch[:, 2:]).double().numpy()


def version_dir(model_id: str, version: str) -> Path:
    return CIRCUITS_DIR / model_id / version


def save_version(model: RiskModel, model_id: str, version: str, card: dict[str, Any]) -> ModelVersion:
    directory = version_dir(model_id, version)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), directory / "weights.pt")
    card = {**card, "model_id": model_id, "version": version,
            "weights_sha256": sha256_file(directory / "weights.pt")}
    (directory / "model_card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return ModelVersion(model_id, version, directory, model.eval(), card)


def load_version(model_id: str | None = None, version: str | None = None) -> ModelVersion:
    model_id, version = model_id or PRODUCTION[0], version or PRODUCTION[1]
    directory = version_dir(model_id, version)
    card_path, weights_path = directory / "model_card.json", directory / "weights.pt"
    if not card_path.exists() or not weights_path.exists():
        raise ModelVersionError(f"model {model_id}@{version} not found under {directory} "
                                "(train it with `zkrisk train`)")
    card = json.loads(card_path.read_text())
    if sha256_file(weights_path) != card["weights_sha256"]:
        raise ModelVersionError(f"{weights_path} does not match the sha256 in its model card")
    architecture = ARCHITECTURES[card["architecture"]](**card["architecture_args"])
    model = RiskModel(architecture, MappingConfig(**card["mapping"]))
    model.load_state_dict(torch.load(weights_path, weights_only=True))
    return ModelVersion(model_id, version, directory, model.eval(), card)
