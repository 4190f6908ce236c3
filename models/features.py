"""Features: pure functions, the same code for training and for proving.

The proved input of one market update is `input_vector(...)`: [market_id, epoch, r_1 .. r_W] with
r the last W daily log returns in percent (percent keeps EZKL's fixed-point quantisation error small
relative to typical moves). The epoch of an update is the UTC day number (days since 1970-01-01) on
which its parameters apply: the day after the window's last close.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.errors import InsufficientDataError
from models.spec import market_id

RETURN_UNIT = 100.0  # percent
DAY = pd.Timedelta("1D")


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


def return_window(frame: pd.DataFrame, window: int, end: pd.Timestamp | None = None,
                  market: str = "?") -> np.ndarray:
    """The last `window` percent log returns up to and including the bar at `end` (default: last bar)."""
    close = frame["close"] if end is None else frame["close"].loc[:end]
    if len(close) < window + 1:
        raise InsufficientDataError(market, close.index[-1] if len(close) else end,
                                    f"{len(close)} bars, a window of {window} returns needs {window + 1}")
    return log_returns(close.iloc[-(window + 1):]).to_numpy(dtype=np.float64)


def input_vector(frame: pd.DataFrame, symbol: str, window: int, end: pd.Timestamp | None = None) -> np.ndarray:
    """The hashed input of one proved update: [market_id, epoch, returns...]."""
    returns = return_window(frame, window, end, symbol)
    last = frame.index[-1] if end is None else frame["close"].loc[:end].index[-1]
    return np.concatenate([[market_id(symbol), epoch_of(last)], returns])


def rolling_windows(frame: pd.DataFrame, window: int) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """All return windows of a series, shape [n, window], with the timestamp of each window's last bar."""
    returns = log_returns(frame["close"]).to_numpy(dtype=np.float64)
    if returns.size < window:
        raise InsufficientDataError("?", frame.index[-1], f"{returns.size} returns < window {window}")
    windows = np.lib.stride_tricks.sliding_window_view(returns, window)
    return windows.copy(), frame.index[window:]


# --- Realised features from hourly bars (the production feature set) -------------------------------

def daily_realised(hourly: pd.DataFrame) -> pd.DataFrame:
    """Per complete UTC day: `ret` (close-to-close log return, percent), `rv` (realised variance: sum of
    squared hourly log returns, percent²) and `rvol` = sqrt(rv) (percent).

    Returns run between consecutive observed hourly closes and belong to the day of the bar that ends
    them, so a return spanning a tolerated outage gap is counted once and nothing is filled. The day of
    the frame's first bar (no previous close) and a last day without its 23:00 bar are not complete.
    """
    returns = log_returns(hourly["close"])
    day = returns.index.floor("D")
    daily = pd.DataFrame({"ret": returns.groupby(day).sum(), "rv": returns.pow(2).groupby(day).sum()})
    daily["rvol"] = np.sqrt(daily["rv"])
    if daily.index[0] == hourly.index[0].normalize():  # the first bar's own day lacks the previous close
        daily = daily.iloc[1:]
    last_bar = hourly.index[-1]
    if last_bar != last_bar.normalize() + pd.Timedelta("23h"):
        daily = daily.iloc[:-1]
    daily.index.name = "day"
    return daily


def realised_window(daily: pd.DataFrame, window: int) -> np.ndarray:
    """Features of the last `window` days of `daily`: [rvol_1..rvol_W, ret_1..ret_W], oldest first."""
    tail = daily.iloc[-window:]
    return np.concatenate([tail["rvol"].to_numpy(dtype=np.float64), tail["ret"].to_numpy(dtype=np.float64)])


def realised_input_vector(hourly: pd.DataFrame, symbol: str, window: int,
                          end: pd.Timestamp | None = None) -> np.ndarray:
    """The hashed input of one proved update from hourly bars: [market_id, epoch, rvol..., ret...].

    Uses the complete days up to and including `end`'s day (default: the last complete day).
    """
    hourly = hourly if end is None else hourly.loc[:pd.Timestamp(end).normalize() + pd.Timedelta("23h")]
    daily = daily_realised(hourly)
    if len(daily) < window:
        raise InsufficientDataError(symbol, hourly.index[-1] if len(hourly) else end,
                                    f"{len(daily)} complete days, the window needs {window}")
    return np.concatenate([[market_id(symbol), epoch_of(daily.index[-1])], realised_window(daily, window)])


def realised_samples(daily: pd.DataFrame, window: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Every window of one contiguous daily frame with the next day it forecasts.

    Returns features [n, 2W] and the target frame (index: target day; columns ret, rv, rvol).
    """
    if len(daily) <= window:
        return np.empty((0, 2 * window)), daily.iloc[:0]
    rvol = np.lib.stride_tricks.sliding_window_view(daily["rvol"].to_numpy(dtype=np.float64), window)[:-1]
    ret = np.lib.stride_tricks.sliding_window_view(daily["ret"].to_numpy(dtype=np.float64), window)[:-1]
    return np.concatenate([rvol, ret], axis=1), daily.iloc[window:]
