"""Features: pure functions, the same code for training, proving, publishing and auditing.

A model version's input window is described by its `FeatureSet` (named in the model card): daily
channels computed from hourly OHLCV bars (and, where the set names it, Deribit DVOL), W days of each,
oldest first, then calendar flags of the day the parameters apply to. The proved input of one market
update is `[market_id, epoch, channel_1[W], ..., channel_c[W], flags...]`.

The epoch of an update is the UTC day number (days since 1970-01-01) on which its parameters apply:
the day after the window's last complete day. Returns and volatilities are in percent (percent keeps
EZKL's fixed-point quantisation error small relative to typical moves).

Daily channels (per complete UTC day, from the hourly bars of that day):
- `ret`: close-to-close log return; `rvol`: sqrt of the sum of squared hourly log returns (realised vol);
- `pkvol`: Parkinson range volatility, sqrt(Σ_hours ln(high/low)² / (4 ln 2)): uses each hour's whole
  path, not two prints, so it is a less noisy measure of the day's variance than `rvol`;
- `dvol`: the day's Deribit DVOL close (30-day implied vol, annualised percent), and `dvol_ret` its
  day-over-day log change in percent (needs the previous day's print too).
Calendar flag `weekend`: 1 when the day the parameters apply to is a Saturday or Sunday (crypto
trades less and moves less at weekends).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.errors import InsufficientDataError
from models.spec import META_FIELDS, market_id

RETURN_UNIT = 100.0  # percent
DAY = pd.Timedelta("1D")
HOUR = pd.Timedelta("1h")
LAST_HOUR = pd.Timedelta("23h")


def deterministic_log(values: pd.Series) -> pd.Series:
    """Natural log element by element through the C library's scalar `log`.

    NumPy's vectorised `log` takes SIMD or scalar paths depending on the CPU and on how the array
    lies in memory, and the two disagree in the last bit on about one value in five: the same window
    gave two different feature vectors within one process. Publishers hash what they compute, so
    every copy of the features must be computed the same way; the scalar path is one function per
    machine (and within 1 ulp across C libraries), at about 10 ms per 65,000 bars.
    """
    return pd.Series(np.fromiter(map(math.log, values.to_numpy(dtype=np.float64)), np.float64, len(values)),
                     index=values.index, name=values.name)


def log_returns(close: pd.Series) -> pd.Series:
    """Log returns in percent, indexed by the bar that ends each return."""
    return (RETURN_UNIT * deterministic_log(close).diff()).iloc[1:]


def epoch_of(timestamp: pd.Timestamp) -> int:
    """Epoch (UTC day number) of parameters computed from data up to and including `timestamp`'s bar."""
    return int((timestamp.normalize() + DAY).value // DAY.value)


def epoch_start(epoch: int) -> pd.Timestamp:
    return pd.Timestamp(epoch * DAY.value, tz="UTC")


def daily_realised(hourly: pd.DataFrame) -> pd.DataFrame:
    """Per complete UTC day: `ret`, `rv` (sum of squared hourly log returns, percent²), `rvol`, `pk`
    (Parkinson range variance, percent²) and `pkvol` (see the module docstring).

    Returns run between consecutive observed hourly closes and belong to the day of the bar that ends
    them, so a return spanning a tolerated outage gap is counted once and nothing is filled. The day of
    the frame's first bar (no previous close) and a last day without its 23:00 bar are not complete.
    """
    returns = log_returns(hourly["close"])
    day = returns.index.floor("D")
    hourly_range = RETURN_UNIT * (deterministic_log(hourly["high"]) - deterministic_log(hourly["low"]))
    parkinson = hourly_range.loc[returns.index].pow(2) / (4 * math.log(2))
    daily = pd.DataFrame({"ret": returns.groupby(day).sum(), "rv": returns.pow(2).groupby(day).sum(),
                          "pk": parkinson.groupby(day).sum()})
    daily["rvol"] = np.sqrt(daily["rv"])
    daily["pkvol"] = np.sqrt(daily["pk"])
    if daily.index[0] == hourly.index[0].normalize():  # the first bar's own day lacks the previous close
        daily = daily.iloc[1:]
    last_bar = hourly.index[-1]
    if last_bar != last_bar.normalize() + LAST_HOUR:
        daily = daily.iloc[:-1]
    daily.index.name = "day"
    return daily


def with_dvol(daily: pd.DataFrame, dvol: pd.DataFrame) -> pd.DataFrame:
    """`daily` with columns `dvol` (the DVOL close of each day) and `dvol_ret` (its log change from the
    previous day's close, percent); days without both prints are dropped (a window never spans a
    missing implied-vol day)."""
    closes = dvol["close"].copy()
    closes.index = closes.index.floor("D")
    change = RETURN_UNIT * deterministic_log(closes).diff()
    change = change.where(closes.index.to_series().diff() == DAY)
    joined = daily.assign(dvol=closes.reindex(daily.index), dvol_ret=change.reindex(daily.index))
    return joined.loc[joined["dvol"].notna() & joined["dvol_ret"].notna()]


def weekend(days: pd.DatetimeIndex) -> np.ndarray:
    return (days.dayofweek >= 5).astype(np.float64)


CALENDAR_FLAGS = {"weekend": weekend}


@dataclass(frozen=True)
class FeatureSet:
    """The daily channels and calendar flags of a model version's input window."""

    name: str
    channels: tuple[str, ...]
    flags: tuple[str, ...] = ()

    @property
    def uses_dvol(self) -> bool:
        return "dvol" in self.channels

    def size(self, window: int) -> int:
        """Features per market (without the meta fields)."""
        return len(self.channels) * window + len(self.flags)

    def layout(self, window: int) -> list[str]:
        """Names of the input vector's entries, meta fields first (model cards record this)."""
        lags = [f"t-{window - 1 - i}" for i in range(window)]
        return list(META_FIELDS) + [f"{c}_{lag}" for c in self.channels for lag in lags] + list(self.flags)

    def window_features(self, daily: pd.DataFrame, window: int) -> np.ndarray:
        """Features of the window made of the last `window` days of `daily`."""
        tail = daily.iloc[-window:]
        target = pd.DatetimeIndex([tail.index[-1] + DAY])
        flags = [CALENDAR_FLAGS[f](target) for f in self.flags]
        return np.concatenate([tail[c].to_numpy(dtype=np.float64) for c in self.channels] + flags)

    def samples(self, daily: pd.DataFrame, window: int) -> tuple[np.ndarray, pd.DataFrame]:
        """Every window of one contiguous daily frame with the next day it forecasts.

        Returns features [n, size] and the target frame (index: target day; the daily columns)."""
        if len(daily) <= window:
            return np.empty((0, self.size(window))), daily.iloc[:0]
        targets = daily.iloc[window:]
        columns = [np.lib.stride_tricks.sliding_window_view(daily[c].to_numpy(dtype=np.float64), window)[:-1]
                   for c in self.channels]
        flags = [CALENDAR_FLAGS[f](pd.DatetimeIndex(targets.index))[:, None] for f in self.flags]
        return np.concatenate(columns + flags, axis=1), targets

    def input_vector(self, daily: pd.DataFrame, symbol: str, window: int) -> np.ndarray:
        """The hashed input of one proved update from the complete days of `daily` (its last day ends
        the window): [market_id, epoch, features...]."""
        if len(daily) < window:
            raise InsufficientDataError(symbol, daily.index[-1] if len(daily) else None,
                                        f"{len(daily)} complete days, the window needs {window}")
        return np.concatenate([[market_id(symbol), epoch_of(daily.index[-1])], self.window_features(daily, window)])


#: Feature sets by the name model cards use.
FEATURE_SETS = {fs.name: fs for fs in (
    FeatureSet("realised-hourly", ("rvol", "ret")),
    FeatureSet("range-hourly", ("pkvol", "ret"), ("weekend",)),
    FeatureSet("range-dvol-hourly", ("pkvol", "ret", "dvol", "dvol_ret"), ("weekend",)),
)}
