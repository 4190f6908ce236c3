from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy import select

from models.spec import MARKETS
from oracle.api.deps import SessionDep, SettingsDep
from oracle.api.schemas import CommitmentOut
from oracle.api.services import PipelineDep, chain_or_none
from oracle.db import Job

router = APIRouter(prefix="/commitments", tags=["commitments"])


@router.get("/{market}/{epoch}", response_model=CommitmentOut, responses={404: {"description": "unknown market"}})
def get_commitment(market: str, session: SessionDep, settings: SettingsDep, pipeline: PipelineDep,
                   epoch: int = Path(ge=0, le=2**63 - 1)) -> CommitmentOut:
    """The input commitment of (market, epoch): this service's hash and the registry's state."""
    market = market.upper()
    if market not in settings.markets:
        raise HTTPException(404, f"unknown market {market!r}; served: {settings.markets}")
    job = session.scalars(select(Job).where(Job.market == market, Job.epoch == epoch)).first()
    chain = chain_or_none(pipeline)
    return CommitmentOut(market=market, epoch=epoch, input_hash=job.input_hash if job else None,
                         job_id=job.id if job else None,
                         on_chain=chain.commitment(MARKETS[market], epoch) if chain else None)
