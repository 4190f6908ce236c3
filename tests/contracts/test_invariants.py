"""Stateful property test: random sequences of updates, time steps and pauses against a Python model of
the oracle's rules. Invariants: every accepted update is exactly what the reference accepts, stored
parameters are always within bounds, and each market's epochs strictly increase."""

from __future__ import annotations

import ape
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from chain_helpers import BTC, ETH, TIMING, advance, risk_update
from oracle.chain.deploy import DEFAULT_GUARDRAILS
from models.spec import OUTPUTS, WAD

pytestmark = pytest.mark.chain

GUARDS = [DEFAULT_GUARDRAILS[name] for name in OUTPUTS]
# Far from min_update_delay either way, so block-time jitter can never flip an outcome.
SHORT_STEP, LONG_STEP = 10, 2 * TIMING.min_update_delay


def reference_error(last: dict | None, epoch: int, values: list[int], elapsed: int, paused: bool) -> str | None:
    """The oracle's rules in Python, in the contract's order of checks."""
    if paused:
        return "EnforcedPause"
    if last is not None and epoch <= last["epoch"]:
        return "EpochNotIncreasing"
    if last is not None and elapsed < TIMING.min_update_delay:
        return "UpdateTooSoon"
    for p, guard in enumerate(GUARDS):
        if not guard.min <= values[p] <= guard.max:
            return "ParameterOutOfBounds"
        if last is not None:
            delta = abs(values[p] - last["values"][p])
            limit_ok = (delta * WAD <= last["values"][p] * guard.max_change if guard.relative
                        else delta <= guard.max_change)
            if not limit_ok:
                return "ParameterChangeTooLarge"
    return None


def test_random_action_sequences_keep_oracle_invariants(oracle_harness, guardian, keeper, chain):
    oracle = oracle_harness
    outcomes: list[str | None] = []

    class OracleMachine(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.snapshot = chain.snapshot()
            self.state: dict[int, dict] = {}
            self.elapsed = {BTC: 0, ETH: 0}
            self.paused = False
            self.history: dict[int, list[int]] = {BTC: [], ETH: []}

        def teardown(self):
            chain.restore(self.snapshot)

        @rule(market=st.sampled_from([BTC, ETH]), epoch_step=st.integers(-2, 3),
              moves=st.lists(st.one_of(st.floats(-0.12, 0.12), st.floats(-0.8, 0.8)),
                             min_size=len(OUTPUTS), max_size=len(OUTPUTS)),
              spread=st.floats(-0.1, 1.1))
        def submit(self, market, epoch_step, moves, spread):
            last = self.state.get(market)
            epoch = (last["epoch"] if last else 100) + epoch_step
            if last is None:  # anywhere around the bounds, sometimes outside them
                values = [max(0, int(g.min + (g.max - g.min) * spread)) for g in GUARDS]
            else:  # relative moves around the last values, sometimes beyond the change limits
                values = [max(0, int(v * (1 + m)) + (0 if v else int(m * WAD))) for v, m in zip(last["values"], moves)]
            expected = reference_error(last, epoch, values, self.elapsed[market], self.paused)
            try:
                oracle.applyUnproven(1, [risk_update(market, epoch, values)], sender=keeper)
                outcome = None
            except ape.exceptions.ContractLogicError as error:
                outcome = type(error).__name__
            assert outcome == expected
            outcomes.append(outcome)
            if outcome is None:
                self.state[market] = {"epoch": epoch, "values": values}
                self.elapsed[market] = 0
                self.history[market].append(epoch)

        @rule(long=st.booleans())
        def wait(self, long):
            step = LONG_STEP if long else SHORT_STEP
            advance(chain, step)
            self.elapsed = {m: e + step for m, e in self.elapsed.items()}

        @rule()
        def toggle_pause(self):
            (oracle.unpause if self.paused else oracle.pause)(sender=guardian)
            self.paused = not self.paused

        @invariant()
        def stored_parameters_within_bounds_and_as_accepted(self):
            for market, expected in self.state.items():
                params = oracle.getRiskParameters(market)
                stored = [params.volatility, params.valueAtRisk, params.expectedShortfall,
                          params.liquidationThreshold, params.collateralRatio]
                assert stored == expected["values"] and params.epoch == expected["epoch"]
                assert all(g.min <= v <= g.max for g, v in zip(GUARDS, stored))

        @invariant()
        def epochs_strictly_increase(self):
            for epochs in self.history.values():
                assert all(a < b for a, b in zip(epochs, epochs[1:]))

    run_state_machine_as_test(OracleMachine, settings=settings(
        max_examples=25, stateful_step_count=15, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
    # The sequences must have exercised both sides: accepted updates and several kinds of rejection.
    assert None in outcomes and len(set(outcomes)) >= 4, set(outcomes)
