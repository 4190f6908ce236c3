"""Real EZKL proofs on the real reusable verifier (and a plain verifier): accepted updates store exactly
the circuit's decoded outputs; tampering, replays and guardrail violations revert with their errors;
governance proposals carry proofs verified at proposal time."""

from __future__ import annotations

import ape
import pytest
from ape.contracts import ContractContainer
from eth_utils import keccak
from ethpm_types import ContractType
from web3.exceptions import ContractCustomError

from chain_helpers import (BTC, ETH, REAL_BATCH_MODEL, REAL_MODEL, TIMING, advance, commit_all, pass_proposal,
                           risk_update)
from models.spec import OUTPUTS, WAD
from oracle.chain.deploy import DEFAULT_GUARDRAILS, ModelConfig, publish_proved_update, register_model, \
    update_arguments

pytestmark = [pytest.mark.chain, pytest.mark.slow]

PLAIN_MODEL = 4
LT = OUTPUTS.index("lt")


@pytest.fixture(scope="session")
def real_model(system, owner, circuit_k1, vka_k1):
    register_model(system.oracle, ModelConfig(model_id=REAL_MODEL, output_scale=circuit_k1.output_scale,
                                              markets=(BTC, ETH), vka_words=vka_k1), system.verifier, owner)
    return REAL_MODEL


@pytest.fixture(scope="session")
def real_batch_model(system, owner, circuit_k2, vka_k2):
    register_model(system.oracle, ModelConfig(model_id=REAL_BATCH_MODEL, output_scale=circuit_k2.output_scale,
                                              markets=(BTC, ETH), markets_per_proof=2, vka_words=vka_k2),
                   system.verifier, owner)
    return REAL_BATCH_MODEL


def wad_values(market_output) -> list[int]:
    return [market_output.wad[name] for name in OUTPUTS]


def stored_values(oracle, market: int) -> list[int]:
    p = oracle.getRiskParameters(market)
    return [p.volatility, p.valueAtRisk, p.expectedShortfall, p.liquidationThreshold, p.collateralRatio]


def commit_proof(system, publishers, proved) -> tuple[list[int], list[int]]:
    """Two of three publishers commit every market of the proof; returns (market ids, epochs)."""
    from ape import chain

    markets, epochs = update_arguments(proved.vectors)
    for i, (market, epoch) in enumerate(zip(markets, epochs)):
        commit_all(system.registry, publishers[:2], market, epoch, proved.input_hashes[i], chain.blocks.head.timestamp)
    return markets, epochs


def test_submit_update_real_proof_stores_decoded_outputs(system, real_model, publishers, keeper, proved_update,
                                                         chain):
    tx = publish_proved_update(system, publishers[:2], keeper, real_model, proved_update.proof,
                               proved_update.instances, proved_update.vectors)
    (market,), (epoch,) = update_arguments(proved_update.vectors)
    params = system.oracle.getRiskParameters(market)
    assert stored_values(system.oracle, market) == wad_values(proved_update.markets[0])
    assert (params.epoch, params.modelId, params.updatedAt) == (epoch, real_model, chain.blocks.head.timestamp)
    assert int.from_bytes(bytes(params.inputHash), "big") == proved_update.input_hashes[0]
    [event] = tx.events.filter(system.oracle.RiskParametersUpdated)
    assert not event.governanceOverride and list(event.values) == wad_values(proved_update.markets[0])
    assert system.feeds[(market, "lt")].latestRoundData()[1] == proved_update.markets[0].wad["lt"]


def test_submit_update_batched_proof_updates_every_market(system, real_batch_model, publishers, keeper,
                                                          proved_batch):
    publish_proved_update(system, publishers[:2], keeper, real_batch_model, proved_batch.proof,
                          proved_batch.instances, proved_batch.vectors)
    markets, epochs = update_arguments(proved_batch.vectors)
    assert markets == [BTC, ETH]
    for market, epoch, output in zip(markets, epochs, proved_batch.markets):
        assert stored_values(system.oracle, market) == wad_values(output)
        assert system.oracle.getRiskParameters(market).epoch == epoch


def test_verify_update_returns_decoded_outputs(system, real_batch_model, publishers, proved_batch):
    markets, epochs = commit_proof(system, publishers, proved_batch)
    updates = system.oracle.verifyUpdate(real_batch_model, markets, epochs, proved_batch.proof,
                                         proved_batch.instances)
    assert [list(u.values) for u in updates] == [wad_values(m) for m in proved_batch.markets]


def test_submit_update_flipped_proof_byte_reverts_invalid_proof(system, real_model, publishers, keeper,
                                                                proved_update):
    markets, epochs = commit_proof(system, publishers, proved_update)
    proof = bytearray(proved_update.proof)
    proof[len(proof) // 2] ^= 0x01
    with ape.reverts(system.oracle.InvalidProof, modelId=real_model):
        system.oracle.submitUpdate(real_model, markets, epochs, bytes(proof), proved_update.instances, sender=keeper)


def test_submit_update_tampered_output_reverts_invalid_proof(system, real_model, publishers, keeper,
                                                             proved_update):
    markets, epochs = commit_proof(system, publishers, proved_update)
    instances = list(proved_update.instances)
    instances[1 + LT] -= 1  # a slightly lower LT than the model produced
    with ape.reverts(system.oracle.InvalidProof):
        system.oracle.submitUpdate(real_model, markets, epochs, proved_update.proof, instances, sender=keeper)


def test_submit_update_batch_in_other_order_reverts_input_hash_mismatch(system, real_batch_model, publishers,
                                                                        keeper, proved_batch):
    markets, epochs = commit_proof(system, publishers, proved_batch)
    with ape.reverts(system.oracle.InputHashMismatch, marketId=markets[1]):
        system.oracle.submitUpdate(real_batch_model, markets[::-1], epochs[::-1], proved_batch.proof,
                                   proved_batch.instances, sender=keeper)


def test_submit_update_replayed_proof_reverts_epoch_not_increasing(system, real_model, publishers, keeper,
                                                                   proved_update, chain):
    publish_proved_update(system, publishers[:2], keeper, real_model, proved_update.proof,
                          proved_update.instances, proved_update.vectors)
    advance(chain, TIMING.min_update_delay + 1)
    markets, epochs = update_arguments(proved_update.vectors)
    with ape.reverts(system.oracle.EpochNotIncreasing, epoch=epochs[0], lastEpoch=epochs[0]):
        system.oracle.submitUpdate(real_model, markets, epochs, proved_update.proof, proved_update.instances,
                                   sender=keeper)


def test_submit_update_outside_bounds_reverts_parameter_out_of_bounds(system, real_model, owner, publishers,
                                                                      keeper, proved_update):
    lt = proved_update.markets[0].wad["lt"]
    guard = DEFAULT_GUARDRAILS["lt"]
    system.oracle.setGuardrail(LT, (guard.min, lt - 1, guard.max_change, guard.relative), sender=owner)
    markets, epochs = commit_proof(system, publishers, proved_update)
    with ape.reverts(system.oracle.ParameterOutOfBounds, parameter=LT, value=lt, max=lt - 1):
        system.oracle.submitUpdate(real_model, markets, epochs, proved_update.proof, proved_update.instances,
                                   sender=keeper)


def test_submit_update_large_change_reverts_parameter_change_too_large(system, real_model, owner, publishers,
                                                                       keeper, proved_update, chain):
    previous = wad_values(proved_update.markets[0])
    previous[LT] -= 2 * DEFAULT_GUARDRAILS["lt"].max_change
    markets, epochs = update_arguments(proved_update.vectors)
    system.oracle.applyGovernanceUpdate(real_model, [risk_update(markets[0], epochs[0] - 1, previous)], sender=owner)
    advance(chain, TIMING.min_update_delay + 1)
    commit_proof(system, publishers, proved_update)
    with ape.reverts(system.oracle.ParameterChangeTooLarge, parameter=LT, previous=previous[LT]):
        system.oracle.submitUpdate(real_model, markets, epochs, proved_update.proof, proved_update.instances,
                                   sender=keeper)


def test_submit_update_right_after_previous_reverts_update_too_soon(system, real_model, owner, publishers, keeper,
                                                                    proved_update):
    markets, epochs = update_arguments(proved_update.vectors)
    system.oracle.applyGovernanceUpdate(
        real_model, [risk_update(markets[0], epochs[0] - 1, wad_values(proved_update.markets[0]))], sender=owner)
    commit_proof(system, publishers, proved_update)
    with ape.reverts(system.oracle.UpdateTooSoon, marketId=markets[0]):
        system.oracle.submitUpdate(real_model, markets, epochs, proved_update.proof, proved_update.instances,
                                   sender=keeper)


def test_submit_update_plain_verifier_model_accepts_proof(system, owner, publishers, keeper, circuit_k1,
                                                          proved_update, tmp_path):
    """A model without VKA uses a circuit-specific verifier (the key baked into its code)."""
    from prover.evm import compile_verifier, render_plain_verifier

    compiled = compile_verifier(render_plain_verifier(circuit_k1, tmp_path / "Halo2Verifier.sol"), "Halo2Verifier")
    assert compiled["fits_mainnet"]
    contract_type = ContractType.model_validate({"contractName": "Halo2Verifier", "abi": compiled["abi"],
                                                 "deploymentBytecode": {"bytecode": compiled["bytecode"]}})
    verifier = owner.deploy(ContractContainer(contract_type))
    register_model(system.oracle, ModelConfig(model_id=PLAIN_MODEL, output_scale=circuit_k1.output_scale,
                                              markets=(BTC,)), verifier.address, owner)
    assert system.oracle.getModel(PLAIN_MODEL).vkaPointer == "0x" + "00" * 20
    publish_proved_update(system, publishers[:2], keeper, PLAIN_MODEL, proved_update.proof,
                          proved_update.instances, proved_update.vectors)
    assert stored_values(system.oracle, BTC) == wad_values(proved_update.markets[0])


# ---------------------------------------------------------------- proved governance proposals

def proved_update_arg(model_id: int, proved) -> tuple:
    markets, epochs = update_arguments(proved.vectors)
    return (model_id, markets, epochs, proved.proof, proved.instances)


def test_propose_risk_update_with_proof_applies_beyond_guardrails_after_vote(system, real_model, owner, publishers,
                                                                             keeper, proved_update, chain):
    """The proved LT is above the guardrail, so a keeper cannot submit it; a vote can."""
    lt = proved_update.markets[0].wad["lt"]
    guard = DEFAULT_GUARDRAILS["lt"]
    system.oracle.setGuardrail(LT, (guard.min, lt - 1, guard.max_change, guard.relative), sender=owner)
    system.hand_over_to_timelock()
    markets, epochs = commit_proof(system, publishers, proved_update)
    with ape.reverts(system.oracle.ParameterOutOfBounds):
        system.oracle.submitUpdate(real_model, markets, epochs, proved_update.proof, proved_update.instances,
                                   sender=keeper)

    proposed = [risk_update(markets[0], epochs[0], wad_values(proved_update.markets[0]),
                            proved_update.input_hashes[0])]
    description = "Raise BTC LT beyond the guardrail (proved)"
    tx = system.governor.proposeRiskUpdate(proved_update_arg(real_model, proved_update), proposed, description,
                                           sender=owner)
    assert tx.events.filter(system.governor.ProvenProposalCreated)[0].marketCount == 1
    targets, values, calldatas = system.governor.riskUpdateActions(real_model, proposed)
    pass_proposal(system, owner, targets, values, calldatas, description, chain)
    assert stored_values(system.oracle, markets[0]) == wad_values(proved_update.markets[0])
    assert system.oracle.getRiskParameters(markets[0]).liquidationThreshold == lt > lt - 1


def test_propose_risk_update_values_not_proved_reverts_proposed_values_mismatch(system, real_model, owner,
                                                                                publishers, proved_update):
    markets, epochs = commit_proof(system, publishers, proved_update)
    values = wad_values(proved_update.markets[0])
    values[LT] += WAD // 100  # one point more than the model produced
    proposed = [risk_update(markets[0], epochs[0], values, proved_update.input_hashes[0])]
    with ape.reverts(system.governor.ProposedValuesMismatch, index=0):
        system.governor.proposeRiskUpdate(proved_update_arg(real_model, proved_update), proposed, "inflated LT",
                                          sender=owner)


def test_propose_risk_update_wrong_count_reverts_proposed_count_mismatch(system, real_model, owner, publishers,
                                                                         proved_update):
    commit_proof(system, publishers, proved_update)
    with ape.reverts(system.governor.ProposedCountMismatch, proved=1, proposed=0):
        system.governor.proposeRiskUpdate(proved_update_arg(real_model, proved_update), [], "empty", sender=owner)


def test_propose_risk_update_bad_proof_reverts_invalid_proof(system, real_model, owner, publishers, proved_update,
                                                             chain):
    markets, epochs = commit_proof(system, publishers, proved_update)
    proof = bytearray(proved_update.proof)
    proof[100] ^= 0x01
    proposed = [risk_update(markets[0], epochs[0], wad_values(proved_update.markets[0]),
                            proved_update.input_hashes[0])]
    data = system.governor.proposeRiskUpdate.encode_input(
        (real_model, markets, epochs, bytes(proof), proved_update.instances), proposed, "bad proof")
    # eth_call through web3: the error comes from the oracle, and Ape would trace the whole verifier run
    # (minutes) to attribute it; the selector and argument are checked directly instead.
    with pytest.raises(ContractCustomError) as raised:
        chain.provider.web3.eth.call({"from": owner.address, "to": system.governor.address, "data": data})
    expected = keccak(text="InvalidProof(uint32)")[:4] + real_model.to_bytes(32, "big")
    assert raised.value.data == "0x" + expected.hex()
