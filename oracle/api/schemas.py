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
    models: list[str] | None = Field(None, min_length=1, max_length=8, examples=[["har-policy@2.0.0"]],
                                     description="model versions (model_id@version) to update; default: all served")


class JobEvent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    state: JobState
    at: datetime
    message: str | None


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    model_version: str
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
    values: dict[str, float] | None = Field(description="the layout's outputs by name (fractions)")
    values_wad: dict[str, str] | None


class JobDetail(JobOut):
    observed_at: int | None
    data_hash: str | None
    report: dict[str, Any] | None = Field(description="the report publishers signed (oracle.reports.Report)")
    float_values: dict[str, float] | None
    explanation: dict[str, Any] | None
    tx_hash: str | None = None
    gas_used: int | None = None
    block_number: int | None = None
    events: list[JobEvent]


class UpdateAccepted(BaseModel):
    created: bool = Field(description="false when every (model, market, epoch) was already requested")
    jobs: list[JobOut]


class ProofOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    state: JobState
    model_version: str
    layout_id: int
    k: int | None
    chain_model_id: int | None
    domain: dict[str, Any] | None = Field(description="EIP-712 domain the reports were signed for")
    signatures: list[dict[str, str]] | None = Field(description="publisher signatures (signer, r, vs)")
    state_before: list[list[float]] | None = Field(description="policy state the proof stepped from, [K, S]")
    proof_hex: str | None
    instances: list[str] | None
    vk_sha256: str | None
    prove_seconds: float | None
    max_error_bps: float | None
    tx_hash: str | None
    block_number: int | None
    gas_used: int | None
    job_ids: list[str]


class OnChainLayout(BaseModel):
    epoch: int
    observed_at: int = Field(description="when the data was observed (staleness counts from it), Unix seconds")
    model_id: int
    values: dict[str, str] = Field(description="the layout's outputs by name, WAD (1e18 = 1.0)")
    stale: bool


class MarketOut(BaseModel):
    symbol: str
    market_id: int
    latest_epoch: int | None = Field(description="newest epoch the feed has data for")
    last_updates: dict[str, JobOut] = Field(description="last confirmed update per model version")
    on_chain: dict[str, OnChainLayout] | None = Field(
        None, description="stored values per layout name (getParameters), when the chain is reachable; a layout "
                          "without an update yet is absent")


class LiquidationProbability(BaseModel):
    symbol: str
    health_factor: float
    horizon_hours: float
    probability: float = Field(description="P(the health factor falls below 1 within the horizon), first passage")
    vol: float = Field(description="the one-day volatility forecast it is computed from (fraction)")
    epoch: int
    source: str = Field(description="on-chain (getRiskParameters) or this service's last confirmed update")
    model: str = Field(description="the distribution: Student-t fitted to the model card's VaR99 tail")


class DriftRuleOut(BaseModel):
    name: str
    fired: bool
    value: float
    threshold: float
    direction: str = Field(description="below: fires under the threshold (p-values); above: fires over it")


class DriftScoreOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    epoch: int = Field(description="the scored update's epoch; its forecasts are for the day starting there")
    ret: float = Field(description="the day's log return, percent")
    rv: float = Field(description="the day's realised variance from the committed hourly bars, percent²")
    qlike: float
    var_breach: bool
    es_breach: bool
    baseline_qlike: dict[str, float]


class RetrainOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    epoch: int = Field(description="the confirmed epoch whose scores fired the rules; the retrain read no day from it on")
    state: str = Field(description="pending, proposed or failed")
    new_version: str | None = Field(description="the retrained version, model_id@version")
    evidence: dict[str, Any] = Field(description="market → the drift report whose rules fired")
    proposals: list[dict[str, Any]] = Field(description="one upgrade proposal per batch size: k, model_id, "
                                                        "proposal_id, tx_hash, bundle")
    error: str | None


class DriftOut(BaseModel):
    symbol: str
    model: str
    days: int = Field(description="scored days in the trailing window")
    first: str | None
    last: str | None
    var_hits: int
    kupiec_p: float | None
    christoffersen_p: float | None
    qlike: float | None = Field(description="the model's mean QLIKE over the window")
    baseline_qlike: dict[str, float] = Field(description="each baseline's mean QLIKE on the same days")
    qlike_ratio: float | None
    psi: dict[str, float] = Field(description="PSI of each input summary against the version's training windows")
    rules: list[DriftRuleOut] = Field(description="every judged rule; none below the minimum of scored days")
    drifting: bool
    scores: list[DriftScoreOut] = Field(description="the window's daily scores, newest first")
    retrains: list[RetrainOut] = Field(description="the retrains the model's rules opened, newest first")


class ModelOut(BaseModel):
    model_id: str
    version: str
    layout: str
    outputs: list[dict[str, Any]] = Field(description="the declared layout (models/spec.py)")
    batch_sizes: list[int]
    card: dict[str, Any]
    on_chain: list[dict[str, Any]] | None


class ReportsOut(BaseModel):
    market: str
    epoch: int
    reports: list[dict[str, Any]] = Field(description="per model version: the signed report, its batch's "
                                                      "signatures and the job")


class PostedReports(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reports: list[dict[str, Any]] = Field(min_length=1, max_length=64,
                                          description="oracle.reports.Report.to_dict of each market, in proof order")
    signature: dict[str, str] = Field(description="signer, r, vs (EIP-2098) over the batch for this oracle")


class PostedReportsAccepted(BaseModel):
    batch_key: str
    signer: str
    stored: bool = Field(description="false when this signer's signature of this batch was already stored")


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
