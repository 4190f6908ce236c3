"""LendingMarket, the reference consumer: borrows sized by the oracle's max LTV, liquidations below its LT
with a bonus, sanity checks on the oracle's values with a fallback, and a grace period at the last good
LT when the oracle is stale or paused (the fallback applies to new borrows only, capped at LT − buffer).

Oracle values are set with `applyGovernanceUpdate`, which stores any value (no guardrails): the
market's sanity checks see values no proved policy would publish. The stateful test drives the
proved path (policy steps through `submitUpdate`) mixed with such overrides.
"""

from __future__ import annotations

import ape
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from chain_helpers import (BTC, DAY, PRODUCTION_CARD, START_EPOCH, TIMING, advance, apply_governance, at_epoch, fixed,
                           lending, policy_step, report, submit, wad)
from lending_helpers import BONUS, BUFFER, FALLBACK_LT, FALLBACK_LTV, GRACE, MAX_PRICE_AGE, PRICE, deploy_market, \
    deploy_tokens, set_price
from models.spec import LENDING, felt_to_wad

pytestmark = [pytest.mark.chain, pytest.mark.usefixtures("start_clock")]

EPOCH = START_EPOCH
ORACLE, FALLBACK = 0, 1  # ILendingMarket.Source
#: the absolute bounds of BTC's guards (the production card's): an override beyond them is stored, but
#: the policy's next step from it (bounded per epoch) could not land inside and would be refused
GUARD_BOUNDS = {name: (low / 1e4, high / 1e4)
                for name, (low, high, *_) in PRODUCTION_CARD["guards_bp"]["BTC"].items()}


@pytest.fixture(scope="module")
def borrower(accounts):
    return accounts[7]


@pytest.fixture(scope="module")
def liquidator(accounts):
    return accounts[8]


@pytest.fixture(scope="module")
def tokens(project, owner, oracle, publishers, keeper, guardian, borrower, liquidator):
    # every fixture of a wider scope this module uses is requested here, so it exists before this
    # module's first snapshot (Ape's isolation otherwise rebases its snapshots)
    return deploy_tokens(project, owner)


@pytest.fixture(scope="module")
def market(project, oracle, owner, tokens, borrower, liquidator):
    collateral, debt, _ = tokens
    lending_market = deploy_market(project, oracle, owner, tokens)
    debt.mint(lending_market.address, wad(10_000_000), sender=owner)
    collateral.mint(borrower.address, wad(10), sender=owner)
    collateral.approve(lending_market.address, 2**256 - 1, sender=borrower)
    lending_market.depositCollateral(wad(1), sender=borrower)
    debt.mint(liquidator.address, wad(1_000_000), sender=owner)
    debt.approve(lending_market.address, 2**256 - 1, sender=liquidator)
    debt.approve(lending_market.address, 2**256 - 1, sender=borrower)
    return lending_market


@pytest.fixture(autouse=True)
def fresh_price(start_clock, tokens, owner):
    """A fresh print at PRICE after the clock is set (an older print would be in the future)."""
    set_price(tokens, owner, PRICE)


def set_oracle(oracle, owner, publishers, max_ltv: float, lt: float, epoch: int = EPOCH):
    """The oracle's BTC max LTV and LT, observed at `epoch`'s start."""
    return apply_governance(oracle, owner, publishers[:2], [report(BTC, epoch)], [lending(max_ltv=max_ltv, lt=lt)])


def wad_of(x: float) -> int:
    """The WAD the oracle serves for `x` (stored at 2^-20)."""
    return felt_to_wad(fixed(x), LENDING.scale)


def wait_until(chain, timestamp: int) -> None:
    """Mine a block at `timestamp`: the oracle ages, the price (MAX_PRICE_AGE is a month) does not."""
    advance(chain, timestamp - chain.blocks.head.timestamp)


# ---------------------------------------------------------------- deployment

@pytest.mark.parametrize("fallback", [
    dict(fallback_ltv=0), dict(fallback_lt=wad(1.01)), dict(fallback_ltv=wad(0.58)),  # LT < max LTV + buffer
    dict(fallback_lt=wad(0.96), fallback_ltv=wad(0.9), bonus=wad(0.05)),  # (1 + bonus) * LT > 1
], ids=["zero-ltv", "lt-above-one", "no-buffer", "bonus-times-lt"])
def test_constructor_unsafe_fallback_reverts_InvalidFallback(project, oracle, owner, tokens, fallback):
    with ape.reverts(project.LendingMarket.InvalidFallback):
        deploy_market(project, oracle, owner, tokens, **fallback)


def test_constructor_bonus_times_lt_exactly_one_is_accepted(project, oracle, owner, tokens):
    lending_market = deploy_market(project, oracle, owner, tokens, fallback_lt=wad(0.8), bonus=wad(0.25))
    assert lending_market.LIQUIDATION_BONUS() == wad(0.25)


@pytest.mark.parametrize("what", ["collateral", "feed"])
def test_constructor_unsupported_decimals_reverts_UnsupportedToken(project, oracle, owner, tokens, what):
    odd = project.TestPriceFeed.deploy(8 if what == "collateral" else 19, 1, sender=owner)  # 8-decimal "token"
    with ape.reverts(project.LendingMarket.UnsupportedToken, token=odd.address):
        deploy_market(project, oracle, owner, tokens, **{what: odd})


# ---------------------------------------------------------------- borrows

def test_borrow_sized_by_oracle_max_ltv(market, oracle, owner, publishers, borrower):
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    max_ltv = wad_of(0.70)
    assert tuple(market.borrowParameters()) == (max_ltv, ORACLE)
    limit = wad(PRICE) * max_ltv // 10**18
    tx = market.borrow(limit, sender=borrower)
    event = tx.events.filter(market.Borrowed)[0]
    assert (event.amount, event.maxLtv, event.source) == (limit, max_ltv, ORACLE)
    with ape.reverts(market.InsufficientCollateral, debt=limit + 1, allowed=limit):
        market.borrow(1, sender=borrower)
    assert not market.isLiquidatable(borrower.address)


def test_borrowParameters_without_oracle_data_use_fallback(market):
    assert tuple(market.borrowParameters()) == (FALLBACK_LTV, FALLBACK)
    assert tuple(market.liquidationParameters()) == (FALLBACK_LT, FALLBACK)


@pytest.mark.parametrize("max_ltv,lt", [(0.76, 0.78), (0.80, 0.97), (0.70, 1.20), (0.0, 0.78)],
                         ids=["no-buffer", "bonus-times-lt", "lt-above-one", "zero-ltv"])
def test_insane_oracle_values_fall_back_for_borrows_and_liquidations(market, oracle, owner, publishers, max_ltv, lt):
    set_oracle(oracle, owner, publishers, max_ltv=max_ltv, lt=lt)
    assert tuple(market.liquidationParameters()) == (FALLBACK_LT, FALLBACK)
    assert tuple(market.borrowParameters()) == (FALLBACK_LTV, FALLBACK)


def test_borrowParameters_stale_oracle_fallback_capped_at_lt_minus_buffer(market, oracle, owner, publishers, chain,
                                                                           tokens):
    set_oracle(oracle, owner, publishers, max_ltv=0.40, lt=0.45)
    wait_until(chain, EPOCH * DAY + TIMING.staleness_period + 1)
    lt = wad_of(0.45)
    assert tuple(market.liquidationParameters()) == (lt, ORACLE)
    assert tuple(market.borrowParameters()) == (lt - BUFFER, FALLBACK)  # below the fallback's 0.5


# ---------------------------------------------------------------- grace period

def test_stale_oracle_keeps_last_good_lt_through_grace_period_then_falls_back(market, oracle, owner, publishers,
                                                                             borrower, chain, tokens):
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    market.borrow(wad(40_000), sender=borrower)  # healthy at 0.78 (46,800), liquidatable at 0.6 (36,000)
    observed = EPOCH * DAY
    wait_until(chain, observed + TIMING.staleness_period + 1)
    assert oracle.isStale(BTC, 1)
    assert tuple(market.borrowParameters()) == (FALLBACK_LTV, FALLBACK)
    assert tuple(market.liquidationParameters()) == (wad_of(0.78), ORACLE)
    wait_until(chain, observed + TIMING.staleness_period + GRACE)
    assert not market.isLiquidatable(borrower.address)
    wait_until(chain, observed + TIMING.staleness_period + GRACE + 1)
    assert tuple(market.liquidationParameters()) == (FALLBACK_LT, FALLBACK)
    assert market.isLiquidatable(borrower.address)


def test_paused_oracle_keeps_liquidating_at_last_good_lt(market, oracle, owner, publishers, guardian, borrower,
                                                         liquidator, tokens):
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    market.borrow(wad(40_000), sender=borrower)
    oracle.pause(sender=guardian)
    assert tuple(market.borrowParameters()) == (FALLBACK_LTV, FALLBACK)
    assert tuple(market.liquidationParameters()) == (wad_of(0.78), ORACLE)
    assert not market.isLiquidatable(borrower.address)  # a pause alone liquidates no one
    with ape.reverts(market.NotLiquidatable, account=borrower.address):
        market.liquidate(borrower.address, wad(1_000), sender=liquidator)
    set_price(tokens, owner, 51_000)  # a real price move still liquidates: 51,000 * 0.78 = 39,780
    tx = market.liquidate(borrower.address, wad(1_000), sender=liquidator)
    event = tx.events.filter(market.Liquidated)[0]
    assert (event.liquidationThreshold, event.source) == (wad_of(0.78), ORACLE)
    oracle.unpause(sender=guardian)
    assert tuple(market.borrowParameters()) == (wad_of(0.70), ORACLE)


# ---------------------------------------------------------------- liquidations, withdrawals, repayments

def test_liquidate_below_lt_seizes_with_bonus(market, oracle, owner, publishers, borrower, liquidator, tokens):
    collateral = tokens[0]
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    market.borrow(wad(41_000), sender=borrower)
    set_price(tokens, owner, 52_000)  # 52,000 * 0.78 = 40,560 < 41,000
    assert market.isLiquidatable(borrower.address)
    before = collateral.balanceOf(liquidator.address)
    tx = market.liquidate(borrower.address, wad(10_000), sender=liquidator)
    seized = wad(10_000) * (10**18 + BONUS) // wad(52_000)
    assert collateral.balanceOf(liquidator.address) - before == seized
    event = tx.events.filter(market.Liquidated)[0]
    assert (event.seizedCollateral, event.liquidationThreshold, event.source) == (seized, wad_of(0.78), ORACLE)
    assert tuple(market.positionOf(borrower.address)) == (wad(1) - seized, wad(31_000))


def test_liquidate_healthy_position_reverts_NotLiquidatable(market, oracle, owner, publishers, borrower, liquidator):
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    market.borrow(wad(40_000), sender=borrower)
    with ape.reverts(market.NotLiquidatable, account=borrower.address):
        market.liquidate(borrower.address, wad(1_000), sender=liquidator)


def test_liquidate_more_than_debt_reverts_RepayExceedsDebt(market, oracle, owner, publishers, borrower, liquidator):
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    market.borrow(wad(1_000), sender=borrower)
    with ape.reverts(market.RepayExceedsDebt, debt=wad(1_000), amount=wad(1_001)):
        market.liquidate(borrower.address, wad(1_001), sender=liquidator)


def test_withdrawCollateral_breaking_max_ltv_reverts_InsufficientCollateral(market, oracle, owner, publishers,
                                                                            borrower):
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    market.borrow(wad(PRICE / 2) * wad_of(0.70) // 10**18, sender=borrower)  # what 0.5 collateral allows
    market.withdrawCollateral(wad(0.5), sender=borrower)
    with ape.reverts(market.InsufficientCollateral):
        market.withdrawCollateral(1, sender=borrower)


def test_withdrawCollateral_over_balance_reverts_InsufficientCollateralBalance(market, borrower):
    with ape.reverts(market.InsufficientCollateralBalance, available=wad(1), requested=wad(2)):
        market.withdrawCollateral(wad(2), sender=borrower)


def test_repay_by_anyone_and_over_debt_reverts_RepayExceedsDebt(market, oracle, owner, publishers, borrower,
                                                               liquidator):
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    market.borrow(wad(1_000), sender=borrower)
    tx = market.repay(borrower.address, wad(400), sender=liquidator)
    assert tx.events.filter(market.Repaid)[0].payer == liquidator.address
    assert market.positionOf(borrower.address).debt == wad(600)
    with ape.reverts(market.RepayExceedsDebt, debt=wad(600), amount=wad(601)):
        market.repay(borrower.address, wad(601), sender=liquidator)


@pytest.mark.parametrize("call", ["depositCollateral", "withdrawCollateral", "borrow", "repay", "liquidate"])
def test_zero_amount_reverts_ZeroAmount(market, borrower, call):
    args = (0,) if call in ("depositCollateral", "withdrawCollateral", "borrow") else (borrower.address, 0)
    with ape.reverts(market.ZeroAmount):
        getattr(market, call)(*args, sender=borrower)


def test_borrow_stale_price_reverts_StalePrice(market, oracle, owner, publishers, borrower, chain, tokens):
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    updated_at = tokens[2].latestRoundData()[3]
    advance(chain, MAX_PRICE_AGE + 1)
    with ape.reverts(market.StalePrice, updatedAt=updated_at):
        market.borrow(1, sender=borrower)


@pytest.mark.parametrize("answer", [0, -1])
def test_borrow_non_positive_price_reverts_InvalidPrice(market, oracle, owner, publishers, borrower, tokens, answer):
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    tokens[2].setAnswer(answer, sender=owner)
    with ape.reverts(market.InvalidPrice, answer=answer):
        market.borrow(1, sender=borrower)


# ---------------------------------------------------------------- stateful invariant

def test_position_is_never_liquidatable_right_after_its_own_borrow(market, oracle, owner, keeper, publishers,
                                                                   guardian, borrower, tokens, chain):
    """Random sequences of proved policy steps, governance overrides (insane values included), price
    moves, time (the oracle going stale and past the grace period), pauses, borrows, withdrawals and
    repayments: whenever a borrow or a withdrawal succeeds, the position is not liquidatable."""
    outcomes: list[str] = []

    class LendingMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snapshot = chain.snapshot()
            self.epoch = EPOCH
            self.price = float(PRICE)
            self.paused = False
            at_epoch(chain, self.epoch)
            set_price(tokens, owner, self.price)

        def teardown(self):
            chain.restore(self.snapshot)

        def next_epoch(self):
            self.epoch = max(self.epoch, chain.blocks.head.timestamp // DAY) + 1
            at_epoch(chain, self.epoch)
            set_price(tokens, owner, self.price)

        @precondition(lambda self: not self.paused)
        @rule(es99=st.floats(0.01, 0.45))
        def policy_update(self, es99):
            self.next_epoch()
            submit(oracle, keeper, publishers[:2], [report(BTC, self.epoch)], [policy_step(oracle, BTC, es99)])
            outcomes.append("policy")

        @precondition(lambda self: not self.paused)
        # within the guards' bounds (the policy steps from what is stored and must land), sane or not
        @rule(max_ltv=st.floats(*GUARD_BOUNDS["max_ltv"]), lt=st.floats(*GUARD_BOUNDS["lt"]))
        def governance_override(self, max_ltv, lt):
            self.next_epoch()
            set_oracle(oracle, owner, publishers, max_ltv=max_ltv, lt=lt, epoch=self.epoch)
            outcomes.append("override")

        @rule(move=st.floats(-0.25, 0.25))
        def price_move(self, move):
            self.price = min(max(self.price * (1 + move), 1_000.0), 1_000_000.0)
            set_price(tokens, owner, self.price)

        @rule(hours=st.sampled_from([1, 30, 80, 130]))
        def wait(self, hours):
            set_price(tokens, owner, self.price)
            advance(chain, hours * 3_600)

        @rule()
        def toggle_pause(self):
            (oracle.unpause if self.paused else oracle.pause)(sender=guardian)
            self.paused = not self.paused

        @rule(fraction=st.floats(0.05, 1.2))
        def borrow(self, fraction):
            max_ltv, _ = market.borrowParameters()
            position = market.positionOf(borrower.address)
            room = market.collateralValue(borrower.address) * max_ltv // 10**18 - position.debt
            amount = max(1, int(max(room, 0) * fraction))
            try:
                market.borrow(amount, sender=borrower)
            except market.InsufficientCollateral:
                outcomes.append("refused")
                return
            outcomes.append("borrowed")
            assert not market.isLiquidatable(borrower.address)

        @rule(fraction=st.floats(0.01, 0.6))
        def withdraw(self, fraction):
            amount = max(1, int(market.positionOf(borrower.address).collateral * fraction))
            try:
                market.withdrawCollateral(amount, sender=borrower)
            except market.InsufficientCollateral:
                return
            assert not market.isLiquidatable(borrower.address)

        @rule(fraction=st.floats(0.1, 1.0))
        def repay(self, fraction):
            debt = market.positionOf(borrower.address).debt
            if debt:
                market.repay(borrower.address, max(1, int(debt * fraction)), sender=borrower)

        @invariant()
        def borrows_stay_a_buffer_below_the_lt_in_force(self):
            max_ltv, _ = market.borrowParameters()
            lt, _ = market.liquidationParameters()
            assert max_ltv + BUFFER <= lt

    run_state_machine_as_test(LendingMachine, settings=settings(
        max_examples=12, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
    assert {"borrowed", "policy", "override"} <= set(outcomes), set(outcomes)


# ---------------------------------------------------------------- liquidation-probability view

@pytest.fixture
def risk_view(project, market, oracle, owner):
    from models.liquidation import LiquidationModel
    from models.versions import PRODUCTION, load_card

    model = LiquidationModel.from_card(load_card(*PRODUCTION))
    view = project.LiquidationRiskView.deploy(market.address, oracle.address, BTC, wad(model.vol_scale),
                                              wad(model.nu), sender=owner)
    return view, model


def test_liquidationProbability_matches_the_python_model_for_the_position(risk_view, market, oracle, owner,
                                                                          publishers, borrower):
    """The view reads the position, the market's LT and the oracle's vol, and answers what
    models/liquidation.py does for that health factor (the library's tolerance: 1e-3)."""
    view, model = risk_view
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    market.borrow(wad(40_000), sender=borrower)
    health = PRICE * wad_of(0.78) / 10**18 / 40_000
    vol = oracle.getParameters(BTC, LENDING.layout_id)[0][LENDING.index["vol"]] / 10**18
    for hours in (1, 24, 168):
        probability, on_chain_health = view.liquidationProbability(borrower.address, hours)
        assert on_chain_health / 10**18 == pytest.approx(health, rel=1e-12)
        assert abs(probability / 10**18 - float(model.probability(health, hours, vol))) <= 1e-3
    assert view.liquidationProbability(owner.address, 24) == (0, 2**256 - 1)  # no debt, no liquidation


def test_liquidationProbability_out_of_range_horizon_reverts_HorizonOutOfRange(risk_view, borrower):
    view, _ = risk_view
    for hours in (0, 169):
        with ape.reverts(view.HorizonOutOfRange, horizonHours=hours):
            view.liquidationProbability(borrower.address, hours)


def test_liquidationProbability_stale_forecast_reverts_NoFreshForecast(risk_view, oracle, owner, publishers,
                                                                       borrower, chain):
    view, _ = risk_view
    set_oracle(oracle, owner, publishers, max_ltv=0.70, lt=0.78)
    wait_until(chain, EPOCH * DAY + TIMING.staleness_period + 1)
    with ape.reverts(view.NoFreshForecast, marketId=BTC):
        view.liquidationProbability(borrower.address, 24)
