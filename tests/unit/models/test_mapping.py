"""Round 1's raw mapping (the protocol backtest's "raw-mapping" reference): monotone, clamped."""

from __future__ import annotations

import numpy as np
import pytest

from models.mapping import MappingConfig

CONFIG = MappingConfig()


def test_cr_rises_and_lt_falls_with_tail_risk():
    var99 = np.linspace(0.0, 0.6, 601)
    lt, cr = CONFIG.apply(var99, 1.3 * var99)
    assert np.all(np.diff(cr) >= 0) and np.all(np.diff(lt) <= 0)
    assert cr[-1] > cr[0] and lt[-1] < lt[0]


def test_clamps_bind_at_both_ends():
    lt, cr = CONFIG.apply(np.array([0.0, 10.0]), np.array([0.0, 10.0]))
    assert cr.tolist() == [CONFIG.cr_min, CONFIG.cr_max]
    assert lt.tolist() == [CONFIG.lt_max, CONFIG.lt_min]


@pytest.mark.parametrize("kwargs", [{"cr_min": 0.9}, {"cr_min": 2.0, "cr_max": 1.5}, {"lt_max": 1.0},
                                    {"cr_es_multiplier": 0.0}])
def test_invalid_configs_are_refused(kwargs):
    with pytest.raises(ValueError):
        MappingConfig(**kwargs)
