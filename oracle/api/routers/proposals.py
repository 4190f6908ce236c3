from __future__ import annotations

from fastapi import APIRouter

from oracle.api.schemas import ProposalOut
from oracle.api.services import PipelineDep, chain_or_none

router = APIRouter(prefix="/proposals", tags=["proposals"])


@router.get("", response_model=list[ProposalOut])
def list_proposals(pipeline: PipelineDep) -> list[ProposalOut]:
    """Governance proposals (RiskGovernor `ProposalCreated` events); empty without a reachable chain."""
    chain = chain_or_none(pipeline)
    if chain is None:
        return []
    return [ProposalOut(**p) for p in chain.proposals()]
