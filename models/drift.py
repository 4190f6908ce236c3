"""Drift monitoring: score published forecasts once their horizon has passed, and decide when the model
is drifting.

Each confirmed update's forecasts (vol, VaR99, ES99 of the next day) are scored against what happened
that day: QLIKE against the realised variance from hourly returns, whether the loss breached VaR99,
and the loss beyond VaR. Over a trailing window (`DriftRules.window`, 250 days by default) the
monitor computes the Kupiec and Christoffersen p-values of the VaR breaches, the model's mean QLIKE
against each baseline's on the same days (EWMA and HAR-RV refitted on data up to each day only), and
a population-stability index (PSI) of the model's inputs against their training distribution:

    PSI = Σ_bins (p_now − p_train) · ln(p_now / p_train)      (deciles of the training distribution)

The rules (`DriftRules`, from the service's Settings) fire when a statistic crosses its threshold;
any fired rule marks the model as drifting, which the service answers with a retrain job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from models.backtest import christoffersen_independence, kupiec_pof, qlike_losses
from models.baselines import ALPHA
from models.typing import Float64Array

PSI_BINS = 10
#: Floor of a bin's share in the PSI (an empty bin would make the log infinite).
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class DriftRules:
    """Thresholds of the drift rules; `window` days of scored updates, at least `min_days` to judge."""

    window: int = 250
    min_days: int = 60
    kupiec_p_min: float = 0.01
    christoffersen_p_min: float = 0.01
    #: model QLIKE over the best baseline's on the window: above 1 the baselines forecast better
    qlike_ratio_max: float = 1.0
    psi_max: float = 0.25

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def score_update(vol: float, var99: float, es99: float, ret: float, rv: float) -> dict[str, float]:
    """One day's score of a published forecast (fractions) against the day's return and realised
    variance (percent, percent², as models.features computes them)."""
    variance = (100 * vol) ** 2
    loss = -ret / 100
    return {"qlike": float(qlike_losses(np.array([rv]), np.array([variance]))[0]),
            "var_breach": float(loss > var99), "excess_loss": float(max(0.0, loss - var99)),
            "es_breach_gap": float(loss - es99) if loss > var99 else 0.0}


def psi(reference: Float64Array, current: Float64Array, bins: int = PSI_BINS) -> float:
    """Population-stability index of `current` against `reference` on the reference's quantile bins."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:
        return 0.0
    edges[0], edges[-1] = -np.inf, np.inf
    expected = np.maximum(np.histogram(reference, edges)[0] / len(reference), PSI_FLOOR)
    actual = np.maximum(np.histogram(current, edges)[0] / max(len(current), 1), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass(frozen=True)
class RuleCheck:
    """One rule against its statistic: `fired` when the value crosses the threshold in its direction."""

    name: str
    fired: bool
    value: float
    threshold: float
    #: "below": fires under the threshold (a p-value); "above": fires over it
    direction: str

    @classmethod
    def below(cls, name: str, value: float, threshold: float) -> RuleCheck:
        return cls(name, value < threshold, value, threshold, "below")

    @classmethod
    def above(cls, name: str, value: float, threshold: float) -> RuleCheck:
        return cls(name, value > threshold, value, threshold, "above")

    def __str__(self) -> str:
        return f"{self.name} {self.value:.4f} {'<' if self.direction == 'below' else '>'} {self.threshold}"


@dataclass(frozen=True)
class DriftReport:
    """The trailing statistics of one market and the rules they fire."""

    market: str
    days: int
    first: str | None
    last: str | None
    var_hits: int
    kupiec_p: float | None
    christoffersen_p: float | None
    qlike: float | None
    baseline_qlike: dict[str, float]
    qlike_ratio: float | None
    psi: dict[str, float]
    fired: tuple[str, ...]
    checks: tuple[RuleCheck, ...] = ()

    @property
    def drifting(self) -> bool:
        return bool(self.fired)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fired": list(self.fired), "checks": [asdict(c) for c in self.checks],
                "drifting": self.drifting}


def drift_report(market: str, scores: pd.DataFrame, baseline_qlike: Mapping[str, pd.Series],
                 inputs: pd.DataFrame, reference_inputs: pd.DataFrame, rules: DriftRules = DriftRules()) -> DriftReport:
    """Trailing statistics over the last `rules.window` scored days.

    `scores`: per target day, columns qlike and var_breach (`score_update`); `baseline_qlike`: per
    baseline, its QLIKE loss per day; `inputs` / `reference_inputs`: summary input features (columns,
    e.g. the HAR aggregates) of the scored updates and of the training windows."""
    recent = scores.sort_index().iloc[-rules.window:]
    days = len(recent)
    first = str(recent.index[0].date()) if days else None
    last = str(recent.index[-1].date()) if days else None
    if days < rules.min_days:
        return DriftReport(market, days, first, last, int(recent["var_breach"].sum()) if days else 0, None, None,
                           None, {}, None, {}, (), ())
    hits = recent["var_breach"].to_numpy() > 0
    kupiec, christoffersen = kupiec_pof(hits, ALPHA), christoffersen_independence(hits)
    model_qlike = float(recent["qlike"].mean())
    baselines = {name: float(series.reindex(recent.index).mean()) for name, series in baseline_qlike.items()}
    best = min(baselines.values()) if baselines else None
    ratio = model_qlike / best if best else None
    current = inputs.reindex(recent.index).dropna()
    stability = {column: psi(reference_inputs[column].to_numpy(), current[column].to_numpy())
                 for column in reference_inputs.columns if len(current)}
    checks = [RuleCheck.below("kupiec_p", kupiec, rules.kupiec_p_min),
              RuleCheck.below("christoffersen_p", christoffersen, rules.christoffersen_p_min)]
    if ratio is not None:
        checks.append(RuleCheck.above("qlike_ratio", ratio, rules.qlike_ratio_max))
    checks += [RuleCheck.above(f"psi[{column}]", value, rules.psi_max) for column, value in stability.items()]
    fired = [str(c) for c in checks if c.fired]
    return DriftReport(market, days, first, last, int(hits.sum()), kupiec, christoffersen, model_qlike, baselines,
                       ratio, stability, tuple(fired), tuple(checks))


def input_summary(windows: Float64Array, window: int, columns: Sequence[str] = ("pkvol_1d", "pkvol_22d")) -> pd.DataFrame:
    """Summary features of input windows [n, F] (features only, no meta fields) for the PSI: the last
    day's and the window's mean range vol."""
    vol = windows[:, :window]
    summary = {"pkvol_1d": vol[:, -1], "pkvol_22d": vol.mean(axis=1)}
    return pd.DataFrame({c: summary[c] for c in columns})
