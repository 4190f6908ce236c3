"""Options portfolio margin: Black-Scholes and the scenario grid of the on-chain margin engine, in floats.

The float reference of `contracts/libraries/PortfolioMargin.sol` and `BlackScholes.sol`: the service
quotes margin with it, tests compare the engine with it (tests/contracts/test_options_margin.py), and a
margin backtest can replay it over history. docs/options.md explains every number.

Grid of one market, from the five proved values of layout "options-margin" (`ScenarioGrid`):

    spot moves   x = f * spot_down (f < 0) or f * spot_up (f > 0),  f in (-1, -0.7, -0.35, 0, 0.35, 0.7, 1)
    vol levels   ref, up, down, IM up, per leg (flat smile at ref_iv), with
                 m(T) = (30d / max(T, 1d)) ** (0.3 if T < 30d else 0.13)
                 up = ref (1 + iv_up m),  down = ref max(1 - iv_down m, 0.1),  IM up = max(up, 0.5)
    every scenario revalues the leg one MARGIN_HORIZON (the proved shocks' one day) later, at T - 1d
    MM scenarios (ref, up, down) x all 7 spot points: the proved one-day 99% moves as they are
    IM scenarios the MM scenarios plus IM up x all 7 spot points

    loss(s) = sum size * (mark - value(s)), mark at T;  C = SHORT_CONTINGENCY * spot * contracts short (unsettled)
    IM = max(0, max_IM loss) + C,  MM = max(0, max_MM loss, MM_CONTINGENCY_FLOOR * C)

Interest rate zero, spot as the forward. Times are unix seconds; T in 365-day years.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterable, Mapping

import numpy as np
from scipy.special import ndtr

from models.errors import MarginInputError
from models.spec import OPTIONS
from models.typing import BoolArray, Float64Array

SECONDS_PER_YEAR: int = 365 * 86_400

#: Scenarios revalue every leg this much later: the horizon of the proved one-day shocks, so a day's time
#: decay is in the scenario loss as it is in the day's real one (CME SPAN's look-ahead time).
MARGIN_HORIZON: int = 86_400
#: Inner spot points of the grid, as fractions of the shock (and half of it), for losses that peak inside it.
INNER_SPOT_FRACTION = 0.7
#: IM per short contract of an unsettled leg, as a fraction of spot (Deribit: 0.01 per net short option).
SHORT_CONTINGENCY = 0.01
#: MM is at least this fraction of the short contingency: a short whose day of time decay offsets every
#: scenario still needs margin, a liquidation of it still pays a bonus, and IM - MM >= C / 2.
MM_CONTINGENCY_FLOOR = 0.5
#: Vol shocks scale as (REFERENCE_TENOR / max(T, DTE_FLOOR)) ** power (Deribit / Derive).
REFERENCE_TENOR: int = 30 * 86_400
DTE_FLOOR: int = 86_400
SHORT_TERM_POWER = 0.3
LONG_TERM_POWER = 0.13
#: The IM vol-up scenario is at least this vol (Deribit's min_volatility_for_shock_up).
MIN_VOL_FOR_SHOCK_UP = 0.5
#: A vol-down scenario keeps at least this fraction of the reference vol.
VOL_DOWN_FLOOR = 0.1
#: The static conservative grid (Deribit BTC portfolio margin), used when the oracle is stale, paused,
#: unreachable or out of its sanity ranges.
STATIC_SPOT_SHOCK = 0.16
STATIC_IV_UP = 0.5
STATIC_IV_DOWN = 0.25
#: Reference vol of the static grid when no sane stored one exists.
STATIC_REF_IV = 0.8
#: Sanity ranges of the proved values (inclusive).
SANITY: Mapping[str, tuple[float, float]] = {
    "spot_down": (0.005, 0.5),
    "spot_up": (0.005, 1.0),
    "iv_up": (0.0, 3.0),
    "iv_down": (0.0, 0.9),
    "ref_iv": (0.05, 3.0),
}

#: Spot point fractions of the shocks and the vol levels, in the engine's scenario order
#: (scenario s = level * len(SPOT_FRACTIONS) + point).
SPOT_FRACTIONS: tuple[float, ...] = (-1.0, -INNER_SPOT_FRACTION, -INNER_SPOT_FRACTION / 2, 0.0,
                                     INNER_SPOT_FRACTION / 2, INNER_SPOT_FRACTION, 1.0)
VOL_LEVELS: tuple[str, ...] = ("ref", "up", "down", "im_up")


#: Which (vol level, spot point) scenarios each margin takes its worst loss over: IM every one, MM all but
#: the IM up row.
IM_SCENARIOS: BoolArray = np.ones((len(VOL_LEVELS), len(SPOT_FRACTIONS)), dtype=bool)
MM_SCENARIOS: BoolArray = IM_SCENARIOS & (np.array(VOL_LEVELS) != "im_up")[:, None]


# ----------------------------------------------------------------------------- Black-Scholes

def _d1_d2(spot, strike, vol, tau):
    total = np.asarray(vol, dtype=float) * np.sqrt(tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(np.asarray(spot, dtype=float) / strike) + 0.5 * total**2) / total
    return d1, d1 - total, total


def bs_call(spot, strike, vol, tau):
    """Black-Scholes call at zero rate; the intrinsic value where vol * sqrt(tau) is zero."""
    d1, d2, total = _d1_d2(spot, strike, vol, tau)
    price = np.where(total > 0, spot * ndtr(d1) - strike * ndtr(d2), np.maximum(np.asarray(spot) - strike, 0.0))
    return np.clip(price, np.maximum(np.asarray(spot) - strike, 0.0), spot)


def bs_put(spot, strike, vol, tau):
    """By parity at zero rate: put = call - spot + strike."""
    return bs_call(spot, strike, vol, tau) - spot + strike


def bs_price(spot, strike, vol, tau, is_call):
    return np.where(is_call, bs_call(spot, strike, vol, tau), bs_put(spot, strike, vol, tau))


def bs_delta(spot, strike, vol, tau, is_call):
    """N(d1) for a call, N(d1) - 1 for a put."""
    d1, _, _ = _d1_d2(spot, strike, vol, tau)
    call = ndtr(d1)
    return np.where(is_call, call, call - 1.0)


def bs_vega(spot, strike, vol, tau):
    """Price change per 1.0 of vol: spot * phi(d1) * sqrt(tau)."""
    d1, _, _ = _d1_d2(spot, strike, vol, tau)
    return spot * np.exp(-0.5 * d1**2) / np.sqrt(2 * np.pi) * np.sqrt(tau)


# ----------------------------------------------------------------------------- the grid

def vol_multiplier(seconds_to_expiry: float) -> float:
    """m(T) = (30d / max(T, 1d)) ** p, p = 0.3 below 30 days, 0.13 from 30 days on."""
    power = SHORT_TERM_POWER if seconds_to_expiry < REFERENCE_TENOR else LONG_TERM_POWER
    return (REFERENCE_TENOR / max(seconds_to_expiry, DTE_FLOOR)) ** power


@dataclass(frozen=True)
class ScenarioGrid:
    """One market's grid, from the five proved values (layout "options-margin" output names) or static."""

    spot_down: float
    spot_up: float
    iv_up: float
    iv_down: float
    ref_iv: float
    static: bool = False

    @classmethod
    def from_shocks(cls, values: Mapping[str, float]) -> "ScenarioGrid":
        """The proved grid from {spot_down, spot_up, iv_up, iv_down, ref_iv} (no fallback applied)."""
        missing = set(SHOCK_NAMES) - set(values)
        if missing:
            raise MarginInputError(f"shocks need {', '.join(SHOCK_NAMES)}; missing {', '.join(sorted(missing))}")
        return cls(**{name: float(values[name]) for name in SHOCK_NAMES})

    @classmethod
    def static_grid(cls, stored_ref_iv: float | None = None) -> "ScenarioGrid":
        """The static grid, marking at the stored reference vol when it is sane."""
        lo, hi = SANITY["ref_iv"]
        ref = stored_ref_iv if stored_ref_iv is not None and lo <= stored_ref_iv <= hi else STATIC_REF_IV
        return cls(STATIC_SPOT_SHOCK, STATIC_SPOT_SHOCK, STATIC_IV_UP, STATIC_IV_DOWN, ref, static=True)

    @classmethod
    def select(cls, values: Mapping[str, float] | None, live: bool) -> "ScenarioGrid":
        """What the engine uses: the proved grid when the source is live (not paused, not stale) and every
        value is sane, else the static grid."""
        if values is not None and live:
            grid = cls.from_shocks(values)
            if grid.is_sane:
                return grid
        return cls.static_grid(None if values is None else values.get("ref_iv"))

    @property
    def is_sane(self) -> bool:
        return all(lo <= getattr(self, name) <= hi for name, (lo, hi) in SANITY.items())

    def spot_moves(self) -> Float64Array:
        f = np.array(SPOT_FRACTIONS)
        return np.where(f < 0, f * self.spot_down, f * self.spot_up)

    def vols(self, seconds_to_expiry: float) -> Float64Array:
        """The vols (VOL_LEVELS order) of a leg expiring in `seconds_to_expiry` > 0."""
        m = vol_multiplier(seconds_to_expiry)
        ref = self.ref_iv
        up = ref * (1 + self.iv_up * m)
        return np.array([ref, up, ref * max(1 - self.iv_down * m, VOL_DOWN_FLOOR), max(up, MIN_VOL_FOR_SHOCK_UP)])


#: The grid's inputs are the options layout's outputs, in its order (models/spec.py declares them).
SHOCK_NAMES: tuple[str, ...] = OPTIONS.names
if tuple(f.name for f in fields(ScenarioGrid) if f.name != "static") != SHOCK_NAMES:
    raise TypeError("ScenarioGrid's fields must be the options layout's outputs, in order")


# ----------------------------------------------------------------------------- portfolios

@dataclass(frozen=True)
class Position:
    """`size` contracts (negative: short) of a European option; `settlement_price` once fixed."""

    market: int
    strike: float
    expiry: int
    is_call: bool
    size: float
    settlement_price: float | None = None


@dataclass(frozen=True)
class Margin:
    mark_value: float
    initial: float
    maintenance: float

    def __add__(self, other: "Margin") -> "Margin":
        return Margin(self.mark_value + other.mark_value, self.initial + other.initial,
                      self.maintenance + other.maintenance)


def _payoff(position: Position, price) -> Float64Array:
    price = np.asarray(price, dtype=float)
    return np.maximum(price - position.strike, 0.0) if position.is_call else np.maximum(position.strike - price, 0.0)


def _values(position: Position, spot: float, grid: ScenarioGrid, now: int) -> tuple[float, Float64Array]:
    """Per-contract mark now and value one MARGIN_HORIZON later in every scenario, shape (levels, points)."""
    shape = (len(VOL_LEVELS), len(SPOT_FRACTIONS))
    spots = spot * (1 + grid.spot_moves())
    if position.expiry <= now:
        if position.settlement_price is not None:
            mark = float(_payoff(position, position.settlement_price))
            return mark, np.full(shape, mark)
        return float(_payoff(position, spot)), np.broadcast_to(_payoff(position, spots), shape).copy()
    seconds = position.expiry - now
    vols = grid.vols(seconds)
    mark = float(bs_price(spot, position.strike, vols[0], seconds / SECONDS_PER_YEAR, position.is_call))
    # a leg expiring within the horizon is worth its payoff at the scenario spot (zero total vol)
    tau_after = max(seconds - MARGIN_HORIZON, 0) / SECONDS_PER_YEAR
    values = bs_price(spots[None, :], position.strike, vols[:, None], tau_after, position.is_call)
    return mark, values


def scenario_losses(positions: Iterable[Position], spot: float, grid: ScenarioGrid, now: int) -> Float64Array:
    """Portfolio loss against its mark in every (vol level, spot point) scenario of one market."""
    losses = np.zeros((len(VOL_LEVELS), len(SPOT_FRACTIONS)))
    for position in positions:
        mark, values = _values(position, spot, grid, now)
        losses += position.size * (mark - values)
    return losses


def short_contingency(positions: Iterable[Position], spot: float) -> float:
    short = sum(-p.size for p in positions if p.size < 0 and p.settlement_price is None)
    return SHORT_CONTINGENCY * spot * short


def market_margin(positions: list[Position], spot: float, grid: ScenarioGrid, now: int) -> Margin:
    """Mark value, IM and MM of one market's positions."""
    losses = scenario_losses(positions, spot, grid, now)
    contingency = short_contingency(positions, spot)
    mark_value = 0.0
    for p in positions:
        mark_value += p.size * _values(p, spot, grid, now)[0]
    return Margin(mark_value=mark_value,
                  initial=max(0.0, float(losses[IM_SCENARIOS].max())) + contingency,
                  maintenance=max(0.0, float(losses[MM_SCENARIOS].max()), MM_CONTINGENCY_FLOOR * contingency))


def worst_scenario(losses: Float64Array, scenarios: BoolArray) -> tuple[int, int]:
    """(vol level, spot point) of the largest of `losses` among `scenarios`, the first in engine order on
    ties."""
    level, point = np.unravel_index(int(np.argmax(np.where(scenarios, losses, -np.inf))), losses.shape)
    return int(level), int(point)


@dataclass(frozen=True)
class ScenarioTable:
    """One market's grid as a risk team reads it for a book whose legs share one expiry: the spot moves
    (columns, `SPOT_FRACTIONS` order), the vol of each level at that expiry (rows, `VOL_LEVELS` order),
    the book's loss in every scenario, its margins and the scenarios that set them."""

    grid: ScenarioGrid
    seconds_to_expiry: int
    spot_moves: Float64Array
    vols: Float64Array
    losses: Float64Array
    margin: Margin
    #: the short contingency C: IM = max(0, worst IM loss) + C, MM = max(0, worst MM loss, C / 2)
    contingency: float
    worst_initial: tuple[int, int]
    worst_maintenance: tuple[int, int]

    def to_dict(self) -> dict[str, object]:
        return {"static": self.grid.static,
                "shocks": {name: getattr(self.grid, name) for name in SHOCK_NAMES},
                "seconds_to_expiry": self.seconds_to_expiry, "vol_levels": list(VOL_LEVELS),
                "spot_moves": self.spot_moves.tolist(), "vols": self.vols.tolist(), "losses": self.losses.tolist(),
                "initial_scenarios": IM_SCENARIOS.tolist(), "maintenance_scenarios": MM_SCENARIOS.tolist(),
                "mark_value": self.margin.mark_value, "initial_margin": self.margin.initial,
                "maintenance_margin": self.margin.maintenance, "short_contingency": self.contingency,
                "worst_initial": list(self.worst_initial), "worst_maintenance": list(self.worst_maintenance)}


def scenario_table(positions: list[Position], spot: float, grid: ScenarioGrid, now: int) -> ScenarioTable:
    """The grid of one market's `positions`, all live and expiring together (the vol rows are per expiry)."""
    expiries = {p.expiry for p in positions}
    if len(expiries) != 1 or min(expiries) <= now:
        raise MarginInputError(f"a scenario table needs live legs of one expiry, got expiries {sorted(expiries)}")
    seconds = expiries.pop() - now
    losses = scenario_losses(positions, spot, grid, now)
    return ScenarioTable(grid, seconds, grid.spot_moves(), grid.vols(seconds), losses,
                         market_margin(positions, spot, grid, now), short_contingency(positions, spot),
                         worst_scenario(losses, IM_SCENARIOS), worst_scenario(losses, MM_SCENARIOS))


def portfolio_margin(positions: Iterable[Position], spot: float | Mapping[int, float],
                     grid: ScenarioGrid | Mapping[int, ScenarioGrid], now: int) -> Margin:
    """Margin of a portfolio: per market on that market's grid, summed (no offsets across markets).

    `spot` and `grid` are per market id, or one value for every market."""
    by_market: dict[int, list[Position]] = {}
    for p in positions:
        by_market.setdefault(p.market, []).append(p)
    total = Margin(0.0, 0.0, 0.0)
    for market, legs in sorted(by_market.items()):
        try:
            market_spot = spot[market] if isinstance(spot, Mapping) else spot
            market_grid = grid[market] if isinstance(grid, Mapping) else grid
        except KeyError:
            raise MarginInputError(f"no spot or grid for market {market}") from None
        total = total + market_margin(legs, float(market_spot), market_grid, now)
    return total


def max_liquidation_fraction(equity: float, initial: float, maintenance: float, bonus: float) -> float:
    """The fraction of every position a liquidation may take: what restores equity to IM, given the
    liquidator's bonus of `bonus` x the MM taken over; 1 when equity is not positive; 0 when equity >= MM
    (not liquidatable)."""
    if equity >= maintenance:
        return 0.0
    if equity <= 0 or initial <= bonus * maintenance:
        return 1.0
    return min(1.0, (initial - equity) / (initial - bonus * maintenance))
