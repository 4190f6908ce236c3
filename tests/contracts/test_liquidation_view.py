"""LiquidationProbability.sol against models/liquidation.py (the reference) over the grid of health
factors, horizons and vols the API serves, and its refusals."""

from __future__ import annotations

import itertools

import ape
import numpy as np
import pytest

from models.liquidation import HEALTH_FACTORS, HORIZONS_HOURS, LiquidationModel
from models.versions import PRODUCTION, load_card

pytestmark = pytest.mark.chain

WAD = 10**18
#: Wallace's normal transform of the t CDF is within 5e-4 for nu >= 4; P doubles it.
TOLERANCE = 1e-3
MODEL = LiquidationModel.from_card(load_card(*PRODUCTION))


@pytest.fixture(scope="module")
def liquidation_math(project, owner):
    return project.LiquidationMathHarness.deploy(sender=owner)


def on_chain(harness, model: LiquidationModel, h: float, vol: float, hours: int) -> float:
    return harness.firstPassage(int(h * WAD), int(vol * WAD), hours, int(model.vol_scale * WAD),
                                int(model.nu * WAD)) / WAD


@pytest.mark.parametrize("model", [MODEL, LiquidationModel(nu=4.0, vol_scale=1.0), LiquidationModel(nu=60.0, vol_scale=0.8)],
                         ids=["shipped", "nu4", "nu60"])
def test_firstPassage_matches_the_python_model(liquidation_math, model):
    worst = 0.0
    for h, hours, vol in itertools.product(HEALTH_FACTORS, HORIZONS_HOURS, (0.01, 0.03, 0.08)):
        want = float(model.probability(h, hours, vol))
        worst = max(worst, abs(on_chain(liquidation_math, model, h, vol, hours) - want))
    assert worst <= TOLERANCE


def test_firstPassage_is_one_at_or_below_health_one_and_falls_with_health(liquidation_math):
    assert on_chain(liquidation_math, MODEL, 1.0, 0.03, 24) == 1.0
    assert on_chain(liquidation_math, MODEL, 0.7, 0.03, 24) == 1.0
    path = [on_chain(liquidation_math, MODEL, h, 0.03, 24) for h in (1.01, 1.05, 1.2, 1.5, 3.0)]
    assert all(a > b for a, b in zip(path, path[1:]))
    assert np.isclose(path[-1], 0.0, atol=1e-9)


def test_firstPassage_grows_with_horizon_and_vol(liquidation_math):
    by_hours = [on_chain(liquidation_math, MODEL, 1.1, 0.03, t) for t in HORIZONS_HOURS]
    by_vol = [on_chain(liquidation_math, MODEL, 1.1, v, 24) for v in (0.01, 0.02, 0.05, 0.1)]
    assert all(a < b for a, b in zip(by_hours, by_hours[1:]))
    assert all(a < b for a, b in zip(by_vol, by_vol[1:]))


@pytest.mark.parametrize("scale, nu", [(0, 7 * WAD), (WAD, 3 * WAD)])
def test_firstPassage_bad_calibration_reverts_InvalidTailParameters(liquidation_math, scale, nu):
    with ape.reverts(liquidation_math.InvalidTailParameters, volScale=scale, nu=nu):
        liquidation_math.firstPassage(2 * WAD, WAD // 100, 24, scale, nu)
