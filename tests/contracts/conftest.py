"""Contract fixtures: named roles, one deployment per session, ape's per-test chain isolation.

The session deployment sets the production model card's guards (per market, per parameter, per
direction) and registers *test-verifier* models (contracts/test/TestVerifier.sol, whose answer
a test can set) for both layouts: every check of the oracle besides the zk proof itself — reports,
signatures, epochs, state, guards, storage — is exercised with them over any values. Tests that need
proofs register the real circuits' VKA on EZKL's reusable verifier (`real_model`, `real_batch_model`)
and use the session's real proofs from tests/conftest.py.
"""

from __future__ import annotations

import pytest

from chain_helpers import START_EPOCH, at_epoch, deploy_test_system
from oracle.chain.deploy import register_model


@pytest.fixture(scope="session")
def owner(accounts):
    """Deployer; governance until a test hands over to the timelock."""
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
def test_verifier(project, owner):
    return project.TestVerifier.deploy(sender=owner)


@pytest.fixture(scope="session")
def system(owner, publishers, guardian, test_verifier, chain):
    """The whole system with test-verifier models (`deploy_test_system`); the clock is at START_EPOCH's day."""
    return deploy_test_system(owner, publishers, guardian, test_verifier, chain)


@pytest.fixture(scope="session")
def oracle(system):
    return system.oracle


@pytest.fixture
def start_clock(chain):
    """The clock at START_EPOCH's day (a restored snapshot keeps anvil's clock where a test left it)."""
    at_epoch(chain, START_EPOCH)


@pytest.fixture(scope="session")
def harness(project, owner):
    return project.RiskMathHarness.deploy(sender=owner)


@pytest.fixture(scope="session")
def real_model(system, owner, circuit_k1, vka_k1):
    """The production circuit (K=1) registered on the reusable verifier as REAL_MODEL."""
    from chain_helpers import REAL_MODEL
    from oracle.chain.deploy import deploy_verifier, model_config_for_circuit

    config = model_config_for_circuit(circuit_k1, REAL_MODEL)
    register_model(system.oracle, config, deploy_verifier(owner), owner)
    return config


@pytest.fixture(scope="session")
def real_batch_model(system, owner, circuit_k2, vka_k2):
    from chain_helpers import REAL_BATCH_MODEL
    from oracle.chain.deploy import deploy_verifier, model_config_for_circuit

    config = model_config_for_circuit(circuit_k2, REAL_BATCH_MODEL)
    register_model(system.oracle, config, deploy_verifier(owner), owner)
    return config


@pytest.fixture(scope="session")
def options_math(project, owner):
    """BlackScholes and PortfolioMargin exposed (OptionsMathHarness)."""
    return project.OptionsMathHarness.deploy(sender=owner)
