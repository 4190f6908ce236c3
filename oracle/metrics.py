"""Prometheus metrics, computed from the database at scrape time.

Stages run in worker processes (possibly on other machines); the database is the one place that sees
all of them, so `/metrics` reads it instead of keeping per-process counters that a restart would
reset. Exposed:

    zkrisk_jobs{state}                         jobs by state (outcome for confirmed/failed)
    zkrisk_jobs_failed{kind}                   failed jobs by error kind
    zkrisk_prove_seconds (histogram)           proving time per proof
    zkrisk_update_gas_used (histogram)         gas of confirmed update transactions
    zkrisk_gas_used_total                      gas of all confirmed updates
    zkrisk_queue_depth{stage}                  batches waiting for (or in) each stage
    zkrisk_last_update_age_seconds{model,market}  age of each model's market's last confirmed update
    zkrisk_signatures{model}                  publisher signatures carried by signed batches
    zkrisk_drift_scored_days{model,market}     scored updates in the trailing drift window
    zkrisk_drift_statistic{model,market,statistic}  kupiec_p, christoffersen_p, qlike, qlike_ratio, var_hits
    zkrisk_drift_rule{model,market,rule}       1 when the rule fires (oracle/drift.py, Settings thresholds)
    zkrisk_drift_rule_threshold{model,market,rule}  the rule's threshold
    zkrisk_drifting{model,market}              1 when any rule fires
"""

from __future__ import annotations

from typing import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import func, select

from models.drift import DriftReport, DriftRules
from oracle.db import Batch, DriftScore, Job, JobState, session_scope, utcnow
from oracle.drift import drift_status
from oracle.pipeline import STAGE_FOR, aware

PROVE_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300)
GAS_BUCKETS = (2e5, 4e5, 6e5, 8e5, 1e6, 1.5e6, 2e6, 3e6)


def _histogram(name: str, documentation: str, values: list[float], buckets: tuple[float, ...]) -> Metric:
    counts = [sum(1 for v in values if v <= bound) for bound in buckets]
    metric = HistogramMetricFamily(name, documentation, sum_value=sum(values),
                                   buckets=[(str(b), c) for b, c in zip(buckets, counts)]
                                   + [("+Inf", len(values))])
    return metric


class DatabaseCollector:
    def __init__(self, database_url: str, markets: list[str], rules: DriftRules) -> None:
        self.database_url, self.markets, self.rules = database_url, markets, rules

    def collect(self) -> Iterator[Metric]:
        with session_scope(self.database_url) as session:
            by_state = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
            failed = session.execute(select(Job.error_kind, func.count()).where(Job.state == JobState.FAILED)
                                     .group_by(Job.error_kind)).all()
            prove = [v for (v,) in session.execute(select(Batch.prove_seconds)
                                                   .where(Batch.prove_seconds.is_not(None)))]
            gas = [v for (v,) in session.execute(select(Batch.gas_used).where(Batch.gas_used.is_not(None)))]
            waiting = dict(session.execute(select(Batch.state, func.count()).group_by(Batch.state)).all())
            last = {(model, market): at for model, market, at in session.execute(
                select(Job.model_version, Job.market, func.max(Job.finished_at))
                .where(Job.state == JobState.CONFIRMED).group_by(Job.model_version, Job.market)).all()}
            signed = session.execute(select(Batch.model_version, Batch.signatures)
                                     .where(Batch.signatures.is_not(None))).all()
            scored = session.execute(select(DriftScore.model_version, DriftScore.market).distinct()).all()
            drift = {(model, market): drift_status(session, model, market, self.rules)
                     for model, market in sorted(scored) if market in self.markets}
        jobs = GaugeMetricFamily("zkrisk_jobs", "Jobs by state", labels=["state"])
        for state in JobState:
            jobs.add_metric([state.value], by_state.get(state, 0))
        yield jobs
        kinds = GaugeMetricFamily("zkrisk_jobs_failed", "Failed jobs by error kind", labels=["kind"])
        for kind, count in failed:
            kinds.add_metric([kind or "unknown"], count)
        yield kinds
        yield _histogram("zkrisk_prove_seconds", "Proving time per proof", prove, PROVE_BUCKETS)
        yield _histogram("zkrisk_update_gas_used", "Gas used per confirmed update transaction", gas, GAS_BUCKETS)
        total = CounterMetricFamily("zkrisk_gas_used", "Gas used by confirmed updates")
        total.add_metric([], sum(gas))
        yield total
        depth = GaugeMetricFamily("zkrisk_queue_depth", "Batches waiting for or running each stage",
                                  labels=["stage"])
        for state, stage in STAGE_FOR.items():
            depth.add_metric([stage], waiting.get(state, 0))
        yield depth
        age = GaugeMetricFamily("zkrisk_last_update_age_seconds", "Age of the last confirmed update",
                                labels=["model", "market"])
        now = utcnow()
        for (model, market), at in sorted(last.items()):
            if market in self.markets:
                age.add_metric([model, market], (now - aware(at)).total_seconds())
        yield age
        signatures = CounterMetricFamily("zkrisk_signatures", "Publisher signatures carried by signed batches",
                                         labels=["model"])
        counts: dict[str, int] = {}
        for model, carried in signed:
            counts[model] = counts.get(model, 0) + len(carried)
        for model, count in sorted(counts.items()):
            signatures.add_metric([model], count)
        yield signatures
        yield from _drift_metrics(drift)


STATISTICS = ("kupiec_p", "christoffersen_p", "qlike", "qlike_ratio", "var_hits")


def _drift_metrics(drift: dict[tuple[str, str], DriftReport]) -> Iterator[Metric]:
    labels = ["model", "market"]
    days = GaugeMetricFamily("zkrisk_drift_scored_days", "Scored updates in the trailing drift window", labels=labels)
    statistic = GaugeMetricFamily("zkrisk_drift_statistic", "Trailing-window drift statistics",
                                  labels=labels + ["statistic"])
    fired = GaugeMetricFamily("zkrisk_drift_rule", "1 when the drift rule fires", labels=labels + ["rule"])
    threshold = GaugeMetricFamily("zkrisk_drift_rule_threshold", "Threshold of the drift rule",
                                  labels=labels + ["rule"])
    drifting = GaugeMetricFamily("zkrisk_drifting", "1 when any drift rule fires", labels=labels)
    for (model, market), report in drift.items():
        days.add_metric([model, market], report.days)
        for name in STATISTICS:
            value = getattr(report, name)
            if value is not None:
                statistic.add_metric([model, market, name], value)
        for check in report.checks:
            fired.add_metric([model, market, check.name], float(check.fired))
            threshold.add_metric([model, market, check.name], check.threshold)
        drifting.add_metric([model, market], float(report.drifting))
    yield from (days, statistic, fired, threshold, drifting)


def render(database_url: str, markets: list[str], rules: DriftRules = DriftRules()) -> bytes:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(database_url, markets, rules))
    return generate_latest(registry)
