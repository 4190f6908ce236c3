"""Live market data adapters behind one interface; every frame is validated before it is returned.

- `ExchangeOHLCV`: spot OHLCV from any ccxt exchange (Binance by default), paged by `since`.
- `DeribitDVOL`: Deribit's DVOL index (public/get_volatility_index_data) over httpx, paged by
  `continuation`.

The transport is the seam: tests hand `ExchangeOHLCV` a ccxt exchange whose `fetch` replays recorded
responses, and `DeribitDVOL` an `httpx.Client` on an `httpx.MockTransport`; nothing else changes.
"""

from __future__ import annotations

from typing import Protocol

import ccxt
import httpx
import pandas as pd

from models.data import HOURLY_RULES
from models.errors import InsufficientDataError
from models.spec import market_id
from models.validation import ValidationRules, validate_ohlcv

_MS = pd.Timedelta("1ms")


class MarketDataSource(Protocol):
    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Validated bars of `symbol` with open time in [start, end], indexed by UTC timestamp."""


def _to_ms(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).tz_convert("UTC").value // 1_000_000)


def _frame(rows: list[list[float]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["timestamp", *columns])
    index = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], unit="ms", utc=True), name="timestamp")
    return frame.drop(columns="timestamp").set_index(index).astype(float)


class ExchangeOHLCV:
    """OHLCV bars of `<market>/<quote>` from a ccxt exchange."""

    def __init__(self, exchange: ccxt.Exchange | None = None, quote: str = "USDT", timeframe: str = "1h",
                 page_limit: int = 1000, rules: ValidationRules = HOURLY_RULES) -> None:
        self.exchange = exchange or ccxt.binance({"enableRateLimit": True})
        self.quote, self.timeframe, self.page_limit, self.rules = quote, timeframe, page_limit, rules
        self.step = pd.Timedelta(self.exchange.parse_timeframe(timeframe), "s")

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        market_id(symbol)
        pair, rows, since = f"{symbol.upper()}/{self.quote}", [], _to_ms(start)
        while since <= _to_ms(end):
            page = self.exchange.fetch_ohlcv(pair, self.timeframe, since=since, limit=self.page_limit)
            rows += [row for row in page if row[0] <= _to_ms(end)]
            if len(page) < self.page_limit:
                break
            since = int(page[-1][0]) + int(self.step / _MS)
        if not rows:
            raise InsufficientDataError(symbol, start, f"{self.exchange.id} returned no {pair} bars up to {end}")
        frame = _frame(rows, ["open", "high", "low", "close", "volume"])
        return validate_ohlcv(frame, symbol.upper(), self.step, self.rules)


class DeribitDVOL:
    """Deribit DVOL (annualised percent) OHLC bars at daily resolution."""

    URL = "https://www.deribit.com/api/v2/public/get_volatility_index_data"

    def __init__(self, client: httpx.Client | None = None, resolution: str = "1D") -> None:
        self.client = client or httpx.Client(timeout=10.0)
        self.resolution = resolution
        self.step = pd.Timedelta(resolution)

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        market_id(symbol)
        rows: list[list[float]] = []
        params = {"currency": symbol.upper(), "start_timestamp": _to_ms(start),
                  "end_timestamp": _to_ms(end), "resolution": self.resolution}
        while True:
            response = self.client.get(self.URL, params=params)
            response.raise_for_status()
            result = response.json()["result"]
            rows += result["data"]
            # Deribit pages backwards: `continuation` is the end timestamp of the next (older) page.
            if result.get("continuation") is None:
                break
            params["end_timestamp"] = int(result["continuation"])
        if not rows:
            raise InsufficientDataError(symbol, start, f"Deribit returned no DVOL bars up to {end}")
        frame = _frame(sorted(rows), ["open", "high", "low", "close"])
        frame = frame.loc[~frame.index.duplicated()]
        return validate_ohlcv(frame, symbol.upper(), self.step)
