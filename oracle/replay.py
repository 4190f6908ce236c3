"""Replaying history through the real pipeline, epoch by epoch: `zkrisk replay` and the replay test.

Each epoch's updates are requested for every market and model, then run through every stage in this
process (fetch, sign, prove from the stored policy state, submit, confirm) before the next epoch, so
each proof steps from the state the previous day left on chain: what the live service does once a
day. `zkrisk serve --replay-from` is the other replay: the service's own clock runs through the
history and its heartbeat and deviation triggers decide what to update (oracle.feed.ReplayClock).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from sqlalchemy import select

from oracle.db import Job, JobState, session_scope
from oracle.pipeline import Pipeline


@dataclass(frozen=True)
class ReplayedUpdate:
    epoch: int
    model: str
    market: str
    state: JobState
    values: dict[str, float] | None
    error: str | None


def replay_epochs(pipeline: Pipeline, markets: Sequence[str], epochs: Iterable[int],
                  models: Sequence[str] | None = None,
                  progress: Callable[[ReplayedUpdate], None] = lambda _: None) -> list[ReplayedUpdate]:
    """Run each epoch's updates to their end, in order; returns every job's outcome."""
    outcomes = []
    for epoch in epochs:
        accepted = pipeline.request(list(markets), epoch, "replay", None, list(models) if models else None)
        pipeline.run_to_end(accepted.batch_ids)
        with session_scope(pipeline.database_url) as session:
            jobs = session.scalars(select(Job).where(Job.id.in_([j.id for j in accepted.jobs]))
                                   .order_by(Job.model_version, Job.market_id)).all()
            for job in jobs:
                outcome = ReplayedUpdate(epoch, job.model_version, job.market, job.state, job.values,
                                         job.error_message)
                outcomes.append(outcome)
                progress(outcome)
    return outcomes
