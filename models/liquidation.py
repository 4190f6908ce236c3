"""Liquidation probability of a lending position, and its calibration on the real hourly bars.

A position with health factor h (collateral value × LT / debt) is liquidated when the collateral's
price falls by the factor 1/h, i.e. when the log price falls by a = ln h. Over a horizon T the
probability that it does so at any time (first passage, not only at T) is, for a driftless process
with a symmetric, continuous path (the reflection principle),

    P(τ_a ≤ T) = min(1, 2 · F_T(−a / σ_T)),      σ_T = σ · sqrt(T / 1 day),

with σ = s · the published one-day volatility forecast (fraction), s a scale calibrated on a period
before the evaluation (the forecast targets the variance, a first passage reacts to the whole path:
the calibration year 2020 gives s = 0.95), and F_T the unit-variance Student-t CDF
with ν degrees of freedom at every horizon. ν is fitted to the model card's VaR99 tail multiplier (the
t whose 99% quantile, in units of its standard deviation, is that multiplier), so the distribution is
the published one. ν is not thinned with the horizon: a sum of independent t(ν) days would have
excess kurtosis 6 / ((ν − 4) n), but measured on the 2021+ bars that scaling (ν_T = 4 + (ν − 4) T / 1
day) moved the 72 h and 168 h Brier scores by less than 3e-4 either way (BTC better with a constant ν,
ETH worse), and it made P fall with the horizon in the far tail (h = 1.5: 1.8e-8 at 24 h, 2.3e-9 at
168 h), which a first-passage probability cannot do; with one ν, P rises with the horizon. Drift is ignored (it is small against σ over at most a week).

The calibration backtest (`calibration_backtest`) fits s on the walk-forward forecasts of 2020 (both
markets pooled, least Brier score at 24 hours) and scores the out-of-sample forecasts from 2021: each
day at 00:00 UTC, for a grid of health factors, the predicted probability against whether an hourly
low within the horizon reached the barrier; Brier score and a reliability table, side by side with a
normal-EWMA baseline (RiskMetrics σ, Gaussian). The outside check compares the daily at-risk
intensity with real Aave V3 liquidation counts (models/data/defi_liquidations/, 2025).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from models.backtest import write_report
from models.data import DATA_DIR, hourly_segments, market_days
from models.typing import Float64Array

HOURS_PER_DAY = 24
HORIZONS_HOURS = (1, 4, 24, 72, 168)
HEALTH_FACTORS = (1.01, 1.02, 1.05, 1.1, 1.15, 1.2, 1.3, 1.5, 2.0)
#: Reliability bins of predicted probability.
BIN_EDGES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
LIQUIDATIONS_FILE = "defi_liquidations/aave_v3_ethereum_liquidationcall_events_2025.csv"
EWMA_LAMBDA = 0.94


#: Fewest degrees of freedom fitted: the kurtosis scaling needs ν > 4, and below about 4 the
#: unit-variance t's 99% quantile falls again (its variance grows faster than its tail).
MIN_NU = 4.0


def nu_for_var_multiplier(multiplier: float, alpha: float = 0.01) -> float:
    """ν ≥ 4 of the unit-variance Student-t whose (1 − alpha) quantile is `multiplier` (∞ for a
    Gaussian or thinner tail, 4 for a fatter one than t(4) has)."""
    def gap(nu: float) -> float:
        return stats.t.ppf(1 - alpha, nu) * np.sqrt((nu - 2) / nu) - multiplier

    if multiplier <= stats.norm.ppf(1 - alpha):
        return float("inf")
    if gap(MIN_NU) <= 0:
        return MIN_NU
    return float(optimize.brentq(gap, MIN_NU, 1e4))


@dataclass(frozen=True)
class LiquidationModel:
    """First-passage probabilities from a one-day vol forecast (see the module docstring)."""

    nu: float = float("inf")
    vol_scale: float = 1.0

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> "LiquidationModel":
        """ν from the card's VaR99 multiplier; the vol scale the card's `liquidation` entry records."""
        return cls(nu_for_var_multiplier(float(card["tail_multipliers"][1])),
                   float(card.get("liquidation", {}).get("vol_scale", 1.0)))

    def cdf(self, x: Float64Array) -> Float64Array:
        """The unit-variance t(ν) CDF (normal for ν = ∞)."""
        if not np.isfinite(self.nu) or self.nu > 1e3:
            return stats.norm.cdf(x)
        return stats.t.cdf(x * np.sqrt(self.nu / (self.nu - 2)), self.nu)

    def probability(self, health_factor: Float64Array | float, horizon_hours: float,
                    vol: Float64Array | float) -> Float64Array:
        """P(the health factor falls below 1 within the horizon); `vol` is the one-day vol (fraction)."""
        h = np.asarray(health_factor, dtype=np.float64)
        if np.any(h <= 0):
            raise ValueError("health factors are positive")
        sigma = self.vol_scale * np.asarray(vol, dtype=np.float64) * np.sqrt(horizon_hours / HOURS_PER_DAY)
        barrier = np.log(np.maximum(h, 1.0))
        return np.minimum(1.0, 2 * self.cdf(-barrier / sigma))


def observed_passage(bars: pd.DataFrame, days: pd.DatetimeIndex, health_factors: Sequence[float],
                     horizon_hours: int) -> np.ndarray:
    """[days, health factors] 1.0 when an hourly low within `horizon_hours` from the day's first bar fell
    to that bar's open / h, NaN when the horizon is not fully covered by bars (an outage or the end)."""
    index = bars.index
    lows = bars["low"].to_numpy()
    opens = bars["open"].to_numpy()
    starts = index.get_indexer(days)
    out = np.full((len(days), len(health_factors)), np.nan)
    span = pd.Timedelta(hours=horizon_hours)
    for i, start in enumerate(starts):
        if start < 0:
            continue
        end = index.searchsorted(index[start] + span)
        if index[end - 1] - index[start] != span - pd.Timedelta("1h"):
            continue  # the horizon runs past the data or across an outage
        minimum = lows[start:end].min()
        out[i] = (minimum <= opens[start] / np.asarray(health_factors)).astype(np.float64)
    return out


def reliability(predicted: Float64Array, observed: Float64Array,
                edges: Sequence[float] = BIN_EDGES) -> list[list[float]]:
    """[[mean predicted, observed frequency, count], …] per bin of predicted probability."""
    rows = []
    bins = np.clip(np.digitize(predicted, edges[1:-1]), 0, len(edges) - 2)
    for b in range(len(edges) - 1):
        mask = bins == b
        if mask.any():
            rows.append([float(predicted[mask].mean()), float(observed[mask].mean()), int(mask.sum())])
    return rows


def brier(predicted: Float64Array, observed: Float64Array) -> float:
    return float(np.mean((predicted - observed) ** 2))


def ewma_vol(days: pd.DataFrame) -> pd.Series:
    """RiskMetrics one-day vol (fraction) for each day from returns strictly before it."""
    variance = (days["ret"] ** 2).ewm(alpha=1 - EWMA_LAMBDA, adjust=False).mean().shift(1)
    return np.sqrt(variance) / 100


def aave_liquidations() -> pd.Series:
    """Daily Aave V3 Ethereum liquidation counts (UTC days)."""
    events = pd.read_csv(DATA_DIR / LIQUIDATIONS_FILE)
    days = pd.to_datetime(events["timestamp"], utc=True).dt.floor("D")
    return days.value_counts().sort_index().rename("liquidations")


@dataclass
class LiquidationBacktest:
    """Predicted vs observed first passages per market and horizon (see the module docstring)."""

    model: LiquidationModel
    predicted: dict[str, dict[int, np.ndarray]]
    baseline: dict[str, dict[int, np.ndarray]]
    observed: dict[str, dict[int, np.ndarray]]
    days: dict[str, pd.DatetimeIndex]
    health_factors: tuple[float, ...]

    def _pairs(self, market: str, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        obs = self.observed[market][horizon]
        ok = ~np.isnan(obs)
        return self.predicted[market][horizon][ok], self.baseline[market][horizon][ok], obs[ok]

    @cached_property
    def intensity(self) -> pd.DataFrame:
        """Daily at-risk intensity: the mean 24-hour liquidation probability over the health-factor grid."""
        return pd.DataFrame({m: pd.Series(p[24].mean(axis=1), index=self.days[m]) for m, p in self.predicted.items()})

    def outside_check(self) -> dict[str, Any]:
        """Spearman rank correlation of the daily intensity (BTC, ETH, their mean) with Aave V3 counts."""
        counts = aave_liquidations()
        joined = self.intensity.join(counts, how="inner").dropna()
        joined["mean"] = joined[list(self.intensity.columns)].mean(axis=1)
        out = {"days": int(len(joined)), "first": str(joined.index.min().date()) if len(joined) else None,
               "last": str(joined.index.max().date()) if len(joined) else None, "spearman": {}}
        for column in [*self.intensity.columns, "mean"]:
            rho, p = stats.spearmanr(joined[column], joined["liquidations"])
            out["spearman"][column] = {"rho": float(rho), "p": float(p)}
        return out

    def to_json(self) -> dict[str, Any]:
        markets: dict[str, Any] = {}
        for market in self.predicted:
            horizons = {}
            for horizon in self.predicted[market]:
                p, b, y = (a.reshape(-1) for a in self._pairs(market, horizon))
                horizons[f"{horizon}h"] = {"brier": brier(p, y), "brier_baseline": brier(b, y),
                                           "reliability": reliability(p, y), "reliability_baseline": reliability(b, y),
                                           "samples": int(y.size), "observed_rate": float(y.mean())}
            markets[market] = {"first_day": str(self.days[market][0].date()), "last_day": str(self.days[market][-1].date()),
                               "horizons": horizons}
        return {"model": {"distribution": "Student-t, reflection principle", "nu": self.model.nu,
                          "vol_scale": self.model.vol_scale},
                "health_factors": list(self.health_factors), "markets": markets,
                "aave_v3_rank_correlation": self.outside_check()}

    def markdown(self) -> str:
        data = self.to_json()
        lines = ["# Liquidation-probability calibration (walk-forward, out of sample)", "",
                 f"Student-t first passage, ν = {self.model.nu:.2f}, vol scale {self.model.vol_scale:.2f} (fitted on "
                 f"2020); health factors {list(self.health_factors)}.", ""]
        for market, entry in data["markets"].items():
            lines += [f"## {market} ({entry['first_day']} → {entry['last_day']})", "",
                      "| horizon | Brier | Brier (normal-EWMA) | samples | observed rate |", "|---|---|---|---|---|"]
            for horizon, h in entry["horizons"].items():
                lines.append(f"| {horizon} | {h['brier']:.5f} | {h['brier_baseline']:.5f} | {h['samples']} | "
                             f"{h['observed_rate']:.4f} |")
            lines += ["", "24h reliability (predicted, observed, count):", "",
                      "| predicted | observed | count |", "|---|---|---|"]
            lines += [f"| {p:.4f} | {o:.4f} | {n} |" for p, o, n in entry["horizons"]["24h"]["reliability"]]
            lines.append("")
        check = data["aave_v3_rank_correlation"]
        lines += [f"Aave V3 daily liquidations vs predicted at-risk intensity ({check['first']} → {check['last']}, "
                  f"{check['days']} days): " + ", ".join(f"{k} ρ = {v['rho']:.3f} (p {v['p']:.2g})"
                                                         for k, v in check["spearman"].items())]
        return "\n".join(lines)

    def write(self, json_path: Path | None = None, markdown_path: Path | None = None) -> None:
        write_report(self, json_path, markdown_path)


#: Candidate vol scales of the calibration.
VOL_SCALES = tuple(np.round(np.arange(0.80, 1.201, 0.01), 2))


def fit_vol_scale(model: LiquidationModel, vols: Sequence[np.ndarray], observed: Sequence[np.ndarray],
                  health_factors: Sequence[float], horizon: int = 24) -> float:
    """The vol scale with the least pooled Brier score on calibration days (vols [n], observed [n, h])."""
    grid = np.asarray(health_factors)[None, :]

    def score(scale: float) -> float:
        candidate = LiquidationModel(model.nu, scale)
        p = np.concatenate([candidate.probability(grid, horizon, v[:, None]).reshape(-1) for v in vols])
        y = np.concatenate([o.reshape(-1) for o in observed])
        ok = ~np.isnan(y)
        return brier(p[ok], y[ok])

    return float(min(VOL_SCALES, key=score))


def calibration_backtest(markets: Sequence[str], model_id: str, version: str,
                         horizons: Sequence[int] = HORIZONS_HOURS,
                         health_factors: Sequence[float] = HEALTH_FACTORS,
                         calibration_end: str = "2021-01-01") -> LiquidationBacktest:
    """Walk-forward vol forecasts of `model_id@version` (the cached protocol-backtest forecasts, from
    2020) against the first passages they predict: the vol scale fitted on days before
    `calibration_end`, scores on the days from it (see the module docstring)."""
    from models.protocol.forecasts import walk_forward_forecasts
    from models.versions import load_card

    shape = LiquidationModel.from_card(load_card(model_id, version))
    forecasts = walk_forward_forecasts(model_id, version)
    cut = pd.Timestamp(calibration_end, tz="UTC")
    bars = {m.upper(): pd.concat(hourly_segments(m)) for m in markets}
    calibration = [(forecasts[m][model_id], bars[m]) for m in bars]
    early = [(f.vol[pd.DatetimeIndex(f.index) < cut] / 100,
              observed_passage(b, pd.DatetimeIndex(f.index)[pd.DatetimeIndex(f.index) < cut], health_factors, 24))
             for f, b in calibration]
    model = LiquidationModel(shape.nu, fit_vol_scale(shape, [v for v, _ in early], [o for _, o in early],
                                                     health_factors))
    predicted, baseline, observed, all_days = {}, {}, {}, {}
    for market in bars:
        forecast = forecasts[market][model_id]
        keep = pd.DatetimeIndex(forecast.index) >= cut
        days = pd.DatetimeIndex(forecast.index)[keep]
        vol = forecast.vol[keep] / 100
        ewma = ewma_vol(market_days(market)).reindex(days).to_numpy()
        grid = np.asarray(health_factors)[None, :]
        predicted[market] = {h: model.probability(grid, h, vol[:, None]) for h in horizons}
        gaussian = LiquidationModel()
        baseline[market] = {h: gaussian.probability(grid, h, ewma[:, None]) for h in horizons}
        observed[market] = {h: observed_passage(bars[market], days, health_factors, h) for h in horizons}
        all_days[market] = days
    return LiquidationBacktest(model, predicted, baseline, observed, all_days, tuple(health_factors))
