"""`zkrisk train` and `zkrisk backtest`: command functions the CLI registers (typer annotations).

    from models.cli import backtest, train
    app.command()(train); app.command()(backtest)
"""

from __future__ import annotations

from pathlib import Path

import torch
import typer

from models.spec import MARKETS
from models.versions import SHIPPED

#: The networks are tiny: one thread is faster than several fighting over a shared machine, and
#: keeps runs bit-for-bit reproducible.
TORCH_THREADS = 1


def train(model_id: str = typer.Option(None, help="model id (folder under circuits/); default: the shipped one"),
          version: str = typer.Option(None, help="version to write; default: the shipped one"),
          options: bool = typer.Option(False, "--options", help="the options-margin model instead of the lending one"),
          report: Path = typer.Option(None, help="also write the walk-forward report (markdown) here")) -> None:
    """Train the shipped lending model (or with --options the options-margin model) walk-forward on
    bundled real data and store the version."""
    torch.set_num_threads(TORCH_THREADS)
    if options:
        from models.scenarios import train_options, write_report
        from models.versions import OPTIONS_PRODUCTION

        stored, scenarios = train_options(model_id=model_id or OPTIONS_PRODUCTION[0],
                                          version=version or OPTIONS_PRODUCTION[1])
        typer.echo(scenarios.markdown())
        write_report(scenarios, markdown_path=report)
    else:
        from models.train import ForecasterConfig, train as run

        stored, backtest = run(ForecasterConfig(), model_id=model_id or SHIPPED[0], version=version or SHIPPED[1])
        typer.echo(backtest.markdown())
        if report:
            backtest.write(markdown_path=report)
    typer.echo(f"stored {stored.model_id}@{stored.version} in {stored.directory}")


def backtest(markets: str = typer.Option(",".join(MARKETS), help="comma-separated markets"),
             json_path: Path = typer.Option(None, "--json", help="write the JSON report here"),
             markdown: Path = typer.Option(None, help="write the markdown report here"),
             png: Path = typer.Option(None, help="write the forecast vs realised chart here (with --protocol: "
                                                 "a directory for one chart per market)"),
             model_id: str = typer.Option(SHIPPED[0], help="model id"),
             version: str = typer.Option(SHIPPED[1], help="model version"),
             protocol: bool = typer.Option(False, "--protocol", help="protocol-outcome backtest of lending "
                                           "parameter policies instead (docs/protocol-backtest.md)"),
             liquidation: bool = typer.Option(False, "--liquidation", help="calibration of the liquidation "
                                              "probabilities instead (models/liquidation.py)"),
             options: bool = typer.Option(False, "--options", help="options margin backtest of standard "
                                          "portfolios by margin method instead (models/margin_backtest.py)"),
             start: str = typer.Option(None, help="with --protocol: first simulated day and first walk-forward "
                                                  "fold (default 2020-01-01); with --options: first walk-forward "
                                                  "fold (default 2022-01-01)"),
             end: str = typer.Option(None, help="with --options: last day of the next-day losses"),
             cache_dir: Path = typer.Option(None, help="with --protocol or --options: forecast cache "
                                                     "(default .zkrisk/forecasts)")
             ) -> None:
    """Walk-forward backtest of a model version's configuration against ewma, garch, gjr and har; with
    --protocol, the lending market simulation of parameter policies on the hourly bars."""
    selected = tuple(m.strip().upper() for m in markets.split(",") if m.strip())
    if liquidation:
        from models.liquidation import calibration_backtest

        result = calibration_backtest(selected, model_id, version)
        result.write(json_path, markdown)
        typer.echo(result.markdown())
        return
    if options:
        from models.margin_backtest import margin_backtest
        from models.protocol.forecasts import CACHE_DIR
        from models.scenarios import OPTIONS_TEST_START

        margins = margin_backtest(selected, start or OPTIONS_TEST_START, end, cache_dir or CACHE_DIR)
        margins.write(json_path, markdown, png)
        typer.echo(margins.markdown())
        return
    if protocol:
        from models.protocol.forecasts import CACHE_DIR, FORECAST_START
        from models.protocol.report import protocol_backtest

        report = protocol_backtest(selected, model_id, version, start or FORECAST_START,
                                   cache_dir=cache_dir or CACHE_DIR)
        report.write(json_path, markdown, png)
        typer.echo(report.markdown())
        return
    from models.train import ForecasterConfig, walk_forward
    from models.versions import load_version

    torch.set_num_threads(TORCH_THREADS)
    stored = load_version(model_id, version)
    if "train_config" not in stored.card:
        raise typer.BadParameter(f"{model_id}@{version} was not trained walk-forward (no train_config in its card)")
    config = ForecasterConfig.from_dict(stored.card["train_config"])
    result = walk_forward(config, stored.model_id, selected)
    result.write(json_path, markdown, png)
    typer.echo(result.markdown())
