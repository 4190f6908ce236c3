"""Constants and small builders shared by the contract tests."""

from __future__ import annotations

from models.spec import MARKETS, OUTPUTS, WAD
from oracle.chain.deploy import DEFAULT_GUARDRAILS, GovernanceConfig, Timing

BTC, ETH = MARKETS["BTC"], MARKETS["ETH"]
PLACEHOLDER_MODEL = 7
PLACEHOLDER_BATCH_MODEL = 8
REAL_MODEL = 1
REAL_BATCH_MODEL = 2
PLACEHOLDER_VKA = [bytes([i]) * 32 for i in range(1, 5)]
TIMING = Timing(min_update_delay=3_600, max_commitment_age=2 * 86_400, staleness_period=3 * 86_400)
GOVERNANCE = GovernanceConfig(voting_delay=1, voting_period=10, timelock_delay=60, quorum_percent=4)


def values_within_guardrails(scale: float = 0.5) -> list[int]:
    """A WAD value per parameter inside DEFAULT_GUARDRAILS (min + scale * range)."""
    return [g.min + int((g.max - g.min) * scale) for g in (DEFAULT_GUARDRAILS[n] for n in OUTPUTS)]


def risk_update(market: int, epoch: int, values: list[int], input_hash: int = 1) -> tuple:
    """An IRiskOracle.RiskUpdate tuple."""
    return (market, epoch, input_hash.to_bytes(32, "big"), values)


def wad(x: float) -> int:
    return int(round(x * WAD))


def felt(value: float, scale: int = 16) -> int:
    """Fixed-point field element of a non-negative output."""
    return int(round(value * 2**scale))


def placeholder_instances(input_hashes: list[int], outputs: list[list[float]], scale: int = 16) -> list[int]:
    """Instances in the models/spec.py layout: hashes, then five outputs per market."""
    return [*input_hashes, *(felt(v, scale) for market in outputs for v in market)]


def advance(chain, seconds: int) -> None:
    """Mine a block `seconds` after the head, so views and the next transaction see the new time."""
    chain.mine(timestamp=chain.blocks.head.timestamp + seconds)


def commit_all(registry, publishers, market: int, epoch: int, input_hash: int, observed_at: int) -> None:
    for publisher in publishers:
        registry.commit(market, epoch, input_hash.to_bytes(32, "big"), observed_at, sender=publisher)


def description_hash(description: str) -> bytes:
    from eth_utils import keccak

    return keccak(text=description)


def pass_proposal(system, voter, targets, values, calldatas, description: str, chain) -> int:
    """Drive a proposal through vote, queue and execute on the dev chain (mines blocks, moves time)."""
    governor = system.governor
    proposal_id = governor.hashProposal(targets, values, calldatas, description_hash(description))
    chain.mine(GOVERNANCE.voting_delay + 1)
    governor.castVote(proposal_id, 1, sender=voter)  # 1 = For
    chain.mine(GOVERNANCE.voting_period + 1)
    governor.queue(targets, values, calldatas, description_hash(description), sender=voter)
    advance(chain, GOVERNANCE.timelock_delay + 1)
    governor.execute(targets, values, calldatas, description_hash(description), sender=voter)
    return proposal_id
