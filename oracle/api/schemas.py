"""Request and response bodies (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from oracle.db import JobState


class UpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    markets: list[str] = Field(min_length=1, max_length=16, examples=[["BTC", "ETH"]],
                               description="market symbols; markets requested together are proved together")
    epoch: int | None = Field(None, ge=1, le=10**6,
                              description="UTC day number the parameters apply to; default: latest available")


class JobEvent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    state: JobState
    at: datetime
    message: str | None


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    market: str
    market_id: int
    epoch: int
    state: JobState
    progress: float = Field(description="fraction of the pipeline done, 0..1")
    trigger: str
    batch_id: str | None
    created_at: datetime
    finished_at: datetime | None
    error_kind: str | None
    error_rule: str | None
    error_message: str | None
    input_hash: str | None
    values: dict[str, float] | None
    values_wad: dict[str, str] | None


class JobDetail(JobOut):
    observed_at: int | None
    float_values: dict[str, float] | None
    explanation: dict[str, Any] | None
    tx_hash: str | None = None
    gas_used: int | None = None
    block_number: int | None = None
    events: list[JobEvent]


class UpdateAccepted(BaseModel):
    created: bool = Field(description="false when every (market, epoch) was already requested")
    jobs: list[JobOut]


class ProofOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    state: JobState
    k: int | None
    model_key: str | None
    chain_model_id: int | None
    proof_hex: str | None
    instances: list[str] | None
    vk_sha256: str | None
    prove_seconds: float | None
    max_error_bps: float | None
    tx_hash: str | None
    block_number: int | None
    gas_used: int | None
    job_ids: list[str]


class MarketOut(BaseModel):
    symbol: str
    market_id: int
    latest_epoch: int | None = Field(description="newest epoch the feed has data for")
    last_update: JobOut | None = Field(description="last confirmed update")
    on_chain: dict[str, Any] | None = Field(None, description="getRiskParameters, when the chain is reachable")


class ModelOut(BaseModel):
    model_id: str
    version: str
    batch_sizes: list[int]
    card: dict[str, Any]
    on_chain: list[dict[str, Any]] | None


class CommitmentOut(BaseModel):
    market: str
    epoch: int
    input_hash: str | None = Field(description="the hash this service computed, if it has a job for it")
    job_id: str | None
    on_chain: dict[str, Any] | None


class ProposalOut(BaseModel):
    proposal_id: str
    block_number: int
    proposer: str
    description: str


class Health(BaseModel):
    status: str
    database: str
    broker: str
    chain: dict[str, Any]
