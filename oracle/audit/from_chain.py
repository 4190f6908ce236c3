"""`zkrisk audit --tx HASH --rpc URL`: rebuild an update's bundle from the chain and this repository
alone, without anything from the operator.

The transaction's calldata gives the model id, markets, epochs, proof and instances. The circuit is
found by its VKA: among the repository's model versions with a circuit for that many markets, the one
whose VKA hashes to the digest the oracle registered (production first). The raw windows are the
bundled market data up to each epoch. Keys built on a development SRS are random per machine, so
only the machine that built them finds a match; with a ceremony SRS anyone does. Where none matches,
audit the operator's bundle instead (`GET /updates/{job}/bundle`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from web3 import HTTPProvider, Web3

from models.features import epoch_start
from models.spec import MARKETS, OUTPUTS, felt_to_wad, signed_felt, split_instances
from models.versions import CIRCUITS_DIR, PRODUCTION, load_version
from oracle.audit.chain import abi
from oracle.audit.errors import AuditError
from oracle.bundle import BUNDLED_SOURCE, Bundle, ChainRecord, build_bundle, vka_digest
from prover.circuit import Circuit, build_circuit
from prover.evm import vka_words
from prover.proving import MarketOutput, ProofResult


def circuit_for_digest(digest: str, k: int) -> Circuit:
    """The local circuit for k markets whose VKA the oracle registered under `digest`."""
    candidates = sorted((path.parent.parent.name, path.parent.name) for path in CIRCUITS_DIR.glob(f"*/*/k{k}"))
    candidates.sort(key=lambda version: version != PRODUCTION)
    for model_id, version in candidates:
        circuit = build_circuit(load_version(model_id, version), k)
        if vka_digest(vka_words(circuit)) == digest:
            return circuit
    raise AuditError(f"no local circuit for {k} market(s) has the registered VKA digest {digest} "
                     f"(tried {', '.join('@'.join(c) for c in candidates)}); keys on a development SRS are "
                     "machine-specific: audit the operator's bundle instead")


def bundle_from_transaction(rpc: str, tx_hash: str) -> Bundle:
    w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": 30}))
    tx = w3.eth.get_transaction(tx_hash)
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    oracle = w3.eth.contract(address=tx["to"], abi=abi("RiskOracle"))
    try:
        function, args = oracle.decode_function_input(tx["input"])
    except ValueError as error:
        raise AuditError(f"transaction {tx_hash} is not a call to a RiskOracle: {error}") from error
    if function.fn_name != "submitUpdate":
        raise AuditError(f"transaction {tx_hash} calls {function.fn_name}, not submitUpdate")
    model = oracle.functions.getModel(args["modelId"]).call()
    k = len(args["marketIds"])
    circuit = circuit_for_digest("0x" + bytes(model[6]).hex(), k)
    version = circuit.version
    symbols = {market_id: symbol for symbol, market_id in MARKETS.items()}
    frames, vectors = {}, []
    for market, epoch in zip(args["marketIds"], args["epochs"]):
        symbol = symbols[market]
        history = version.market_frame(symbol)
        frames[symbol] = history[history.index < epoch_start(epoch)]  # the bars before the epoch's day
        vectors.append(version.input_vector(symbol, frame=frames[symbol]))
    instances = list(args["instances"])
    hashes, outputs = split_instances(instances, k)
    floats = version.predict(np.asarray(vectors))
    scale = circuit.output_scale
    markets = [MarketOutput(values={n: signed_felt(f) / 2**scale for n, f in zip(OUTPUTS, felts)},
                            wad={n: felt_to_wad(f, scale) for n, f in zip(OUTPUTS, felts)},
                            float_model={n: float(v) for n, v in zip(OUTPUTS, floats[i])})
               for i, felts in enumerate(outputs)]
    # no proof file and no timings: the proof comes from calldata
    result = ProofResult(bytes(args["proof"]), instances, hashes, markets, np.asarray(vectors), 0.0, 0.0,
                         Path(f"{tx_hash}.proof.json"))
    chain = ChainRecord(chain_id=w3.eth.chain_id, model_id=int(args["modelId"]), tx_hash=tx_hash,
                        block_number=receipt.blockNumber, gas_used=receipt.gasUsed,
                        contracts={"RiskOracle": oracle.address, "verifier": model[0],
                                   "DataCommitmentRegistry": oracle.functions.COMMITMENT_REGISTRY().call()})
    return build_bundle(circuit, result, frames, {s: BUNDLED_SOURCE for s in frames}, chain=chain)

