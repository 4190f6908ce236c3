"""Deployment of the reference LendingMarket shared by tests/contracts/test_lending.py and
scripts/bench_liquidation_gas.py: BTC collateral (TestToken) priced by a TestPriceFeed in an 18-decimal
stablecoin (TestToken), against a given oracle, with the tests' fallback parameters."""

from __future__ import annotations

from chain_helpers import BTC, DAY, wad

PRICE = 60_000  # debt units per collateral unit
FEED_DECIMALS = 8
MAX_PRICE_AGE = 30 * DAY
FALLBACK_LTV, FALLBACK_LT, BONUS, BUFFER = wad(0.5), wad(0.6), wad(0.05), wad(0.03)
GRACE = 2 * DAY


def deploy_tokens(project, owner) -> tuple:
    """(collateral token, debt token, price feed at PRICE)."""
    collateral = project.TestToken.deploy("Wrapped BTC", "WBTC", sender=owner)
    debt = project.TestToken.deploy("USD Coin", "USD", sender=owner)
    feed = project.TestPriceFeed.deploy(FEED_DECIMALS, PRICE * 10**FEED_DECIMALS, sender=owner)
    return collateral, debt, feed


def deploy_market(project, oracle, owner, tokens, fallback_ltv=FALLBACK_LTV, fallback_lt=FALLBACK_LT, bonus=BONUS,
                  buffer=BUFFER, collateral=None, feed=None):
    default_collateral, debt, default_feed = tokens
    return project.LendingMarket.deploy(oracle.address, BTC, (collateral or default_collateral).address, debt.address,
                                        (feed or default_feed).address, MAX_PRICE_AGE, fallback_ltv, fallback_lt,
                                        bonus, buffer, GRACE, sender=owner)


def set_price(tokens, owner, price: float) -> None:
    tokens[2].setAnswer(int(round(price * 10**FEED_DECIMALS)), sender=owner)
