"""`zkrisk backtest` end to end on the bundled data: the JSON shape others read, markdown and chart."""

from __future__ import annotations

import json

import pytest
from typer import Typer
from typer.testing import CliRunner

from float_tolerance import assert_scores_match
from models import cli

pytestmark = pytest.mark.slow  # the walk-forward refits every model on every fold (about a minute)


def test_backtest_command_writes_json_markdown_and_png(tmp_path):
    app = Typer()
    app.command()(cli.backtest)
    app.command()(cli.train)  # registered as the lead's CLI does; two commands keep subcommand names
    out = tmp_path / "bt.json"
    result = CliRunner().invoke(app, ["backtest", "--markets", "BTC,ETH", "--json", str(out),
                                      "--markdown", str(tmp_path / "bt.md"), "--png", str(tmp_path / "bt.png")])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    for market in ("BTC", "ETH"):
        entry = report["markets"][market]
        assert set(entry["models"]) == {"ewma", "garch", "gjr", "har", "har-policy"}
        assert set(entry["models"]["har-policy"]["dm_p"]) == {"ewma", "garch", "gjr", "har"}
        for scores in entry["models"].values():
            assert {"qlike", "mse", "var99_hit_rate", "kupiec_p", "christoffersen_p"} <= set(scores)
        assert entry["test_start"] == "2021-01-01" and entry["test_end"] == "2025-06-30"
        assert len(entry["series"]["vol"]) == len(entry["series"]["es99"]) == len(entry["series"]["dates"])
    card = json.loads((cli_version_dir() / "model_card.json").read_text())
    scores = {k: v for k, v in report["markets"]["BTC"]["models"]["har-policy"].items() if k != "dm_p"}
    assert_scores_match(scores, card["walk_forward"]["BTC"]["scores"]["har-policy"])
    assert (tmp_path / "bt.png").read_bytes()[:4] == b"\x89PNG"
    assert "| har-policy |" in (tmp_path / "bt.md").read_text()


def cli_version_dir():
    from models.versions import version_dir

    return version_dir("har-policy", "2.0.0")
