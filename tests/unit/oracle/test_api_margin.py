"""`POST /margin` with the engine's views injected (`engine_view` overridden by an in-memory
`EngineView`): the quote is models/options.py's margin on the values read, bad legs get 422s naming
the leg and field. tests/contracts/test_margin_api.py reads a deployed engine on anvil instead."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from models.options import IM_SCENARIOS, SHORT_CONTINGENCY, Position, ScenarioGrid, portfolio_margin, scenario_losses
from models.spec import MARKETS
from oracle.api.routers import margin

NOW = 1_750_000_000
DAY = 86_400
BTC, ETH = MARKETS["BTC"], MARKETS["ETH"]
SHOCKS = {
    BTC: {"spot_down": 0.08, "spot_up": 0.09, "iv_up": 0.3, "iv_down": 0.2, "ref_iv": 0.55},
    ETH: {"spot_down": 0.10, "spot_up": 0.12, "iv_up": 0.35, "iv_down": 0.25, "ref_iv": 0.70},
}
SPOTS = {BTC: 60_000.0, ETH: 3_000.0}


@dataclass
class StoredEngineView:
    """An `EngineView` over values held in memory (what a deployed engine's views would return)."""

    shocks: dict[int, dict[str, float]] = field(default_factory=lambda: dict(SHOCKS))
    spots: dict[int, float] = field(default_factory=lambda: dict(SPOTS))
    static: bool = False
    now: int = NOW

    def market_ids(self) -> list[int]:
        return sorted(self.spots)

    def market_shocks(self, market_id: int) -> tuple[dict[str, float], bool]:
        return self.shocks[market_id], self.static

    def spot_price(self, market_id: int) -> float:
        return self.spots[market_id]

    def timestamp(self) -> int:
        return self.now


def client_for(view: StoredEngineView) -> TestClient:
    app = FastAPI()
    app.include_router(margin.router)
    app.dependency_overrides[margin.engine_view] = lambda: view
    return TestClient(app)


def leg(market="BTC", type="call", strike=60_000.0, days=7, size=1.0, side="short") -> dict:
    return {"market": market, "type": type, "strike": strike, "expiry": NOW + days * DAY, "size": size, "side": side}


def positions(legs: list[dict]) -> list[Position]:
    return [Position(MARKETS[x["market"]], x["strike"], x["expiry"], x["type"] == "call",
                     x["size"] if x["side"] == "long" else -x["size"]) for x in legs]


def test_margin_is_the_reference_margin_of_the_posted_legs() -> None:
    legs = [leg(type="call"), leg(type="put"), leg("ETH", "put", 2_800.0, 30, 2.0, "long")]
    body = client_for(StoredEngineView()).post("/margin", json={"legs": legs})
    assert body.status_code == 200, body.text
    quote = body.json()
    grids = {m: ScenarioGrid.from_shocks(s) for m, s in SHOCKS.items()}
    expected = portfolio_margin(positions(legs), SPOTS, grids, NOW)
    assert quote["initial_margin"] == pytest.approx(expected.initial, rel=1e-12)
    assert quote["maintenance_margin"] == pytest.approx(expected.maintenance, rel=1e-12)
    assert quote["mark_value"] == pytest.approx(expected.mark_value, rel=1e-12)
    assert quote["at"] == NOW and quote["static_grid"] is False
    assert [m["market"] for m in quote["markets"]] == ["BTC", "ETH"]
    assert sum(m["initial_margin"] for m in quote["markets"]) == pytest.approx(quote["initial_margin"], rel=1e-12)


def test_worst_scenario_is_the_largest_initial_margin_loss() -> None:
    legs = [leg(type="call"), leg(type="put")]
    quote = client_for(StoredEngineView()).post("/margin", json={"legs": legs}).json()
    losses = scenario_losses(positions(legs), SPOTS[BTC], ScenarioGrid.from_shocks(SHOCKS[BTC]), NOW)
    worst = quote["worst_scenario"]
    assert worst["loss"] == pytest.approx(float(losses[IM_SCENARIOS].max()), rel=1e-12)
    # a short straddle loses most on the largest move with vol up (0.55 up is above IM's floor, so IM up is the same
    # scenario and the first in engine order is named); IM is that loss + the contingency of 2 shorts
    assert worst["vol_level"] == "up" and abs(worst["spot_move"]) in (0.08, 0.09)
    assert worst["spot"] == pytest.approx(SPOTS[BTC] * (1 + worst["spot_move"]))
    assert quote["initial_margin"] == pytest.approx(worst["loss"] + 2 * SHORT_CONTINGENCY * SPOTS[BTC], rel=1e-12)
    assert quote["worst_market"] == "BTC"


def test_static_grid_from_the_engine_is_reported_and_used() -> None:
    static = ScenarioGrid.static_grid(0.55)
    view = StoredEngineView(shocks={BTC: {n: getattr(static, n) for n in SHOCKS[BTC]}}, spots={BTC: 60_000.0},
                            static=True)
    legs = [leg(type="put", strike=55_000.0, days=30)]
    quote = client_for(view).post("/margin", json={"legs": legs}).json()
    assert quote["static_grid"] is True and quote["markets"][0]["static_grid"] is True
    expected = portfolio_margin(positions(legs), 60_000.0, static, NOW)
    assert quote["maintenance_margin"] == pytest.approx(expected.maintenance, rel=1e-12)


def test_long_only_portfolio_needs_no_more_than_its_premium() -> None:
    quote = client_for(StoredEngineView()).post("/margin", json={"legs": [leg(side="long")]}).json()
    assert 0.0 < quote["initial_margin"] <= quote["mark_value"] + 1e-9
    assert quote["worst_scenario"]["loss"] == pytest.approx(quote["initial_margin"], rel=1e-12)


@pytest.mark.parametrize(("change", "field"), [
    ({"market": "DOGE"}, "market"),
    ({"type": "future"}, "type"),
    ({"side": "flat"}, "side"),
    ({"strike": 0}, "strike"),
    ({"strike": -5}, "strike"),
    ({"size": 0}, "size"),
    ({"expiry": "soon"}, "expiry"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_leg_is_a_422_naming_the_field(change: dict, field: str) -> None:
    response = client_for(StoredEngineView()).post("/margin", json={"legs": [leg(), {**leg(), **change}]})
    assert response.status_code == 422
    assert any(e["loc"][:3] == ["body", "legs", 1] and field in e["loc"] for e in response.json()["detail"]), \
        response.text


@pytest.mark.parametrize(("legs", "where"), [([], ["body", "legs"]), ([leg()] * 33, ["body", "legs"])])
def test_leg_count_is_bounded(legs: list, where: list) -> None:
    response = client_for(StoredEngineView()).post("/margin", json={"legs": legs})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == where


@pytest.mark.parametrize(("days", "message"), [(0, "not after the chain's time"), (-3, "not after the chain's time"),
                                               (366, "more than 365 days")])
def test_expiry_outside_the_engines_range_is_a_422(days: int, message: str) -> None:
    response = client_for(StoredEngineView()).post("/margin", json={"legs": [leg(days=days)]})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "legs", 0, "expiry"] and message in error["msg"]


def test_market_the_engine_does_not_list_is_a_422() -> None:
    view = StoredEngineView(spots={BTC: 60_000.0})
    response = client_for(view).post("/margin", json={"legs": [leg(), leg("ETH", strike=3_000.0)]})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "legs", 1, "market"] and "not on the engine" in error["msg"]


def test_service_without_chain_answers_503(settings) -> None:
    from oracle.api import create_app

    with TestClient(create_app(settings)) as client:
        response = client.post("/margin", json={"legs": [leg()]})
    assert response.status_code == 503
    assert "no chain" in response.json()["detail"]
