"""RiskParameterFeed, the AggregatorV3 adapter of one (market, parameter): an existing Chainlink consumer
reads a proved parameter unchanged, with `updatedAt` the data's observation time."""

from __future__ import annotations

import ape
import pytest

from chain_helpers import BTC, ETH, START_EPOCH, TEST_OPTIONS_MODEL, at_epoch, fixed, lending, report, submit
from models.spec import LENDING, OPTIONS, felt_to_wad
from oracle.chain.deploy import Timing

pytestmark = [pytest.mark.chain, pytest.mark.usefixtures("start_clock")]

EPOCH = START_EPOCH
VALUES = lending(max_ltv=0.71, lt=0.785)


@pytest.fixture(scope="module")
def feeds(project, oracle, owner, publishers, keeper):
    """BTC's LT and max LTV and ETH's reference implied vol (another layout)."""
    return {(market, name): project.RiskParameterFeed.deploy(oracle.address, market, layout.output(name).parameter_id,
                                                             f"{market} {name}", sender=owner)
            for market, name, layout in [(BTC, "lt", LENDING), (BTC, "max_ltv", LENDING), (ETH, "ref_iv", OPTIONS)]}


def test_constructor_unknown_parameter_reverts_UnknownParameter(project, oracle, owner):
    with ape.reverts(project.RiskOracle.UnknownParameter, parameterId=99):  # the oracle's error, bubbled up
        project.RiskParameterFeed.deploy(oracle.address, BTC, 99, "nothing", sender=owner)


def test_latestRoundData_without_update_reverts_NoDataPresent(feeds):
    feed = feeds[(BTC, "lt")]
    with ape.reverts(feed.NoDataPresent):
        feed.latestRoundData()


def test_latestRoundData_updatedAt_is_the_observation_time(feeds, oracle, publishers, keeper, chain):
    observed = EPOCH * 86_400 + 120
    at_epoch(chain, EPOCH, 5 * 3_600)  # submitted hours after the observation
    submit(oracle, keeper, publishers[:2], [report(BTC, EPOCH, observed_at=observed)], [VALUES])
    for name in ("lt", "max_ltv"):
        feed = feeds[(BTC, name)]
        expected = felt_to_wad(fixed(VALUES[LENDING.index[name]]), LENDING.scale)
        assert tuple(feed.latestRoundData()) == (EPOCH, expected, observed, observed, EPOCH)
        assert (feed.decimals(), feed.version(), feed.MARKET_ID()) == (18, 1, BTC)
        assert feed.PARAMETER_ID() == LENDING.output(name).parameter_id
        assert feed.ORACLE() == oracle.address and feed.description() == f"{BTC} {name}"
    with ape.reverts(feeds[(ETH, "ref_iv")].NoDataPresent):  # other markets and layouts stay empty
        feeds[(ETH, "ref_iv")].latestRoundData()


def test_latestRoundData_first_update_at_epoch_0_is_round_0(feeds, oracle, owner, publishers, keeper, chain):
    """Round 0 is a real round: epoch 0 lands only under a report age reaching back to 1970 (no bound on
    it stops governance), and the feed serves it instead of reporting no data."""
    forever = chain.blocks.head.timestamp
    oracle.setTiming(Timing(forever, forever, forever).as_tuple(), sender=owner)
    observed = 60  # 00:01 on 1970-01-01: a nonzero observation time is what marks a record as stored
    submit(oracle, keeper, publishers[:2], [report(BTC, 0, observed_at=observed)], [VALUES])
    feed = feeds[(BTC, "lt")]
    expected = felt_to_wad(fixed(VALUES[LENDING.index["lt"]]), LENDING.scale)
    assert tuple(feed.latestRoundData()) == (0, expected, observed, observed, 0)
    assert tuple(feed.getRoundData(0)) == (0, expected, observed, observed, 0)
    with ape.reverts(oracle.EpochNotIncreasing, marketId=BTC, epoch=0, lastEpoch=0):
        submit(oracle, keeper, publishers[:2], [report(BTC, 0, observed_at=observed)], [VALUES])


def test_latestRoundData_reads_an_options_parameter(feeds, oracle, publishers, keeper):
    values = (0.08, 0.09, 0.25, 0.15, 0.60)
    submit(oracle, keeper, publishers[:2], [report(ETH, EPOCH)], [values], model=TEST_OPTIONS_MODEL, layout=OPTIONS)
    answer = feeds[(ETH, "ref_iv")].latestRoundData()[1]
    assert answer == felt_to_wad(fixed(0.60, OPTIONS), OPTIONS.scale)


def test_getRoundData_serves_only_the_latest_round(feeds, oracle, publishers, keeper, chain):
    feed = feeds[(BTC, "lt")]
    submit(oracle, keeper, publishers[:2], [report(BTC, EPOCH)], [VALUES])
    at_epoch(chain, EPOCH + 1)
    submit(oracle, keeper, publishers[:2], [report(BTC, EPOCH + 1)], [lending(max_ltv=0.71, lt=0.78)])
    assert feed.latestRoundData()[0] == EPOCH + 1
    assert tuple(feed.getRoundData(EPOCH + 1)) == tuple(feed.latestRoundData())
    with ape.reverts(feed.RoundNotAvailable, roundId=EPOCH):
        feed.getRoundData(EPOCH)
