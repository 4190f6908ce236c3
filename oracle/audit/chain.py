"""What the audit reads from a chain, over plain JSON-RPC (web3.py): an auditor needs an RPC URL and
the project's compiled ABIs, nothing the operator runs.

Addresses are taken from the chain wherever the chain knows them: the verifier, the VKA and the
layout are what the oracle registered for the model id. The bundle only names the oracle (and the
governor for proposals). State the update stepped from is read at the block before the transaction's
(`eth_call` with a block number: anvil and archive nodes keep it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Sequence

from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError

from oracle.audit.errors import AuditError
from oracle.bundle import ChainRecord
from oracle.reports import Report
from prover.evm import verifier_calldata


@cache
def abi(contract: str) -> list[dict[str, Any]]:
    """The ABI of a project contract or interface, as the project's compiler produced it."""
    from oracle.chain.deploy import project

    return project().get_contract(contract).contract_type.model_dump(mode="json", by_alias=True)["abi"]


def verify_with_vka(w3: Web3, verifier: str, proof: bytes, instances: Sequence[int], vka: Sequence[bytes],
                    block: int | str = "latest") -> tuple[bool, str]:
    """(verified, what the verifier answered): an eth_call of the reusable verifier itself at `block`;
    EZKL's reusable verifier returns (1, vka digest) or reverts."""
    try:
        result = bytes(w3.eth.call({"to": Web3.to_checksum_address(verifier),
                                    "data": verifier_calldata(proof, instances, vka)}, block_identifier=block))
    except (ContractLogicError, Web3RPCError) as error:  # an invalid proof reverts
        return False, f"reverted: {error}"
    if len(result) < 64:
        return False, f"returned {len(result)} bytes, expected at least 64"
    ok, digest = int.from_bytes(result[:32], "big"), "0x" + result[32:64].hex()
    return ok == 1, f"returned success={ok}, vka digest {digest}"


@dataclass(frozen=True)
class RegisteredModel:
    """`IRiskOracle.Model` as the oracle stores it."""

    verifier: str
    layout_id: int
    input_scale: int
    markets_per_proof: int
    active: bool
    vka_pointer: str
    vka_words: int
    vka_digest: str


@dataclass(frozen=True)
class SubmittedCall:
    """What a transaction sent: the function, the oracle's model id, reports, signatures, proof and
    instances (from submitUpdate's ProvedUpdate or proposeRiskUpdate's), and the proposal's description."""

    function: str
    model_id: int
    reports: list[Report]
    #: (r, vs) as sent, in the order sent
    signatures: list[tuple[bytes, bytes]]
    proof: bytes
    instances: list[int]
    description: str | None


def _report(fields: dict[str, Any]) -> Report:
    return Report(int(fields["marketId"]), int(fields["epoch"]), bytes(fields["inputHash"]), bytes(fields["dataHash"]),
                  int(fields["observedAt"]))


class ChainView:
    """Read-only view of one deployment, checked to be on the chain the bundle names."""

    def __init__(self, rpc: str, record: ChainRecord) -> None:
        self.w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": 30}))
        try:
            chain_id = self.w3.eth.chain_id
        except (OSError, Web3Exception) as error:
            raise AuditError(f"cannot reach the RPC at {rpc}: {error}") from error
        if chain_id != record.chain_id:
            raise AuditError(f"the RPC at {rpc} serves chain {chain_id}, the bundle was published on {record.chain_id}")
        if "RiskOracle" not in record.contracts:
            raise AuditError("the bundle's chain record names no RiskOracle address")
        self.record = record
        self.oracle = self._contract(record.contracts["RiskOracle"], "IRiskOracle")

    def _contract(self, address: str, interface: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi(interface))

    def before(self) -> int | str:
        """The block whose state the bundle's transaction executed on (the one before it)."""
        if self.record.block_number is None:
            raise AuditError("the bundle's chain record names no block")
        return self.record.block_number - 1

    def model(self, block: int | str = "latest") -> RegisteredModel:
        try:
            m = self.oracle.functions.getModel(self.record.model_id).call(block_identifier=block)
        except (ContractLogicError, Web3RPCError) as error:
            raise AuditError(f"the oracle has no model {self.record.model_id}: {error}") from error
        return RegisteredModel(verifier=m[0], layout_id=int(m[1]), input_scale=int(m[2]), markets_per_proof=int(m[3]),
                               active=bool(m[4]), vka_pointer=m[5], vka_words=int(m[6]),
                               vka_digest="0x" + bytes(m[7]).hex())

    def layout(self, layout_id: int) -> tuple[int, list[int], list[int], list[int]]:
        """`IRiskOracle.Layout` as registered: (scale, parameter ids, state indices, initial state)."""
        scale, ids, state, initial = self.oracle.functions.getLayout(layout_id).call()
        return int(scale), [int(i) for i in ids], [int(i) for i in state], [int(v) for v in initial]

    def code(self, address: str) -> bytes:
        return bytes(self.w3.eth.get_code(Web3.to_checksum_address(address)))

    def registered_vka(self, model: RegisteredModel) -> list[bytes]:
        """The VKA words the oracle stored as code (VkaStore: a STOP byte, then the words)."""
        data = self.code(model.vka_pointer)[1:1 + 32 * model.vka_words]
        return [data[i:i + 32] for i in range(0, len(data), 32)]

    def publisher_set(self, addresses: list[str], block: int | str) -> tuple[dict[str, bool], int]:
        """Which of `addresses` were publishers at `block`, and the quorum then."""
        calls = self.oracle.functions
        active = {a: bool(calls.isPublisher(Web3.to_checksum_address(a)).call(block_identifier=block))
                  for a in addresses}
        return active, int(calls.quorum().call(block_identifier=block))

    def parameters(self, market_id: int, layout_id: int,
                   block: int | str = "latest") -> tuple[list[int], int, int, int]:
        """`getParameters`: (values in WAD, observedAt, epoch, modelId) at `block`."""
        values, observed_at, epoch, model_id = self.oracle.functions.getParameters(market_id, layout_id).call(
            block_identifier=block)
        return [int(v) for v in values], int(observed_at), int(epoch), int(model_id)

    def risk_parameters(self, market_id: int, block: int | str = "latest") -> dict[str, int]:
        """`getRiskParameters`, the lending read integrators use, by field name."""
        p = self.oracle.functions.getRiskParameters(market_id).call(block_identifier=block)
        names = ("collateralRatio", "maxLtv", "liquidationThreshold", "volatility", "valueAtRisk",
                 "expectedShortfall", "observedAt", "epoch", "modelId")
        return {name: int(value) for name, value in zip(names, p)}

    def verify_on_chain(self, verifier: str, proof: bytes, instances: list[int], vka: list[bytes]) -> tuple[bool, str]:
        return verify_with_vka(self.w3, verifier, proof, instances, vka)

    def receipt(self, tx_hash: str) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except Web3Exception as error:
            raise AuditError(f"no receipt for transaction {tx_hash}: {error}") from error

    def updates_in(self, tx_hash: str) -> list[dict[str, Any]]:
        """The RiskParametersUpdated events a transaction emitted, in log order."""
        events = self.oracle.events.RiskParametersUpdated().process_receipt(self.receipt(tx_hash))
        return [update_record(e) for e in events]

    def stored_updates(self, market_id: int, layout_id: int, epoch: int) -> list[dict[str, Any]]:
        """Every RiskParametersUpdated of (market, layout, epoch), oldest first."""
        return [u for u in self.history(market_id, layout_id) if u["epoch"] == epoch]

    def history(self, market_id: int | None = None, layout_id: int | None = None) -> list[dict[str, Any]]:
        """Every stored update (of one market and layout, or all), oldest first, with its block time."""
        filters = {k: v for k, v in (("marketId", market_id), ("layoutId", layout_id)) if v is not None}
        events = self.oracle.events.RiskParametersUpdated.get_logs(from_block=0, argument_filters=filters)
        return [{**update_record(e), "timestamp": int(self.w3.eth.get_block(e.blockNumber).timestamp)}
                for e in events]

    def transaction_call(self, tx_hash: str) -> SubmittedCall:
        """What the transaction sent to the oracle (submitUpdate) or the governor (proposeRiskUpdate)."""
        tx = self.w3.eth.get_transaction(tx_hash)
        target = Web3.to_checksum_address(tx["to"])
        if target == self.oracle.address:
            function, args = self.oracle.decode_function_input(tx["input"])
            update, description = args["update"], None
        elif "RiskGovernor" in self.record.contracts and \
                target == Web3.to_checksum_address(self.record.contracts["RiskGovernor"]):
            function, args = self._contract(target, "IRiskGovernor").decode_function_input(tx["input"])
            update, description = args.get("update"), args.get("description")
        else:
            raise AuditError(f"transaction {tx_hash} calls {target}, neither the oracle nor the governor")
        if update is None:
            raise AuditError(f"transaction {tx_hash} calls {function.fn_name}, which carries no proved update")
        # web3 decodes ABI structs to dicts by field name
        return SubmittedCall(function.fn_name, int(update["modelId"]), [_report(r) for r in update["reports"]],
                             [(bytes(s["r"]), bytes(s["vs"])) for s in update["signatures"]], bytes(update["proof"]),
                             [int(i) for i in update["instances"]], description)


def update_record(event: Any) -> dict[str, Any]:
    a = event.args
    return {"market_id": int(a.marketId), "layout_id": int(a.layoutId), "epoch": int(a.epoch),
            "model_id": int(a.modelId), "input_hash": bytes(a.inputHash), "data_hash": bytes(a.dataHash),
            "observed_at": int(a.observedAt), "values": [int(v) for v in a["values"]],
            "override": bool(a.governanceOverride), "block": int(event.blockNumber),
            "tx_hash": "0x" + bytes(event.transactionHash).hex().removeprefix("0x")}
