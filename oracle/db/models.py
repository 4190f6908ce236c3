"""Tables. A job is one (market, epoch) update and its persisted state machine; a batch is one proof
and one transaction covering one or more jobs; events are the audit trail of every transition.

Job states, in order (a job only moves forward; FAILED and CONFIRMED are terminal):

    accepted → fetched → committed → proved → submitted → confirmed
         └──────────┴──────────┴──────────┴──────────┴──→ failed

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
    COMMITTED = "committed"
    PROVED = "proved"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobState.CONFIRMED, JobState.FAILED)


#: Fraction of the pipeline done when a job enters each state (the API's progress).
PROGRESS = {JobState.ACCEPTED: 0.0, JobState.FETCHED: 0.15, JobState.COMMITTED: 0.3, JobState.PROVED: 0.75,
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
    # proof
    k: Mapped[int | None]
    model_key: Mapped[str | None] = mapped_column(String(64))
    chain_model_id: Mapped[int | None]
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
    __table_args__ = (UniqueConstraint("market_id", "epoch", name="uq_jobs_market_epoch"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    market: Mapped[str] = mapped_column(String(16))
    market_id: Mapped[int] = mapped_column(Integer, index=True)
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
    # data and commitment
    data_source: Mapped[dict[str, Any] | None]
    inputs: Mapped[list[Any] | None]
    observed_at: Mapped[int | None] = mapped_column(BigInteger)
    input_hash: Mapped[str | None] = mapped_column(String(66))
    commit_txs: Mapped[list[Any] | None]
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


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: sha256 of the whole key; the key itself is shown once, at creation
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
