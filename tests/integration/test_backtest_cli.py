"""`zkrisk backtest --json` writes the report shape others read (issue: Risk models)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from models.versions import SHIPPED
from oracle.cli import app


@pytest.mark.slow
def test_backtest_cli_writes_json_with_baselines_and_shipped_model(tmp_path) -> None:
    target = tmp_path / "backtest.json"
    result = CliRunner().invoke(app, ["backtest", "--markets", "BTC,ETH", "--json", str(target)])
    assert result.exit_code == 0, result.output
    report = json.loads(target.read_text())
    for market in ("BTC", "ETH"):
        entry = report["markets"][market]
        assert {"ewma", "garch", "gjr", "har", SHIPPED[0]} <= set(entry["models"])
        assert entry["test_start"] < entry["test_end"]
        for metrics in entry["models"].values():
            assert {"qlike", "mse", "var99_hit_rate", "kupiec_p", "christoffersen_p"} <= set(metrics)
            assert 0.0 <= metrics["kupiec_p"] <= 1.0
