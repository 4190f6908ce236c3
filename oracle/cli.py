"""The `zkrisk` command line. Each area registers its commands here; the work lives in its package."""

from __future__ import annotations

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


if __name__ == "__main__":
    app()
