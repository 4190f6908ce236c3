"""`zkrisk audit --tx HASH --rpc URL`: rebuild an update's bundle from the chain and this repository
alone, without anything from the operator.

The transaction's calldata (`submitUpdate`) gives the model id, the signed reports, the signatures,
the proof and the instances; the receipt its status, block and gas, and its RiskParametersUpdated
events what the oracle stored. The circuit is found by its VKA: among the repository's model versions
of the registered layout with a committed circuit for that many markets, the one whose VKA hashes to
the digest the oracle registered. The raw bars are the repository's bundled bars of each report's
window, accepted only when they hash to the data hash the publishers signed; the policy state is what
the oracle stored before the transaction. Keys built on a development SRS are random per machine, so
only the machine that built them finds a match; with a ceremony SRS anyone does. Where nothing
matches, audit the operator's bundle instead (`GET /updates/{job}/bundle`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from web3 import HTTPProvider, Web3
from web3.exceptions import Web3Exception

from models.errors import ModelError
from models.features import DAY, epoch_start
from models.spec import LAYOUTS, MARKETS
from models.versions import CIRCUITS_DIR, load_version
from oracle.audit.chain import ChainView
from oracle.audit.errors import AuditError
from oracle.bundle import BUNDLED_SOURCE, Bundle, ChainRecord, RawData, ReportBatch, vka_digest
from oracle.chain.deploy import wad_to_fixed
from oracle.reports import Domain, Signature, data_hash, recover_signer
from prover.circuit import Circuit, build_circuit
from prover.evm import vka_words
from prover.proving import ProofResult, decode_market

_UNKNOWN_SIGNER = "0x" + "00" * 20


def circuit_for_digest(digest: str, layout_id: int, k: int) -> Circuit:
    """The repository's circuit of layout `layout_id` for k markets whose VKA the oracle registered
    under `digest`."""
    candidates = sorted((path.parent.parent.name, path.parent.name) for path in CIRCUITS_DIR.glob(f"*/*/k{k}"))
    tried = []
    for model_id, version in candidates:
        try:
            model = load_version(model_id, version)
        except ModelError:  # a record without a layout, or weights not present
            continue
        if model.layout.layout_id != layout_id:
            continue
        tried.append(f"{model_id}@{version}")
        circuit = build_circuit(model, k)
        if vka_digest(vka_words(circuit)) == digest:
            return circuit
    raise AuditError(f"no committed circuit of layout {layout_id} for {k} market(s) has the registered VKA digest "
                     f"{digest} (tried {', '.join(tried) or 'none'}); keys on a development SRS are machine-specific: "
                     "audit the operator's bundle instead")


def bundle_from_transaction(rpc: str, tx_hash: str) -> Bundle:
    w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": 30}))
    try:
        tx, receipt = w3.eth.get_transaction(tx_hash), w3.eth.get_transaction_receipt(tx_hash)
    except (Web3Exception, ValueError) as error:
        raise AuditError(f"no transaction {tx_hash} on {rpc}: {error}") from error
    if tx["to"] is None:
        raise AuditError(f"transaction {tx_hash} deploys a contract, it is no update")
    # the oracle is the transaction's target; the model id comes from its calldata
    target = ChainView(rpc, ChainRecord(chain_id=int(w3.eth.chain_id), contracts={"RiskOracle": tx["to"]}, model_id=0))
    try:
        call = target.transaction_call(tx_hash)
    except (AuditError, ValueError) as error:
        raise AuditError(f"transaction {tx_hash} is not a proved update of a RiskOracle: {error}") from error
    if call.function != "submitUpdate":
        raise AuditError(f"transaction {tx_hash} calls {call.function}, not submitUpdate")
    record = ChainRecord(chain_id=int(w3.eth.chain_id), contracts={"RiskOracle": tx["to"]}, model_id=call.model_id,
                         tx_hash=tx_hash, block_number=int(receipt.blockNumber), status=int(receipt.status),
                         gas_used=int(receipt.gasUsed))
    view = ChainView(rpc, record)
    model = view.model(record.block_number)
    layout = LAYOUTS[model.layout_id]
    k = len(call.reports)
    circuit = circuit_for_digest(model.vka_digest, model.layout_id, k)
    version = circuit.version
    symbols = {market_id: symbol for symbol, market_id in MARKETS.items()}
    raw, vectors = [], []
    for report in call.reports:
        symbol = symbols[report.market_id]
        data = version.window_data(symbol, end=epoch_start(report.epoch) - DAY)
        if data_hash(data) != report.data_hash:
            raise AuditError(f"the repository's bundled bars of {symbol} epoch {report.epoch} do not hash to the "
                             "data hash the publishers signed (the operator's data is not in this repository): "
                             "audit the operator's bundle instead")
        raw.append(RawData(dict(BUNDLED_SOURCE), data))
        vectors.append(version.input_vector(symbol, data=data))
    state = None
    if layout.state:
        rows = []
        for report in call.reports:
            values, observed_at, _, _ = view.parameters(report.market_id, layout.layout_id, view.before())
            rows.append(list(layout.initial_state) if observed_at == 0 else
                        [wad_to_fixed(values[layout.index[n]], layout.scale) / 2**layout.scale for n in layout.state])
        state = np.asarray(rows, dtype=np.float64)
    split = layout.split_instances(call.instances, k)
    floats = version.predict(np.asarray(vectors), state)
    markets = [decode_market(layout, circuit.output_scale, felts, split.state[i],
                             {n: float(v) for n, v in zip(layout.names, floats[i])})
               for i, felts in enumerate(split.outputs)]
    # no proof file and no timings: the proof comes from calldata
    result = ProofResult(call.proof, call.instances, split.hashes, markets, np.asarray(vectors), state, 0.0, 0.0,
                         Path(f"{tx_hash}.proof.json"))
    domain = Domain(record.chain_id, view.oracle.address)
    signatures = []
    for r, vs in call.signatures:
        unnamed = Signature(_UNKNOWN_SIGNER, r, vs)
        signatures.append(Signature(recover_signer(domain, call.reports, unnamed), r, vs))
    return Bundle.for_update(circuit, result, raw, ReportBatch(domain, call.reports, signatures), record)
