from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text

from oracle import worker
from oracle.api.deps import SessionDep
from oracle.api.schemas import Health
from oracle.api.services import PipelineDep, chain_or_none
from oracle.errors import OracleError

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health, "description": "degraded"}})
def health(session: SessionDep, pipeline: PipelineDep, response: Response) -> Health:
    """Database, broker and chain reachability; 503 when the database or broker is down."""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as error:  # noqa: BLE001 - reported, not raised
        database = f"error: {type(error).__name__}"
    try:
        with worker.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
        broker = "ok"
    except Exception as error:  # noqa: BLE001 - reported, not raised
        broker = f"error: {type(error).__name__}"
    chain_state: dict = {"status": "unavailable"}
    chain = chain_or_none(pipeline)
    if chain is not None:
        try:
            chain_state = {"status": "ok", "chain_id": chain.chain_id, "block": chain.block_number(),
                           "contracts": chain.manifest["contracts"]}
        except OracleError as error:
            chain_state = {"status": f"error: {error.kind}"}
    ok = database == "ok" and broker == "ok"
    if not ok:
        response.status_code = 503
    return Health(status="ok" if ok else "degraded", database=database, broker=broker, chain=chain_state)
