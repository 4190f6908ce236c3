"""On-chain guardrails replayed in integer arithmetic on the stored fixed-point values.

A guard set encodes a proposal the way the oracle stores it, decodes what it stores, and checks an
update against the previously stored values exactly as the contract does (same integers, same
inequalities, same order of outputs; the first failing output rejects the whole update).

- `LayoutGuards`: the redesigned oracle (layout 1 "lending", values vol, var99, es99, max_ltv, lt at
  scale 2^20). Per output `Guard {minBp, maxBp, maxIncreaseBp, maxDecreaseBp}` in basis points of
  the value; with v the proposed and p the stored integer, an update passes when for every output
  v·10000 ≥ minBp·2^s, v·10000 ≤ maxBp·2^s and, if p exists, v > p ⇒ (v − p)·10000 ≤ maxIncreaseBp·2^s
  and v < p ⇒ (p − v)·10000 ≤ maxDecreaseBp·2^s, a step of 0xFFFF being unlimited.
- `Round1Guards`: the round-1 oracle (contracts/libraries/Guardrails.sol and
  RiskOracle._checkGuardrails at commit 7488a49): outputs vol, var99, es99, lt, cr decoded to WAD
  (felt·1e18 >> 20); bounds min ≤ value ≤ max, then, when a value is stored, |value − previous| ≤
  maxChange (absolute) or |value − previous|·1e18 ≤ previous·maxChange (relative). CR is 1/max_ltv.
- `NoGuards`: parameters a governance vote sets (a static listing); nothing is checked.

The float a policy proposes is quantised as EZKL quantises outputs (round to nearest at the output
scale); the in-circuit value can differ from it by a unit or two, which matters only on a boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol

from models.spec import WAD, felt_to_wad

#: Layout 1 "lending" outputs in stored order and their scale (contracts/libraries/RiskLayouts.sol).
LENDING_OUTPUTS = ("vol", "var99", "es99", "max_ltv", "lt")
LENDING_SCALE = 20
#: Policy values of the layout: what a lending market acts on (also all a static listing sets).
POLICY_OUTPUTS = ("max_ltv", "lt")
BP = 10_000
UNLIMITED_STEP = 0xFFFF
#: Round-1 outputs in stored order, and the output scale of har-mlp 1.0.0 (circuits settings.json).
ROUND1_OUTPUTS = ("vol", "var99", "es99", "lt", "cr")
ROUND1_SCALE = 20

Fixed = tuple[int, ...]


def to_fixed(value: float, scale: int) -> int:
    """A non-negative value as the oracle's fixed-point integer (round half up)."""
    if not value >= 0:
        raise ValueError(f"the oracle stores non-negative values only, got {value}")
    return int(value * 2**scale + 0.5)


class Guards(Protocol):
    """How one deployment stores and checks daily updates (see the module docstring)."""

    name: str

    def encode(self, values: Mapping[str, float]) -> Fixed:
        """The stored integers of a proposal."""

    def decode(self, stored: Fixed) -> dict[str, float]:
        """The layout's values (fractions) of stored integers."""

    def check(self, previous: Fixed | None, proposed: Fixed) -> str | None:
        """None when the update passes, else why the first failing output fails."""


@dataclass(frozen=True)
class Guard:
    """One output's guard of the redesigned oracle, basis points of the value."""

    min_bp: int
    max_bp: int
    max_increase_bp: int = UNLIMITED_STEP
    max_decrease_bp: int = UNLIMITED_STEP

    def __post_init__(self) -> None:
        values = (self.min_bp, self.max_bp, self.max_increase_bp, self.max_decrease_bp)
        if any(not 0 <= v <= 0xFFFF for v in values):
            raise ValueError(f"guard fields are uint16, got {values}")
        if self.min_bp > self.max_bp or self.max_increase_bp == 0 or self.max_decrease_bp == 0:
            raise ValueError(f"empty bounds or a zero step freeze a parameter: {values}")

    def check(self, previous: int | None, value: int, scale: int) -> str | None:
        unit = 1 << scale
        if value * BP < self.min_bp * unit or value * BP > self.max_bp * unit:
            return f"out of bounds [{self.min_bp}, {self.max_bp}] bp"
        if previous is None:
            return None
        if value > previous and self.max_increase_bp != UNLIMITED_STEP \
                and (value - previous) * BP > self.max_increase_bp * unit:
            return f"increase above {self.max_increase_bp} bp"
        if value < previous and self.max_decrease_bp != UNLIMITED_STEP \
                and (previous - value) * BP > self.max_decrease_bp * unit:
            return f"decrease above {self.max_decrease_bp} bp"
        return None


@dataclass(frozen=True)
class LayoutGuards:
    """The redesigned oracle's guards of the lending layout, one per output."""

    guards: Mapping[str, Guard]
    name: str = "layout-steps"
    scale: int = LENDING_SCALE
    outputs: tuple[str, ...] = LENDING_OUTPUTS

    def __post_init__(self) -> None:
        if set(self.guards) != set(self.outputs):
            raise ValueError(f"one guard per output {self.outputs}, got {sorted(self.guards)}")

    def encode(self, values: Mapping[str, float]) -> Fixed:
        return tuple(to_fixed(values[name], self.scale) for name in self.outputs)

    def decode(self, stored: Fixed) -> dict[str, float]:
        return {name: v / 2**self.scale for name, v in zip(self.outputs, stored)}

    def check(self, previous: Fixed | None, proposed: Fixed) -> str | None:
        for i, name in enumerate(self.outputs):
            reason = self.guards[name].check(None if previous is None else previous[i], proposed[i], self.scale)
            if reason:
                return f"{name}: {reason}"
        return None


def lending_guards(max_ltv_loosen_bp: int, lt_step_bp: int, max_ltv_bounds_bp: tuple[int, int] = (1000, 9500),
                   lt_bounds_bp: tuple[int, int] = (1000, 9800), forecast_max_bp: int = 0xFFFF,
                   name: str = "layout-steps") -> LayoutGuards:
    """The lending layout's guard classes (models/spec.py): forecasts SANITY (bounds only), max_ltv
    TIGHTEN_AT_ONCE (a decrease of any size, an increase of at most the loosening step), lt STEPPED."""
    forecast = Guard(0, forecast_max_bp)
    return LayoutGuards({"vol": forecast, "var99": forecast, "es99": forecast,
                         "max_ltv": Guard(*max_ltv_bounds_bp, max_increase_bp=max_ltv_loosen_bp),
                         "lt": Guard(*lt_bounds_bp, max_increase_bp=lt_step_bp, max_decrease_bp=lt_step_bp)},
                        name=name)


@dataclass(frozen=True)
class Round1Guard:
    """One output's round-1 guard (IRiskOracle.ParameterGuard), WAD."""

    min: int
    max: int
    max_change: int
    relative: bool

    def check(self, previous: int | None, value: int) -> str | None:
        if not self.min <= value <= self.max:
            return f"out of bounds [{self.min}, {self.max}]"
        if previous is None:
            return None
        delta = value - previous if value > previous else previous - value
        passes = delta * WAD <= previous * self.max_change if self.relative else delta <= self.max_change
        return None if passes else f"change {delta} above {'relative ' if self.relative else ''}{self.max_change}"


@dataclass(frozen=True)
class Round1Guards:
    """The round-1 oracle's guardrails (five outputs including cr = 1/max_ltv, WAD)."""

    guards: Mapping[str, Round1Guard]
    name: str = "round-1"
    scale: int = ROUND1_SCALE

    def encode(self, values: Mapping[str, float]) -> Fixed:
        mapped = {**values, "cr": 1.0 / values["max_ltv"]}
        return tuple(felt_to_wad(to_fixed(mapped[name], self.scale), self.scale) for name in ROUND1_OUTPUTS)

    def decode(self, stored: Fixed) -> dict[str, float]:
        values = {name: v / WAD for name, v in zip(ROUND1_OUTPUTS, stored)}
        return {"vol": values["vol"], "var99": values["var99"], "es99": values["es99"],
                "max_ltv": 1.0 / values["cr"], "lt": values["lt"]}

    def check(self, previous: Fixed | None, proposed: Fixed) -> str | None:
        for i, name in enumerate(ROUND1_OUTPUTS):
            reason = self.guards[name].check(None if previous is None else previous[i], proposed[i])
            if reason:
                return f"{name}: {reason}"
        return None


#: DEFAULT_GUARDRAILS of oracle/chain/deploy.py at commit 7488a49 (round 1), what froze markets.
ROUND1_GUARDS = Round1Guards({
    "vol": Round1Guard(min=0, max=2 * WAD, max_change=WAD // 2, relative=True),
    "var99": Round1Guard(min=0, max=WAD, max_change=WAD // 2, relative=True),
    "es99": Round1Guard(min=0, max=WAD, max_change=WAD // 2, relative=True),
    "lt": Round1Guard(min=WAD // 4, max=95 * WAD // 100, max_change=WAD // 10, relative=False),
    "cr": Round1Guard(min=WAD, max=4 * WAD, max_change=WAD // 4, relative=False),
})


@dataclass(frozen=True)
class NoGuards:
    """Parameters a governance vote sets: stored as proposed (max_ltv and lt), never checked."""

    name: str = "governance"
    scale: int = LENDING_SCALE
    outputs: tuple[str, ...] = field(default=POLICY_OUTPUTS)

    def encode(self, values: Mapping[str, float]) -> Fixed:
        return tuple(to_fixed(values[name], self.scale) for name in self.outputs)

    def decode(self, stored: Fixed) -> dict[str, float]:
        return {name: v / 2**self.scale for name, v in zip(self.outputs, stored)}

    def check(self, previous: Fixed | None, proposed: Fixed) -> str | None:
        return None
