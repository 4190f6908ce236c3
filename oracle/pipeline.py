"""The update pipeline: accept (model, market, epoch) requests, then run each batch through its stages.

    stage     queue    takes a batch in   leaves it in   does
    fetch     data     accepted           fetched        window → validate → input vector, data hash; sizes batches
    sign      data     fetched            signed         k-of-n publishers sign the batch's reports (off chain)
    prove     prove    signed             proved         stored policy state → witness + proof (all markets at once)
    submit    submit   proved             submitted      signed `submitUpdate`, persisted before it is sent
    confirm   submit   submitted          confirmed      receipt, confirmations, on-chain values == proved

A batch is one proof of one model version (the lending policy and the options margin model are
requested and proved side by side, each in its own batches). `sign` asks every configured publisher
(oracle/publisher.py) for its signature over the batch's reports, each recomputed by the publisher
from its own copy of the data, and takes posted ones too; it recovers every signature and keeps only
those of active publishers over exactly the reports this service computed. A rogue, revoked or lost
publisher is recorded and skipped: the batch needs only the quorum.

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
from typing import Any, Callable, Sequence

import numpy as np
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.drift import DriftRules
from models.spec import LAYOUTS, market_id as market_id_of
from oracle.chain.client import ChainGateway, SignedTx
from oracle.chain.deploy import proved_update
from oracle.drift import score_confirmed
from oracle.db import Batch, Job, JobEvent, JobState, PostedReport, session_scope, utcnow
from oracle.errors import (
    DataRejectedError,
    NonceError,
    NotFoundError,
    OracleError,
    PermanentError,
    ReportRejectedError,
    StageBusyError,
    TransientError,
)
from oracle.feed import MarketFeed
from oracle.logs import bound
from oracle.publisher import PublisherSource, ReportRequest, SignedBatch, batch_key
from oracle.reports import Domain, Report, Signature, data_hash, ordered, recover_signer
from oracle.runtime import Runtimes

log = logging.getLogger("zkrisk.pipeline")

#: the stage that moves a batch out of each state, and the Celery queue that runs it
STAGE_FOR = {JobState.ACCEPTED: "fetch", JobState.FETCHED: "sign", JobState.SIGNED: "prove",
             JobState.PROVED: "submit", JobState.SUBMITTED: "confirm"}
QUEUE_FOR = {"fetch": "data", "sign": "data", "prove": "prove", "submit": "submit", "confirm": "submit"}
#: the follow-up the confirm stage returns when drift rules fire: a retrain id, not a batch id
RETRAIN = "retrain"
STATE_FOR = {stage: state for state, stage in STAGE_FOR.items()}
#: seconds a batch waits before proving while an earlier epoch of one of its markets is still in flight
SEQUENCE_WAIT = 5.0

FollowUps = list[tuple[str, str]]


def new_id() -> str:
    return uuid.uuid4().hex


def aware(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


@dataclass(frozen=True)
class Accepted:
    #: the new batches (one per model version with new jobs); empty when everything existed
    batch_ids: list[str]
    jobs: list[Job]

    @property
    def created(self) -> bool:
        return bool(self.batch_ids)


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


def _live(batch: Batch) -> list[Job]:
    return [j for j in batch.jobs if not j.state.terminal]


def _report_of(job: Job) -> Report:
    return Report.from_dict(job.report)


def _difference(ours: Sequence[Report], theirs: Sequence[Report]) -> str:
    """What differs between two report batches, for the error that rejects a signature."""
    if len(ours) != len(theirs):
        return f"{len(theirs)} reports instead of {len(ours)}"
    for mine, other in zip(ours, theirs):
        for name, value in mine.to_dict().items():
            if other.to_dict()[name] != value:
                return f"market {mine.market_id} {name} {other.to_dict()[name]} (ours {value})"
    return "nothing"


class Pipeline:
    """The stages, over a database URL, the model versions (runtimes) and their feeds, the publishers
    and (lazily) the chain."""

    def __init__(self, database_url: str, runtimes: Runtimes, feeds: dict[str, MarketFeed],
                 publisher_factory: Callable[[], Sequence[PublisherSource]],
                 chain_factory: Callable[[], ChainGateway], lease_seconds: int = 300,
                 worker_id: str | None = None, drift_rules: DriftRules | None = None,
                 retrainer: Callable[[str], str] | None = None, retrain_cooldown_epochs: int = 0) -> None:
        """`drift_rules`: judged after each confirmation (None: no retrain is opened); `retrainer` runs a
        retrain by id where the pipeline runs its own follow-ups (`run_to_end`)."""
        self.database_url, self.runtimes, self.feeds = database_url, runtimes, feeds
        self.drift_rules, self._retrainer = drift_rules, retrainer
        self.retrain_cooldown_epochs = retrain_cooldown_epochs
        self._publisher_factory, self._publishers = publisher_factory, None
        self._chain_factory, self._chain = chain_factory, None
        self.lease = timedelta(seconds=lease_seconds)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    @property
    def chain(self) -> ChainGateway:
        if self._chain is None:
            self._chain = self._chain_factory()
        return self._chain

    @property
    def publishers(self) -> list[PublisherSource]:
        """Built on first use: only the `sign` stage needs them (and their keys)."""
        if self._publishers is None:
            self._publishers = list(self._publisher_factory())
        return self._publishers

    @property
    def feed(self) -> MarketFeed:
        """The first configured model's feed: what "the latest epoch" of a market means."""
        return self.feeds[next(iter(self.runtimes))]

    # ------------------------------------------------------------------ requests
    def request(self, markets: list[str], epoch: int | None = None, trigger: str = "api",
                requested_by: str | None = None, models: list[str] | None = None) -> Accepted:
        """Accept updates for `markets` (at `epoch`, default each market's latest) of each model version
        (default: all configured): one job per (model, market, epoch), created once. A model's markets
        not yet requested share one new batch."""
        markets = list(dict.fromkeys(m.upper() for m in markets))
        for market in markets:
            try:
                market_id_of(market)
            except KeyError as error:
                raise NotFoundError(str(error.args[0])) from None
        keys = list(self.runtimes) if models is None else list(dict.fromkeys(models))
        for key in keys:
            if key not in self.runtimes:
                raise NotFoundError(f"model {key!r} is not served; served: {', '.join(self.runtimes)}")
        epochs = {m: epoch if epoch is not None else self.feed.latest_epoch(m) for m in markets}
        wanted = [(k, m, epochs[m]) for k in keys for m in markets]

        def matching(session: Session) -> list[Job]:
            return list(session.scalars(select(Job).where(or_(*[
                (Job.model_version == k) & (Job.market == m) & (Job.epoch == e) for k, m, e in wanted]))))

        with session_scope(self.database_url) as session:
            existing = {(j.model_version, j.market, j.epoch) for j in matching(session)}
            batch_ids = []
            for key in keys:
                fresh = [m for m in markets if (key, m, epochs[m]) not in existing]
                if not fresh:
                    continue
                batch_id = new_id()
                batch_ids.append(batch_id)
                session.add(Batch(id=batch_id, state=JobState.ACCEPTED, model_version=key,
                                  layout_id=self.runtimes[key].layout.layout_id))
                for market in fresh:
                    job = Job(id=new_id(), market=market, market_id=market_id_of(market), model_version=key,
                              epoch=epochs[market], state=JobState.ACCEPTED, trigger=trigger,
                              requested_by=requested_by, batch_id=batch_id)
                    session.add(job)
                    session.add(JobEvent(job_id=job.id, state=JobState.ACCEPTED, message=f"requested via {trigger}"))
            try:
                session.flush()
            except IntegrityError:
                # a concurrent request created some of these jobs first: theirs win
                session.rollback()
                return self.request(markets, epoch, trigger, requested_by, models)
            jobs = matching(session)
        jobs.sort(key=lambda j: (keys.index(j.model_version), markets.index(j.market)))
        log.info("update requested", extra={"markets": markets, "epochs": epochs, "models": keys,
                                            "batch_ids": batch_ids})
        return Accepted(batch_ids, jobs)

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
            runtime = self.runtimes.get_runtime(batch.model_version)
            feed = self.feeds[batch.model_version]
            live = []
            for job in batch.jobs:
                if job.state is not JobState.ACCEPTED:
                    continue
                try:
                    seen = feed.observe(job.market, job.epoch)
                except DataRejectedError as error:
                    _fail(session, job, error)
                    log.warning("data rejected", extra={"job_id": job.id, "rule": error.rule})
                    continue
                job.inputs, job.observed_at, job.data_source = seen.vector.tolist(), seen.observed_at, seen.source
                job.data_hash = "0x" + data_hash(seen.data).hex()
                live.append(job)
            if not live:
                batch.state, batch.lease_owner, batch.lease_until = JobState.FAILED, None, None
                return []
            # one proof per batch: split into the batch sizes that have circuits (e.g. 3 → 2 + 1)
            sizes = runtime.split(len(live))
            batches, start = [batch], sizes[0]
            for size in sizes[1:]:
                extra = Batch(id=new_id(), state=JobState.ACCEPTED, model_version=batch.model_version,
                              layout_id=batch.layout_id)
                session.add(extra)
                for job in live[start:start + size]:
                    job.batch = extra
                batches.append(extra)
                start += size
            for part, size in zip(batches, sizes):
                part.k = size
                session.flush()
                session.refresh(part)
                self._advance(session, part, JobState.FETCHED, f"window validated ({size} per proof)")
            return [("sign", b.id) for b in batches]

    def _sign(self, batch_id: str) -> FollowUps:
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            runtime = self.runtimes.get_runtime(batch.model_version)
            jobs = _live(batch)
            scale = runtime.input_scale(batch.k)
            ours = tuple(Report(j.market_id, j.epoch, runtime.input_hash(np.asarray(j.inputs), scale),
                                bytes.fromhex(j.data_hash.removeprefix("0x")), j.observed_at) for j in jobs)
            request = ReportRequest(batch.model_version, scale, tuple((j.market, j.epoch) for j in jobs))
        domain = self.chain.domain
        key = batch_key(domain, ours)
        answers: list[tuple[str, SignedBatch | Exception]] = []
        for source in self.publishers:
            try:
                answers.append((source.name, source.sign(domain, request)))
            except OracleError as error:
                answers.append((source.name, error))
        with session_scope(self.database_url) as session:
            for posted in session.scalars(select(PostedReport).where(PostedReport.batch_key == key)):
                answers.append((f"posted by {posted.posted_by}",
                                SignedBatch.from_dict({"reports": posted.reports, "signature": posted.signature})))
        valid, rejected, transient = self._check_signatures(domain, ours, answers)
        quorum = self.chain.quorum()
        if len(valid) < quorum:
            detail = "; ".join(rejected) or "no publisher answered"
            if transient:
                raise TransientError(f"{len(valid)} of {quorum} signatures so far ({detail})")
            raise ReportRejectedError(f"only {len(valid)} valid publisher signatures, the oracle needs {quorum}: "
                                      f"{detail}")
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            for job, report in zip(_live(batch), ours):
                job.report, job.input_hash = report.to_dict(), "0x" + report.input_hash.hex()
            batch.domain = {"chain_id": domain.chain_id, "oracle": domain.oracle}
            batch.signatures = [s.to_dict() for s in ordered(valid.values())]
            note = f"{len(valid)} publisher signatures (quorum {quorum})"
            self._advance(session, batch, JobState.SIGNED, note + ("; rejected: " + "; ".join(rejected)
                                                                  if rejected else ""))
        if rejected:
            log.warning("publisher signatures rejected", extra={"rejected": rejected})
        return [("prove", batch_id)]

    def _check_signatures(self, domain: Domain, ours: Sequence[Report],
                          answers: list[tuple[str, SignedBatch | Exception]]
                          ) -> tuple[dict[str, Signature], list[str], bool]:
        """The signatures that count (by signer), a reason for each that does not, and whether any
        publisher failed transiently (so asking again may reach the quorum)."""
        valid: dict[str, Signature] = {}
        rejected, transient = [], False
        for name, answer in answers:
            if isinstance(answer, Exception):
                transient = transient or isinstance(answer, TransientError)
                rejected.append(f"{name}: {answer}")
                continue
            signature = answer.signature
            if tuple(answer.reports) != tuple(ours):
                rejected.append(f"{name} ({signature.signer}) signed a different batch: "
                                f"{_difference(ours, answer.reports)}")
            elif recover_signer(domain, ours, signature) != signature.signer:
                rejected.append(f"{name}: the signature does not recover to its claimed signer {signature.signer}")
            elif not self.chain.is_publisher(signature.signer):
                rejected.append(f"{name}: {signature.signer} is not an active publisher of the oracle")
            else:
                valid[signature.signer] = signature
        return valid, rejected, transient

    def _earlier_in_flight(self, session: Session, batch: Batch) -> bool:
        """Whether an earlier epoch of one of this batch's markets (same model) is still unconfirmed: the
        policy state this proof steps from must be that update's outcome, so it proves after it."""
        for job in _live(batch):
            earlier = session.scalars(select(Job.id).where(
                Job.model_version == batch.model_version, Job.market_id == job.market_id, Job.epoch < job.epoch,
                Job.state.not_in([JobState.CONFIRMED, JobState.FAILED]))).first()
            if earlier is not None:
                return True
        return False

    def _prove(self, batch_id: str) -> FollowUps:
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            if self._earlier_in_flight(session, batch):
                raise StageBusyError(f"batch {batch_id}: an earlier epoch of its markets is still in flight",
                                     SEQUENCE_WAIT)
            runtime = self.runtimes.get_runtime(batch.model_version)
            jobs = _live(batch)
            vectors = np.array([j.inputs for j in jobs], dtype=np.float64)
            k, market_ids = batch.k, [j.market_id for j in jobs]
            hashes = [int(j.input_hash, 16) for j in jobs]
        state = self.chain.stored_state(runtime.layout, market_ids)
        result = runtime.prove(k, vectors, state)
        if result.input_hashes != hashes:
            raise PermanentError(f"proof input hashes {result.input_hashes} differ from the signed {hashes}")
        model_id = self.chain.model_for(runtime.model_key, k)
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            batch.proof_hex, batch.instances = result.proof_hex, [str(i) for i in result.instances]
            batch.prove_seconds, batch.witness_seconds = result.prove_seconds, result.witness_seconds
            batch.max_error_bps, batch.vk_sha256 = result.max_abs_error_bps, runtime.vk_sha256(k)
            batch.chain_model_id, batch.state_before = model_id, None if state is None else state.tolist()
            for i, (job, out) in enumerate(zip(_live(batch), result.markets)):
                job.values, job.float_values = out.values, out.float_model
                job.values_wad = {n: str(v) for n, v in out.wad.items()}
                job.explanation = runtime.explanation(np.asarray(job.inputs), None if state is None else state[i])
            self._advance(session, batch, JobState.PROVED, f"proved in {result.prove_seconds:.1f}s")
        return [("submit", batch_id)]

    def _submit(self, batch_id: str) -> FollowUps:
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            jobs = _live(batch)
            reports = [_report_of(j) for j in jobs]
            feed = self.feeds[batch.model_version]
            closes = {j.market_id: feed.close_before(j.market, j.epoch) for j in jobs}
            call = proved_update(batch.chain_model_id, reports, [Signature.from_dict(s) for s in batch.signatures],
                                 bytes.fromhex(batch.proof_hex.removeprefix("0x")), [int(i) for i in batch.instances])
            signed = SignedTx(batch.signed_tx, batch.tx_hash, batch.nonce) if batch.signed_tx else None
        if signed is None:
            self.chain.align_dev_clock(max(r.observed_at for r in reports))
            self.chain.set_dev_prices(closes)
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
            raw, tx_hash, layout = batch.signed_tx, batch.tx_hash, LAYOUTS[batch.layout_id]
            model_version = batch.model_version
            expected = {j.market_id: (j.epoch, {n: int(v) for n, v in j.values_wad.items()}) for j in _live(batch)}
            markets = [j.market for j in _live(batch)]
        receipt = self.chain.wait_for(tx_hash, raw)
        if receipt.reverted is not None:
            raise receipt.reverted
        for market, (epoch, wad) in expected.items():
            on_chain = self.chain.parameters(market, layout)
            if on_chain.epoch != epoch or on_chain.values != wad:
                raise PermanentError(f"market {market}: on-chain {layout.name} parameters {on_chain} differ from "
                                     f"the proved epoch {epoch} {wad}")
        with session_scope(self.database_url) as session:
            batch = session.get(Batch, batch_id)
            batch.block_number, batch.gas_used = receipt.block_number, receipt.gas_used
            batch.effective_gas_price, batch.confirmed_at = receipt.effective_gas_price, utcnow()
            self._advance(session, batch, JobState.CONFIRMED,
                          f"confirmed in block {receipt.block_number}, gas {receipt.gas_used}")
        return self._monitor(model_version, expected, markets)

    def _monitor(self, model_version: str, expected: dict[int, tuple[int, dict[str, int]]],
                 markets: list[str]) -> FollowUps:
        """Score what a confirmation closed and judge the drift rules. The batch is confirmed already:
        a monitoring failure is logged, never recorded on the batch's jobs, and what it left unscored
        is scored by the next confirmation of these markets."""
        from oracle.retrain import open_retrain

        try:
            # this confirmation closes the horizon of its markets' previous-epoch updates (and of any
            # left unscored); only this batch's markets, so workers confirming other markets' batches
            # never score the same update
            score_confirmed(self.database_url, self.feeds, markets=markets)
            if self.drift_rules is None:
                return []
            opened = open_retrain(self.database_url, model_version, max(e for e, _ in expected.values()),
                                  markets, self.drift_rules, self.retrain_cooldown_epochs)
        except Exception:  # noqa: BLE001 - see the docstring: nothing here may fail a confirmed batch
            log.exception("drift monitoring failed after confirmation", extra={"model_version": model_version})
            return []
        return [] if opened is None else [(RETRAIN, opened)]

    def run_to_end(self, batch_ids: Sequence[str]) -> None:
        """Run every stage of these batches (and the batches they split into) in this process, in order:
        `zkrisk replay`, the demo and the replay test drive the pipeline without a queue. A stage waiting
        for another's lease or retrying a transient error propagates."""
        todo = [("fetch", b) for b in batch_ids]
        while todo:
            stage, batch_id = todo.pop(0)
            if stage == RETRAIN:
                if self._retrainer is None:
                    raise OracleError(f"retrain {batch_id} opened, but this pipeline has no retrainer")
                self._retrainer(batch_id)
                continue
            todo.extend(self.run(stage, batch_id))

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
    def bundle(self, batch: Batch, manifest: dict[str, Any] | None) -> Any:
        """The proof bundle of a proved batch (oracle.bundle's pure builder), from what was recorded: the
        proof, the signed report batch, and each market's raw bars from the feed (checked against the
        data hash the publishers signed, so the bundle carries exactly the attested data)."""
        from oracle.bundle import Bundle, ChainRecord, RawData, ReportBatch
        from prover.proving import ProofResult, decode_market

        runtime = self.runtimes.get_runtime(batch.model_version)
        layout = runtime.layout
        jobs = [j for j in batch.jobs if j.values_wad is not None]
        instances = [int(i) for i in batch.instances]
        split = layout.split_instances(instances, batch.k)
        markets = [decode_market(layout, layout.scale, split.outputs[i], split.state[i], j.float_values)
                   for i, j in enumerate(jobs)]
        state = None if batch.state_before is None else np.asarray(batch.state_before, dtype=np.float64)
        result = ProofResult(proof=bytes.fromhex(batch.proof_hex.removeprefix("0x")), instances=instances,
                             input_hashes=split.hashes, markets=markets,
                             vectors=np.array([j.inputs for j in jobs], dtype=np.float64), state=state,
                             prove_seconds=batch.prove_seconds, witness_seconds=batch.witness_seconds,
                             proof_path=None)
        raw = []
        for job in jobs:
            data = self.feeds[batch.model_version].observe(job.market, job.epoch).data
            if "0x" + data_hash(data).hex() != job.data_hash:
                raise PermanentError(f"job {job.id}: the feed's bars for {job.market} epoch {job.epoch} no longer "
                                     "hash to the signed data hash")
            raw.append(RawData(job.data_source, data))
        reports = ReportBatch(Domain(int(batch.domain["chain_id"]), batch.domain["oracle"]),
                              [_report_of(j) for j in jobs], [Signature.from_dict(s) for s in batch.signatures])
        chain = None
        if manifest is not None and batch.tx_hash is not None:
            # a confirmed batch's receipt succeeded (a reverted one fails the batch in `confirm`)
            status = 1 if batch.state is JobState.CONFIRMED else None
            chain = ChainRecord.from_manifest(manifest, batch.chain_model_id, batch.tx_hash, batch.block_number,
                                              status, batch.gas_used)
        return Bundle.for_update(runtime.circuit(batch.k), result, raw, reports, chain,
                                 [j.explanation for j in jobs])
