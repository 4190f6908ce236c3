"""OptionsMarginEngine: cash, signed trades under IM/MM, liquidation, settlement, the static grid when the
oracle cannot be used, every revert with its custom error, and the engine's margin against
models/options.py (tolerance as in test_options_margin.py: 1e-12 of gross notional)."""

from __future__ import annotations

import ape
import pytest
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from chain_helpers import BTC, ETH, advance, wad
from models.options import STATIC_REF_IV, ScenarioGrid, max_liquidation_fraction
from options_helpers import (DAY, FEED_DECIMALS, LIQUIDATION_BONUS, MAX_PRICE_AGE, SHOCKS, SPOTS, deploy_options,
                             from_wad, grid_from_chain, sid, untraced_chain_fixtures)

pytestmark = pytest.mark.chain

MARGIN_TOLERANCE = 1e-12
WAD = 10**18


# This module's transactions run on an anvil without step tracing (see options_helpers).
own_chain, _function_isolation = untraced_chain_fixtures()


@pytest.fixture(scope="module")
def maker(accounts):
    return accounts[7]


@pytest.fixture(scope="module")
def taker(accounts):
    return accounts[8]


@pytest.fixture(scope="module")
def liquidator(accounts):
    return accounts[9]


@pytest.fixture(scope="module")
def desk(own_chain, project, owner, chain, maker, taker, liquidator, attacker):
    deployment = deploy_options(project, owner, chain_id=chain.chain_id)
    for account in (maker, taker, liquidator):
        deployment.fund(account, 1_000_000, owner)
    return deployment


@pytest.fixture
def engine(desk):
    return desk.engine


@pytest.fixture(autouse=True)
def fresh_prices(desk, owner):
    """Every test starts from fresh feed prints: a reverted snapshot keeps anvil's clock moving."""
    refresh_feeds(desk, owner)


def now(chain) -> int:
    return chain.blocks.head.timestamp


def week_call(chain, strike: float = 60_000, market: int = BTC, is_call: bool = True) -> int:
    return sid(market, now(chain) + 7 * DAY, strike, is_call)


def deadline(chain) -> int:
    return now(chain) + 3_600


def refresh_feeds(desk, owner, spots=SPOTS) -> None:
    for market, spot in spots.items():
        desk.set_spot(market, spot, owner)


def assert_margin_matches_reference(desk, account, chain) -> None:
    margin = desk.engine.accountMargin(account.address)
    reference = desk.reference_margin(account, now(chain))
    gross = sum(abs(size) for _, size in desk.engine.positionsOf(account.address)) / WAD * SPOTS[BTC]
    tolerance = MARGIN_TOLERANCE * max(gross, 1.0)
    assert from_wad(margin.markValue) == pytest.approx(reference.mark_value, abs=tolerance)
    assert from_wad(margin.initialMargin) == pytest.approx(reference.initial, abs=tolerance)
    assert from_wad(margin.maintenanceMargin) == pytest.approx(reference.maintenance, abs=tolerance)


# ------------------------------------------------------------------ deployment


def test_constructor_rejects_non_18_decimal_cash(project, owner, desk):
    feed = desk.feeds[BTC]  # 8 decimals: any IERC20Metadata-like contract will do
    with ape.reverts(desk.engine.UnsupportedToken, token=feed.address):
        project.OptionsMarginEngine.deploy(feed.address, desk.source.address, [(BTC, feed.address)], MAX_PRICE_AGE,
                                           wad(0.1), sender=owner)


@pytest.mark.parametrize("case", ["no markets", "duplicate market", "bonus too high", "feed decimals"])
def test_constructor_rejects_invalid_config(project, owner, desk, case):
    feed = desk.feeds[BTC].address
    markets, bonus = [(BTC, feed)], wad(0.1)
    if case == "no markets":
        markets = []
    elif case == "duplicate market":
        markets = [(BTC, feed), (BTC, feed)]
    elif case == "bonus too high":
        bonus = wad(0.5) + 1
    else:
        markets = [(BTC, project.TestPriceFeed.deploy(19, 1, sender=owner).address)]
    with ape.reverts(desk.engine.InvalidConfig):
        project.OptionsMarginEngine.deploy(desk.token.address, desk.source.address, markets, MAX_PRICE_AGE, bonus,
                                           sender=owner)


def test_markets_and_constants(engine):
    assert list(engine.marketIds()) == [BTC, ETH]
    assert engine.MAX_POSITIONS() >= 20
    assert engine.LIQUIDATION_BONUS() == wad(LIQUIDATION_BONUS)


# ------------------------------------------------------------------------ cash


def test_deposit_and_withdraw_move_tokens(desk, engine, attacker, owner):
    desk.token.mint(attacker.address, wad(100), sender=owner)
    desk.token.approve(engine.address, wad(100), sender=attacker)
    tx = engine.deposit(wad(100), sender=attacker)
    assert tx.events.filter(engine.Deposited)[0].amount == wad(100)
    engine.withdraw(wad(40), sender=attacker)
    assert engine.cashOf(attacker.address) == wad(60)
    assert desk.token.balanceOf(attacker.address) == wad(40)


def test_deposit_zero_reverts(engine, maker):
    with ape.reverts(engine.ZeroAmount):
        engine.deposit(0, sender=maker)


def test_withdraw_zero_reverts(engine, maker):
    with ape.reverts(engine.ZeroAmount):
        engine.withdraw(0, sender=maker)


def test_withdraw_more_than_cash_reverts(engine, attacker):
    with ape.reverts(engine.InsufficientCash, account=attacker.address, available=0, required=1):
        engine.withdraw(1, sender=attacker)


def test_withdraw_to_initial_margin_then_one_more_reverts(desk, engine, chain, maker, taker):
    desk.trade(maker, taker, week_call(chain), 2, -5_000, deadline(chain))  # taker sells 2 calls
    margin = engine.accountMargin(taker.address)
    free = margin.equity - margin.initialMargin  # a block later theta has moved the marks by ~0.01
    with ape.reverts(engine.InsufficientMargin, account=taker.address):
        engine.withdraw(free + wad(1), sender=taker)
    engine.withdraw(free, sender=taker)
    assert not engine.isLiquidatable(taker.address)


# ----------------------------------------------------------------------- trade


def test_trade_moves_premium_and_positions(desk, engine, chain, maker, taker):
    series = week_call(chain)
    tx = desk.trade(maker, taker, series, -1.5, 4_000, deadline(chain))  # maker sells 1.5 calls for 4,000
    event = tx.events.filter(engine.Traded)[0]
    assert (event.maker, event.taker, event.seriesId, event.makerSize, event.premium) == (
        maker.address, taker.address, series, wad(-1.5), wad(4_000))
    assert engine.sizeOf(maker.address, series) == wad(-1.5) and engine.sizeOf(taker.address, series) == wad(1.5)
    assert engine.cashOf(maker.address) == wad(1_004_000) and engine.cashOf(taker.address) == wad(996_000)
    assert list(engine.positionsOf(taker.address)) == [(series, wad(1.5))]


def test_trade_closing_position_removes_it(desk, engine, chain, maker, taker):
    series = week_call(chain)
    desk.trade(maker, taker, series, -1, 4_000, deadline(chain))
    desk.trade(maker, taker, series, 1, -3_900, deadline(chain))
    assert list(engine.positionsOf(maker.address)) == [] == list(engine.positionsOf(taker.address))
    assert engine.cashOf(maker.address) == wad(1_000_100)


def test_order_digest_is_eip712_of_order(desk, engine, chain, maker):
    order, _ = desk.order(maker, week_call(chain), 1, 10, deadline(chain))
    message = encode_typed_data(full_message=order.typed_data(engine.address, chain.chain_id))
    expected = keccak(b"\x19" + message.version + message.header + message.body)
    assert engine.orderDigest(order.as_tuple()) == expected


def test_trade_for_named_taker_only(desk, engine, chain, maker, taker, attacker):
    order, signature = desk.order(maker, week_call(chain), -1, 4_000, deadline(chain), taker=taker.address)
    with ape.reverts(engine.WrongTaker, expected=taker.address, actual=attacker.address):
        engine.trade(order.as_tuple(), signature, sender=attacker)
    engine.trade(order.as_tuple(), signature, sender=taker)


def test_trade_with_self_reverts(desk, engine, chain, maker):
    order, signature = desk.order(maker, week_call(chain), -1, 4_000, deadline(chain))
    with ape.reverts(engine.SelfTrade, account=maker.address):
        engine.trade(order.as_tuple(), signature, sender=maker)


def test_trade_after_deadline_reverts(desk, engine, chain, maker, taker):
    order, signature = desk.order(maker, week_call(chain), -1, 4_000, now(chain) - 1)
    with ape.reverts(engine.OrderExpired):
        engine.trade(order.as_tuple(), signature, sender=taker)


def test_trade_replay_reverts_nonce_used(desk, engine, chain, maker, taker):
    order, signature = desk.order(maker, week_call(chain), -1, 4_000, deadline(chain))
    engine.trade(order.as_tuple(), signature, sender=taker)
    with ape.reverts(engine.NonceAlreadyUsed, maker=maker.address, nonce=order.nonce):
        engine.trade(order.as_tuple(), signature, sender=taker)


def test_cancelled_nonce_cannot_trade_or_cancel_again(desk, engine, chain, maker, taker):
    order, signature = desk.order(maker, week_call(chain), -1, 4_000, deadline(chain))
    tx = engine.cancelNonce(order.nonce, sender=maker)
    assert tx.events.filter(engine.NonceCancelled)[0].nonce == order.nonce and engine.nonceUsed(maker, order.nonce)
    with ape.reverts(engine.NonceAlreadyUsed):
        engine.trade(order.as_tuple(), signature, sender=taker)
    with ape.reverts(engine.NonceAlreadyUsed):
        engine.cancelNonce(order.nonce, sender=maker)


def test_trade_signed_by_another_key_reverts(desk, engine, chain, maker, taker, attacker):
    order, _ = desk.order(maker, week_call(chain), 1, -100, deadline(chain))
    forged = order.sign(attacker.private_key, engine.address, chain.chain_id)
    with ape.reverts(engine.InvalidSignature):
        engine.trade(order.as_tuple(), forged, sender=taker)


def test_trade_with_tampered_premium_reverts(desk, engine, chain, maker, taker):
    order, signature = desk.order(maker, week_call(chain), -1, 4_000, deadline(chain))
    tampered = (*order.as_tuple()[:4], wad(1), *order.as_tuple()[5:])
    with ape.reverts(engine.InvalidSignature):
        engine.trade(tampered, signature, sender=taker)


@pytest.mark.parametrize("size", [0, 10**30 + 1, -(10**30) - 1])
def test_trade_invalid_size_reverts(desk, engine, chain, maker, taker, size):
    assert engine.MAX_SIZE() == 10**30
    order, signature = desk.order(maker, week_call(chain), 0, 0, deadline(chain))
    raw = (*order.as_tuple()[:3], size, *order.as_tuple()[4:])
    with ape.reverts(engine.InvalidSize, size=size):
        engine.trade(raw, signature, sender=taker)


def test_trade_unknown_market_reverts(desk, engine, chain, maker, taker):
    order, signature = desk.order(maker, sid(9, now(chain) + DAY, 100, True), -1, 1, deadline(chain))
    with ape.reverts(engine.UnknownMarket, marketId=9):
        engine.trade(order.as_tuple(), signature, sender=taker)


@pytest.mark.parametrize("strike", [0, 10**29 + 1])
def test_trade_invalid_strike_reverts(desk, engine, chain, maker, taker, strike):
    assert engine.MAX_STRIKE() == 10**29
    series = BTC << 192 | (now(chain) + DAY) << 128 | strike << 1 | 1
    order, signature = desk.order(maker, series, -1, 1, deadline(chain))
    with ape.reverts(engine.InvalidStrike, strike=strike):
        engine.trade(order.as_tuple(), signature, sender=taker)


def test_trade_expired_series_reverts(desk, engine, chain, maker, taker):
    series = sid(BTC, now(chain), 60_000, True)
    order, signature = desk.order(maker, series, -1, 1, deadline(chain))
    with ape.reverts(engine.SeriesExpired, seriesId=series):
        engine.trade(order.as_tuple(), signature, sender=taker)


def test_trade_expiry_beyond_horizon_reverts(desk, engine, chain, maker, taker):
    series = sid(BTC, now(chain) + 366 * DAY, 60_000, True)
    order, signature = desk.order(maker, series, -1, 1, deadline(chain))
    with ape.reverts(engine.ExpiryTooFar):
        engine.trade(order.as_tuple(), signature, sender=taker)


def test_trade_premium_beyond_cash_reverts(desk, engine, chain, maker, attacker):
    order, signature = desk.order(maker, week_call(chain), -1, 4_000, deadline(chain))
    with ape.reverts(engine.InsufficientCash, account=attacker.address, available=0, required=wad(4_000)):
        engine.trade(order.as_tuple(), signature, sender=attacker)


def test_trade_opening_beyond_initial_margin_reverts(desk, engine, chain, maker, taker, owner, attacker):
    desk.fund(attacker, 1_000, owner)  # far less than the IM of 10 short calls
    order, signature = desk.order(maker, week_call(chain), 10, -30_000, deadline(chain))
    with ape.reverts(engine.InsufficientMargin):
        engine.trade(order.as_tuple(), signature, sender=attacker)


def test_reducing_trade_needs_only_maintenance_margin(desk, engine, chain, maker, taker, owner):
    series = week_call(chain)
    desk.trade(maker, taker, series, 4, -14_000, deadline(chain))  # taker sells 4 calls
    margin = engine.accountMargin(taker.address)
    engine.withdraw(margin.equity - margin.initialMargin, sender=taker)
    desk.set_spot(BTC, 60_600, owner)  # the short loses: below IM, above MM
    margin = engine.accountMargin(taker.address)
    assert margin.maintenanceMargin <= margin.equity < margin.initialMargin
    order, signature = desk.order(maker, week_call(chain, 61_000), 1, -100, deadline(chain))
    with ape.reverts(engine.InsufficientMargin):  # opening another short needs IM
        engine.trade(order.as_tuple(), signature, sender=taker)
    desk.trade(maker, taker, series, -1, 3_000, deadline(chain))  # buying one back is allowed
    assert engine.sizeOf(taker.address, series) == wad(-3) and not engine.isLiquidatable(taker.address)


def test_reducing_trade_below_maintenance_reverts(desk, engine, chain, maker, taker, owner):
    series = week_call(chain)
    desk.trade(maker, taker, series, 4, -14_000, deadline(chain))
    margin = engine.accountMargin(taker.address)
    engine.withdraw(margin.equity - margin.initialMargin, sender=taker)
    ruinous = 0.99 * from_wad(engine.cashOf(taker.address))  # buy one back for nearly all its cash
    order, signature = desk.order(maker, series, -1, ruinous, deadline(chain))
    with ape.reverts(engine.InsufficientMargin):
        engine.trade(order.as_tuple(), signature, sender=taker)


def test_position_count_is_bounded(desk, engine, chain, maker, taker):
    limit = engine.MAX_POSITIONS()
    expiry = now(chain) + DAY // 2  # far out-of-the-money half-day calls: cheap to revalue
    for i in range(limit):
        desk.trade(maker, taker, sid(BTC, expiry, 100_000 + 1_000 * i, True), 0.01, 0, deadline(chain))
    assert len(engine.positionsOf(taker.address)) == limit
    order, signature = desk.order(maker, sid(BTC, expiry, 99_000, True), 0.01, 0, deadline(chain))
    with ape.reverts(engine.TooManyPositions, account=maker.address, maxPositions=limit):
        engine.trade(order.as_tuple(), signature, sender=taker)


def test_trade_with_stale_price_reverts(desk, engine, chain, maker, taker):
    order, signature = desk.order(maker, week_call(chain), -1, 4_000, now(chain) + 10 * MAX_PRICE_AGE)
    advance(chain, MAX_PRICE_AGE + 1)
    with ape.reverts(engine.StalePrice, marketId=BTC):
        engine.trade(order.as_tuple(), signature, sender=taker)


@pytest.mark.parametrize("answer", [0, -1, 10**19 + 1])  # 10**19 at 8 decimals is MAX_PRICE
def test_trade_with_invalid_price_reverts(desk, engine, chain, maker, taker, owner, answer):
    desk.feeds[BTC].setAnswer(answer, sender=owner)
    order, signature = desk.order(maker, week_call(chain), -1, 4_000, deadline(chain))
    with ape.reverts(engine.InvalidPrice, marketId=BTC, answer=answer):
        engine.trade(order.as_tuple(), signature, sender=taker)


# -------------------------------------------------------- margin and the grid


def test_account_margin_matches_reference_across_markets(desk, engine, chain, maker, taker):
    t = now(chain)
    legs = [(sid(BTC, t + 7 * DAY, 60_000, False), 2, -2_000), (sid(BTC, t + 45 * DAY, 70_000, True), -1, 1_500),
            (sid(ETH, t + 3 * DAY, 3_200, True), -10, 800), (sid(ETH, t + 120 * DAY, 2_500, False), 5, -900)]
    for series, size, premium in legs:
        desk.trade(maker, taker, series, size, premium, deadline(chain))
    for account in (maker, taker):
        assert_margin_matches_reference(desk, account, chain)
    margin = engine.accountMargin(taker.address)
    assert margin.equity == margin.cash + margin.markValue and not margin.staticGrid


def test_market_shocks_read_in_layout_order(engine):
    shocks, static = engine.marketShocks(ETH)
    assert grid_from_chain(shocks, static) == ScenarioGrid.from_shocks(SHOCKS[ETH])


def test_market_shocks_unknown_market_reverts(engine):
    with ape.reverts(engine.UnknownMarket, marketId=3):
        engine.marketShocks(3)


@pytest.mark.parametrize("failure", ["paused", "stale", "broken", "insane", "wrong length", "never updated"])
def test_unusable_source_selects_static_grid(desk, engine, chain, maker, taker, owner, failure):
    desk.trade(maker, taker, week_call(chain), 1, -4_000, deadline(chain))
    before = engine.accountMargin(taker.address)
    stored_ref = SHOCKS[BTC]["ref_iv"]
    if failure == "paused":
        desk.source.setPaused(True, sender=owner)
    elif failure == "stale":
        desk.source.setStale(BTC, True, sender=owner)
    elif failure == "broken":
        desk.source.setBroken(True, sender=owner)
        stored_ref = None
    elif failure == "insane":
        desk.set_shocks(BTC, {**SHOCKS[BTC], "spot_down": 0.9}, owner)
    elif failure == "wrong length":
        desk.source.setShocks(BTC, [wad(0.08)] * 4, sender=owner)
        stored_ref = None
    else:
        desk.source.setShocks(BTC, [], sender=owner)
        stored_ref = None
    shocks, static = engine.marketShocks(BTC)
    assert static and grid_from_chain(shocks, static) == ScenarioGrid.static_grid(stored_ref)
    after = engine.accountMargin(taker.address)
    assert after.staticGrid and after.initialMargin > before.initialMargin
    assert_margin_matches_reference(desk, taker, chain)
    if stored_ref is None:
        assert from_wad(shocks[4]) == STATIC_REF_IV


# ----------------------------------------------------------------- liquidation


def liquidatable_taker(desk, chain, maker, taker, owner, jump: float = 1.05) -> int:
    """Taker sells 4 weekly calls at IM, then spot jumps (5%: below MM, still solvent enough for a partial
    liquidation with its full bonus): returns the series."""
    series = week_call(chain)
    desk.trade(maker, taker, series, 4, -14_000, deadline(chain))
    margin = desk.engine.accountMargin(taker.address)
    desk.engine.withdraw(margin.equity - margin.initialMargin, sender=taker)
    desk.set_spot(BTC, SPOTS[BTC] * jump, owner)
    assert desk.engine.isLiquidatable(taker.address)
    return series


def test_liquidate_takes_max_fraction_at_mark_with_bonus(desk, engine, chain, maker, taker, liquidator, owner):
    series = liquidatable_taker(desk, chain, maker, taker, owner)
    margin = engine.accountMargin(taker.address)
    f = engine.maxLiquidationFraction(taker.address)
    expected_f = max_liquidation_fraction(from_wad(margin.equity), from_wad(margin.initialMargin),
                                          from_wad(margin.maintenanceMargin), LIQUIDATION_BONUS)
    assert from_wad(f) == pytest.approx(expected_f, abs=1e-15)
    f_max, f = f, f * (10**6 - 1) // 10**6  # a block later theta has lowered the maximum a little
    cash_before = engine.cashOf(taker.address), engine.cashOf(liquidator.address)
    tx = engine.liquidate(taker.address, f, sender=liquidator)
    event = tx.events.filter(engine.Liquidated)[0]
    taken = -(wad(4) * f // WAD)  # rounded toward zero
    assert engine.sizeOf(liquidator.address, series) == taken
    assert engine.sizeOf(taker.address, series) == wad(-4) - taken
    expected_bonus = LIQUIDATION_BONUS * from_wad(f) * from_wad(margin.maintenanceMargin)
    assert from_wad(event.bonus) == pytest.approx(expected_bonus, rel=1e-4)  # MM moves with time between blocks
    assert event.bonus < margin.equity
    assert engine.cashOf(taker.address) - cash_before[0] == event.portionValue - event.bonus
    assert cash_before[1] - engine.cashOf(liquidator.address) == event.portionValue - event.bonus
    after = engine.accountMargin(taker.address)
    assert not engine.isLiquidatable(taker.address)
    # back to IM, short of it by what taking less than the maximum leaves: (f_max - f) (IM - bonus MM),
    # doubled for theta between blocks
    shortfall = from_wad(f_max - f) * (from_wad(margin.initialMargin)
                                       - LIQUIDATION_BONUS * from_wad(margin.maintenanceMargin))
    assert from_wad(after.equity) == pytest.approx(from_wad(after.initialMargin), abs=2 * shortfall)
    assert not event.staticGrid


def test_liquidate_more_than_max_fraction_reverts(desk, engine, chain, maker, taker, liquidator, owner):
    liquidatable_taker(desk, chain, maker, taker, owner)
    f = engine.maxLiquidationFraction(taker.address)  # moves with theta from block to block
    assert 0 < f < WAD
    too_much = (f + WAD) // 2
    with ape.reverts(engine.InvalidLiquidationFraction, fraction=too_much):
        engine.liquidate(taker.address, too_much, sender=liquidator)
    with ape.reverts(engine.InvalidLiquidationFraction, fraction=0):
        engine.liquidate(taker.address, 0, sender=liquidator)


def test_liquidate_insolvent_account_fully_without_bonus(desk, engine, chain, maker, taker, liquidator, owner):
    liquidatable_taker(desk, chain, maker, taker, owner, jump=1.5)
    assert engine.accountMargin(taker.address).equity < 0
    assert engine.maxLiquidationFraction(taker.address) == WAD
    event = engine.liquidate(taker.address, WAD, sender=liquidator).events.filter(engine.Liquidated)[0]
    assert event.bonus == 0 and list(engine.positionsOf(taker.address)) == []
    assert engine.cashOf(taker.address) < 0  # the bad debt stays visible on the account


def test_liquidate_healthy_account_reverts(desk, engine, chain, maker, taker, liquidator):
    desk.trade(maker, taker, week_call(chain), 1, -4_000, deadline(chain))
    with ape.reverts(engine.NotLiquidatable, account=taker.address):
        engine.liquidate(taker.address, WAD, sender=liquidator)
    assert engine.maxLiquidationFraction(taker.address) == 0


def test_liquidate_self_reverts(engine, taker):
    with ape.reverts(engine.SelfLiquidation):
        engine.liquidate(taker.address, WAD, sender=taker)


def test_liquidator_without_margin_reverts(desk, engine, chain, maker, taker, attacker, owner):
    liquidatable_taker(desk, chain, maker, taker, owner)
    desk.fund(attacker, 100, owner)  # receives cash for the shorts, but has not their IM
    with ape.reverts(engine.InsufficientMargin):
        engine.liquidate(taker.address, engine.maxLiquidationFraction(taker.address), sender=attacker)


def test_liquidator_without_cash_reverts(desk, engine, chain, maker, taker, attacker, owner):
    """A risk reversal (long an ATM call, short a put below) is worth more than its risk on a calm proved
    grid; once the oracle goes stale the static grid's wider fall puts it below MM with a positive mark,
    which the liquidator must pay for."""
    desk.set_shocks(BTC, {**SHOCKS[BTC], "spot_down": 0.02, "spot_up": 0.02}, owner)  # a calm day
    expiry = now(chain) + 7 * DAY
    desk.trade(maker, taker, sid(BTC, expiry, 60_000, True), -1, 1_000, deadline(chain))
    desk.trade(maker, taker, sid(BTC, expiry, 54_000, False), 1, -150, deadline(chain))
    margin = engine.accountMargin(taker.address)
    engine.withdraw(min(margin.cash, margin.equity - margin.initialMargin - wad(1)), sender=taker)  # theta
    desk.source.setStale(BTC, True, sender=owner)
    assert engine.isLiquidatable(taker.address) and engine.accountMargin(taker.address).markValue > 0
    f = engine.maxLiquidationFraction(taker.address)
    with ape.reverts(engine.InsufficientCash, account=attacker.address, available=0):
        engine.liquidate(taker.address, f, sender=attacker)


# ------------------------------------------------------------------ settlement


def test_settle_pays_intrinsic_at_fixed_price_to_both_sides(desk, engine, chain, maker, taker, owner):
    expiry = now(chain) + DAY
    series = sid(BTC, expiry, 60_000, True)
    desk.trade(maker, taker, series, 2, -6_000, deadline(chain))  # maker buys 2 calls
    advance(chain, DAY)
    desk.set_spot(BTC, 63_000, owner)
    cash = engine.cashOf(maker.address), engine.cashOf(taker.address)
    tx = engine.settle(maker.address, series, sender=owner)
    assert tx.events.filter(engine.SettlementPriceFixed)[0].price == wad(63_000)
    assert tx.events.filter(engine.Settled)[0].payoff == wad(6_000)
    desk.set_spot(BTC, 70_000, owner)  # later prints do not move a fixed settlement
    engine.settle(taker.address, series, sender=owner)
    assert engine.cashOf(maker.address) - cash[0] == wad(6_000) == cash[1] - engine.cashOf(taker.address)
    assert engine.settlementPrice(BTC, expiry) == wad(63_000)
    assert list(engine.positionsOf(maker.address)) == []


def test_expired_unsettled_position_margins_at_intrinsic(desk, engine, chain, maker, taker, owner):
    expiry = now(chain) + DAY
    desk.trade(maker, taker, sid(BTC, expiry, 58_000, True), 1, -3_000, deadline(chain))
    advance(chain, 2 * DAY)
    refresh_feeds(desk, owner)
    assert from_wad(engine.accountMargin(maker.address).markValue) == pytest.approx(2_000)
    assert_margin_matches_reference(desk, maker, chain)


def test_settle_without_position_reverts(engine, chain, taker):
    series = week_call(chain)
    with ape.reverts(engine.NoPosition, account=taker.address, seriesId=series):
        engine.settle(taker.address, series, sender=taker)


def test_settle_before_expiry_reverts(desk, engine, chain, maker, taker):
    series = week_call(chain)
    desk.trade(maker, taker, series, 1, -4_000, deadline(chain))
    with ape.reverts(engine.SeriesNotExpired, seriesId=series):
        engine.settle(taker.address, series, sender=taker)


def test_settle_without_price_after_expiry_reverts(desk, engine, chain, maker, taker, owner):
    expiry = now(chain) + 600
    series = sid(BTC, expiry, 60_000, True)
    desk.trade(maker, taker, series, 1, -1_000, deadline(chain))
    advance(chain, 601)  # the feed last updated before expiry (and is still fresh)
    with ape.reverts(engine.SettlementPriceUnavailable, marketId=BTC, expiry=expiry):
        engine.settle(taker.address, series, sender=taker)


# ---------------------------------------------------------------------- series


def test_series_id_round_trips(engine, chain):
    series = (ETH, now(chain) + DAY, wad(3_100.5), False)
    packed = engine.seriesId(series)
    assert packed == sid(ETH, series[1], 3_100.5, False)
    assert tuple(engine.decodeSeries(packed)) == series


def test_series_id_strike_too_large_reverts(engine):
    with ape.reverts(engine.InvalidStrike, strike=2**127):
        engine.seriesId((BTC, 1, 2**127, True))


def test_spot_price_scales_feed_decimals(engine):
    assert FEED_DECIMALS == 8 and engine.spotPrice(BTC) == wad(SPOTS[BTC])
