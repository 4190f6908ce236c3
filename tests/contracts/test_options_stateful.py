"""Stateful property of the options engine: whatever sequence of trades, withdrawals, price moves, oracle
outages and liquidations happens, an account is never liquidatable right after its own successful trade
or withdrawal (IM >= MM and the checks use the post-trade state), cash is conserved and every series nets
to zero. Rejections are allowed only with the engine's margin and cash errors."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from chain_helpers import BTC, ETH
from models.options import bs_price
from options_helpers import DAY, SHOCKS, SPOTS, deploy_options, from_wad, sid, untraced_chain_fixtures

pytestmark = [pytest.mark.chain, pytest.mark.slow]  # a few hundred transactions with margin checks

DEPOSIT = 40_000


# This module's transactions run on an anvil without step tracing (see options_helpers).
own_chain, _function_isolation = untraced_chain_fixtures()


@pytest.fixture(scope="module")
def traders(accounts):
    return [accounts[7], accounts[8], accounts[9]]


@pytest.fixture(scope="module")
def desk(own_chain, project, owner, chain, traders):
    deployment = deploy_options(project, owner, chain_id=chain.chain_id)
    for account in traders:
        deployment.fund(account, DEPOSIT, owner)
    return deployment


def test_engine_keeps_accounts_safe_after_their_own_actions(desk, traders, owner, chain):
    start = chain.blocks.head.timestamp
    series = [(BTC, start + 7 * DAY, 60_000.0, True), (BTC, start + 7 * DAY, 57_000.0, False),
              (BTC, start + 40 * DAY, 66_000.0, True), (ETH, start + 14 * DAY, 3_000.0, False)]
    engine = desk.engine
    rejections = (engine.InsufficientMargin, engine.InsufficientCash)

    class EngineMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snapshot = chain.snapshot()
            self.spots = dict(SPOTS)
            self.refresh()

        def teardown(self):
            chain.restore(self.snapshot)

        def refresh(self):
            """Fresh prints at the current spots (a restored snapshot keeps the clock, so they age)."""
            for market, spot in self.spots.items():
                desk.set_spot(market, spot, owner)

        def assert_safe(self, account):
            assert not engine.isLiquidatable(account.address), engine.accountMargin(account.address)

        @rule(maker=st.integers(0, 2), taker=st.integers(0, 2), which=st.integers(0, len(series) - 1),
              size=st.floats(-5, 5).filter(lambda x: abs(x) >= 0.05), edge=st.floats(-0.3, 0.3))
        def trade(self, maker, taker, which, size, edge):
            if maker == taker:
                return
            market, expiry, strike, is_call = series[which]
            now = chain.blocks.head.timestamp
            mark = float(bs_price(self.spots[market], strike, SHOCKS[market]["ref_iv"], (expiry - now) / (365 * DAY),
                                  is_call))
            premium = -size * mark * (1 + edge)  # the maker pays for what it buys, off mark by `edge`
            try:
                desk.trade(traders[maker], traders[taker], sid(market, expiry, strike, is_call), size, premium,
                           now + 3_600)
            except rejections:
                return
            self.assert_safe(traders[maker])
            self.assert_safe(traders[taker])

        @rule(who=st.integers(0, 2), share=st.floats(0.5, 1.05))
        def withdraw(self, who, share):
            """Withdraw about all that IM leaves free (a little beyond it must be refused)."""
            account = traders[who]
            margin = engine.accountMargin(account.address)
            amount = int(min(margin.cash, margin.equity - margin.initialMargin) * share)
            if amount <= 0:
                return
            try:
                engine.withdraw(amount, sender=account)
            except rejections:
                return
            self.assert_safe(account)

        @rule(market=st.sampled_from([BTC, ETH]), move=st.floats(-0.25, 0.25))
        def move_spot(self, market, move):
            self.spots[market] *= 1 + move
            self.refresh()

        @rule(stale=st.booleans())
        def oracle_outage(self, stale):
            desk.source.setStale(BTC, stale, sender=owner)

        @rule(liquidator=st.integers(0, 2), share=st.floats(0.1, 1.0))
        def liquidate(self, liquidator, share):
            """The liquidator takes `share` of the largest fraction allowed of every liquidatable account."""
            for victim in traders:
                if victim == traders[liquidator]:
                    continue
                fraction = engine.maxLiquidationFraction(victim.address)
                if fraction == 0:
                    continue
                try:  # the maximum moves with theta by the next block
                    engine.liquidate(victim.address, max(int(fraction * share * 0.999), 1), sender=traders[liquidator])
                except rejections:
                    continue
                self.assert_safe(traders[liquidator])

        @invariant()
        def cash_and_positions_balance(self):
            total_cash = sum(engine.cashOf(a.address) for a in traders)
            assert total_cash == desk.token.balanceOf(engine.address)
            for market, expiry, strike, is_call in series:
                s = sid(market, expiry, strike, is_call)
                assert sum(engine.sizeOf(a.address, s) for a in traders) == 0

    EngineMachine.TestCase.settings = settings(max_examples=10, stateful_step_count=20, deadline=None,
                                               suppress_health_check=list(HealthCheck))
    EngineMachine.TestCase().runTest()
    assert from_wad(engine.cashOf(traders[0].address)) == DEPOSIT  # every example was rolled back
