"""Constants and small builders shared by the contract tests."""

from __future__ import annotations

from typing import Sequence

from eth_utils import keccak

from models.spec import LENDING, MARKETS, OPTIONS, WAD, Layout, to_fixed
from oracle.chain.deploy import GovernanceConfig, Timing
from oracle.reports import Domain, Report, Signature, sign_reports

BTC, ETH = MARKETS["BTC"], MARKETS["ETH"]
DAY = 86_400
#: models registered on contracts/test/TestVerifier.sol (its answer is settable): the oracle's own checks
TEST_MODEL, TEST_BATCH_MODEL, TEST_OPTIONS_MODEL = 7, 8, 9
#: models on EZKL's reusable verifier with the real circuits' VKA
REAL_MODEL, REAL_BATCH_MODEL = 1, 2
TEST_INPUT_SCALE = 13
TIMING = Timing(max_report_age=2 * DAY, max_governance_report_age=14 * DAY, staleness_period=3 * DAY)
GOVERNANCE = GovernanceConfig(voting_delay=1, voting_period=10, proposal_threshold=0, timelock_delay=60,
                              quorum_percent=4)
#: the epoch the synthetic tests start at (2025-06-01); the chain clock is set to its day
START_EPOCH = 20_240


def set_time(chain, timestamp: int) -> None:
    """Move the chain clock to `timestamp` (anvil allows going back: reports carry real data days)."""
    chain.provider.make_request("anvil_setTime", [int(timestamp)])
    chain.mine()


def advance(chain, seconds: int) -> None:
    """Mine a block `seconds` after the head, so views and the next transaction see the new time."""
    chain.mine(timestamp=chain.blocks.head.timestamp + seconds)


def wad(x: float) -> int:
    return int(round(x * WAD))


def fixed(x: float, layout: Layout = LENDING) -> int:
    return to_fixed(x, layout.scale)


def report(market: int, epoch: int, input_hash: int | None = None, observed_at: int | None = None,
           data: bytes = b"bars") -> Report:
    """A report of (market, epoch) observed at its epoch's start unless told otherwise."""
    digest = keccak(b"input" + market.to_bytes(8, "big") + epoch.to_bytes(8, "big")) if input_hash is None \
        else input_hash.to_bytes(32, "big")
    # input hashes are field elements: keep the synthetic ones below the BN254 modulus
    digest = bytes([digest[0] & 0x1F]) + digest[1:]
    return Report(market, epoch, digest, keccak(data), epoch * DAY if observed_at is None else observed_at)


def sign(accounts: Sequence, oracle, reports: Sequence[Report]) -> list[Signature]:
    """Each account's signature of the batch for `oracle` on this chain."""
    from ape import chain

    domain = Domain(chain.chain_id, oracle.address)
    return [sign_reports(a.private_key, domain, reports) for a in accounts]


#: mid-range lending values (vol, var99, es99, max_ltv, lt) every default guard admits
LENDING_VALUES = (0.03, 0.08, 0.10, 0.70, 0.78)
OPTIONS_VALUES = (0.08, 0.09, 0.25, 0.15, 0.60)


def verifier_instances(layout: Layout, reports: Sequence[Report], values: Sequence[Sequence[float]],
                   state: Sequence[Sequence[float]] | None = None) -> list[int]:
    """Instances in the models/spec.py layout for the test verifier: the reports' input hashes, a state
    hash when the layout has state, then each market's outputs and passed-through state (fixed point)."""
    instances = [int.from_bytes(r.input_hash, "big") for r in reports]
    if layout.state:
        instances.append(12345)
        state = state if state is not None else [layout.initial_state] * len(reports)
    for i, row in enumerate(values):
        instances += [to_fixed(v, layout.scale) for v in row]
        if layout.state:
            instances += [to_fixed(v, layout.scale) for v in state[i]]
    return instances


def description_hash(description: str) -> bytes:
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

