"""The nine audit checks of a proof bundle. Each re-derives its claim from the raw data, this repository
and the chain (never from the bundle's own statements about itself), and runs even when another
failed, so a report shows exactly which part of an update does not hold.

1. data        — the repository's model version recomputes each market's vector from the bundle's raw
                 bars (within FEATURE_RTOL/FEATURE_ATOL, oracle.bundle); the Poseidon hash of the proved
                 vector, rounded to float32 then to the committed circuit's input scale, equals the
                 bundle's input hash, the proof's instance and the signed report's; keccak of the raw bars
                 (oracle.reports.data_hash) equals the report's data hash; the report was observed after
                 the last bar closed.
2. signatures  — the batch's EIP-712 domain is the bundle's oracle and chain, every signature recovers to
                 the signer it names, and at least the quorum of distinct signers were publishers at the
                 block the update executed on (the state before its transaction).
3. repository  — the model card is the repository's card of that version, the declared layout is the one
                 models/spec.py declares for it, the committed circuit (circuits/<model>/<version>/k<K>/)
                 exists, its ONNX, settings and calibration data hash to its manifest, and the bundle's
                 settings and manifest are those files.
4. vk          — compiling the committed ONNX with the committed settings and running ezkl setup on the
                 bundle's SRS regenerates the bundle's vk byte for byte (setup is deterministic given the SRS).
5. proof       — ezkl verifies the proof with the committed settings, the bundle's vk and SRS.
6. verifier    — the verifier the oracle registered for the model id has the runtime bytecode the vk
                 regenerates and the project's solc compiles (metadata trailer aside); the VKA the oracle
                 stored equals the VKA the vk regenerates and the bundle's; an eth_call of the verifier
                 with that VKA accepts the proof.
7. outputs     — the bundle's outputs are the instances decoded with the repository's layout (felt, value,
                 WAD), the passed-through state is the bundle's state before, and the repository's float
                 model on the proved vectors and state is within the committed circuit's tolerance
                 (manifest calibration_plan.tolerance_bps) of the decoded values.
8. state       — the state before is what the oracle stored for each market and layout at the block before
                 the transaction (the layout's initial state before a first update).
9. on chain    — the receipt succeeded (status 1) and its block and gas are the bundle's; the transaction
                 carried this proof, these instances, reports and signatures under the bundle's model id
                 (registered for the bundle's layout, K markets); the oracle stored the decoded outputs
                 (RiskParametersUpdated), and its reads at that block, `getParameters` and for the lending
                 layout `getRiskParameters` (what integrators read), serve exactly them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import ezkl
import numpy as np
from web3 import Web3
from web3.exceptions import Web3Exception

from models.errors import ModelError
from models.spec import LENDING, MARKETS, WAD, Layout, felt_to_wad, signed_felt, to_fixed
from models.versions import CIRCUITS_DIR, ModelVersion, load_version
from oracle.audit.chain import ChainView
from oracle.audit.errors import AuditError
from oracle.bundle import (Bundle, BundleFormatError, canonical_json, layout_to_dict, sha256_hex, vectors_agree,
                           vka_digest)
from oracle.chain.deploy import wad_to_fixed
from oracle.reports import data_hash, recover_signer
from prover.artifacts import CircuitPaths, read_json, sha256_file
from prover.circuit import Circuit, installed_ezkl_version
from prover.errors import ProverError
from prover.evm import (REUSABLE_VERIFIER_NAME, compile_verifier, render_plain_verifier, render_reusable_verifier,
                        vka_words)
from prover.proving import BPS, input_commitment, verify
from prover.srs import SRS

TITLES = {
    1: "raw bars reproduce the vector, input hash and data hash",
    2: "a quorum of publishers active at that block signed the reports",
    3: "model card, layout and circuit are the repository's",
    4: "verification key regenerates from the committed ONNX",
    5: "proof verifies off-chain",
    6: "deployed verifier and VKA reproduce and accept the proof",
    7: "outputs are the decoded instances and match the float model",
    8: "policy state is what the chain stored before the update",
    9: "transaction succeeded and the oracle serves the outputs",
}
#: Checks that need the chain; without an RPC they fail with the reason.
CHAIN_CHECKS = (2, 6, 8, 9)
#: `IRiskOracle.RiskParameters` fields → lending layout outputs (collateralRatio is derived from maxLtv).
RISK_PARAMETER_FIELDS = {"maxLtv": "max_ltv", "liquidationThreshold": "lt", "volatility": "vol",
                         "valueAtRisk": "var99", "expectedShortfall": "es99"}


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

    def failed(self) -> list[int]:
        return [c.number for c in self.checks if not c.passed]


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


def _fail_if(failures: list[str]) -> None:
    if failures:
        raise CheckFailed("; ".join(failures))


class Auditor:
    """Runs the checks of one bundle in `workdir` (scratch files); `chain` is None when no RPC was given
    (chain checks then fail)."""

    def __init__(self, bundle: Bundle, chain: ChainView | None, workdir: Path, srs_path: Path | None = None,
                 no_chain_reason: str = "no chain to compare with (pass --rpc, and a bundle with a chain record)"
                 ) -> None:
        self.bundle = bundle
        self.chain = chain
        self.no_chain_reason = no_chain_reason
        self.workdir = Path(workdir)
        self.srs_path = srs_path

    # --- what the checks compare with, derived lazily so one missing piece fails only the checks needing it

    @cached_property
    def version(self) -> ModelVersion:
        return load_version(self.bundle.model_id, self.bundle.model_version)

    @property
    def layout(self) -> Layout:
        """The repository's layout of the bundle's model version (never the bundle's own)."""
        return self.version.layout

    @cached_property
    def committed(self) -> CircuitPaths:
        """The repository's committed circuit of the bundle's model version and K (keys go to the workdir)."""
        paths = CircuitPaths.for_version(self.bundle.model_id, self.bundle.model_version, self.bundle.circuit.k,
                                         CIRCUITS_DIR, self.workdir / "regenerated")
        if not paths.manifest.exists():
            raise CheckFailed(f"the repository commits no circuit for {self.bundle.model_id}@"
                              f"{self.bundle.model_version} K={self.bundle.circuit.k} (no {paths.manifest})")
        return paths

    @cached_property
    def manifest(self) -> dict:
        return read_json(self.committed.manifest)

    @property
    def input_scale(self) -> int:
        return int(read_json(self.committed.settings)["model_input_scales"][0])

    @cached_property
    def srs(self) -> SRS:
        b = self.bundle.circuit.srs
        srs_file = self.workdir / "bundle.srs"
        if b.data is not None:
            srs_file.write_bytes(b.data)
        elif self.srs_path is not None:
            srs_file = Path(self.srs_path)
        else:
            raise AuditError(f"the bundle refers to the SRS '{b.provenance}' ({b.sha256[:16]}…) "
                             "without embedding it: pass its file with --srs")
        srs = SRS(srs_file, b.logrows, b.provenance, sha256_file(srs_file))
        if srs.sha256 != b.sha256:
            raise AuditError(f"SRS {srs_file} has sha256 {srs.sha256}, the bundle pins {b.sha256}")
        return srs

    @cached_property
    def bundle_vk_circuit(self) -> Circuit:
        """The committed settings with the bundle's vk and SRS, where the prover's functions expect them."""
        source = self.workdir / "bundle-vk"
        paths = CircuitPaths(self.bundle.model_id, self.bundle.model_version, self.bundle.circuit.k, source, source)
        source.mkdir(parents=True, exist_ok=True)
        paths.settings.write_bytes(self.committed.settings.read_bytes())
        paths.vk.write_bytes(self.bundle.circuit.vk)
        # the model version is not needed to verify or to render verifiers
        return Circuit(None, paths, read_json(paths.settings), self.manifest, self.srs)  # type: ignore[arg-type]

    def need_chain(self) -> ChainView:
        if self.chain is None:
            raise CheckFailed(f"not checked: {self.no_chain_reason}")
        return self.chain

    # --- the checks

    def check_data(self) -> list[str]:
        version, details, failures = self.version, [], []
        hashes = self.layout.split_instances(self.bundle.instances, self.bundle.circuit.k).hashes
        for i, (market, report) in enumerate(zip(self.bundle.markets, self.bundle.batch.reports)):
            where = f"{market.symbol} epoch {market.epoch}"
            if MARKETS.get(market.symbol) != market.market_id:
                failures.append(f"{where}: market id {market.market_id} is not {market.symbol}'s in models/spec.py")
                continue
            try:
                recomputed = version.input_vector(market.symbol, data=market.raw.data)
            except ModelError as error:
                failures.append(f"{where}: the raw bars give no input vector: {error}")
                continue
            proved = np.asarray(market.vector, dtype=np.float64)
            if not vectors_agree(recomputed, proved):
                diff = np.abs(recomputed - proved) if recomputed.shape == proved.shape else None
                at = "shape differs" if diff is None else \
                    f"largest difference {diff.max():.3g} at index {int(diff.argmax())}"
                failures.append(f"{where}: features of the raw bars differ from the proved vector ({at})")
            if (int(proved[0]), int(proved[1])) != (market.market_id, market.epoch):
                failures.append(f"{where}: the vector's meta fields are market {int(proved[0])} epoch {int(proved[1])}")
            commitment = input_commitment(proved, self.input_scale)
            for label, value in (("bundle input hash", market.input_hash), ("proof instance", hashes[i]),
                                 ("signed report", int.from_bytes(report.input_hash, "big"))):
                if value != commitment:
                    failures.append(f"{where}: recomputed hash 0x{commitment:064x} ≠ {label} 0x{value:064x}")
            hashed = data_hash(market.raw.data)
            if hashed != report.data_hash or hashed != market.data_hash:
                failures.append(f"{where}: keccak of the raw bars 0x{hashed.hex()} ≠ the signed data hash "
                                f"0x{report.data_hash.hex()}")
            last_close = int(market.raw.data.hourly.index[-1].timestamp()) + int(version.bar_interval.total_seconds())
            if report.observed_at < last_close:
                failures.append(f"{where}: observed at {report.observed_at}, before its last bar closed ({last_close})")
            details.append(f"{where}: {len(market.raw.data.hourly)} hourly bars"
                           + ("" if market.raw.data.dvol is None else f" + {len(market.raw.data.dvol)} DVOL")
                           + f", poseidon 0x{commitment:064x}, data 0x{hashed.hex()}")
        _fail_if(failures)
        return details + ["equal the proof's instances and the signed reports"]

    def check_signatures(self) -> list[str]:
        chain = self.need_chain()
        batch, record, failures = self.bundle.batch, chain.record, []
        oracle = Web3.to_checksum_address(record.contracts["RiskOracle"])
        if batch.domain.chain_id != record.chain_id or Web3.to_checksum_address(batch.domain.oracle) != oracle:
            failures.append(f"reports signed for chain {batch.domain.chain_id} oracle {batch.domain.oracle}, the "
                            f"update is on chain {record.chain_id} oracle {record.contracts['RiskOracle']}")
        recovered = []
        for signature in batch.signatures:
            signer = recover_signer(batch.domain, batch.reports, signature)
            if signer != signature.signer:
                failures.append(f"a signature said to be {signature.signer}'s recovers to {signer}")
            recovered.append(signer)
        block = chain.before()
        active, quorum = chain.publisher_set(sorted(set(recovered)), block)
        valid = sorted(a for a, ok in active.items() if ok)
        for address, ok in sorted(active.items()):
            if not ok:
                failures.append(f"{address} was not a publisher at block {block}")
        if len(valid) < quorum:
            failures.append(f"{len(valid)} valid publisher signature(s), the quorum at block {block} is {quorum}")
        _fail_if(failures)
        return [f"{len(valid)} of quorum {quorum} at block {block}: {', '.join(valid)}"]

    def check_repository(self) -> list[str]:
        b, failures = self.bundle, []
        version = self.version
        if sha256_hex(canonical_json(version.card)) != sha256_hex(canonical_json(b.card)):
            failures.append(f"the bundle's model card differs from the repository's {version.model_id}@"
                            f"{version.version} card")
        if layout_to_dict(b.layout) != layout_to_dict(self.layout):
            failures.append(f"the bundle declares layout {b.layout.name} (id {b.layout.layout_id}), the model's card "
                            f"declares {self.layout.name} (id {self.layout.layout_id}) as models/spec.py defines it")
        committed, manifest = self.committed, self.manifest
        if manifest.get("ezkl_version") != installed_ezkl_version():
            failures.append(f"the committed circuit was built with ezkl {manifest.get('ezkl_version')}, this audit "
                            f"runs ezkl {installed_ezkl_version()}")
        for key in ("onnx", "settings", "calibration"):
            actual = sha256_file(getattr(committed, key))
            if manifest["files"][key] != actual:
                failures.append(f"committed {key} hashes to {actual[:16]}…, its manifest pins "
                                f"{manifest['files'][key][:16]}…")
        if b.circuit.settings.encode() != committed.settings.read_bytes():
            failures.append(f"the bundle's settings (sha256 {sha256_hex(b.circuit.settings.encode())[:16]}…) are not "
                            f"the committed {committed.settings} ({sha256_file(committed.settings)[:16]}…)")
        if canonical_json(b.circuit.manifest) != canonical_json(manifest):
            failures.append(f"the bundle's circuit manifest differs from the committed {committed.manifest}")
        for label, stated, actual in (("input scale", b.circuit.input_scale, manifest["input_scale"]),
                                      ("output scale", b.circuit.output_scale, manifest["output_scale"])):
            if stated != actual:
                failures.append(f"the bundle states {label} {stated}, the committed circuit has {actual}")
        _fail_if(failures)
        return [f"{version.model_id}@{version.version}: card, layout {self.layout.name} and the committed K="
                f"{b.circuit.k} circuit (ONNX {manifest['files']['onnx'][:16]}…, settings "
                f"{manifest['files']['settings'][:16]}…)"]

    def check_vk(self) -> list[str]:
        paths, srs = self.committed, self.srs
        if srs.logrows != self.manifest["logrows"]:
            raise CheckFailed(f"the bundle's SRS has logrows {srs.logrows}, the circuit needs "
                              f"{self.manifest['logrows']}")
        paths.cache.mkdir(parents=True, exist_ok=True)
        if not ezkl.compile_circuit(str(paths.onnx), str(paths.compiled), str(paths.settings)):
            raise CheckFailed(f"ezkl cannot compile the committed {paths.onnx}")
        if not ezkl.setup(str(paths.compiled), str(paths.vk), str(paths.pk), str(srs.path)):
            raise CheckFailed("ezkl setup failed on the committed circuit and the bundle's SRS")
        paths.pk.unlink(missing_ok=True)  # hundreds of MB, not needed to compare
        regenerated = paths.vk.read_bytes()
        if regenerated != self.bundle.circuit.vk:
            raise CheckFailed(f"the vk regenerated from the committed ONNX on the bundle's SRS (sha256 "
                              f"{sha256_hex(regenerated)[:16]}…) is not the bundle's "
                              f"({sha256_hex(self.bundle.circuit.vk)[:16]}…)")
        return [f"vk sha256 {sha256_hex(regenerated)[:16]}… regenerated byte for byte (SRS {srs.provenance}, "
                f"sha256 {srs.sha256[:16]}…)"]

    def check_proof(self) -> list[str]:
        circuit = self.bundle_vk_circuit
        proof_file = self.workdir / "proof.json"
        proof_file.write_text(json.dumps(self.bundle.ezkl_proof_document()))
        if not verify(circuit, proof_file):
            raise CheckFailed("ezkl rejects the proof with the committed settings and the bundle's vk and SRS")
        return [f"ezkl verify: ok (vk sha256 {sha256_hex(self.bundle.circuit.vk)[:16]}…, SRS {self.srs.provenance})"]

    def check_verifier(self) -> list[str]:
        chain, circuit = self.need_chain(), self.bundle_vk_circuit
        model = chain.model()
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
        deployed = chain.code(model.verifier)
        failures = []
        if strip_metadata(compiled["runtime"]) != strip_metadata(deployed):
            failures.append(f"verifier {model.verifier}: deployed runtime ({len(deployed)} bytes) differs from the "
                            f"regenerated one ({compiled['runtime_size']} bytes)")
        details = [f"verifier {model.verifier}: runtime bytecode reproduced ({compiled['runtime_size']} bytes)"]
        registered = chain.registered_vka(model) if reusable else []
        if reusable:
            for label, words in (("the bundle's VKA", self.bundle.circuit.vka), ("the on-chain VKA", registered)):
                if words != regenerated:
                    failures.append(f"{label} ({len(words)} words, digest {vka_digest(words) if words else '-'}) "
                                    f"differs from the VKA the vk regenerates ({vka_digest(regenerated)})")
            details.append(f"VKA of {len(regenerated)} words, digest {model.vka_digest}, registered on chain")
        ok, message = chain.verify_on_chain(model.verifier, self.bundle.proof, self.bundle.instances, registered)
        if not ok:
            failures.append(f"eth_call of verifier {model.verifier}: {message}")
        _fail_if(failures)
        return details + [f"eth_call of the verifier with the registered VKA: {message}"]

    def check_outputs(self) -> list[str]:
        b, layout, failures = self.bundle, self.layout, []
        split = layout.split_instances(b.instances, b.circuit.k)
        scale = layout.scale
        for market, felts, state_felts in zip(b.markets, split.outputs, split.state):
            for name, felt in zip(layout.names, felts):
                stated = market.outputs.get(name)
                decoded = (felt, signed_felt(felt) / 2**scale, felt_to_wad(felt, scale))
                if stated is None or (stated.felt, stated.value, stated.wad) != decoded:
                    failures.append(f"{market.symbol} {name}: the bundle states "
                                    f"{None if stated is None else (hex(stated.felt), stated.value, stated.wad)}, the "
                                    f"instance decodes to {(hex(felt), decoded[1], decoded[2])}")
            # the graph passes the state it stepped from through, at the input scale
            half_unit = 2.0 ** -(self.input_scale + 1)
            for name, felt in zip(layout.state, state_felts):
                before = (market.state_before or {}).get(name)
                if before is None or abs(signed_felt(felt) / 2**scale - before) > half_unit:
                    failures.append(f"{market.symbol} state {name}: the proof stepped from "
                                    f"{signed_felt(felt) / 2**scale}, the bundle states {before}")
        vectors = np.asarray([m.vector for m in b.markets], dtype=np.float64)
        state = None if not layout.state else np.asarray(
            [[(m.state_before or {}).get(n, np.nan) for n in layout.state] for m in b.markets], dtype=np.float64)
        predicted = self.version.predict(vectors, state)
        decoded = np.asarray([[signed_felt(f) / 2**scale for f in row] for row in split.outputs], dtype=np.float64)
        errors = np.abs(decoded - predicted[:, :len(layout.names)]) * BPS
        tolerance = float(self.manifest["calibration_plan"]["tolerance_bps"])
        worst = float(np.nanmax(errors)) if np.isfinite(errors).any() else float("inf")
        if not np.isfinite(errors).all() or worst > tolerance:
            market, output = np.unravel_index(int(np.nan_to_num(errors, nan=np.inf).argmax()), errors.shape)
            failures.append(f"{b.markets[market].symbol} {layout.names[output]}: |circuit − float| "
                            f"{errors[market, output]:.3f} bp exceeds the committed circuit's tolerance {tolerance} bp")
        _fail_if(failures)
        return [f"largest |circuit − float| {worst:.3f} bp ≤ {tolerance} bp (committed manifest of "
                f"{self.version.model_id}@{self.version.version} K={b.circuit.k})"]

    def check_state(self) -> list[str]:
        chain, layout, failures, details = self.need_chain(), self.layout, [], []
        if not layout.state:
            return [f"layout {layout.name} has no policy state"]
        block = chain.before()
        for market in self.bundle.markets:
            values, observed_at, epoch, _ = chain.parameters(market.market_id, layout.layout_id, block)
            if observed_at == 0:
                stored = {n: to_fixed(v, layout.scale) for n, v in zip(layout.state, layout.initial_state)}
            else:
                stored = {n: wad_to_fixed(values[layout.index[n]], layout.scale) for n in layout.state}
            stated = {n: to_fixed(v, layout.scale) for n, v in (market.state_before or {}).items()}
            if stated != stored:
                failures.append(f"{market.symbol}: the bundle's state before {stated} is not what the oracle stored at "
                                f"block {block} {stored}")
            details.append(f"{market.symbol}: "
                           + ", ".join(f"{n} {stored[n] / 2**layout.scale:.6f}" for n in layout.state)
                           + (" (initial state, first update)" if observed_at == 0 else f" (epoch {epoch})"))
        _fail_if(failures)
        return details

    def check_on_chain(self) -> list[str]:
        chain, b, layout = self.need_chain(), self.bundle, self.layout
        record, failures = chain.record, []
        if record.tx_hash is None:
            raise CheckFailed("the bundle names no transaction")
        receipt = chain.receipt(record.tx_hash)
        if int(receipt.status) != 1:
            raise CheckFailed(f"transaction {record.tx_hash} reverted (receipt status {receipt.status})")
        for label, stated, actual in (("status", record.status, 1), ("block", record.block_number, receipt.blockNumber),
                                      ("gas used", record.gas_used, receipt.gasUsed)):
            if stated != actual:
                failures.append(f"the bundle records {label} {stated}, the receipt says {actual}")
        call = chain.transaction_call(record.tx_hash)
        expected = "proposeRiskUpdate" if b.kind == "proposal" else "submitUpdate"
        if call.function != expected:
            failures.append(f"transaction {record.tx_hash} calls {call.function}, a {b.kind} bundle needs {expected}")
        if call.proof != b.proof or call.instances != b.instances or call.model_id != record.model_id:
            failures.append(f"transaction {record.tx_hash} carried another proof, instances or model id")
        if call.reports != b.batch.reports or \
                sorted(call.signatures) != sorted((s.r, s.vs) for s in b.batch.signatures):
            failures.append(f"transaction {record.tx_hash} carried other reports or signatures")
        if b.kind == "proposal" and b.content_sha256 not in (call.description or ""):
            failures.append(f"the proposal's description does not link this bundle ({b.content_sha256})")
        model = chain.model(receipt.blockNumber)
        if model.layout_id != layout.layout_id or model.markets_per_proof != b.circuit.k:
            failures.append(f"model id {record.model_id} is registered for layout {model.layout_id}, K="
                            f"{model.markets_per_proof}; the bundle's model has layout {layout.layout_id}, "
                            f"K={b.circuit.k}")
        scale, ids, _, _ = chain.layout(layout.layout_id)
        if (scale, ids) != (layout.scale, list(layout.parameter_ids)):
            failures.append(f"the oracle's layout {layout.layout_id} (scale {scale}, ids {ids}) is not "
                            "models/spec.py's")
        stored_by = {u["market_id"]: u for u in chain.updates_in(record.tx_hash)} if b.kind == "update" else {}
        details = [f"transaction {record.tx_hash} ({call.function}) succeeded in block {receipt.blockNumber}, "
                   f"gas {receipt.gasUsed:,}"]
        for market, decoded in zip(b.markets, b.decoded_outputs(layout)):
            where = f"{market.symbol} epoch {market.epoch}"
            update = stored_by.get(market.market_id)
            if b.kind == "proposal":
                applied = [u for u in chain.stored_updates(market.market_id, layout.layout_id, market.epoch)
                           if u["override"]]
                update = applied[-1] if applied else None
            if update is None:
                failures.append(f"{where}: the oracle stored no update " +
                                ("(proposal not executed yet?)" if b.kind == "proposal" else f"in {record.tx_hash}"))
                continue
            values = [decoded[n] for n in layout.names]
            if update["values"] != values or update["epoch"] != market.epoch:
                failures.append(f"{where}: stored {update['values']}, the proof's outputs are {values}")
            values_read, _, epoch_read, model_read = chain.parameters(market.market_id, layout.layout_id,
                                                                      update["block"])
            if (values_read, epoch_read, model_read) != (values, market.epoch, record.model_id):
                failures.append(f"{where}: getParameters at block {update['block']} serves {values_read} epoch "
                                f"{epoch_read} model {model_read}")
            if layout.layout_id == LENDING.layout_id:
                read = chain.risk_parameters(market.market_id, update["block"])
                served = {n: read[f] for f, n in RISK_PARAMETER_FIELDS.items()}
                max_ltv = decoded["max_ltv"]
                ratio = 0 if max_ltv == 0 else (WAD * WAD + max_ltv - 1) // max_ltv
                if served != {n: decoded[n] for n in served} or read["collateralRatio"] != ratio \
                        or read["epoch"] != market.epoch:
                    failures.append(f"{where}: getRiskParameters at block {update['block']} serves {read}")
                details.append(f"{where}: getRiskParameters serves max LTV {max_ltv / WAD:.4f}, LT "
                               f"{decoded['lt'] / WAD:.4f}, CR {ratio / WAD:.4f} (block {update['block']})")
            else:
                details.append(f"{where}: getParameters serves the outputs (block {update['block']})")
        _fail_if(failures)
        return details

    def run(self, only: tuple[int, ...] = tuple(TITLES)) -> AuditReport:
        checks: dict[int, Callable[[], list[str]]] = {
            1: self.check_data, 2: self.check_signatures, 3: self.check_repository, 4: self.check_vk,
            5: self.check_proof, 6: self.check_verifier, 7: self.check_outputs, 8: self.check_state,
            9: self.check_on_chain}
        results = []
        for number in only:
            try:
                results.append(CheckResult(number, True, checks[number]()))
            except CheckFailed as failure:
                results.append(CheckResult(number, False, [str(failure)]))
            except (AuditError, BundleFormatError, ProverError, ModelError, Web3Exception, OSError, ValueError,
                    KeyError) as error:
                results.append(CheckResult(number, False, [f"{type(error).__name__}: {error}"]))
        return AuditReport(self.bundle.sha256, results)
