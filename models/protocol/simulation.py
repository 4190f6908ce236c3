"""A lending market on real hourly bars under a daily parameter path: cohorts, liquidations, bad debt.

Inputs: hourly OHLCV bars of one market (UTC, bar open time; outage gaps stay gaps: nothing happens
without a bar, and the next bar is the next one recorded) and a daily path, per UTC day d, of the max
LTV for new borrows and the LT for liquidations in force from 00:00 of d (`chain.Replay.path`).

Mechanics (every number is a `SimulationConfig` field):
- Cohorts: at the first bar of each day d (its open price P0) one position per fraction f of
  `ltv_fractions` opens with collateral worth `collateral_notional` and debt f · max_ltv(d) ·
  notional. It is repaid in full at 00:00 of d + `holding_days` unless liquidated first. No interest,
  no top-ups: passive borrowers, the worst case for the market. A cohort opens only if its holding
  period ends before the last day of the path.
- Health factor HF = collateral · price · LT / debt, checked on each bar's low under the LT in force.
  When HF < 1 at bar t the liquidation fills at bar t + 1 (a transaction lands no earlier than the next
  bar), at that bar's low less slippage; it fills even if the price recovered (the liquidator
  committed at t). A position liquidatable at its last bar before repayment is still liquidated.
- Slippage (square-root impact): s = min(`max_slippage`, `slippage_coefficient` · sqrt(q / V)), q the
  collateral sold (repaid debt · (1 + bonus)), V the fill bar's quote volume (base volume · close).
- Close factor: "aave" (Aave v3.3): 50% of the debt while HF at the fill bar's low is ≥ 0.95, 100%
  below; "full": 100% always. The liquidator repays R and seizes R · (1 + bonus) / fill price of
  collateral; after a partial fill the position is checked again from the fill bar's low.
- Bad debt: when R · (1 + bonus) exceeds the collateral's worth, the liquidator takes all of it and
  repays collateral · fill / (1 + bonus) (Aave's rule: no liquidator acts without the bonus); the
  rest of the debt is bad debt.
- Parameter-induced liquidation: a position detected liquidatable at the first bar of a day whose LT
  fell from the previous day's, while at that bar's open price it was healthy under the previous LT,
  unhealthy under the new one, and the price was at or above its opening price (no adverse move).
  Counted once per position.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

DAY_NS = pd.Timedelta("1D").value


@dataclass(frozen=True)
class SimulationConfig:
    #: borrowers' LTVs as fractions of the max LTV in force when they open
    ltv_fractions: tuple[float, ...] = (0.50, 0.60, 0.70, 0.80, 0.90, 0.95, 1.00)
    #: collateral value of each position at opening, in the debt (quote) currency
    collateral_notional: float = 1_000_000.0
    holding_days: int = 30
    #: s = coefficient · sqrt(size / hourly quote volume): 10% for selling one hour's whole volume
    slippage_coefficient: float = 0.1
    max_slippage: float = 0.5
    close_factor: Literal["aave", "full"] = "aave"
    #: Aave v3: the close factor is 100% below this health factor, 50% at or above it
    full_close_below_hf: float = 0.95
    partial_close_factor: float = 0.5

    def __post_init__(self) -> None:
        if not self.ltv_fractions or any(not 0 < f <= 1 for f in self.ltv_fractions):
            raise ValueError(f"ltv_fractions must lie in (0, 1], got {self.ltv_fractions}")
        if self.holding_days < 1 or self.collateral_notional <= 0:
            raise ValueError("holding_days and collateral_notional must be positive")
        if self.slippage_coefficient < 0 or not 0 <= self.max_slippage < 1:
            raise ValueError("need slippage_coefficient >= 0 and 0 <= max_slippage < 1")
        if self.close_factor not in ("aave", "full") or not 0 < self.partial_close_factor <= 1:
            raise ValueError(f"close_factor is 'aave' or 'full' with a partial factor in (0, 1], got {self}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ltv_fractions": list(self.ltv_fractions)}

    def slippage(self, size: float, quote_volume: float) -> float:
        if quote_volume <= 0:
            return self.max_slippage
        return min(self.max_slippage, self.slippage_coefficient * float(np.sqrt(size / quote_volume)))


@dataclass(frozen=True)
class Simulation:
    """Positions (one row each) and liquidation fills (one row each) of one run."""

    config: SimulationConfig
    path: pd.DataFrame
    bonus: float
    positions: pd.DataFrame
    fills: pd.DataFrame


POSITION_COLUMNS = ("open_day", "open_price", "ltv", "collateral", "debt", "liquidations", "liquidated_debt",
                    "bad_debt", "parameter_induced")
FILL_COLUMNS = ("position", "detected", "filled", "fill_price", "slippage", "repaid", "seized", "insolvent")


class _Market:
    """The bar arrays one run needs, aligned to the path's days."""

    def __init__(self, bars: pd.DataFrame, path: pd.DataFrame) -> None:
        first = path.index[0].value
        end = first + len(path) * DAY_NS
        ts = bars.index.asi8
        keep = (ts >= first) & (ts < end)
        self.ts = ts[keep]
        self.open = bars["open"].to_numpy(np.float64)[keep]
        self.low = bars["low"].to_numpy(np.float64)[keep]
        self.quote_volume = (bars["volume"] * bars["close"]).to_numpy(np.float64)[keep]
        self.day = (self.ts - first) // DAY_NS
        self.path_lt = path["lt"].to_numpy(np.float64)
        self.path_max_ltv = path["max_ltv"].to_numpy(np.float64)
        self.lt = self.path_lt[self.day]
        self.low_lt = self.low * self.lt
        #: first bar at or after 00:00 of each day (and of the day after the last)
        self.day_start = np.searchsorted(self.ts, first + np.arange(len(path) + 1) * DAY_NS)

    def has_bar(self, day: int) -> bool:
        start = self.day_start[day]
        return start < len(self.ts) and self.day[start] == day

    def next_detection(self, start: int, end: int, collateral: float, debt: float) -> int | None:
        """First bar in [start, end) whose low makes HF < 1."""
        if start >= end:
            return None
        hits = self.low_lt[start:end] * collateral < debt
        return start + int(hits.argmax()) if hits.any() else None

    def parameter_induced(self, t: int, open_day: int, open_price: float, collateral: float, debt: float) -> bool:
        day = int(self.day[t])
        if t != self.day_start[day] or day <= open_day:
            return False
        before, after, price = self.path_lt[day - 1], self.path_lt[day], self.open[t]
        return bool(after < before and price >= open_price and price * collateral * before >= debt
                    and price * collateral * after < debt)


def simulate(bars: pd.DataFrame, path: pd.DataFrame, bonus: float,
             config: SimulationConfig = SimulationConfig()) -> Simulation:
    """Run the cohorts of `config` on `bars` under the daily `path` (columns max_ltv, lt)."""
    if not 0 <= bonus < 1:
        raise ValueError(f"liquidation bonus must lie in [0, 1), got {bonus}")
    market = _Market(bars, path)
    fractions = np.asarray(config.ltv_fractions, dtype=np.float64)
    positions: list[tuple[Any, ...]] = []
    fills: list[tuple[Any, ...]] = []
    for day in range(len(path) - config.holding_days):
        if not market.has_bar(day):
            continue
        start, end = int(market.day_start[day]), int(market.day_start[day + config.holding_days])
        price = market.open[start]
        collateral = config.collateral_notional / price
        debts = fractions * market.path_max_ltv[day] * config.collateral_notional
        hits = market.low_lt[start:end][None, :] * collateral < debts[:, None]
        for fraction_debt, row in zip(debts, hits):
            record = [path.index[day], price, fraction_debt / config.collateral_notional, collateral, fraction_debt,
                      0, 0.0, 0.0, False]
            if row.any():
                _liquidate(market, config, bonus, len(positions), start + int(row.argmax()), end, day, record, fills)
            positions.append(tuple(record))
    frame = pd.DataFrame(positions, columns=list(POSITION_COLUMNS))
    fill_frame = pd.DataFrame(fills, columns=list(FILL_COLUMNS))
    return Simulation(config, path, bonus, frame, fill_frame)


def _liquidate(market: _Market, config: SimulationConfig, bonus: float, position: int, detected: int, end: int,
               open_day: int, record: list[Any], fills: list[tuple[Any, ...]]) -> None:
    """Fill liquidations from the first detection until the position is healthy, closed or repaid."""
    open_price, collateral, debt = record[1], record[3], record[4]
    t: int | None = detected
    while t is not None:
        if not record[8] and market.parameter_induced(t, open_day, open_price, collateral, debt):
            record[8] = True
        f = t + 1
        if f >= len(market.ts):
            break  # no bar left to fill in: the position stays open at the end of the data
        low = market.low[f]
        health = collateral * low * market.lt[f] / debt
        factor = 1.0 if config.close_factor == "full" or health < config.full_close_below_hf \
            else config.partial_close_factor
        repay = factor * debt
        slip = config.slippage(repay * (1 + bonus), market.quote_volume[f])
        fill = low * (1 - slip)
        seize = repay * (1 + bonus) / fill
        insolvent = seize >= collateral
        if insolvent:
            seize, repay = collateral, collateral * fill / (1 + bonus)
        fills.append((position, pd.Timestamp(market.ts[t], tz="UTC"), pd.Timestamp(market.ts[f], tz="UTC"), fill,
                      slip, repay, seize, insolvent))
        record[5] += 1
        record[6] += repay
        collateral -= seize
        debt -= repay
        if insolvent:
            record[7] = debt
            return
        if debt <= 0:
            return
        t = market.next_detection(f, end, collateral, debt)

