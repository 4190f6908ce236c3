"""Drift scoring of confirmed updates on the bundled BTC bars of November 2022 (no chain: the updates
are written as the confirm stage leaves them, with the float model's forecasts and the committed data
hash), the trailing rules from Settings, their API and /metrics views, and the retrain a firing rule
opens (tests/integration/test_replay.py runs one to its proposals on anvil)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models.backtest import qlike_losses
from models.baselines import HAR
from models.features import daily_realised, epoch_start
from models.train import known_days
from oracle.api.app import create_app
from oracle.dashboard.data import snapshot
from oracle.db import DriftScore, Job, JobState, Retrain, session_scope, utcnow
from oracle.drift import drift_status, score_confirmed, training_inputs
from oracle.feed import ReplayFeed
from oracle.metrics import render
from oracle.pipeline import Pipeline, new_id
from oracle.retrain import FAILED, PENDING, PROPOSED, RUNNING, evidence_lines, finish, open_retrain, run_retrain
from oracle.reports import data_hash

LENDING_KEY = "har-policy@2.0.0"
#: 2022-11-01 .. 2022-11-20 (UTC day numbers); the FTX crash day 2022-11-09 is epoch 19_305
FIRST, DAYS = 19_297, 20
STATE = np.array([[0.7, 0.8]])


def confirm_updates(url: str, version, feed: ReplayFeed, market: str = "BTC") -> None:
    with session_scope(url) as session:
        for epoch in range(FIRST, FIRST + DAYS):
            seen = feed.observe(market, epoch)
            outputs = version.predict(seen.vector[None], STATE)[0]
            session.add(Job(id=new_id(), market=market, market_id=int(seen.vector[0]), model_version=LENDING_KEY,
                            epoch=epoch, state=JobState.CONFIRMED, finished_at=utcnow(), inputs=seen.vector.tolist(),
                            data_hash="0x" + data_hash(seen.data).hex(),
                            values=dict(zip(version.layout.names, map(float, outputs)))))


@pytest.fixture
def scored(database_url, production_version):
    feed = ReplayFeed(production_version)
    confirm_updates(database_url, production_version, feed)
    return database_url, feed, score_confirmed(database_url, {LENDING_KEY: feed})


def test_each_update_is_scored_once_against_the_next_committed_day(scored, production_version):
    url, feed, count = scored
    assert count == DAYS - 1  # the last update's day is not closed by a confirmed update yet
    assert score_confirmed(url, {LENDING_KEY: feed}) == 0
    daily = daily_realised(production_version.market_data("BTC").hourly)
    history = known_days("BTC")
    har = HAR().fit(known_days("BTC", pd.Timestamp(production_version.card["data"]["BTC"]["last"], tz="UTC")))
    with session_scope(url) as session:
        rows = session.scalars(select(DriftScore).order_by(DriftScore.epoch)).all()
        jobs = {j.id: j for j in session.scalars(select(Job))}
        assert [r.epoch for r in rows] == list(range(FIRST, FIRST + DAYS - 1))
        for row in rows:
            day = daily.loc[epoch_start(row.epoch)]
            values = jobs[row.job_id].values
            assert jobs[row.realised_job_id].epoch == row.epoch + 1
            assert row.rv == pytest.approx(day["rv"], rel=1e-9) and row.ret == pytest.approx(day["ret"], rel=1e-9)
            variance = (100 * values["vol"]) ** 2
            assert row.qlike == pytest.approx(qlike_losses(np.array([day["rv"]]), np.array([variance]))[0], rel=1e-9)
            assert row.var_breach == (-day["ret"] / 100 > values["var99"])
            assert row.baseline_qlike["ewma"] > -1
            # HAR-RV from the scored update's own 22 committed days equals HAR over the whole history
            variance = har.forecast(history, pd.DatetimeIndex([epoch_start(row.epoch)])).variance
            assert row.baseline_qlike["har"] == pytest.approx(
                qlike_losses(np.array([day["rv"]]), variance)[0], rel=1e-9)
        breaches = [r.epoch for r in rows if r.var_breach]
    assert 19_305 in breaches, "the FTX crash day breaches VaR99"


def test_bars_that_differ_from_the_committed_ones_are_not_scored(database_url, production_version):
    feed = ReplayFeed(production_version)
    confirm_updates(database_url, production_version, feed)
    with session_scope(database_url) as session:
        session.scalars(select(Job).where(Job.epoch == FIRST + 1)).one().data_hash = "0x" + "00" * 32
    assert score_confirmed(database_url, {LENDING_KEY: feed}) == DAYS - 2


def test_rules_from_settings_fire_in_the_crash_window(scored, settings):
    url, _, _ = scored
    strict = settings.model_copy(update={"database_url": url, "drift_min_days": 10,
                                                 "drift_kupiec_p_min": 0.05})
    with session_scope(url) as session:
        quiet = drift_status(session, LENDING_KEY, "BTC", settings.drift_rules())
        report = drift_status(session, LENDING_KEY, "BTC", strict.drift_rules())
    assert quiet.days == DAYS - 1 and quiet.checks == () and not quiet.drifting  # under the 60-day minimum
    kupiec = next(c for c in report.checks if c.name == "kupiec_p")
    assert kupiec.fired and kupiec.value < kupiec.threshold == strict.drift_kupiec_p_min and report.drifting
    assert {c.name for c in report.checks} == {"kupiec_p", "christoffersen_p", "qlike_ratio", "psi[pkvol_1d]",
                                               "psi[pkvol_22d]"}
    assert all(report.psi[c] > 0 for c in ("pkvol_1d", "pkvol_22d"))

    client = TestClient(create_app(strict))
    body = client.get("/markets/BTC/drift").json()
    assert body["drifting"] and body["days"] == DAYS - 1 and len(body["scores"]) == DAYS - 1
    rule = next(r for r in body["rules"] if r["name"] == "kupiec_p")
    assert rule["fired"] and rule["value"] == pytest.approx(kupiec.value) and rule["threshold"] == pytest.approx(0.05)
    assert body["psi"] == pytest.approx(report.psi) and body["retrains"] == []
    assert client.get("/markets/XYZ/drift").status_code == 404

    exposition = render(url, strict.markets, strict.drift_rules()).decode()
    assert f'zkrisk_drift_rule{{market="BTC",model="{LENDING_KEY}",rule="kupiec_p"}} 1.0' in exposition
    assert f'zkrisk_drifting{{market="BTC",model="{LENDING_KEY}"}} 1.0' in exposition

    [shown] = snapshot(strict)["drift"]  # the dashboard's drift table, drawn without a chain
    assert (shown["market"], shown["model_version"], shown["drifting"]) == ("BTC", LENDING_KEY, True)
    assert any(c["name"] == "kupiec_p" and c["fired"] for c in shown["checks"])


def test_the_psi_reference_is_every_window_the_version_was_trained_on(production_version):
    trained = sum(len(training_inputs(LENDING_KEY, m)) for m in production_version.card["data"])
    assert trained == production_version.card["train"]["samples"]
    assert training_inputs(LENDING_KEY, "SOL").empty


def test_a_firing_rule_opens_one_retrain_until_it_ends_or_its_vote_had_time(scored, settings):
    url, _, _ = scored
    last, cooldown = FIRST + DAYS - 1, settings.retrain_cooldown_epochs
    here = settings.model_copy(update={"database_url": url})
    strict = settings.model_copy(update={"drift_min_days": 10, "drift_kupiec_p_min": 0.05}).drift_rules()
    assert open_retrain(url, LENDING_KEY, last, ["BTC"], settings.drift_rules(), cooldown) is None  # nothing fires
    opened = open_retrain(url, LENDING_KEY, last, ["BTC", "ETH"], strict, cooldown)
    assert opened is not None
    assert open_retrain(url, LENDING_KEY, last + 1, ["BTC"], strict, cooldown) is None  # one at a time
    with session_scope(url) as session:
        retrain = session.get(Retrain, opened)
        assert (retrain.state, retrain.epoch, retrain.proposals) == (PENDING, last, [])
        assert set(retrain.evidence) == {"BTC"}  # ETH has no scores: nothing fired there
        assert any(c["name"] == "kupiec_p" and c["fired"] for c in retrain.evidence["BTC"]["checks"])
        [headline, btc] = evidence_lines(retrain.evidence, last)
    assert "2022-11-20" in headline and btc.startswith("- BTC: kupiec_p ") and "< 0.05" in btc
    [shown] = TestClient(create_app(here)).get("/markets/BTC/drift").json()["retrains"]
    assert (shown["id"], shown["state"], shown["epoch"], shown["new_version"]) == (opened, PENDING, last, None)
    # proposed: no new retrain while its vote can run, one after the cooldown
    finish(here, opened, PROPOSED, None)
    assert open_retrain(url, LENDING_KEY, last + cooldown - 1, ["BTC"], strict, cooldown) is None
    after_vote = open_retrain(url, LENDING_KEY, last + cooldown, ["BTC"], strict, cooldown)
    assert after_vote not in (None, opened)
    # failed: the next firing opens another at once
    finish(here, after_vote, FAILED, "test")
    assert open_retrain(url, LENDING_KEY, last + cooldown + 1, ["BTC"], strict, cooldown) not in (None, after_vote)


class BrokenFeed(ReplayFeed):
    """A feed whose reads fail: the market data source went away after the confirmation."""

    def observe(self, market, epoch):
        raise RuntimeError("feed gone")


def test_a_monitoring_failure_after_confirmation_is_logged_not_recorded_on_the_batch(database_url, settings,
                                                                                    production_version, caplog):
    confirm_updates(database_url, production_version, ReplayFeed(production_version))
    pipeline = Pipeline(database_url, {}, {LENDING_KEY: BrokenFeed(production_version)}, list, lambda: None,
                        drift_rules=settings.drift_rules())
    assert pipeline._monitor(LENDING_KEY, {1: (FIRST + DAYS - 1, {})}, ["BTC"]) == []
    assert "drift monitoring failed after confirmation" in caplog.text
    with session_scope(database_url) as session:
        assert {j.state for j in session.scalars(select(Job))} == {JobState.CONFIRMED}
        assert session.scalars(select(DriftScore)).first() is None


def test_a_retrain_is_run_by_one_worker_at_a_time(scored, settings):
    """`run_retrain` claims the retrain first: while another worker's claim holds, it does nothing;
    once the lease lapsed (that worker died) it takes the retrain over."""
    url, _, _ = scored
    rules = settings.model_copy(update={"drift_min_days": 10, "drift_kupiec_p_min": 0.05}).drift_rules()
    opened = open_retrain(url, LENDING_KEY, FIRST + DAYS - 1, ["BTC"], rules, settings.retrain_cooldown_epochs)
    with session_scope(url) as session:
        session.get(Retrain, opened).state = RUNNING
    here = settings.model_copy(update={"database_url": url})
    assert run_retrain(here, opened) == RUNNING  # another worker's claim: untouched
    with session_scope(url) as session:
        retrain = session.get(Retrain, opened)
        retrain.updated_at = utcnow() - timedelta(seconds=here.retrain_lease_seconds + 1)
    # taken over: it finds no signer to propose with (before any training), and records that
    assert run_retrain(here, opened) == FAILED
    with session_scope(url) as session:
        retrain = session.get(Retrain, opened)
        assert retrain.error.startswith("ConfigurationError: no signer") and retrain.proposals == []
    assert run_retrain(here, opened) == FAILED  # an ended retrain is not run again
