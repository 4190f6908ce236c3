"""BlackScholes.sol against scipy over a wide grid, its no-arbitrage properties, and the grid math of
PortfolioMargin.sol against models/options.py.

Tolerances (measured here on the grid below, then widened 60-100x so another CPU's float64 rounding
never matters): normal CDF |error| <= 1e-15 (measured 2.2e-16, the float64 reference's own limit);
call and put prices |error| <= 1e-14 * (S + K) (measured 1.5e-16); call delta <= 1e-14 (6.7e-16);
vega <= 1e-14 * S * sqrt(T) (4.9e-16). Inputs are compared at their exact WAD values.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

from models import options
from models.options import ScenarioGrid, bs_call, bs_delta, bs_put, bs_vega, vol_multiplier
from options_helpers import DAY, from_wad, shocks_tuple, wad

pytestmark = pytest.mark.chain

CDF_TOLERANCE = 1e-15
PRICE_TOLERANCE = 1e-14  # of S + K
DELTA_TOLERANCE = 1e-14
VEGA_TOLERANCE = 1e-14  # of S * sqrt(T)
CHAIN_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BATCH = 150

spots = st.floats(100, 200_000)
moneyness = st.floats(0.3, 3.0)
vols = st.floats(0.05, 3.0)
taus = st.floats(1 / 8_760, 2.0)


def wide_grid() -> np.ndarray:
    """Spot scales 1 to 1e6 x moneyness 0.25-4 x vol 5%-300% x one hour to two years: 1,512 rows."""
    spots = [1.0, 3_000.0, 60_000.0, 1e6]
    moneyness = [0.25, 0.5, 0.8, 0.95, 1.0, 1.05, 1.25, 2.0, 4.0]
    vols = [0.05, 0.2, 0.5, 1.0, 2.0, 3.0]
    taus = [1 / 8_760, 1 / 365, 7 / 365, 30 / 365, 90 / 365, 1.0, 2.0]
    rows = itertools.product(spots, moneyness, vols, taus)
    return np.array([(s, s * m, v, t) for s, m, v, t in rows])


def test_norm_cdf_matches_scipy_within_tolerance(options_math):
    xs = np.concatenate([np.linspace(-12, 12, 2_401), [-9.0, -8.999, -7.0710678118654, 7.0710678118655, 0.0]])
    xs_wad = [wad(x) for x in xs]
    got = np.array(options_math.normCdfBatch(xs_wad)) / 1e18
    error = np.abs(got - ndtr(np.array(xs_wad, dtype=float) / 1e18))
    assert error.max() <= CDF_TOLERANCE, xs[int(np.argmax(error))]
    assert options_math.normCdf(wad(-9.5)) == 0 and options_math.normCdf(wad(9.5)) == 10**18


def test_norm_pdf_matches_closed_form(options_math):
    for x in (-3.0, -0.5, 0.0, 1.7):
        expected = np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
        assert from_wad(options_math.normPdf(wad(x))) == pytest.approx(expected, abs=1e-15)


def test_prices_and_greeks_match_scipy_on_wide_grid(options_math):
    rows = wide_grid()
    exact = np.round(rows * 1e18) / 1e18  # the WAD inputs the contract sees
    got = []
    for i in range(0, len(rows), BATCH):
        chunk = [[wad(x) for x in rows[i:i + BATCH, j]] for j in range(4)]
        got.append(np.array([list(column) for column in options_math.batch(*chunk)]).T / 1e18)
    call, put, delta, vega = np.vstack(got).T
    s, k, v, t = exact.T
    checks = {"call": (call, bs_call(s, k, v, t), PRICE_TOLERANCE * (s + k)),
              "put": (put, bs_put(s, k, v, t), PRICE_TOLERANCE * (s + k)),
              "delta": (delta, bs_delta(s, k, v, t, True), DELTA_TOLERANCE),
              "vega": (vega, bs_vega(s, k, v, t), VEGA_TOLERANCE * s * np.sqrt(t))}
    for name, (contract, reference, tolerance) in checks.items():
        bad = np.abs(contract - reference) > tolerance
        assert not bad.any(), (name, rows[bad][:3])


def test_put_delta_is_call_delta_minus_one(options_math):
    args = (wad(60_000), wad(55_000), wad(0.6), wad(0.1))
    assert options_math.putDelta(*args) == options_math.callDelta(*args) - 10**18


def test_zero_vol_or_time_prices_intrinsic(options_math):
    assert options_math.callPrice(wad(60_000), wad(50_000), 0, wad(1)) == wad(10_000)
    assert options_math.putPrice(wad(60_000), wad(50_000), wad(0.5), 0) == 0
    assert options_math.callDelta(wad(60_000), wad(50_000), wad(0.5), 0) == 10**18
    assert options_math.vega(wad(60_000), wad(50_000), wad(0.5), 0) == 0


def test_years_to_expiry_counts_365_day_years(options_math):
    assert options_math.yearsToExpiry(1_000, 1_000 + 365 * DAY) == 10**18
    assert options_math.yearsToExpiry(2_000, 1_000) == 0


@CHAIN_SETTINGS
@given(s=spots, m=moneyness, v=vols, t=taus)
def test_put_call_parity_holds(options_math, s, m, v, t):
    args = (wad(s), wad(s * m), wad(v), wad(t))
    call, put = options_math.callPrice(*args), options_math.putPrice(*args)
    assert call - put == args[0] - args[1]
    assert max(args[0] - args[1], 0) <= call <= args[0]


@CHAIN_SETTINGS
@given(s=spots, m=moneyness, v=vols, t=taus, bump=st.floats(1e-4, 0.2))
def test_prices_monotone_in_spot_and_vol(options_math, s, m, v, t, bump):
    k, tolerance = wad(s * m), 4  # a few units of the last (1e-18) digit of rounding
    base = (wad(s), k, wad(v), wad(t))
    up_spot = (wad(s * (1 + bump)), k, wad(v), wad(t))
    up_vol = (wad(s), k, wad(v * (1 + bump)), wad(t))
    assert options_math.callPrice(*up_spot) >= options_math.callPrice(*base) - tolerance
    assert options_math.putPrice(*up_spot) <= options_math.putPrice(*base) + tolerance
    assert options_math.callPrice(*up_vol) >= options_math.callPrice(*base) - tolerance
    assert options_math.putPrice(*up_vol) >= options_math.putPrice(*base) - tolerance


def test_grid_constants_match_reference(options_math):
    expected = [options.MARGIN_HORIZON, options.INNER_SPOT_FRACTION, options.SHORT_CONTINGENCY,
                options.MM_CONTINGENCY_FLOOR, options.REFERENCE_TENOR, options.DTE_FLOOR,
                options.SHORT_TERM_POWER, options.LONG_TERM_POWER, options.MIN_VOL_FOR_SHOCK_UP,
                options.VOL_DOWN_FLOOR, options.STATIC_SPOT_SHOCK, options.STATIC_IV_UP, options.STATIC_IV_DOWN,
                options.STATIC_REF_IV, options.SANITY["spot_down"][0], options.SANITY["spot_down"][1],
                options.SANITY["spot_up"][1], options.SANITY["iv_up"][1], options.SANITY["iv_down"][1],
                options.SANITY["ref_iv"][0], options.SANITY["ref_iv"][1]]
    seconds = {0, 4, 5}  # MARGIN_HORIZON, REFERENCE_TENOR and DTE_FLOOR are plain seconds
    got = list(options_math.gridConstants())
    assert got == [int(x) if i in seconds else wad(x) for i, x in enumerate(expected)]
    assert options.SANITY["spot_up"][0] == options.SANITY["spot_down"][0]
    assert options.SANITY["iv_up"][0] == options.SANITY["iv_down"][0] == 0


def test_scenario_masks_match_reference(options_math):
    initial, maintenance = options_math.scenarioMasks()
    bits = 1 << np.arange(options.IM_SCENARIOS.size, dtype=object)
    assert initial == int(bits[options.IM_SCENARIOS.ravel()].sum())
    assert maintenance == int(bits[options.MM_SCENARIOS.ravel()].sum())


@pytest.mark.parametrize("seconds", [60, DAY, 7 * DAY, 30 * DAY - 1, 30 * DAY, 90 * DAY, 365 * DAY])
def test_vol_multiplier_matches_reference(options_math, seconds):
    assert from_wad(options_math.volMultiplier(seconds)) == pytest.approx(vol_multiplier(seconds), rel=1e-15)


@CHAIN_SETTINGS
@given(down=st.floats(0.005, 0.5), up=st.floats(0.005, 1.0), iv_up=st.floats(0, 3), iv_down=st.floats(0, 0.9),
       ref=st.floats(0.05, 3), seconds=st.integers(1, 400 * DAY))
def test_scenario_vols_match_reference(options_math, down, up, iv_up, iv_down, ref, seconds):
    shocks = shocks_tuple(ScenarioGrid(down, up, iv_up, iv_down, ref))
    got = np.array([from_wad(v) for v in options_math.scenarioVols(shocks, seconds)])
    exact = ScenarioGrid(*(from_wad(x) for x in shocks))
    np.testing.assert_allclose(got, exact.vols(seconds), rtol=1e-14, atol=1e-17)


@pytest.mark.parametrize("name", list(options.SANITY))
def test_is_sane_bounds_match_reference(options_math, name):
    lo, hi = options.SANITY[name]
    grid = ScenarioGrid(0.08, 0.09, 0.3, 0.2, 0.55)
    for value, sane in [(lo, True), (hi, True), (hi * 1.001 + 1e-9, False)] + ([(lo * 0.999, False)] if lo else []):
        changed = ScenarioGrid(**{**grid.__dict__, name: value})
        assert options_math.isSane(shocks_tuple(changed)) == sane == changed.is_sane, (name, value)


def test_static_shocks_keep_sane_stored_ref_vol(options_math):
    assert tuple(options_math.staticShocks(wad(0.42))) == shocks_tuple(ScenarioGrid.static_grid(0.42))
    assert tuple(options_math.staticShocks(wad(5.0))) == shocks_tuple(ScenarioGrid.static_grid(None))
