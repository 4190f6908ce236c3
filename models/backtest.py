"""Walk-forward, out-of-sample backtests of the shipped forecaster against the baselines.

Folds: calendar years from `TEST_START` (the last one ends with the data, 2025-06-30). Every model is
re-estimated at each fold start on all days before it and forecasts the fold one day ahead; the
metrics pool the folds of each market. Units: returns percent, variances percent².

Metrics per market and model (loss L = −r, α = 1%):
- QLIKE = mean(RV/h − log(RV/h) − 1) and MSE = mean((RV − h)²) against realised variance RV from
  hourly returns (Patton 2011: both are robust to noise in the RV proxy);
- VaR99 hit rate, Kupiec proportion-of-failures and Christoffersen independence p-values (χ²(1));
- ES99: Acerbi–Székely Z2 = Σ L·1{L>VaR} / (T α ES) − 1 (0 when ES is right, > 0 when too low) and the
  McNeil–Frey test: exceedance residuals (L − ES)/σ have mean 0; one-sided bootstrap p-value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from models.baselines import ALPHA, Baseline, VolForecast
from models.typing import BoolArray, Float64Array

TEST_START = "2021-01-01"
BOOTSTRAP_DRAWS = 2000


def walk_forward_folds(days: pd.DatetimeIndex, start: str = TEST_START) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[(fold start, fold end)) by calendar year from `start` to the last day."""
    first, last = pd.Timestamp(start, tz="UTC"), days.max() + pd.Timedelta("1D")
    edges = [first]
    while edges[-1] + pd.DateOffset(years=1) < last:
        edges.append(edges[-1] + pd.DateOffset(years=1))
    edges.append(last)
    return list(zip(edges[:-1], edges[1:]))


# --- Metrics ---------------------------------------------------------------------------------------------

def qlike(rv: Float64Array, variance: Float64Array) -> float:
    ratio = rv / variance
    return float(np.mean(ratio - np.log(ratio) - 1))


def mse(rv: Float64Array, variance: Float64Array) -> float:
    return float(np.mean((rv - variance) ** 2))


def qlike_losses(rv: Float64Array, variance: Float64Array) -> Float64Array:
    ratio = rv / variance
    return ratio - np.log(ratio) - 1


def diebold_mariano(loss_a: Float64Array, loss_b: Float64Array, lags: int | None = None) -> float:
    """One-sided p-value of the Diebold–Mariano test that forecast a has lower expected loss than b.

    d = loss_a − loss_b; statistic mean(d) / sqrt(LRV / T) with the long-run variance LRV estimated
    by Newey–West (Bartlett kernel, `lags` default floor(4 (T/100)^(2/9))), compared with N(0, 1):
    H0 E[d] = 0 against E[d] < 0. HAC standard errors because losses of overlapping information
    are autocorrelated (volatility clusters).
    """
    d = np.asarray(loss_a, dtype=np.float64) - np.asarray(loss_b, dtype=np.float64)
    t = d.size
    lags = int(np.floor(4 * (t / 100) ** (2 / 9))) if lags is None else lags
    centred = d - d.mean()
    lrv = centred @ centred / t
    for lag in range(1, lags + 1):
        lrv += 2 * (1 - lag / (lags + 1)) * (centred[lag:] @ centred[:-lag]) / t
    return float(stats.norm.cdf(d.mean() / np.sqrt(lrv / t)))


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * np.log(y)


def kupiec_pof(hits: BoolArray, alpha: float = ALPHA) -> float:
    """p-value of Kupiec's proportion-of-failures LR test (H0: hit probability = alpha)."""
    n, x = len(hits), int(hits.sum())
    rate = x / n
    lr = -2 * (_xlogy(n - x, 1 - alpha) + _xlogy(x, alpha) - _xlogy(n - x, 1 - rate) - _xlogy(x, rate))
    return float(stats.chi2.sf(lr, 1))


def christoffersen_independence(hits: BoolArray) -> float:
    """p-value of Christoffersen's (1998) Markov independence LR test (H0: hits are not clustered)."""
    prev, curr = hits[:-1], hits[1:]
    n00, n01 = int(np.sum(~prev & ~curr)), int(np.sum(~prev & curr))
    n10, n11 = int(np.sum(prev & ~curr)), int(np.sum(prev & curr))
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    restricted = _xlogy(n00 + n10, 1 - pi) + _xlogy(n01 + n11, pi)
    unrestricted = _xlogy(n00, 1 - pi0) + _xlogy(n01, pi0) + _xlogy(n10, 1 - pi1) + _xlogy(n11, pi1)
    return float(stats.chi2.sf(-2 * (restricted - unrestricted), 1))


def acerbi_szekely_z2(loss: Float64Array, var99: Float64Array, es99: Float64Array, alpha: float = ALPHA) -> float:
    hits = loss > var99
    return float(np.sum(loss * hits / es99) / (len(loss) * alpha) - 1)


def mcneil_frey_p(loss: Float64Array, var99: Float64Array, es99: Float64Array, vol: Float64Array,
                  seed: int = 0) -> float:
    """One-sided bootstrap p-value of H0: mean exceedance residual (L − ES)/σ = 0 vs > 0 (ES too low)."""
    hits = loss > var99
    residuals = (loss[hits] - es99[hits]) / vol[hits]
    if residuals.size < 2:
        return float("nan")
    observed = residuals.mean() / (residuals.std(ddof=1) / np.sqrt(residuals.size))
    centred = residuals - residuals.mean()
    draws = np.random.default_rng(seed).choice(centred, size=(BOOTSTRAP_DRAWS, centred.size))
    boot = draws.mean(axis=1) / (draws.std(axis=1, ddof=1) / np.sqrt(centred.size) + 1e-12)
    return float(np.mean(boot >= observed))


@dataclass(frozen=True)
class Scores:
    qlike: float
    mse: float
    var99_hit_rate: float
    kupiec_p: float
    christoffersen_p: float
    es_z2: float
    es_mcneil_frey_p: float
    hits: int
    days: int

    @classmethod
    def of(cls, forecast: VolForecast, ret: Float64Array, rv: Float64Array) -> Scores:
        loss = -ret
        hits = loss > forecast.var99
        return cls(qlike(rv, forecast.variance), mse(rv, forecast.variance), float(hits.mean()),
                   kupiec_pof(hits), christoffersen_independence(hits),
                   acerbi_szekely_z2(loss, forecast.var99, forecast.es99),
                   mcneil_frey_p(loss, forecast.var99, forecast.es99, forecast.vol),
                   int(hits.sum()), int(len(hits)))


# --- Walk-forward ---------------------------------------------------------------------------------------

def baseline_forecasts(baseline: Baseline, data: pd.DataFrame,
                       folds: list[tuple[pd.Timestamp, pd.Timestamp]]) -> VolForecast:
    parts = []
    for start, end in folds:
        targets = data.index[(data.index >= start) & (data.index < end)]
        parts.append(baseline.fit(data.loc[data.index < start]).forecast(data, targets))
    return concat_forecasts(parts)


def concat_forecasts(parts: list[VolForecast]) -> VolForecast:
    return VolForecast(pd.DatetimeIndex(np.concatenate([p.index for p in parts])).tz_convert("UTC"),
                       np.concatenate([p.variance for p in parts]), np.concatenate([p.var99 for p in parts]),
                       np.concatenate([p.es99 for p in parts]))


@dataclass
class MarketBacktest:
    symbol: str
    days: pd.DatetimeIndex
    ret: Float64Array
    rv: Float64Array
    forecasts: dict[str, VolForecast] = field(default_factory=dict)
    #: the shipped model's forecasts with calendar flags off (what its policy reads), when it has flags
    policy_forecast: VolForecast | None = None

    def scores(self) -> dict[str, Scores]:
        return {name: Scores.of(f, self.ret, self.rv) for name, f in self.forecasts.items()}

    def diebold_mariano(self, model: str) -> dict[str, float]:
        """DM p-value (QLIKE, HAC) of `model` beating each other forecaster."""
        losses = {name: qlike_losses(self.rv, f.variance) for name, f in self.forecasts.items()}
        return {name: diebold_mariano(losses[model], loss) for name, loss in losses.items() if name != model}


@dataclass
class Backtest:
    markets: dict[str, MarketBacktest]
    shipped: str

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"units": {"returns": "percent", "variance": "percent^2 (daily)",
                                         "horizon_days": 1, "var_es_level": 1 - ALPHA},
                               "shipped_model": self.shipped, "markets": {}}
        for symbol, market in self.markets.items():
            shipped = market.forecasts[self.shipped]
            models = {name: vars(s) for name, s in market.scores().items()}
            models[self.shipped]["dm_p"] = market.diebold_mariano(self.shipped)
            out["markets"][symbol] = {
                "models": models,
                "test_start": str(market.days[0].date()), "test_end": str(market.days[-1].date()),
                "series": {"dates": [str(d.date()) for d in market.days],
                           "vol": np.round(shipped.vol, 6).tolist(), "var99": np.round(shipped.var99, 6).tolist(),
                           "es99": np.round(shipped.es99, 6).tolist()},
            }
        return out

    def markdown(self) -> str:
        lines = [f"# Walk-forward backtest (shipped model: `{self.shipped}`)", "",
                 "One-day horizon; out of sample only; models refit at each yearly fold start.", ""]
        for symbol, market in self.markets.items():
            lines += [f"## {symbol}: {market.days[0].date()} → {market.days[-1].date()} ({len(market.days)} days)", "",
                      "| model | QLIKE | MSE | VaR99 hits | hit rate | Kupiec p | Christoffersen p | ES Z2 | McNeil–Frey p "
                      f"| DM p ({self.shipped} better) |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            dm = market.diebold_mariano(self.shipped)
            for name, s in market.scores().items():
                dm_cell = f"{dm[name]:.2g}" if name in dm else "—"
                lines.append(f"| {name} | {s.qlike:.4f} | {s.mse:.1f} | {s.hits}/{s.days} | {s.var99_hit_rate:.4f} | "
                             f"{s.kupiec_p:.3f} | {s.christoffersen_p:.3f} | {s.es_z2:+.3f} | {s.es_mcneil_frey_p:.3f} "
                             f"| {dm_cell} |")
            lines.append("")
        return "\n".join(lines)

    def plot(self, path: Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(len(self.markets), 1, figsize=(12, 4 * len(self.markets)), squeeze=False)
        for ax, (symbol, market) in zip(axes[:, 0], self.markets.items()):
            shipped = market.forecasts[self.shipped]
            ax.plot(market.days, np.sqrt(market.rv), color="0.7", lw=0.8, label="realised vol (hourly RV)")
            ax.plot(market.days, shipped.vol, lw=1.0, label=f"{self.shipped} vol forecast")
            ax.plot(market.days, market.forecasts["garch"].vol, lw=0.8, alpha=0.7, label="GARCH(1,1) forecast")
            ax.plot(market.days, shipped.var99, lw=0.8, ls="--", label="VaR99")
            breach = -market.ret > shipped.var99
            ax.scatter(market.days[breach], -market.ret[breach], color="red", marker="x", zorder=3,
                       label=f"VaR99 breach ({int(breach.sum())})")
            ax.set_title(f"{symbol}: one-day forecasts, out of sample")
            ax.set_ylabel("percent")
            ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    def write(self, json_path: Path | None = None, markdown_path: Path | None = None,
              png_path: Path | None = None) -> None:
        write_report(self, json_path, markdown_path)
        if png_path:
            self.plot(png_path)


def write_report(report: Any, json_path: Path | None = None, markdown_path: Path | None = None) -> None:
    """Write any backtest report (an object with `to_json()` and `markdown()`) where asked."""
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report.to_json(), indent=1) + "\n")
    if markdown_path:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(report.markdown() + "\n")
