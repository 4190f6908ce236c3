"""The `zkrisk` command line. Each area registers its commands here; the work lives in its package."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)


@app.callback()
def main() -> None:
    """zkrisk: proved risk parameters for DeFi, from market data to chain."""


@app.command()
def demo(market: str = typer.Option("BTC", help="market to prove and publish"),
         rpc: str = typer.Option("http://127.0.0.1:8545", help="anvil to use if one is running there")) -> None:
    """Prove one risk update on bundled real data and publish it to a local anvil chain."""
    from oracle.demo import run_demo

    run_demo(market=market, rpc=rpc)


@app.command()
def audit(bundle: Path = typer.Argument(..., help="proof bundle (zkrisk-bundle/1 JSON)", exists=True, dir_okay=False),
          rpc: str | None = typer.Option(None, help="JSON-RPC of the chain the bundle was published on"),
          srs: Path | None = typer.Option(None, help="SRS file, when the bundle refers to a ceremony SRS by hash"),
          report: Path | None = typer.Option(None, help="also write an HTML report with plots here")) -> None:
    """Re-check a published update from its proof bundle: exit 0 only when every check passes."""
    from rich.console import Console

    from oracle.audit import audit_bundle, print_report
    from oracle.bundle import Bundle

    result = audit_bundle(Bundle.load(bundle), rpc=rpc, srs=srs, report=report)
    console = Console()
    print_report(result, console)
    if report is not None:
        console.print(f"report: {report}")
    raise typer.Exit(0 if result.passed else 1)


if __name__ == "__main__":
    app()
