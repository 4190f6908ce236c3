"""Pipeline requests, leases and the data stage, on SQLite and PostgreSQL (no chain, no proving).

The stages that need the oracle (signatures, proofs, submission) are tested on anvil in
tests/integration/test_service.py."""

from __future__ import annotations

import threading
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from dataclasses import replace

from models.features import HOUR, epoch_start
from models.versions import OPTIONS_PRODUCTION, load_version
from oracle.db import Batch, Job, JobState, session_scope
from oracle.errors import ConfigurationError, StageBusyError
from oracle.feed import ReplayClock, ReplayFeed
from oracle.pipeline import Pipeline
from oracle.reports import data_hash
from oracle.runtime import Runtimes

LENDING_KEY = "har-policy@2.0.0"
OPTIONS_KEY = f"{OPTIONS_PRODUCTION[0]}@{OPTIONS_PRODUCTION[1]}"


def no_chain():
    raise ConfigurationError("no chain in unit tests")


@pytest.fixture(scope="module")
def options_version():
    return load_version(*OPTIONS_PRODUCTION)


def make_pipeline(url: str, production_version, loader=None, batch_sizes=(1, 2), lease: int = 300,
                  worker: str | None = None, options_version=None) -> Pipeline:
    models = {LENDING_KEY: list(batch_sizes)} | ({OPTIONS_KEY: [1]} if options_version is not None else {})
    runtimes = Runtimes.from_config(models)
    runtimes[LENDING_KEY].__dict__["version"] = production_version  # the session's loaded version (cached)
    feeds = {LENDING_KEY: ReplayFeed(production_version, loader)}
    if options_version is not None:
        runtimes[OPTIONS_KEY].__dict__["version"] = options_version
        feeds[OPTIONS_KEY] = ReplayFeed(options_version)
    return Pipeline(url, runtimes, feeds, list, no_chain, lease, worker)


@pytest.fixture
def btc_epoch(production_version) -> int:
    """An epoch both bundled markets have data for, a few days before the data ends."""
    return ReplayFeed(production_version).latest_epoch("ETH") - 4


def test_request_is_idempotent_per_market_and_epoch(database_url, production_version, btc_epoch):
    pipeline = make_pipeline(database_url, production_version)
    first = pipeline.request(["BTC"], btc_epoch)
    again = pipeline.request(["btc"], btc_epoch)
    assert first.created and not again.created
    assert [j.id for j in again.jobs] == [j.id for j in first.jobs]
    assert first.jobs[0].state is JobState.ACCEPTED and first.jobs[0].epoch == btc_epoch


def test_each_model_gets_its_own_batch_and_jobs(database_url, production_version, options_version, btc_epoch):
    pipeline = make_pipeline(database_url, production_version, options_version=options_version)
    accepted = pipeline.request(["BTC", "ETH"], btc_epoch)
    assert len(accepted.batch_ids) == 2
    assert [(j.model_version, j.market) for j in accepted.jobs] == [
        (LENDING_KEY, "BTC"), (LENDING_KEY, "ETH"), (OPTIONS_KEY, "BTC"), (OPTIONS_KEY, "ETH")]
    only_options = pipeline.request(["BTC"], btc_epoch + 1, models=[OPTIONS_KEY])
    assert [j.model_version for j in only_options.jobs] == [OPTIONS_KEY]
    with session_scope(database_url) as session:
        batches = {b.id: b for b in session.scalars(select(Batch))}
        assert {(b.model_version, b.layout_id) for b in batches.values()} == {(LENDING_KEY, 1), (OPTIONS_KEY, 2)}
    follow = pipeline.run("fetch", accepted.batch_ids[1])
    # the options model is proved one market at a time here: its batch splits in two
    assert len(follow) == 2 and follow[0] == ("sign", accepted.batch_ids[1])
    with session_scope(database_url) as session:
        job = session.scalars(select(Job).where(Job.model_version == OPTIONS_KEY, Job.market == "ETH")).one()
        seen = pipeline.feeds[OPTIONS_KEY].observe("ETH", btc_epoch)
        assert job.data_hash == "0x" + data_hash(seen.data).hex() and seen.data.dvol is not None
        assert len(job.inputs) == options_version.input_size


def test_an_unserved_model_is_not_found(database_url, production_version, btc_epoch):
    from oracle.errors import NotFoundError

    with pytest.raises(NotFoundError, match="har-margin"):
        make_pipeline(database_url, production_version).request(["BTC"], btc_epoch, models=[OPTIONS_KEY])


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
    batch = first.request(["BTC"], btc_epoch).batch_ids[0]
    assert first._claim(batch, JobState.ACCEPTED)
    with pytest.raises(StageBusyError) as busy:
        second._claim(batch, JobState.ACCEPTED)
    assert 0 < busy.value.retry_in <= 300
    assert first.run("fetch", batch) == [("sign", batch)]
    assert second.run("fetch", batch) == []  # redelivered after completion: a no-op
    assert second._claim(batch, JobState.ACCEPTED) is False


def test_an_expired_lease_is_taken_over(database_url, production_version, btc_epoch):
    crashed = make_pipeline(database_url, production_version, lease=0, worker="crashed")
    batch = crashed.request(["BTC"], btc_epoch).batch_ids[0]
    assert crashed._claim(batch, JobState.ACCEPTED)
    successor = make_pipeline(database_url, production_version, worker="successor")
    assert successor.stalled(timedelta(0)) == [("fetch", batch)]
    assert successor.run("fetch", batch) == [("sign", batch)]


def test_fetch_records_the_window_and_splits_into_available_batch_sizes(database_url, production_version,
                                                                         btc_epoch):
    pipeline = make_pipeline(database_url, production_version, batch_sizes=(1,))
    accepted = pipeline.request(["BTC", "ETH"], btc_epoch)
    follow = pipeline.run("fetch", accepted.batch_ids[0])
    assert len(follow) == 2 and {stage for stage, _ in follow} == {"sign"}
    with session_scope(database_url) as session:
        jobs = session.scalars(select(Job)).all()
        assert {j.state for j in jobs} == {JobState.FETCHED}
        assert len({j.batch_id for j in jobs}) == 2
        btc = next(j for j in jobs if j.market == "BTC")
        expected = production_version.input_vector("BTC", epoch_start(btc_epoch) - HOUR)
        np.testing.assert_array_equal(btc.inputs, expected)
        assert btc.data_source["kind"] == "bundled-replay"
        assert btc.observed_at == btc_epoch * 86_400  # the close of the window's last bar
        window = production_version.window_data("BTC", epoch_start(btc_epoch) - HOUR)
        assert btc.data_hash == "0x" + data_hash(window).hex()
        assert [e.state for e in btc.events] == [JobState.ACCEPTED, JobState.FETCHED]


def test_bad_data_fails_the_job_with_the_rule_that_fired(database_url, production_version, btc_epoch):
    window_end = epoch_start(btc_epoch) - HOUR

    def spiky(symbol):
        data = production_version.market_data(symbol)
        hourly = data.hourly.copy()
        hourly.loc[window_end - 5 * HOUR, "close"] *= 3  # one print inside the window, reverting next bar
        return replace(data, hourly=hourly)

    pipeline = make_pipeline(database_url, production_version, loader=spiky)
    accepted = pipeline.request(["BTC"], btc_epoch)
    assert pipeline.run("fetch", accepted.batch_ids[0]) == []
    with session_scope(database_url) as session:
        job = session.get(Job, accepted.jobs[0].id)
        assert job.state is JobState.FAILED
        assert (job.error_kind, job.error_rule) == ("data-rejected", "spike")
        assert "BTC" in job.error_message and session.get(Batch, accepted.batch_ids[0]).state is JobState.FAILED


def test_an_epoch_without_data_fails_with_no_data(database_url, production_version):
    pipeline = make_pipeline(database_url, production_version)
    future = pipeline.feed.latest_epoch("BTC") + 30
    accepted = pipeline.request(["BTC"], future)
    pipeline.run("fetch", accepted.batch_ids[0])
    with session_scope(database_url) as session:
        job = session.get(Job, accepted.jobs[0].id)
        assert (job.state, job.error_rule) == (JobState.FAILED, "no-data")


def test_unknown_markets_are_not_found(database_url, production_version):
    from oracle.errors import NotFoundError

    with pytest.raises(NotFoundError, match="DOGE"):
        make_pipeline(database_url, production_version).request(["DOGE"], 20000)


def test_a_replay_clock_decides_the_latest_epoch(production_version):
    """Replayed time starts at the chosen date and moves at the chosen speed; the feed sees no bars
    after replayed now."""
    moments = iter([0.0, 0.0, 2.5, 2.5, 2.5])
    clock = ReplayClock(20_000 * 86_400, speed=86_400.0, real=lambda: next(moments))
    feed = ReplayFeed(production_version, clock=clock)
    assert feed.latest_epoch("BTC") == 20_000
    assert feed.latest_epoch("BTC") == 20_002  # two and a half replayed days later
    with pytest.raises(Exception, match="no bars"):
        feed.observe("BTC", 20_003)
