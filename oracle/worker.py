"""Celery: queues `data`, `prove`, `submit`; one thin task per pipeline stage; beat schedules.

Tasks take ids only and call `Pipeline.run`; all state lives in the database. Delivery is at least
once (`acks_late`, requeue when a worker dies, the broker's visibility timeout), and every stage is
idempotent under its lease, so redelivery is safe. Transient errors retry with exponential backoff
up to `max_transient_retries`, then the job fails with the last error recorded.

Beat: `heartbeat` requests an update per model and market when a newer epoch has data and the last
confirmed one was observed more than `heartbeat_seconds` ago; `deviation` requests one when the feed's
latest close moved more than `deviation_threshold` from the close the last update was proved on;
`recover` re-enqueues batches stalled by a crash. Time is the feed's clock: live time, or replayed
time under `zkrisk serve --replay-from`, so a replay triggers exactly as the live service would have.

Embedded mode (`zkrisk serve`) runs a worker and beat as threads of the API process on the in-memory
broker; production runs `zkrisk worker --queues prove` (etc.) against Redis.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from celery import Celery
from celery.beat import EmbeddedService
from kombu import Exchange, Queue
from sqlalchemy import select

from oracle.db import Job, JobState, session_scope
from oracle.errors import StageBusyError, TransientError
from oracle.pipeline import QUEUE_FOR, RETRAIN, Pipeline
from oracle.settings import STATE_DIR, Settings, get_settings

log = logging.getLogger("zkrisk.worker")
QUEUES = ("data", "prove", "submit")

celery = Celery("zkrisk")
_active: Settings | None = None


def settings() -> Settings:
    return _active or get_settings()


def activate(active: Settings) -> Celery:
    """Use these settings in this process (the API passes its injected ones; the CLI the environment)."""
    global _active
    _active = active
    pipeline.cache_clear()
    # connections made for previous settings (another broker) must not be reused; `close` drops the
    # connection pool but keeps a producer pool made without one, hence the reset
    celery.close()
    if "amqp" in celery.__dict__:
        celery.amqp._producer_pool = None
    return configure(active)


def configure(active: Settings) -> Celery:
    """Apply settings to the Celery app (the worker, beat and the API's producer share them)."""
    celery.conf.update(
        broker_url=active.broker_url,
        result_backend=active.broker_url if active.broker_url.startswith("redis") else None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": active.visibility_timeout},
        broker_connection_retry_on_startup=True,
        # each queue on its own exchange and key: sharing the default one would copy every task to all
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
        task_default_queue="data",
        worker_hijack_root_logger=False,
        # beat's bookkeeping lives with the service state, not in whatever directory it was started from
        beat_schedule_filename=str(STATE_DIR / "celerybeat-schedule"),
        beat_schedule={
            "heartbeat": {"task": "zkrisk.heartbeat", "schedule": active.heartbeat_seconds / 4,
                          "options": {"queue": "data"}},
            "deviation": {"task": "zkrisk.deviation", "schedule": active.deviation_check_seconds,
                          "options": {"queue": "data"}},
            "recover": {"task": "zkrisk.recover", "schedule": active.recovery_seconds,
                        "options": {"queue": "data"}},
        },
    )
    return celery


@lru_cache
def pipeline() -> Pipeline:
    """The process's pipeline (circuits, feed and chain connection are built once per worker)."""
    from oracle.services import build_pipeline

    return build_pipeline(settings())


def enqueue(stage: str, batch_id: str, countdown: float = 0, attempt: int = 0) -> None:
    """A stage of a batch, or (stage `retrain`) a retrain by id, on its queue."""
    if stage == RETRAIN:
        retrain.apply_async((batch_id, attempt), queue=RETRAIN_QUEUE, countdown=countdown)
    else:
        STAGE_TASKS[stage].apply_async((batch_id, attempt), queue=QUEUE_FOR[stage], countdown=countdown)


def _run_stage(stage: str, batch_id: str, attempt: int) -> None:
    # Retries are re-enqueued explicitly rather than with `Task.retry`, whose republished message the
    # in-memory transport of the embedded worker never delivers; the attempt travels in the arguments.
    try:
        follow = pipeline().run(stage, batch_id)
    except StageBusyError as busy:
        # another worker holds the lease: look again when it expires (no retry budget spent)
        enqueue(stage, batch_id, busy.retry_in, attempt)
        return
    except TransientError as error:
        if attempt >= settings().max_transient_retries:
            pipeline().fail_batch(batch_id, error)
        else:
            enqueue(stage, batch_id, min(60.0, 2.0 * 2 ** attempt), attempt + 1)
        return
    for next_stage, next_batch in follow:
        enqueue(next_stage, next_batch)


def _stage_task(stage: str):
    def run(batch_id: str, attempt: int = 0) -> None:
        _run_stage(stage, batch_id, attempt)

    run.__name__ = run.__qualname__ = stage
    run.__doc__ = f"Pipeline stage `{stage}` of one batch (queue `{QUEUE_FOR[stage]}`)."
    return celery.task(name=f"zkrisk.{stage}", acks_late=True)(run)


STAGE_TASKS = {stage: _stage_task(stage) for stage in QUEUE_FOR}
#: training and circuit building are CPU work like proving
RETRAIN_QUEUE = "prove"


@celery.task(name="zkrisk.retrain", acks_late=True)
def retrain(retrain_id: str, attempt: int = 0) -> None:
    """Run a retrain opened by a drift rule (oracle/retrain.py): its state is in the database, so a
    redelivery resumes it; transient errors retry like the stages'."""
    from oracle.retrain import FAILED, finish
    from oracle.services import retrain as run

    try:
        run(settings(), retrain_id)
    except TransientError as error:
        if attempt < settings().max_transient_retries:
            enqueue(RETRAIN, retrain_id, min(60.0, 2.0 * 2 ** attempt), attempt + 1)
        else:
            finish(settings(), retrain_id, FAILED, f"gave up after {attempt} transient errors: {error}")


def request_and_enqueue(markets: list[str], epoch: int | None = None, trigger: str = "api",
                        requested_by: str | None = None, models: list[str] | None = None):
    accepted = pipeline().request(markets, epoch, trigger, requested_by, models)
    for batch_id in accepted.batch_ids:
        enqueue("fetch", batch_id)
    return accepted


def _last_confirmed(model: str, market: str) -> Job | None:
    with session_scope(settings().database_url) as session:
        return session.scalars(select(Job).where(Job.model_version == model, Job.market == market,
                                                 Job.state == JobState.CONFIRMED)
                               .order_by(Job.epoch.desc()).limit(1)).first()


@celery.task(name="zkrisk.heartbeat")
def heartbeat() -> None:
    """Request each model's markets that have a newer epoch than their last confirmed update, observed
    more than the heartbeat ago (or none yet)."""
    active, flow = settings(), pipeline()
    for model, feed in flow.feeds.items():
        due = []
        for market in active.markets:
            last = _last_confirmed(model, market)
            if last is None or (feed.latest_epoch(market) > last.epoch
                                and feed.now() - last.observed_at >= active.heartbeat_seconds):
                due.append(market)
        if due:
            request_and_enqueue(due, trigger="heartbeat", models=[model])


@celery.task(name="zkrisk.deviation")
def deviation() -> None:
    """Request markets whose latest close moved more than the threshold since the last proved window."""
    active, flow = settings(), pipeline()
    for model, feed in flow.feeds.items():
        due = []
        for market in active.markets:
            last = _last_confirmed(model, market)
            if last is None or feed.latest_epoch(market) <= last.epoch:
                continue
            move = abs(feed.last_close(market) / feed.close_before(market, last.epoch) - 1)
            if move > active.deviation_threshold:
                due.append(market)
        if due:
            request_and_enqueue(due, trigger="deviation", models=[model])


@celery.task(name="zkrisk.recover")
def recover(older_than: float | None = None) -> None:
    """Re-enqueue unfinished batches nobody holds and nobody touched for `older_than` seconds (default:
    a lease period): after a crash, or when an in-memory queue died with its process."""
    idle = settings().stage_lease_seconds if older_than is None else older_than
    for stage, batch_id in pipeline().stalled(timedelta(seconds=idle)):
        log.warning("re-enqueuing stalled batch", extra={"batch_id": batch_id, "stage": stage})
        enqueue(stage, batch_id)


def spawn(active: Settings, log: Path, queues: str = "data,prove,submit", beat: bool = False) -> subprocess.Popen:
    """Start `zkrisk worker` with these settings in its own process group (so it can be killed whole)."""
    command = [sys.executable, "-m", "oracle.cli", "worker", "--queues", queues] + (["--beat"] if beat else [])
    env = {**os.environ, **active.to_env(), "PYTHONPATH": os.pathsep.join(filter(None, [
        str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(command, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


class EmbeddedWorker:
    """A Celery worker (solo pool) and beat as daemon threads of this process: `zkrisk serve`."""

    def __init__(self, beat: bool = True) -> None:
        self.worker = celery.WorkController(pool_cls="solo", concurrency=1, queues=list(QUEUES),
                                            without_heartbeat=True, without_mingle=True, without_gossip=True,
                                            loglevel="INFO")
        self.beat = EmbeddedService(celery, thread=True) if beat else None
        self.thread = threading.Thread(target=self.worker.start, name="zkrisk-worker", daemon=True)

    def start(self) -> None:
        self.thread.start()
        if self.beat is not None:
            STATE_DIR.mkdir(parents=True, exist_ok=True)
            self.beat.start()
        # anything accepted before a restart: the in-memory queue did not survive it
        recover.delay(older_than=0)

    def stop(self) -> None:
        if self.beat is not None:
            self.beat.stop()
        self.worker.stop(in_sighandler=False)


configure(get_settings())
