"""Model-side exceptions.

    ModelError
    ├── DataQualityError            bad market data, named by market, timestamp and rule
    │   ├── MissingValueError       NaN or infinite values
    │   ├── NonPositivePriceError   a price <= 0
    │   ├── OutOfOrderError         timestamps not strictly increasing (or duplicated)
    │   ├── GapError                a missing bar in a regular series
    │   ├── StalePriceError         the same print repeated for too many bars
    │   ├── SpikeError              a single-print spike beyond the robust (Hampel/MAD) bound
    │   └── InsufficientDataError   fewer bars than the window needs
    ├── ModelVersionError           a model version is missing or inconsistent on disk
    └── MarginInputError            an options margin request lacks a market's spot, grid or shocks
"""

from __future__ import annotations


class ModelError(Exception):
    """Root of every models error."""


class DataQualityError(ModelError):
    """Market data failed a validation rule; never silently repaired."""

    rule = "data-quality"

    def __init__(self, market: str, timestamp: object, detail: str) -> None:
        super().__init__(f"{market} @ {timestamp}: [{self.rule}] {detail}")
        self.market, self.timestamp, self.detail = market, timestamp, detail


class MissingValueError(DataQualityError):
    rule = "missing-value"


class NonPositivePriceError(DataQualityError):
    rule = "non-positive-price"


class OutOfOrderError(DataQualityError):
    rule = "out-of-order"


class GapError(DataQualityError):
    rule = "gap"


class StalePriceError(DataQualityError):
    rule = "stale-price"


class SpikeError(DataQualityError):
    rule = "spike"


class InsufficientDataError(DataQualityError):
    rule = "insufficient-data"


class ModelVersionError(ModelError):
    pass


class MarginInputError(ModelError):
    pass
