"""The protocol backtest's report: windows, the JSON shape the lead tunes with, the forecast cache, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer import Typer
from typer.testing import CliRunner

from models import cli
from models.baselines import VolForecast
from models.protocol.forecasts import _read, _write
from models.protocol.policies import AAVE_V3, MappingPolicy, StaticPolicy
from models.protocol.report import METRIC_KEYS, ProtocolBacktest, run_market, windows_for
from models.protocol.chain import MarketRules
from models.protocol.simulation import SimulationConfig

STRESS = ("2020-03", "2021-05", "2022-06", "2022-11", "2024-08", "2025-02")


def test_windows_for_keeps_all_and_the_months_the_days_overlap_clipped_to_them():
    days = pd.date_range("2021-05-10", "2022-06-30", freq="1D", tz="UTC")
    windows = {w.name: w for w in windows_for(days, STRESS)}
    assert list(windows) == ["all", "2021-05", "2022-06"]
    assert windows["2021-05"].first == days[0] and windows["2021-05"].last == pd.Timestamp("2021-05-31", tz="UTC")
    assert windows["all"].last == days[-1]


def synthetic_market(days: int) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """A random walk of hourly bars with a -30% hour on day 10 (shape tests, not outcomes)."""
    rng = np.random.default_rng(3)
    index = pd.date_range("2022-10-20", periods=24 * days, freq="1h", tz="UTC")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.006, len(index))))
    close[240:] *= 0.7
    open_ = np.concatenate([[100.0], close[:-1]])
    bars = pd.DataFrame({"open": open_, "high": np.maximum(open_, close), "low": np.minimum(open_, close) * 0.995,
                         "close": close, "volume": 1e5}, index=index)
    return bars, pd.date_range(index[0], periods=days, freq="1D")


def synthetic_forecasts(days: pd.DatetimeIndex) -> VolForecast:
    variance = np.where(np.arange(len(days)) < 10, 4.0, 30.0)  # percent²: vol 2% then 5.5%
    return VolForecast(days, variance, 2.33 * np.sqrt(variance), 2.67 * np.sqrt(variance))


def test_to_json_has_the_shape_the_issue_fixes_for_every_market_window_and_policy():
    bars, days = synthetic_market(50)
    policies = [StaticPolicy("static-aave", AAVE_V3["BTC"]), MappingPolicy("raw-mapping", synthetic_forecasts(days))]
    config = SimulationConfig(holding_days=10)
    market = run_market("BTC", policies, bars, days, config)
    report = ProtocolBacktest({"BTC": market}, "raw-mapping", config, MarketRules()).to_json()
    entry = report["markets"]["BTC"]
    assert entry["shipped_policy"] == "raw-mapping"
    assert list(entry["windows"]) == ["all", "2022-11"]
    for window in entry["windows"].values():
        assert set(window["policies"]) == {"static-aave", "raw-mapping"}
        for metrics in window["policies"].values():
            assert list(metrics)[: len(METRIC_KEYS)] == list(METRIC_KEYS)
            assert all(isinstance(metrics[k], int) for k in ("positions", "positions_with_bad_debt",
                                                             "parameter_induced_liquidations", "rejected_updates",
                                                             "frozen_days"))
    static = entry["windows"]["all"]["policies"]["static-aave"]
    assert static["positions"] == 40 * len(config.ltv_fractions)
    assert static["mean_max_ltv"] == pytest.approx(0.73, abs=1e-6) and static["rejected_updates"] == 0
    raw = entry["windows"]["all"]["policies"]["raw-mapping"]
    assert raw["rejected_updates"] >= 1 and raw["frozen_days"] >= raw["rejected_updates"]  # vol jumps 2.7x
    json.dumps(report)


def test_forecast_cache_round_trips_exactly(tmp_path):
    days = pd.date_range("2020-01-01", periods=5, freq="1D", tz="UTC")
    forecast = synthetic_forecasts(days)
    path = tmp_path / "f.npz"
    _write(path, {"BTC": {"ewma": forecast}}, {"k": 1})
    back = _read(path)["BTC"]["ewma"]
    assert back.index.equals(days)
    assert np.array_equal(back.variance, forecast.variance) and np.array_equal(back.es99, forecast.es99)


def test_backtest_protocol_command_writes_json_markdown_and_charts(tmp_path):
    # one walk-forward fold (2024-08 on) of two versions and the simulation
    app = Typer()
    app.command()(cli.backtest)
    app.command()(cli.train)
    out = tmp_path / "protocol.json"
    args = ["backtest", "--protocol", "--markets", "BTC,ETH", "--json", str(out), "--start", "2024-08-01",
            "--markdown", str(tmp_path / "protocol.md"), "--png", str(tmp_path / "png"),
            "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    for market in ("BTC", "ETH"):
        entry = report["markets"][market]
        assert entry["shipped_policy"] == "har-policy@2.0.0"
        assert list(entry["windows"]) == ["all", "2024-08", "2025-02"]
        for window in entry["windows"].values():
            policies = window["policies"]
            assert set(policies) == {"har-policy@2.0.0", "static-aave", "raw-mapping", "ewma-mapping", "garch-mapping"}
            for metrics in policies.values():
                assert set(METRIC_KEYS) <= set(metrics)
            assert policies["static-aave"]["rejected_updates"] == policies["static-aave"]["frozen_days"] == 0
        assert entry["windows"]["all"]["policies"]["static-aave"]["positions"] > 0
    # the shipped version's forecasts and round 1's (the raw mapping's), one cache file each
    assert len(list((tmp_path / "cache").glob("walk-forward-*.npz"))) == 2
    assert (tmp_path / "png" / "protocol_BTC.png").read_bytes()[:4] == b"\x89PNG"
    assert "| **har-policy@2.0.0** (shipped) |" in (tmp_path / "protocol.md").read_text()
