"""The proved lending policy: tightens at once, moves LT by bounded steps, keeps the buffer, and the
graph (torch, per-market constants selected by market id) computes exactly `PolicyConfig.step`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models.policy import STATE_ROUNDING, SHIPPED_POLICIES, MarketPolicies, PolicyConfig, PolicyLayer, market_hats
from prover.circuit import PRODUCTION_PLAN
from models.spec import MARKETS

CONFIG = PolicyConfig(ltv_intercept=1.1, ltv_es_multiplier=2.0, ltv_min=0.3, ltv_max=0.8, lt_intercept=1.1,
                      lt_es_multiplier=1.5, lt_min=0.45, lt_max=0.83, ltv_up=0.01, lt_up=0.005, lt_down=0.02,
                      buffer=0.02)
states = st.tuples(st.floats(0.3, 0.8), st.floats(0.45, 0.83)).filter(lambda s: s[1] - s[0] >= 0.02)
risk = st.floats(0.0, 1.5)


@given(es99=risk, state=states)
def test_step_bounds_every_move(es99, state):
    ltv, lt = CONFIG.step(es99, *state)
    assert lt - state[1] <= CONFIG.lt_up + 1e-12 and state[1] - lt <= CONFIG.lt_down + 1e-12
    assert ltv - state[0] <= CONFIG.ltv_up + 1e-12
    assert lt - ltv >= CONFIG.buffer - 1e-12
    ltv_target, _ = CONFIG.targets(np.asarray(es99))
    assert ltv <= ltv_target + 1e-12  # never above the target: tightening is immediate


def test_max_ltv_tightens_at_once_and_loosens_by_steps():
    calm = (0.78, 0.82)
    ltv, _ = CONFIG.step(0.40, *calm)
    assert ltv == pytest.approx(float(CONFIG.targets(np.asarray(0.40))[0]))  # the full move down in one update
    path = [calm[0] - 0.2]
    lt = calm[1]
    for _ in range(5):
        ltv, lt = CONFIG.step(0.05, path[-1], lt)
        path.append(ltv)
    assert np.allclose(np.diff(path), CONFIG.ltv_up - STATE_ROUNDING)  # up by one step a day


def test_lt_moves_by_bounded_steps_both_ways():
    ltv, lt = CONFIG.step(1.0, 0.6, 0.8)
    assert lt == pytest.approx(0.8 - CONFIG.lt_down + STATE_ROUNDING)
    ltv, lt = CONFIG.step(0.0, 0.6, 0.7)
    assert lt == pytest.approx(0.7 + CONFIG.lt_up - STATE_ROUNDING)


@given(es99=risk, state=states)
def test_a_step_from_the_stored_state_stays_within_the_card_step(es99, state):
    """The proof steps from the stored values rounded to the input scale; measured from the stored
    values themselves the change is still within the card's steps."""
    unit = 2.0 ** PRODUCTION_PLAN.input_scale
    assert 1 / (2 * unit) <= STATE_ROUNDING
    ltv, lt = CONFIG.step(es99, *(round(v * unit) / unit for v in state))
    assert state[1] - lt <= CONFIG.lt_down + 1e-12 and lt - state[1] <= CONFIG.lt_up + 1e-12
    assert ltv - state[0] <= CONFIG.ltv_up + 1e-12


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(MARKETS)), risk, states), min_size=1, max_size=8))
def test_graph_equals_the_numpy_step_for_each_market(rows):
    policies = MarketPolicies({"BTC": CONFIG, "ETH": PolicyConfig(ltv_max=0.82, lt_max=0.86, buffer=0.03)})
    layer = PolicyLayer(policies).double()
    forecasts = torch.tensor([[0.0, 0.0, es] for _, es, _ in rows], dtype=torch.float64)
    state = torch.tensor([s for _, _, s in rows], dtype=torch.float64)
    ids = torch.tensor([[float(MARKETS[m])] for m, _, _ in rows], dtype=torch.float64)
    got = layer(forecasts, state, ids).numpy()
    want = np.array([policies[m].step(es, *s) for m, es, s in rows])
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_market_hats_are_exactly_one_hot_at_integer_ids():
    ids = torch.tensor([[1.0], [2.0], [3.0]])
    hats = market_hats(ids, torch.tensor([1.0, 2.0]))
    assert hats.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]


def test_guards_admit_the_policy_steps_and_nothing_more():
    guards = CONFIG.guards()
    assert guards["vol"] == (0, 0xFFFF, 0xFFFF, 0xFFFF)  # forecasts: bounds only, never a step
    _, _, up, down = guards["max_ltv"]
    assert down == 0xFFFF and up * 1e-4 >= CONFIG.ltv_up and up * 1e-4 <= CONFIG.ltv_up + 3e-4
    lo, hi, lt_up, lt_down = guards["lt"]
    assert lt_down * 1e-4 >= CONFIG.lt_down and lt_up * 1e-4 >= CONFIG.lt_up
    assert lo * 1e-4 <= CONFIG.lt_min and hi * 1e-4 >= CONFIG.lt_max


@pytest.mark.parametrize("kwargs", [{"ltv_min": 0.9}, {"lt_max": 1.0}, {"ltv_up": 0.0}, {"lt_down": 0.0},
                                    {"buffer": 0.0}, {"lt_min": 0.31, "buffer": 0.05}, {"ltv_es_multiplier": 0.0}])
def test_invalid_configs_are_refused(kwargs):
    with pytest.raises(ValueError):
        PolicyConfig(**kwargs)


def test_the_shipped_policy_covers_every_market():
    assert set(SHIPPED_POLICIES.markets) == set(MARKETS)
    assert MarketPolicies.from_dict(SHIPPED_POLICIES.to_dict()) == SHIPPED_POLICIES


def test_a_market_without_a_policy_row_keeps_its_lt_and_publishes_no_negative_value():
    layer = PolicyLayer(SHIPPED_POLICIES).double()
    unknown = float(max(MARKETS.values()) + 5)
    out = layer(torch.tensor([[0.0, 0.0, 0.03]], dtype=torch.float64), torch.tensor([[0.7, 0.78]], dtype=torch.float64),
                torch.tensor([[unknown]], dtype=torch.float64)).numpy()[0]
    assert out[0] == 0.0 and out[1] == pytest.approx(0.78)
