"""Witness, proof and off-chain verification for K markets, with decoded, typed outputs."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import ezkl
import numpy as np

from models.spec import Layout, felt_to_wad, signed_felt
from prover.artifacts import write_json
from prover.backends import Backend, select_backend
from prover.circuit import (BPS, Circuit, check_ezkl_version, decode_outputs, felt_from_hex, graph_columns,
                            input_data)
from prover.errors import FidelityError, ProofError, WitnessError


def input_commitment(vector: np.ndarray, input_scale: int) -> int:
    """Poseidon hash of one market's input vector, as EZKL commits it (recomputable by anyone).

    EZKL's witness generation reads inputs as float32 before scaling, so values are rounded to
    float32 first: from float64 directly, a value near a rounding boundary can land on the
    neighbouring field element and the recomputed hash would not match the proof.
    """
    felts = [ezkl.float_to_felt(float(np.float32(x)), input_scale) for x in vector]
    return felt_from_hex(ezkl.poseidon_hash(felts)[0])


@dataclass(frozen=True)
class MarketOutput:
    """Decoded outputs of one market in layout order: fractions (float), the fixed-point integers the
    oracle stores, their WAD, the float model's values, and the passed-through policy state."""

    values: dict[str, float]
    fixed: dict[str, int]
    wad: dict[str, int]
    float_model: dict[str, float]
    state: dict[str, int]

    @property
    def error_bps(self) -> dict[str, float]:
        return {name: abs(self.values[name] - self.float_model[name]) * BPS for name in self.values}


def decode_market(layout: Layout, scale: int, felts: list[int], state: list[int],
                  float_model: dict[str, float]) -> MarketOutput:
    """One market's outputs from its instance felts (layout order) and passed-through state felts."""
    return MarketOutput(values={n: signed_felt(f) / 2**scale for n, f in zip(layout.names, felts)},
                        fixed={n: f for n, f in zip(layout.names, felts)},
                        wad={n: felt_to_wad(f, scale) for n, f in zip(layout.names, felts)},
                        float_model=float_model, state=dict(zip(layout.state, state)))


@dataclass(frozen=True)
class ProofResult:
    proof: bytes
    instances: list[int]
    input_hashes: list[int]
    markets: list[MarketOutput]
    vectors: np.ndarray
    #: the policy state the proof stepped from, [K, S] (None for a layout without state)
    state: np.ndarray | None
    prove_seconds: float
    witness_seconds: float
    proof_path: Path = field(repr=False)
    backend: str = "cpu"

    @property
    def max_abs_error_bps(self) -> float:
        return max(max(m.error_bps.values()) for m in self.markets)

    @property
    def error_bps_by_output(self) -> dict[str, float]:
        """Worst float-vs-circuit difference of each output over the markets of this proof."""
        return {name: max(m.error_bps[name] for m in self.markets) for name in self.markets[0].values}

    @property
    def proof_hex(self) -> str:
        return "0x" + self.proof.hex()


def prove(circuit: Circuit, vectors: np.ndarray, state: np.ndarray | None = None, workdir: Path | None = None,
          backend: Backend | None = None) -> ProofResult:
    """Prove the model on K input vectors [K, F] (meta fields first) and, for a layout with policy state,
    the state [K, S] each market steps from (the oracle's stored values, or the layout's initial
    state), and verify the proof off-chain.

    `backend` defaults to the configured one (`prover.backends.select_backend`). Raises WitnessError
    for inputs the circuit rejects, FidelityError when an output is further than the circuit's
    tolerance from the float model, ProofError when proving fails or the proof does not verify.
    """
    backend = backend or select_backend()
    check_ezkl_version(circuit.manifest["ezkl_version"], f"circuit {circuit.paths.source}")
    layout = circuit.version.layout
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    if vectors.shape != (circuit.k, circuit.version.input_size):
        raise WitnessError(f"expected inputs of shape ({circuit.k}, {circuit.version.input_size}), "
                           f"got {vectors.shape}")
    if layout.state:
        if state is None:
            raise WitnessError(f"layout {layout.name} steps from a policy state {layout.state}: pass it")
        state = np.atleast_2d(np.asarray(state, dtype=np.float64))
        if state.shape != (circuit.k, len(layout.state)):
            raise WitnessError(f"expected a state of shape ({circuit.k}, {len(layout.state)}), got {state.shape}")
    elif state is not None:
        raise WitnessError(f"layout {layout.name} has no policy state")
    if not np.isfinite(vectors).all() or (state is not None and not np.isfinite(state).all()):
        raise WitnessError("inputs contain NaN or infinite values")
    directory = Path(workdir or tempfile.mkdtemp(prefix="zkrisk-proof-"))
    directory.mkdir(parents=True, exist_ok=True)
    paths = circuit.paths
    data, witness, proof_path = directory / "input.json", directory / "witness.json", directory / "proof.json"
    write_json(data, input_data(vectors, state))
    started = time.perf_counter()
    try:
        produced = ezkl.gen_witness(str(data), str(paths.compiled), str(witness), str(paths.vk), str(circuit.srs.path))
    except RuntimeError as error:
        raise WitnessError(f"witness generation failed (inputs outside the calibrated range?): {error}") from error
    witness_seconds = time.perf_counter() - started
    floats = circuit.version.predict(vectors, state)
    # Checked on the witness, before the expensive proof: a faithful circuit or no proof at all.
    errors = np.abs(decode_outputs(produced["outputs"][0], circuit.k, circuit.output_scale, layout) - floats) * BPS
    market, output = np.unravel_index(int(errors.argmax()), errors.shape)
    if errors[market, output] > circuit.tolerance_bps:
        raise FidelityError(int(market), graph_columns(layout)[output], float(errors[market, output]),
                            circuit.tolerance_bps)
    started = time.perf_counter()
    try:
        with backend.active():
            ezkl.prove(str(witness), str(paths.compiled), str(paths.pk), str(proof_path), str(circuit.srs.path))
    except RuntimeError as error:
        raise ProofError(f"proving failed on the {backend.name} backend: {error}") from error
    prove_seconds = time.perf_counter() - started
    if not verify(circuit, proof_path):
        raise ProofError(f"the proof at {proof_path} does not verify off-chain")
    document = json.loads(proof_path.read_text())
    instances = [felt_from_hex(v) for v in document["instances"][0]]
    split = layout.split_instances(instances, circuit.k)
    markets = [decode_market(layout, circuit.output_scale, felts, split.state[i],
                             {n: float(v) for n, v in zip(layout.names, floats[i])})
               for i, felts in enumerate(split.outputs)]
    return ProofResult(bytes.fromhex(document["hex_proof"].removeprefix("0x")), instances, split.hashes, markets,
                       vectors, state, prove_seconds, witness_seconds, proof_path, backend.name)


def verify(circuit: Circuit, proof_path: Path) -> bool:
    try:
        return bool(ezkl.verify(str(proof_path), str(circuit.paths.settings), str(circuit.paths.vk),
                                str(circuit.srs.path)))
    except RuntimeError:
        return False
