"""Governance: the hand-over to the timelock, ordinary proposals (model upgrades, publisher rotation,
quorum), proved parameter proposals (`proposeRiskUpdate`) and what the oracle re-checks when they
execute, the guardian cancelling a queued proposal, and the governor's unproven-change filter.

Proved proposals here carry test-verifier proofs (the oracle's checks are the same; test_proofs.py
has real proofs). What the filter catches and what it cannot is in
`test_propose_relay_through_timelock_reverts_UnprovenParameterChange`.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from chain_helpers import (BTC, DAY, ETH, GOVERNANCE, START_EPOCH, TEST_BATCH_MODEL, TEST_MODEL, TIMING, advance,
                           at_epoch, description_hash, execute, lending, market_updates, pass_proposal, pass_votes,
                           report, submit, test_update)
from models.spec import LENDING

pytestmark = [pytest.mark.chain, pytest.mark.usefixtures("start_clock")]

EPOCH = START_EPOCH
NEW_MODEL = 10
CANCELED, QUEUED = 2, 5  # IGovernor.ProposalState


@pytest.fixture(scope="module")
def newcomer(accounts, oracle, keeper, attacker, guardian, test_verifier, project):
    """A new publisher key. The session fixtures are requested here so they exist before this module's
    first snapshot (Ape's isolation otherwise rebases its snapshots)."""
    return accounts[7]


@pytest.fixture
def governed(system):
    """The system after the deployer handed every admin role to the timelock (reverted after the test)."""
    system.hand_over_to_timelock()
    yield system
    system.handed_over = False


def cut_proposal(oracle, publishers, epoch: int = EPOCH, model: int = TEST_MODEL):
    """A proved update cutting BTC's LT far beyond its guardrail step: (update, proposed MarketUpdates)."""
    reports = [report(BTC, epoch)]
    values = [lending(max_ltv=0.45, lt=0.55)]
    return test_update(oracle, publishers[:2], reports, values, model=model), market_updates(reports, values)


def risk_actions(system, update, proposed):
    targets, values, calldatas = system.governor.riskUpdateActions(update[0], proposed, update[2])
    return list(targets), list(values), [bytes(c) for c in calldatas]


def propose_cut(system, proposer, publishers, description="Cut BTC LT after the exchange failure", **kwargs):
    update, proposed = cut_proposal(system.oracle, publishers, **kwargs)
    tx = system.governor.proposeRiskUpdate(update, proposed, description, sender=proposer)
    return tx, (*risk_actions(system, update, proposed), description)


def timelock_operation(system, targets, values, calldatas, description: str) -> bytes:
    """The timelock operation id the governor queues (OpenZeppelin's salt: governor address ^ description hash)."""
    salt = (int(system.governor.address, 16) << 96) ^ int.from_bytes(description_hash(description), "big")
    return system.timelock.hashOperationBatch(targets, values, calldatas, bytes(32), salt.to_bytes(32, "big"))


# ---------------------------------------------------------------- hand-over and ordinary proposals

def test_hand_over_to_timelock_removes_deployer_powers(governed, owner, guardian):
    oracle, timelock, governor = governed.oracle, governed.timelock, governed.governor
    assert oracle.hasRole(oracle.GOVERNANCE_ROLE(), timelock.address)
    assert not oracle.hasRole(oracle.GOVERNANCE_ROLE(), owner.address)
    assert not timelock.hasRole(timelock.DEFAULT_ADMIN_ROLE(), owner.address)
    for role in (timelock.PROPOSER_ROLE(), timelock.CANCELLER_ROLE(), timelock.EXECUTOR_ROLE()):
        assert timelock.hasRole(role, governor.address)
    assert timelock.hasRole(timelock.CANCELLER_ROLE(), guardian.address)
    assert not timelock.hasRole(timelock.PROPOSER_ROLE(), guardian.address)
    with ape.reverts(oracle.AccessControlUnauthorizedAccount, account=owner.address):
        oracle.setModelActive(TEST_MODEL, False, sender=owner)
    with ape.reverts(oracle.AccessControlUnauthorizedAccount, account=owner.address):
        oracle.setPublisher(owner.address, True, sender=owner)
    assert governed.to_manifest()["governance"] == timelock.address


def test_propose_model_upgrade_executes_through_timelock_after_vote(governed, owner, test_verifier, chain):
    oracle, governor = governed.oracle, governed.governor
    targets = [oracle.address, oracle.address]
    calldatas = [oracle.registerModel.encode_input(NEW_MODEL, test_verifier.address, [], LENDING.layout_id, 13, 1,
                                                   [BTC, ETH]),
                 oracle.setModelActive.encode_input(TEST_MODEL, False)]
    description = "Upgrade: model 10 replaces model 7"
    governor.propose(targets, [0, 0], calldatas, description, sender=owner)
    with ape.reverts(governor.GovernorUnexpectedProposalState):  # no queue before the vote
        governor.queue(targets, [0, 0], calldatas, description_hash(description), sender=owner)
    pass_proposal(governed, owner, targets, [0, 0], calldatas, description, chain)
    assert oracle.getModel(NEW_MODEL).active and oracle.servesMarket(NEW_MODEL, ETH)
    assert not oracle.getModel(TEST_MODEL).active


def test_propose_publisher_rotation_and_quorum_execute_through_timelock(governed, owner, publishers, newcomer,
                                                                        keeper, chain):
    oracle = governed.oracle
    calldatas = [oracle.setPublisher.encode_input(newcomer.address, True),
                 oracle.setPublisher.encode_input(publishers[2].address, False),
                 oracle.setQuorum.encode_input(3)]
    targets = [oracle.address] * 3
    governed.governor.propose(targets, [0] * 3, calldatas, "Rotate publisher C's key, k = 3", sender=owner)
    pass_proposal(governed, owner, targets, [0] * 3, calldatas, "Rotate publisher C's key, k = 3", chain)
    assert oracle.isPublisher(newcomer.address) and not oracle.isPublisher(publishers[2].address)
    assert (oracle.publisherCount(), oracle.quorum()) == (3, 3)
    at_epoch(chain, EPOCH + 1)
    submit(governed.oracle, keeper, [*publishers[:2], newcomer], [report(BTC, EPOCH + 1)], [lending()])
    assert oracle.getParameters(BTC, LENDING.layout_id)[2] == EPOCH + 1


def test_propose_quorum_above_publishers_fails_at_execution_with_InvalidQuorum(governed, owner, chain):
    oracle = governed.oracle
    calldatas = [oracle.setQuorum.encode_input(4)]
    governed.governor.propose([oracle.address], [0], calldatas, "k = 4", sender=owner)
    pass_votes(governed, owner, [([oracle.address], [0], calldatas, "k = 4")], chain)
    with ape.reverts(oracle.InvalidQuorum, quorum=4, publishers=3):
        execute(governed, owner, [oracle.address], [0], calldatas, "k = 4")


# ---------------------------------------------------------------- proved parameter proposals

def test_proposeRiskUpdate_vote_applies_proved_values_with_observation_time(governed, owner, attacker, publishers,
                                                                           chain):
    """Anyone may propose a proved update (the proof is what makes it legitimate); once voted it skips the
    guardrails, and the oracle stores the report's observation time, not the execution time."""
    oracle = governed.oracle
    tx, actions = propose_cut(governed, attacker, publishers)
    [event] = tx.events.filter(governed.governor.ProvenProposalCreated)
    update, _ = cut_proposal(oracle, publishers)
    assert (event.modelId, event.marketCount) == (TEST_MODEL, 1)
    assert bytes(event.instancesHash) == keccak(b"".join(i.to_bytes(32, "big") for i in update[4]))
    pass_votes(governed, owner, [actions], chain)
    receipt = execute(governed, owner, *actions)
    p = oracle.getRiskParameters(BTC)
    assert (p.epoch, p.observedAt) == (EPOCH, EPOCH * DAY)
    assert p.observedAt < chain.blocks[receipt.block_number].timestamp
    [stored] = receipt.events.filter(oracle.RiskParametersUpdated)
    assert stored.governanceOverride


def test_proposeRiskUpdate_values_other_than_proved_revert_ProposedValuesMismatch(governed, owner, publishers):
    update, proposed = cut_proposal(governed.oracle, publishers)
    report_tuple, values = proposed[0]
    with ape.reverts(governed.governor.ProposedValuesMismatch, index=0):
        governed.governor.proposeRiskUpdate(update, [(report_tuple, [*values[:4], values[4] + 1])], "x", sender=owner)


def test_proposeRiskUpdate_proof_of_another_market_or_epoch_reverts_ProposedValuesMismatch(governed, owner,
                                                                                          publishers):
    """The proposal's reports must be the proof's own: the values of BTC's proof cannot be proposed
    for ETH, nor for another epoch."""
    update, proposed = cut_proposal(governed.oracle, publishers)
    (market, epoch, input_hash, data_hash, observed_at), values = proposed[0]
    for other in [(ETH, epoch, input_hash, data_hash, observed_at), (market, epoch + 1, input_hash, data_hash,
                                                                     observed_at + DAY)]:
        with ape.reverts(governed.governor.ProposedValuesMismatch, index=0):
            governed.governor.proposeRiskUpdate(update, [(other, values)], "x", sender=owner)


def test_proposeRiskUpdate_fewer_proposed_than_proved_reverts_ProposedCountMismatch(governed, owner, publishers):
    reports = [report(BTC, EPOCH), report(ETH, EPOCH)]
    update = test_update(governed.oracle, publishers[:2], reports, [lending()] * 2, model=TEST_BATCH_MODEL)
    proposed = market_updates(reports, [lending()] * 2)
    with ape.reverts(governed.governor.ProposedCountMismatch, proved=2, proposed=1):
        governed.governor.proposeRiskUpdate(update, proposed[:1], "x", sender=owner)


def test_proposeRiskUpdate_invalid_proof_reverts_with_the_oracles_InvalidProof(governed, owner, publishers,
                                                                               test_verifier):
    test_verifier.setMode(1, sender=owner)  # REJECT
    update, proposed = cut_proposal(governed.oracle, publishers)
    with ape.reverts(governed.oracle.InvalidProof, modelId=TEST_MODEL):
        governed.governor.proposeRiskUpdate(update, proposed, "x", sender=owner)


@pytest.mark.parametrize("change,error", [("retire model", "ModelInactive"), ("unserve market", "MarketNotServed"),
                                          ("revoke publisher", "InsufficientSignatures")])
def test_execute_proved_proposal_rechecks_model_market_and_signatures(governed, owner, publishers, chain, change,
                                                                      error):
    """Voted in parallel: the proved cut and a change that makes it invalid. Executed after that change,
    the cut fails with the oracle's error: execution re-checks what the proposal time checked."""
    oracle = governed.oracle
    _, cut = propose_cut(governed, owner, publishers)
    calldata = {"retire model": oracle.setModelActive.encode_input(TEST_MODEL, False),
                "unserve market": oracle.setModelMarkets.encode_input(TEST_MODEL, [BTC], False),
                "revoke publisher": oracle.setPublisher.encode_input(publishers[1].address, False)}[change]
    other = ([oracle.address], [0], [calldata], change)
    governed.governor.propose(*other, sender=owner)
    pass_votes(governed, owner, [cut, other], chain)
    execute(governed, owner, *other)
    with ape.reverts(getattr(oracle, error)):
        execute(governed, owner, *cut)
    assert oracle.getParameters(BTC, LENDING.layout_id)[1] == 0


def test_execute_proved_proposal_after_keeper_update_reverts_EpochNotIncreasing(governed, owner, keeper, publishers,
                                                                               chain):
    oracle = governed.oracle
    _, cut = propose_cut(governed, owner, publishers)
    pass_votes(governed, owner, [cut], chain)
    submit(oracle, keeper, publishers[:2], [report(BTC, EPOCH)], [lending()])  # the keepers moved on meanwhile
    with ape.reverts(oracle.EpochNotIncreasing, marketId=BTC, epoch=EPOCH, lastEpoch=EPOCH):
        execute(governed, owner, *cut)


def test_execute_proved_proposal_past_governance_age_reverts_ReportTooOld(governed, owner, publishers, chain):
    oracle = governed.oracle
    _, cut = propose_cut(governed, owner, publishers)
    pass_votes(governed, owner, [cut], chain)
    advance(chain, EPOCH * DAY + TIMING.max_governance_report_age + 1 - chain.blocks.head.timestamp)
    with ape.reverts(oracle.ReportTooOld, marketId=BTC, epoch=EPOCH, observedAt=EPOCH * DAY):
        execute(governed, owner, *cut)


def test_execute_proved_proposal_while_paused_reverts_EnforcedPause(governed, owner, guardian, publishers, chain):
    oracle = governed.oracle
    _, cut = propose_cut(governed, owner, publishers)
    pass_votes(governed, owner, [cut], chain)
    oracle.pause(sender=guardian)
    with ape.reverts(oracle.EnforcedPause):
        execute(governed, owner, *cut)
    oracle.unpause(sender=guardian)
    execute(governed, owner, *cut)
    assert oracle.getParameters(BTC, LENDING.layout_id)[2] == EPOCH


def test_cancel_by_guardian_stops_a_queued_proposal(governed, owner, guardian, attacker, publishers, chain):
    governor, timelock = governed.governor, governed.timelock
    _, cut = propose_cut(governed, owner, publishers)
    [proposal_id] = pass_votes(governed, owner, [cut], chain)
    assert governor.state(proposal_id) == QUEUED
    operation = timelock_operation(governed, *cut)
    with ape.reverts(timelock.AccessControlUnauthorizedAccount, account=attacker.address,
                     neededRole=timelock.CANCELLER_ROLE()):
        timelock.cancel(operation, sender=attacker)
    timelock.cancel(operation, sender=guardian)
    assert governor.state(proposal_id) == CANCELED
    with ape.reverts(governor.GovernorUnexpectedProposalState):
        execute(governed, owner, *cut)


# ---------------------------------------------------------------- the unproven-change filter

def test_propose_apply_governance_update_reverts_UnprovenParameterChange(governed, owner, publishers):
    update, proposed = cut_proposal(governed.oracle, publishers)
    calldata = governed.oracle.applyGovernanceUpdate.encode_input(TEST_MODEL, proposed, update[2])
    with ape.reverts(governed.governor.UnprovenParameterChange):
        governed.governor.propose([governed.oracle.address], [0], [calldata], "unproven", sender=owner)


@pytest.mark.parametrize("relay", ["schedule", "scheduleBatch", "execute", "executeBatch"])
def test_propose_relay_through_timelock_reverts_UnprovenParameterChange(governed, owner, publishers, relay):
    """What the filter catches: a proposal calling the oracle's `applyGovernanceUpdate` itself (above), or
    any of the timelock's schedule/execute functions (the relay around a top-level filter), alone or
    among harmless actions.

    What it cannot catch: everything else a passing vote can make the timelock do. A proposal may
    `updateDelay` the timelock (accepted below) or grant roles (a PROPOSER_ROLE to an account that then
    schedules an unproven `applyGovernanceUpdate` directly): each needs a passing vote, and the timelock
    delay with the guardian's CANCELLER_ROLE is the defence against such a vote, not this filter."""
    oracle, timelock, governor = governed.oracle, governed.timelock, governed.governor
    update, proposed = cut_proposal(oracle, publishers)
    inner = oracle.applyGovernanceUpdate.encode_input(TEST_MODEL, proposed, update[2])
    zero = bytes(32)
    calldata = {
        "schedule": lambda: timelock.schedule.encode_input(oracle.address, 0, inner, zero, zero, 0),
        "scheduleBatch": lambda: timelock.scheduleBatch.encode_input([oracle.address], [0], [inner], zero, zero, 0),
        "execute": lambda: timelock.execute.encode_input(oracle.address, 0, inner, zero, zero),
        "executeBatch": lambda: timelock.executeBatch.encode_input([oracle.address], [0], [inner], zero, zero),
    }[relay]()
    harmless = timelock.updateDelay.encode_input(GOVERNANCE.timelock_delay)
    with ape.reverts(governor.UnprovenParameterChange):
        governor.propose([timelock.address, timelock.address], [0, 0], [harmless, calldata], "relay", sender=owner)
    governor.propose([timelock.address], [0], [harmless], "not a relay: accepted, needs a vote", sender=owner)


def test_timelock_schedule_by_attacker_reverts_AccessControlUnauthorizedAccount(governed, attacker):
    timelock = governed.timelock
    with ape.reverts(timelock.AccessControlUnauthorizedAccount, account=attacker.address,
                     neededRole=timelock.PROPOSER_ROLE()):
        timelock.schedule(governed.oracle.address, 0, b"", bytes(32), bytes(32), 3_600, sender=attacker)


def test_propose_without_votes_reverts_GovernorInsufficientProposerVotes(system, project, owner, attacker, oracle):
    """A governor with a proposal threshold refuses proposers without voting power."""
    governor = project.RiskGovernor.deploy(system.token.address, system.timelock.address, oracle.address,
                                           1, 10, 10**18, 4, sender=owner)
    with ape.reverts(governor.GovernorInsufficientProposerVotes):
        governor.propose([oracle.address], [0], [oracle.pause.encode_input()], "pause", sender=attacker)
