"""Stateful property test of RiskOracle on the test verifier: random sequences of proved policy steps,
wrong-model values, stale policy states, replayed epochs, batches and pauses, against a Python model of
the oracle's rules (models/protocol/guards.py's integer replay of the guards, with the production
card's guards). Invariants: every outcome is the reference's (accepted, or the same custom error), the
stored values are exactly the last accepted ones and within their bounds, epochs strictly increase,
and an update that follows the policy from the stored state is never rejected (no market freezes)."""

from __future__ import annotations

import ape
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chain_helpers import (BTC, ETH, LENDING_GUARDS, START_EPOCH, TEST_BATCH_MODEL, TEST_INPUT_SCALE, TEST_MODEL,
                           at_epoch, lending, policy_step, report, test_update)
from models.protocol.guards import Guard, LayoutGuards
from models.spec import LENDING, to_fixed
from oracle.chain.deploy import wad_to_fixed

pytestmark = [pytest.mark.chain, pytest.mark.usefixtures("start_clock")]

REFERENCE = {market: LayoutGuards({name: Guard(*g) for name, g in zip(LENDING.names, guards)})
             for market, guards in LENDING_GUARDS.items()}
STATE = [LENDING.index[name] for name in LENDING.state]
#: the passed-through state may differ from the stored one by half a unit of the input scale
STATE_TOLERANCE = 1 << (LENDING.scale - TEST_INPUT_SCALE - 1)


def reference_error(last: dict[int, tuple], epochs: dict[int, int], paused: bool, markets: list[int],
                    epoch: int, rows: list[tuple[int, ...]], states: list[tuple[int, ...]]) -> str | None:
    """The oracle's rules in the contract's order: pause; per market epoch then state; then the guards
    of the whole batch."""
    if paused:
        return "EnforcedPause"
    for market, state in zip(markets, states):
        if market in epochs and epoch <= epochs[market]:
            return "EpochNotIncreasing"
        expected = [last[market][i] for i in STATE] if market in last else \
            [to_fixed(v, LENDING.scale) for v in LENDING.initial_state]
        if any(abs(proved - stored) > STATE_TOLERANCE for proved, stored in zip(state, expected)):
            return "StateMismatch"
    for market, row in zip(markets, rows):
        reason = REFERENCE[market].check(last.get(market), row)
        if reason:
            return "ParameterOutOfBounds" if "bounds" in reason else "ParameterStepTooLarge"
    return None


def test_random_update_sequences_keep_oracle_invariants(oracle, publishers, keeper, guardian, chain):
    outcomes: list[tuple[str, str | None]] = []

    class OracleMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snapshot = chain.snapshot()
            self.epoch = START_EPOCH
            self.last: dict[int, tuple[int, ...]] = {}
            self.epochs: dict[int, int] = {}
            self.history: dict[int, list[int]] = {BTC: [], ETH: []}
            self.paused = False
            at_epoch(chain, self.epoch)

        def teardown(self):
            chain.restore(self.snapshot)

        def stored_state(self, market: int) -> tuple[float, ...]:
            row = self.last.get(market)
            return LENDING.initial_state if row is None else tuple(row[i] / 2**LENDING.scale for i in STATE)

        def values(self, market: int, kind: str, es99: float, moves: list[float]) -> tuple[float, ...]:
            if kind == "policy":
                return policy_step(oracle, market, es99)
            base = self.last.get(market) or tuple(to_fixed(v, LENDING.scale) for v in lending())
            # a wrong model: moves around the stored values, often beyond a step or a bound
            return tuple(max(0.0, v / 2**LENDING.scale + m) for v, m in zip(base, moves))

        def send(self, kind: str, markets: list[int], epoch_step: int, rows: list[tuple[float, ...]],
                 stale_state: bool):
            epoch = self.epoch + epoch_step
            if epoch > self.epoch:
                self.epoch = epoch
                at_epoch(chain, epoch)  # the clock only moves forward
            reports = [report(m, epoch) for m in markets]
            states = [LENDING.initial_state if stale_state and m in self.last else self.stored_state(m)
                      for m in markets]
            fixed_rows = [tuple(to_fixed(v, LENDING.scale) for v in row) for row in rows]
            fixed_states = [tuple(to_fixed(v, LENDING.scale) for v in s) for s in states]
            expected = reference_error(self.last, self.epochs, self.paused, markets, epoch, fixed_rows, fixed_states)
            model = TEST_MODEL if len(markets) == 1 else TEST_BATCH_MODEL
            update = test_update(oracle, publishers[:2], reports, rows, model=model, state=[list(s) for s in states])
            try:
                oracle.submitUpdate(update, sender=keeper)
                outcome = None
            except ape.exceptions.ContractLogicError as error:
                outcome = type(error).__name__
            assert outcome == expected, (kind, markets, epoch, rows)
            outcomes.append((kind, outcome))
            if outcome is None:
                for market, row in zip(markets, fixed_rows):
                    self.last[market], self.epochs[market] = row, epoch
                    self.history[market].append(epoch)
            if kind == "policy" and not stale_state and not self.paused and epoch_step > 0:
                assert outcome is None, f"the policy's own step was rejected: {outcome}"

        @rule(market=st.sampled_from([BTC, ETH]), epoch_step=st.integers(-1, 2), es99=st.floats(0.0, 0.6),
              kind=st.sampled_from(["policy", "policy", "wrong"]),
              moves=st.lists(st.floats(-0.2, 0.2), min_size=5, max_size=5), stale_state=st.booleans())
        def submit_one(self, market, epoch_step, es99, kind, moves, stale_state):
            self.send(kind, [market], epoch_step, [self.values(market, kind, es99, moves)],
                      stale_state and kind == "wrong")

        @rule(epoch_step=st.integers(1, 2), es99=st.tuples(st.floats(0.0, 0.6), st.floats(0.0, 0.6)),
              wrong_eth=st.booleans(), moves=st.lists(st.floats(-0.2, 0.2), min_size=5, max_size=5))
        def submit_batch(self, epoch_step, es99, wrong_eth, moves):
            rows = [self.values(BTC, "policy", es99[0], moves),
                    self.values(ETH, "wrong" if wrong_eth else "policy", es99[1], moves)]
            self.send("batch-wrong" if wrong_eth else "policy", [BTC, ETH], epoch_step, rows, False)

        @rule()
        def toggle_pause(self):
            (oracle.unpause if self.paused else oracle.pause)(sender=guardian)
            self.paused = not self.paused

        @invariant()
        def stored_values_are_the_last_accepted_within_bounds(self):
            for market, row in self.last.items():
                values, _, epoch, _ = oracle.getParameters(market, LENDING.layout_id)
                assert tuple(wad_to_fixed(v, LENDING.scale) for v in values) == row
                assert epoch == self.epochs[market]
                assert REFERENCE[market].check(None, row) is None

        @invariant()
        def epochs_strictly_increase(self):
            for epochs in self.history.values():
                assert all(a < b for a, b in zip(epochs, epochs[1:]))

    run_state_machine_as_test(OracleMachine, settings=settings(
        max_examples=15, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
    kinds = {outcome for _, outcome in outcomes}
    assert None in kinds and len(kinds) >= 4, kinds  # accepted updates and several kinds of rejection
