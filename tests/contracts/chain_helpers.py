"""Constants and small builders shared by the contract tests: the one place tests build reports, signed
updates for the test verifier, governance updates and the production policy's steps."""

from __future__ import annotations

from typing import Mapping, Sequence

from eth_utils import keccak

from models.policy import MarketPolicies
from models.spec import LENDING, MARKETS, OPTIONS, WAD, Layout, to_fixed
from models.versions import PRODUCTION, load_card
from oracle.chain.deploy import (GovernanceConfig, ModelConfig, Timing, card_guards, deploy_system, proved_update,
                                 stored_state)
from oracle.reports import Domain, Report, Signature, sign_reports

BTC, ETH = MARKETS["BTC"], MARKETS["ETH"]
#: a market id no model serves and no guard covers
UNLISTED = 3
DAY = 86_400
#: models registered on contracts/test/TestVerifier.sol (its answer is settable): the oracle's own checks
TEST_MODEL, TEST_BATCH_MODEL, TEST_OPTIONS_MODEL = 7, 8, 9
#: models on EZKL's reusable verifier with the real circuits' VKA
REAL_MODEL, REAL_BATCH_MODEL = 1, 2
TEST_INPUT_SCALE = 13
#: a VKA of arbitrary words: EZKL's reusable verifier registers any (verifying against it is another matter)
PLACEHOLDER_VKA = [keccak(b"vka word %d" % i) for i in range(8)]
#: what the test verifier is handed as a proof (it does not read it)
TEST_PROOF = b"\x01" * 32
TIMING = Timing(max_report_age=2 * DAY, max_governance_report_age=14 * DAY, staleness_period=3 * DAY)
GOVERNANCE = GovernanceConfig(voting_delay=1, voting_period=10, proposal_threshold=0, timelock_delay=60,
                              quorum_percent=4)
#: the epoch the synthetic tests start at (2025-06-01); the chain clock is set to its day
START_EPOCH = 20_240
#: the production lending version's card: its per-market policy and the guards a deployment sets from it
PRODUCTION_CARD = load_card(*PRODUCTION)
POLICIES = MarketPolicies.from_dict(PRODUCTION_CARD["policy"])
LENDING_GUARDS = card_guards(PRODUCTION_CARD)
#: IRiskOracle.Guard of a forecast: any value the oracle can store, any step
UNLIMITED = 0xFFFF


def set_time(chain, timestamp: int) -> None:
    """Move the chain clock to `timestamp` (anvil allows going back: reports carry real data days)."""
    chain.provider.make_request("anvil_setTime", [int(timestamp)])
    chain.mine()


def at_epoch(chain, epoch: int, seconds: int = 3_600) -> None:
    """The clock `seconds` into `epoch`'s UTC day (tests set it: a restored snapshot keeps anvil's clock)."""
    set_time(chain, epoch * DAY + seconds)


def advance(chain, seconds: int) -> None:
    """Mine a block `seconds` after the head, so views and the next transaction see the new time."""
    chain.mine(timestamp=chain.blocks.head.timestamp + seconds)


def next_block_at(chain, timestamp: int) -> None:
    """The next block (the next transaction) is mined at exactly `timestamp`."""
    chain.provider.make_request("evm_setNextBlockTimestamp", [int(timestamp)])


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


def domain(oracle) -> Domain:
    from ape import chain

    return Domain(chain.chain_id, oracle.address)


def sign(accounts: Sequence, oracle, reports: Sequence[Report]) -> list[Signature]:
    """Each account's signature of the batch for `oracle` on this chain."""
    return [sign_reports(a.private_key, domain(oracle), reports) for a in accounts]


#: mid-range lending values (vol, var99, es99, max_ltv, lt) every default guard admits
LENDING_VALUES = (0.03, 0.08, 0.10, 0.70, 0.78)
OPTIONS_VALUES = (0.08, 0.09, 0.25, 0.15, 0.60)


def lending(**values: float) -> tuple[float, ...]:
    """Lending outputs in layout order: LENDING_VALUES with the named ones replaced."""
    unknown = set(values) - set(LENDING.names)
    if unknown:
        raise KeyError(f"not lending outputs: {sorted(unknown)}")
    return tuple(values.get(name, default) for name, default in zip(LENDING.names, LENDING_VALUES))


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


def test_update(oracle, signers: Sequence, reports: Sequence[Report], values: Sequence[Sequence[float]], *,
                model: int = TEST_MODEL, layout: Layout = LENDING, state: Sequence[Sequence[float]] | None = None,
                instances: Sequence[int] | None = None, signatures: Sequence[Signature] | None = None) -> tuple:
    """`IRiskOracle.ProvedUpdate` for the test verifier: `signers` sign the reports (or `signatures` are
    passed as given, in that order, for the signature-order tests); the passed-through state is the
    market's stored state unless `state` says otherwise."""
    if state is None and layout.state:
        state = stored_state(oracle, layout, [r.market_id for r in reports]).tolist()
    instances = verifier_instances(layout, reports, values, state) if instances is None else instances
    update = proved_update(model, reports, sign(signers, oracle, reports), TEST_PROOF, instances)
    if signatures is not None:
        update = (update[0], update[1], [s.as_tuple() for s in signatures], update[3], update[4])
    return update


test_update.__test__ = False  # a builder, not a pytest test


def submit(oracle, sender, signers: Sequence, reports: Sequence[Report], values: Sequence[Sequence[float]],
           **kwargs):
    """`submitUpdate` of a test-verifier update (see `test_update`)."""
    return oracle.submitUpdate(test_update(oracle, signers, reports, values, **kwargs), sender=sender)


def market_updates(reports: Sequence[Report], values: Sequence[Sequence[float]],
                   layout: Layout = LENDING) -> list[tuple]:
    """`IRiskOracle.MarketUpdate[]` for `applyGovernanceUpdate`: each report with its fixed-point values."""
    return [(r.as_tuple(), [to_fixed(v, layout.scale) for v in row]) for r, row in zip(reports, values)]


def signature_tuples(signatures: Sequence[Signature]) -> list[tuple]:
    """Signatures as ABI tuples in the oracle's signer order (what `applyGovernanceUpdate` takes)."""
    return [s.as_tuple() for s in sorted(signatures, key=lambda s: int(s.signer, 16))]


def apply_governance(oracle, sender, signers: Sequence, reports: Sequence[Report], values: Sequence[Sequence[float]],
                     model: int = TEST_MODEL, layout: Layout = LENDING):
    """`applyGovernanceUpdate` of `values` for `reports`, signed by `signers` (sent by governance)."""
    return oracle.applyGovernanceUpdate(model, market_updates(reports, values, layout),
                                        signature_tuples(sign(signers, oracle, reports)), sender=sender)


def policy_step(oracle, market: int, es99: float) -> tuple[float, ...]:
    """The production policy's update of `market` from its stored state for an ES99 forecast: the
    lending outputs a correct proof would carry (forecasts derived from ES99 for readability)."""
    symbol = next(s for s, i in MARKETS.items() if i == market)
    prev_ltv, prev_lt = stored_state(oracle, LENDING, [market])[0]
    max_ltv, lt = POLICIES[symbol].step(es99, float(prev_ltv), float(prev_lt))
    return lending(vol=es99 / 3, var99=es99 * 0.8, es99=es99, max_ltv=max_ltv, lt=lt)


def guard_of(oracle, market: int, name: str, layout: Layout = LENDING) -> tuple[int, int, int, int]:
    """The guard the oracle holds for one output of one market."""
    return tuple(oracle.getGuards(market, layout.layout_id)[layout.index[name]])


def description_hash(description: str) -> bytes:
    return keccak(text=description)


def pass_votes(system, voter, proposals: Sequence[tuple], chain) -> list[int]:
    """Vote proposals (targets, values, calldatas, description), all pending now, through and queue them
    on the dev chain (mines blocks, moves time past the timelock delay); returns their ids."""
    governor = system.governor
    ids = [governor.hashProposal(t, v, c, description_hash(d)) for t, v, c, d in proposals]
    chain.mine(GOVERNANCE.voting_delay + 1)
    for proposal_id in ids:
        governor.castVote(proposal_id, 1, sender=voter)  # 1 = For
    chain.mine(GOVERNANCE.voting_period + 1)
    for targets, values, calldatas, description in proposals:
        governor.queue(targets, values, calldatas, description_hash(description), sender=voter)
    advance(chain, GOVERNANCE.timelock_delay + 1)
    return ids


def execute(system, voter, targets, values, calldatas, description: str):
    return system.governor.execute(targets, values, calldatas, description_hash(description), sender=voter)


def pass_proposal(system, voter, targets, values, calldatas, description: str, chain) -> int:
    """Drive a pending proposal through vote, queue and execute on the dev chain (mines blocks, moves time)."""
    [proposal_id] = pass_votes(system, voter, [(targets, values, calldatas, description)], chain)
    execute(system, voter, targets, values, calldatas, description)
    return proposal_id


def guards_by_layout(lending_guards: Mapping[int, Sequence] = LENDING_GUARDS) -> dict[int, Mapping[int, Sequence]]:
    """`deploy_system`'s `guards`: the production card's per-market guards for the lending layout."""
    return {LENDING.layout_id: lending_guards}


def deploy_test_system(owner, publishers: Sequence, guardian, test_verifier, chain):
    """The whole system, 2-of-3 publishers, deployer still in charge (hand-over tested separately),
    the production card's lending guards, with test-verifier models: lending K=1 and K=2, options K=1.
    The clock is at START_EPOCH's day."""
    at_epoch(chain, START_EPOCH)
    models = [ModelConfig(model_id=TEST_MODEL, layout=LENDING, input_scale=TEST_INPUT_SCALE, markets=(BTC, ETH),
                          verifier=test_verifier.address, label="test verifier, lending K=1"),
              ModelConfig(model_id=TEST_BATCH_MODEL, layout=LENDING, input_scale=TEST_INPUT_SCALE, markets=(BTC, ETH),
                          markets_per_proof=2, verifier=test_verifier.address, label="test verifier, lending K=2"),
              ModelConfig(model_id=TEST_OPTIONS_MODEL, layout=OPTIONS, input_scale=TEST_INPUT_SCALE,
                          markets=(BTC, ETH), verifier=test_verifier.address, label="test verifier, options K=1")]
    return deploy_system(owner, publishers, models, quorum=2, guardian=guardian, guards=guards_by_layout(),
                         timing=TIMING, governance=GOVERNANCE, hand_over=False)
