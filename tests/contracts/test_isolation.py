"""Ape's caches follow chain reverts (tests/ape_isolation.py): what a reverted test deployed is forgotten."""

from __future__ import annotations

import ape

from chain_helpers import TIMING


def test_deploy_reverting_where_a_reverted_deployment_was_decodes_its_own_error(project, owner, guardian,
                                                                                 publishers, chain):
    """The oracle's deployment gets the address (same sender, same nonce) of a TestToken whose deployment
    was reverted; its revert must decode with the oracle's errors, not with TestToken's ABI (Ape kept
    the reverted contract's type cached at that address)."""
    snapshot = chain.snapshot()
    reverted = project.TestToken.deploy("Reverted", "R", sender=owner)
    chain.restore(snapshot)
    assert chain.provider.get_code(reverted.address) == b""
    addresses = [p.address for p in publishers]
    with ape.reverts(project.RiskOracle.InvalidQuorum, quorum=0, publishers=len(addresses)):
        project.RiskOracle.deploy(owner.address, guardian.address, addresses, 0, TIMING.as_tuple(), sender=owner)
