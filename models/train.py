"""Training of the compact forecasters on real data: walk-forward, out of sample, fixed seeds.

One command (`zkrisk train`, i.e. `train()`) fits the chosen architecture on BTC and ETH pooled,
scores it walk-forward against the baselines (`models.backtest`), refits on all data to the last day
and stores the version (weights, model card) under circuits/<model_id>/<version>/.

Horizon: one day (the liquidation horizon of the parameters). Losses (percent units):
- volatility: QLIKE, RV/h + log h with h = vol² and RV the next day's realised variance from hourly
  returns; a proper (consistent) loss for the conditional variance that is robust to RV noise;
- VaR99 and ES99: Fissler–Ziegel FZ0 joint loss of the one-day loss L = −r,
  (L − q)⁺ / (α e) + q / e + log e − 1, strictly consistent for (VaR, ES); fitted on the scale
  multipliers of `TailHead` after the volatility network (filtered historical simulation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import optimize

from models.backtest import (TEST_START, Backtest, MarketBacktest, baseline_forecasts, concat_forecasts,
                             walk_forward_folds)
from models.baselines import ALPHA, BASELINES, VolForecast
from models.data import DATA_DIR, DVOL_FILES, HOURLY_FILES, market_days
from models.features import FEATURE_SETS, FeatureSet
from models.nets import ARCHITECTURES, PERCENT, LendingModel
from models.policy import SHIPPED_POLICIES, MarketPolicies
from models.spec import LENDING
from models.typing import Float64Array
from models.versions import ModelVersion, save_version, sha256_file


@dataclass(frozen=True)
class ForecasterConfig:
    architecture: str = "HARMLP"
    args: dict[str, Any] = field(default_factory=lambda: {"window": 22, "hidden": 8, "downside": True, "flags": 1})
    #: `models.features.FEATURE_SETS` name: Parkinson range vol and returns from hourly bars, weekend flag
    features: str = "range-hourly"
    markets: tuple[str, ...] = ("BTC", "ETH")
    epochs: int = 1500
    learning_rate: float = 0.01
    seed: int = 7
    #: fits from seeds seed, seed + 1, ...; the one with the lowest training QLIKE is kept. Full-batch
    #: Adam on a ReLU output lands in different optima by seed (walk-forward BTC QLIKE 0.411-0.43, and
    #: one seed in five dead at the volatility floor); choosing on the training loss alone uses no
    #: test data and removes that lottery
    restarts: int = 5
    #: age weighting of the tail fit (days): standardised crypto tails thinned from 2018 to 2024, so
    #: the VaR/ES multipliers weight recent days more (Boudoukh–Richardson–Whitelaw age-weighted
    #: historical simulation); None weights all training days equally
    tail_half_life: float | None = 365.0

    @property
    def window(self) -> int:
        return int(self.args["window"])

    @property
    def feature_set(self) -> FeatureSet:
        return FEATURE_SETS[self.features]

    def build(self) -> torch.nn.Module:
        return ARCHITECTURES[self.architecture](**self.args)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "markets": list(self.markets)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForecasterConfig:
        # cards written before a field existed were trained as that field's value here says
        before_fields = {"features": "realised-hourly", "restarts": 1}
        return cls(**{**before_fields, **data, "markets": tuple(data["markets"])})


@dataclass(frozen=True)
class Samples:
    """Windows [n, 2W] and the next day each forecasts (targets: index day, columns ret and rv)."""

    features: Float64Array
    targets: pd.DataFrame

    @classmethod
    def of(cls, days: pd.DataFrame, window: int, features: FeatureSet) -> Samples:
        parts = [features.samples(d, window) for _, d in days.groupby("segment", sort=True)]
        return cls(np.concatenate([x for x, _ in parts]), pd.concat([t for _, t in parts]))

    def where(self, mask: np.ndarray) -> Samples:
        return Samples(self.features[mask], self.targets.loc[mask])

    def before(self, day: pd.Timestamp) -> Samples:
        return self.where((self.targets.index < day))

    def between(self, start: pd.Timestamp, end: pd.Timestamp) -> Samples:
        return self.where((self.targets.index >= start) & (self.targets.index < end))


def fz0_loss(loss: Float64Array, var99: Float64Array, es99: Float64Array, alpha: float = ALPHA,
             weights: Float64Array | None = None) -> float:
    """(Weighted) mean Fissler–Ziegel FZ0 score of (VaR, ES) forecasts of the loss (positive numbers)."""
    score = np.maximum(loss - var99, 0) / (alpha * es99) + var99 / es99 + np.log(es99) - 1
    return float(np.average(score, weights=weights))


def fit_tail_multipliers(vol: Float64Array, loss: Float64Array,
                         weights: Float64Array | None = None) -> tuple[float, float]:
    """(VaR, ES) multipliers of vol minimising FZ0 over training days; ES ≥ VaR by construction."""
    def objective(theta: np.ndarray) -> float:
        q, gap = np.exp(theta)
        return fz0_loss(loss, q * vol, (q + gap) * vol, weights=weights)

    start = np.log([2.33, 0.35])
    best = optimize.minimize(objective, start, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9})
    q, gap = np.exp(best.x)
    return float(q), float(q + gap)


def _fit_volatility(config: ForecasterConfig, seed: int, x: torch.Tensor,
                    rv: torch.Tensor) -> tuple[float, torch.nn.Module]:
    """One QLIKE fit (full batch, Adam) from `seed`: (final training QLIKE, forecaster)."""
    torch.manual_seed(seed)
    forecaster = config.build()
    optimiser = torch.optim.Adam(forecaster.parameters(), lr=config.learning_rate)
    for _ in range(config.epochs):
        optimiser.zero_grad()
        variance = forecaster.volatility(x)[:, 0].square()
        (rv / variance + torch.log(variance)).mean().backward()
        optimiser.step()
    forecaster.eval()
    with torch.no_grad():
        variance = forecaster.volatility(x)[:, 0].square()
        return float((rv / variance + torch.log(variance)).mean()), forecaster


def fit_forecaster(config: ForecasterConfig, samples: Samples) -> torch.nn.Module:
    """Volatility network by QLIKE (best of `restarts` seeds on the training loss), then the tail
    multipliers by FZ0."""
    x = torch.as_tensor(samples.features, dtype=torch.float32)
    rv = torch.as_tensor(samples.targets["rv"].to_numpy(), dtype=torch.float32)
    fits = [_fit_volatility(config, config.seed + i, x, rv) for i in range(config.restarts)]
    forecaster = min(fits, key=lambda fit: fit[0])[1]
    with torch.no_grad():
        vol = forecaster.volatility(x)[:, 0].double().numpy()
    weights = None
    if config.tail_half_life:
        age = (samples.targets.index.max() - samples.targets.index) / pd.Timedelta("1D")
        weights = 0.5 ** (age.to_numpy(dtype=np.float64) / config.tail_half_life)
    q, e = fit_tail_multipliers(vol, -samples.targets["ret"].to_numpy(), weights)
    forecaster.tails.multipliers.copy_(torch.tensor([1.0, q, e]))
    return forecaster


def forecast(forecaster: torch.nn.Module, samples: Samples, calendar: bool = True) -> VolForecast:
    """Forecasts in percent units for the samples' target days (`calendar=False`: with the calendar
    flags off, what the policy reads)."""
    with torch.no_grad():
        out = forecaster(torch.as_tensor(samples.features, dtype=torch.float32), calendar).double().numpy() / PERCENT
    return VolForecast(pd.DatetimeIndex(samples.targets.index), out[:, 0] ** 2, out[:, 1], out[:, 2])


def known_days(symbol: str, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """The bundled days of `symbol`, up to and including the UTC day `until` (default: all)."""
    days = market_days(symbol)
    return days if until is None else days.loc[:until]


def walk_forward(config: ForecasterConfig, name: str, markets: tuple[str, ...] | None = None,
                 start: str = TEST_START, until: pd.Timestamp | None = None) -> Backtest:
    """Baselines and `config` side by side on the same yearly folds (from `start`) and target days,
    reading no day after `until`."""
    markets = tuple(m.upper() for m in markets) if markets else config.markets
    days = {m: known_days(m, until) for m in dict.fromkeys(config.markets + markets)}
    samples = {m: Samples.of(d, config.window, config.feature_set) for m, d in days.items()}
    folds = walk_forward_folds(days[markets[0]].index, start)
    results = {m: [] for m in markets}
    weekday = {m: [] for m in markets}
    for start, end in folds:
        pooled = [samples[m].before(start) for m in config.markets]
        forecaster = fit_forecaster(config, Samples(np.concatenate([p.features for p in pooled]),
                                                    pd.concat([p.targets for p in pooled])))
        for m in markets:
            results[m].append(forecast(forecaster, samples[m].between(start, end)))
            weekday[m].append(forecast(forecaster, samples[m].between(start, end), calendar=False))
    report = {}
    for m in markets:
        shipped = concat_forecasts(results[m])
        market = MarketBacktest(m, shipped.index, days[m]["ret"].loc[shipped.index].to_numpy(),
                                days[m]["rv"].loc[shipped.index].to_numpy())
        for baseline in BASELINES:
            market.forecasts[baseline.name] = baseline_forecasts(baseline, days[m], folds).loc(shipped.index)
        market.forecasts[name] = shipped
        market.policy_forecast = concat_forecasts(weekday[m])
        report[m] = market
    return Backtest(report, name)


def train(config: ForecasterConfig = ForecasterConfig(), policy: MarketPolicies = SHIPPED_POLICIES,
          model_id: str = "har-policy", version: str = "2.0.0", until: pd.Timestamp | None = None,
          root: Path | None = None) -> tuple[ModelVersion, Backtest]:
    """Score `config` walk-forward, refit on all data (no day after `until`) and store the lending
    version with its card (under `root`, default the repository's circuits/)."""
    backtest = walk_forward(config, model_id, until=until)
    days = {m: known_days(m, until) for m in config.markets}
    everything = [Samples.of(d, config.window, config.feature_set) for d in days.values()]
    forecaster = fit_forecaster(config, Samples(np.concatenate([s.features for s in everything]),
                                                pd.concat([s.targets for s in everything])))
    model = LendingModel(forecaster, policy).eval()
    w, features = config.window, config.feature_set
    data_files = {m: {"hourly": HOURLY_FILES[m], **({"dvol": DVOL_FILES[m]} if features.uses_dvol else {})}
                  for m in config.markets}
    card = {
        "layout": LENDING.name,
        "architecture": config.architecture,
        "architecture_args": dict(config.args),
        "features": config.features,
        "window": w,
        "input_size": len(features.layout(w)),
        "input_layout": features.layout(w),
        "input_units": ("per UTC day, oldest first: Parkinson range vol sqrt(sum over hours of ln(high/low)^2 "
                        "/ 4 ln 2) and close-to-close log return, both percent; weekend = 1 when the day the "
                        "parameters apply to is a Saturday or Sunday"),
        "horizon_days": 1,
        "outputs": list(LENDING.names),
        "state": list(LENDING.state),
        "policy": policy.to_dict(),
        "guards_bp": {m: {name: list(g) for name, g in c.guards().items()} for m, c in policy.markets.items()},
        "tail_multipliers": forecaster.tails.multipliers.tolist(),
        # the typical training window: integrated gradients explain updates relative to it
        "explanation_baseline": np.median(np.concatenate([s.features for s in everything]), axis=0).tolist(),
        "parameter_count": sum(p.numel() for p in model.parameters()),
        "train_config": config.to_dict(),
        "train": {"samples": int(sum(len(s.targets) for s in everything)),
                  "losses": "QLIKE (vol), Fissler-Ziegel FZ0 (VaR99, ES99 multipliers)",
                  "walk_forward": f"yearly folds from {TEST_START}, refit on all earlier days; final fit on all days"},
        "data": {m: {"files": {kind: {"file": f, "sha256": sha256_file(DATA_DIR / f)} for kind, f in data_files[m].items()},
                     "first": str(d.index[0].date()), "last": str(d.index[-1].date()),
                     "segments": int(d["segment"].nunique())} for m, d in days.items()},
        "walk_forward": {m: {"test_start": str(b.days[0].date()), "test_end": str(b.days[-1].date()),
                             "scores": {name: vars(s) for name, s in b.scores().items()},
                             "dm_p": b.diebold_mariano(model_id)}
                         for m, b in backtest.markets.items()},
    }
    save_version(model, model_id, version, card, root)  # the liquidation calibration reads the stored card
    card["liquidation"] = liquidation_calibration(model_id, version)
    return save_version(model, model_id, version, card, root), backtest


def liquidation_calibration(model_id: str, version: str) -> dict[str, Any]:
    """The liquidation-probability model's vol scale, fitted on the 2020 walk-forward forecasts
    (`models.liquidation`), for the card (the API and the lending market's view read it)."""
    from models.liquidation import calibration_backtest

    result = calibration_backtest(("BTC", "ETH"), model_id, version, horizons=(24,))
    return {"vol_scale": result.model.vol_scale, "nu": result.model.nu,
            "calibration": "walk-forward forecasts of 2020, BTC and ETH pooled, least 24-hour Brier score"}
