"""Pipeline requests, leases and the data stage, on SQLite and PostgreSQL (no chain, no proving)."""

from __future__ import annotations

import threading
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from models.features import epoch_of, epoch_start
from oracle.db import Batch, Job, JobState, session_scope
from oracle.errors import ConfigurationError, StageBusyError
from oracle.feed import ReplayFeed
from oracle.pipeline import Pipeline
from oracle.runtime import ProverRuntime


def no_chain():
    raise ConfigurationError("no chain in unit tests")


def make_pipeline(url: str, production_version, loader=None, batch_sizes=(1, 2), lease: int = 300,
                  worker: str | None = None) -> Pipeline:
    runtime = ProverRuntime(batch_sizes=list(batch_sizes))
    runtime.__dict__["version"] = production_version  # the session's loaded version (cached property)
    return Pipeline(url, ReplayFeed(production_version, loader), runtime, no_chain, lease, worker)


@pytest.fixture
def btc_epoch(production_version) -> int:
    """An epoch both bundled markets have data for, a few days before the data ends."""
    return epoch_of(production_version.market_frame("ETH").index[-1]) - 4


def test_request_is_idempotent_per_market_and_epoch(database_url, production_version, btc_epoch):
    pipeline = make_pipeline(database_url, production_version)
    first = pipeline.request(["BTC"], btc_epoch)
    again = pipeline.request(["btc"], btc_epoch)
    assert first.created and not again.created
    assert [j.id for j in again.jobs] == [j.id for j in first.jobs]
    assert first.jobs[0].state is JobState.ACCEPTED and first.jobs[0].epoch == btc_epoch


def test_concurrent_identical_requests_create_one_job_per_market(database_url, production_version, btc_epoch):
    pipeline = make_pipeline(database_url, production_version)
    results, barrier = [], threading.Barrier(6)

    def request() -> None:
        barrier.wait()
        results.append(pipeline.request(["BTC", "ETH"], btc_epoch))

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({tuple(j.id for j in r.jobs) for r in results}) == 1
    assert sum(r.created for r in results) == 1
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 2
        assert session.scalar(select(func.count()).select_from(Batch)) == 1


def test_a_stage_runs_under_one_lease_and_only_once(database_url, production_version, btc_epoch):
    first = make_pipeline(database_url, production_version, worker="a")
    second = make_pipeline(database_url, production_version, worker="b")
    batch = first.request(["BTC"], btc_epoch).batch_id
    assert first._claim(batch, JobState.ACCEPTED)
    with pytest.raises(StageBusyError) as busy:
        second._claim(batch, JobState.ACCEPTED)
    assert 0 < busy.value.retry_in <= 300
    assert first.run("fetch", batch) == [("commit", batch)]
    assert second.run("fetch", batch) == []  # redelivered after completion: a no-op
    assert second._claim(batch, JobState.ACCEPTED) is False


def test_an_expired_lease_is_taken_over(database_url, production_version, btc_epoch):
    crashed = make_pipeline(database_url, production_version, lease=0, worker="crashed")
    batch = crashed.request(["BTC"], btc_epoch).batch_id
    assert crashed._claim(batch, JobState.ACCEPTED)
    successor = make_pipeline(database_url, production_version, worker="successor")
    assert successor.stalled(timedelta(0)) == [("fetch", batch)]
    assert successor.run("fetch", batch) == [("commit", batch)]


def test_fetch_records_the_window_and_splits_into_available_batch_sizes(database_url, production_version,
                                                                         btc_epoch):
    pipeline = make_pipeline(database_url, production_version, batch_sizes=(1,))
    accepted = pipeline.request(["BTC", "ETH"], btc_epoch)
    follow = pipeline.run("fetch", accepted.batch_id)
    assert len(follow) == 2 and {stage for stage, _ in follow} == {"commit"}
    with session_scope(database_url) as session:
        jobs = session.scalars(select(Job)).all()
        assert {j.state for j in jobs} == {JobState.FETCHED}
        assert len({j.batch_id for j in jobs}) == 2
        btc = next(j for j in jobs if j.market == "BTC")
        expected = production_version.input_vector("BTC", epoch_start(btc_epoch) - production_version.bar_interval)
        np.testing.assert_array_equal(btc.inputs, expected)
        assert btc.data_source["source"]["kind"] == "bundled-replay"
        assert [e.state for e in btc.events] == [JobState.ACCEPTED, JobState.FETCHED]


def test_bad_data_fails_the_job_with_the_rule_that_fired(database_url, production_version, btc_epoch):
    bar = production_version.bar_interval
    window_end = epoch_start(btc_epoch) - bar

    def spiky(symbol):
        frame = production_version.market_frame(symbol).copy()
        frame.loc[window_end - 5 * bar, "close"] *= 3  # one print inside the window, reverting next bar
        return frame

    pipeline = make_pipeline(database_url, production_version, loader=spiky)
    accepted = pipeline.request(["BTC"], btc_epoch)
    assert pipeline.run("fetch", accepted.batch_id) == []
    with session_scope(database_url) as session:
        job = session.get(Job, accepted.jobs[0].id)
        assert job.state is JobState.FAILED
        assert (job.error_kind, job.error_rule) == ("data-rejected", "spike")
        assert "BTC" in job.error_message and session.get(Batch, accepted.batch_id).state is JobState.FAILED


def test_an_epoch_without_data_fails_with_no_data(database_url, production_version):
    pipeline = make_pipeline(database_url, production_version)
    future = pipeline.feed.latest_epoch("BTC") + 30
    accepted = pipeline.request(["BTC"], future)
    pipeline.run("fetch", accepted.batch_id)
    with session_scope(database_url) as session:
        job = session.get(Job, accepted.jobs[0].id)
        assert (job.state, job.error_rule) == (JobState.FAILED, "no-data")


def test_unknown_markets_are_not_found(database_url, production_version):
    from oracle.errors import NotFoundError

    with pytest.raises(NotFoundError, match="DOGE"):
        make_pipeline(database_url, production_version).request(["DOGE"], 20000)
