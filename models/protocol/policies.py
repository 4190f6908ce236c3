"""Lending parameter policies the protocol backtest compares, and the static listing they are judged against.

A policy is anything with a `name`, the `guards` its deployment checks updates with, and
`propose(day, stored)`: the layout's values (vol, var99, es99, max_ltv, lt; fractions) it would publish
as the update of epoch `day` (computed from data up to the end of day − 1), given the values the chain
holds (`stored`, None before a first update), or None when it has nothing to publish that day.
`propose` must be a pure function of its arguments: the replay calls it twice per day (on the chain's
state and on an unguarded shadow state) to tell frozen days from the policy's own choices.

Policies here:
- `static-aave`: Aave v3 Ethereum's listing of the market's asset (`AAVE_V3`), set by governance.
- `raw-mapping`, `ewma-mapping`, `garch-mapping`: round 1's formula (models/mapping.py)
  CR = clamp(1 + 3·ES99, 1.10, 2.50), LT = clamp(1 − 2·VaR99, 0.50, 0.95), max_ltv = 1/CR, on walk-forward
  out-of-sample one-day forecasts of har-mlp 1.0.0, EWMA and GARCH(1,1), under round 1's guardrails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol

import pandas as pd

from models.baselines import VolForecast
from models.mapping import MappingConfig
from models.policy import PolicyConfig
from models.protocol.guards import ROUND1_GUARDS, Guard, Guards, LayoutGuards, NoGuards
from models.spec import LENDING


@dataclass(frozen=True)
class Stored:
    """The values the oracle holds for a market: those of the update of epoch `epoch`."""

    epoch: pd.Timestamp
    values: Mapping[str, float]


class LendingPolicy(Protocol):
    name: str
    guards: Guards

    def propose(self, day: pd.Timestamp, stored: Stored | None) -> Mapping[str, float] | None:
        """The update of epoch `day` given the stored state (see the module docstring)."""


@dataclass(frozen=True)
class Guarded:
    """A policy deployed under guards it does not declare itself."""

    policy: LendingPolicy
    guards: Guards

    @property
    def name(self) -> str:
        return self.policy.name

    def propose(self, day: pd.Timestamp, stored: Stored | None) -> Mapping[str, float] | None:
        return self.policy.propose(day, stored)


@dataclass(frozen=True)
class Listing:
    """A lending market's static listing of one collateral asset: LTV for borrows, LT, liquidation bonus."""

    max_ltv: float
    lt: float
    bonus: float
    source: str

    def __post_init__(self) -> None:
        if not (0 < self.max_ltv < self.lt < 1 and self.lt * (1 + self.bonus) < 1):
            raise ValueError(f"need 0 < max_ltv < lt and lt·(1 + bonus) < 1, got {self}")


_CHAOS_2023 = ("Chaos Labs, '[ARFC] Chaos Labs Risk Parameter Updates - Aave V3 Ethereum - 2023.05.18', "
               "https://governance.aave.com/t/arfc-chaos-labs-risk-parameter-updates-aave-v3-ethereum-2023-05-18/13128")
#: Aave v3 Ethereum (core market) listings, in force from mid-2023 to at least 2024-08 (values checked
#: against a mainnet-fork read of early 2024: Debt-Purchasing/debt-purchasing-contracts,
#: aave-debt-purchasing/docs/MAINNET_CONFIG_ANALYSIS.md, WBTC 73/78/105%, WETH 80.5/83/105%).
AAVE_V3: Mapping[str, Listing] = {
    "BTC": Listing(max_ltv=0.73, lt=0.78, bonus=0.05, source=(
        "WBTC on Aave v3 Ethereum: LTV 73%, LT 78%, bonus 5%. " + _CHAOS_2023 + "; the values stood in the "
        "'current' column of '[ARFC] Adjusting WBTC Parameters to Address BitGo Transition Risks' (2024-08), "
        "https://governance.aave.com/t/arfc-adjusting-wbtc-parameters-to-address-bitgo-transition-risks/19096")),
    "ETH": Listing(max_ltv=0.805, lt=0.83, bonus=0.05, source=(
        "WETH on Aave v3 Ethereum: LTV 80.5%, LT 83%, bonus 5%. " + _CHAOS_2023 + "; Chaos Labs '[ARFC] Risk "
        "Parameter Updates - LTV and LT Alignment' (2024-08) keeps WETH at an 83% LT, "
        "https://governance.aave.com/t/arfc-chaos-labs-risk-parameter-updates-ltv-and-lt-alignment/18997")),
}


@dataclass(frozen=True)
class StaticPolicy:
    """Constant max_ltv and lt (a governance listing publishes no forecasts)."""

    name: str
    listing: Listing
    guards: Guards = field(default_factory=NoGuards)

    def propose(self, day: pd.Timestamp, stored: Stored | None) -> Mapping[str, float]:
        return {"max_ltv": self.listing.max_ltv, "lt": self.listing.lt}


@dataclass(frozen=True)
class MappingPolicy:
    """Round 1's stateless formula on one forecaster's one-day forecasts (percent, as `VolForecast`)."""

    name: str
    forecasts: VolForecast
    mapping: MappingConfig = MappingConfig()
    guards: Guards = ROUND1_GUARDS
    _rows: dict[pd.Timestamp, dict[str, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        var99, es99 = self.forecasts.var99 / 100, self.forecasts.es99 / 100
        lt, cr = self.mapping.apply(var99, es99)
        columns = {"vol": self.forecasts.vol / 100, "var99": var99, "es99": es99, "max_ltv": 1.0 / cr, "lt": lt}
        rows = {day: {k: float(v[i]) for k, v in columns.items()} for i, day in enumerate(self.forecasts.index)}
        object.__setattr__(self, "_rows", rows)

    def propose(self, day: pd.Timestamp, stored: Stored | None) -> Mapping[str, float] | None:
        return self._rows.get(day)


def layout_guards(config: PolicyConfig) -> LayoutGuards:
    """The oracle guards a stepped policy's deployment sets (`PolicyConfig.guards`)."""
    return LayoutGuards({name: Guard(*bp) for name, bp in config.guards().items()})


@dataclass(frozen=True)
class SteppedPolicy:
    """The proved policy (`models.policy`) on a model's walk-forward forecasts: publishes the
    calendar forecasts and steps max LTV and LT from the stored state (the layout's initial state
    before a first update), rounded to the circuit's input scale as the proof reads it, on the
    calendar-free ES99 forecast."""

    name: str
    forecasts: VolForecast
    risk: VolForecast
    config: PolicyConfig
    #: fraction bits of the circuit's inputs (its manifest's `input_scale`): the state enters rounded to them
    input_scale: int
    guards: Guards = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "guards", layout_guards(self.config))
        if not self.forecasts.index.equals(self.risk.index):
            raise ValueError("forecasts and the policy's risk forecasts must cover the same days")

    def propose(self, day: pd.Timestamp, stored: Stored | None) -> Mapping[str, float] | None:
        i = self.forecasts.index.get_indexer([day])[0]
        if i < 0:
            return None
        state = dict(zip(LENDING.state, LENDING.initial_state)) if stored is None else stored.values
        unit = 2.0 ** self.input_scale
        max_ltv, lt = self.config.step(self.risk.es99[i] / 100, round(state["max_ltv"] * unit) / unit,
                                       round(state["lt"] * unit) / unit)
        return {"vol": float(self.forecasts.vol[i] / 100), "var99": float(self.forecasts.var99[i] / 100),
                "es99": float(self.forecasts.es99[i] / 100), "max_ltv": max_ltv, "lt": lt}


STATIC_POLICY = "static-aave"
RAW_POLICY = "raw-mapping"
#: Baseline mapping policies → the baseline forecaster they map (names of models.baselines).
BASELINE_MAPPINGS = {"ewma-mapping": "ewma", "garch-mapping": "garch"}


def baseline_policies(market: str, forecasts: Mapping[str, VolForecast], mapping: MappingConfig = MappingConfig(),
                      raw_model: str = "har-mlp") -> list[LendingPolicy]:
    """static-aave, today's raw mapping (of `raw_model`'s forecasts) and the EWMA and GARCH mappings of
    one market, from its walk-forward forecasts (model name → forecasts)."""
    models = {RAW_POLICY: raw_model, **BASELINE_MAPPINGS}
    policies: list[LendingPolicy] = [StaticPolicy(STATIC_POLICY, AAVE_V3[market.upper()])]
    policies += [MappingPolicy(name, forecasts[model], mapping) for name, model in models.items()]
    return policies

