"""`zkrisk backtest --options` on two bundled weeks: the issue's JSON shape, the markdown, the charts,
and the shipped shocks' cache (a second run reads them back and reports the same numbers)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from models.margin_backtest import BASELINES, PORTFOLIOS
from oracle.cli import app

SHIPPED = "har-margin@1.0.0"


@pytest.mark.slow
def test_backtest_options_cli_writes_every_method_and_portfolio(tmp_path) -> None:
    cache = tmp_path / "cache"
    args = ["backtest", "--options", "--markets", "BTC,ETH", "--start", "2025-06-01", "--end", "2025-06-14",
            "--cache-dir", str(cache)]
    first = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "a.json"), "--markdown", str(tmp_path / "a.md"),
                                     "--png", str(tmp_path / "png")])
    assert first.exit_code == 0, first.output
    report = json.loads((tmp_path / "a.json").read_text())
    for market in ("BTC", "ETH"):
        entry = report["markets"][market]
        assert entry["shipped_method"] == SHIPPED
        assert (entry["test_start"], entry["test_end"]) == ("2025-05-31", "2025-06-13")
        assert set(entry["portfolios"]) == {p.name for p in PORTFOLIOS}
        for portfolio in entry["portfolios"].values():
            assert set(portfolio["methods"]) == {*BASELINES, SHIPPED}
            for stats in portfolio["methods"].values():
                assert stats["days"] == 14
                assert 0 <= stats["exceedances"] <= stats["days"]
                assert 0.0 <= stats["kupiec_p"] <= 1.0 and stats["mean_margin"] > 0.0
        assert (tmp_path / "png" / f"options_margin_{market}.png").stat().st_size > 0
    assert "flat smile" in (tmp_path / "a.md").read_text()
    assert len(list(cache.glob("options-shocks-*.npz"))) == 1

    second = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "b.json")])
    assert second.exit_code == 0, second.output
    assert json.loads((tmp_path / "b.json").read_text()) == report


def test_backtest_options_cli_rejects_a_market_the_model_does_not_cover(tmp_path) -> None:
    result = CliRunner().invoke(app, ["backtest", "--options", "--markets", "DOGE", "--json", str(tmp_path / "x.json")])
    assert result.exit_code != 0
    assert "no shocks for ['DOGE']" in str(result.exception)
    assert not (tmp_path / "x.json").exists()
