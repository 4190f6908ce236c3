"""Deployment and helpers shared by the options engine tests and scripts/bench_options_gas.py.

The engine runs against test doubles that stand in for what it reads: a settable IRiskParameterSource
(TestRiskParameterSource), Chainlink-style price feeds (TestPriceFeed) and an 18-decimal stablecoin
(TestToken). Everything else is the real contract.

Modules that send many margin-checked transactions run them on `untraced_chain`: ape-foundry starts
anvil with --steps-tracing, which keeps a copy of memory for every opcode of every transaction; one
20-leg margin check is millions of opcodes, and a few hundred such transactions exhausted a 24 GB
machine. Reads (eth_call) are not traced, so the math tests stay on the session chain.
"""

from __future__ import annotations

import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import pytest

from ape_isolation import separate_caches
from chain_helpers import BTC, ETH, wad
from models.options import SHOCK_NAMES, Position, ScenarioGrid, portfolio_margin
from models.spec import WAD
from oracle.chain.options import Order, reference_positions, series_id
from prover.toolchain import anvil_executable, free_port, rpc_alive

DAY = 86_400
FEED_DECIMALS = 8
SPOTS = {BTC: 60_000.0, ETH: 3_000.0}
SHOCKS = {
    BTC: {"spot_down": 0.08, "spot_up": 0.09, "iv_up": 0.3, "iv_down": 0.2, "ref_iv": 0.55},
    ETH: {"spot_down": 0.10, "spot_up": 0.12, "iv_up": 0.35, "iv_down": 0.25, "ref_iv": 0.70},
}
MAX_PRICE_AGE = 3_600
LIQUIDATION_BONUS = 0.1
#: Chain id of `untraced_chain`, apart from the session anvil's 31337 (Ape keys its snapshots by chain id).
UNTRACED_CHAIN_ID = 31_338


@contextmanager
def untraced_chain() -> Iterator[str]:
    """Ape's active provider is, for the duration, an anvil of our own without step tracing (anvil's
    default development accounts, which are Ape's test accounts), with contract caches of its own;
    yields its URL."""
    from ape import chain, networks

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([str(anvil_executable()), "--port", str(port), "--chain-id", str(UNTRACED_CHAIN_ID)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):
            if rpc_alive(url):
                break
            time.sleep(0.05)
        with networks.ethereum.local.use_provider("foundry", provider_settings={"host": url}), separate_caches(chain):
            yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def untraced_chain_fixtures():
    """(own_chain, _function_isolation) for a module whose transactions run on `untraced_chain`:

        own_chain, _function_isolation = untraced_chain_fixtures()

    The module-scoped `own_chain` switches the provider for the module. `_function_isolation` takes the
    name of Ape's per-test isolation fixture, so Ape injects none of its own snapshots into these tests
    (they would be taken on the session chain) and each test is rolled back on this chain instead."""

    @pytest.fixture(scope="module", autouse=True)
    def own_chain():
        with untraced_chain() as url:
            yield url

    @pytest.fixture(autouse=True)
    def _function_isolation(own_chain, chain):
        snapshot = chain.snapshot()
        yield
        chain.restore(snapshot)

    return own_chain, _function_isolation


def from_wad(x: int) -> float:
    return x / WAD


def shocks_tuple(grid: ScenarioGrid) -> tuple[int, ...]:
    """IOptionsMarginEngine.Shocks of a grid (RiskLayouts order = SHOCK_NAMES order)."""
    return tuple(wad(getattr(grid, name)) for name in SHOCK_NAMES)


def shocks_wad(shocks: Mapping[str, float]) -> list[int]:
    return [wad(shocks[name]) for name in SHOCK_NAMES]


@dataclass
class OptionsDeployment:
    engine: Any
    token: Any
    source: Any
    feeds: dict[int, Any]
    chain_id: int
    nonces: dict[str, int] = field(default_factory=dict)

    def set_spot(self, market: int, spot: float, sender) -> None:
        self.feeds[market].setAnswer(int(round(spot * 10**FEED_DECIMALS)), sender=sender)

    def set_shocks(self, market: int, shocks: Mapping[str, float], sender) -> None:
        self.source.setShocks(market, shocks_wad(shocks), sender=sender)

    def fund(self, account, amount: float, minter) -> None:
        self.token.mint(account.address, wad(amount), sender=minter)
        self.token.approve(self.engine.address, 2**256 - 1, sender=account)
        self.engine.deposit(wad(amount), sender=account)

    def order(self, maker, sid: int, size: float, premium: float, deadline: int, taker: str | None = None,
              nonce: int | None = None) -> tuple[Order, bytes]:
        """A signed order: `size` contracts for the maker (+ buys), `premium` cash the maker receives."""
        if nonce is None:
            nonce = self.nonces.get(maker.address, 0)
            self.nonces[maker.address] = nonce + 1
        order = Order(maker=maker.address, series_id=sid, size=wad(size), premium=wad(premium), nonce=nonce,
                      deadline=deadline, **({"taker": taker} if taker else {}))
        return order, order.sign(maker.private_key, self.engine.address, self.chain_id)

    def trade(self, maker, taker, sid: int, size: float, premium: float, deadline: int, **kwargs):
        order, signature = self.order(maker, sid, size, premium, deadline)
        return self.engine.trade(order.as_tuple(), signature, sender=taker, **kwargs)

    def reference_margin(self, account, now: int):
        """models.options margin of an account, from the feed spots and the grids the engine selects."""
        positions: list[Position] = reference_positions(self.engine, account.address)
        spots, grids = {}, {}
        for market in {p.market for p in positions}:
            spots[market] = from_wad(self.engine.spotPrice(market))
            grids[market] = grid_from_chain(*self.engine.marketShocks(market))
        return portfolio_margin(positions, spots, grids, now)


def grid_from_chain(shocks, static: bool) -> ScenarioGrid:
    return ScenarioGrid(*(from_wad(x) for x in shocks), static=static)


def deploy_options(project, owner, spots: Mapping[int, float] = SPOTS, shocks=SHOCKS, chain_id: int = 0,
                   max_price_age: int = MAX_PRICE_AGE, bonus: float = LIQUIDATION_BONUS) -> OptionsDeployment:
    token = project.TestToken.deploy("USD Coin", "USDC", sender=owner)
    source = project.TestRiskParameterSource.deploy(sender=owner)
    feeds = {m: project.TestPriceFeed.deploy(FEED_DECIMALS, int(round(s * 10**FEED_DECIMALS)), sender=owner)
             for m, s in spots.items()}
    engine = project.OptionsMarginEngine.deploy(token.address, source.address,
                                                [(m, f.address) for m, f in feeds.items()], max_price_age,
                                                wad(bonus), sender=owner)
    deployment = OptionsDeployment(engine=engine, token=token, source=source, feeds=feeds, chain_id=chain_id)
    for market, values in shocks.items():
        deployment.set_shocks(market, values, owner)
    return deployment


def sid(market: int, expiry: int, strike: float, is_call: bool) -> int:
    return series_id(market, expiry, wad(strike), is_call)
