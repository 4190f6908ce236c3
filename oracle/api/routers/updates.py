from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy import select

from oracle import worker
from oracle.api.deps import SessionDep, SettingsDep, Writer
from oracle.api.schemas import JobDetail, JobOut, UpdateAccepted, UpdateRequest
from oracle.api.services import PipelineDep
from oracle.db import Job, JobState
from oracle.errors import ConfigurationError, NotFoundError, OracleError
from oracle.services import load_manifest

router = APIRouter(prefix="/updates", tags=["updates"])
NOT_FOUND = {404: {"description": "unknown job"}}


def _job(session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(404, f"no update job {job_id!r}")
    return job


@router.post("", response_model=UpdateAccepted, status_code=202,
             responses={200: {"model": UpdateAccepted, "description": "already requested: the existing jobs"},
                        401: {"description": "missing or invalid API key"}, 404: {"description": "unknown market"},
                        429: {"description": "rate limited"}})
def request_update(body: UpdateRequest, caller: Writer, settings: SettingsDep, response: Response) -> UpdateAccepted:
    """Request proved updates for markets, per model version (idempotent per (model, market, epoch));
    poll the jobs for progress."""
    unknown = [m for m in body.markets if m.upper() not in settings.markets]
    if unknown:
        raise HTTPException(404, f"unknown markets {unknown}; served: {settings.markets}")
    try:
        accepted = worker.request_and_enqueue(body.markets, body.epoch, "api", caller, body.models)
    except NotFoundError as error:
        raise HTTPException(404, str(error)) from None
    if not accepted.created:
        response.status_code = 200
    return UpdateAccepted(created=accepted.created, jobs=[JobOut.model_validate(j) for j in accepted.jobs])


@router.get("", response_model=list[JobOut])
def list_updates(session: SessionDep, market: str | None = None, state: JobState | None = None,
                 model: str | None = None, limit: int = Query(50, ge=1, le=500)) -> list[Job]:
    """Jobs, newest first."""
    query = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if market:
        query = query.where(Job.market == market.upper())
    if model:
        query = query.where(Job.model_version == model)
    if state:
        query = query.where(Job.state == state)
    return list(session.scalars(query))


@router.get("/{job_id}", response_model=JobDetail, responses=NOT_FOUND)
def get_update(job_id: str, session: SessionDep) -> JobDetail:
    job = _job(session, job_id)
    detail = JobDetail.model_validate(job)
    if job.batch is not None:
        detail.tx_hash, detail.gas_used, detail.block_number = (job.batch.tx_hash, job.batch.gas_used,
                                                                job.batch.block_number)
    return detail


@router.get("/{job_id}/bundle", responses={**NOT_FOUND, 409: {"description": "not proved yet"},
                                           200: {"content": {"application/json": {}},
                                                 "description": "proof bundle, format zkrisk-bundle/1"}})
def get_bundle(job_id: str, session: SessionDep, settings: SettingsDep, pipeline: PipelineDep) -> Response:
    """Download the proof bundle of the proof covering this update (docs/bundle.md, `zkrisk audit`)."""
    job = _job(session, job_id)
    if job.batch is None or job.batch.proof_hex is None or job.values_wad is None:
        raise HTTPException(409, f"job {job_id} has no proof yet (state {job.state.value})")
    try:
        manifest = load_manifest(settings)
    except ConfigurationError:
        manifest = None
    try:
        bundle = pipeline.bundle(job.batch, manifest)
    except OracleError as error:
        raise HTTPException(409, f"job {job_id}: no bundle can be built: {error}") from None
    filename = f"zkrisk-{job.model_version}-{job.market}-{job.epoch}.bundle.json"
    return Response(bundle.to_bytes(), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
