"""What the audit reads from a chain, over plain JSON-RPC (web3.py): an auditor needs an RPC URL and
the project's compiled ABIs, nothing the operator runs.

Addresses are taken from the chain wherever the chain knows them: the registry is the one the oracle
was deployed with, the verifier and VKA are what the oracle registered for the model id. The bundle
only names the oracle (and the governor for proposals).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import encode
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError

from models.spec import OUTPUTS
from oracle.audit.errors import AuditError
from oracle.bundle import ChainRecord

#: RiskOracle's stored values come in IRiskOracle.Parameter order, which is models.spec OUTPUTS.
_VERIFY_PROOF = "verifyProof(bytes,uint256[],bytes32[])"


@cache
def abi(contract: str) -> list[dict[str, Any]]:
    """The ABI of a project contract or interface, as the project's compiler produced it."""
    from oracle.chain.deploy import project

    return project().get_contract(contract).contract_type.model_dump(mode="json", by_alias=True)["abi"]


@dataclass(frozen=True)
class RegisteredModel:
    verifier: str
    output_scale: int
    markets_per_proof: int
    active: bool
    vka_pointer: str
    vka_words: int
    vka_digest: str


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
        self.registry = self._contract(self.oracle.functions.COMMITMENT_REGISTRY().call(), "IDataCommitmentRegistry")

    def _contract(self, address: str, interface: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi(interface))

    def model(self) -> RegisteredModel:
        m = self.oracle.functions.getModel(self.record.model_id).call()
        return RegisteredModel(verifier=m[0], output_scale=m[1], markets_per_proof=m[2], active=m[3],
                               vka_pointer=m[4], vka_words=m[5], vka_digest="0x" + bytes(m[6]).hex())

    def code(self, address: str) -> bytes:
        return bytes(self.w3.eth.get_code(Web3.to_checksum_address(address)))

    def registered_vka(self, model: RegisteredModel) -> list[bytes]:
        """The VKA words the oracle stored as code (VkaStore: a STOP byte, then the words)."""
        data = self.code(model.vka_pointer)[1:1 + 32 * model.vka_words]
        return [data[i:i + 32] for i in range(0, len(data), 32)]

    def final_commitment(self, market_id: int, epoch: int) -> tuple[bool, int]:
        is_final, input_hash, _ = self.registry.functions.finalCommitment(market_id, epoch).call()
        return bool(is_final), int.from_bytes(bytes(input_hash), "big")

    def verify_on_chain(self, verifier: str, proof: bytes, instances: list[int], vka: list[bytes]) -> tuple[bool, str]:
        """eth_call of the verifier itself; EZKL's reusable verifier returns (1, vka digest) or reverts."""
        selector = Web3.keccak(text=_VERIFY_PROOF)[:4]
        data = selector + encode(["bytes", "uint256[]", "bytes32[]"], [proof, instances, vka])
        try:
            result = bytes(self.w3.eth.call({"to": Web3.to_checksum_address(verifier), "data": data}))
        except (ContractLogicError, Web3RPCError) as error:  # an invalid proof reverts
            return False, f"reverted: {error}"
        if len(result) < 64:
            return False, f"returned {len(result)} bytes, expected at least 64"
        ok, digest = int.from_bytes(result[:32], "big"), "0x" + result[32:64].hex()
        return ok == 1, f"returned success={ok}, vka digest {digest}"

    def stored_updates(self, market_id: int, epoch: int) -> list[dict[str, Any]]:
        """What the oracle stored for (market, epoch) and in which transaction (see `history`)."""
        return [update for update in self.history(market_id) if update["epoch"] == epoch]

    def history(self, market_id: int | None = None) -> list[dict[str, Any]]:
        """Every stored update (of one market, or all), oldest first, with block time and transaction."""
        filters = {} if market_id is None else {"marketId": market_id}
        events = self.oracle.events.RiskParametersUpdated.get_logs(from_block=0, argument_filters=filters)
        return [{"market_id": e.args.marketId, "epoch": e.args.epoch, "block": e.blockNumber,
                 "timestamp": self.w3.eth.get_block(e.blockNumber).timestamp,
                 "tx_hash": "0x" + bytes(e.transactionHash).hex(), "model_id": e.args.modelId,
                 "override": e.args.governanceOverride, "values": dict(zip(OUTPUTS, e.args["values"]))}
                for e in events]

    def transaction_call(self, tx_hash: str) -> tuple[str, dict[str, Any]]:
        """The function and arguments the transaction called on the oracle or the governor."""
        tx = self.w3.eth.get_transaction(tx_hash)
        target = Web3.to_checksum_address(tx["to"])
        if target == self.oracle.address:
            function, args = self.oracle.decode_function_input(tx["input"])
        elif "RiskGovernor" in self.record.contracts and \
                target == Web3.to_checksum_address(self.record.contracts["RiskGovernor"]):
            function, args = self._contract(target, "IRiskGovernor").decode_function_input(tx["input"])
        else:
            raise AuditError(f"transaction {tx_hash} calls {target}, neither the oracle nor the governor")
        return function.fn_name, dict(args)
