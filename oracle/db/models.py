"""Tables. A job is one (model version, market, epoch) update and its persisted state machine; a batch
is one proof of one model version and one transaction covering one or more jobs; events are the audit
trail of every transition. Posted reports are publishers' signed batches waiting for the batch they
sign (oracle/publisher.py).

Job states, in order (a job only moves forward; FAILED and CONFIRMED are terminal):

    accepted → fetched → signed → proved → submitted → confirmed
         └──────────┴─────────┴────────┴──────────┴──→ failed

The batch holds the lease a worker takes before running a stage, so two workers never run the same
stage of the same batch (one proof, one transaction per (market, epoch)).
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Enum, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON, list[Any]: JSON}


class JobState(str, enum.Enum):
    ACCEPTED = "accepted"
    FETCHED = "fetched"
    SIGNED = "signed"
    PROVED = "proved"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobState.CONFIRMED, JobState.FAILED)


#: Fraction of the pipeline done when a job enters each state (the API's progress).
PROGRESS = {JobState.ACCEPTED: 0.0, JobState.FETCHED: 0.15, JobState.SIGNED: 0.3, JobState.PROVED: 0.75,
            JobState.SUBMITTED: 0.9, JobState.CONFIRMED: 1.0, JobState.FAILED: 1.0}

_STATE = Enum(JobState, name="job_state", values_callable=lambda e: [m.value for m in e],
              native_enum=False, length=16)


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[JobState] = mapped_column(_STATE, default=JobState.ACCEPTED, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # model and reports: one model version per batch; the EIP-712 domain the reports were signed for,
    # the publishers' signatures (oracle.reports.Signature.to_dict), persisted before proving
    model_version: Mapped[str] = mapped_column(String(64))
    layout_id: Mapped[int] = mapped_column(Integer)
    domain: Mapped[dict[str, Any] | None]
    signatures: Mapped[list[Any] | None]
    # proof: the policy state it stepped from ([K, S] fractions as read from chain; null without state)
    k: Mapped[int | None]
    chain_model_id: Mapped[int | None]
    state_before: Mapped[list[Any] | None]
    proof_hex: Mapped[str | None] = mapped_column(Text)
    #: decimal strings: field elements do not fit JSON numbers
    instances: Mapped[list[Any] | None]
    vk_sha256: Mapped[str | None] = mapped_column(String(64))
    prove_seconds: Mapped[float | None] = mapped_column(Float)
    witness_seconds: Mapped[float | None] = mapped_column(Float)
    max_error_bps: Mapped[float | None] = mapped_column(Float)
    # transaction: signed and stored before it is broadcast, so a resend is the same transaction
    signed_tx: Mapped[str | None] = mapped_column(Text)
    tx_hash: Mapped[str | None] = mapped_column(String(66), index=True)
    nonce: Mapped[int | None]
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    effective_gas_price: Mapped[int | None] = mapped_column(BigInteger)
    confirmed_at: Mapped[datetime | None]

    jobs: Mapped[list["Job"]] = relationship(back_populates="batch", order_by="Job.market_id")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("model_version", "market_id", "epoch", name="uq_jobs_model_market_epoch"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    market: Mapped[str] = mapped_column(String(16))
    market_id: Mapped[int] = mapped_column(Integer, index=True)
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    state: Mapped[JobState] = mapped_column(_STATE, default=JobState.ACCEPTED, index=True)
    trigger: Mapped[str] = mapped_column(String(16), default="api")
    requested_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"), index=True)
    # failure
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_rule: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    # data and report: the source of the bars, the input vector, its report (oracle.reports.Report.to_dict)
    data_source: Mapped[dict[str, Any] | None]
    inputs: Mapped[list[Any] | None]
    observed_at: Mapped[int | None] = mapped_column(BigInteger)
    data_hash: Mapped[str | None] = mapped_column(String(66))
    input_hash: Mapped[str | None] = mapped_column(String(66))
    report: Mapped[dict[str, Any] | None]
    # outputs
    values: Mapped[dict[str, Any] | None]
    values_wad: Mapped[dict[str, Any] | None]
    float_values: Mapped[dict[str, Any] | None]
    explanation: Mapped[dict[str, Any] | None]

    batch: Mapped[Batch | None] = relationship(back_populates="jobs")
    events: Mapped[list["JobEvent"]] = relationship(order_by="JobEvent.id", cascade="all, delete-orphan")

    @property
    def progress(self) -> float:
        return PROGRESS[self.state]


class JobEvent(Base):
    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    state: Mapped[JobState] = mapped_column(_STATE)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    message: Mapped[str | None] = mapped_column(Text)


class PostedReport(Base):
    """A signed report batch a publisher posted (POST /reports), found by `batch_key` when signing."""

    __tablename__ = "posted_reports"
    __table_args__ = (UniqueConstraint("batch_key", "signer", name="uq_posted_reports_batch_signer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_key: Mapped[str] = mapped_column(String(64), index=True)
    signer: Mapped[str] = mapped_column(String(42))
    reports: Mapped[list[Any]]
    signature: Mapped[dict[str, Any]]
    posted_by: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class DriftScore(Base):
    """One confirmed update scored against the day it forecast (oracle/drift.py), once per update: the
    unique job makes a second scoring pass a no-op."""

    __tablename__ = "drift_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    market: Mapped[str] = mapped_column(String(16), index=True)
    #: the scored update's epoch: its forecasts are for the UTC day that starts at the epoch
    epoch: Mapped[int] = mapped_column(Integer)
    #: the later confirmed update whose committed bars hold the realised day
    realised_job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    ret: Mapped[float] = mapped_column(Float)
    rv: Mapped[float] = mapped_column(Float)
    qlike: Mapped[float] = mapped_column(Float)
    var_breach: Mapped[bool]
    es_breach: Mapped[bool]
    excess_loss: Mapped[float] = mapped_column(Float)
    #: baseline name → its QLIKE on the same day, filtered through the same committed bars
    baseline_qlike: Mapped[dict[str, Any]]
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)


class Retrain(Base):
    """A drift rule fired for a model version: the retrain it started (oracle/retrain.py) and the
    upgrade proposals it opened. One per (version, epoch); the confirm stage opens none while another of
    the same version is pending or proposed."""

    __tablename__ = "retrains"
    __table_args__ = (UniqueConstraint("model_version", "epoch"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: the drifting version ("model_id@version")
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    #: the confirmed epoch whose scores fired the rules: the retrain reads no day from that epoch on
    epoch: Mapped[int] = mapped_column(Integer)
    #: market → the drift report (models.drift.DriftReport.to_dict) of each market a rule fired in
    evidence: Mapped[dict[str, Any]]
    #: pending → proposed, or failed (with `error`)
    state: Mapped[str] = mapped_column(String(16), index=True)
    new_version: Mapped[str | None] = mapped_column(String(64))
    #: one per batch size: {"k", "proposal_id", "tx_hash", "bundle", "verified_block"}
    proposals: Mapped[list[Any]]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: sha256 of the whole key; the key itself is shown once, at creation
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
