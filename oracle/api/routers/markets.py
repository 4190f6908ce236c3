from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from models.liquidation import LiquidationModel
from models.spec import LAYOUTS, LENDING, MARKETS, WAD
from oracle.api.deps import SessionDep, SettingsDep
from oracle.api.schemas import (DriftOut, DriftRuleOut, DriftScoreOut, JobOut, LiquidationProbability, MarketOut, OnChainLayout,
                                RetrainOut)
from oracle.api.services import PipelineDep, chain_or_none
from oracle.db import DriftScore, Job, JobState, Retrain
from oracle.drift import drift_status
from oracle.errors import DataRejectedError, OracleError

router = APIRouter(prefix="/markets", tags=["markets"])
UNKNOWN = {404: {"description": "unknown market"}}


def _symbol(symbol: str, settings) -> str:
    symbol = symbol.upper()
    if symbol not in settings.markets:
        raise HTTPException(404, f"unknown market {symbol!r}; served: {settings.markets}")
    return symbol


def _last_confirmed(session, symbol: str, model: str) -> Job | None:
    return session.scalars(select(Job).where(Job.market == symbol, Job.model_version == model,
                                             Job.state == JobState.CONFIRMED).order_by(Job.epoch.desc()).limit(1)).first()


def _on_chain(chain, symbol: str) -> dict[str, OnChainLayout] | None:
    if chain is None:
        return None
    try:
        stored = {}
        for layout in LAYOUTS.values():
            p = chain.parameters(MARKETS[symbol], layout)
            if p.observed_at:
                stored[layout.name] = OnChainLayout(epoch=p.epoch, observed_at=p.observed_at, model_id=p.model_id,
                                                    values={n: str(v) for n, v in p.values.items()},
                                                    stale=chain.is_stale(MARKETS[symbol], layout))
        return stored
    except OracleError:
        return None


def _market(symbol: str, session, pipeline, chain) -> MarketOut:
    try:
        latest = pipeline.feed.latest_epoch(symbol)
    except DataRejectedError:
        latest = None
    last = {model: _last_confirmed(session, symbol, model) for model in pipeline.runtimes}
    return MarketOut(symbol=symbol, market_id=MARKETS[symbol], latest_epoch=latest,
                     last_updates={m: JobOut.model_validate(j) for m, j in last.items() if j is not None},
                     on_chain=_on_chain(chain, symbol))


@router.get("", response_model=list[MarketOut])
def list_markets(settings: SettingsDep, session: SessionDep, pipeline: PipelineDep) -> list[MarketOut]:
    chain = chain_or_none(pipeline)
    return [_market(symbol, session, pipeline, chain) for symbol in settings.markets]


@router.get("/{symbol}", response_model=MarketOut, responses=UNKNOWN)
def get_market(symbol: str, settings: SettingsDep, session: SessionDep, pipeline: PipelineDep) -> MarketOut:
    """A market's stored values per layout (outputs by name), and the last confirmed update per model."""
    return _market(_symbol(symbol, settings), session, pipeline, chain_or_none(pipeline))


@router.get("/{symbol}/history", response_model=list[JobOut], responses=UNKNOWN)
def market_history(symbol: str, settings: SettingsDep, session: SessionDep, model: str | None = None,
                   limit: int = Query(100, ge=1, le=1000)) -> list[Job]:
    """Confirmed updates of a market (of one model version, or all), newest first."""
    symbol = _symbol(symbol, settings)
    query = select(Job).where(Job.market == symbol, Job.state == JobState.CONFIRMED)
    if model is not None:
        query = query.where(Job.model_version == model)
    return list(session.scalars(query.order_by(Job.epoch.desc(), Job.model_version).limit(limit)))


@router.get("/{symbol}/drift", response_model=DriftOut, responses=UNKNOWN)
def market_drift(symbol: str, settings: SettingsDep, session: SessionDep, model: str | None = None) -> DriftOut:
    """Drift monitoring of a model's forecasts for a market (default: the first configured model): the
    trailing window's statistics of the scored updates and the Settings rules they fire."""
    symbol = _symbol(symbol, settings)
    model = model or next(iter(settings.models))
    rules = settings.drift_rules()
    report = drift_status(session, model, symbol, rules)
    recent = session.scalars(select(DriftScore).where(DriftScore.market == symbol, DriftScore.model_version == model)
                             .order_by(DriftScore.epoch.desc()).limit(rules.window)).all()
    return DriftOut(symbol=symbol, model=model, days=report.days, first=report.first, last=report.last,
                    var_hits=report.var_hits, kupiec_p=report.kupiec_p, christoffersen_p=report.christoffersen_p,
                    qlike=report.qlike, baseline_qlike=report.baseline_qlike, qlike_ratio=report.qlike_ratio,
                    psi=report.psi, rules=[DriftRuleOut(**vars(c)) for c in report.checks], drifting=report.drifting,
                    scores=[DriftScoreOut.model_validate(r) for r in recent],
                    retrains=[RetrainOut.model_validate(r) for r in session.scalars(
                        select(Retrain).where(Retrain.model_version == model).order_by(Retrain.created_at.desc()))])


@router.get("/{symbol}/liquidation-probability", response_model=LiquidationProbability,
            responses={**UNKNOWN, 409: {"description": "no lending update yet"}})
def liquidation_probability(symbol: str, settings: SettingsDep, session: SessionDep, pipeline: PipelineDep,
                            health_factor: float = Query(gt=0, le=100, description="collateral × LT / debt"),
                            horizon: float = Query(24, ge=1, le=168, description="hours")) -> LiquidationProbability:
    """P(a position's health factor falls below 1 within the horizon) from the published lending
    forecast (models.liquidation: first passage under the card's fitted Student-t)."""
    symbol = _symbol(symbol, settings)
    lending = next((r for r in pipeline.runtimes.values() if r.layout is LENDING), None)
    if lending is None:
        raise HTTPException(409, "this service proves no lending model")
    vol, epoch, source = None, None, None
    chain = chain_or_none(pipeline)
    if chain is not None:
        try:
            stored = chain.parameters(MARKETS[symbol], LENDING)
            if stored.observed_at:
                vol, epoch, source = stored.values["vol"] / WAD, stored.epoch, "on-chain"
        except OracleError:
            pass
    if vol is None:
        last = _last_confirmed(session, symbol, lending.model_key)
        if last is None:
            raise HTTPException(409, f"{symbol} has no lending update yet")
        vol, epoch, source = int(last.values_wad["vol"]) / WAD, last.epoch, "last confirmed update"
    model = LiquidationModel.from_card(lending.version.card)
    probability = float(model.probability(health_factor, horizon, vol))
    return LiquidationProbability(symbol=symbol, health_factor=health_factor, horizon_hours=horizon,
                                  probability=probability, vol=vol, epoch=epoch, source=source,
                                  model=f"{lending.model_key}: Student-t nu={model.nu:.2f}, vol scale "
                                        f"{model.vol_scale:.2f}")
