"""Drift monitoring in the service: score each confirmed update once its horizon has passed, and judge
the trailing window with the rules in Settings (models/drift.py holds the statistics).

An update of epoch E forecasts the UTC day that starts at E (its vol, VaR99 and ES99). That day is over
once the update of epoch E + 1 is confirmed: its committed window ends with the day's 23:00 bar. The
scorer rebuilds that window from the feed, checks it against the data hash the E + 1 update committed
(so a score never reads bars the chain did not see, nor any later than E's horizon), and computes the
day's return and realised variance with models.features.daily_realised. The baselines are scored on
exactly the days the model is: EWMA filtered through the same bars, and HAR-RV (coefficients fitted on
the version's training days) on the 22 days the scored update itself committed.

Scores are rows of `drift_scores`, unique per job: scoring is idempotent and runs after every
confirmation (oracle/pipeline.py) and again whenever asked (`score_confirmed`). The PSI compares the
scored updates' proved inputs with every window the version was trained on, rebuilt from the bundled
days its card records. A rule that fires opens a retrain (oracle/retrain.py).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Collection, Mapping

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.baselines import EWMA, HAR, BaselineResult
from models.drift import DriftReport, DriftRules, drift_report, input_summary, score_update
from models.backtest import qlike_losses
from models.features import DAY, daily_realised, epoch_start
from models.train import Samples, known_days
from models.versions import ModelVersion, load_version
from oracle.db import DriftScore, Job, JobState, session_scope
from oracle.errors import DataRejectedError
from oracle.feed import MarketFeed
from oracle.reports import data_hash
from oracle.runtime import split_key

log = logging.getLogger(__name__)

#: the forecasts a scored update must carry (the lending model's risk outputs)
FORECASTS = ("vol", "var99", "es99")
#: a committed window holds 22 days: the recursion starts from the first week's variance and filters
#: the other two (0.94^14 ≈ 0.42 of the weight left on the start, which the baseline carries)
BASELINE = EWMA(warmup=7)


def committed_days(feed: MarketFeed, job: Job) -> pd.DataFrame | None:
    """The daily frame of the bars `job` committed; None when the feed's bars differ from them."""
    try:
        observed = feed.observe(job.market, job.epoch)
    except DataRejectedError:
        return None
    if "0x" + data_hash(observed.data).hex() != job.data_hash:
        log.warning("drift: bars differ from the committed ones", extra={"job_id": job.id})
        return None
    return daily_realised(observed.data.hourly)


@lru_cache(maxsize=16)
def har_baseline(model_version: str, market: str) -> BaselineResult | None:
    """HAR-RV fitted on the days the version was trained on (up to the last day its card records):
    the baseline's coefficients never see a day the model did not."""
    last = _trained_until(model_version, market)
    return None if last is None else HAR().fit(known_days(market, last))


def baseline_qlike(daily: pd.DataFrame, day: pd.Timestamp, rv: float,
                   forecast_days: pd.DataFrame | None, har: BaselineResult | None) -> dict[str, float]:
    """The baselines' QLIKE for `day`: EWMA filtered through the committed days before it, HAR-RV
    from the 22 days the scored update itself committed (`forecast_days`, ending the day before)."""
    losses = {}
    history = daily.loc[:day]
    if len(history) > BASELINE.warmup:
        variance = BASELINE.fit(history.iloc[:-1]).forecast(history, pd.DatetimeIndex([day])).variance
        losses[BASELINE.name] = float(qlike_losses(np.array([rv]), variance)[0])
    if har is not None and forecast_days is not None:
        data = pd.concat([forecast_days.loc[:day - DAY], daily.loc[[day]]])
        try:
            variance = har.forecast(data, pd.DatetimeIndex([day])).variance
        except KeyError:  # fewer than 22 committed days before `day`: no HAR forecast
            return losses
        losses[HAR.name] = float(qlike_losses(np.array([rv]), variance)[0])
    return losses


def score_job(session: Session, feed: MarketFeed, job: Job) -> DriftScore | None:
    """Score `job` if the update that closes its horizon is confirmed; None while it is not."""
    realised = session.scalars(select(Job).where(
        Job.model_version == job.model_version, Job.market == job.market, Job.epoch == job.epoch + 1,
        Job.state == JobState.CONFIRMED)).first()
    if realised is None:
        return None
    day = epoch_start(job.epoch)
    daily = committed_days(feed, realised)
    if daily is None or day not in daily.index:
        return None
    row = daily.loc[day]
    score = score_update(*(float(job.values[n]) for n in FORECASTS), ret=float(row["ret"]), rv=float(row["rv"]))
    baselines = baseline_qlike(daily, day, float(row["rv"]), committed_days(feed, job),
                               har_baseline(job.model_version, job.market))
    entry = DriftScore(job_id=job.id, model_version=job.model_version, market=job.market, epoch=job.epoch,
                       realised_job_id=realised.id, ret=float(row["ret"]), rv=float(row["rv"]),
                       qlike=score["qlike"], var_breach=score["var_breach"] > 0,
                       es_breach=score["es_breach_gap"] > 0, excess_loss=score["excess_loss"],
                       baseline_qlike=baselines)
    session.add(entry)
    return entry


def score_confirmed(database_url: str, feeds: Mapping[str, MarketFeed], epochs: Collection[int] | None = None,
                    markets: Collection[str] | None = None) -> int:
    """Score every confirmed, unscored update (of `epochs` and `markets`, default all) whose horizon has
    passed; the number scored."""
    scored = 0
    with session_scope(database_url) as session:
        query = select(Job).where(Job.state == JobState.CONFIRMED, Job.id.not_in(select(DriftScore.job_id)))
        if epochs is not None:
            query = query.where(Job.epoch.in_(list(epochs)))
        if markets is not None:
            query = query.where(Job.market.in_(list(markets)))
        pending = session.scalars(query.order_by(Job.epoch)).all()
        for job in pending:
            if job.model_version in feeds and job.values and all(n in job.values for n in FORECASTS):
                scored += score_job(session, feeds[job.model_version], job) is not None
    return scored


def scores_frame(session: Session, model_version: str, market: str) -> pd.DataFrame:
    """The scores of one model's market, indexed by the forecast day."""
    rows = session.scalars(select(DriftScore).where(DriftScore.model_version == model_version,
                                                    DriftScore.market == market).order_by(DriftScore.epoch)).all()
    index = pd.DatetimeIndex([epoch_start(r.epoch) for r in rows], name="day")
    frame = pd.DataFrame({"qlike": [r.qlike for r in rows], "var_breach": [float(r.var_breach) for r in rows],
                          "es_breach": [float(r.es_breach) for r in rows], "ret": [r.ret for r in rows],
                          "rv": [r.rv for r in rows]}, index=index)
    baselines = pd.DataFrame([r.baseline_qlike for r in rows], index=index)
    return frame.join(baselines.add_prefix("baseline_"))


@lru_cache(maxsize=16)
def _version(model_version: str) -> ModelVersion:
    """The scored version, loaded once per process (the API and /metrics judge it on every read)."""
    return load_version(*split_key(model_version))


def _trained_until(model_version: str, market: str) -> pd.Timestamp | None:
    """The last day of `market` the version's card says it was trained on (None: not trained on it)."""
    data = _version(model_version).card.get("data", {}).get(market)
    return None if data is None else pd.Timestamp(data["last"], tz="UTC")


@lru_cache(maxsize=16)
def training_inputs(model_version: str, market: str) -> pd.DataFrame:
    """The PSI's reference: the input summary (`models.drift.input_summary`) of every window the
    version was trained on, rebuilt from the bundled days up to the last day its card records for the
    market (empty for a market it was not trained on)."""
    last = _trained_until(model_version, market)
    if last is None:
        return pd.DataFrame()
    trained = _version(model_version)
    samples = Samples.of(known_days(market, last), trained.window, trained.feature_set)
    return input_summary(samples.features, trained.window)


def scored_inputs(session: Session, model_version: str, market: str) -> pd.DataFrame:
    """The input summary of the scored updates' proved input vectors, indexed by the forecast day."""
    rows = session.execute(select(DriftScore.epoch, Job.inputs).join(Job, Job.id == DriftScore.job_id).where(
        DriftScore.model_version == model_version, DriftScore.market == market).order_by(DriftScore.epoch)).all()
    rows = [(epoch, inputs) for epoch, inputs in rows if inputs]
    if not rows:
        return pd.DataFrame()
    window = _version(model_version).window
    summary = input_summary(np.array([inputs[2:] for _, inputs in rows], dtype=float), window)  # no meta fields
    return summary.set_axis(pd.DatetimeIndex([epoch_start(epoch) for epoch, _ in rows], name="day"))


def drift_status(session: Session, model_version: str, market: str, rules: DriftRules) -> DriftReport:
    """The trailing statistics of one model's market and the rules they fire, the PSI of the scored
    updates' inputs against the training windows' included."""
    frame = scores_frame(session, model_version, market)
    baselines = {c.removeprefix("baseline_"): frame[c].dropna() for c in frame.columns if c.startswith("baseline_")}
    inputs = scored_inputs(session, model_version, market)
    reference = training_inputs(model_version, market) if len(inputs) else pd.DataFrame()
    return drift_report(market, frame, baselines, inputs, reference, rules)
