"""Market data feeds: the window behind one (market, epoch) update, validated before anything is proved.

The embedded default replays the bundled real Binance bars the model version reads
(`ModelVersion.market_frame`: hourly for realised-volatility models, daily otherwise): the update of
epoch E is computed from the window that ends with the last bar of day E-1, exactly as in training. A replayed
window is observed now, so `observed_at` (what publishers attest and the registry's freshness rule
measures) is the time of the fetch, not the historical bar time. Live adapters (ccxt and friends)
slot in behind the same `MarketFeed` protocol, with `observed_at` the last bar's close.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import pandas as pd

from models.errors import DataQualityError
from models.features import epoch_of, epoch_start
from models.spec import market_id
from models.validation import ValidationRules, validate_ohlcv
from models.versions import ModelVersion
from oracle.bundle import RawWindow
from oracle.errors import DataRejectedError


@dataclass(frozen=True)
class Observation:
    market: str
    epoch: int
    vector: np.ndarray
    observed_at: int
    #: the validated bars the vector was computed from, with their source (goes into the proof bundle)
    raw: RawWindow


class MarketFeed(Protocol):
    def latest_epoch(self, market: str) -> int: ...

    def last_close(self, market: str) -> float: ...

    def close_before(self, market: str, epoch: int) -> float: ...

    def observe(self, market: str, epoch: int) -> Observation: ...


class ReplayFeed:
    """The version's bundled bars (or frames given per market, e.g. by tests) replayed as the live feed."""

    def __init__(self, version: ModelVersion, loader: Callable[[str], pd.DataFrame] | None = None,
                 rules: ValidationRules | None = None) -> None:
        self.version = version
        self.loader = loader or version.market_frame
        self.rules = rules or version.validation_rules
        self._frames: dict[str, pd.DataFrame] = {}

    def _frame(self, market: str) -> pd.DataFrame:
        if market not in self._frames:
            try:
                self._frames[market] = self.loader(market)
            except DataQualityError as error:
                raise DataRejectedError(str(error), error.rule) from error
        return self._frames[market]

    def latest_epoch(self, market: str) -> int:
        return epoch_of(self._frame(market).index[-1])

    def last_close(self, market: str) -> float:
        return float(self._frame(market)["close"].iloc[-1])

    def _window_end(self, epoch: int) -> pd.Timestamp:
        """Timestamp of the last bar of epoch `epoch`'s window: the last bar of day epoch-1."""
        return epoch_start(epoch) - self.version.bar_interval

    def close_before(self, market: str, epoch: int) -> float:
        """Close of the last bar of epoch `epoch`'s window."""
        return float(self._frame(market)["close"].loc[:self._window_end(epoch)].iloc[-1])

    def observe(self, market: str, epoch: int) -> Observation:
        frame = self._frame(market)
        end = self._window_end(epoch)
        if end not in frame.index:
            raise DataRejectedError(f"{market}: no bar for {end.date()} (epoch {epoch} needs it; data covers "
                                    f"{frame.index[0].date()}..{frame.index[-1].date()})", "no-data")
        # the window plus the neighbourhood the spike rule looks at around its first and last bars
        span = self.version.lookback_bars + 2 * self.rules.spike_window
        window = frame.loc[:end].iloc[-span:]
        try:
            validate_ohlcv(window, market, self.version.bar_interval, self.rules)
            vector = self.version.input_vector(market, end, window)
        except DataQualityError as error:
            raise DataRejectedError(str(error), error.rule) from error
        assert int(vector[0]) == market_id(market) and int(vector[1]) == epoch
        interval = "1h" if self.version.bar_interval == pd.Timedelta("1h") else "1d"
        source = {"kind": "bundled-replay", "dataset": f"binance_spot_{'daily' if interval == '1d' else interval}",
                  "interval": interval,
                  "observed": "at fetch time (historical bars replayed as live)"}
        return Observation(market, epoch, vector, int(time.time()), RawWindow(source, window))
