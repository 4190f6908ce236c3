"""`POST /margin`: a posted options portfolio's IM/MM and worst scenario, from the parameters the
OptionsMarginEngine uses now (its `marketShocks` and `spotPrice` views, at the chain head's time),
computed by the float reference of the engine (models/options.py).

The engine's views already apply its fallback (the static grid while the oracle is paused, stale or out
of its sanity ranges), so the quote is what the engine would require of an account holding the legs.
The chain is read through `engine_view`, a dependency: tests may put any `EngineView` in its place.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.options import (
    IM_SCENARIOS,
    SHOCK_NAMES,
    VOL_LEVELS,
    Position,
    ScenarioGrid,
    market_margin,
    scenario_losses,
    worst_scenario,
)
from models.spec import MARKETS, WAD
from oracle.api.services import PipelineDep, chain_or_none

#: The engine holds at most this many series per account (OptionsMarginEngine.MAX_POSITIONS).
MAX_LEGS = 32
#: Expiries further out than this the engine refuses (OptionsMarginEngine.MAX_EXPIRY_HORIZON).
MAX_EXPIRY_HORIZON = 365 * 86_400
ENGINE_CONTRACT = "OptionsMarginEngine"

router = APIRouter(prefix="/margin", tags=["margin"])


class EngineView(Protocol):
    """What the quote reads from the engine: per market its shocks (fractions, and whether they are the
    static grid's) and validated spot, and the chain head's time."""

    def market_ids(self) -> list[int]: ...

    def market_shocks(self, market_id: int) -> tuple[dict[str, float], bool]: ...

    def spot_price(self, market_id: int) -> float: ...

    def timestamp(self) -> int: ...


class ChainEngineView:
    """`EngineView` of a deployed OptionsMarginEngine through web3 (WAD values → floats)."""

    def __init__(self, w3: Any, address: str, abi: list[dict[str, Any]]) -> None:
        self.w3 = w3
        self.engine = w3.eth.contract(address=address, abi=abi)

    def market_ids(self) -> list[int]:
        return [int(m) for m in self.engine.functions.marketIds().call()]

    def market_shocks(self, market_id: int) -> tuple[dict[str, float], bool]:
        shocks, static = self.engine.functions.marketShocks(market_id).call()
        return {name: int(value) / WAD for name, value in zip(SHOCK_NAMES, shocks)}, bool(static)

    def spot_price(self, market_id: int) -> float:
        return int(self.engine.functions.spotPrice(market_id).call()) / WAD

    def timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])


def engine_view(pipeline: PipelineDep) -> EngineView:
    """The service deployment's engine (its manifest's `OptionsMarginEngine` address and ABI); 503 when
    there is no chain or the deployment has no engine."""
    gateway = chain_or_none(pipeline)
    if gateway is None:
        raise HTTPException(503, "no chain: the deployment is not configured or its node does not answer")
    address = gateway.manifest.get("contracts", {}).get(ENGINE_CONTRACT)
    abi = gateway.manifest.get("abis", {}).get(ENGINE_CONTRACT)
    if address is None or abi is None:
        raise HTTPException(503, f"the deployment has no {ENGINE_CONTRACT} (address and ABI in its manifest)")
    return ChainEngineView(gateway.w3, address, abi)


EngineDep = Annotated[EngineView, Depends(engine_view)]


class LegIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    market: str = Field(examples=["BTC"], description="market symbol")
    type: Literal["call", "put"]
    strike: float = Field(gt=0, description="strike in cash units (USD)")
    expiry: int = Field(gt=0, description="expiry, unix seconds (UTC)")
    size: float = Field(gt=0, description="contracts, one unit of the underlying each")
    side: Literal["long", "short"]

    @field_validator("market")
    @classmethod
    def _known_market(cls, market: str) -> str:
        if market.upper() not in MARKETS:
            raise ValueError(f"unknown market {market!r}; known: {list(MARKETS)}")
        return market.upper()

    @field_validator("strike", "size")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value


class MarginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legs: list[LegIn] = Field(min_length=1, max_length=MAX_LEGS)


class ScenarioOut(BaseModel):
    vol_level: str = Field(description="which vol of the grid: ref, up, down, im_up (up floored for IM)")
    spot_move: float = Field(description="relative spot move of the scenario")
    spot: float
    loss: float = Field(description="portfolio loss against its mark in this scenario (cash units)")


class MarketMarginOut(BaseModel):
    market: str
    market_id: int
    spot: float
    shocks: dict[str, float]
    static_grid: bool
    mark_value: float
    initial_margin: float
    maintenance_margin: float
    worst_scenario: ScenarioOut = Field(description="the initial-margin scenario with the largest loss")


class MarginOut(BaseModel):
    at: int = Field(description="chain head time the quote is for (unix seconds)")
    mark_value: float
    initial_margin: float
    maintenance_margin: float
    static_grid: bool = Field(description="some market's margin used the static grid")
    worst_scenario: ScenarioOut
    worst_market: str
    markets: list[MarketMarginOut]


def _check_legs(legs: list[LegIn], now: int, served: set[int]) -> None:
    errors = []
    for i, leg in enumerate(legs):
        if MARKETS[leg.market] not in served:
            errors.append({"loc": ["body", "legs", i, "market"], "msg": f"market {leg.market} is not on the engine",
                           "type": "value_error"})
        if leg.expiry <= now:
            errors.append({"loc": ["body", "legs", i, "expiry"], "type": "value_error",
                           "msg": f"expiry {leg.expiry} is not after the chain's time {now}"})
        elif leg.expiry > now + MAX_EXPIRY_HORIZON:
            errors.append({"loc": ["body", "legs", i, "expiry"], "type": "value_error",
                           "msg": f"expiry {leg.expiry} is more than 365 days after the chain's time {now}"})
    if errors:
        raise HTTPException(422, errors)


def _worst(positions: list[Position], spot: float, grid: ScenarioGrid, now: int) -> ScenarioOut:
    losses = scenario_losses(positions, spot, grid, now)
    level, point = worst_scenario(losses, IM_SCENARIOS)
    move = float(grid.spot_moves()[point])
    return ScenarioOut(vol_level=VOL_LEVELS[level], spot_move=move, spot=spot * (1 + move),
                       loss=float(losses[level, point]))


@router.post("", response_model=MarginOut, responses={422: {"description": "bad legs"},
                                                      503: {"description": "no chain or no engine"}})
def quote_margin(request: MarginRequest, engine: EngineDep) -> MarginOut:
    """IM, MM, mark value and the worst scenario of a portfolio, per market and summed (no offsets
    across markets, as the engine)."""
    now = engine.timestamp()
    _check_legs(request.legs, now, set(engine.market_ids()))
    by_market: dict[str, list[Position]] = {}
    for leg in request.legs:
        size = leg.size if leg.side == "long" else -leg.size
        by_market.setdefault(leg.market, []).append(
            Position(MARKETS[leg.market], leg.strike, leg.expiry, leg.type == "call", size))
    markets = []
    for symbol, positions in sorted(by_market.items()):
        market_id = MARKETS[symbol]
        shocks, static = engine.market_shocks(market_id)
        grid = ScenarioGrid(**{name: shocks[name] for name in SHOCK_NAMES}, static=static)
        spot = engine.spot_price(market_id)
        margin = market_margin(positions, spot, grid, now)
        markets.append(MarketMarginOut(market=symbol, market_id=market_id, spot=spot, shocks=shocks, static_grid=static,
                                       mark_value=margin.mark_value, initial_margin=margin.initial,
                                       maintenance_margin=margin.maintenance,
                                       worst_scenario=_worst(positions, spot, grid, now)))
    worst = max(markets, key=lambda m: m.worst_scenario.loss)
    return MarginOut(at=now, mark_value=sum(m.mark_value for m in markets),
                     initial_margin=sum(m.initial_margin for m in markets),
                     maintenance_margin=sum(m.maintenance_margin for m in markets),
                     static_grid=any(m.static_grid for m in markets), worst_scenario=worst.worst_scenario,
                     worst_market=worst.market, markets=markets)
