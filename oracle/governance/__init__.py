"""Governance from the command line: proved proposals, votes, queueing, execution and cancellation on
RiskGovernor.

`propose_update` proves a market's window with the production circuit, stepping from the policy state
the oracle stores, has the publishers' keys sign the report batch (k of them; in production each
publisher signs off chain and hands over its signature), checks the proof and signatures on chain
(`RiskOracle.verifyUpdate`), dry-runs `submitUpdate` to tell voters whether the change is beyond the
guardrails, writes the proof bundle and submits `RiskGovernor.proposeRiskUpdate`. When the vote
executes, the timelock calls `IRiskOracle.applyGovernanceUpdate(modelId, updates, signatures)`, which
re-checks the model, markets, epochs, report age and signatures (not the proof: it was verified at
proposal time). `propose_model` is an ordinary proposal registering a new model version's circuit
(its VKA on the deployed reusable verifier, after checking that verifier is the one the circuit
regenerates) with the guards of its model card, and retiring the models it replaces; its bundle
carries a proof of the new circuit's outputs on the latest windows, which must verify on that verifier
under the new VKA (an eth_call) before the proposal is sent, and stays auditable off chain.

Descriptions end with OpenZeppelin's `#proposer=0x…` suffix: only the proposer can submit that exact
description, so nobody can front-run a proposal with a copy and cancel it. The description links the
bundle's content hash and the backtest summary, so voters can fetch the bundle and audit it
(`zkrisk audit`) before voting. `vote`, `queue`, `execute` and `cancel` take a proposal id: the actions
are read back from the governor's ProposalCreated event, nothing is kept locally. `cancel` is the
guardian's (the timelock's CANCELLER_ROLE) once a proposal is queued, or its proposer's while pending.

What the governor's unproven-change filter covers, and what not (contracts/interfaces/IRiskGovernor.sol):
it refuses a proposal that calls `applyGovernanceUpdate` directly or relays calls through the
timelock's own schedule/execute functions. It does not stop a passing vote from doing whatever the
timelock can do (granting a role, changing the timelock delay): the timelock delay and the guardian's
cancel are the defence there.

Transactions are signed locally with a private key (`ZKRISK_SIGNER_KEY`) and sent over JSON-RPC.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from eth_account import Account
from web3 import HTTPProvider, Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD

from models.features import DAY
from models.spec import MARKETS, WAD, market_id
from models.versions import ModelVersion, load_version
from oracle.audit.chain import abi, verify_with_vka
from oracle.audit.checks import strip_metadata
from oracle.bundle import (BUNDLED_SOURCE, FORMAT, Bundle, ChainRecord, ProposalRecord, RawData, ReportBatch,
                           canonical_json, sha256_hex, vka_digest)
from oracle.chain.deploy import card_guards, proved_update, stored_state
from oracle.errors import OracleError
from oracle.reports import Domain, Report, Signature, data_hash, sign_reports
from prover.circuit import Circuit, build_circuit, circuits_root
from prover.evm import REUSABLE_VERIFIER_NAME, compile_verifier, render_reusable_verifier, vka_words
from prover.proving import ProofResult, prove

#: OpenZeppelin IGovernor.ProposalState, in enum order.
PROPOSAL_STATES = ("Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed")
SUPPORT = {"against": 0, "for": 1, "abstain": 2}
DAY_SECONDS = int(DAY.total_seconds())


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


class _Reads:
    """The oracle's `getParameters` as `oracle.chain.deploy.stored_state` calls it, over web3."""

    def __init__(self, oracle: Any) -> None:
        self._oracle = oracle

    def getParameters(self, market: int, layout_id: int) -> Any:  # noqa: N802 - the contract's name
        return self._oracle.functions.getParameters(market, layout_id).call()


#: the line of a model upgrade's description saying where and when its proof verified (`propose_model`)
UPGRADE_VERIFIED = "The bundle's proof verified on {verifier} at block {block} (eth_call of verifyProof with this VKA)."
_UPGRADE_VERIFIED = re.compile(re.escape(UPGRADE_VERIFIED).replace(r"\{verifier\}", "(0x[0-9a-fA-F]{40})")
                               .replace(r"\{block\}", "([0-9]+)"))


def upgrade_verification(description: str) -> tuple[str, int] | None:
    """(verifier, block) where a model upgrade's proof verified at proposal time, read from its description."""
    found = _UPGRADE_VERIFIED.search(description)
    return None if found is None else (found.group(1), int(found.group(2)))


def with_proposer(description: str, proposer: str) -> str:
    """OpenZeppelin's description suffix restricting who may propose it (Governor._isValidDescriptionForProposer)."""
    return f"{description}\n\n#proposer={proposer.lower()}"


class Governance:
    """One signer talking to one deployment (a `Deployment.to_manifest()` file) over JSON-RPC."""

    def __init__(self, rpc: str, manifest: dict[str, Any], key: str | None,
                 publisher_keys: Sequence[str] = ()) -> None:
        self.w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": 60}))
        self.manifest = manifest
        contracts = manifest["contracts"]
        self.governor = self.w3.eth.contract(address=contracts["RiskGovernor"], abi=abi("RiskGovernor"))
        self.oracle = self.w3.eth.contract(address=contracts["RiskOracle"], abi=abi("RiskOracle"))
        self.timelock = self.w3.eth.contract(address=contracts["RiskTimelock"], abi=abi("RiskTimelock"))
        self.account = Account.from_key(key) if key else None
        self.publisher_keys = list(publisher_keys)

    @classmethod
    def from_files(cls, rpc: str, deployment: Path, key: str | None,
                   publisher_keys: Sequence[str] = ()) -> "Governance":
        try:
            manifest = json.loads(Path(deployment).read_text())
        except FileNotFoundError:
            raise GovernanceError(f"no deployment manifest at {deployment} (written by `zkrisk deploy`)") from None
        return cls(rpc, manifest, key, publisher_keys)

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
            for contract in (self.oracle, self.governor, self.timelock):
                for item in contract.abi:
                    if item["type"] != "error":
                        continue
                    signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                    if Web3.keccak(text=signature)[:4].hex().removeprefix("0x") == data[2:10]:
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

    def model(self, k: int, layout_id: int) -> int:
        """The deployment's model id for K markets of a layout."""
        for model in self.manifest["models"]:
            if model["markets_per_proof"] == k and model["layout"] == self._layout_name(layout_id):
                return int(model["model_id"])
        raise GovernanceError(f"the deployment registers no model of layout {layout_id} with {k} market(s) per proof")

    @staticmethod
    def _layout_name(layout_id: int) -> str:
        from models.spec import LAYOUTS

        return LAYOUTS[layout_id].name

    def domain(self) -> Domain:
        return Domain(int(self.w3.eth.chain_id), self.oracle.address)

    def sign(self, reports: Sequence[Report]) -> list[Signature]:
        if not self.publisher_keys:
            raise GovernanceError("no publisher signatures: pass the publishers' keys (ZKRISK_PUBLISHER_KEYS, "
                                  "comma-separated); a proved update needs k of them")
        return [sign_reports(key, self.domain(), reports) for key in self.publisher_keys]

    # --- proposals

    def _prove(self, version: ModelVersion, circuit: Circuit, symbols: Sequence[str],
               end: str | None) -> tuple[ProofResult, list[RawData], list[Report]]:
        """Prove `symbols`' windows ending on `end`'s day (default: the last complete day), stepping from
        the stored policy state, and the reports of them."""
        layout = version.layout
        last_day = None if end is None else pd.Timestamp(end, tz="UTC")
        windows = [version.window_data(s, end=last_day) for s in symbols]
        vectors = np.stack([version.input_vector(s, data=w) for s, w in zip(symbols, windows)])
        markets = [market_id(s) for s in symbols]
        state = stored_state(_Reads(self.oracle), layout, markets)
        result = prove(circuit, vectors, state)
        reports = [Report(m, int(v[1]), h.to_bytes(32, "big"), data_hash(w), int(v[1]) * DAY_SECONDS)
                   for m, v, h, w in zip(markets, vectors, result.input_hashes, windows)]
        return result, [RawData(dict(BUNDLED_SOURCE), w) for w in windows], reports

    def propose_update(self, symbol: str, out: Path, backtest: dict[str, Any] | None = None,
                       end: str | None = None) -> Proposal:
        """A proved parameter update through the governor (for changes beyond the guardrails)."""
        version = load_version()
        circuit = build_circuit(version, 1, circuits_dir=circuits_root(version, 1))
        model_id = self.model(1, version.layout.layout_id)
        result, raw, reports = self._prove(version, circuit, [symbol], end)
        signatures = self.sign(reports)
        update = proved_update(model_id, reports, signatures, result.proof, result.instances)
        epoch = reports[0].epoch
        try:
            proved = self.oracle.functions.verifyUpdate(update).call()
        except (ContractLogicError, ContractCustomError) as error:
            raise GovernanceError(f"the oracle rejects this proof for {symbol} epoch {epoch}: "
                                  f"{self.decode_revert(error)}") from error
        stored = [[int(v) for v in p[1]] for p in proved]
        expected = [[m.fixed[n] for n in version.layout.names] for m in result.markets]
        if stored != expected:
            raise GovernanceError(f"the oracle decodes {stored}, the prover {expected}")
        guardrails = self.guardrail_status(update)
        bundle = Bundle.for_proposal(circuit, result, raw, ReportBatch(self.domain(), reports, signatures),
                                     ProposalRecord(self.governor.address, None, "",
                                                    backtest or version.card.get("walk_forward")))
        current = self.current(market_id(symbol), version)
        description = describe(bundle, f"proved risk update, {symbol} epoch {epoch}", [
            f"Guardrails: {guardrails}.", f"Current on chain: {current}."])
        description = with_proposer(description, self._signer_address())
        return self._submit(self.governor.functions.proposeRiskUpdate(update, proved, description), bundle,
                            description, model_id, out, guardrails)

    def propose_model(self, model: str, out: Path, k: int = 1, new_model_id: int | None = None,
                      retire: bool = True, backtest: dict[str, Any] | None = None,
                      evidence: Sequence[str] = (), end: str | None = None) -> Proposal:
        """A model upgrade: register `model` ("id@version") with its VKA on the deployed reusable verifier
        (whose bytecode must be what this circuit regenerates) and its card's guards, and retire the
        models of its layout and K it replaces. A proof of the new circuit on the windows ending on
        `end`'s day (default: the latest) must verify on that verifier before anything is proposed;
        `evidence` (why the upgrade, e.g. the drift rules that fired) goes into the description."""
        model_name, _, version_name = model.partition("@")
        version = load_version(model_name, version_name or None)
        layout = version.layout
        # a circuit the repository does not commit is generated in the ignored cache, not in circuits/
        circuit = build_circuit(version, k, circuits_dir=circuits_root(version, k))
        words = vka_words(circuit)
        verifier = self.manifest["contracts"]["verifier"]
        with tempfile.TemporaryDirectory() as tmp:
            compiled = compile_verifier(render_reusable_verifier(circuit, Path(tmp) / "Verifier.sol"),
                                        REUSABLE_VERIFIER_NAME)
        if strip_metadata(compiled["runtime"]) != strip_metadata(bytes(self.w3.eth.get_code(verifier))):
            raise GovernanceError(f"the deployed verifier {verifier} is not the reusable verifier this circuit "
                                  "regenerates: deploy that one first and record it in the deployment manifest")
        new_id = new_model_id or self.free_model_ids(1)[0]
        retired = [int(m["model_id"]) for m in self.manifest["models"]
                   if retire and m["markets_per_proof"] == k and m["layout"] == layout.name]
        markets = list(MARKETS.values())
        guards = card_guards(version.card)
        calldatas = [*(self.oracle.encode_abi("setGuards", [m, layout.layout_id, [list(g) for g in guards[m]]])
                       for m in markets if m in guards),
                     self.oracle.encode_abi("registerModel", [new_id, verifier, words, layout.layout_id,
                                                              circuit.input_scale, k, markets]),
                     *(self.oracle.encode_abi("setModelActive", [old, False]) for old in retired)]
        # a proof on the latest windows shows voters the new model's outputs, auditable off chain
        symbols = list(MARKETS)[:k]
        result, raw, reports = self._prove(version, circuit, symbols, end)
        verified = self._verify_with_vka(verifier, words, result.proof, result.instances)
        signatures = self.sign(reports) if self.publisher_keys else []
        bundle = Bundle.for_proposal(circuit, result, raw, ReportBatch(self.domain(), reports, signatures),
                                     ProposalRecord(self.governor.address, None, "",
                                                    backtest or version.card.get("walk_forward")))
        description = describe(bundle, f"model upgrade to {version.model_id}@{version.version} as model id {new_id}", [
            f"Registers model id {new_id} (layout {layout.name}, K={k}, input scale {circuit.input_scale}) on "
            f"verifier {verifier} with a VKA of {len(words)} words, digest `{vka_digest(words)}`; model card sha256 "
            f"`{sha256_hex(canonical_json(version.card))}`; sets each market's guards from the card.",
            f"Retires model ids: {', '.join(map(str, retired)) or 'none'}.",
            UPGRADE_VERIFIED.format(verifier=verifier, block=verified), *evidence])
        description = with_proposer(description, self._signer_address())
        function = self.governor.functions.propose([self.oracle.address] * len(calldatas), [0] * len(calldatas),
                                                   calldatas, description)
        return self._submit(function, bundle, description, new_id, out, "not applicable: model upgrade")

    def free_model_ids(self, count: int, taken: Sequence[int] = ()) -> list[int]:
        """`count` model ids above the manifest's that no model on chain holds (governance may have
        registered some since the manifest was written) and not in `taken` (e.g. open proposals')."""
        found, candidate = [], 1 + max(int(m["model_id"]) for m in self.manifest["models"])
        while len(found) < count:
            if candidate not in taken and int(self.oracle.functions.getModel(candidate).call()[0], 16) == 0:
                found.append(candidate)
            candidate += 1
        return found

    def _verify_with_vka(self, verifier: str, vka: Sequence[bytes], proof: bytes, instances: Sequence[int]) -> int:
        """The block at which `proof` verified on the reusable verifier under `vka`, registering the VKA
        there first (permissionless and idempotent: the verifier only records its digest)."""
        contract = self.w3.eth.contract(address=verifier, abi=abi("IHalo2VerifierReusable"))
        self.send(contract.functions.registerVka(list(vka)))
        block = int(self.w3.eth.block_number)
        verified, answer = verify_with_vka(self.w3, verifier, proof, instances, vka, block)
        if not verified:
            raise GovernanceError(f"the new circuit's proof does not verify on {verifier}: {answer}")
        return block

    def _signer_address(self) -> str:
        if self.account is None:
            raise GovernanceError("no signer: set ZKRISK_SIGNER_KEY or pass --key")
        return self.account.address

    def _submit(self, function: ContractFunction, bundle: Bundle, description: str, model_id: int, out: Path,
                guardrails: str) -> Proposal:
        receipt = self.send(function)
        proposal_id = self.governor.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)[0].args.proposalId
        tx_hash = "0x" + bytes(receipt.transactionHash).hex().removeprefix("0x")
        bundle = bundle.with_proposal(ProposalRecord(self.governor.address, proposal_id, description,
                                                     bundle.proposal.backtest)).with_chain(
            ChainRecord.from_manifest(self.manifest, model_id, tx_hash, int(receipt.blockNumber), int(receipt.status),
                                      int(receipt.gasUsed)))
        return Proposal(proposal_id, tx_hash, bundle, bundle.save(out), guardrails)

    def guardrail_status(self, update: tuple) -> str:
        """Whether a plain submitUpdate would be accepted now (dry run), else the oracle's reason."""
        try:
            self.oracle.functions.submitUpdate(update).call()
        except (ContractLogicError, ContractCustomError) as error:
            return f"beyond the guardrails: submitUpdate reverts with {self.decode_revert(error)}"
        return "within the guardrails: a plain submitUpdate would be accepted"

    def current(self, market: int, version: ModelVersion) -> str:
        layout = version.layout
        values, observed_at, epoch, model_id = self.oracle.functions.getParameters(market, layout.layout_id).call()
        if observed_at == 0:
            return "no update yet"
        return ", ".join(f"{n} {v / WAD:.4f}" for n, v in zip(layout.names, values)) + \
            f" (epoch {epoch}, model {model_id})"

    # --- the steps after a proposal

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

    def cancel(self, proposal_id: int) -> Any:
        """A queued proposal through the timelock (the guardian's CANCELLER_ROLE); a pending one through
        the governor (its proposer only)."""
        state = self.state(proposal_id)
        targets, values, calldatas, description_hash = self.actions(proposal_id)
        if state == "Pending":
            return self.send(self.governor.functions.cancel(targets, values, calldatas, description_hash))
        if state != "Queued":
            raise GovernanceError(f"proposal {proposal_id} is {state}: only a Pending (by its proposer) or Queued "
                                  "(by the guardian) proposal can be cancelled")
        role = self.timelock.functions.CANCELLER_ROLE().call()
        if not self.timelock.functions.hasRole(role, self._signer_address()).call():
            raise GovernanceError(f"{self._signer_address()} lacks the timelock's CANCELLER_ROLE (the guardian has it)")
        # GovernorTimelockControl schedules with salt bytes20(governor) ^ descriptionHash and no predecessor
        salt = bytes(a ^ b for a, b in zip(bytes.fromhex(self.governor.address[2:]) + bytes(12), description_hash))
        operation = self.timelock.functions.hashOperationBatch(targets, values, calldatas, bytes(32), salt).call()
        return self.send(self.timelock.functions.cancel(operation))


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
    names = bundle.layout.names
    worst = max(bundle.error_bps.values()) if bundle.error_bps else 0.0
    lines = [f"# zkrisk {title}", "",
             f"Proof bundle ({FORMAT}) content sha256: `{bundle.content_sha256}` — "
             "check it with `zkrisk audit BUNDLE --rpc URL`.",
             f"Model {bundle.model_id}@{bundle.model_version} (layout {bundle.layout.name}); circuit vs float model "
             f"at most {worst:.3f} bp; SRS: {bundle.circuit.srs.provenance}.", *specifics, "",
             "| market | epoch | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for m in bundle.markets:
        lines.append(f"| {m.symbol} | {m.epoch} | " + " | ".join(f"{m.wad[n] / WAD:.4f}" for n in names) + " |")
    return "\n".join(lines + [""] + backtest_lines(bundle.proposal.backtest if bundle.proposal else None,
                                                   bundle.model_id))
