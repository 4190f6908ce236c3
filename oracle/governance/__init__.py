"""Governance from the command line: proved proposals, votes, queueing and execution on RiskGovernor.

`propose_update` proves a market's window with the production circuit, checks on chain that the proof
and the publishers' commitment hold (`RiskOracle.verifyUpdate`), dry-runs `submitUpdate` to tell voters
whether the change is beyond the guardrails, writes the proof bundle and submits `proposeRiskUpdate`.
The description links the bundle's content hash and the model's backtest summary, so voters can fetch
the bundle and audit it (`zkrisk audit`) before voting. `vote`, `queue` and `execute` take a proposal
id: the actions are read back from the governor's ProposalCreated event, nothing is kept locally.

Transactions are signed locally with a private key (`ZKRISK_SIGNER_KEY`) and sent over JSON-RPC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import HTTPProvider, Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD

from models.spec import OUTPUTS, WAD, market_id
from models.versions import load_version
from oracle.audit.chain import abi
from oracle.bundle import BUNDLED_SOURCE, Bundle, ChainRecord, ProposalRecord, build_bundle
from oracle.errors import OracleError
from prover.circuit import build_circuit
from prover.proving import prove

#: OpenZeppelin IGovernor.ProposalState, in enum order.
PROPOSAL_STATES = ("Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed")
SUPPORT = {"against": 0, "for": 1, "abstain": 2}


class GovernanceError(OracleError):
    """A governance step cannot be taken now; the message says why and what to do."""

    kind = "governance"


@dataclass(frozen=True)
class Proposal:
    proposal_id: int
    tx_hash: str
    bundle: Bundle
    bundle_path: Path
    guardrails: str


class Governance:
    """One signer talking to one deployment (a `Deployment.to_manifest()` file) over JSON-RPC."""

    def __init__(self, rpc: str, manifest: dict[str, Any], key: str | None) -> None:
        self.w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": 60}))
        self.manifest = manifest
        contracts = manifest["contracts"]
        self.governor = self.w3.eth.contract(address=contracts["RiskGovernor"], abi=abi("RiskGovernor"))
        self.oracle = self.w3.eth.contract(address=contracts["RiskOracle"], abi=abi("RiskOracle"))
        self.account = Account.from_key(key) if key else None

    @classmethod
    def from_files(cls, rpc: str, deployment: Path, key: str | None) -> "Governance":
        try:
            manifest = json.loads(Path(deployment).read_text())
        except FileNotFoundError:
            raise GovernanceError(f"no deployment manifest at {deployment} (written by `zkrisk deploy`)") from None
        return cls(rpc, manifest, key)

    # --- transactions

    def send(self, call: ContractFunction) -> Any:
        if self.account is None:
            raise GovernanceError("no signer: set ZKRISK_SIGNER_KEY or pass --key")
        try:
            tx = call.build_transaction({"from": self.account.address,
                                         "nonce": self.w3.eth.get_transaction_count(self.account.address)})
        except (ContractLogicError, ContractCustomError) as error:
            raise GovernanceError(f"{call.fn_name} would revert: {self.decode_revert(error)}") from error
        signed = self.account.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        if receipt.status != 1:
            raise GovernanceError(f"{call.fn_name} reverted in transaction 0x{bytes(receipt.transactionHash).hex()}")
        return receipt

    def decode_revert(self, error: Exception) -> str:
        """Name a custom error from any of the system's contracts (the governor calls the oracle)."""
        data = getattr(error, "data", None)
        if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
            for contract in (self.oracle, self.governor):
                for item in contract.abi:
                    if item["type"] != "error":
                        continue
                    signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                    if Web3.keccak(text=signature)[:4].hex() == data[2:10]:
                        return signature
        return str(error)

    # --- reads

    def state(self, proposal_id: int) -> str:
        return PROPOSAL_STATES[self.governor.functions.state(proposal_id).call()]

    def actions(self, proposal_id: int) -> tuple[list[str], list[int], list[bytes], bytes]:
        """(targets, values, calldatas, description hash) from the proposal's ProposalCreated event."""
        for event in self.governor.events.ProposalCreated.get_logs(from_block=0):
            if event.args.proposalId == proposal_id:
                return (list(event.args.targets), list(event.args["values"]), list(event.args.calldatas),
                        Web3.keccak(text=event.args.description))
        raise GovernanceError(f"governor {self.governor.address} has no proposal {proposal_id}")

    def model_id(self, k: int) -> int:
        for model in self.manifest["models"]:
            if model["markets_per_proof"] == k:
                return int(model["model_id"])
        raise GovernanceError(f"the deployment registers no model with {k} market(s) per proof")

    # --- the four steps

    def propose_update(self, symbol: str, out: Path, backtest: dict[str, Any] | None = None,
                       end: str | None = None) -> Proposal:
        version = load_version()
        circuit = build_circuit(version, 1)
        frame = version.market_frame(symbol)
        if end is not None:
            frame = frame.loc[:end]
        result = prove(circuit, version.input_vector(symbol, frame=frame)[None, :])
        model_id = self.model_id(1)
        market, epoch = market_id(symbol), int(result.vectors[0][1])
        update = (model_id, [market], [epoch], result.proof, list(result.instances))
        try:
            proved = self.oracle.functions.verifyUpdate(*update).call()
        except (ContractLogicError, ContractCustomError) as error:
            raise GovernanceError(f"the oracle rejects this proof for {symbol} epoch {epoch}: "
                                  f"{self.decode_revert(error)} (have k publishers committed hash "
                                  f"0x{result.input_hashes[0]:064x}?)") from error
        wad = [[int(v) for v in p[3]] for p in proved]
        if wad != [[m.wad[n] for n in OUTPUTS] for m in result.markets]:
            raise GovernanceError(f"the oracle decodes {wad}, the prover {[m.wad for m in result.markets]}")
        guardrails = self.guardrail_status(update)
        bundle = build_bundle(circuit, result, {symbol: frame}, {symbol: BUNDLED_SOURCE}, kind="proposal",
                              proposal=ProposalRecord(self.governor.address, None, "", backtest or version.card.get("backtest")))
        description = proposal_description(bundle, guardrails, self.current(market))
        receipt = self.send(self.governor.functions.proposeRiskUpdate(update, proved, description))
        proposal_id = self.governor.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)[0].args.proposalId
        tx_hash = "0x" + bytes(receipt.transactionHash).hex()
        bundle = bundle.with_proposal(ProposalRecord(self.governor.address, proposal_id, description,
                                                     bundle.proposal.backtest)).with_chain(
            ChainRecord.from_manifest(self.manifest, model_id, tx_hash, receipt.blockNumber, receipt.gasUsed))
        return Proposal(proposal_id, tx_hash, bundle, bundle.save(out), guardrails)

    def guardrail_status(self, update: tuple) -> str:
        """Whether a plain submitUpdate would be accepted now (dry run), else the oracle's reason."""
        try:
            self.oracle.functions.submitUpdate(*update).call()
        except (ContractLogicError, ContractCustomError) as error:
            return f"beyond the guardrails: submitUpdate reverts with {self.decode_revert(error)}"
        return "within the guardrails: a plain submitUpdate would be accepted"

    def current(self, market: int) -> dict[str, int]:
        stored = self.oracle.functions.getRiskParameters(market).call()
        return {"cr": stored[0], "lt": stored[1], "vol": stored[2], "var99": stored[3], "es99": stored[4],
                "epoch": stored[8]}

    def vote(self, proposal_id: int, support: str, reason: str = "") -> Any:
        if self.state(proposal_id) != "Active":
            raise GovernanceError(f"proposal {proposal_id} is {self.state(proposal_id)}, votes are cast while Active "
                                  f"(voting opens at block {self.governor.functions.proposalSnapshot(proposal_id).call() + 1})")
        return self.send(self.governor.functions.castVoteWithReason(proposal_id, SUPPORT[support], reason))

    def queue(self, proposal_id: int) -> Any:
        if self.state(proposal_id) != "Succeeded":
            raise GovernanceError(f"proposal {proposal_id} is {self.state(proposal_id)}; only a Succeeded proposal "
                                  f"can be queued (voting ends at block "
                                  f"{self.governor.functions.proposalDeadline(proposal_id).call()})")
        return self.send(self.governor.functions.queue(*self.actions(proposal_id)))

    def execute(self, proposal_id: int) -> Any:
        if self.state(proposal_id) != "Queued":
            raise GovernanceError(f"proposal {proposal_id} is {self.state(proposal_id)}; queue it first")
        eta = self.governor.functions.proposalEta(proposal_id).call()
        now = self.w3.eth.get_block("latest").timestamp
        if now < eta:
            raise GovernanceError(f"proposal {proposal_id} is in the timelock for {eta - now} more seconds")
        return self.send(self.governor.functions.execute(*self.actions(proposal_id)))


def proposal_description(bundle: Bundle, guardrails: str, current: dict[str, int]) -> str:
    """Markdown voters read in any Governor UI: what changes, the proof to audit, the model's record."""
    lines = [f"# zkrisk proved risk update — model {bundle.model_id}@{bundle.model_version}", "",
             f"Proof bundle (zkrisk-bundle/1) content sha256: `{bundle.content_sha256}` — "
             "check it with `zkrisk audit BUNDLE --rpc URL`.",
             f"Circuit vs float model: at most {bundle.stated_error_bps:.3f} bp; SRS: {bundle.circuit.srs.provenance}.",
             f"Guardrails: {guardrails}.", "",
             "| market | epoch | CR | LT | vol | VaR 99% | ES 99% | current CR | current LT |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in bundle.markets:
        lines.append(f"| {m.symbol} | {m.epoch} | " + " | ".join(f"{m.wad[n] / WAD:.4f}" for n in
                                                                ("cr", "lt", "vol", "var99", "es99"))
                     + f" | {current['cr'] / WAD:.4f} | {current['lt'] / WAD:.4f} |")
    backtest = bundle.proposal.backtest if bundle.proposal else None
    lines += ["", "Backtest: " + (json.dumps(backtest, sort_keys=True) if backtest else
                                  "none published for this model version (see its model card)")]
    return "\n".join(lines)
