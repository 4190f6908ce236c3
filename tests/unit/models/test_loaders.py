"""Bundled real-data loaders: segments at long outages and exclusions, the ETH daily extension, DVOL, funding."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.data import EXCLUSIONS, HOURLY_RULES, hourly_segments, load_daily, load_dvol, load_funding, load_hourly, market_days
from models.features import daily_realised

LAST = pd.Timestamp("2025-06-30", tz="UTC")


def test_hourly_segments_split_at_the_long_outage_and_the_depeg():
    segments = hourly_segments("BTC")
    starts = [s.index[0] for s in segments]
    # the 34-hour outage ending 2018-02-09 09:00 and the excluded de-peg day 2018-10-15
    assert starts == [pd.Timestamp("2018-01-01", tz="UTC"), pd.Timestamp("2018-02-09 10:00", tz="UTC"),
                      pd.Timestamp("2018-10-16", tz="UTC")]
    assert segments[-1].index[-1] == LAST + pd.Timedelta("23h")
    excluded = pd.Timestamp(EXCLUSIONS[0].start, tz="UTC")
    assert all(excluded not in s.index for s in segments)
    # tolerated outages stay inside a segment as gaps (never filled): 2023-03-24 14:00, one hour
    gaps = segments[-1].index.to_series().diff().dt.total_seconds().div(3600)
    assert gaps.max() <= HOURLY_RULES.max_missing_bars + 1
    assert len(segments[-1]) < (segments[-1].index[-1] - segments[-1].index[0]) / pd.Timedelta("1h") + 1


def test_daily_realised_sums_hourly_returns_and_spans_gaps():
    hourly = load_hourly("BTC").loc["2023-03-22":"2023-03-26"]
    assert len(hourly.loc["2023-03-24"]) == 23  # Binance outage: one bar missing, not filled
    daily = daily_realised(hourly)
    assert list(daily.index.strftime("%m-%d")) == ["03-23", "03-24", "03-25", "03-26"]
    closes = hourly["close"].resample("1D").last()
    expected = 100 * np.log(closes).diff().dropna()
    np.testing.assert_allclose(daily["ret"], expected.loc[daily.index], rtol=1e-12, atol=1e-12)
    r = 100 * np.log(hourly["close"]).diff().loc["2023-03-24"]
    np.testing.assert_allclose(daily.loc["2023-03-24", "rv"], (r**2).sum(), rtol=1e-12)
    assert daily_realised(hourly.iloc[:-1]).index[-1] == pd.Timestamp("2023-03-25", tz="UTC")  # incomplete day dropped


def test_eth_daily_is_extended_from_hourly_to_june_2025():
    daily = load_daily("ETH")
    assert daily.index[-1] == LAST
    hourly = load_hourly("ETH").loc["2025-01-01":]
    resampled = hourly["close"].resample("1D").last()
    np.testing.assert_array_equal(daily["close"].loc["2025-01-01":], resampled.loc[:LAST])


def test_market_days_are_contiguous_within_segments():
    days = market_days("ETH")
    for _, d in days.groupby("segment"):
        assert (d.index.to_series().diff().dropna() == pd.Timedelta("1D")).all()
    assert days.index[-1] == LAST and (days["rv"] > 0).all()


def test_dvol_and_funding():
    dvol = load_dvol("BTC")
    assert dvol.index[0] == pd.Timestamp("2021-03-24", tz="UTC") and dvol.index[-1] == LAST
    funding = load_funding("ETH")
    assert (funding.index.hour % 8 == 0).all() and funding.abs().max() < 0.01
    assert funding.index[-1] == LAST + pd.Timedelta("16h")
