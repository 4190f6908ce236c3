"""Signed reports: what publishers attested for each update, and where publishers post theirs."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from oracle.api.deps import SessionDep, SettingsDep, Writer
from oracle.api.schemas import PostedReports, PostedReportsAccepted, ReportsOut
from oracle.api.services import PipelineDep, chain_or_none
from oracle.db import Job, PostedReport
from oracle.errors import PermanentError
from oracle.publisher import SignedBatch, batch_key
from oracle.reports import recover_signer

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("/{market}/{epoch}", response_model=ReportsOut, responses={404: {"description": "unknown market"}})
def get_reports(market: str, session: SessionDep, settings: SettingsDep,
                epoch: int = Path(ge=0, le=10**6)) -> ReportsOut:
    """The signed report of (market, epoch) for each model version, with its batch's signatures."""
    market = market.upper()
    if market not in settings.markets:
        raise HTTPException(404, f"unknown market {market!r}; served: {settings.markets}")
    jobs = session.scalars(select(Job).where(Job.market == market, Job.epoch == epoch, Job.report.is_not(None))
                           .order_by(Job.model_version)).all()
    return ReportsOut(market=market, epoch=epoch, reports=[
        {"model_version": j.model_version, "job_id": j.id, "state": j.state.value, "report": j.report,
         "batch_id": j.batch_id, "domain": j.batch.domain, "signatures": j.batch.signatures} for j in jobs])


@router.post("", response_model=PostedReportsAccepted, status_code=201,
             responses={200: {"model": PostedReportsAccepted, "description": "already stored"},
                        401: {"description": "missing or invalid API key"},
                        422: {"description": "malformed, or the signature does not recover to its signer"},
                        503: {"description": "no chain: the oracle's signing domain is unknown"}})
def post_reports(body: PostedReports, caller: Writer, session: SessionDep, pipeline: PipelineDep,
                 response: Response) -> PostedReportsAccepted:
    """A publisher posts its signed report batch; the `sign` stage counts it for the batch with exactly
    these reports (after checking again that the signer is an active publisher)."""
    try:
        signed = SignedBatch.from_dict(body.model_dump())
    except PermanentError as error:
        raise HTTPException(422, str(error)) from None
    chain = chain_or_none(pipeline)
    if chain is None:
        raise HTTPException(503, "the chain is unavailable: cannot check signatures for this oracle")
    domain = chain.domain
    if recover_signer(domain, signed.reports, signed.signature) != signed.signature.signer:
        raise HTTPException(422, f"the signature does not recover to {signed.signature.signer} for these reports "
                                 f"on oracle {domain.oracle} (chain {domain.chain_id})")
    key = batch_key(domain, signed.reports)
    row = PostedReport(batch_key=key, signer=signed.signature.signer, reports=[r.to_dict() for r in signed.reports],
                       signature=signed.signature.to_dict(), posted_by=caller)
    try:
        with session.begin_nested():
            session.add(row)
        stored = True
    except IntegrityError:
        stored = False
        response.status_code = 200
    return PostedReportsAccepted(batch_key=key, signer=signed.signature.signer, stored=stored)
