from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from models.spec import MARKETS
from oracle.api.deps import SessionDep, SettingsDep
from oracle.api.schemas import JobOut, MarketOut
from oracle.api.services import PipelineDep, chain_or_none
from oracle.db import Job, JobState
from oracle.errors import DataRejectedError, OracleError

router = APIRouter(prefix="/markets", tags=["markets"])


def _symbol(symbol: str, settings) -> str:
    symbol = symbol.upper()
    if symbol not in settings.markets:
        raise HTTPException(404, f"unknown market {symbol!r}; served: {settings.markets}")
    return symbol


def _market(symbol: str, session, pipeline, chain) -> MarketOut:
    last = session.scalars(select(Job).where(Job.market == symbol, Job.state == JobState.CONFIRMED)
                           .order_by(Job.epoch.desc()).limit(1)).first()
    try:
        latest = pipeline.feed.latest_epoch(symbol)
    except DataRejectedError:
        latest = None
    on_chain = None
    if chain is not None:
        try:
            on_chain = asdict(chain.risk_parameters(MARKETS[symbol]))
        except OracleError:
            on_chain = None
    return MarketOut(symbol=symbol, market_id=MARKETS[symbol], latest_epoch=latest,
                     last_update=JobOut.model_validate(last) if last else None, on_chain=on_chain)


@router.get("", response_model=list[MarketOut])
def list_markets(settings: SettingsDep, session: SessionDep, pipeline: PipelineDep) -> list[MarketOut]:
    chain = chain_or_none(pipeline)
    return [_market(symbol, session, pipeline, chain) for symbol in settings.markets]


@router.get("/{symbol}", response_model=MarketOut, responses={404: {"description": "unknown market"}})
def get_market(symbol: str, settings: SettingsDep, session: SessionDep, pipeline: PipelineDep) -> MarketOut:
    return _market(_symbol(symbol, settings), session, pipeline, chain_or_none(pipeline))


@router.get("/{symbol}/history", response_model=list[JobOut], responses={404: {"description": "unknown market"}})
def market_history(symbol: str, settings: SettingsDep, session: SessionDep,
                   limit: int = Query(100, ge=1, le=1000)) -> list[Job]:
    """Confirmed updates of a market, newest first."""
    symbol = _symbol(symbol, settings)
    return list(session.scalars(select(Job).where(Job.market == symbol, Job.state == JobState.CONFIRMED)
                                .order_by(Job.epoch.desc()).limit(limit)))
