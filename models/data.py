"""Bundled real market data (see models/data/*/SOURCE.md), loaded and validated.

Frames are indexed by UTC timestamps with float columns open, high, low, close, volume.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from models.spec import market_id
from models.validation import validate_ohlcv

DATA_DIR = Path(str(resources.files("models") / "data"))

_DAILY_FILES = {"BTC": "binance_spot_daily/BTCUSDT_1d.csv", "ETH": "binance_spot_daily/ETHUSDT_1d.csv"}


def load_daily(symbol: str) -> pd.DataFrame:
    """Daily Binance spot OHLCV for a market, validated."""
    market_id(symbol)  # unknown markets fail with the list of known ones
    symbol = symbol.upper()
    raw = pd.read_csv(DATA_DIR / _DAILY_FILES[symbol], parse_dates=["date"])
    frame = (raw.rename(columns={"volume_base": "volume"})
                .set_index(pd.DatetimeIndex(raw["date"], tz="UTC", name="timestamp"))
                .loc[:, ["open", "high", "low", "close", "volume"]]
                .astype(float))
    return validate_ohlcv(frame, symbol, "1D")
