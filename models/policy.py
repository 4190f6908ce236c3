"""The lending parameter policy: what a protocol acts on, proved inside the graph.

Forecasts (vol, VaR99, ES99) are published as forecasts. The policy turns the one-day tail forecast
of a weekday (`LendingModel` passes it with the calendar flags off) into the two values a lending
market acts on, stepping from the values the oracle stored last (the policy state: previous max LTV
L′ and liquidation threshold T′, public inputs the oracle checks against its storage):

    ltv* = clamp(c − a · ES99, ltv_min, ltv_max)          target max LTV for new borrows
    lt*  = clamp(d − b · ES99, lt_min, lt_max)            target liquidation threshold
    T    = clamp(lt*, T′ − lt_down, T′ + lt_up)           LT: a bounded step either way
    L    = min(ltv*, L′ + ltv_up, T − buffer)             max LTV: tightens at once, loosens by a step,
                                                          and always `buffer` below the LT

(each step less `STATE_ROUNDING`, as T′ and L′ reach the proof rounded to the circuit's input scale).

So max LTV (collateral ratio 1/L) reacts at once when risk rises and loosens by at most `ltv_up` per
update; the LT, which applies to existing positions (lowering it liquidates them), moves by at most
`lt_down`/`lt_up` per update and always stays `buffer` above the max LTV, so a position opened at max
LTV is not liquidatable by a parameter change alone until the LT has stepped down by `buffer`.
Epochs are days and an update needs a new epoch, so a step is at most one per day; after missed days
the policy still moves one step (slower to loosen, slower to lower LT; max LTV still tightens at once).

Why the previous values are inputs rather than a function of the window: a bounded step needs the
last published value, and only the oracle knows it (after a rejection or a governance override it is
not what the window alone would give). The oracle checks the passed-through state against what it
stored, so the next update always steps from the stored value and always lands within the
guardrails (which allow exactly these steps): a rejected update cannot freeze the market. Computing
the policy from the window alone (e.g. a decaying maximum over its days) would need the forecaster
evaluated once per day of history inside the circuit, about 30 times the proving work.

Each market has its own constants (`MarketPolicies`, one `PolicyConfig` per market in the card), as a
lending protocol lists each asset with its own parameters: the asset's liquidity and the protocol's
appetite set the caps, the model's risk forecast moves the values within them. Inside the graph the
market's row of constants is selected by its id, which sits in the hashed window: with the hat
functions hat_m(id) = relu(1 − |id − m|), exact 0/1 at integer ids, constants = Σ_m hat_m(id) · C_m.

Everything is ReLU, linear, and products of those: min(x, y) = x − relu(x − y),
clamp(x, lo, hi) = lo + relu(x − lo) − relu(x − hi).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np
import torch

from models.spec import BP, LENDING, MARKETS, GuardClass, market_id
from models.typing import Float64Array

#: The proof reads the stored state at the circuit's input scale (prover.circuit.PRODUCTION_PLAN: units
#: of 2^-13), up to half a unit from the stored value. The graph steps that much less than the card's
#: steps, so a change measured from the stored value never exceeds the documented step.
STATE_ROUNDING = 2.0 ** -14


@dataclass(frozen=True)
class PolicyConfig:
    """Multipliers, bounds and steps (fractions of 1). Recorded in the model version's card."""

    ltv_intercept: float = 1.0
    ltv_es_multiplier: float = 2.5
    ltv_min: float = 0.30
    ltv_max: float = 0.85
    lt_intercept: float = 1.0
    lt_es_multiplier: float = 2.0
    lt_min: float = 0.40
    lt_max: float = 0.88
    ltv_up: float = 0.01
    lt_up: float = 0.005
    lt_down: float = 0.005
    buffer: float = 0.03

    def __post_init__(self) -> None:
        if not 0 < self.ltv_min < self.ltv_max < 1 or not 0 < self.lt_min < self.lt_max < 1:
            raise ValueError(f"need 0 < min < max < 1 for ltv and lt, got {self}")
        if self.buffer <= 0 or self.lt_min - self.buffer < self.ltv_min:
            raise ValueError("need a positive buffer with lt_min - buffer >= ltv_min (max LTV stays in range)")
        if min(self.ltv_up, self.lt_up, self.lt_down) <= 2 * STATE_ROUNDING:
            raise ValueError("steps must exceed the state's rounding (a zero step freezes a parameter)")
        if self.ltv_es_multiplier <= 0 or self.lt_es_multiplier <= 0:
            raise ValueError("multipliers must be positive")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def targets(self, es99: Float64Array) -> tuple[Float64Array, Float64Array]:
        """(ltv*, lt*) for one-day ES99 forecasts (fractions)."""
        ltv = np.clip(self.ltv_intercept - self.ltv_es_multiplier * es99, self.ltv_min, self.ltv_max)
        lt = np.clip(self.lt_intercept - self.lt_es_multiplier * es99, self.lt_min, self.lt_max)
        return ltv, lt

    def step(self, es99: float, prev_ltv: float, prev_lt: float) -> tuple[float, float]:
        """The policy in float64, for reports and tests: (max LTV, LT) of one update."""
        ltv_target, lt_target = (float(v) for v in self.targets(np.asarray(es99)))
        lt = min(max(lt_target, prev_lt - (self.lt_down - STATE_ROUNDING)), prev_lt + (self.lt_up - STATE_ROUNDING))
        return min(ltv_target, prev_ltv + (self.ltv_up - STATE_ROUNDING), lt - self.buffer), lt

    def guards(self) -> dict[str, tuple[int, int, int, int]]:
        """The oracle guard of each lending output, (minBp, maxBp, maxIncreaseBp, maxDecreaseBp):
        forecasts bounds only, policy values the policy's own bounds and steps.

        Steps get 2 bp of slack: the state passes through the circuit at the input scale (within
        half a unit of 2^-13, 0.6 bp, of the stored value) and outputs round at 2^-20."""
        unlimited = 0xFFFF
        slack = 2

        def bp(x: float, up: bool) -> int:
            units = x / BP
            return int(np.ceil(units - 1e-9)) if up else int(np.floor(units + 1e-9))

        guards: dict[str, tuple[int, int, int, int]] = {}
        for output in LENDING.outputs:
            if output.guard is GuardClass.SANITY:
                # anything the oracle can store that is not negative: a one-day ES forecast passed 100%
                # after 2020-03-12 (-40%), and a forecast must still land
                guards[output.name] = (0, 0xFFFF, unlimited, unlimited)
        guards["max_ltv"] = (bp(self.ltv_min, False) - slack, bp(self.ltv_max, True) + slack,
                             bp(self.ltv_up, True) + slack, unlimited)
        guards["lt"] = (bp(self.lt_min, False) - slack, bp(self.lt_max, True) + slack,
                        bp(self.lt_up, True) + slack, bp(self.lt_down, True) + slack)
        return {name: guards[name] for name in LENDING.names}


@dataclass(frozen=True)
class MarketPolicies:
    """One `PolicyConfig` per market (symbol), the policy of a lending model version."""

    markets: Mapping[str, PolicyConfig]

    def __post_init__(self) -> None:
        unknown = set(self.markets) - set(MARKETS)
        if unknown or not self.markets:
            raise ValueError(f"policies for unknown markets {sorted(unknown)} (known: {list(MARKETS)})")

    def __getitem__(self, symbol: str) -> PolicyConfig:
        return self.markets[symbol.upper()]

    def for_market_id(self, mid: int) -> PolicyConfig:
        symbol = next((s for s, i in MARKETS.items() if i == int(mid)), None)
        if symbol is None or symbol not in self.markets:
            raise KeyError(f"no policy for market id {mid}")
        return self.markets[symbol]

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {symbol: config.to_dict() for symbol, config in self.markets.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> "MarketPolicies":
        return cls({symbol.upper(): PolicyConfig(**config) for symbol, config in data.items()})


FIELDS = tuple(f.name for f in fields(PolicyConfig))


def relu_min(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x - torch.relu(x - y)


def relu_clamp(x: torch.Tensor, lo: torch.Tensor | float, hi: torch.Tensor | float) -> torch.Tensor:
    return lo + torch.relu(x - lo) - torch.relu(x - hi)


def market_hats(ids: torch.Tensor, market_ids: torch.Tensor) -> torch.Tensor:
    """[N, 1] market ids → [N, M] hat functions relu(1 − |id − m|), exactly one-hot at integer ids."""
    distance = ids - market_ids[None, :]
    return torch.relu(1.0 - torch.relu(distance) - torch.relu(-distance))


class PolicyLayer(torch.nn.Module):
    """([N, 3] weekday forecasts, [N, 2] state (max LTV, LT), [N, 1] market ids) → [N, 2] (max LTV, LT),
    each row with its market's constants, as `PolicyConfig.step`."""

    def __init__(self, policies: MarketPolicies) -> None:
        super().__init__()
        self.policies = policies
        symbols = list(policies.markets)
        # from the card's policy, not trained: kept out of weights.pt
        self.register_buffer("market_ids", torch.tensor([float(market_id(s)) for s in symbols]), persistent=False)
        self.register_buffer("constants", torch.tensor(
            [[getattr(policies.markets[s], name) for name in FIELDS] for s in symbols]), persistent=False)

    def forward(self, forecasts: torch.Tensor, state: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        table = market_hats(ids, self.market_ids) @ self.constants
        c = {name: table[:, i:i + 1] for i, name in enumerate(FIELDS)}
        es99 = forecasts[:, 2:3]
        prev_ltv, prev_lt = state[:, 0:1], state[:, 1:2]
        ltv_target = relu_clamp(c["ltv_intercept"] - c["ltv_es_multiplier"] * es99, c["ltv_min"], c["ltv_max"])
        lt_target = relu_clamp(c["lt_intercept"] - c["lt_es_multiplier"] * es99, c["lt_min"], c["lt_max"])
        # relu: a market without a policy row (all constants zero) keeps its state rather than stepping by
        # -STATE_ROUNDING into negative values; every configured step exceeds the rounding
        down, up, ltv_up = (torch.relu(c[name] - STATE_ROUNDING) for name in ("lt_down", "lt_up", "ltv_up"))
        lt = relu_clamp(lt_target, prev_lt - down, prev_lt + up)
        ltv = relu_min(relu_min(ltv_target, prev_ltv + ltv_up), lt - c["buffer"])
        return torch.cat([ltv, lt], dim=1)


#: The shipped version's policy (tuned with `zkrisk backtest --protocol`, see docs/policy.md).
SHIPPED_POLICIES = MarketPolicies({
    "BTC": PolicyConfig(ltv_intercept=0.8522, ltv_es_multiplier=0.3879, ltv_min=0.30, ltv_max=0.7841,
                        lt_intercept=0.8935, lt_es_multiplier=0.5, lt_min=0.45, lt_max=0.7941,
                        ltv_up=0.0223, lt_up=0.0061, lt_down=0.0355, buffer=0.01),
    "ETH": PolicyConfig(ltv_intercept=0.8797, ltv_es_multiplier=0.25, ltv_min=0.30, ltv_max=0.8114,
                        lt_intercept=0.9427, lt_es_multiplier=0.5, lt_min=0.45, lt_max=0.823,
                        ltv_up=0.0283, lt_up=0.0086, lt_down=0.005, buffer=0.0116),
})
