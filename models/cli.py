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


def train(model_id: str = typer.Option(SHIPPED[0], help="model id (folder under circuits/)"),
          version: str = typer.Option(SHIPPED[1], help="version to write"),
          report: Path = typer.Option(None, help="also write the walk-forward report (markdown) here")) -> None:
    """Train the shipped forecaster walk-forward on bundled real data and store the version."""
    from models.train import ForecasterConfig, train as run

    torch.set_num_threads(TORCH_THREADS)
    stored, backtest = run(ForecasterConfig(), model_id=model_id, version=version)
    typer.echo(backtest.markdown())
    if report:
        backtest.write(markdown_path=report)
    typer.echo(f"stored {stored.model_id}@{stored.version} in {stored.directory}")


def backtest(markets: str = typer.Option(",".join(MARKETS), help="comma-separated markets"),
             json_path: Path = typer.Option(None, "--json", help="write the JSON report here"),
             markdown: Path = typer.Option(None, help="write the markdown report here"),
             png: Path = typer.Option(None, help="write the forecast vs realised chart here"),
             model_id: str = typer.Option(SHIPPED[0], help="model id"),
             version: str = typer.Option(SHIPPED[1], help="model version")) -> None:
    """Walk-forward backtest of a model version's configuration against ewma, garch, gjr and har."""
    from models.train import ForecasterConfig, walk_forward
    from models.versions import load_version

    torch.set_num_threads(TORCH_THREADS)
    stored = load_version(model_id, version)
    if "train_config" not in stored.card:
        raise typer.BadParameter(f"{model_id}@{version} was not trained walk-forward (no train_config in its card)")
    config = ForecasterConfig.from_dict(stored.card["train_config"])
    selected = tuple(m.strip().upper() for m in markets.split(",") if m.strip())
    result = walk_forward(config, stored.model_id, selected, stored.mapping)
    result.write(json_path, markdown, png)
    typer.echo(result.markdown())
