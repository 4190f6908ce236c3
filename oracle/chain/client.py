"""The service's chain client (web3): signed updates, confirmations, reads of the oracle.

Deployment is `oracle.chain.deploy` (Ape). The running service talks web3 directly because crash
safety needs control Ape's send-and-wait does not give: the update is signed and stored *before* it
is broadcast (a resend after a crash is the same transaction), nonces are re-read on "nonce too low",
and every revert is decoded against the ABIs' custom errors. The contract addresses and ABIs come
from the service manifest `serve` writes next to the deployment (`oracle.chain.local`).

Publishers sign off chain (oracle/publisher.py); this client only reads what the pipeline checks
their signatures against (the EIP-712 domain, the publisher set, the quorum) and the policy state a
proof steps from (`oracle.chain.deploy.stored_state`, over this client's reads).

Errors: connection failures and timeouts → `RpcUnavailableError`; nonce races → `NonceError`;
not yet deep enough → `ConfirmationTimeout` (all transient); reverts → `ContractRevertError` with the
custom error's name and arguments (permanent).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
import requests
from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError

from models.spec import LAYOUTS, LENDING, Layout
from oracle.chain.deploy import stored_state
from oracle.errors import (
    ConfigurationError,
    ConfirmationTimeout,
    ContractRevertError,
    NonceError,
    RpcUnavailableError,
)
from oracle.reports import Domain

log = logging.getLogger("zkrisk.chain")
T = TypeVar("T")

#: Solidity's built-in revert payloads
_BUILTIN_ERRORS = {keccak(text="Error(string)")[:4]: ("Error", ["string"], ["message"]),
                   keccak(text="Panic(uint256)")[:4]: ("Panic", ["uint256"], ["code"])}
_NONCE_MESSAGES = ("nonce too low", "replacement transaction underpriced", "already known",
                   "nonce has already been used")


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
    """One market's stored values of one layout (`getParameters`), by output name, in WAD."""

    layout: str
    epoch: int
    values: dict[str, int]
    observed_at: int
    model_id: int


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


class _OracleReads:
    """The oracle's reads as `oracle.chain.deploy`'s helpers call them (Ape-style), over web3."""

    def __init__(self, gateway: "ChainGateway") -> None:
        self._gateway = gateway

    def getParameters(self, market_id: int, layout_id: int) -> Any:  # noqa: N802 - the contract's name
        return self._gateway._rpc(lambda: self._gateway.oracle.functions.getParameters(market_id, layout_id).call())


class ChainGateway:
    def __init__(self, rpc_url: str, manifest: dict[str, Any], signer: LocalAccount | None, confirmations: int = 1,
                 timeout: float = 120.0, request_timeout: float = 30.0) -> None:
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout}))
        self.manifest, self.signer = manifest, signer
        self.confirmations, self.timeout = confirmations, timeout
        abis = manifest["abis"]
        contracts = manifest["contracts"]
        self.oracle = self.w3.eth.contract(address=contracts["RiskOracle"], abi=abis["RiskOracle"])
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

    @property
    def domain(self) -> Domain:
        """The EIP-712 domain publishers sign for: this chain and this oracle."""
        return Domain(int(self.manifest["chain_id"]), to_checksum_address(self.manifest["contracts"]["RiskOracle"]))

    def model_for(self, model_key: str, k: int) -> int:
        """The on-chain id of `model_key`'s circuit over K markets (from the deployment manifest)."""
        for model in self.manifest["models"]:
            key = model.get("model_key") or model["label"].split(" ")[0]
            if key == model_key and int(model["markets_per_proof"]) == k:
                return int(model["model_id"])
        raise ConfigurationError(f"no model registered on chain for {model_key} with {k} markets per proof")

    def is_publisher(self, address: str) -> bool:
        return bool(self._rpc(lambda: self.oracle.functions.isPublisher(to_checksum_address(address)).call()))

    def quorum(self) -> int:
        return int(self._rpc(lambda: self.oracle.functions.quorum().call()))

    def max_report_age(self) -> int:
        return int(self._rpc(lambda: self.oracle.functions.timing().call())[0])

    def stored_state(self, layout: Layout, market_ids: Sequence[int]) -> np.ndarray | None:
        """Each market's stored policy state [K, S] (the layout's initial state before its first update)."""
        return stored_state(_OracleReads(self), layout, market_ids)

    def parameters(self, market_id: int, layout: Layout = LENDING) -> OnChainParameters:
        values, observed_at, epoch, model_id = self._rpc(
            lambda: self.oracle.functions.getParameters(market_id, layout.layout_id).call())
        return OnChainParameters(layout.name, int(epoch), {n: int(v) for n, v in zip(layout.names, values)},
                                 int(observed_at), int(model_id))

    def all_parameters(self, market_id: int) -> dict[str, OnChainParameters]:
        """Every layout's stored values of a market, by layout name."""
        return {layout.name: self.parameters(market_id, layout) for layout in LAYOUTS.values()}

    def risk_parameters(self, market_id: int) -> dict[str, int]:
        """`getRiskParameters`: the lending layout as lending integrators read it (with CR = 1/max LTV)."""
        raw = self._rpc(lambda: self.oracle.functions.getRiskParameters(market_id).call())
        names = ("collateralRatio", "maxLtv", "liquidationThreshold", "volatility", "valueAtRisk",
                 "expectedShortfall", "observedAt", "epoch", "modelId")
        return {name: int(value) for name, value in zip(names, raw)}

    def is_stale(self, market_id: int, layout: Layout) -> bool:
        return bool(self._rpc(lambda: self.oracle.functions.isStale(market_id, layout.layout_id).call()))

    def paused(self) -> bool:
        return bool(self._rpc(lambda: self.oracle.functions.paused().call()))

    def updates(self) -> list[dict[str, Any]]:
        """Every `RiskParametersUpdated` since the deployment block, oldest first, values by output name
        (WAD), with the block's timestamp and the transaction's gas."""
        events = self._rpc(lambda: self.oracle.events.RiskParametersUpdated.get_logs(
            from_block=self.manifest.get("block", 0)))
        rows, times = [], {}
        for e in events:
            layout = LAYOUTS.get(int(e.args.layoutId))
            if layout is None:
                continue
            if e.blockNumber not in times:
                times[e.blockNumber] = self._rpc(lambda: self.w3.eth.get_block(e.blockNumber)["timestamp"])
            gas = self._rpc(lambda: self.w3.eth.get_transaction_receipt(e.transactionHash)["gasUsed"])
            rows.append({"market_id": int(e.args.marketId), "layout": layout.name, "epoch": int(e.args.epoch),
                         "model_id": int(e.args.modelId), "observed_at": int(e.args.observedAt),
                         "values": {n: int(v) for n, v in zip(layout.names, e.args["values"])},
                         "override": bool(e.args.governanceOverride), "block": e.blockNumber,
                         "timestamp": times[e.blockNumber], "tx_hash": "0x" + bytes(e.transactionHash).hex(),
                         "gas_used": int(gas)})
        return rows

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
    def align_dev_clock(self, observed_at: int) -> None:
        """On a development chain (`dev_chain` in the manifest: anvil, whose clock the service owns), move
        the clock into the window the oracle accepts a report observed at `observed_at` in (not before
        it, less than the maximum report age after it). Replayed history is old data observed long ago;
        live data needs no adjustment. A no-op elsewhere and when the clock is already inside."""
        if not self.manifest.get("dev_chain"):
            return
        head = self.head_timestamp()
        if observed_at <= head < observed_at + self.max_report_age() // 2:
            return
        target = observed_at + 3_600
        self._rpc(lambda: self.w3.provider.make_request("anvil_setTime", [target]))
        self._rpc(lambda: self.w3.provider.make_request("evm_mine", []))
        log.info("development clock moved", extra={"from_timestamp": head, "to_timestamp": target})

    def set_dev_prices(self, closes: dict[int, float]) -> None:
        """On a development chain with settable price feeds (`dev_price_feeds`, `oracle.chain.local`), set
        each market's feed to `closes[market id]` at the chain's current clock, so the margin engine
        reads the price the update was proved on. A no-op elsewhere."""
        feeds = self.manifest.get("dev_price_feeds") if self.manifest.get("dev_chain") else None
        if not feeds:
            return
        if self.signer is None:
            raise ConfigurationError("no signer for the development price feeds: set ZKRISK_SIGNER_KEY")
        abi = self.manifest["abis"]["TestPriceFeed"]
        for market, close in closes.items():
            feed = self.w3.eth.contract(address=feeds[str(market)], abi=abi)
            answer = round(close * 10 ** self._rpc(lambda: feed.functions.decimals().call()))
            signed = self._sign(self.signer, feed.functions.setAnswer(answer))
            self.broadcast(signed.raw, signed.hash)
            receipt = self.wait_for(signed.hash, signed.raw)
            if receipt.reverted is not None:
                raise receipt.reverted

    def sign_update(self, update: tuple) -> SignedTx:
        """Sign `submitUpdate(update)` (an `IRiskOracle.ProvedUpdate` tuple, `oracle.chain.deploy.proved_update`)
        after a dry run: a revert is raised and decoded here, before anything is sent."""
        if self.signer is None:
            raise ConfigurationError("no signer for updates: set ZKRISK_SIGNER_KEY or ZKRISK_KEYSTORE_PATH")
        return self._sign(self.signer, self.oracle.functions.submitUpdate(update))

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

