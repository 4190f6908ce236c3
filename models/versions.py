"""Model versions on disk: circuits/<model_id>/<version>/ holds weights.pt and model_card.json.

The model card is the auditor's description of a version: its output layout (models/spec.py), the
architecture and its arguments, feature set and window, policy, parameter count, data files with
their sha256 and date ranges, training split and metrics. A card without a layout (har-mlp 1.0.0,
round 1's forecaster) is kept as a record and a backtest reference (`load_card`); it cannot be proved.
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

from models.data import HOURLY_RULES, hourly_segments, load_dvol
from models.errors import InsufficientDataError, ModelVersionError
from models.features import DAY, FEATURE_SETS, HOUR, LAST_HOUR, FeatureSet, daily_realised, with_dvol
from models.nets import ARCHITECTURES, LendingModel, OptionsModel
from models.policy import MarketPolicies
from models.spec import LENDING, OPTIONS, Layout, layout_named
from models.validation import ValidationRules, validate_ohlcv

CIRCUITS_DIR = Path(__file__).resolve().parent.parent / "circuits"
#: Versions the service trains itself (a drift retrain, oracle/retrain.py): kept out of the working
#: tree, in this checkout's ignored state folder; found after the repository's own.
RETRAINED_DIR = Path(__file__).resolve().parent.parent / ".zkrisk" / "versions"
#: The lending version the oracle proves unless told otherwise, and the one `zkrisk train` writes.
PRODUCTION = ("har-policy", "2.0.0")
SHIPPED = PRODUCTION
#: The options-margin version the oracle proves (layout OPTIONS).
OPTIONS_PRODUCTION = ("har-margin", "1.0.0")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class MarketData:
    """The raw bars an update's features are computed from: hourly OHLCV indexed by bar open time
    (UTC), and the daily Deribit DVOL OHLC when the feature set reads implied vol."""

    hourly: pd.DataFrame
    dvol: pd.DataFrame | None = None


@dataclass(frozen=True)
class ModelVersion:
    model_id: str
    version: str
    directory: Path
    model: torch.nn.Module
    card: dict[str, Any]

    @property
    def layout(self) -> Layout:
        return layout_named(self.card["layout"])

    @property
    def window(self) -> int:
        return int(self.card["window"])

    @property
    def input_size(self) -> int:
        return int(self.card["input_size"])

    @property
    def feature_set(self) -> FeatureSet:
        return FEATURE_SETS[self.card["features"]]

    @property
    def policy(self) -> MarketPolicies:
        return MarketPolicies.from_dict(self.card["policy"])

    @property
    def bar_interval(self) -> pd.Timedelta:
        """Spacing of the bars the features read."""
        return HOUR

    @property
    def validation_rules(self) -> ValidationRules:
        """The rules the features' bars must pass (the same for training and proving)."""
        return HOURLY_RULES

    @property
    def lookback_bars(self) -> int:
        """Hourly bars an update reads: the window's days plus the previous close (the 23:00 bar of
        the day before)."""
        return 24 * self.window + 1

    def market_data(self, symbol: str) -> MarketData:
        """The bundled bars this version reads: hourly bars since the last long outage (and DVOL)."""
        return MarketData(hourly_segments(symbol)[-1],
                          load_dvol(symbol) if self.feature_set.uses_dvol else None)

    def window_data(self, symbol: str, end: pd.Timestamp | None = None, data: MarketData | None = None) -> MarketData:
        """The raw bars of the update whose window ends on `end`'s UTC day (default: the last complete
        day): exactly what its features read, what publishers hash and bundles carry."""
        data = data or self.market_data(symbol)
        hourly = data.hourly
        last = hourly.index[-1] if end is None else pd.Timestamp(end).normalize() + LAST_HOUR
        if last != last.normalize() + LAST_HOUR:
            last = last.normalize() - HOUR  # the last complete day ends at the 23:00 bar before
        first = last.normalize() - (self.window - 1) * DAY - HOUR
        bars = hourly.loc[first:last]
        if len(bars) == 0 or bars.index[-1] != last:
            raise InsufficientDataError(symbol.upper(), last, "no hourly bars up to the end of the window's last day")
        dvol = None
        if self.feature_set.uses_dvol:
            if data.dvol is None:
                raise InsufficientDataError(symbol.upper(), last, "the feature set reads DVOL and none was given")
            dvol = data.dvol.loc[first + HOUR - DAY:last]  # the day before the window: dvol_ret of its first day
        return MarketData(bars, dvol)

    def input_vector(self, symbol: str, end: pd.Timestamp | None = None, data: MarketData | None = None) -> np.ndarray:
        """The proved input of one update, [market_id, epoch, features...], from the bundled bars or
        `data` (validated first: bad data raises `DataQualityError`)."""
        if data is not None:
            data = MarketData(validate_ohlcv(data.hourly, symbol.upper(), HOUR, self.validation_rules),
                              None if data.dvol is None else validate_ohlcv(data.dvol, symbol.upper(), "1D"))
        window = self.window_data(symbol, end, data)
        daily = daily_realised(window.hourly)
        if self.feature_set.uses_dvol:
            daily = with_dvol(daily, window.dvol)
        return self.feature_set.input_vector(daily, symbol, self.window)

    def predict(self, vectors: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        """Float model on input vectors [N, F] (meta included) and the layout's state [N, S] →
        [N, outputs + state], the graph's own output (state passed through)."""
        with torch.no_grad():
            features = torch.as_tensor(np.atleast_2d(vectors), dtype=torch.float32)[:, 2:]
            if not self.layout.state:
                return self.model(features).double().numpy()
            state_t = torch.as_tensor(np.atleast_2d(state), dtype=torch.float32)
            ids = torch.as_tensor(np.atleast_2d(vectors), dtype=torch.float32)[:, :1]
            return torch.cat([self.model(features, state_t, ids), state_t], dim=1).double().numpy()


def version_dir(model_id: str, version: str) -> Path:
    """Where a version lives: the repository's circuits/, else the retrained versions' folder."""
    committed = CIRCUITS_DIR / model_id / version
    retrained = RETRAINED_DIR / model_id / version
    return retrained if not committed.exists() and retrained.exists() else committed


def build_model(card: dict[str, Any]) -> torch.nn.Module:
    """The torch model a card describes (untrained): forecaster and its layout's head."""
    forecaster = ARCHITECTURES[card["architecture"]](**card["architecture_args"])
    layout = layout_named(card["layout"])
    if layout is LENDING:
        return LendingModel(forecaster, MarketPolicies.from_dict(card["policy"]))
    if layout is OPTIONS:
        return OptionsModel(forecaster)
    raise ModelVersionError(f"no model head for layout {layout.name!r}")


def save_version(model: torch.nn.Module, model_id: str, version: str, card: dict[str, Any],
                 root: Path | None = None) -> ModelVersion:
    directory = (root or CIRCUITS_DIR) / model_id / version
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), directory / "weights.pt")
    card = {**card, "model_id": model_id, "version": version,
            "weights_sha256": sha256_file(directory / "weights.pt")}
    (directory / "model_card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return ModelVersion(model_id, version, directory, model.eval(), card)


def load_card(model_id: str, version: str) -> dict[str, Any]:
    """A version's model card (any version, provable or a record)."""
    path = version_dir(model_id, version) / "model_card.json"
    if not path.exists():
        raise ModelVersionError(f"model {model_id}@{version} not found under {path.parent} "
                                "(train it with `zkrisk train`)")
    return json.loads(path.read_text())


def load_version(model_id: str | None = None, version: str | None = None) -> ModelVersion:
    model_id, version = model_id or PRODUCTION[0], version or PRODUCTION[1]
    card = load_card(model_id, version)
    if "layout" not in card:
        raise ModelVersionError(f"{model_id}@{version} is a record without an output layout (round 1); "
                                "it cannot be proved on this oracle")
    weights_path = version_dir(model_id, version) / "weights.pt"
    if not weights_path.exists() or sha256_file(weights_path) != card["weights_sha256"]:
        raise ModelVersionError(f"{weights_path} is missing or does not match the sha256 in its model card")
    model = build_model(card)
    model.load_state_dict(torch.load(weights_path, weights_only=True))
    return ModelVersion(model_id, version, weights_path.parent, model.eval(), card)
