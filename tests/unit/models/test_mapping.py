"""The forecasts → (LT, CR) mapping: monotone in stress, clamped, and identical in torch and numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.mapping import MappingConfig, ParameterMapping

CONFIG = MappingConfig()


def mapped(var99: np.ndarray, es99: np.ndarray, config: MappingConfig = CONFIG) -> tuple[np.ndarray, np.ndarray]:
    forecasts = torch.as_tensor(np.column_stack([np.zeros_like(var99), var99, es99]), dtype=torch.float64)
    out = ParameterMapping(config)(forecasts).numpy()
    return out[:, 3], out[:, 4]


def test_cr_rises_and_lt_falls_with_tail_risk():
    var99 = np.linspace(0.0, 0.6, 601)
    lt, cr = mapped(var99, 1.3 * var99)
    assert np.all(np.diff(cr) >= 0) and np.all(np.diff(lt) <= 0)
    assert cr[-1] > cr[0] and lt[-1] < lt[0]  # strictly moves between the clamps
    calm, stress = mapped(np.array([0.03]), np.array([0.04])), mapped(np.array([0.15]), np.array([0.2]))
    assert stress[1][0] > calm[1][0] and stress[0][0] < calm[0][0]


def test_clamps_bind_at_both_ends():
    lt, cr = mapped(np.array([0.0, 10.0]), np.array([0.0, 10.0]))
    assert cr.tolist() == [CONFIG.cr_min, CONFIG.cr_max]
    assert lt.tolist() == [CONFIG.lt_max, CONFIG.lt_min]


def test_configurable_clamps_and_numpy_formula_agree():
    config = MappingConfig(cr_es_multiplier=4.0, cr_min=1.2, cr_max=2.0, lt_var_multiplier=1.5, lt_min=0.6, lt_max=0.9)
    var99 = np.linspace(0, 0.4, 41)
    es99 = 1.25 * var99
    lt, cr = mapped(var99, es99, config)
    np.testing.assert_allclose(np.column_stack(config.apply(var99, es99)), np.column_stack([lt, cr]), atol=1e-15)
    assert cr.min() == 1.2 and cr.max() == 2.0 and lt.min() == 0.6 and lt.max() == 0.9


def test_liquidation_threshold_stays_above_max_ltv_before_clamps():
    var99 = np.linspace(0.01, 0.12, 12)
    lt, cr = mapped(var99, 1.3 * var99)
    assert np.all(lt > 1 / cr)


@pytest.mark.parametrize("kwargs", [{"cr_min": 0.9}, {"cr_min": 2.0, "cr_max": 1.5}, {"lt_max": 1.0},
                                    {"cr_es_multiplier": 0.0}])
def test_invalid_configs_are_refused(kwargs):
    with pytest.raises(ValueError):
        MappingConfig(**kwargs)
