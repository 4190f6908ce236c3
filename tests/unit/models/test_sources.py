"""Live adapters on recorded responses (fixtures/): ccxt's request layer and httpx's transport replay them."""

from __future__ import annotations

import json
from pathlib import Path

import ccxt
import httpx
import pandas as pd
import pytest

from models.data import load_dvol, load_hourly
from models.errors import GapError
from models.sources import DeribitDVOL, ExchangeOHLCV

FIXTURES = Path(__file__).parent / "fixtures"
MARKET = {"id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "baseId": "BTC", "quoteId": "USDT",
          "type": "spot", "spot": True, "margin": False, "swap": False, "future": False, "option": False,
          "contract": False, "active": True, "precision": {}, "limits": {}, "info": {}}


def replaying_binance(pages: list[list[list]]) -> tuple[ccxt.binance, list[str]]:
    """A real ccxt binance instance whose HTTP layer returns recorded kline pages in order."""
    exchange = ccxt.binance({"enableRateLimit": False})
    exchange.set_markets([MARKET])  # skip exchangeInfo: only klines are recorded
    urls: list[str] = []

    def fetch(url, method="GET", headers=None, body=None):
        urls.append(url)
        return pages[len(urls) - 1]

    exchange.fetch = fetch
    return exchange, urls


def test_exchange_ohlcv_pages_and_matches_the_bundled_bars():
    recorded = json.loads((FIXTURES / "binance_klines_BTCUSDT_1h.json").read_text())
    exchange, urls = replaying_binance([recorded["page1"], recorded["page2"]])
    source = ExchangeOHLCV(exchange, page_limit=48)
    start, end = pd.Timestamp("2025-06-28", tz="UTC"), pd.Timestamp("2025-06-30 23:00", tz="UTC")
    frame = source.fetch("BTC", start, end)
    assert len(urls) == 2 and "symbol=BTCUSDT" in urls[0] and "interval=1h" in urls[0]
    assert f"startTime={int(start.value // 10**6) + 48 * 3600_000}" in urls[1]
    bundled = load_hourly("BTC").loc[start:end]
    pd.testing.assert_frame_equal(frame, bundled, check_names=False, check_freq=False)


def test_exchange_ohlcv_rejects_a_gap():
    recorded = json.loads((FIXTURES / "binance_klines_BTCUSDT_1h.json").read_text())
    page = recorded["page1"][:10] + recorded["page1"][25:]  # 15 hours missing: more than tolerated
    exchange, _ = replaying_binance([page])
    with pytest.raises(GapError):
        ExchangeOHLCV(exchange).fetch("BTC", pd.Timestamp("2025-06-28", tz="UTC"), pd.Timestamp("2025-06-29 23:00", tz="UTC"))


def test_deribit_dvol_follows_continuation():
    recorded = json.loads((FIXTURES / "deribit_dvol_BTC_1D.json").read_text())
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = recorded["newer"] if len(seen) == 1 else recorded["older"]
        return httpx.Response(200, json=body)

    source = DeribitDVOL(httpx.Client(transport=httpx.MockTransport(handler)))
    start, end = pd.Timestamp("2025-06-25", tz="UTC"), pd.Timestamp("2025-06-30", tz="UTC")
    frame = source.fetch("BTC", start, end)
    assert seen[0].url.params["currency"] == "BTC" and seen[0].url.params["resolution"] == "1D"
    assert seen[1].url.params["end_timestamp"] == str(recorded["newer"]["result"]["continuation"])
    pd.testing.assert_frame_equal(frame, load_dvol("BTC").loc[start:end], check_names=False, check_freq=False)


def test_deribit_http_error_surfaces():
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(429)))
    with pytest.raises(httpx.HTTPStatusError):
        DeribitDVOL(client).fetch("ETH", pd.Timestamp("2025-06-25", tz="UTC"), pd.Timestamp("2025-06-30", tz="UTC"))
