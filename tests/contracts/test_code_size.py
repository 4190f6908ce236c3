"""EIP-170: every contract the project deploys fits the 24,576-byte mainnet runtime code limit."""

from __future__ import annotations

import pytest

from options_helpers import deploy_options
from prover.toolchain import MAX_RUNTIME_CODE_BYTES

pytestmark = pytest.mark.chain

DEPLOYED = ["verifier", "registry", "oracle", "token", "timelock", "governor"]


def test_every_compiled_contract_fits_code_size_limit(project):
    sizes = {}
    for container in project.contracts.values():
        runtime = container.contract_type.runtime_bytecode
        if runtime and runtime.bytecode:
            sizes[container.contract_type.name] = len(bytes.fromhex(runtime.bytecode.removeprefix("0x")))
    assert {"RiskOracle", "RiskGovernor", "Halo2VerifierReusable", "DataCommitmentRegistry",
            "OptionsMarginEngine"} <= set(sizes)
    too_big = {name: size for name, size in sizes.items() if size > MAX_RUNTIME_CODE_BYTES}
    assert not too_big


def test_every_deployed_contract_fits_code_size_limit(system, chain):
    addresses = [getattr(system, name) for name in DEPLOYED] + list(system.feeds.values())
    vka_pointer = system.oracle.getModel(system.models[0].model_id).vkaPointer
    for contract in [*addresses, vka_pointer]:
        address = contract if isinstance(contract, str) else contract.address
        size = len(chain.provider.get_code(address))
        assert 0 < size <= MAX_RUNTIME_CODE_BYTES, (address, size)


def test_options_engine_deployed_code_fits_code_size_limit(project, owner, chain):
    engine = deploy_options(project, owner, chain_id=chain.chain_id).engine
    assert 0 < len(chain.provider.get_code(engine.address)) <= MAX_RUNTIME_CODE_BYTES
