"""Governance plumbing: hand-over to the timelock, model upgrades by vote, unproven parameter changes
refused. Proved parameter proposals (which need real proofs) are in test_proofs.py."""

from __future__ import annotations

import ape
import pytest

from chain_helpers import BTC, ETH, PLACEHOLDER_MODEL, PLACEHOLDER_VKA, description_hash, pass_proposal, \
    risk_update, values_within_guardrails

pytestmark = pytest.mark.chain

NEW_MODEL = 3


@pytest.fixture
def governed(system):
    """The system after the deployer handed every admin role to the timelock."""
    system.hand_over_to_timelock()
    return system


def test_hand_over_to_timelock_removes_deployer_powers(governed, owner):
    oracle, registry, timelock = governed.oracle, governed.registry, governed.timelock
    assert oracle.hasRole(oracle.GOVERNANCE_ROLE(), timelock.address)
    assert not oracle.hasRole(oracle.GOVERNANCE_ROLE(), owner.address)
    assert registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), timelock.address)
    assert not timelock.hasRole(timelock.DEFAULT_ADMIN_ROLE(), owner.address)
    assert timelock.hasRole(timelock.PROPOSER_ROLE(), governed.governor.address)
    with ape.reverts(oracle.AccessControlUnauthorizedAccount):
        oracle.setModelActive(PLACEHOLDER_MODEL, False, sender=owner)
    with ape.reverts(registry.AccessControlUnauthorizedAccount):
        registry.setQuorum(1, sender=owner)
    assert governed.to_manifest()["governance"] == timelock.address


def test_propose_model_upgrade_executes_through_timelock(governed, owner, chain):
    oracle = governed.oracle
    targets = [oracle.address, oracle.address]
    calldatas = [oracle.registerModel.encode_input(NEW_MODEL, governed.verifier, PLACEHOLDER_VKA, 16, 1, [BTC, ETH]),
                 oracle.setModelActive.encode_input(PLACEHOLDER_MODEL, False)]
    description = "Upgrade: model 3 replaces model 7"
    governed.governor.propose(targets, [0, 0], calldatas, description, sender=owner)
    with ape.reverts(governed.governor.GovernorUnexpectedProposalState):  # cannot skip the vote
        governed.governor.queue(targets, [0, 0], calldatas, description_hash(description), sender=owner)
    pass_proposal(governed, owner, targets, [0, 0], calldatas, description, chain)
    assert oracle.getModel(NEW_MODEL).active and oracle.servesMarket(NEW_MODEL, ETH)
    assert not oracle.getModel(PLACEHOLDER_MODEL).active


def test_propose_quorum_change_executes_on_registry(governed, owner, chain):
    registry = governed.registry
    calldata = registry.setQuorum.encode_input(3)
    governed.governor.propose([registry.address], [0], [calldata], "k = 3", sender=owner)
    pass_proposal(governed, owner, [registry.address], [0], [calldata], "k = 3", chain)
    assert registry.quorum() == 3


def test_propose_apply_governance_update_reverts_unproven_parameter_change(governed, owner):
    oracle = governed.oracle
    calldata = oracle.applyGovernanceUpdate.encode_input(
        PLACEHOLDER_MODEL, [risk_update(BTC, 1, values_within_guardrails())])
    with ape.reverts(governed.governor.UnprovenParameterChange):
        governed.governor.propose([oracle.address], [0], [calldata], "unproven", sender=owner)


def test_timelock_direct_schedule_by_attacker_reverts_unauthorized(governed, attacker):
    timelock = governed.timelock
    with ape.reverts(timelock.AccessControlUnauthorizedAccount):
        timelock.schedule(governed.oracle.address, 0, b"", bytes(32), bytes(32), 3_600, sender=attacker)


def test_propose_without_votes_reverts_insufficient_proposer_votes(system, project, owner, attacker, oracle):
    """A governor with a proposal threshold refuses proposers without voting power."""
    governor = project.RiskGovernor.deploy(system.token.address, system.timelock.address, oracle.address,
                                           1, 10, 10**18, 4, sender=owner)
    with ape.reverts(governor.GovernorInsufficientProposerVotes):
        governor.propose([oracle.address], [0], [oracle.pause.encode_input()], "pause", sender=attacker)
