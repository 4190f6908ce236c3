"""AggregatorV3 adapters: one per (market, parameter), reading the oracle unchanged."""

from __future__ import annotations

import ape
import pytest

from chain_helpers import BTC, ETH, PLACEHOLDER_MODEL, risk_update, values_within_guardrails
from models.spec import OUTPUTS

pytestmark = pytest.mark.chain

EPOCH = 20_100


def test_latest_round_data_without_update_reverts_no_data_present(system):
    with ape.reverts(system.feeds[(BTC, "lt")].NoDataPresent):
        system.feeds[(BTC, "lt")].latestRoundData()


def test_latest_round_data_reads_parameter_as_round(system, owner, chain):
    values = values_within_guardrails(0.4)
    system.oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [risk_update(BTC, EPOCH, values)], sender=owner)
    updated_at = chain.blocks.head.timestamp
    for name in ("lt", "cr"):
        feed = system.feeds[(BTC, name)]
        assert feed.decimals() == 18 and feed.version() == 1
        assert tuple(feed.latestRoundData()) == (EPOCH, values[OUTPUTS.index(name)], updated_at, updated_at, EPOCH)
        assert feed.PARAMETER() == OUTPUTS.index(name) and feed.MARKET_ID() == BTC
    assert "liquidation threshold" in system.feeds[(BTC, "lt")].description()
    with ape.reverts(system.feeds[(ETH, "lt")].NoDataPresent):  # other markets stay empty
        system.feeds[(ETH, "lt")].latestRoundData()


def test_get_round_data_serves_only_latest_round(system, owner):
    system.oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [risk_update(BTC, EPOCH, values_within_guardrails())],
                                        sender=owner)
    feed = system.feeds[(BTC, "cr")]
    assert tuple(feed.getRoundData(EPOCH)) == tuple(feed.latestRoundData())
    with ape.reverts(feed.RoundNotAvailable, roundId=EPOCH - 1):
        feed.getRoundData(EPOCH - 1)
