"""Market data validation: every rule names the market, the timestamp and itself.

Run before features are built, for training and for every proved update alike. Bad data raises a
`DataQualityError` subclass and is never filled in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.errors import (
    GapError,
    MissingValueError,
    NonPositivePriceError,
    OutOfOrderError,
    SpikeError,
    StalePriceError,
)
from models.features import deterministic_log

PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass(frozen=True)
class ValidationRules:
    """Thresholds. Defaults suit liquid crypto majors at daily or hourly frequency."""

    #: identical closes in a row (with zero range) that make a series stale
    max_repeated_prints: int = 4
    #: missing bars tolerated in one gap (0: any gap is an error). A tolerated gap is not filled: the
    #: next return simply spans it (see `models.features.daily_realised`).
    max_missing_bars: int = 0
    #: Hampel-style spike rule: both the move into a print and the move out of it exceed
    #: `spike_sigmas` robust sigmas of the surrounding returns (window of 2*spike_window+1 bars) ...
    spike_window: int = 10
    spike_sigmas: float = 8.0
    #: ... and the second move undoes the first to within this fraction (a print, not a new level)
    spike_revert_tolerance: float = 0.25
    #: ... and the move into the print is at least this large (log return), so a twitch in a very
    #: quiet hour (robust sigma ~0.1%) is not mistaken for a bad print
    spike_min_move: float = 0.0


def validate_ohlcv(frame: pd.DataFrame, market: str, freq: str | pd.Timedelta,
                   rules: ValidationRules = ValidationRules()) -> pd.DataFrame:
    """Check an OHLCV frame indexed by UTC timestamps; return it unchanged when it passes."""
    step = pd.Timedelta(freq)
    index = frame.index
    _check_order(index, market)
    _check_gaps(index, market, step, rules.max_missing_bars)
    prices = frame.loc[:, [c for c in PRICE_COLUMNS if c in frame.columns]]
    _check_finite(prices, market)
    _check_positive(prices, market)
    _check_stale(frame, market, rules)
    _check_spikes(frame["close"], market, rules)
    return frame


def validate_rates(series: pd.Series, market: str, freq: str | pd.Timedelta,
                   rules: ValidationRules = ValidationRules()) -> pd.Series:
    """Check a signed rate series (e.g. funding): order, gaps and finiteness; positivity does not apply."""
    _check_order(series.index, market)
    _check_gaps(series.index, market, pd.Timedelta(freq), rules.max_missing_bars)
    _check_finite(series.to_frame(), market)
    return series


def _check_order(index: pd.Index, market: str) -> None:
    deltas = np.diff(index.asi8)
    bad = np.flatnonzero(deltas <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise OutOfOrderError(market, index[i], f"timestamp not after the previous one ({index[i - 1]})")


def _check_gaps(index: pd.Index, market: str, step: pd.Timedelta, tolerated: int) -> None:
    deltas = np.diff(index.asi8)
    bad = np.flatnonzero((deltas % step.value != 0) | (deltas > (tolerated + 1) * step.value))
    if bad.size:
        i = int(bad[0])
        missing = (index[i + 1] - index[i]) / step - 1
        raise GapError(market, index[i] + step, f"{missing:g} bar(s) missing after {index[i]} at {step} spacing"
                       f" ({tolerated} tolerated)")


def _check_finite(prices: pd.DataFrame, market: str) -> None:
    values = prices.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise MissingValueError(market, prices.index[row], f"{prices.columns[col]} is {values[row, col]}")


def _check_positive(prices: pd.DataFrame, market: str) -> None:
    values = prices.to_numpy(dtype=float)
    bad = values <= 0
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise NonPositivePriceError(market, prices.index[row], f"{prices.columns[col]} = {values[row, col]}")


def _check_stale(frame: pd.DataFrame, market: str, rules: ValidationRules) -> None:
    close = frame["close"].to_numpy(dtype=float)
    flat = np.r_[False, close[1:] == close[:-1]]
    if {"high", "low"} <= set(frame.columns):
        flat &= (frame["high"].to_numpy(dtype=float) == frame["low"].to_numpy(dtype=float))
    run = 0
    for i, same in enumerate(flat):
        run = run + 1 if same else 0
        if run >= rules.max_repeated_prints:
            raise StalePriceError(market, frame.index[i],
                                  f"close {close[i]} repeated {run + 1} times with no range")


def _check_spikes(close: pd.Series, market: str, rules: ValidationRules) -> None:
    """A single-print spike: an extreme log return undone by an extreme opposite return at once.

    "Extreme" is measured against a Hampel-style robust scale (1.4826 x the rolling median absolute
    return), so genuine crashes that do not revert, and volatile regimes, are not flagged.
    """
    # the features' scalar log: a vectorised log's last bits depend on memory layout, and a borderline
    # spike decision must not flip between a publisher's copy and the service's
    log_close = deterministic_log(close.astype(float)).to_numpy()
    returns = np.diff(log_close)
    if returns.size < 2 * rules.spike_window + 2:
        return
    scale = 1.4826 * pd.Series(np.abs(returns)).rolling(2 * rules.spike_window + 1, center=True,
                                                         min_periods=rules.spike_window).median().to_numpy()
    scale = np.maximum(np.nan_to_num(scale, nan=np.inf), 1e-6)
    into, out_of = returns[:-1], returns[1:]
    extreme = ((np.abs(into) > rules.spike_sigmas * scale[:-1]) & (np.abs(out_of) > rules.spike_sigmas * scale[1:])
               & (np.abs(into) >= rules.spike_min_move))
    reverts = (np.sign(into) == -np.sign(out_of)) & (np.abs(into + out_of) <= rules.spike_revert_tolerance * np.abs(into))
    hits = np.flatnonzero(extreme & reverts)
    if hits.size:
        i = int(hits[0]) + 1  # the spiking bar
        raise SpikeError(market, close.index[i],
                         f"close {close.iloc[i]} jumps {into[hits[0]]:+.2%} (log) and reverts {out_of[hits[0]]:+.2%} "
                         f"next bar, beyond {rules.spike_sigmas:g} robust sigmas: a single-print spike")
