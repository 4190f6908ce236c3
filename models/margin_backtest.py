"""Options margin backtest (`zkrisk backtest --options`): each method's margin for standard portfolios
against the next day's real loss, on the bundled spot bars and Deribit DVOL.

Every test day t (from the first walk-forward fold start) a portfolio is opened at t's close (spot: the
last hourly close of the UTC day; implied vol: the DVOL close), margined by each method, and revalued at
t+1's close and DVOL with one day less to expiry. Its next-day loss is L = -(value(t+1) - value(t));
a method's margin M is what it requires of equity (cash + mark value), so the position is bankrupt
after a day when L > M: an exceedance. The headline margin is the maintenance margin (what holding
the position requires); the initial margin is reported beside it (keys `im_*`).

Simplification, said once and in docs/options.md: every option is priced at the DVOL close on a flat
smile (one implied vol for every strike and expiry, zero rate, spot as the forward). Real books mark
each strike on its own smile and skew moves with spot; DVOL is a 30-day index, so the 7-day straddle
in particular is marked at a vol it would not trade at.

Methods (margin in USD per unit of underlying: every leg is one contract of one unit):
- deribit-standard: per leg, no offsets. Short option IM = (max(0.15 - OTM/U, 0.10) U + mark),
  MM = (0.075 U + mark); long options at their mark; the underlying leg as a Deribit future
  (IM 10%, MM 3% of U).
- deribit-pm-static: the engine's static grid (`ScenarioGrid.static_grid`: spot ±16%, vol up 0.5 /
  down 0.25, the engine's scaling, floors and MM scenarios) through `market_margin`.
- derive-pmrm-static: Derive's 27 scenarios, spot 0.80-1.20 in 5% steps × vol up 0.6 / none / down
  0.3 scaled as the engine does; the worst loss is both IM and MM (Derive's IM factor and
  contingencies are left out, which makes this baseline less conservative, not more).
- ewma-scaled: the static grid with spot shocks × σ_t / mean(σ) of RiskMetrics σ of daily returns, and
  vol shocks × the same ratio of DVOL log changes (λ 0.94, data up to t, mean over every day up to t).
- the shipped method: har-margin 1.0.0's walk-forward shocks for day t+1 (trained only on days before
  each yearly fold) through `ScenarioGrid.select` and `market_margin`, the engine's own grid.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from models.backtest import christoffersen_independence, kupiec_pof, walk_forward_folds
from models.data import DATA_DIR, DVOL_FILES, HOURLY_FILES, market_days
from models.errors import InsufficientDataError, MarginInputError
from models.features import FEATURE_SETS
from models.options import (
    SECONDS_PER_YEAR,
    STATIC_IV_DOWN,
    STATIC_IV_UP,
    STATIC_SPOT_SHOCK,
    VOL_DOWN_FLOOR,
    Position,
    ScenarioGrid,
    bs_delta,
    bs_price,
    market_margin,
    vol_multiplier,
)
from models.protocol.forecasts import CACHE_DIR
from models.protocol.report import market_bars
from models.scenarios import (
    OPTIONS_TEST_START,
    ScenarioConfig,
    ewma_shocks,
    fit_options_model,
    predict_shocks,
    write_report,
)
from models.spec import MARKETS, OPTIONS
from models.train import Samples
from models.versions import OPTIONS_PRODUCTION, load_card, sha256_file

DAY_SECONDS = 86_400
PERCENT = 100.0
#: Done-when figure of issue 11 for the shipped method, per portfolio and market.
MAX_EXCEEDANCE_RATE = 0.015
MIN_KUPIEC_P = 0.05
#: Bump when what the shock cache stores, or how it is computed, changes.
CACHE_FORMAT = 2

DERIBIT_STANDARD = "deribit-standard"
DERIBIT_PM_STATIC = "deribit-pm-static"
DERIVE_PMRM_STATIC = "derive-pmrm-static"
EWMA_SCALED = "ewma-scaled"
BASELINES = (DERIBIT_STANDARD, DERIBIT_PM_STATIC, DERIVE_PMRM_STATIC, EWMA_SCALED)

#: Deribit standard margin of a short option, fractions of the underlying (issue 11's anchors).
STANDARD_IM_BASE, STANDARD_IM_FLOOR, STANDARD_MM = 0.15, 0.10, 0.075
#: Deribit's published futures margin, for the underlying leg of the standard method.
FUTURE_IM, FUTURE_MM = 0.10, 0.03
#: Derive PMRM's static grid: spot 0.80-1.20 in 5% steps × vol up 0.6 / none / down 0.3.
DERIVE_SPOT_POINTS = tuple(np.round(np.arange(-0.20, 0.2001, 0.05), 2))
DERIVE_VOL_UP, DERIVE_VOL_DOWN = 0.6, 0.3


# ----------------------------------------------------------------------------- portfolios

@dataclass(frozen=True)
class Leg:
    """`size` units (negative: short) of a call, a put or the underlying itself (`kind` "underlying")."""

    kind: str
    strike: float
    size: float

    def __post_init__(self) -> None:
        if self.kind not in ("call", "put", "underlying"):
            raise ValueError(f"leg kind must be call, put or underlying, got {self.kind!r}")

    def price(self, spot: float, vol: float, tau: float) -> float:
        if self.kind == "underlying":
            return float(spot)
        return float(bs_price(spot, self.strike, vol, tau, self.kind == "call"))

    def position(self, market: int, expiry: int) -> Position:
        """The leg as a reference position; the underlying is a zero-strike call, worth spot in every
        scenario at zero rate whatever the vol, so the engine's grid revalues it exactly."""
        if self.kind == "underlying":
            return Position(market, 0.0, expiry, True, self.size)
        return Position(market, self.strike, expiry, self.kind == "call", self.size)


@dataclass(frozen=True)
class Book:
    """A portfolio opened at `opened` (unix seconds) whose options expire at `expiry`."""

    legs: tuple[Leg, ...]
    opened: int
    expiry: int

    def tau(self, now: int) -> float:
        return (self.expiry - now) / SECONDS_PER_YEAR

    def value(self, spot: float, vol: float, now: int) -> float:
        return sum(leg.size * leg.price(spot, vol, self.tau(now)) for leg in self.legs)

    def positions(self, market: int) -> list[Position]:
        return [leg.position(market, self.expiry) for leg in self.legs]


def delta_strike(spot: float, vol: float, tau: float, delta: float, is_call: bool) -> float:
    """The strike whose Black-Scholes delta is `delta` (0.25 call: N(d1) = 0.25; 0.25 put: N(d1) = 0.75)."""
    from scipy.stats import norm

    d1 = norm.ppf(delta if is_call else 1 - delta)
    total = vol * np.sqrt(tau)
    return float(spot * np.exp(-d1 * total + 0.5 * total**2))


@dataclass(frozen=True)
class PortfolioSpec:
    name: str
    description: str
    tenor_days: int
    legs: Callable[[float, float, float], tuple[Leg, ...]]

    def open(self, spot: float, vol: float, now: int) -> Book:
        expiry = now + self.tenor_days * DAY_SECONDS
        return Book(self.legs(spot, vol, (expiry - now) / SECONDS_PER_YEAR), now, expiry)


def _straddle(spot: float, vol: float, tau: float) -> tuple[Leg, ...]:
    return Leg("call", spot, -1.0), Leg("put", spot, -1.0)


def _strangle(spot: float, vol: float, tau: float) -> tuple[Leg, ...]:
    return (Leg("call", delta_strike(spot, vol, tau, 0.25, True), -1.0),
            Leg("put", delta_strike(spot, vol, tau, 0.25, False), -1.0))


def _covered_call(spot: float, vol: float, tau: float) -> tuple[Leg, ...]:
    return Leg("underlying", 0.0, 1.0), Leg("call", delta_strike(spot, vol, tau, 0.25, True), -1.0)


def _put_spread(spot: float, vol: float, tau: float) -> tuple[Leg, ...]:
    return (Leg("put", delta_strike(spot, vol, tau, 0.25, False), -1.0),
            Leg("put", delta_strike(spot, vol, tau, 0.10, False), 1.0))


def _hedged_straddle(spot: float, vol: float, tau: float) -> tuple[Leg, ...]:
    legs = _straddle(spot, vol, tau)
    delta = sum(leg.size * float(bs_delta(spot, leg.strike, vol, tau, leg.kind == "call")) for leg in legs)
    return (*legs, Leg("underlying", 0.0, -delta))


PORTFOLIOS: tuple[PortfolioSpec, ...] = (
    PortfolioSpec("short-straddle-7d", "short 1 ATM call + 1 ATM put, 7 days", 7, _straddle),
    PortfolioSpec("short-straddle-30d", "short 1 ATM call + 1 ATM put, 30 days", 30, _straddle),
    PortfolioSpec("short-strangle-25d-30d", "short 1 25-delta call + 1 25-delta put, 30 days", 30, _strangle),
    PortfolioSpec("covered-call-30d", "long 1 underlying + short 1 25-delta call, 30 days", 30, _covered_call),
    PortfolioSpec("short-put-spread-30d", "short 1 25-delta put + long 1 10-delta put, 30 days", 30, _put_spread),
    PortfolioSpec("delta-hedged-short-straddle-30d", "short 1 ATM call + 1 ATM put, 30 days, delta hedged "
                  "with the underlying at the open (held unhedged over the day)", 30, _hedged_straddle),
)


# ----------------------------------------------------------------------------- margin methods

@dataclass(frozen=True)
class MarginPair:
    initial: float
    maintenance: float


def deribit_standard_margin(book: Book, spot: float, vol: float, now: int) -> MarginPair:
    """Per leg, no offsets: short options max(0.15 - OTM/U, 0.10) U + mark (MM 0.075 U + mark), long
    options their mark, the underlying as a future."""
    tau = book.tau(now)
    im = mm = 0.0
    for leg in book.legs:
        size = abs(leg.size)
        if leg.kind == "underlying":
            im += FUTURE_IM * spot * size
            mm += FUTURE_MM * spot * size
            continue
        mark = leg.price(spot, vol, tau)
        if leg.size > 0:
            im += mark * size
            mm += mark * size
            continue
        otm = max(leg.strike - spot, 0.0) if leg.kind == "call" else max(spot - leg.strike, 0.0)
        im += (max(STANDARD_IM_BASE - otm / spot, STANDARD_IM_FLOOR) * spot + mark) * size
        mm += (STANDARD_MM * spot + mark) * size
    return MarginPair(im, mm)


def derive_pmrm_margin(book: Book, spot: float, vol: float, now: int) -> MarginPair:
    """The worst loss over Derive's 27 static scenarios (vol shocks scaled by (30/DTE)^0.3|0.13)."""
    tau = book.tau(now)
    m = vol_multiplier(book.expiry - now)
    vols = np.array([vol * (1 + DERIVE_VOL_UP * m), vol, vol * max(1 - DERIVE_VOL_DOWN * m, VOL_DOWN_FLOOR)])
    spots = spot * (1 + np.array(DERIVE_SPOT_POINTS))
    losses = np.zeros((len(vols), len(spots)))
    for leg in book.legs:
        mark = leg.price(spot, vol, tau)
        if leg.kind == "underlying":
            values = np.broadcast_to(spots, losses.shape)
        else:
            values = bs_price(spots[None, :], leg.strike, vols[:, None], tau, leg.kind == "call")
        losses += leg.size * (mark - values)
    worst = max(0.0, float(losses.max()))
    return MarginPair(worst, worst)


def grid_margin(book: Book, spot: float, grid: ScenarioGrid, now: int, market: int) -> MarginPair:
    margin = market_margin(book.positions(market), spot, grid, now)
    return MarginPair(margin.initial, margin.maintenance)


# ----------------------------------------------------------------------------- inputs

def _config() -> ScenarioConfig:
    return ScenarioConfig.from_dict(load_card(*OPTIONS_PRODUCTION)["scenario_config"])


def _cache_path(config: ScenarioConfig, start: str, end: str | None, cache_dir: Path) -> Path:
    key = {"format": CACHE_FORMAT, "model": list(OPTIONS_PRODUCTION), "scenario_config": config.to_dict(),
           "start": start, "end": end,
           "data": {m: [sha256_file(DATA_DIR / HOURLY_FILES[m]), sha256_file(DATA_DIR / DVOL_FILES[m])]
                    for m in config.forecaster.markets}}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir / f"options-shocks-{digest}.npz"


def walk_forward_shocks(start: str = OPTIONS_TEST_START, end: str | None = None,
                        cache_dir: Path = CACHE_DIR) -> dict[str, pd.DataFrame]:
    """market → the shipped options model's out-of-sample shocks (fractions, layout OPTIONS columns) per
    target day from `start` to `end` (inclusive; default the last bundled day): refitted from its card's
    scenario config at each yearly fold start on the days before it, pooled over its training markets.
    Cached under `cache_dir`, keyed by everything the shocks depend on."""
    config = _config()
    path = _cache_path(config, start, end, cache_dir)
    if path.exists():
        with np.load(path) as stored:
            return {m: pd.DataFrame(stored[f"{m}/values"], columns=list(OPTIONS.names),
                                    index=pd.DatetimeIndex(pd.to_datetime(stored[f"{m}/index"], utc=True), name="day"))
                    for m in config.forecaster.markets}
    window, features = config.forecaster.window, FEATURE_SETS[config.forecaster.features]
    samples = {m: Samples.of(market_days(m, dvol=True), window, features) for m in config.forecaster.markets}
    if end is not None:
        last = pd.Timestamp(end, tz="UTC")
        samples = {m: s.where(s.targets.index <= last) for m, s in samples.items()}
    first = next(iter(samples.values()))
    parts: dict[str, list[pd.DataFrame]] = {m: [] for m in samples}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one thread is faster and reproducible
    try:
        for fold_start, fold_end in walk_forward_folds(pd.DatetimeIndex(first.targets.index), start):
            pooled = [s.before(fold_start) for s in samples.values()]
            model = fit_options_model(config, Samples(np.concatenate([p.features for p in pooled]),
                                                      pd.concat([p.targets for p in pooled])))
            for m, s in samples.items():
                parts[m].append(predict_shocks(model, s.between(fold_start, fold_end))[list(OPTIONS.names)])
    finally:
        torch.set_num_threads(threads)
    shocks = {m: pd.concat(p) for m, p in parts.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **{f"{m}/index": f.index.asi8 for m, f in shocks.items()},
             **{f"{m}/values": f.to_numpy(dtype=np.float64) for m, f in shocks.items()})
    partial.replace(path)
    return shocks


def daily_closes(market: str) -> pd.Series:
    """The last hourly close of each UTC day (the close the day's return ends at)."""
    close = market_bars(market)["close"]
    return close.groupby(close.index.floor("D")).last()


@dataclass(frozen=True)
class MarketInputs:
    """Per opening day t (index): spot and DVOL at t's close and t+1's, the shipped shocks for t+1
    and the EWMA scale factors of spot and vol shocks."""

    frame: pd.DataFrame

    @classmethod
    def build(cls, market: str, shocks: pd.DataFrame, config: ScenarioConfig) -> "MarketInputs":
        days = market_days(market, dvol=True)
        targets = pd.DatetimeIndex(shocks.index)
        opened = targets - pd.Timedelta("1D")
        closes = daily_closes(market)
        every = pd.DatetimeIndex(days.index[1:])
        ewma = ewma_shocks(days, every, config)
        # the ratio to the mean over every day so far does not depend on the normal quantile ewma_shocks applies
        scale = ewma / ewma.expanding().mean()
        frame = pd.DataFrame({
            "spot": closes.reindex(opened).to_numpy(), "spot_next": closes.reindex(targets).to_numpy(),
            "vol": days["dvol"].reindex(opened).to_numpy() / PERCENT,
            "vol_next": days["dvol"].reindex(targets).to_numpy() / PERCENT,
            "ewma_spot": scale["spot_down"].reindex(targets).to_numpy(),
            "ewma_vol": scale["iv_up"].reindex(targets).to_numpy(),
            **{name: shocks[name].to_numpy() for name in OPTIONS.names}}, index=opened)
        missing = frame.isna().any(axis=1)
        if missing.any():
            raise InsufficientDataError(market, frame.index[missing.to_numpy()][0],
                                        "no spot close, DVOL or EWMA scale for an opening day or the day after")
        if not np.allclose(frame["ref_iv"], frame["vol"], rtol=1e-6):
            raise ValueError(f"{market}: the shipped shocks' ref_iv is not the opening day's DVOL close")
        return cls(frame)


# ----------------------------------------------------------------------------- the backtest

@dataclass
class MethodPath:
    """One method's daily margins for one portfolio, and the realised next-day losses."""

    initial: np.ndarray
    maintenance: np.ndarray
    loss: np.ndarray
    static_days: int = 0

    def stats(self, level: float) -> dict[str, Any]:
        hits, im_hits = self.loss > self.maintenance, self.loss > self.initial
        return {"days": int(hits.size), "exceedances": int(hits.sum()), "exceedance_rate": float(hits.mean()),
                "kupiec_p": kupiec_pof(hits, 1 - level), "mean_margin": float(self.maintenance.mean()),
                # extras
                "margin": "maintenance", "christoffersen_p": christoffersen_independence(hits),
                "im_exceedances": int(im_hits.sum()), "im_exceedance_rate": float(im_hits.mean()),
                "im_kupiec_p": kupiec_pof(im_hits, 1 - level), "mean_initial_margin": float(self.initial.mean()),
                "max_loss": float(self.loss.max()), "static_grid_days": self.static_days}


@dataclass
class MarginBacktest:
    paths: dict[str, dict[str, dict[str, MethodPath]]]  # market → portfolio → method → path
    days: dict[str, pd.DatetimeIndex]
    shipped: str
    coverage: float
    start: str
    portfolios: Sequence[PortfolioSpec] = PORTFOLIOS
    sources: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def stats(self) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
        return {m: {p: {name: path.stats(self.coverage) for name, path in methods.items()}
                    for p, methods in portfolios.items()} for m, portfolios in self.paths.items()}

    def done_when(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Issue 11's figure per market and portfolio: the shipped method's rate, Kupiec p and mean
        margin against deribit-pm-static's."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for market, portfolios in self.stats.items():
            out[market] = {}
            for name, methods in portfolios.items():
                s, pm = methods[self.shipped], methods[DERIBIT_PM_STATIC]
                checks = {"exceedance_rate": s["exceedance_rate"] <= MAX_EXCEEDANCE_RATE,
                          "kupiec_p": s["kupiec_p"] >= MIN_KUPIEC_P,
                          "mean_margin_vs_deribit_pm": s["mean_margin"] <= pm["mean_margin"]}
                out[market][name] = {**checks, "passed": all(checks.values())}
        return out

    def to_json(self) -> dict[str, Any]:
        done = self.done_when()
        return {"coverage": self.coverage, "sources": self.sources,
                "portfolio_descriptions": {p.name: p.description for p in self.portfolios},
                "markets": {m: {"shipped_method": self.shipped, "test_start": str(self.days[m][0].date()),
                                "test_end": str(self.days[m][-1].date()), "done_when": done[m],
                                "portfolios": {p: {"methods": methods} for p, methods in portfolios.items()}}
                            for m, portfolios in self.stats.items()}}

    def markdown(self) -> str:
        lines = ["# Options margin backtest", "",
                 f"Portfolios opened at each day's close and held one day; an exceedance is a next-day loss above "
                 f"the maintenance margin (IM columns: above the initial margin). Kupiec against "
                 f"{1 - self.coverage:.0%}. Margin in USD per unit of underlying. Options priced at the DVOL "
                 f"close on a flat smile (one vol for every strike and expiry, zero rate): a simplification, "
                 f"see docs/options.md.", ""]
        done = self.done_when()
        header = ("| portfolio | method | days | exceed. (MM) | rate | Kupiec p | mean MM | exceed. (IM) | IM rate | "
                  "IM Kupiec p | mean IM |")
        for market, portfolios in self.stats.items():
            lines += [f"## {market}: {self.days[market][0].date()} → {self.days[market][-1].date()}", "",
                      header, "|" + "---|" * (header.count("|") - 1)]
            for portfolio, methods in portfolios.items():
                for name, s in methods.items():
                    label = f"**{name}**" if name == self.shipped else name
                    lines.append(f"| {portfolio} | {label} | {s['days']} | {s['exceedances']} | "
                                 f"{s['exceedance_rate']:.4f} | {s['kupiec_p']:.3f} | {s['mean_margin']:,.0f} | "
                                 f"{s['im_exceedances']} | {s['im_exceedance_rate']:.4f} | {s['im_kupiec_p']:.3f} | "
                                 f"{s['mean_initial_margin']:,.0f} |")
            failed = [p for p, d in done[market].items() if not d["passed"]]
            lines += ["", f"Done-when (shipped: rate ≤ {MAX_EXCEEDANCE_RATE:.1%}, Kupiec p ≥ {MIN_KUPIEC_P}, mean MM "
                          f"≤ deribit-pm-static): " + ("all portfolios pass." if not failed else
                                                       "fails for " + ", ".join(failed) + "."), ""]
        return "\n".join(lines)

    def plot(self, directory: Path) -> list[Path]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for market, portfolios in self.paths.items():
            fig, axes = plt.subplots(len(portfolios), 1, figsize=(13, 3.2 * len(portfolios)), sharex=True)
            for ax, (portfolio, methods) in zip(np.atleast_1d(axes), portfolios.items()):
                days = self.days[market]
                ax.plot(days, next(iter(methods.values())).loss, color="black", lw=0.6, label="next-day loss")
                for name, path in methods.items():
                    ax.plot(days, path.maintenance, lw=1.6 if name == self.shipped else 0.8, label=f"{name} MM")
                ax.set_title(f"{market} {portfolio}: maintenance margin vs next-day loss (USD per unit)")
                ax.legend(fontsize=7, loc="upper left", ncol=3)
            fig.tight_layout()
            path = directory / f"options_margin_{market}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
        return paths

    def write(self, json_path: Path | None = None, markdown_path: Path | None = None,
              png_dir: Path | None = None) -> None:
        write_report(self, json_path, markdown_path)  # any report with to_json() and markdown()
        if png_dir:
            self.plot(png_dir)


def run_market(market: str, inputs: MarketInputs, shipped: str,
               portfolios: Sequence[PortfolioSpec] = PORTFOLIOS) -> dict[str, dict[str, MethodPath]]:
    """portfolio → method → daily margins and losses of one market."""
    market_id = MARKETS[market]
    rows = inputs.frame
    out = {}
    for spec in portfolios:
        margins: dict[str, list[MarginPair]] = {name: [] for name in (*BASELINES, shipped)}
        losses, static_days = [], 0
        for day, r in zip(rows.index, rows.itertuples(index=False)):
            now = int(day.timestamp()) + DAY_SECONDS  # day t's close
            book = spec.open(r.spot, r.vol, now)
            losses.append(book.value(r.spot, r.vol, now) - book.value(r.spot_next, r.vol_next, now + DAY_SECONDS))
            grid = ScenarioGrid.select({name: getattr(r, name) for name in OPTIONS.names}, live=True)
            static_days += grid.static
            ewma = ScenarioGrid(STATIC_SPOT_SHOCK * r.ewma_spot, STATIC_SPOT_SHOCK * r.ewma_spot,
                                STATIC_IV_UP * r.ewma_vol, STATIC_IV_DOWN * r.ewma_vol, r.vol)
            margins[DERIBIT_STANDARD].append(deribit_standard_margin(book, r.spot, r.vol, now))
            margins[DERIBIT_PM_STATIC].append(grid_margin(book, r.spot, ScenarioGrid.static_grid(r.vol), now,
                                                          market_id))
            margins[DERIVE_PMRM_STATIC].append(derive_pmrm_margin(book, r.spot, r.vol, now))
            margins[EWMA_SCALED].append(grid_margin(book, r.spot, ewma, now, market_id))
            margins[shipped].append(grid_margin(book, r.spot, grid, now, market_id))
        loss = np.array(losses)
        out[spec.name] = {name: MethodPath(np.array([m.initial for m in pairs]),
                                           np.array([m.maintenance for m in pairs]), loss,
                                           static_days if name == shipped else 0)
                          for name, pairs in margins.items()}
    return out


def margin_backtest(markets: Sequence[str] = ("BTC", "ETH"), start: str = OPTIONS_TEST_START, end: str | None = None,
                    cache_dir: Path = CACHE_DIR) -> MarginBacktest:
    """Every method on every standard portfolio of `markets`, opening days from `start` (the first
    walk-forward fold of the shipped shocks) to the day before `end`."""
    config = _config()
    shipped = f"{OPTIONS_PRODUCTION[0]}@{OPTIONS_PRODUCTION[1]}"
    unknown = [m for m in markets if m not in config.forecaster.markets]
    if unknown:
        raise MarginInputError(f"{shipped} has no shocks for {unknown}; it covers {list(config.forecaster.markets)}")
    shocks = walk_forward_shocks(start, end, cache_dir)
    paths, days = {}, {}
    for market in markets:
        inputs = MarketInputs.build(market, shocks[market], config)
        paths[market] = run_market(market, inputs, shipped)
        days[market] = pd.DatetimeIndex(inputs.frame.index)
    sources = {
        "spot": {m: HOURLY_FILES[m] for m in markets}, "implied_vol": {m: DVOL_FILES[m] for m in markets},
        "pricing": "Black-Scholes at the DVOL close on a flat smile, zero rate (simplification)",
        "shipped": f"{shipped} walk-forward out of sample, yearly folds from {start}, refitted from its card's "
                   "scenario config on the days before each fold",
        DERIBIT_STANDARD: "issue 11: short IM max(0.15 - OTM/U, 0.10) U + mark, MM 0.075 U + mark; longs at mark; "
                          "underlying as a Deribit future (IM 10%, MM 3%)",
        DERIVE_PMRM_STATIC: "spot 0.80-1.20 step 0.05 x vol up 0.6 / none / down 0.3; worst loss = IM = MM",
    }
    return MarginBacktest(paths, days, shipped, config.coverage, start, PORTFOLIOS, sources)
