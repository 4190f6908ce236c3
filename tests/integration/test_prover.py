"""Prover against real circuits and proofs (the session fixtures of tests/conftest.py).

Off-chain and Solidity verification of single and batched proofs, decoded outputs against the float
model, commitments, witness and fidelity errors, and the verifier generated from the committed file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.spec import LENDING
from prover.errors import ProofError, WitnessError
from prover.evm import (REUSABLE_VERIFIER_SOL, deploy_plain_verifier, deploy_reusable_verifier, local_chain,
                        render_reusable_verifier)
from prover.proving import input_commitment, prove, verify
from prover.toolchain import MAX_RUNTIME_CODE_BYTES

pytestmark = pytest.mark.slow


def test_single_update_matches_the_float_model_within_the_stated_error(circuit_k1, proved_update) -> None:
    assert proved_update.max_abs_error_bps <= circuit_k1.tolerance_bps <= 1.0
    assert set(proved_update.error_bps_by_output) == set(LENDING.names)
    stated = circuit_k1.manifest["fidelity"]
    assert stated["samples"] >= 32 and max(stated["max_abs_error_bps"].values()) <= circuit_k1.tolerance_bps
    market = proved_update.markets[0]
    for name in LENDING.names:
        assert market.values[name] == pytest.approx(market.float_model[name], abs=circuit_k1.tolerance_bps / 1e4)
    # the proof passes the state it stepped from through to its outputs, as the input scale read it
    shift = 2 ** (circuit_k1.output_scale - circuit_k1.input_scale)
    assert [market.state[n] for n in LENDING.state] == [
        round(v * 2**circuit_k1.input_scale) * shift for v in LENDING.initial_state]


def test_batched_proof_verifies_off_chain_with_one_commitment_per_market(circuit_k2, proved_batch) -> None:
    assert verify(circuit_k2, proved_batch.proof_path)
    assert len(proved_batch.instances) == LENDING.instance_count(2)
    for vector, commitment in zip(proved_batch.vectors, proved_batch.input_hashes):
        assert input_commitment(vector, circuit_k2.input_scale) == commitment
    assert proved_batch.input_hashes[0] != proved_batch.input_hashes[1]
    assert proved_batch.max_abs_error_bps <= circuit_k2.tolerance_bps


@pytest.mark.chain
def test_solidity_verifiers_accept_real_proofs_and_reject_altered_outputs(circuit_k1, circuit_k2, proved_update,
                                                                           proved_batch) -> None:
    with local_chain() as chain:
        reusable_k2 = deploy_reusable_verifier(chain, circuit_k2)
        assert reusable_k2.runtime_size <= MAX_RUNTIME_CODE_BYTES
        accepted, gas = reusable_k2.verify(proved_batch.proof, proved_batch.instances)
        assert accepted and gas < 2_000_000
        altered = list(proved_batch.instances)
        altered[-1 - len(LENDING.state)] += 1  # the second market's LT, one unit of the output scale higher
        assert not _accepts(reusable_k2, proved_batch.proof, altered)
        plain_k1 = deploy_plain_verifier(chain, circuit_k1)
        assert plain_k1.runtime_size <= MAX_RUNTIME_CODE_BYTES
        accepted, plain_gas = plain_k1.verify(proved_update.proof, proved_update.instances)
        assert accepted and plain_gas < gas


def _accepts(verifier, proof: bytes, instances: list[int]) -> bool:
    """A rejected proof either returns false or reverts, depending on where the check fails."""
    try:
        return verifier.verify(proof, instances)[0]
    except ProofError:
        return False


def test_inputs_outside_the_circuit_range_are_a_witness_error(circuit_k1, btc_vector) -> None:
    extreme = btc_vector.copy()
    extreme[-1] = 1e5  # a finite but absurd +100,000 % daily return: beyond the 3 x 10-bit decomposition
    with pytest.raises(WitnessError, match="witness generation failed"):
        prove(circuit_k1, extreme[None, :], np.array([LENDING.initial_state]))


def test_regenerating_the_reusable_verifier_reproduces_the_committed_file(circuit_k1, circuit_k2,
                                                                         tmp_path: Path) -> None:
    committed = REUSABLE_VERIFIER_SOL.read_text()
    for circuit in (circuit_k1, circuit_k2):
        regenerated = render_reusable_verifier(circuit, tmp_path / f"k{circuit.k}" / "Halo2VerifierReusable.sol")
        assert regenerated.read_text() == committed, f"K={circuit.k} renders a different reusable verifier"


def test_market_outputs_follow_the_instance_layout(production_version, proved_batch) -> None:
    floats = production_version.predict(proved_batch.vectors, proved_batch.state)
    for market, row in zip(proved_batch.markets, floats):
        assert [market.float_model[name] for name in LENDING.names] == pytest.approx(row[:len(LENDING.names)].tolist())


def test_a_policy_state_of_the_wrong_shape_or_none_is_a_witness_error(circuit_k1, btc_vector) -> None:
    with pytest.raises(WitnessError, match="policy state"):
        prove(circuit_k1, btc_vector[None, :])
    with pytest.raises(WitnessError, match="shape"):
        prove(circuit_k1, btc_vector[None, :], np.zeros((1, len(LENDING.state) + 1)))


#: a return (percent) whose float64 and float32 values quantise to neighbouring field elements at scale 13
BOUNDARY_RETURN = -27.284240646662028


def test_the_proof_hashes_inputs_as_float32_and_input_commitment_agrees(circuit_k1, btc_vector) -> None:
    """EZKL reads inputs as float32: the commitment anyone recomputes must round the same way (an
    auditor hashing float64 gets a different felt on boundary values like this one)."""
    import ezkl

    vector = btc_vector.copy()
    vector[list(circuit_k1.version.card["input_layout"]).index("ret_t-3")] = BOUNDARY_RETURN
    assert ezkl.float_to_felt(BOUNDARY_RETURN, circuit_k1.input_scale) != ezkl.float_to_felt(
        float(np.float32(BOUNDARY_RETURN)), circuit_k1.input_scale)
    proof = prove(circuit_k1, vector[None, :], np.array([LENDING.initial_state]))
    assert proof.input_hashes[0] == input_commitment(vector, circuit_k1.input_scale)


def test_an_output_further_from_the_float_model_than_the_tolerance_is_a_fidelity_error(circuit_k1, btc_vector) -> None:
    """A circuit that does not compute the float model (here: the float model moved by twice the
    tolerance) never gets a proof."""
    from dataclasses import replace

    import torch

    from prover.errors import FidelityError

    class Shifted(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module, shift: float) -> None:
            super().__init__()
            self.inner, self.shift = inner, shift

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.inner(*inputs) + self.shift

    version = replace(circuit_k1.version, model=Shifted(circuit_k1.version.model, 2 * circuit_k1.tolerance_bps / 1e4))
    with pytest.raises(FidelityError):
        prove(replace(circuit_k1, version=version), btc_vector[None, :], np.array([LENDING.initial_state]))
