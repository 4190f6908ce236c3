from __future__ import annotations

from fastapi import APIRouter, HTTPException

from oracle.api.deps import SessionDep
from oracle.api.schemas import ProofOut
from oracle.db import Batch

router = APIRouter(prefix="/proofs", tags=["proofs"])


@router.get("/{batch_id}", response_model=ProofOut, responses={404: {"description": "unknown proof"}})
def get_proof(batch_id: str, session: SessionDep) -> ProofOut:
    """One proof (a batch of markets): proof bytes, public instances, vk hash, its transaction."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise HTTPException(404, f"no proof {batch_id!r}")
    return ProofOut.model_validate({**{c: getattr(batch, c) for c in ProofOut.model_fields if hasattr(batch, c)},
                                    "job_ids": [j.id for j in batch.jobs]})
