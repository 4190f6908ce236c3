"""Each validation rule on a real hourly BTC slice with one deliberate defect: error names market, time, rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.data import HOURLY_RULES, load_hourly
from models.errors import (
    DataQualityError,
    GapError,
    MissingValueError,
    NonPositivePriceError,
    OutOfOrderError,
    SpikeError,
    StalePriceError,
)
from models.validation import ValidationRules, validate_ohlcv, validate_rates

HOUR = pd.Timedelta("1h")


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return load_hourly("BTC").loc["2025-06-01":"2025-06-10"].copy()


def test_clean_slice_passes(clean):
    assert validate_ohlcv(clean, "BTC", HOUR) is clean


@pytest.mark.parametrize("column", ["open", "close"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_missing_values(clean, column, bad):
    frame = clean.copy()
    when = frame.index[50]
    frame.loc[when, column] = bad
    with pytest.raises(MissingValueError) as info:
        validate_ohlcv(frame, "BTC", HOUR)
    assert (info.value.market, info.value.timestamp, info.value.rule) == ("BTC", when, "missing-value")
    assert f"BTC @ {when}: [missing-value]" in str(info.value)


def test_non_positive_price(clean):
    frame = clean.copy()
    frame.loc[frame.index[7], "low"] = 0.0
    with pytest.raises(NonPositivePriceError) as info:
        validate_ohlcv(frame, "BTC", HOUR)
    assert info.value.timestamp == frame.index[7]


def test_out_of_order_and_duplicates(clean):
    swapped = clean.iloc[[0, 1, 3, 2, 4]]
    with pytest.raises(OutOfOrderError) as info:
        validate_ohlcv(swapped, "BTC", HOUR)
    assert info.value.timestamp == clean.index[2]
    with pytest.raises(OutOfOrderError):
        validate_ohlcv(clean.iloc[[0, 1, 1, 2]], "BTC", HOUR)


def test_gap_strict_and_tolerated(clean):
    holed = clean.drop(clean.index[100:103])
    with pytest.raises(GapError) as info:
        validate_ohlcv(holed, "BTC", HOUR)
    assert info.value.timestamp == clean.index[100] and "3 bar(s) missing" in str(info.value)
    assert validate_ohlcv(holed, "BTC", HOUR, HOURLY_RULES) is holed
    too_long = clean.drop(clean.index[100:100 + HOURLY_RULES.max_missing_bars + 1])
    with pytest.raises(GapError):
        validate_ohlcv(too_long, "BTC", HOUR, HOURLY_RULES)


def test_off_grid_timestamp_is_a_gap(clean):
    shifted = clean.rename(index={clean.index[20]: clean.index[20] + pd.Timedelta("30min")})
    with pytest.raises(GapError):
        validate_ohlcv(shifted, "BTC", HOUR, HOURLY_RULES)


def test_stale_prints(clean):
    frame = clean.copy()
    rows = frame.index[60:66]
    frame.loc[rows, ["open", "high", "low", "close"]] = frame.loc[rows[0], "close"]
    with pytest.raises(StalePriceError) as info:
        validate_ohlcv(frame, "BTC", HOUR)
    assert info.value.timestamp == rows[4]


def test_single_print_spike(clean):
    frame = clean.copy()
    when = frame.index[120]
    frame.loc[when, ["high", "close"]] = frame.loc[when, "close"] * 1.12
    with pytest.raises(SpikeError) as info:
        validate_ohlcv(frame, "BTC", HOUR, HOURLY_RULES)
    assert info.value.timestamp == when


def test_persistent_move_is_not_a_spike(clean):
    frame = clean.copy()
    frame.loc[frame.index[120]:, ["open", "high", "low", "close"]] *= 1.12  # a new level, not a print
    validate_ohlcv(frame, "BTC", HOUR, HOURLY_RULES)


def test_spike_floor_keeps_small_moves_in_quiet_hours(clean):
    frame = clean.copy()
    when = frame.index[120]
    frame.loc[when, ["high", "close"]] = frame["close"].shift(1).loc[when] * 1.018  # +1.8%, then back
    with pytest.raises(SpikeError) as info:
        validate_ohlcv(frame, "BTC", HOUR, ValidationRules(spike_sigmas=4))
    assert info.value.timestamp == when
    validate_ohlcv(frame, "BTC", HOUR, ValidationRules(spike_sigmas=4, spike_min_move=0.02))


def test_real_depeg_print_is_flagged():
    """2018-10-15 06:00: BTCUSDT +10% and back as USDT de-pegged (listed in models.data.EXCLUSIONS)."""
    frame = load_hourly("BTC").loc["2018-10-10":"2018-10-20"]
    with pytest.raises(SpikeError) as info:
        validate_ohlcv(frame, "BTC", HOUR, HOURLY_RULES)
    assert info.value.timestamp == pd.Timestamp("2018-10-15 06:00", tz="UTC")


def test_rates_may_be_negative_but_not_missing():
    index = pd.date_range("2024-01-01", periods=6, freq="8h", tz="UTC")
    rates = pd.Series([1e-4, -2e-4, 0.0, 1e-4, 3e-4, -1e-4], index=index)
    assert validate_rates(rates, "BTC", "8h") is rates
    with pytest.raises(GapError):
        validate_rates(rates.drop(index[3]), "BTC", "8h")
    with pytest.raises(DataQualityError):
        validate_rates(rates.where(rates.index != index[2]), "BTC", "8h")
