"""Shared, session-scoped fixtures: the production model, its circuits and real proofs.

Circuit setup and proving are the expensive parts of the suite, so each circuit is built once per
session and every test that needs a proof shares the same ones. Under CI the key cache is removed at
the end of the session (proving keys are hundreds of MB each).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings as hypothesis_settings

from ape_isolation import follow_reverts
from contract_build import ensure_fresh_build
from module_order import ENV_VAR as ORDER_VAR
from module_order import order_modules
from prover.toolchain import ensure_node_tools_on_path, install_solc_shim

REPO_ROOT = Path(__file__).resolve().parent.parent
# Before ape's pytest plugin connects: anvil from node_modules, solc-js where py-solc-x looks,
# and a per-session key cache unless the caller chose one.
ensure_node_tools_on_path()
install_solc_shim()
os.environ.setdefault("ZKRISK_CACHE", str(REPO_ROOT / ".zkrisk" / "test-cache"))
# Before anything compiles: a changed import rebuilds every contract, not only the changed file.
ensure_fresh_build(REPO_ROOT, REPO_ROOT / ".build")


# Property tests draw the same examples on every run and machine, so CI never passes or fails by chance;
# HYPOTHESIS_PROFILE=explore draws new ones (a session hunting for counterexamples).
hypothesis_settings.register_profile("repeatable", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def pytest_report_header(config: pytest.Config) -> str:
    return f"module order: {os.environ.get(ORDER_VAR, 'file')} ({ORDER_VAR})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items[:] = order_modules(items, os.environ.get(ORDER_VAR, "file"))


@pytest.fixture(scope="session", autouse=True)
def _contract_caches_follow_reverts():
    with pytest.MonkeyPatch.context() as patch:
        follow_reverts(patch)
        yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI"):
        shutil.rmtree(os.environ["ZKRISK_CACHE"], ignore_errors=True)


@pytest.fixture(scope="session")
def production_version():
    from models.versions import load_version

    return load_version()


@pytest.fixture(scope="session")
def circuit_k1(production_version):
    from prover.circuit import build_circuit

    return build_circuit(production_version, 1)


@pytest.fixture(scope="session")
def circuit_k2(production_version):
    from prover.circuit import build_circuit

    return build_circuit(production_version, 2)


@pytest.fixture(scope="session")
def btc_vector(production_version) -> np.ndarray:
    return production_version.input_vector("BTC")


@pytest.fixture(scope="session")
def eth_vector(production_version) -> np.ndarray:
    return production_version.input_vector("ETH")


def initial_state(k: int) -> np.ndarray:
    """The lending layout's initial policy state for k markets (what a first update steps from)."""
    from models.spec import LENDING

    return np.array([LENDING.initial_state] * k)


@pytest.fixture(scope="session")
def proved_update(circuit_k1, btc_vector):
    """A real proof of one BTC update (latest bundled window), a first update (initial state)."""
    from prover.proving import prove

    return prove(circuit_k1, btc_vector[None, :], initial_state(1))


@pytest.fixture(scope="session")
def proved_batch(circuit_k2, btc_vector, eth_vector):
    """A real batched proof: BTC and ETH in one proof, both first updates (instances: 2 window hashes,
    the state hash, then per market 5 outputs and 2 passed-through state values)."""
    from prover.proving import prove

    return prove(circuit_k2, np.stack([btc_vector, eth_vector]), initial_state(2))


@pytest.fixture(scope="session")
def vka_k1(circuit_k1) -> list[bytes]:
    from prover.evm import vka_words

    return vka_words(circuit_k1)


@pytest.fixture(scope="session")
def vka_k2(circuit_k2) -> list[bytes]:
    from prover.evm import vka_words

    return vka_words(circuit_k2)
