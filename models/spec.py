"""The risk model contract: markets, output layouts and the public-instance layout of a proof.

This is the one place these are written down. The graph's output order, the prover's decoder, the
on-chain registry (`RiskOracle.registerLayout`, fed from here by the deployment), the Solidity
constants (`contracts/libraries/RiskLayouts.sol`, generated from this module by
`scripts/gen_layouts.py`, a test checks it is current), bundles, the audit and the dashboard all read
a model version's `Layout` from here.

A layout declares, per output: its name, global parameter id, unit, kind (a forecast is published
for information and only sanity-bounded; a policy value is what a protocol acts on) and guardrail
class. Every output of a layout shares one fixed-point scale. A layout with policy state feeds the
previously published values of its `state` outputs back into the next proof.

Input tensors of a proof over K markets, each hashed by EZKL with Poseidon (one public hash each):

    window_i = [market_id, epoch, feature_1, ..., feature_F]     i = 1..K, shape [1, 2 + F]
    state    = [[prev_1 ...], ..., [prev_K ...]]                 shape [K, S], only when S > 0

`market_id` and `epoch` are not used by the network; they sit in the hashed window so the hash the
publishers sign for (market, epoch) binds the window to both. `state` holds each market's stored
values of the layout's `state` outputs (the layout's initial state before a first update); its hash
is not checked by anyone: the graph passes the state through to the outputs, where the oracle checks
it against what it stored.

Public instances (EZKL order: input hashes, then the output tensor [K, N + S] row by row):

    [hash(window_1), ..., hash(window_K), hash(state) if S > 0,
     out_1[0..N), state_1[0..S), ..., out_K[0..N), state_K[0..S)]

Each output is a fixed-point field element: value = signed(felt) / 2**scale, where signed(felt) =
felt - FIELD_MODULUS when felt > FIELD_MODULUS // 2. On chain the raw integers are stored (24 bits,
so every value is below 2**(24 - scale) = 16 at scale 20) and served in WAD:
wad = felt * 1e18 >> scale, truncated toward zero (`felt_to_wad`; the oracle accepts only
non-negative outputs, for which truncation is the floor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

FIELD_MODULUS: Final = 21888242871839275222246405745257275088548364400416034343698204186575808495617
WAD: Final = 10**18
#: Basis point (guardrails are in basis points of the value).
BP: Final = 10**-4
#: Bits the oracle stores per value.
STORED_VALUE_BITS: Final = 24
#: Leading entries of every input window that bind the signed hash, not used by the network.
META_FIELDS: Final = ("market_id", "epoch")

#: Market symbol → on-chain market id. Adding a market is adding a line here and its data source.
MARKETS: Final = {"BTC": 1, "ETH": 2}
#: Largest market id a circuit can take: the policy selects a market's constants with hat functions of
#: the id, whose intermediate |id − m| · 2^20 must fit EZKL's 2^30 range checks.
MAX_MARKET_ID: Final = 1_000
if not all(0 < mid < MAX_MARKET_ID for mid in MARKETS.values()):
    raise ValueError(f"market ids must lie in 1..{MAX_MARKET_ID - 1}")


def max_stored_value(scale: int) -> float:
    """Values the oracle can store at `scale` are below this."""
    return 2.0 ** (STORED_VALUE_BITS - scale)


class Kind(str, Enum):
    """Forecasts inform; policy values are what protocols act on."""

    FORECAST = "forecast"
    POLICY = "policy"


class GuardClass(str, Enum):
    """How an output's on-chain guardrail behaves (defaults from the model card's policy steps).

    SANITY: absolute bounds only; a change of any size passes (forecasts must never freeze a market).
    TIGHTEN_AT_ONCE: a decrease of any size passes (tightening, e.g. max LTV), an increase is bounded
        per update by the policy's loosening step.
    STEPPED: both directions bounded per update by the policy's steps (the liquidation threshold).
    """

    SANITY = "sanity"
    TIGHTEN_AT_ONCE = "tighten-at-once"
    STEPPED = "stepped"


@dataclass(frozen=True)
class Output:
    name: str
    parameter_id: int
    unit: str
    kind: Kind
    guard: GuardClass
    description: str


@dataclass(frozen=True)
class Layout:
    """What a model version publishes per market (see the module docstring)."""

    layout_id: int
    name: str
    scale: int
    outputs: tuple[Output, ...]
    #: names of the outputs fed back as policy state, in state-tensor order
    state: tuple[str, ...] = ()
    #: value of each state output before a market's first update of this layout
    initial_state: tuple[float, ...] = ()
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [o.name for o in self.outputs]
        object.__setattr__(self, "index", {n: i for i, n in enumerate(names)})
        if len(set(names)) != len(names) or len({o.parameter_id for o in self.outputs}) != len(names):
            raise ValueError(f"layout {self.name}: output names and parameter ids must be unique")
        if not set(self.state) <= set(names) or len(set(self.state)) != len(self.state):
            raise ValueError(f"layout {self.name}: state {self.state} must name distinct outputs")
        if len(self.initial_state) != len(self.state):
            raise ValueError(f"layout {self.name}: one initial value per state output")
        if any(v < 0 or v >= max_stored_value(self.scale) for v in self.initial_state):
            raise ValueError(f"layout {self.name}: initial state outside the stored range")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs)

    @property
    def parameter_ids(self) -> tuple[int, ...]:
        return tuple(o.parameter_id for o in self.outputs)

    @property
    def state_indices(self) -> tuple[int, ...]:
        return tuple(self.index[name] for name in self.state)

    @property
    def width(self) -> int:
        """Instances per market after the hashes: outputs, then the passed-through state."""
        return len(self.outputs) + len(self.state)

    def output(self, name: str) -> Output:
        return self.outputs[self.index[name]]

    def instance_count(self, k: int) -> int:
        """Number of public instances in a proof over k markets."""
        return k + (1 if self.state else 0) + k * self.width

    def split_instances(self, instances: list[int], k: int) -> "SplitInstances":
        """Input hashes, per-market output felts and per-market passed-through state felts."""
        expected = self.instance_count(k)
        if len(instances) != expected:
            raise ValueError(f"layout {self.name}: expected {expected} instances for {k} markets, "
                             f"got {len(instances)}")
        first = k + (1 if self.state else 0)
        rows = [instances[first + i * self.width: first + (i + 1) * self.width] for i in range(k)]
        n = len(self.outputs)
        return SplitInstances(hashes=list(instances[:k]), state_hash=instances[k] if self.state else None,
                              outputs=[r[:n] for r in rows], state=[r[n:] for r in rows])


@dataclass(frozen=True)
class SplitInstances:
    hashes: list[int]
    state_hash: int | None
    outputs: list[list[int]]
    state: list[list[int]]


FRACTION = "fraction (0.05 = 5%)"

LENDING: Final = Layout(
    layout_id=1, name="lending", scale=20,
    outputs=(
        Output("vol", 1, FRACTION + " per day", Kind.FORECAST, GuardClass.SANITY,
               "volatility of the next day's log return"),
        Output("var99", 2, FRACTION, Kind.FORECAST, GuardClass.SANITY,
               "one-day 99% value at risk of a long position (loss quantile)"),
        Output("es99", 3, FRACTION, Kind.FORECAST, GuardClass.SANITY,
               "one-day 99% expected shortfall of a long position"),
        Output("max_ltv", 4, FRACTION, Kind.POLICY, GuardClass.TIGHTEN_AT_ONCE,
               "maximum loan-to-value for new borrows (collateral ratio = 1 / max_ltv)"),
        Output("lt", 5, FRACTION, Kind.POLICY, GuardClass.STEPPED,
               "liquidation threshold of existing positions"),
    ),
    state=("max_ltv", "lt"),
    # a new market starts where a cautious static listing would (Aave v3-like), then moves by steps
    initial_state=(0.70, 0.78),
)

OPTIONS: Final = Layout(
    layout_id=2, name="options-margin", scale=20,
    outputs=(
        Output("spot_down", 11, FRACTION, Kind.FORECAST, GuardClass.SANITY,
               "one-day 99% quantile of the spot fall (a positive fraction of spot)"),
        Output("spot_up", 12, FRACTION, Kind.FORECAST, GuardClass.SANITY,
               "one-day 99% quantile of the spot rise"),
        Output("iv_up", 13, FRACTION, Kind.FORECAST, GuardClass.SANITY,
               "one-day 99% quantile of the rise of 30-day implied vol, relative (0.2 = iv x 1.2)"),
        Output("iv_down", 14, FRACTION, Kind.FORECAST, GuardClass.SANITY,
               "one-day 99% quantile of the fall of 30-day implied vol, relative (0.2 = iv x 0.8)"),
        Output("ref_iv", 15, "annualised fraction (0.6 = 60%)", Kind.FORECAST, GuardClass.SANITY,
               "reference 30-day implied volatility: the committed Deribit DVOL close"),
    ),
)

#: Every layout, by id; model cards name theirs.
LAYOUTS: Final = {layout.layout_id: layout for layout in (LENDING, OPTIONS)}
LAYOUTS_BY_NAME: Final = {layout.name: layout for layout in LAYOUTS.values()}


def layout_named(name: str) -> Layout:
    try:
        return LAYOUTS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS_BY_NAME)}") from None


def market_id(symbol: str) -> int:
    try:
        return MARKETS[symbol.upper()]
    except KeyError:
        raise KeyError(f"unknown market {symbol!r}; known: {', '.join(MARKETS)}") from None


def signed_felt(felt: int) -> int:
    return felt - FIELD_MODULUS if felt > FIELD_MODULUS // 2 else felt


def felt_to_wad(felt: int, scale: int) -> int:
    """Decode one output instance to WAD as RiskOracle does: signed value * 1e18 >> scale, truncated
    toward zero (the oracle rejects negative outputs, so on chain this is the floor)."""
    value = signed_felt(felt)
    sign = -1 if value < 0 else 1
    return sign * ((abs(value) * WAD) >> scale)


def to_fixed(value: float, scale: int) -> int:
    """A non-negative value as the oracle's fixed-point integer (round half up)."""
    return int(value * 2**scale + 0.5)
