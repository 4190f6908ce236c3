"""The service's chain client (web3): publisher commitments, signed updates, confirmations, reads.

Deployment is `oracle.chain.deploy` (Ape). The running service talks web3 directly because crash
safety needs control Ape's send-and-wait does not give: the update is signed and stored *before* it
is broadcast (a resend after a crash is the same transaction), nonces are re-read on "nonce too low",
and every revert is decoded against the ABIs' custom errors. The contract addresses and ABIs come
from the service manifest `serve` writes next to the deployment (`oracle.chain.service_manifest`).

Errors: connection failures and timeouts → `RpcUnavailableError`; nonce races → `NonceError`;
not yet deep enough → `ConfirmationTimeout` (all transient); reverts → `ContractRevertError` with the
custom error's name and arguments (permanent).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import requests
from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError

from models.spec import OUTPUTS
from oracle.errors import (
    ConfigurationError,
    ConfirmationTimeout,
    ContractRevertError,
    NonceError,
    PermanentError,
    RpcUnavailableError,
)

log = logging.getLogger("zkrisk.chain")
T = TypeVar("T")

#: Solidity's built-in revert payloads
_BUILTIN_ERRORS = {keccak(text="Error(string)")[:4]: ("Error", ["string"], ["message"]),
                   keccak(text="Panic(uint256)")[:4]: ("Panic", ["uint256"], ["code"])}
_NONCE_MESSAGES = ("nonce too low", "replacement transaction underpriced", "already known",
                   "nonce has already been used")


@dataclass(frozen=True)
class UpdateCall:
    """Arguments of `RiskOracle.submitUpdate`."""

    model_id: int
    market_ids: list[int]
    epochs: list[int]
    proof_hex: str
    instances: list[int]


@dataclass(frozen=True)
class SignedTx:
    raw: str
    hash: str
    nonce: int


@dataclass(frozen=True)
class Receipt:
    block_number: int
    gas_used: int
    effective_gas_price: int
    reverted: ContractRevertError | None


@dataclass(frozen=True)
class OnChainParameters:
    epoch: int
    values: dict[str, int]
    updated_at: int
    model_id: int
    input_hash: str


def _type_string(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_type_string(c) for c in param["components"]) + ")" + param["type"][5:]
    return param["type"]


class ErrorDecoder:
    """Custom errors of a set of ABIs, by selector."""

    def __init__(self, abis: list[list[dict[str, Any]]]) -> None:
        self.errors = dict(_BUILTIN_ERRORS)
        for abi in abis:
            for item in abi:
                if item.get("type") == "error":
                    types = [_type_string(p) for p in item["inputs"]]
                    selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                    self.errors[selector] = (item["name"], types, [p["name"] or f"arg{i}"
                                                                   for i, p in enumerate(item["inputs"])])

    def decode(self, data: str | bytes | None) -> ContractRevertError:
        payload = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else (data or b"")
        if len(payload) < 4 or payload[:4] not in self.errors:
            return ContractRevertError("UnknownRevert", {"data": "0x" + payload.hex()})
        name, types, names = self.errors[payload[:4]]
        values = abi_decode(types, payload[4:])
        return ContractRevertError(name, {n: (("0x" + v.hex()) if isinstance(v, bytes) else v)
                                          for n, v in zip(names, values)})


def _revert_data(error: Exception) -> str | None:
    data = getattr(error, "data", None)
    if isinstance(data, dict):  # some nodes nest it
        data = data.get("data")
    return data if isinstance(data, str) and data.startswith("0x") else None


class ChainGateway:
    def __init__(self, rpc_url: str, manifest: dict[str, Any], signer: LocalAccount,
                 publishers: list[LocalAccount], confirmations: int = 1, timeout: float = 120.0,
                 request_timeout: float = 30.0) -> None:
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout}))
        self.manifest, self.signer, self.publishers = manifest, signer, publishers
        self.confirmations, self.timeout = confirmations, timeout
        abis = manifest["abis"]
        contracts = manifest["contracts"]
        self.oracle = self.w3.eth.contract(address=contracts["RiskOracle"], abi=abis["RiskOracle"])
        self.registry = self.w3.eth.contract(address=contracts["DataCommitmentRegistry"],
                                             abi=abis["DataCommitmentRegistry"])
        self.decoder = ErrorDecoder(list(abis.values()))

    # ------------------------------------------------------------------ plumbing
    def _rpc(self, call: Callable[[], T]) -> T:
        """Run one RPC interaction, classifying failures as transient or permanent."""
        try:
            return call()
        except (requests.ConnectionError, requests.Timeout, TimeExhausted, ConnectionError) as error:
            raise RpcUnavailableError(f"RPC unavailable: {type(error).__name__}: {error}") from error
        except (ContractCustomError, ContractLogicError) as error:
            raise self.decoder.decode(_revert_data(error)) from error
        except Web3RPCError as error:
            message = str(error).lower()
            if any(text in message for text in _NONCE_MESSAGES):
                raise NonceError(str(error)) from error
            if "execution reverted" in message or _revert_data(error):
                raise self.decoder.decode(_revert_data(error)) from error
            raise RpcUnavailableError(f"RPC error: {error}") from error

    def _fees(self) -> dict[str, int]:
        base = self.w3.eth.get_block("latest")["baseFeePerGas"]
        tip = self.w3.to_wei(1, "gwei")
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def _sign(self, account: LocalAccount, function: Any) -> SignedTx:
        def build() -> SignedTx:
            sender = {"from": account.address}
            gas = function.estimate_gas(sender)  # the dry run: a revert is raised and decoded here
            nonce = self.w3.eth.get_transaction_count(account.address, "pending")
            tx = function.build_transaction({**sender, "nonce": nonce, "gas": gas * 6 // 5,
                                             "chainId": self.w3.eth.chain_id, **self._fees()})
            signed = account.sign_transaction(tx)
            return SignedTx("0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex(), nonce)

        return self._rpc(build)

    def _known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)
            return True
        except TransactionNotFound:
            return False

    # ------------------------------------------------------------------ reads
    @property
    def chain_id(self) -> int:
        return self._rpc(lambda: self.w3.eth.chain_id)

    def block_number(self) -> int:
        return self._rpc(lambda: self.w3.eth.block_number)

    def head_timestamp(self) -> int:
        return self._rpc(lambda: self.w3.eth.get_block("latest")["timestamp"])

    def model_for(self, k: int) -> int:
        for model in self.manifest["models"]:
            if model["markets_per_proof"] == k:
                return int(model["model_id"])
        raise ConfigurationError(f"no model registered on chain for {k} markets per proof")

    def risk_parameters(self, market_id: int) -> OnChainParameters:
        raw = self._rpc(lambda: self.oracle.functions.getRiskParameters(market_id).call())
        cr, lt, vol, var99, es99, updated_at, model_id, input_hash, epoch = raw
        values = {"vol": vol, "var99": var99, "es99": es99, "lt": lt, "cr": cr}
        return OnChainParameters(epoch, {n: values[n] for n in OUTPUTS}, updated_at, model_id,
                                 "0x" + bytes(input_hash).hex())

    def commitment(self, market_id: int, epoch: int) -> dict[str, Any]:
        input_hash, observed_at, finalized_at, approvals, conflicted = self._rpc(
            lambda: self.registry.functions.getCommitment(market_id, epoch).call())
        return {"input_hash": "0x" + bytes(input_hash).hex(), "observed_at": observed_at,
                "finalized_at": finalized_at, "approvals": approvals, "conflicted": conflicted,
                "quorum": self._rpc(lambda: self.registry.functions.quorum().call())}

    def proposals(self) -> list[dict[str, Any]]:
        """RiskGovernor `ProposalCreated` events since the deployment block."""
        abi, address = self.manifest["abis"].get("RiskGovernor"), self.manifest["contracts"].get("RiskGovernor")
        if abi is None or address is None:
            return []
        governor = self.w3.eth.contract(address=address, abi=abi)
        events = self._rpc(lambda: governor.events.ProposalCreated.get_logs(from_block=self.manifest.get("block", 0)))
        return [{"proposal_id": str(e.args.proposalId), "block_number": e.blockNumber, "proposer": e.args.proposer,
                 "description": e.args.description} for e in events]

    # ------------------------------------------------------------------ writes
    def post_commitment(self, market_id: int, epoch: int, input_hash: str, observed_at: int) -> list[str]:
        """Each configured publisher that has not yet posted attests the hash; then checks finality."""
        digest = bytes.fromhex(input_hash.removeprefix("0x"))
        sent = []
        for publisher in self.publishers:
            if self._rpc(lambda: self.registry.functions.hasCommitted(market_id, epoch, publisher.address).call()):
                continue
            signed = self._sign(publisher, self.registry.functions.commit(market_id, epoch, digest, observed_at))
            self.broadcast(signed.raw, signed.hash)
            receipt = self.wait_for(signed.hash, signed.raw)
            if receipt.reverted is not None:
                raise receipt.reverted
            sent.append(signed.hash)
        state = self.commitment(market_id, epoch)
        if state["conflicted"]:
            raise ContractRevertError("CommitmentConflict", {"marketId": market_id, "epoch": epoch},
                                      f"publishers disagree on market {market_id} epoch {epoch}: no update "
                                      "can use this epoch")
        if state["input_hash"] != input_hash.lower():
            raise PermanentError(f"the registry holds {state['input_hash']} for market {market_id} epoch {epoch}, "
                                 f"not our {input_hash}")
        if not state["finalized_at"]:
            raise ConfigurationError(f"commitment for market {market_id} epoch {epoch} has {state['approvals']} of "
                                     f"{state['quorum']} approvals: configure more publisher keys")
        log.info("commitment final", extra={"market_id": market_id, "epoch": epoch, "txs": sent})
        return sent

    def sign_update(self, call: UpdateCall) -> SignedTx:
        proof = bytes.fromhex(call.proof_hex.removeprefix("0x"))
        return self._sign(self.signer, self.oracle.functions.submitUpdate(
            call.model_id, call.market_ids, call.epochs, proof, call.instances))

    def broadcast(self, raw: str, tx_hash: str) -> None:
        """Send a signed transaction; sending one the node already has (or mined) is a no-op."""
        try:
            self._rpc(lambda: self.w3.eth.send_raw_transaction(raw))
        except NonceError:
            if not self._rpc(lambda: self._known(tx_hash)):
                raise  # the nonce went to another transaction: this one can never land, re-sign
        log.info("broadcast", extra={"tx_hash": tx_hash})

    def wait_for(self, tx_hash: str, raw: str) -> Receipt:
        """Wait for the receipt and `confirmations` blocks; rebroadcast if the node lost the transaction."""
        deadline = time.monotonic() + self.timeout
        while True:
            receipt = self._rpc(lambda: self._receipt(tx_hash))
            if receipt is not None:
                depth = self.block_number() - receipt["blockNumber"] + 1
                if depth >= self.confirmations:
                    return Receipt(receipt["blockNumber"], receipt["gasUsed"], receipt.get("effectiveGasPrice", 0),
                                   None if receipt["status"] == 1 else self._revert_of(tx_hash, receipt))
            elif not self._rpc(lambda: self._known(tx_hash)):
                # dropped (e.g. the node restarted): the stored transaction is sent again, same nonce
                self.broadcast(raw, tx_hash)
            if time.monotonic() > deadline:
                raise ConfirmationTimeout(f"{tx_hash} not confirmed {self.confirmations} deep in {self.timeout:.0f}s")
            time.sleep(0.25)

    def _receipt(self, tx_hash: str) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def _revert_of(self, tx_hash: str, receipt: Any) -> ContractRevertError:
        """Replay a reverted transaction as a call at its block to recover the revert data."""
        tx = self.w3.eth.get_transaction(tx_hash)
        try:
            self.w3.eth.call({"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]},
                             receipt["blockNumber"] - 1)
        except (ContractCustomError, ContractLogicError, Web3RPCError) as error:
            return self.decoder.decode(_revert_data(error))
        return ContractRevertError("UnknownRevert", {"tx_hash": tx_hash}, f"{tx_hash} reverted (no data on replay)")

