"""The consumer: a lending market sizing borrows with CR, liquidating below LT, falling back when the
oracle is stale or paused."""

from __future__ import annotations

import ape
import pytest

from chain_helpers import BTC, PLACEHOLDER_MODEL, TIMING, advance, risk_update, values_within_guardrails, wad
from models.spec import OUTPUTS

pytestmark = pytest.mark.chain

PRICE = 60_000  # debt units per collateral unit
CR, LT = wad(1.25), wad(0.8)
FALLBACK_CR, FALLBACK_LT, BONUS = wad(2.0), wad(0.5), wad(0.05)
MAX_PRICE_AGE = 7 * 86_400


@pytest.fixture(scope="module")
def market(project, oracle, owner, publisher_a, keeper, guardian):
    # keeper and guardian are requested here so every session fixture exists before this module's
    # snapshot: Ape's isolation otherwise has to rebase the snapshots mid-module.
    collateral = project.TestToken.deploy("Wrapped BTC", "WBTC", sender=owner)
    debt = project.TestToken.deploy("USD Coin", "USD", sender=owner)
    feed = project.TestPriceFeed.deploy(8, PRICE * 10**8, sender=owner)
    lending = project.LendingMarket.deploy(oracle.address, BTC, collateral.address, debt.address, feed.address,
                                           MAX_PRICE_AGE, FALLBACK_CR, FALLBACK_LT, BONUS, sender=owner)
    debt.mint(lending.address, wad(1_000_000), sender=owner)
    collateral.mint(publisher_a.address, wad(10), sender=owner)
    collateral.approve(lending.address, 2**256 - 1, sender=publisher_a)
    lending.depositCollateral(wad(1), sender=publisher_a)
    return lending, collateral, debt, feed


@pytest.fixture
def borrower(publisher_a):
    return publisher_a


@pytest.fixture
def liquidator(keeper, market, owner):
    _, _, debt, _ = market
    debt.mint(keeper.address, wad(100_000), sender=owner)
    debt.approve(market[0].address, 2**256 - 1, sender=keeper)
    return keeper


def set_oracle(oracle, owner, cr=CR, lt=LT, epoch=20_000):
    values = values_within_guardrails()
    values[OUTPUTS.index("cr")], values[OUTPUTS.index("lt")] = cr, lt
    oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [risk_update(BTC, epoch, values)], sender=owner)


def test_borrow_sized_by_oracle_collateral_ratio(market, oracle, owner, borrower):
    lending = market[0]
    set_oracle(oracle, owner)
    assert tuple(lending.riskParameters()) == (CR, LT, False)
    limit = wad(PRICE) * 10**18 // CR  # 48,000
    lending.borrow(limit, sender=borrower)
    with ape.reverts(lending.InsufficientCollateral):
        lending.borrow(1, sender=borrower)


def test_borrow_stale_oracle_uses_conservative_fallback(market, borrower):
    lending = market[0]  # no oracle update at all: stale
    assert tuple(lending.riskParameters()) == (FALLBACK_CR, FALLBACK_LT, True)
    with ape.reverts(lending.InsufficientCollateral):
        lending.borrow(wad(30_000) + 1, sender=borrower)
    tx = lending.borrow(wad(30_000), sender=borrower)
    assert tx.events.filter(lending.Borrowed)[0].usedFallback


def test_risk_parameters_after_staleness_period_fall_back(market, oracle, owner, chain):
    set_oracle(oracle, owner)
    advance(chain, TIMING.staleness_period + 1)
    assert tuple(market[0].riskParameters()) == (FALLBACK_CR, FALLBACK_LT, True)


def test_risk_parameters_paused_oracle_fall_back(market, oracle, owner, guardian):
    set_oracle(oracle, owner)
    oracle.pause(sender=guardian)
    assert tuple(market[0].riskParameters()) == (FALLBACK_CR, FALLBACK_LT, True)


def test_liquidate_below_liquidation_threshold_seizes_with_bonus(market, oracle, owner, borrower, liquidator):
    lending, collateral, _, feed = market
    set_oracle(oracle, owner)
    lending.borrow(wad(48_000), sender=borrower)
    assert not lending.isLiquidatable(borrower.address)  # 60,000 * 0.8 = 48,000: not below
    feed.setAnswer(59_000 * 10**8, sender=owner)  # 47,200 < 48,000
    assert lending.isLiquidatable(borrower.address)
    before = collateral.balanceOf(liquidator.address)
    tx = lending.liquidate(borrower.address, wad(10_000), sender=liquidator)
    seized = wad(10_000) * (10**18 + BONUS) // wad(59_000)
    assert collateral.balanceOf(liquidator.address) - before == seized
    event = tx.events.filter(lending.Liquidated)[0]
    assert (event.liquidationThreshold, event.usedFallback) == (LT, False)
    assert tuple(lending.positionOf(borrower.address)) == (wad(1) - seized, wad(38_000))


def test_liquidate_healthy_position_reverts_not_liquidatable(market, oracle, owner, borrower, liquidator):
    lending = market[0]
    set_oracle(oracle, owner)
    lending.borrow(wad(40_000), sender=borrower)
    with ape.reverts(lending.NotLiquidatable, account=borrower.address):
        lending.liquidate(borrower.address, wad(1_000), sender=liquidator)


def test_liquidate_stale_oracle_uses_fallback_threshold(market, oracle, owner, borrower, liquidator, chain):
    lending = market[0]
    set_oracle(oracle, owner)
    lending.borrow(wad(40_000), sender=borrower)  # healthy at LT 0.8 (48,000 >= 40,000)
    market[3].setAnswer(PRICE * 10**8, sender=owner)
    advance(chain, TIMING.staleness_period + 1)
    market[3].setAnswer(PRICE * 10**8, sender=owner)  # the price stays fresh, the oracle does not
    assert lending.isLiquidatable(borrower.address)  # fallback LT 0.5: 30,000 < 40,000
    tx = lending.liquidate(borrower.address, wad(1_000), sender=liquidator)
    assert tx.events.filter(lending.Liquidated)[0].usedFallback


def test_withdraw_collateral_breaking_ratio_reverts_insufficient_collateral(market, oracle, owner, borrower):
    lending = market[0]
    set_oracle(oracle, owner)
    lending.borrow(wad(24_000), sender=borrower)  # needs 30,000 of collateral at CR 1.25
    lending.withdrawCollateral(wad(0.5), sender=borrower)
    with ape.reverts(lending.InsufficientCollateral):
        lending.withdrawCollateral(1, sender=borrower)


def test_withdraw_collateral_over_balance_reverts(market, borrower):
    with ape.reverts(market[0].InsufficientCollateralBalance, available=wad(1), requested=wad(2)):
        market[0].withdrawCollateral(wad(2), sender=borrower)


def test_repay_over_debt_reverts_repay_exceeds_debt(market, oracle, owner, borrower, liquidator):
    lending = market[0]
    set_oracle(oracle, owner)
    lending.borrow(wad(1_000), sender=borrower)
    lending.repay(borrower.address, wad(400), sender=liquidator)
    assert lending.positionOf(borrower.address).debt == wad(600)
    with ape.reverts(lending.RepayExceedsDebt, debt=wad(600), amount=wad(601)):
        lending.repay(borrower.address, wad(601), sender=liquidator)


@pytest.mark.parametrize("call", ["depositCollateral", "withdrawCollateral", "borrow"])
def test_zero_amount_reverts(market, borrower, call):
    with ape.reverts(market[0].ZeroAmount):
        getattr(market[0], call)(0, sender=borrower)


def test_borrow_stale_price_reverts(market, oracle, owner, borrower, chain):
    set_oracle(oracle, owner)
    advance(chain, MAX_PRICE_AGE + 1)
    with ape.reverts(market[0].StalePrice):
        market[0].borrow(1, sender=borrower)


def test_borrow_non_positive_price_reverts_invalid_price(market, oracle, owner, borrower):
    set_oracle(oracle, owner)
    market[3].setAnswer(0, sender=owner)
    with ape.reverts(market[0].InvalidPrice, answer=0):
        market[0].borrow(1, sender=borrower)


@pytest.mark.parametrize("fallback", [(wad(0.9), FALLBACK_LT, BONUS), (FALLBACK_CR, 0, BONUS),
                                      (FALLBACK_CR, wad(1.1), BONUS), (FALLBACK_CR, FALLBACK_LT, wad(1))])
def test_constructor_unsafe_fallback_reverts_invalid_fallback(project, oracle, owner, market, fallback):
    _, collateral, debt, feed = market
    with ape.reverts(project.LendingMarket.InvalidFallback):
        project.LendingMarket.deploy(oracle.address, BTC, collateral.address, debt.address, feed.address,
                                     MAX_PRICE_AGE, *fallback, sender=owner)
