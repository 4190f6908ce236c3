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
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from eth_account import Account
from web3 import HTTPProvider, Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD

from models.spec import MARKETS, OUTPUTS, WAD, market_id
from models.versions import load_version
from oracle.audit.chain import abi
from oracle.audit.checks import strip_metadata
from oracle.bundle import (BUNDLED_SOURCE, Bundle, ChainRecord, ProposalRecord, build_bundle, canonical_json,
                           sha256_hex, vka_digest)
from oracle.errors import OracleError
from prover.circuit import build_circuit
from prover.evm import REUSABLE_VERIFIER_NAME, compile_verifier, render_reusable_verifier, vka_words
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
        try:
            return PROPOSAL_STATES[self.governor.functions.state(proposal_id).call()]
        except (ContractLogicError, ContractCustomError) as error:
            raise GovernanceError(f"governor {self.governor.address}: proposal {proposal_id}: "
                                  f"{self.decode_revert(error)}") from error

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
        """A proved parameter update through the governor (for changes beyond the guardrails)."""
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
                              proposal=ProposalRecord(self.governor.address, None, "",
                                                      backtest or version.card.get("walk_forward")))
        current = self.current(market)
        description = describe(bundle, f"proved risk update, {symbol} epoch {epoch}", [
            f"Guardrails: {guardrails}.",
            f"Current on chain: CR {current['cr'] / WAD:.4f}, LT {current['lt'] / WAD:.4f} (epoch {current['epoch']})."])
        return self._submit(self.governor.functions.proposeRiskUpdate(update, proved, description), bundle,
                            description, model_id, out, guardrails)

    def propose_model(self, model: str, out: Path, k: int = 1, new_model_id: int | None = None,
                      retire: bool = True, backtest: dict[str, Any] | None = None) -> Proposal:
        """A model upgrade: register `model` ("id@version") with its VKA on the deployed reusable verifier
        (whose bytecode must be what this circuit regenerates) and retire the models it replaces."""
        model_name, _, version_name = model.partition("@")
        version = load_version(model_name, version_name or None)
        circuit = build_circuit(version, k)
        words = vka_words(circuit)
        verifier = self.manifest["contracts"]["verifier"]
        with tempfile.TemporaryDirectory() as tmp:
            compiled = compile_verifier(render_reusable_verifier(circuit, Path(tmp) / "Verifier.sol"),
                                        REUSABLE_VERIFIER_NAME)
        if strip_metadata(compiled["runtime"]) != strip_metadata(bytes(self.w3.eth.get_code(verifier))):
            raise GovernanceError(f"the deployed verifier {verifier} is not the reusable verifier this circuit "
                                  "regenerates: deploy that one first and record it in the deployment manifest")
        new_id = new_model_id or 1 + max(int(m["model_id"]) for m in self.manifest["models"])
        retired = [int(m["model_id"]) for m in self.manifest["models"] if retire and m["markets_per_proof"] == k]
        markets = list(MARKETS.values())
        calldatas = [self.oracle.encode_abi("registerModel", [new_id, verifier, words, circuit.output_scale, k, markets]),
                     *(self.oracle.encode_abi("setModelActive", [old, False]) for old in retired)]
        # a proof on the latest windows shows voters the new model's outputs, auditable off-chain
        symbols = list(MARKETS)[:k]
        frames = {s: version.market_frame(s) for s in symbols}
        result = prove(circuit, np.stack([version.input_vector(s, frame=frames[s]) for s in symbols]))
        bundle = build_bundle(circuit, result, frames, {s: BUNDLED_SOURCE for s in symbols}, kind="proposal",
                              proposal=ProposalRecord(self.governor.address, None, "",
                                                      backtest or version.card.get("walk_forward")))
        description = describe(bundle, f"model upgrade to {version.model_id}@{version.version} as model id {new_id}", [
            f"Registers model id {new_id} (K={k}, output scale {circuit.output_scale}) on verifier {verifier} with "
            f"a VKA of {len(words)} words, digest `{vka_digest(words)}`; model card sha256 "
            f"`{sha256_hex(canonical_json(version.card))}`.",
            f"Retires model ids: {', '.join(map(str, retired)) or 'none'}."])
        function = self.governor.functions.propose([self.oracle.address] * len(calldatas), [0] * len(calldatas),
                                                   calldatas, description)
        return self._submit(function, bundle, description, new_id, out, "not applicable: model upgrade")

    def _submit(self, function: ContractFunction, bundle: Bundle, description: str, model_id: int, out: Path,
                guardrails: str) -> Proposal:
        receipt = self.send(function)
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


def backtest_lines(backtest: dict[str, Any] | None, model_id: str) -> list[str]:
    """The walk-forward record in a few lines: the model against the best baseline per market."""
    if not backtest:
        return ["Backtest: none published for this model version (see its model card)."]
    lines = ["Walk-forward backtest (out of sample):"]
    for market, record in sorted(backtest.items()):
        scores = record.get("scores", {}) if isinstance(record, dict) else {}
        own = scores.get(model_id)
        if own is None:
            lines.append(f"- {market}: {json.dumps(record, sort_keys=True)}")
            continue
        baseline, best = min(((n, v) for n, v in scores.items() if n != model_id), key=lambda nv: nv[1]["qlike"],
                             default=(None, None))
        lines.append(f"- {market} {record.get('test_start')}..{record.get('test_end')}: QLIKE {own['qlike']:.3f}"
                     + (f" (best baseline {baseline} {best['qlike']:.3f})" if best else "")
                     + f", VaR99 hit rate {own['var99_hit_rate']:.2%} (Kupiec p {own['kupiec_p']:.2f}, "
                       f"Christoffersen p {own['christoffersen_p']:.2f}), ES backtest p {own['es_mcneil_frey_p']:.2f}")
    return lines


def describe(bundle: Bundle, title: str, specifics: list[str]) -> str:
    """Markdown voters read in any Governor UI: what changes, the proof to audit, the model's record."""
    lines = [f"# zkrisk {title}", "",
             f"Proof bundle (zkrisk-bundle/1) content sha256: `{bundle.content_sha256}` — "
             "check it with `zkrisk audit BUNDLE --rpc URL`.",
             f"Model {bundle.model_id}@{bundle.model_version}; circuit vs float model at most "
             f"{bundle.stated_error_bps:.3f} bp; SRS: {bundle.circuit.srs.provenance}.", *specifics, "",
             "| market | epoch | CR | LT | vol | VaR 99% | ES 99% |", "|---|---|---|---|---|---|---|"]
    for m in bundle.markets:
        lines.append(f"| {m.symbol} | {m.epoch} | " + " | ".join(f"{m.wad[n] / WAD:.4f}" for n in
                                                                ("cr", "lt", "vol", "var99", "es99")) + " |")
    return "\n".join(lines + [""] + backtest_lines(bundle.proposal.backtest if bundle.proposal else None,
                                                   bundle.model_id))
