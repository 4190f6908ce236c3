"""The update pipeline: accept (market, epoch) requests, then run each batch through its stages.

    stage     queue    takes a batch in   leaves it in   does
    fetch     data     accepted           fetched        window → validate → input vector; sizes batches
    commit    submit   fetched            committed      Poseidon hash → k-of-n publisher posts → final
    prove     prove    committed          proved         witness + proof (all markets of the batch at once)
    submit    submit   proved             submitted      signed `submitUpdate`, persisted before it is sent
    confirm   submit   submitted          confirmed      receipt, confirmations, on-chain values == proved

Every stage is idempotent and guarded by a lease on the batch row, so a redelivered task, a retry or a
second worker either finds the stage done (no-op) or waits for the lease; a crashed worker's lease
expires and the next delivery (or `recover`) takes over. A stage's results and the state change are
one transaction; the signed transaction is stored before it is broadcast, so a resend after a crash
is the same transaction (same nonce, same hash) and can never land twice.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.spec import OUTPUTS, market_id as market_id_of
from oracle.bundle import Bundle, ChainRecord, RawWindow, build_bundle
from oracle.db import Batch, Job, JobEvent, JobState, session_scope, utcnow
from oracle.chain.client import ChainGateway, SignedTx, UpdateCall
from oracle.errors import (
    DataRejectedError,
    NonceError,
    NotFoundError,
    OracleError,
    PermanentError,
    StageBusyError,
    TransientError,
)
from oracle.feed import MarketFeed
from oracle.logs import bound
from oracle.runtime import ProverRuntime
from prover.proving import MarketOutput, ProofResult

log = logging.getLogger("zkrisk.pipeline")

#: the stage that moves a batch out of each state, and the Celery queue that runs it
STAGE_FOR = {JobState.ACCEPTED: "fetch", JobState.FETCHED: "commit", JobState.COMMITTED: "prove",
             JobState.PROVED: "submit", JobState.SUBMITTED: "confirm"}
QUEUE_FOR = {"fetch": "data", "commit": "submit", "prove": "prove", "submit": "submit", "confirm": "submit"}
STATE_FOR = {stage: state for state, stage in STAGE_FOR.items()}

FollowUps = list[tuple[str, str]]


def new_id() -> str:
    return uuid.uuid4().hex


def aware(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


@dataclass(frozen=True)
class Accepted:
    batch_id: str | None
    jobs: list[Job]
    created: bool


def _transition(session: Session, job: Job, state: JobState, message: str | None = None) -> None:
    job.state = state
    if state.terminal:
        job.finished_at = utcnow()
    session.add(JobEvent(job_id=job.id, state=state, message=message))


def _fail(session: Session, job: Job, error: Exception) -> None:
    job.error_kind = getattr(error, "kind", "internal")
    job.error_rule = getattr(error, "rule", None)
    job.error_message = str(error)[:4000]
    _transition(session, job, JobState.FAILED, job.error_message)


class Pipeline:
    """The stages, over a database URL, a market feed, the prover runtime and (lazily) the chain."""

    def __init__(self, database_url: str, feed: MarketFeed, runtime: ProverRuntime,
                 chain_factory: Callable[[], ChainGateway], lease_seconds: int = 300,
                 worker_id: str | None = None) -> None:
        self.database_url, self.feed, self.runtime = database_url, feed, runtime
        self._chain_factory, self._chain = chain_factory, None
        self.lease = timedelta(seconds=lease_seconds)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    @property
    def chain(self) -> ChainGateway:
        if self._chain is None:
            self._chain = self._chain_factory()
        return self._chain

    # ------------------------------------------------------------------ requests
    def request(self, markets: list[str], epoch: int | None = None, trigger: str = "api",
                requested_by: str | None = None) -> Accepted:
        """Accept updates for `markets` (at `epoch`, default each market's latest): one job per
        (market, epoch), created once. Markets not yet requested share one new batch."""
        markets = list(dict.fromkeys(m.upper() for m in markets))
        for market in markets:
            try:
                market_id_of(market)
            except KeyError as error:
                raise NotFoundError(str(error.args[0])) from None
        epochs = {m: epoch if epoch is not None else self.feed.latest_epoch(m) for m in markets}
        with session_scope(self.database_url) as session:
            existing = {(j.market, j.epoch): j for j in session.scalars(select(Job).where(
                or_(*[(Job.market == m) & (Job.epoch == e) for m, e in epochs.items()])))}
            fresh = [m for m in markets if (m, epochs[m]) not in existing]
            batch_id = None
            if fresh:
                batch_id = new_id()
                session.add(Batch(id=batch_id, state=JobState.ACCEPTED))
                for market in fresh:
                    job = Job(id=new_id(), market=market, market_id=market_id_of(market), epoch=epochs[market],
                              state=JobState.ACCEPTED, trigger=trigger, requested_by=requested_by,
                              batch_id=batch_id)
                    session.add(job)
                    session.add(JobEvent(job_id=job.id, state=JobState.ACCEPTED, message=f"requested via {trigger}"))
                try:
                    session.flush()
                except IntegrityError:
                    # a concurrent request created some of these (market, epoch) jobs first: theirs win
                    session.rollback()
                    return self.request(markets, epoch, trigger, requested_by)
            jobs = list(session.scalars(select(Job).where(
                or_(*[(Job.market == m) & (Job.epoch == e) for m, e in epochs.items()]))))
        jobs.sort(key=lambda j: markets.index(j.market))
        log.info("update requested", extra={"markets": markets, "epochs": epochs, "batch_id": batch_id,
                                            "new_batch": bool(fresh)})
        return Accepted(batch_id, jobs, bool(fresh))

    # ------------------------------------------------------------------ running stages
    def run(self, stage: str, batch_id: str) -> FollowUps:
        """Run one stage of a batch; returns the (stage, batch id) pairs to enqueue next.

        Transient errors propagate (the task retries them); anything else fails the batch's live jobs
        with the error recorded, so every accepted job ends in a recorded outcome."""
        with bound(batch_id=batch_id, stage=stage):
            state = STATE_FOR[stage]
            if not self._claim(batch_id, state):
                return []
            try:
                follow = getattr(self, f"_{stage}")(batch_id)
            except StageBusyError:
                self._release(batch_id)
                raise
            except TransientError as error:
                log.warning("transient failure, will retry", extra={"error": str(error), "kind": error.kind})
                self._release(batch_id)
                raise
            except Exception as error:  # noqa: BLE001 - recorded on the jobs, never lost
                if not isinstance(error, OracleError):
                    log.exception("stage crashed")
                self.fail_batch(batch_id, error)
                return []
            log.info("stage done", extra={"next": follow})
            return follow

    def fail_batch(self, batch_id: str, error: Exception) -> None:
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            for job in batch.jobs:
                if not job.state.terminal:
                    _fail(session, job, error)
            batch.state, batch.lease_owner, batch.lease_until = JobState.FAILED, None, None
        log.error("batch failed", extra={"error": str(error), "kind": getattr(error, "kind", "internal")})

    def _claim(self, batch_id: str, state: JobState) -> bool:
        """Take the batch's lease for the stage leaving `state`; False when that stage is already done."""
        now = utcnow()
        with session_scope(self.database_url) as session:
            taken = session.execute(
                update(Batch)
                .where(Batch.id == batch_id, Batch.state == state,
                       or_(Batch.lease_until.is_(None), Batch.lease_until < now, Batch.lease_owner == self.worker_id))
                .values(lease_owner=self.worker_id, lease_until=now + self.lease, attempts=Batch.attempts + 1)
            ).rowcount
            if taken:
                return True
            batch = session.get(Batch, batch_id)
            if batch is None:
                # a message from another database (a purged or re-created deployment): nothing to do
                log.warning("no such batch; message dropped")
                return False
            if batch.state != state:
                return False
            wait = max(1.0, (aware(batch.lease_until) - now).total_seconds())
            raise StageBusyError(f"batch {batch_id} {STAGE_FOR[state]} is held by {batch.lease_owner}", wait)

    def _release(self, batch_id: str) -> None:
        with session_scope(self.database_url) as session:
            session.execute(update(Batch).where(Batch.id == batch_id, Batch.lease_owner == self.worker_id)
                            .values(lease_owner=None, lease_until=None))

    def _advance(self, session: Session, batch: Batch, state: JobState, message: str | None = None) -> None:
        for job in batch.jobs:
            if not job.state.terminal:
                _transition(session, job, state, message)
        batch.state, batch.lease_owner, batch.lease_until = state, None, None

    # ------------------------------------------------------------------ stages
    def _fetch(self, batch_id: str) -> FollowUps:
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            live = []
            for job in batch.jobs:
                if job.state is not JobState.ACCEPTED:
                    continue
                try:
                    seen = self.feed.observe(job.market, job.epoch)
                except DataRejectedError as error:
                    _fail(session, job, error)
                    log.warning("data rejected", extra={"job_id": job.id, "rule": error.rule})
                    continue
                job.inputs, job.observed_at, job.data_source = seen.vector.tolist(), seen.observed_at, seen.raw.to_dict()
                live.append(job)
            if not live:
                batch.state, batch.lease_owner, batch.lease_until = JobState.FAILED, None, None
                return []
            # one proof per batch: split into the batch sizes that have circuits (e.g. 3 → 2 + 1)
            sizes = self.runtime.split(len(live))
            batches, start = [batch], sizes[0]
            for size in sizes[1:]:
                extra = Batch(id=new_id(), state=JobState.ACCEPTED)
                session.add(extra)
                for job in live[start:start + size]:
                    job.batch = extra
                batches.append(extra)
                start += size
            for part, size in zip(batches, sizes):
                part.k = size
                part.model_key = self.runtime.model_key
                session.flush()
                session.refresh(part)
                self._advance(session, part, JobState.FETCHED, f"window validated ({size} per proof)")
            return [("commit", b.id) for b in batches]

    def _commit(self, batch_id: str) -> FollowUps:
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            jobs = [j for j in batch.jobs if not j.state.terminal]
            head = self.chain.head_timestamp()
            for job in jobs:
                if job.input_hash is None:
                    # the hash depends on the batch size's circuit (its input scale), fixed by now
                    job.input_hash = self.runtime.commitment(batch.k, np.asarray(job.inputs))
                    # the registry rejects observations after its latest block, whose clock may lag ours
                    job.observed_at = min(job.observed_at, head)
        # chain calls outside the transaction: each is idempotent (a publisher that posted is skipped)
        posted = {job.id: self.chain.post_commitment(job.market_id, job.epoch, job.input_hash, job.observed_at)
                  for job in jobs}
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            for job in batch.jobs:
                if job.id in posted:
                    job.commit_txs = (job.commit_txs or []) + posted[job.id]
            self._advance(session, batch, JobState.COMMITTED, "commitment final on chain")
        return [("prove", batch_id)]

    def _prove(self, batch_id: str) -> FollowUps:
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            jobs = [j for j in batch.jobs if not j.state.terminal]
            vectors = np.array([j.inputs for j in jobs], dtype=np.float64)
            k, hashes = batch.k, [j.input_hash for j in jobs]
        result = self.runtime.prove(k, vectors)
        proved = [f"0x{h:064x}" for h in result.input_hashes]
        if proved != hashes:
            raise PermanentError(f"proof input hashes {proved} differ from the committed {hashes}")
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            batch.proof_hex, batch.instances = result.proof_hex, [str(i) for i in result.instances]
            batch.prove_seconds, batch.witness_seconds = result.prove_seconds, result.witness_seconds
            batch.max_error_bps, batch.vk_sha256 = result.max_abs_error_bps, self.runtime.vk_sha256(k)
            batch.chain_model_id = self.chain.model_for(k)
            for job, out in zip([j for j in batch.jobs if not j.state.terminal], result.markets):
                job.values, job.float_values = out.values, out.float_model
                job.values_wad = {n: str(v) for n, v in out.wad.items()}
                job.explanation = self.runtime.explanation(np.asarray(job.inputs))
            self._advance(session, batch, JobState.PROVED, f"proved in {result.prove_seconds:.1f}s")
        return [("submit", batch_id)]

    def _submit(self, batch_id: str) -> FollowUps:
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            jobs = [j for j in batch.jobs if not j.state.terminal]
            call = UpdateCall(batch.chain_model_id, [j.market_id for j in jobs], [j.epoch for j in jobs],
                              batch.proof_hex, [int(i) for i in batch.instances])
            signed = SignedTx(batch.signed_tx, batch.tx_hash, batch.nonce) if batch.signed_tx else None
        if signed is None:
            signed = self.chain.sign_update(call)  # dry-runs first: a revert is decoded and permanent
            with session_scope(self.database_url) as session:
                batch = session.get(Batch, batch_id)
                batch.signed_tx, batch.tx_hash, batch.nonce = signed.raw, signed.hash, signed.nonce
        try:
            self.chain.broadcast(signed.raw, signed.hash)
        except NonceError:
            # another transaction took the nonce, so this one can never land: sign afresh on the retry
            with session_scope(self.database_url) as session:
                batch = session.get(Batch, batch_id)
                batch.signed_tx = batch.tx_hash = batch.nonce = None
            raise
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            self._advance(session, batch, JobState.SUBMITTED, f"sent {signed.hash} (nonce {signed.nonce})")
        return [("confirm", batch_id)]

    def _confirm(self, batch_id: str) -> FollowUps:
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            raw, tx_hash = batch.signed_tx, batch.tx_hash
            expected = {j.market_id: (j.epoch, {n: int(v) for n, v in j.values_wad.items()})
                        for j in batch.jobs if not j.state.terminal}
        receipt = self.chain.wait_for(tx_hash, raw)
        if receipt.reverted is not None:
            raise receipt.reverted
        for market, (epoch, wad) in expected.items():
            on_chain = self.chain.risk_parameters(market)
            if on_chain.epoch != epoch or any(on_chain.values[n] != wad[n] for n in OUTPUTS):
                raise PermanentError(f"market {market}: on-chain parameters {on_chain} differ from the proved "
                                     f"epoch {epoch} {wad}")
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            batch.block_number, batch.gas_used = receipt.block_number, receipt.gas_used
            batch.effective_gas_price, batch.confirmed_at = receipt.effective_gas_price, utcnow()
            self._advance(session, batch, JobState.CONFIRMED,
                          f"confirmed in block {receipt.block_number}, gas {receipt.gas_used}")
        return []

    # ------------------------------------------------------------------ recovery
    def stalled(self, older_than: timedelta) -> FollowUps:
        """Unfinished batches nobody holds and nobody touched for `older_than`: the stage each needs.

        After a crash (or an in-memory broker lost with its process) this re-enqueues them; enqueuing
        a stage that is running or done is harmless (lease and state guard every stage)."""
        cutoff = utcnow() - older_than
        with session_scope(self.database_url) as session:
            rows = session.execute(select(Batch.id, Batch.state).where(
                Batch.state.not_in([JobState.CONFIRMED, JobState.FAILED]),
                Batch.updated_at < cutoff,
                or_(Batch.lease_until.is_(None), Batch.lease_until < utcnow()))).all()
        return [(STAGE_FOR[state], batch_id) for batch_id, state in rows]

    # ------------------------------------------------------------------ publication
    def bundle(self, batch: Batch, manifest: dict[str, Any] | None) -> Bundle:
        """The proof bundle (oracle.bundle, zkrisk-bundle/1) of a proved batch, from what was recorded."""
        jobs = [j for j in batch.jobs if j.values_wad is not None]
        result = ProofResult(
            proof=bytes.fromhex(batch.proof_hex.removeprefix("0x")), instances=[int(i) for i in batch.instances],
            input_hashes=[int(j.input_hash, 16) for j in jobs],
            markets=[MarketOutput(j.values, {n: int(v) for n, v in j.values_wad.items()}, j.float_values)
                     for j in jobs],
            vectors=np.array([j.inputs for j in jobs], dtype=np.float64), prove_seconds=batch.prove_seconds,
            witness_seconds=batch.witness_seconds, proof_path=Path(f"{batch.id}.proof.json"))
        raw = {j.market: RawWindow.from_dict(j.data_source, f"job {j.id}") for j in jobs}
        chain = None
        if manifest is not None and batch.tx_hash is not None:
            chain = ChainRecord(manifest["chain_id"], manifest["contracts"], batch.chain_model_id, batch.tx_hash,
                                batch.block_number)
        return build_bundle(self.runtime.circuit(batch.k), result, {m: w.frame for m, w in raw.items()},
                            {m: w.source for m, w in raw.items()}, {j.market: j.explanation for j in jobs}, chain)

