"""Daily updates of one policy replayed through its guards, and the parameters a lending market applies.

Each UTC day d the policy proposes the update of epoch d from the state the chain holds; the guards
accept it (stored, in force from 00:00 of d) or reject it (nothing stored, the previous values stay).
An unguarded shadow run of the same policy, accepting every update, is the policy's own output: a day
is *frozen* when the stored values differ from the shadow's because of a rejection.

The lending market (`MarketRules`) reads the oracle with staleness: values observed at 00:00 of their
epoch are stale from day epoch + `staleness_days` (the contract: stale `stalenessPeriod` seconds after
the observation time; 3 days in the deployment defaults). Stale or absent values send new borrows to
the market's static fallback max LTV at once; liquidations keep the last good LT for `grace_days` more
days, then use the fallback LT.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from models.protocol.guards import Fixed
from models.protocol.policies import LendingPolicy, Listing, Stored
from models.typing import BoolArray, Float64Array

DAY = pd.Timedelta("1D")


@dataclass(frozen=True)
class MarketRules:
    """How the lending market reads the oracle (days)."""

    staleness_days: int = 3
    grace_days: int = 3

    def __post_init__(self) -> None:
        if self.staleness_days < 1 or self.grace_days < 0:
            raise ValueError(f"need staleness_days >= 1 and grace_days >= 0, got {self}")


@dataclass(frozen=True)
class Replay:
    """Per day: what happened on chain and the parameters in force at the lending market."""

    policy: str
    guards: str
    days: pd.DatetimeIndex
    submitted: BoolArray
    rejected: BoolArray
    reasons: tuple[str | None, ...]
    frozen: BoolArray
    stale: BoolArray
    fallback_lt: BoolArray
    #: max LTV for new borrows and LT for liquidations, in force from 00:00 of each day
    max_ltv: Float64Array
    lt: Float64Array
    #: decoded stored values in force (NaN before a first accepted update)
    stored: pd.DataFrame

    @cached_property
    def path(self) -> pd.DataFrame:
        return pd.DataFrame({"max_ltv": self.max_ltv, "lt": self.lt}, index=self.days)

    @cached_property
    def rejection_reasons(self) -> dict[str, int]:
        """Rejections by the output that failed first."""
        counts: dict[str, int] = {}
        for reason in self.reasons:
            if reason:
                output = reason.split(":")[0]
                counts[output] = counts.get(output, 0) + 1
        return counts


def replay(policy: LendingPolicy, days: pd.DatetimeIndex, fallback: Listing,
           rules: MarketRules = MarketRules()) -> Replay:
    """Run `policy`'s daily updates over consecutive UTC `days` through `policy.guards`."""
    if len(days) and (days.tz is None or (np.diff(days.asi8) != DAY.value).any()):
        raise ValueError("days must be consecutive UTC days")
    guards = policy.guards
    n = len(days)
    submitted, rejected, frozen = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    stale, fallback_lt = np.zeros(n, bool), np.zeros(n, bool)
    max_ltv, lt = np.empty(n), np.empty(n)
    reasons: list[str | None] = [None] * n
    stored_rows: list[dict[str, float]] = []
    chain: tuple[Fixed, Stored] | None = None
    shadow: tuple[Fixed, Stored] | None = None
    for i, day in enumerate(days):
        proposal = policy.propose(day, chain[1] if chain else None)
        if proposal is not None:
            submitted[i] = True
            fixed = guards.encode(proposal)
            reasons[i] = guards.check(chain[0] if chain else None, fixed)
            if reasons[i] is None:
                chain = fixed, Stored(day, guards.decode(fixed))
            else:
                rejected[i] = True
        own = policy.propose(day, shadow[1] if shadow else None)
        if own is not None:
            fixed = guards.encode(own)
            shadow = fixed, Stored(day, guards.decode(fixed))
        frozen[i] = (chain[0] if chain else None) != (shadow[0] if shadow else None)
        age = (day - chain[1].epoch) // DAY if chain else None
        stale[i] = age is None or age >= rules.staleness_days
        fallback_lt[i] = age is None or age >= rules.staleness_days + rules.grace_days
        max_ltv[i] = fallback.max_ltv if stale[i] else chain[1].values["max_ltv"]
        lt[i] = fallback.lt if fallback_lt[i] else chain[1].values["lt"]
        stored_rows.append(dict(chain[1].values) if chain else {})
    return Replay(policy.name, guards.name, days, submitted, rejected, tuple(reasons), frozen, stale, fallback_lt,
                  max_ltv, lt, pd.DataFrame(stored_rows, index=days))
