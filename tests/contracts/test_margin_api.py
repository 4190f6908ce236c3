"""`POST /margin` reading a deployed OptionsMarginEngine on anvil through `ChainEngineView` (web3): the
quote for an account's legs equals the engine's own `accountMargin` of that account within the engine's
tolerance (1e-12 of gross notional, test_options_margin.py), on the proved grid and on the static one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chain_helpers import BTC, ETH
from options_helpers import DAY, SPOTS, OptionsDeployment, deploy_options, from_wad, sid, untraced_chain_fixtures
from oracle.api.routers.margin import ChainEngineView, engine_view, router

pytestmark = pytest.mark.chain

MARGIN_TOLERANCE = 1e-12

# Trades are margin-checked transactions: run them on an anvil without step tracing (see options_helpers).
own_chain, _function_isolation = untraced_chain_fixtures()


@dataclass(frozen=True)
class Desk:
    options: OptionsDeployment
    maker: Any
    taker: Any


@pytest.fixture(scope="module")
def desk(own_chain, project, owner, chain, accounts) -> Desk:
    """The engine, and a maker and a taker with 1,000,000 of cash each."""
    desk = Desk(deploy_options(project, owner, chain_id=chain.chain_id), accounts[7], accounts[8])
    for account in (desk.maker, desk.taker):
        desk.options.fund(account, 1_000_000, owner)
    return desk


@pytest.fixture
def client(desk, chain, project):
    abi = project.OptionsMarginEngine.contract_type.model_dump(mode="json", by_alias=True)["abi"]
    view = ChainEngineView(chain.provider.web3, desk.options.engine.address, abi)
    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[engine_view] = lambda: view
    return TestClient(app)


def _open(desk, chain, legs: list[tuple[int, float, bool, int, float]]) -> list[dict]:
    """desk.taker sells (size < 0) or buys each leg (market, strike, is_call, days, taker size) from
    desk.maker; returns the legs as the API's body."""
    now = chain.blocks.head.timestamp
    body = []
    for market, strike, is_call, days, size in legs:
        expiry = now + days * DAY
        premium = -100.0 if size < 0 else 100.0  # what the maker receives
        desk.options.trade(desk.maker, desk.taker, sid(market, expiry, strike, is_call), -size, premium, now + 3_600)
        body.append({"market": {BTC: "BTC", ETH: "ETH"}[market], "type": "call" if is_call else "put",
                     "strike": strike, "expiry": expiry, "size": abs(size), "side": "long" if size > 0 else "short"})
    return body


def _assert_quote_is_the_engines(quote: dict, desk, legs: list[dict]) -> None:
    margin = desk.options.engine.accountMargin(desk.taker.address)
    gross = sum(x["size"] * SPOTS[BTC if x["market"] == "BTC" else ETH] for x in legs)
    tolerance = MARGIN_TOLERANCE * gross
    assert quote["initial_margin"] == pytest.approx(from_wad(margin.initialMargin), abs=tolerance)
    assert quote["maintenance_margin"] == pytest.approx(from_wad(margin.maintenanceMargin), abs=tolerance)
    assert quote["mark_value"] == pytest.approx(from_wad(margin.markValue), abs=tolerance)
    assert quote["static_grid"] is bool(margin.staticGrid)


def test_quote_equals_engine_margin_of_the_same_legs(desk, client, chain) -> None:
    legs = _open(desk, chain, [(BTC, 60_000.0, True, 7, -1.0), (BTC, 60_000.0, False, 7, -1.0),
                                             (ETH, 2_800.0, False, 30, 2.0)])
    response = client.post("/margin", json={"legs": legs})
    assert response.status_code == 200, response.text
    quote = response.json()
    _assert_quote_is_the_engines(quote, desk, legs)
    assert quote["at"] == chain.blocks.head.timestamp
    # the straddle's worst is vol up at the largest move; 0.55 up is above IM's floor, so IM up is that scenario
    assert quote["worst_market"] == "BTC" and quote["worst_scenario"]["vol_level"] == "up"


def test_quote_uses_the_static_grid_when_the_engine_does(desk, client, chain, owner) -> None:
    legs = _open(desk, chain, [(BTC, 55_000.0, False, 30, -1.0)])
    desk.options.set_shocks(BTC, {"spot_down": 0.9, "spot_up": 0.09, "iv_up": 0.3, "iv_down": 0.2, "ref_iv": 0.55}, owner)
    quote = client.post("/margin", json={"legs": legs}).json()
    assert quote["static_grid"] is True and quote["markets"][0]["shocks"]["spot_down"] == pytest.approx(0.16)
    _assert_quote_is_the_engines(quote, desk, legs)


def test_quote_rejects_an_expiry_beyond_the_engines_horizon(client, chain) -> None:
    expiry = chain.blocks.head.timestamp + 400 * DAY
    response = client.post("/margin", json={"legs": [{"market": "BTC", "type": "call", "strike": 60_000.0,
                                                      "expiry": expiry, "size": 1.0, "side": "short"}]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "legs", 0, "expiry"]
