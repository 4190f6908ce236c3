"""Real proofs on the real reusable verifier: signed reports, a proof and the oracle's decoded storage."""

from __future__ import annotations

import ape
import pytest

from chain_helpers import BTC, DAY, REAL_MODEL, set_time, sign
from models.spec import LENDING
from oracle.chain.deploy import submit_update
from oracle.reports import Report, data_hash

pytestmark = pytest.mark.slow


def real_report(proof, index: int, production_version, symbol: str) -> Report:
    vector = proof.vectors[index]
    epoch = int(vector[1])
    data = production_version.window_data(symbol)
    return Report(int(vector[0]), epoch, proof.input_hashes[index].to_bytes(32, "big"), data_hash(data), epoch * DAY)


def test_submitUpdate_real_proof_stores_the_proved_values(oracle, real_model, proved_update, production_version,
                                                          publisher_a, publisher_b, keeper, chain):
    report = real_report(proved_update, 0, production_version, "BTC")
    set_time(chain, report.observed_at + 3_600)
    signatures = sign([publisher_a, publisher_b], oracle, [report])
    receipt = submit_update(oracle, keeper, REAL_MODEL, [report], signatures, proved_update.proof,
                            proved_update.instances)
    values, observed_at, epoch, model_id = oracle.getParameters(BTC, LENDING.layout_id)
    assert list(values) == [proved_update.markets[0].wad[n] for n in LENDING.names]
    assert (observed_at, epoch, model_id) == (report.observed_at, report.epoch, REAL_MODEL)
    params = oracle.getRiskParameters(BTC)
    assert params.maxLtv == proved_update.markets[0].wad["max_ltv"]
    assert params.liquidationThreshold == proved_update.markets[0].wad["lt"]
    print("submitUpdate gas", receipt.gas_used)


def test_submitUpdate_flipped_proof_byte_reverts_InvalidProof(oracle, real_model, proved_update, production_version,
                                                              publisher_a, publisher_b, keeper, chain):
    report = real_report(proved_update, 0, production_version, "BTC")
    set_time(chain, report.observed_at + 3_600)
    signatures = sign([publisher_a, publisher_b], oracle, [report])
    proof = bytearray(proved_update.proof)
    proof[100] ^= 1
    with ape.reverts(oracle.InvalidProof, modelId=REAL_MODEL):
        submit_update(oracle, keeper, REAL_MODEL, [report], signatures, bytes(proof), proved_update.instances)
