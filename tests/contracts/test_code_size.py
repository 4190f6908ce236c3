"""EIP-170: every contract the project deploys fits the 24,576-byte mainnet runtime code limit."""

from __future__ import annotations

import pytest

from options_helpers import deploy_options
from prover.evm import REUSABLE_VERIFIER_NAME, REUSABLE_VERIFIER_SOL, compile_verifier
from prover.toolchain import MAX_RUNTIME_CODE_BYTES

pytestmark = pytest.mark.chain

DEPLOYED = ["oracle", "token", "timelock", "governor"]


def test_every_compiled_contract_fits_code_size_limit(project):
    sizes = {}
    for container in project.contracts.values():
        runtime = container.contract_type.runtime_bytecode
        if runtime and runtime.bytecode:
            sizes[container.contract_type.name] = len(bytes.fromhex(runtime.bytecode.removeprefix("0x")))
    assert {"RiskOracle", "RiskGovernor", "RiskTimelock", "RiskVotesToken", "RiskParameterFeed", "LendingMarket",
            "OptionsMarginEngine"} <= set(sizes)
    too_big = {name: size for name, size in sizes.items() if size > MAX_RUNTIME_CODE_BYTES}
    assert not too_big


def test_reusable_verifier_fits_code_size_limit():
    """Compiled by prover.evm (not Ape), exactly as deployed and as `zkrisk audit` recompiles it."""
    compiled = compile_verifier(REUSABLE_VERIFIER_SOL, REUSABLE_VERIFIER_NAME)
    assert 0 < compiled["runtime_size"] <= MAX_RUNTIME_CODE_BYTES and compiled["fits_mainnet"]


def test_every_deployed_contract_fits_code_size_limit(system, chain):
    for contract in [getattr(system, name) for name in DEPLOYED]:
        size = len(chain.provider.get_code(contract.address))
        assert 0 < size <= MAX_RUNTIME_CODE_BYTES, (contract.address, size)


def test_options_engine_deployed_code_fits_code_size_limit(project, owner, chain):
    engine = deploy_options(project, owner, chain_id=chain.chain_id).engine
    assert 0 < len(chain.provider.get_code(engine.address)) <= MAX_RUNTIME_CODE_BYTES
