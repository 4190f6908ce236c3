"""Round 1's stateless mapping forecasts → risk parameters, kept as the protocol backtest's
"raw-mapping" reference (har-mlp 1.0.0's card records it). The proved policy is `models.policy`.

With horizon forecasts in fractions (VaR99 and ES99 of the loss over the liquidation horizon):

    CR = clamp(1 + cr_es_multiplier · ES99,   cr_min, cr_max)       minimum collateral ratio
    LT = clamp(1 − lt_var_multiplier · VaR99, lt_min, lt_max)       liquidation threshold

Higher tail risk (stress) raises CR and lowers LT; calm markets lower CR and raise LT, always within
the clamps. With lt_var_multiplier < cr_es_multiplier and ES ≥ VaR, the liquidation threshold stays
above the maximum loan-to-value 1/CR before the clamps bind, leaving a buffer between borrowing
and liquidation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class MappingConfig:
    cr_es_multiplier: float = 3.0
    cr_min: float = 1.10
    cr_max: float = 2.50
    lt_var_multiplier: float = 2.0
    lt_min: float = 0.50
    lt_max: float = 0.95

    def __post_init__(self) -> None:
        if not (1.0 <= self.cr_min < self.cr_max):
            raise ValueError(f"need 1 <= cr_min < cr_max, got {self.cr_min}, {self.cr_max}")
        if not (0.0 < self.lt_min < self.lt_max < 1.0):
            raise ValueError(f"need 0 < lt_min < lt_max < 1, got {self.lt_min}, {self.lt_max}")
        if self.cr_es_multiplier <= 0 or self.lt_var_multiplier <= 0:
            raise ValueError("multipliers must be positive")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def apply(self, var99: np.ndarray, es99: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The formula in numpy, for reports and tests: returns (lt, cr)."""
        cr = np.clip(1.0 + self.cr_es_multiplier * es99, self.cr_min, self.cr_max)
        lt = np.clip(1.0 - self.lt_var_multiplier * var99, self.lt_min, self.lt_max)
        return lt, cr
