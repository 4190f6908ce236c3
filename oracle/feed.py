"""Market data feeds: the raw bars behind one (model, market, epoch) update, validated before anything
is signed or proved, and the clock that says which epoch is the latest.

The embedded default replays the bundled real bars a model version reads (`ModelVersion.market_data`:
hourly Binance bars, and Deribit DVOL for the options model). The update of epoch E is computed from
the window that ends with the last bar of day E-1, exactly as in training; its data was observed when
that bar closed, at the start of day E (`observed_at`, what publishers sign and what staleness on
chain counts from). Live adapters (ccxt and friends) slot in behind the same `MarketFeed` protocol.

The clock: live, the latest epoch is the last complete day of data. A `ReplayClock` instead starts at
a past date and advances at a chosen speed, so heartbeats, deviation triggers, guardrails and the
dashboard history behave as they would have live through that history (`zkrisk serve --replay-from`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd

from models.errors import DataQualityError, InsufficientDataError
from models.features import DAY, HOUR, epoch_of, epoch_start
from models.spec import market_id
from models.versions import MarketData, ModelVersion
from oracle.errors import DataRejectedError

BUNDLED_SOURCE = {"kind": "bundled-replay", "hourly": "binance_spot_1h", "dvol": "deribit_dvol_1d",
                  "observed": "at the close of the window's last bar (historical bars replayed)"}


@dataclass(frozen=True)
class Observation:
    market: str
    epoch: int
    vector: np.ndarray
    #: Unix seconds: the close of the window's last hourly bar (the start of the epoch's day)
    observed_at: int
    #: the raw bars the vector was computed from (what `oracle.reports.data_hash` hashes)
    data: MarketData
    source: dict[str, Any]


class MarketFeed(Protocol):
    version: ModelVersion

    def latest_epoch(self, market: str) -> int: ...

    def now(self) -> int: ...

    def last_close(self, market: str) -> float: ...

    def close_before(self, market: str, epoch: int) -> float: ...

    def observe(self, market: str, epoch: int) -> Observation: ...


class ReplayClock:
    """Replayed time: `start` at the moment the clock is made, then `speed` replayed seconds per real
    second. `now()` is Unix seconds of replayed time."""

    def __init__(self, start: date | datetime | int, speed: float = 86_400.0,
                 real: Callable[[], float] = time.monotonic) -> None:
        if isinstance(start, int):
            self.start = start
        else:
            moment = start if isinstance(start, datetime) else datetime(start.year, start.month, start.day)
            self.start = int(moment.replace(tzinfo=moment.tzinfo or timezone.utc).timestamp())
        self.speed, self._real, self._origin = speed, real, real()

    def now(self) -> int:
        return int(self.start + (self._real() - self._origin) * self.speed)


class ReplayFeed:
    """A version's bundled bars (or `loader`'s, e.g. a test's) replayed as the live feed, optionally on a
    replay clock (without one, the latest epoch is the one after the last bundled day)."""

    def __init__(self, version: ModelVersion, loader: Callable[[str], MarketData] | None = None,
                 clock: ReplayClock | None = None) -> None:
        self.version = version
        self.loader = loader or version.market_data
        self.clock = clock
        self._data: dict[str, MarketData] = {}

    def _market_data(self, market: str) -> MarketData:
        if market not in self._data:
            try:
                self._data[market] = self.loader(market)
            except DataQualityError as error:
                raise DataRejectedError(str(error), error.rule) from error
        return self._data[market]

    def _last_data_epoch(self, market: str) -> int:
        """The epoch after the last complete day of bars (and DVOL, when the version reads it)."""
        data = self._market_data(market)
        last = data.hourly.index[-1]
        complete = last.normalize() if last.hour == 23 else last.normalize() - DAY
        if data.dvol is not None:
            complete = min(complete, data.dvol.index[-1].normalize())
        return epoch_of(complete)

    def now(self) -> int:
        return self.clock.now() if self.clock is not None else int(time.time())

    def latest_epoch(self, market: str) -> int:
        last = self._last_data_epoch(market)
        return last if self.clock is None else min(last, self.now() // 86_400)

    def _window_end(self, epoch: int) -> pd.Timestamp:
        """Open time of the last hourly bar of epoch `epoch`'s window: 23:00 of day epoch-1."""
        return epoch_start(epoch) - HOUR

    def last_close(self, market: str) -> float:
        """The close of the latest epoch's window (on a replay clock: as of replayed now)."""
        return self.close_before(market, self.latest_epoch(market))

    def close_before(self, market: str, epoch: int) -> float:
        return float(self._market_data(market).hourly["close"].loc[:self._window_end(epoch)].iloc[-1])

    def observe(self, market: str, epoch: int) -> Observation:
        data = self._market_data(market)
        end = self._window_end(epoch)
        if end not in data.hourly.index or (self.clock is not None and epoch_start(epoch).timestamp() > self.now()):
            hourly = data.hourly.index
            raise DataRejectedError(f"{market}: no bars up to {end} (epoch {epoch} needs them; data covers "
                                    f"{hourly[0].date()}..{hourly[-1].date()})", "no-data")
        # the bars the window reads plus the neighbourhood the spike rule looks at around its ends
        span = self.version.lookback_bars + 2 * self.version.validation_rules.spike_window
        hourly = data.hourly.loc[:end].iloc[-span:]
        dvol = None if data.dvol is None else data.dvol.loc[:end].iloc[-(self.version.window + 8):]
        try:
            vector = self.version.input_vector(market, end, MarketData(hourly, dvol))
            window = self.version.window_data(market, end, MarketData(hourly, dvol))
        except InsufficientDataError as error:
            raise DataRejectedError(str(error), "no-data") from error
        except DataQualityError as error:
            raise DataRejectedError(str(error), error.rule) from error
        if int(vector[0]) != market_id(market) or int(vector[1]) != epoch:
            raise DataRejectedError(f"{market}: the window ending {end} is for market {int(vector[0])} epoch "
                                    f"{int(vector[1])}, not epoch {epoch}", "window-mismatch")
        return Observation(market, epoch, vector, int(epoch_start(epoch).timestamp()), window, dict(BUNDLED_SOURCE))
