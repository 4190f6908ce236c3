"""The six audit checks of a proof bundle. Each one re-derives its claim from scratch and runs even when
another failed, so a report shows exactly which part of an update does not hold.

1. commitment  — the features recomputed from the raw window equal the proved vector; its Poseidon hash
                 equals the bundle's commitment, the proof's input-hash instance and the commitment the
                 publishers finalised on chain for (market, epoch).
2. proof       — the proof verifies off-chain (ezkl) with the bundle's settings, vk and SRS; the settings
                 are the ones the circuit manifest pins.
3. verifier    — the verifier the oracle registered for the model has the runtime bytecode that the
                 bundle's vk regenerates and the project's solc compiles (metadata trailer aside), and
                 the VKA the oracle stored equals the VKA regenerated from the vk (and the bundle's).
4. on-chain    — an eth_call to that verifier accepts the proof with the registered VKA, and the
                 transaction the bundle names carried this very proof and these instances.
5. float model — the model card is the local model version's, and the float model on the same inputs
                 matches the outputs decoded from the instances within the stated error.
6. stored      — the parameters the oracle stored for (market, epoch) equal the outputs decoded from
                 the instances (and were stored by the bundle's transaction).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from web3.exceptions import Web3Exception

from models.errors import ModelError
from models.spec import OUTPUTS, signed_felt, split_instances
from models.versions import ModelVersion, load_version
from oracle.audit.chain import ChainView
from oracle.audit.errors import AuditError
from oracle.bundle import Bundle, BundleFormatError, canonical_json, sha256_hex
from prover.artifacts import CircuitPaths
from prover.circuit import Circuit
from prover.errors import ProverError
from prover.evm import REUSABLE_VERIFIER_NAME, compile_verifier, render_plain_verifier, render_reusable_verifier, vka_words
from prover.proving import BPS, input_commitment, verify
from prover.srs import SRS

TITLES = {
    1: "input commitment recomputed from raw data",
    2: "proof verifies off-chain",
    3: "deployed verifier and VKA reproduce from the vk",
    4: "proof verifies on-chain",
    5: "float model matches the circuit outputs",
    6: "on-chain parameters equal the decoded outputs",
}
#: Float32 inference differs across CPUs in the last bits; far below one basis point.
FLOAT_TOLERANCE_BPS = 0.01


@dataclass(frozen=True)
class CheckResult:
    number: int
    passed: bool
    details: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return TITLES[self.number]


@dataclass(frozen=True)
class AuditReport:
    bundle_sha256: str
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return len(self.checks) == len(TITLES) and all(c.passed for c in self.checks)


class CheckFailed(Exception):
    """Raised inside a check to fail it with a message."""


def strip_metadata(runtime: bytes) -> bytes:
    """Runtime bytecode without solc's CBOR metadata trailer (its last two bytes give its length).

    The trailer hashes source file names and compiler settings, which differ between the Ape build
    that deployed the verifier and a standalone compile, without changing a single instruction.
    """
    if len(runtime) < 2:
        return runtime
    length = int.from_bytes(runtime[-2:], "big")
    return runtime[:-(length + 2)] if length + 2 <= len(runtime) else runtime


class Auditor:
    """Runs the checks of one bundle; `chain` is None when no RPC was given (chain checks then fail)."""

    def __init__(self, bundle: Bundle, chain: ChainView | None, srs_path: Path | None = None,
                 workdir: Path | None = None, no_chain_reason: str = "no chain to compare with (pass --rpc, "
                                                                      "and a bundle with a chain record)") -> None:
        self.bundle = bundle
        self.chain = chain
        self.no_chain_reason = no_chain_reason
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="zkrisk-audit-"))
        self.srs_path = srs_path
        self._circuit: Circuit | None = None

    # --- shared inputs, derived lazily so that one missing piece fails only the checks that need it

    def version(self) -> ModelVersion:
        return load_version(self.bundle.model_id, self.bundle.model_version)

    def settings(self) -> dict:
        return json.loads(self.bundle.circuit.settings)

    def circuit(self) -> Circuit:
        """The bundle's circuit files written where the prover's functions expect them."""
        if self._circuit is None:
            b = self.bundle.circuit
            paths = CircuitPaths(self.bundle.model_id, self.bundle.model_version, b.k, self.workdir, self.workdir)
            paths.settings.write_text(b.settings)
            paths.vk.write_bytes(b.vk)
            srs_file = self.workdir / "bundle.srs"
            if b.srs.data is not None:
                srs_file.write_bytes(b.srs.data)
            elif self.srs_path is not None:
                srs_file = Path(self.srs_path)
            else:
                raise AuditError(f"the bundle refers to the SRS '{b.srs.provenance}' ({b.srs.sha256[:16]}…) "
                                 "without embedding it: pass its file with --srs")
            srs = SRS(srs_file, b.srs.logrows, b.srs.provenance, sha256_hex(srs_file.read_bytes()))
            if srs.sha256 != b.srs.sha256:
                raise AuditError(f"SRS {srs_file} has sha256 {srs.sha256}, the bundle pins {b.srs.sha256}")
            # the model version is not needed to verify or to render verifiers
            self._circuit = Circuit(None, paths, self.settings(), b.manifest, srs)  # type: ignore[arg-type]
        return self._circuit

    def need_chain(self) -> ChainView:
        if self.chain is None:
            raise CheckFailed(f"not checked: {self.no_chain_reason}")
        return self.chain

    def claimed_outputs_are_the_instances(self) -> list[str]:
        """The bundle's stated outputs must be the instances decoded; returns the problems."""
        problems = []
        for market, decoded in zip(self.bundle.markets, self.bundle.decoded_outputs()):
            for name in OUTPUTS:
                if market.wad[name] != decoded[name]:
                    problems.append(f"{market.symbol} {name}: bundle states {market.wad[name]}, the instances "
                                    f"decode to {decoded[name]}")
        return problems

    # --- the checks

    def check_commitment(self) -> list[str]:
        version, details, failures = self.version(), [], []
        scale = int(self.settings()["model_input_scales"][0])
        hashes = self.bundle.instance_hashes()
        for i, market in enumerate(self.bundle.markets):
            vector = version.input_vector(market.symbol, frame=market.raw.frame)
            if not np.array_equal(vector, np.asarray(market.vector)):
                failures.append(f"{market.symbol}: features of the raw window differ from the proved vector "
                                f"at {int(np.flatnonzero(vector != np.asarray(market.vector))[0])}")
                continue
            commitment = input_commitment(vector, scale)
            for label, value in (("bundle commitment", market.commitment), ("proof instance", hashes[i])):
                if value != commitment:
                    failures.append(f"{market.symbol}: recomputed hash 0x{commitment:064x} ≠ {label} 0x{value:064x}")
            if self.chain is not None:
                is_final, onchain = self.chain.final_commitment(int(vector[0]), int(vector[1]))
                if not is_final or onchain != commitment:
                    failures.append(f"{market.symbol} epoch {int(vector[1])}: on-chain commitment "
                                    f"{'final' if is_final else 'not final'} 0x{onchain:064x}")
            details.append(f"{market.symbol} epoch {int(vector[1])}: poseidon 0x{commitment:064x}")
        if self.chain is None:
            failures.append(f"on-chain commitment not checked: {self.no_chain_reason}")
        if failures:
            raise CheckFailed("; ".join(failures))
        return details + ["equals the proof's instance and the finalised on-chain commitment"]

    def check_proof(self) -> list[str]:
        circuit = self.circuit()
        pinned = self.bundle.circuit.manifest.get("files", {}).get("settings")
        if pinned != sha256_hex(self.bundle.circuit.settings.encode()):
            raise CheckFailed(f"settings hash {sha256_hex(self.bundle.circuit.settings.encode())[:16]}… is not the "
                              f"one the circuit manifest pins ({str(pinned)[:16]}…)")
        proof_file = self.workdir / "proof.json"
        proof_file.write_text(json.dumps(self.bundle.ezkl_proof_document()))
        if not verify(circuit, proof_file):
            raise CheckFailed("ezkl rejects the proof with the bundle's vk, settings and SRS")
        return [f"ezkl verify: ok (vk sha256 {sha256_hex(self.bundle.circuit.vk)[:16]}…, "
                f"SRS {self.bundle.circuit.srs.provenance})"]

    def check_verifier(self) -> list[str]:
        chain, circuit = self.need_chain(), self.circuit()
        model = chain.model()
        deployed = chain.code(model.verifier)
        reusable = int(model.vka_pointer, 16) != 0
        sol = self.workdir / ("Halo2VerifierReusable.sol" if reusable else "Halo2Verifier.sol")
        try:
            (render_reusable_verifier if reusable else render_plain_verifier)(circuit, sol)
            regenerated = vka_words(circuit) if reusable else []
        except ProverError:
            raise
        except Exception as error:  # ezkl's async bindings raise pyo3's RustPanic (not exported) on a malformed vk
            raise CheckFailed(f"the bundle's vk does not regenerate a verifier and VKA: {error}") from error
        compiled = compile_verifier(sol, REUSABLE_VERIFIER_NAME if reusable else "Halo2Verifier")
        failures = []
        if strip_metadata(compiled["runtime"]) != strip_metadata(deployed):
            failures.append(f"verifier {model.verifier}: deployed runtime ({len(deployed)} bytes) differs from the "
                            f"regenerated one ({compiled['runtime_size']} bytes)")
        details = [f"verifier {model.verifier}: runtime bytecode reproduced ({compiled['runtime_size']} bytes)"]
        if reusable:
            registered = chain.registered_vka(model)
            for label, words in (("the bundle's VKA", self.bundle.circuit.vka), ("the on-chain VKA", registered)):
                if words != regenerated:
                    failures.append(f"{label} ({len(words)} words) differs from the VKA the vk regenerates "
                                    f"({len(regenerated)} words)")
            details.append(f"VKA of {len(regenerated)} words, digest {model.vka_digest}, registered on chain")
        if failures:
            raise CheckFailed("; ".join(failures))
        return details

    def check_on_chain(self) -> list[str]:
        chain = self.need_chain()
        model = chain.model()
        ok, message = chain.verify_on_chain(model.verifier, self.bundle.proof, self.bundle.instances,
                                            chain.registered_vka(model))
        if not ok:
            raise CheckFailed(f"verifier {model.verifier} {message}")
        details = [f"verifier {model.verifier} {message}"]
        tx_hash = chain.record.tx_hash
        if tx_hash is None:
            raise CheckFailed("the bundle names no transaction to compare its proof with")
        function, args = chain.transaction_call(tx_hash)
        sent = args["update"] if function == "proposeRiskUpdate" else args  # the same fields, as a struct there
        if bytes(sent["proof"]) != self.bundle.proof or list(sent["instances"]) != self.bundle.instances \
                or int(sent["modelId"]) != chain.record.model_id:
            raise CheckFailed(f"transaction {tx_hash} ({function}) carried another proof, instances or model id")
        if function == "proposeRiskUpdate" and self.bundle.content_sha256 not in args["description"]:
            raise CheckFailed(f"the proposal's description does not link this bundle ({self.bundle.content_sha256})")
        return details + [f"transaction {tx_hash} ({function}) carried this proof and these instances"]

    def check_float_model(self) -> list[str]:
        version = self.version()
        if sha256_hex(canonical_json(version.card)) != sha256_hex(canonical_json(self.bundle.card)):
            raise CheckFailed(f"the bundle's model card differs from the local {version.model_id}@{version.version} card")
        problems = self.claimed_outputs_are_the_instances()
        if problems:
            raise CheckFailed("; ".join(problems))
        predicted = version.predict(np.asarray([m.vector for m in self.bundle.markets]))
        scale = int(self.settings()["model_output_scales"][0])
        _, felts = split_instances(self.bundle.instances, self.bundle.circuit.k)
        worst = max(abs(signed_felt(f) / 2**scale - predicted[i][j]) * BPS
                    for i, market_felts in enumerate(felts) for j, f in enumerate(market_felts))
        stated = self.bundle.stated_error_bps
        if worst > stated + FLOAT_TOLERANCE_BPS:
            raise CheckFailed(f"largest |circuit − float| is {worst:.3f} bp, the bundle states at most {stated:.3f} bp")
        return [f"largest |circuit − float| {worst:.3f} bp ≤ stated {stated:.3f} bp "
                f"(model {version.model_id}@{version.version}, card matches)"]

    def check_stored(self) -> list[str]:
        chain = self.need_chain()
        failures = self.claimed_outputs_are_the_instances()
        details = []
        for market, decoded in zip(self.bundle.markets, self.bundle.decoded_outputs()):
            stored = chain.stored_updates(market.market_id, market.epoch)
            if not stored:
                failures.append(f"{market.symbol} epoch {market.epoch}: nothing stored on chain")
                continue
            if len(stored) > 1:  # the oracle enforces increasing epochs; two would be a contract bug
                failures.append(f"{market.symbol} epoch {market.epoch}: stored {len(stored)} times")
            update = stored[-1]
            differing = [n for n in OUTPUTS if update["values"][n] != decoded[n]]
            if differing:
                failures.append(f"{market.symbol} epoch {market.epoch}: stored {differing} differ from the proof's")
            tx = chain.record.tx_hash
            if self.bundle.kind == "update" and tx is not None and update["tx_hash"].lower() != tx.lower():
                failures.append(f"{market.symbol} epoch {market.epoch}: stored by {update['tx_hash']}, not by {tx}")
            details.append(f"{market.symbol} epoch {market.epoch}: stored in {update['tx_hash']} "
                           f"(CR {update['values']['cr'] / 1e18:.4f}, LT {update['values']['lt'] / 1e18:.4f})")
        if failures:
            raise CheckFailed("; ".join(failures))
        return details

    def run(self, only: tuple[int, ...] = tuple(TITLES)) -> AuditReport:
        checks: dict[int, Callable[[], list[str]]] = {
            1: self.check_commitment, 2: self.check_proof, 3: self.check_verifier,
            4: self.check_on_chain, 5: self.check_float_model, 6: self.check_stored}
        results = []
        for number in only:
            try:
                results.append(CheckResult(number, True, checks[number]()))
            except CheckFailed as failure:
                results.append(CheckResult(number, False, [str(failure)]))
            except (AuditError, BundleFormatError, ProverError, ModelError, Web3Exception, OSError) as error:
                results.append(CheckResult(number, False, [f"{type(error).__name__}: {error}"]))
        return AuditReport(self.bundle.sha256, results)
