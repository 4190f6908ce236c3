"""RiskOracle without proofs: model registry, roles, pause, every check that runs before the proof,
governance updates, reads and staleness. Submissions here never reach the verifier: the placeholder
VKA is not a real key, and verifying against it only burns gas (test_proofs.py covers InvalidProof
with the real verifier, key and proofs)."""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from chain_helpers import (BTC, ETH, PLACEHOLDER_BATCH_MODEL, PLACEHOLDER_MODEL, PLACEHOLDER_VKA, TIMING,
                           advance, commit_all, placeholder_instances, risk_update, values_within_guardrails)
from models.spec import FIELD_MODULUS, OUTPUTS

pytestmark = pytest.mark.chain

EPOCH = 20_000
HASH = 4242
OUTPUT_VALUES = [0.03, 0.07, 0.09, 0.8, 1.4]  # vol, var99, es99, lt, cr


@pytest.fixture
def committed(registry, publishers, chain) -> int:
    """BTC at EPOCH committed by all three publishers (quorum 2); returns the committed observation time."""
    observed = chain.blocks.head.timestamp
    commit_all(registry, publishers, BTC, EPOCH, HASH, observed)
    return observed


def submit(oracle, sender, instances=None, markets=(BTC,), epochs=(EPOCH,), model=PLACEHOLDER_MODEL):
    instances = placeholder_instances([HASH], [OUTPUT_VALUES]) if instances is None else instances
    return oracle.submitUpdate(model, list(markets), list(epochs), b"\x01" * 64, instances, sender=sender)


# ---------------------------------------------------------------- model registry and roles

def test_register_model_stores_vka_as_code(oracle, chain):
    model = oracle.getModel(PLACEHOLDER_MODEL)
    assert model.active and model.outputScale == 16 and model.marketsPerProof == 1
    assert bytes(model.vkaDigest) == keccak(b"".join(PLACEHOLDER_VKA))
    assert bytes(chain.provider.get_code(model.vkaPointer)) == b"\x00" + b"".join(PLACEHOLDER_VKA)
    assert model.vkaWords == len(PLACEHOLDER_VKA)
    assert oracle.servesMarket(PLACEHOLDER_MODEL, BTC) and not oracle.servesMarket(PLACEHOLDER_MODEL, 3)


def test_register_model_twice_reverts_model_already_registered(oracle, system, owner):
    with ape.reverts(oracle.ModelAlreadyRegistered, modelId=PLACEHOLDER_MODEL):
        oracle.registerModel(PLACEHOLDER_MODEL, system.verifier, PLACEHOLDER_VKA, 16, 1, [BTC], sender=owner)


@pytest.mark.parametrize("scale,k", [(0, 1), (65, 1), (16, 0), (16, 33)])
def test_register_model_bad_scale_or_batch_reverts_invalid_model_config(oracle, system, owner, scale, k):
    with ape.reverts(oracle.InvalidModelConfig, modelId=9):
        oracle.registerModel(9, system.verifier, PLACEHOLDER_VKA, scale, k, [BTC], sender=owner)


def test_register_model_verifier_without_code_reverts_invalid_model_config(oracle, owner, attacker):
    with ape.reverts(oracle.InvalidModelConfig):
        oracle.registerModel(9, attacker.address, PLACEHOLDER_VKA, 16, 1, [BTC], sender=owner)


def test_register_model_vka_over_code_size_reverts_vka_too_large(oracle, system, owner):
    with ape.reverts(oracle.VkaTooLarge, words=768):
        oracle.registerModel(9, system.verifier, [bytes(31) + b"\x01"] * 768, 16, 1, [BTC], sender=owner)


def test_unpause_when_not_paused_reverts_expected_pause(oracle, guardian):
    with ape.reverts(oracle.ExpectedPause):
        oracle.unpause(sender=guardian)


def test_register_model_by_attacker_reverts_unauthorized(oracle, system, attacker):
    with ape.reverts(oracle.AccessControlUnauthorizedAccount, account=attacker.address):
        oracle.registerModel(9, system.verifier, PLACEHOLDER_VKA, 16, 1, [BTC], sender=attacker)


@pytest.mark.parametrize("call", ["setModelActive", "setModelMarkets"])
def test_model_setters_unknown_model_revert_unknown_model(oracle, owner, call):
    args = (False,) if call == "setModelActive" else ([BTC], False)
    with ape.reverts(oracle.UnknownModel, modelId=99):
        getattr(oracle, call)(99, *args, sender=owner)


def test_set_model_markets_toggles_service(oracle, owner):
    tx = oracle.setModelMarkets(PLACEHOLDER_MODEL, [3], True, sender=owner)
    assert oracle.servesMarket(PLACEHOLDER_MODEL, 3)
    assert tx.events.filter(oracle.ModelMarketChanged)[0].served


@pytest.mark.parametrize("guard", [(2, 1, 1, False), (0, 10, 0, True)])
def test_set_guardrail_unusable_reverts_invalid_guardrail(oracle, owner, guard):
    with ape.reverts(oracle.InvalidGuardrail):
        oracle.setGuardrail(3, guard, sender=owner)


@pytest.mark.parametrize("timing", [(10, 0, 100), (10, 100, 0), (100, 100, 100)])
def test_set_timing_unusable_reverts_invalid_timing(oracle, owner, timing):
    with ape.reverts(oracle.InvalidTiming):
        oracle.setTiming(timing, sender=owner)


@pytest.mark.parametrize("call,args", [("setGuardrail", (3, (0, 10, 1, False))), ("setTiming", ((1, 2, 3),)),
                                       ("setModelActive", (PLACEHOLDER_MODEL, False)), ("unpause", ())])
def test_governance_and_guardian_setters_by_attacker_revert_unauthorized(oracle, attacker, call, args):
    with ape.reverts(oracle.AccessControlUnauthorizedAccount, account=attacker.address):
        getattr(oracle, call)(*args, sender=attacker)


def test_pause_by_attacker_reverts_unauthorized(oracle, attacker):
    with ape.reverts(oracle.AccessControlUnauthorizedAccount):
        oracle.pause(sender=attacker)


# ---------------------------------------------------------------- submitUpdate checks before the proof

def test_submit_update_paused_reverts_enforced_pause(oracle, guardian, keeper):
    oracle.pause(sender=guardian)
    assert oracle.paused()
    with ape.reverts(oracle.EnforcedPause):
        submit(oracle, keeper)
    oracle.unpause(sender=guardian)
    with ape.reverts(oracle.CommitmentNotFinal):  # past the pause, on to the next check
        submit(oracle, keeper)


def test_submit_update_unknown_model_reverts(oracle, keeper, committed):
    with ape.reverts(oracle.UnknownModel, modelId=99):
        submit(oracle, keeper, model=99)


def test_submit_update_inactive_model_reverts(oracle, owner, keeper, committed):
    oracle.setModelActive(PLACEHOLDER_MODEL, False, sender=owner)
    with ape.reverts(oracle.ModelInactive, modelId=PLACEHOLDER_MODEL):
        submit(oracle, keeper)


def test_submit_update_more_markets_than_model_k_reverts_batch_size_mismatch(oracle, keeper, committed):
    with ape.reverts(oracle.BatchSizeMismatch, expected=1, actual=2):
        submit(oracle, keeper, markets=(BTC, ETH))


def test_submit_update_epochs_length_reverts_batch_size_mismatch(oracle, keeper, committed):
    with ape.reverts(oracle.BatchSizeMismatch, expected=1, actual=2):
        submit(oracle, keeper, epochs=(EPOCH, EPOCH + 1))


def test_submit_update_wrong_instance_count_reverts(oracle, keeper, committed):
    with ape.reverts(oracle.InstanceCountMismatch, expected=6, actual=5):
        submit(oracle, keeper, instances=placeholder_instances([HASH], [OUTPUT_VALUES])[:5])


def test_submit_update_market_not_served_reverts(oracle, keeper, committed):
    with ape.reverts(oracle.MarketNotServed, modelId=PLACEHOLDER_MODEL, marketId=3):
        submit(oracle, keeper, markets=(3,))


def test_submit_update_same_market_twice_reverts_duplicate_market(oracle, keeper, committed):
    instances = placeholder_instances([HASH, HASH], [OUTPUT_VALUES, OUTPUT_VALUES])
    with ape.reverts(oracle.DuplicateMarket, marketId=BTC):
        submit(oracle, keeper, instances, markets=(BTC, BTC), epochs=(EPOCH, EPOCH + 1),
               model=PLACEHOLDER_BATCH_MODEL)


@pytest.mark.parametrize("epoch", [EPOCH, EPOCH - 1])
def test_submit_update_replayed_or_older_epoch_reverts_epoch_not_increasing(oracle, owner, keeper, registry,
                                                                          publishers, chain, epoch):
    oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [risk_update(BTC, EPOCH, values_within_guardrails())],
                                 sender=owner)
    commit_all(registry, publishers, BTC, epoch, HASH, chain.blocks.head.timestamp)
    with ape.reverts(oracle.EpochNotIncreasing, marketId=BTC, epoch=epoch, lastEpoch=EPOCH):
        submit(oracle, keeper, epochs=(epoch,))


def test_submit_update_below_quorum_reverts_commitment_not_final(oracle, registry, publisher_a, keeper, chain):
    registry.commit(BTC, EPOCH, HASH.to_bytes(32, "big"), chain.blocks.head.timestamp, sender=publisher_a)
    with ape.reverts(oracle.CommitmentNotFinal, marketId=BTC, epoch=EPOCH):
        submit(oracle, keeper)


def test_submit_update_conflicted_commitment_reverts_commitment_not_final(oracle, registry, publishers, keeper,
                                                                          chain):
    commit_all(registry, publishers[:2], BTC, EPOCH, HASH, chain.blocks.head.timestamp)
    registry.commit(BTC, EPOCH, (HASH + 1).to_bytes(32, "big"), chain.blocks.head.timestamp, sender=publishers[2])
    with ape.reverts(oracle.CommitmentNotFinal):
        submit(oracle, keeper)


def test_submit_update_old_commitment_reverts_commitment_too_old(oracle, keeper, committed, chain):
    # the committed time, not the head's after the commits: a slow machine mines them a second later
    advance(chain, TIMING.max_commitment_age + 1)
    with ape.reverts(oracle.CommitmentTooOld, marketId=BTC, epoch=EPOCH, observedAt=committed):
        submit(oracle, keeper)


def test_submit_update_other_input_hash_reverts_input_hash_mismatch(oracle, keeper, committed):
    instances = placeholder_instances([HASH + 1], [OUTPUT_VALUES])
    with ape.reverts(oracle.InputHashMismatch, committed=HASH.to_bytes(32, "big"),
                     proved=(HASH + 1).to_bytes(32, "big")):
        submit(oracle, keeper, instances)


@pytest.mark.parametrize("bad", [FIELD_MODULUS - 1, FIELD_MODULUS // 2 + 1, FIELD_MODULUS, 2**256 - 1])
def test_submit_update_negative_or_non_field_output_reverts_invalid_output(oracle, keeper, committed, bad):
    instances = placeholder_instances([HASH], [OUTPUT_VALUES])
    instances[1 + OUTPUTS.index("lt")] = bad
    with ape.reverts(oracle.InvalidOutput, felt=bad):
        submit(oracle, keeper, instances)


# ---------------------------------------------------------------- governance updates and reads

def test_apply_governance_update_stores_and_flags_override(oracle, owner, chain):
    values = values_within_guardrails(0.3)
    tx = oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [risk_update(BTC, EPOCH, values, HASH)], sender=owner)
    params = oracle.getRiskParameters(BTC)
    assert [params.volatility, params.valueAtRisk, params.expectedShortfall, params.liquidationThreshold,
            params.collateralRatio] == values
    assert (params.epoch, params.modelId, bytes(params.inputHash)) == (EPOCH, PLACEHOLDER_MODEL,
                                                                         HASH.to_bytes(32, "big"))
    assert params.updatedAt == chain.blocks.head.timestamp
    [event] = tx.events.filter(oracle.RiskParametersUpdated)
    assert event.governanceOverride and list(event.values) == values


def test_apply_governance_update_works_while_paused(oracle, owner, guardian):
    oracle.pause(sender=guardian)
    oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [risk_update(BTC, EPOCH, values_within_guardrails())],
                                 sender=owner)
    assert oracle.getRiskParameters(BTC).epoch == EPOCH


def test_apply_governance_update_over_uint96_reverts_out_of_bounds(oracle, owner):
    values = values_within_guardrails()
    values[4] = 2**96
    with ape.reverts(oracle.ParameterOutOfBounds, value=2**96, max=2**96 - 1):
        oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [risk_update(BTC, EPOCH, values)], sender=owner)


def test_apply_governance_update_duplicate_market_reverts(oracle, owner):
    update = risk_update(BTC, EPOCH, values_within_guardrails())
    with ape.reverts(oracle.DuplicateMarket):
        oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [update, update], sender=owner)


def test_apply_governance_update_by_attacker_reverts_unauthorized(oracle, attacker):
    with ape.reverts(oracle.AccessControlUnauthorizedAccount):
        oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [risk_update(BTC, EPOCH, values_within_guardrails())],
                                     sender=attacker)


def test_apply_governance_update_unknown_model_reverts(oracle, owner):
    with ape.reverts(oracle.UnknownModel):
        oracle.applyGovernanceUpdate(99, [risk_update(BTC, EPOCH, values_within_guardrails())], sender=owner)


def test_get_fresh_risk_parameters_without_update_reverts_stale(oracle):
    assert oracle.isStale(BTC)
    assert oracle.getRiskParameters(BTC).updatedAt == 0
    with ape.reverts(oracle.StaleRiskParameters, marketId=BTC, updatedAt=0):
        oracle.getFreshRiskParameters(BTC)


def test_get_fresh_risk_parameters_after_staleness_period_reverts(oracle, owner, chain):
    oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [risk_update(BTC, EPOCH, values_within_guardrails())],
                                 sender=owner)
    assert oracle.getFreshRiskParameters(BTC).epoch == EPOCH
    advance(chain, TIMING.staleness_period + 1)
    assert oracle.isStale(BTC)
    with ape.reverts(oracle.StaleRiskParameters):
        oracle.getFreshRiskParameters(BTC)


def test_get_parameter_follows_output_order(oracle, owner):
    values = values_within_guardrails(0.7)
    oracle.applyGovernanceUpdate(PLACEHOLDER_MODEL, [risk_update(ETH, EPOCH, values)], sender=owner)
    for index, expected in enumerate(values):
        value, _, epoch = oracle.getParameter(ETH, index)
        assert (value, epoch) == (expected, EPOCH)
