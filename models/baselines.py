"""Peer volatility baselines, side by side with the torch forecasters on the same walk-forward splits.

Each baseline follows the `arch` pattern: a spec object → `fit(history)` → a result whose statistics
are computed lazily → `forecast(data, targets)` → a `VolForecast`. All work in percent units on the
daily frame of `models.features.daily_realised` (columns ret, rv; concatenated segments).

A forecast for target day T uses the result's parameters (estimated on history before the test fold)
and data strictly before T: one-day-ahead, out of sample.

- `EWMA`: RiskMetrics, σ²_{t+1} = λ σ²_t + (1 − λ) r_t², λ = 0.94, Gaussian tails.
- `GARCH` / `GJR`: GARCH(1,1) and GJR-GARCH(1,1,1) with a constant mean and Student-t innovations
  (the `arch` package), VaR/ES from the fitted t.
- `HAR`: HAR-RV (Corsi 2009), OLS of RV_{t+1} on RV_t and its 5- and 22-day means, per segment;
  Gaussian tails on the forecast variance.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd
from arch import arch_model
from arch.univariate.base import ARCHModelResult
from scipy import stats

from models.typing import Float64Array

ALPHA = 0.01  # VaR/ES tail probability (99% level)
#: HAR-RV in levels can forecast a negative variance; such forecasts are floored here (percent²,
#: a daily vol of 0.1%, far below anything in the data) so QLIKE stays defined. Counted in results.
VARIANCE_FLOOR = 0.01


@dataclass(frozen=True)
class VolForecast:
    """One-day-ahead forecasts for `index` (target days): variance (percent²), VaR99 and ES99 of the
    one-day loss (percent, positive = loss)."""

    index: pd.DatetimeIndex
    variance: Float64Array
    var99: Float64Array
    es99: Float64Array

    def __post_init__(self) -> None:
        n = len(self.index)
        if not (len(self.variance) == len(self.var99) == len(self.es99) == n):
            raise ValueError("forecast arrays must match the index length")

    @property
    def vol(self) -> Float64Array:
        return np.sqrt(self.variance)

    def loc(self, days: pd.DatetimeIndex) -> VolForecast:
        pos = self.index.get_indexer(days)
        if (pos < 0).any():
            raise KeyError(f"no forecast for {days[pos < 0][0]}")
        return VolForecast(days, self.variance[pos], self.var99[pos], self.es99[pos])


def gaussian_tails(variance: Float64Array, mean: float = 0.0) -> tuple[Float64Array, Float64Array]:
    """VaR99 and ES99 of the loss −r for r ~ N(mean, variance)."""
    z = stats.norm.ppf(1 - ALPHA)
    sigma = np.sqrt(variance)
    return -mean + z * sigma, -mean + sigma * stats.norm.pdf(z) / ALPHA


def student_t_tails(variance: Float64Array, nu: float, mean: float = 0.0) -> tuple[Float64Array, Float64Array]:
    """VaR99 and ES99 of −r for r = mean + σ·ε, ε a unit-variance Student-t with ν degrees of freedom."""
    unit = np.sqrt((nu - 2) / nu)
    q = stats.t.ppf(1 - ALPHA, nu)
    es = stats.t.pdf(q, nu) / ALPHA * (nu + q**2) / (nu - 1)
    sigma = np.sqrt(variance)
    return -mean + sigma * q * unit, -mean + sigma * es * unit


def _next_day(data: pd.DataFrame, values: Float64Array, targets: pd.DatetimeIndex) -> Float64Array:
    """Values computed at row t (information up to t) re-indexed to the next row's day, then at targets."""
    shifted = pd.Series(values[:-1], index=data.index[1:])
    picked = shifted.reindex(targets)
    if picked.isna().any():
        raise KeyError(f"no forecast for {picked.index[picked.isna().to_numpy()][0]}")
    return picked.to_numpy(dtype=np.float64)


class Baseline(ABC):
    name: ClassVar[str]

    @abstractmethod
    def fit(self, history: pd.DataFrame) -> BaselineResult:
        """Estimate on `history` (daily frame, days before the test fold)."""


class BaselineResult(ABC):
    @abstractmethod
    def forecast(self, data: pd.DataFrame, targets: pd.DatetimeIndex) -> VolForecast:
        """One-day-ahead forecasts for `targets`, filtering through `data` with fixed parameters."""


# --- RiskMetrics EWMA --------------------------------------------------------------------------------

@dataclass(frozen=True)
class EWMA(Baseline):
    name: ClassVar[str] = "ewma"
    lam: float = 0.94
    #: the recursion starts from the sample variance of the first `warmup` returns
    warmup: int = 30

    def fit(self, history: pd.DataFrame) -> EWMAResult:
        return EWMAResult(self, float(np.var(history["ret"].to_numpy()[: self.warmup])))


@dataclass(frozen=True)
class EWMAResult(BaselineResult):
    spec: EWMA
    initial_variance: float

    def filtered(self, returns: Float64Array) -> Float64Array:
        """σ²_{t+1} for every t: the variance forecast made at the close of day t."""
        lam = self.spec.lam
        out = np.empty_like(returns)
        variance = self.initial_variance
        for t, r in enumerate(returns):
            variance = lam * variance + (1 - lam) * r * r
            out[t] = variance
        return out

    @cached_property
    def half_life(self) -> float:
        return float(np.log(0.5) / np.log(self.spec.lam))

    def forecast(self, data: pd.DataFrame, targets: pd.DatetimeIndex) -> VolForecast:
        variance = _next_day(data, self.filtered(data["ret"].to_numpy(dtype=np.float64)), targets)
        return VolForecast(targets, variance, *gaussian_tails(variance))


# --- GARCH(1,1) and GJR-GARCH(1,1,1) with Student-t, via arch ------------------------------------------

@dataclass(frozen=True)
class GARCH(Baseline):
    name: ClassVar[str] = "garch"
    asymmetric: bool = False

    def model(self, returns: pd.Series):
        return arch_model(returns, mean="Constant", vol="GARCH", p=1, o=int(self.asymmetric), q=1,
                          dist="t", rescale=False)

    def fit(self, history: pd.DataFrame) -> GARCHResult:
        fitted = self.model(history["ret"]).fit(disp="off", options={"maxiter": 500})
        if fitted.convergence_flag != 0:
            raise RuntimeError(f"{self.name} did not converge: {fitted.optimization_result.message}")
        return GARCHResult(self, fitted)


@dataclass(frozen=True)
class GJR(GARCH):
    name: ClassVar[str] = "gjr"
    asymmetric: bool = True


@dataclass(frozen=True)
class GARCHResult(BaselineResult):
    spec: GARCH
    fitted: ARCHModelResult

    @cached_property
    def params(self) -> pd.Series:
        return self.fitted.params

    @cached_property
    def persistence(self) -> float:
        p = self.params
        return float(p["alpha[1]"] + p["beta[1]"] + 0.5 * p.get("gamma[1]", 0.0))

    @cached_property
    def loglikelihood(self) -> float:
        return float(self.fitted.loglikelihood)

    def forecast(self, data: pd.DataFrame, targets: pd.DatetimeIndex) -> VolForecast:
        fixed = self.spec.model(data["ret"]).fix(self.params.to_numpy())
        variance = fixed.forecast(horizon=1, start=0, reindex=False).variance["h.1"].to_numpy()
        variance = _next_day(data, variance, targets)
        return VolForecast(targets, variance,
                           *student_t_tails(variance, float(self.params["nu"]), float(self.params["mu"])))


# --- HAR-RV (OLS) --------------------------------------------------------------------------------------

def har_regressors(data: pd.DataFrame) -> pd.DataFrame:
    """[1, RV_t, mean RV_{t-4..t}, mean RV_{t-21..t}] at each day t with full lags in its segment."""
    segment = data["segment"] if "segment" in data else pd.Series(0, index=data.index)
    rv = data["rv"].groupby(segment.to_numpy())
    out = pd.DataFrame({"const": 1.0, "rv_d": data["rv"],
                        "rv_w": rv.transform(lambda s: s.rolling(5).mean()),
                        "rv_m": rv.transform(lambda s: s.rolling(22).mean())}, index=data.index)
    return out.dropna()


@dataclass(frozen=True)
class HAR(Baseline):
    name: ClassVar[str] = "har"

    def fit(self, history: pd.DataFrame) -> HARResult:
        x = har_regressors(history)
        target = history["rv"].shift(-1)
        if "segment" in history:  # the next row must be the next day of the same segment
            target = target.where(history["segment"].shift(-1) == history["segment"])
        target = target.reindex(x.index)
        keep = target.notna().to_numpy()
        design, y = x.to_numpy()[keep], target.to_numpy()[keep]
        beta, *_ = np.linalg.lstsq(design, y, rcond=None)
        return HARResult(self, beta, design, y)


@dataclass(frozen=True, eq=False)
class HARResult(BaselineResult):
    spec: HAR
    beta: Float64Array
    design: Float64Array
    target: Float64Array

    @cached_property
    def residuals(self) -> Float64Array:
        return self.target - self.design @ self.beta

    @cached_property
    def rsquared(self) -> float:
        return float(1 - self.residuals.var() / self.target.var())

    @cached_property
    def bse(self) -> Float64Array:
        """OLS standard errors of (const, rv_d, rv_w, rv_m)."""
        n, k = self.design.shape
        sigma2 = self.residuals @ self.residuals / (n - k)
        return np.sqrt(np.diag(sigma2 * np.linalg.inv(self.design.T @ self.design)))

    def forecast(self, data: pd.DataFrame, targets: pd.DatetimeIndex) -> VolForecast:
        x = har_regressors(data)
        raw = pd.Series(x.to_numpy() @ self.beta, index=x.index).reindex(data.index).to_numpy()
        variance = np.maximum(_next_day(data, raw, targets), VARIANCE_FLOOR)
        return VolForecast(targets, variance, *gaussian_tails(variance))


BASELINES: tuple[Baseline, ...] = (EWMA(), GARCH(), GJR(), HAR())
