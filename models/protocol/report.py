"""The protocol-outcome backtest: policies side by side per market over the whole history and stress windows.

For each market every policy is replayed through its guards (`chain.replay`) over the same UTC days,
and the resulting parameter path drives the same lending market on the same hourly bars
(`simulation.simulate`). Windows are "all" (every simulated day) and calendar months ("2022-11"):
a window's positions are the cohorts opened on its days, followed to their end (past the window);
its daily statistics (mean max LTV, largest one-day LT drop, rejected and frozen days...) are over
its days, the one-day changes including the step into its first day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from models.backtest import write_report
from models.data import hourly_segments
from models.mapping import MappingConfig
from models.protocol.chain import MarketRules, Replay, replay
from models.protocol.forecasts import CACHE_DIR, FORECAST_START, walk_forward_forecasts
from models.protocol.policies import AAVE_V3, LendingPolicy, Listing, baseline_policies
from models.protocol.simulation import Simulation, SimulationConfig, simulate

#: Named stress windows (UTC months): COVID crash, May 2021, the 3AC/Celsius unwind, FTX, the yen-carry
#: unwind of 2024-08-05, February 2025.
STRESS_WINDOWS = ("2020-03", "2021-05", "2022-06", "2022-11", "2024-08", "2025-02")
ALL = "all"
#: The keys every (policy, window) entry has; extras follow them.
METRIC_KEYS = ("bad_debt_per_million", "positions", "positions_with_bad_debt", "parameter_induced_liquidations",
               "mean_max_ltv", "lt_max_daily_drop", "cr_max_daily_rise", "rejected_updates", "frozen_days")


@dataclass(frozen=True)
class Window:
    name: str
    first: pd.Timestamp
    last: pd.Timestamp


def windows_for(days: pd.DatetimeIndex, months: Iterable[str]) -> list[Window]:
    """"all" and every month that overlaps `days` (a month outside the data is left out)."""
    out = [Window(ALL, days[0], days[-1])]
    for month in months:
        first = pd.Timestamp(month, tz="UTC")
        last = first + pd.offsets.MonthEnd(0)
        if first <= days[-1] and last >= days[0]:
            out.append(Window(month, max(first, days[0]), min(last, days[-1])))
    return out


@dataclass(frozen=True)
class PolicyRun:
    """One policy on one market: its chain replay and the lending market it drove."""

    replay: Replay
    simulation: Simulation

    def metrics(self, window: Window) -> dict[str, Any]:
        r, positions = self.replay, self.simulation.positions
        in_days = (r.days >= window.first) & (r.days <= window.last)
        opened = positions.loc[((positions["open_day"] >= window.first) & (positions["open_day"] <= window.last))
                               .to_numpy()]
        debt = float(opened["debt"].sum())
        bad = float(opened["bad_debt"].sum())
        idx = np.flatnonzero(in_days)
        idx = idx[idx > 0]
        lt_drop = float(np.max(r.lt[idx - 1] - r.lt[idx], initial=0.0))
        cr_rise = float(np.max(1 / r.max_ltv[idx] - 1 / r.max_ltv[idx - 1], initial=0.0))
        per_million = 1e6 / debt if debt else 0.0
        return {
            "bad_debt_per_million": bad * per_million,
            "positions": int(len(opened)),
            "positions_with_bad_debt": int((opened["bad_debt"] > 0).sum()),
            "parameter_induced_liquidations": int(opened["parameter_induced"].sum()),
            "mean_max_ltv": float(r.max_ltv[in_days].mean()),
            "lt_max_daily_drop": lt_drop,
            "cr_max_daily_rise": cr_rise,
            "rejected_updates": int(r.rejected[in_days].sum()),
            "frozen_days": int(r.frozen[in_days].sum()),
            # extras
            "days": int(in_days.sum()),
            "mean_lt": float(r.lt[in_days].mean()),
            "min_max_ltv": float(r.max_ltv[in_days].min()),
            "min_lt": float(r.lt[in_days].min()),
            "stale_days": int(r.stale[in_days].sum()),
            "fallback_lt_days": int(r.fallback_lt[in_days].sum()),
            "liquidated_positions": int((opened["liquidations"] > 0).sum()),
            "liquidated_debt_per_million": float(opened["liquidated_debt"].sum()) * per_million,
            "debt_originated": debt,
            "bad_debt": bad,
        }


@dataclass
class MarketRun:
    market: str
    listing: Listing
    runs: dict[str, PolicyRun]
    windows: list[Window]

    @cached_property
    def metrics(self) -> dict[str, dict[str, dict[str, Any]]]:
        """window → policy → metrics."""
        return {w.name: {name: run.metrics(w) for name, run in self.runs.items()} for w in self.windows}


def run_market(market: str, policies: Sequence[LendingPolicy], bars: pd.DataFrame, days: pd.DatetimeIndex,
               config: SimulationConfig = SimulationConfig(), rules: MarketRules = MarketRules(),
               months: Iterable[str] = STRESS_WINDOWS, listing: Listing | None = None) -> MarketRun:
    """Replay and simulate every policy of one market over `days`; the market's fallback and bonus are
    its static listing (Aave v3's for the asset unless `listing` is given), the same for every policy."""
    listing = listing or AAVE_V3[market.upper()]
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise ValueError(f"policy names must be unique, got {names}")
    runs = {}
    for policy in policies:
        chain = replay(policy, days, listing, rules)
        runs[policy.name] = PolicyRun(chain, simulate(bars, chain.path, listing.bonus, config))
    return MarketRun(market.upper(), listing, runs, windows_for(days, months))


@dataclass
class ProtocolBacktest:
    markets: dict[str, MarketRun]
    shipped: str | None
    config: SimulationConfig
    rules: MarketRules
    sources: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"simulation": self.config.to_dict(), "market_rules": vars(self.rules),
                               "sources": self.sources, "markets": {}}
        for symbol, market in self.markets.items():
            out["markets"][symbol] = {
                "shipped_policy": self.shipped,
                "listing": vars(market.listing),
                "guards": {name: run.replay.guards for name, run in market.runs.items()},
                "rejections_by_output": {name: run.replay.rejection_reasons for name, run in market.runs.items()},
                "windows": {w.name: {"first": str(w.first.date()), "last": str(w.last.date()),
                                     "policies": market.metrics[w.name]} for w in market.windows},
            }
        return out

    def markdown(self) -> str:
        lines = ["# Protocol-outcome backtest", "",
                 f"Cohorts at LTV fractions {list(self.config.ltv_fractions)} of the max LTV, held "
                 f"{self.config.holding_days} days; liquidations on hourly lows, filled at the next bar's low less "
                 f"square-root slippage ({self.config.slippage_coefficient} · sqrt(size / hourly quote volume)); "
                 f"close factor {self.config.close_factor}; oracle values stale after {self.rules.staleness_days} "
                 f"days, LT grace {self.rules.grace_days} days. See docs/protocol-backtest.md.", ""]
        header = ("| policy | bad debt / 1M | positions | with bad debt | param.-induced liq. | liquidated | "
                  "mean max LTV | mean LT | LT max daily drop | CR max daily rise | rejected | frozen | stale days |")
        for symbol, market in self.markets.items():
            lines += [f"## {symbol} (bonus {market.listing.bonus:.0%}, fallback max LTV {market.listing.max_ltv}, "
                      f"LT {market.listing.lt})", ""]
            for w in market.windows:
                lines += [f"### {symbol} {w.name}: {w.first.date()} → {w.last.date()}", "", header,
                          "|" + "---|" * (header.count("|") - 1)]
                for name, m in market.metrics[w.name].items():
                    label = f"**{name}** (shipped)" if name == self.shipped else name
                    lines.append(
                        f"| {label} | {m['bad_debt_per_million']:.1f} | {m['positions']} | "
                        f"{m['positions_with_bad_debt']} | {m['parameter_induced_liquidations']} | "
                        f"{m['liquidated_positions']} | {m['mean_max_ltv']:.4f} | {m['mean_lt']:.4f} | "
                        f"{m['lt_max_daily_drop']:.4f} | {m['cr_max_daily_rise']:.4f} | {m['rejected_updates']} | "
                        f"{m['frozen_days']} | {m['stale_days']} |")
                lines.append("")
        return "\n".join(lines)

    def plot(self, directory: Path) -> list[Path]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for symbol, market in self.markets.items():
            fig, axes = plt.subplots(3, 1, figsize=(13, 11))
            for name, run in market.runs.items():
                width = 1.6 if name == self.shipped else 0.9
                axes[0].plot(run.replay.days, run.replay.max_ltv, lw=width, label=name)
                axes[1].plot(run.replay.days, run.replay.lt, lw=width, label=name)
            axes[0].set_title(f"{symbol}: max LTV in force for new borrows")
            axes[1].set_title(f"{symbol}: liquidation threshold in force")
            names = list(market.runs)
            windows = [w.name for w in market.windows]
            width = 0.8 / len(names)
            for i, name in enumerate(names):
                values = [market.metrics[w][name]["bad_debt_per_million"] for w in windows]
                axes[2].bar(np.arange(len(windows)) + i * width, values, width, label=name)
            axes[2].set_xticks(np.arange(len(windows)) + 0.4 - width / 2, windows)
            axes[2].set_title(f"{symbol}: bad debt per 1,000,000 of debt originated, by window")
            for ax in axes:
                ax.legend(fontsize=8, loc="best")
            fig.tight_layout()
            path = directory / f"protocol_{symbol}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            paths.append(path)
        return paths

    def write(self, json_path: Path | None = None, markdown_path: Path | None = None,
              png_dir: Path | None = None) -> None:
        write_report(self, json_path, markdown_path)
        if png_dir:
            self.plot(png_dir)


def market_bars(market: str) -> pd.DataFrame:
    """The bundled hourly bars of `market`, its validated segments back to back (gaps stay gaps)."""
    return pd.concat(hourly_segments(market))


#: Round 1's forecaster, whose raw mapping is the "today" reference.
RAW_MODEL = ("har-mlp", "1.0.0")


def shipped_policies(model_id: str, version: str, forecasts: dict) -> dict[str, LendingPolicy]:
    """The proved policy of a lending version on its walk-forward forecasts, one per market."""
    from models.protocol.forecasts import policy_forecast_name
    from models.protocol.policies import SteppedPolicy
    from models.versions import load_version

    stored = load_version(model_id, version)
    manifest = json.loads((stored.directory / "k1" / "manifest.json").read_text())
    return {m: SteppedPolicy(f"{model_id}@{version}", forecasts[m][model_id], forecasts[m][policy_forecast_name(model_id)],
                             stored.policy[m], int(manifest["input_scale"])) for m in forecasts}


def protocol_backtest(markets: Sequence[str], model_id: str, version: str, start: str = FORECAST_START,
                      extra_policies: Mapping[str, Sequence[LendingPolicy]] | None = None,
                      config: SimulationConfig = SimulationConfig(), rules: MarketRules = MarketRules(),
                      months: Iterable[str] = STRESS_WINDOWS, cache_dir: Path = CACHE_DIR) -> ProtocolBacktest:
    """The shipped policy of the lending version `model_id@version` (on its walk-forward forecasts
    from `start`) against the baselines (static-aave, round 1's raw mapping of har-mlp 1.0.0's
    forecasts, the EWMA and GARCH mappings) and `extra_policies[market]`, on each market's bundled bars."""
    from models.versions import load_card

    mapping = MappingConfig(**load_card(*RAW_MODEL)["mapping"])
    raw = walk_forward_forecasts(*RAW_MODEL, start, cache_dir)
    shipped = shipped_policies(model_id, version, walk_forward_forecasts(model_id, version, start, cache_dir))
    out = {}
    for market in (m.upper() for m in markets):
        bars = market_bars(market)
        days = pd.date_range(pd.Timestamp(start, tz="UTC"), bars.index[-1].floor("1D"), freq="1D")
        policies = [shipped[market], *baseline_policies(market, raw[market], mapping, raw_model=RAW_MODEL[0])]
        policies += list((extra_policies or {}).get(market, ()))
        out[market] = run_market(market, policies, bars, days, config, rules, months)
    sources = {"static-aave": {m: AAVE_V3[m].source for m in out},
               "forecasts": f"walk-forward out-of-sample, yearly folds from {start}: {model_id}@{version} "
                            f"(shipped policy), {RAW_MODEL[0]}@{RAW_MODEL[1]} and the baselines (mappings)"}
    return ProtocolBacktest(out, f"{model_id}@{version}", config, rules, sources)
