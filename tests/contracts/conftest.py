"""Contract fixtures: named roles, one deployment per session, ape's per-test chain isolation.

The session deployment registers a *placeholder* model (id PLACEHOLDER_MODEL) on the real reusable
verifier with arbitrary VKA words: every check before proof verification can be exercised with it,
and no proof can ever verify under it. Tests that need proofs register the real circuit's VKA
(`real_model`, `real_batch_model`) and use the session's real proofs from tests/conftest.py.
"""

from __future__ import annotations

import pytest

from chain_helpers import (BTC, ETH, GOVERNANCE, PLACEHOLDER_BATCH_MODEL, PLACEHOLDER_MODEL, PLACEHOLDER_VKA,
                           TIMING)
from oracle.chain.deploy import DEFAULT_GUARDRAILS, ModelConfig, deploy_system, guardrail_tuples, register_model


@pytest.fixture(scope="session")
def owner(accounts):
    """Deployer; governance and registry admin until a test hands over to the timelock."""
    return accounts[0]


@pytest.fixture(scope="session")
def publisher_a(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def publisher_b(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def publisher_c(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def keeper(accounts):
    """Submits proved updates (permissionless)."""
    return accounts[4]


@pytest.fixture(scope="session")
def attacker(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def guardian(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def publishers(publisher_a, publisher_b, publisher_c):
    return [publisher_a, publisher_b, publisher_c]


@pytest.fixture(scope="session")
def system(owner, publishers, guardian):
    """The whole system, 2-of-3 publishers, deployer still in charge (hand-over tested separately)."""
    model = ModelConfig(model_id=PLACEHOLDER_MODEL, output_scale=16, markets=(BTC, ETH),
                        vka_words=PLACEHOLDER_VKA, label="placeholder: no proof verifies")
    deployment = deploy_system(owner, publishers, model, quorum=2, guardian=guardian, timing=TIMING,
                               governance=GOVERNANCE, hand_over=False)
    register_model(deployment.oracle, ModelConfig(model_id=PLACEHOLDER_BATCH_MODEL, output_scale=16,
                                                  markets=(BTC, ETH), markets_per_proof=2,
                                                  vka_words=PLACEHOLDER_VKA),
                   deployment.verifier, owner)
    return deployment


@pytest.fixture(scope="session")
def registry(system):
    return system.registry


@pytest.fixture(scope="session")
def oracle(system):
    return system.oracle


@pytest.fixture(scope="session")
def harness(project, owner):
    return project.RiskMathHarness.deploy(sender=owner)


@pytest.fixture(scope="session")
def oracle_harness(project, owner, system, guardian):
    """RiskOracle plus an unproven apply path (same sequence and guardrail code), for invariants."""
    return project.RiskOracleHarness.deploy(system.registry.address, owner.address, guardian.address,
                                            guardrail_tuples(DEFAULT_GUARDRAILS), TIMING.as_tuple(),
                                            sender=owner)
