"""Build (or reuse) the EZKL circuit of a model version for K markets.

Visibility: inputs hashed (one public Poseidon hash per market input tensor), parameters fixed,
outputs public.

What is rebuilt when (see the package docstring for the trust model):
- ONNX export differs from the committed model.onnx, or the plan changed → new settings
  (and calibration data), recompile, new manifest, new keys.
- settings.json edited (its hash differs from the manifest) → the edited settings are the new
  source: recompile, new manifest, new keys.
- compiled circuit missing → recompile (its bytes are not reproducible, see below) and regenerate
  the keys, which must come out equal to the ones the keys lock pins; a deleted pk or vk likewise.
- a compiled circuit, proving key or verification key that differs from its keys lock, or a vk that
  differs from the manifest's pin → ManifestMismatchError. Never a silent rebuild.
- a manifest or keys lock written by another ezkl version → EzklVersionError.

Determinism, measured with ezkl 23.0.5: the ONNX export is byte-identical run to run; the settings
carry a timestamp; `compile_circuit` output differs run to run (same length, map entries in a
different order), so the compiled circuit cannot be pinned by a published hash. Keys are reproducible: two such
compiles gave byte-identical vk and pk on the same SRS. So the manifest pins what is reproducible
(ONNX, settings, calibration data; with a ceremony SRS also the vk), and the local keys lock pins
the compiled file the keys were made from.
"""

from __future__ import annotations

import itertools
import json
import math
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import ezkl
import numpy as np

from models.export import calibration_states, calibration_vectors, export_onnx
from models.spec import MARKETS, Layout, signed_felt
from models.versions import CIRCUITS_DIR, ModelVersion
from prover.artifacts import CircuitPaths, cache_root, check_pinned, read_json, sha256_file, write_json
from prover.errors import EzklVersionError, ManifestMismatchError, ProverError, WitnessError
from prover.srs import SRS, dev_srs

Progress = Callable[[str], None]
BPS = 1e4
# Rows halo2 keeps for blinding and the last-row checks, beyond the circuit's own rows.
_RESERVED_ROWS = 16
#: Range-check decompositions (base, legs) an explicit plan chooses from (2^30 and 2^28 values).
DECOMPOSITIONS = ((1024, 3), (16384, 2))
_MANIFEST_FILES = (("ONNX", "onnx"), ("settings", "settings"), ("calibration data", "calibration"))


@dataclass(frozen=True)
class CalibrationPlan:
    """How the circuit's run args are chosen.

    `target` None: explicit run args, chosen by measurement; logrows is the smallest power of two
    holding the circuit's rows and its range-check table, and `num_inner_cols` None picks the
    fewest columns within `logrows_slack` of the smallest logrows (fewer columns: less gas).
    `target` "resources"/"accuracy": EZKL's calibrate_settings picks scales and logrows from the
    calibration data; unset fields keep EZKL's defaults. `tolerance_bps` is the largest float-vs-circuit difference, per output, a proof may
    carry: larger means the input left the range the circuit represents faithfully.
    """

    target: str | None = None
    input_scale: int | None = None
    param_scale: int | None = None
    decomp_base: int | None = None
    decomp_legs: int | None = None
    num_inner_cols: int | None = None
    logrows_slack: int = 2
    disable_freivalds: bool | None = None
    lookup_safety_margin: float = 2.0
    max_logrows: int | None = None
    calibration_samples_per_market: int = 128
    fidelity_samples: int = 64
    tolerance_bps: float = 1.0

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def run_args(self, logrows: int | None = None) -> ezkl.PyRunArgs:
        args = ezkl.PyRunArgs()
        args.input_visibility = "hashed/public"
        args.param_visibility = "fixed"
        args.output_visibility = "public"
        for name in ("input_scale", "param_scale", "decomp_base", "decomp_legs", "num_inner_cols",
                     "disable_freivalds"):
            if getattr(self, name) is not None:
                setattr(args, name, getattr(self, name))
        if logrows is not None:
            args.logrows = logrows
        return args


#: Chosen by measurement (scripts/bench_prover.py and the exploration behind it). The 0.01
#: percent→fraction constant quantised at scale 13 is 82/8192 (+0.1 %), which alone put CR 8 bp
#: off; parameters at scale 20 bring every output under 0.4 bp. Decomposition and inner columns
#: per K (see _explicit_settings): K=1 takes a 1024-base, 3-leg decomposition (range-check table
#: 2^10 rows) and one inner column: 2^13 rows instead of EZKL's 2^15, proving ~4x faster, plain
#: verifier 542k gas instead of 655k. The matmul columns ezkl 23 lays out grow with the batch, so
#: gas grows with K; at most 2^15 rows keeps K=16 on two columns and 2^15 rows. Inputs at scale
#: 13: the epoch (a day number, ~20,000) is range-checked with the inputs, and at scale 14 it
#: overflows the 2^28 of a 16384-base, 2-leg decomposition (13 holds it until epoch 32,767).
PRODUCTION_PLAN = CalibrationPlan(input_scale=13, param_scale=20, max_logrows=15)
#: EZKL untuned: default run args, calibrate_settings for resources with its defaults. A benchmark
#: baseline: its error (about 1.1 bp on LT, 8 bp on CR) is measured and reported, so the tolerance
#: only catches out-of-range inputs.
EZKL_DEFAULTS = CalibrationPlan(target="resources", calibration_samples_per_market=256, tolerance_bps=100.0)


@dataclass(frozen=True)
class Circuit:
    version: ModelVersion
    paths: CircuitPaths
    settings: dict[str, Any]
    manifest: dict[str, Any]
    srs: SRS

    @property
    def k(self) -> int:
        return self.paths.k

    @property
    def logrows(self) -> int:
        return int(self.settings["run_args"]["logrows"])

    @property
    def input_scale(self) -> int:
        return int(self.settings["model_input_scales"][0])

    @property
    def output_scale(self) -> int:
        return int(self.settings["model_output_scales"][0])

    @property
    def tolerance_bps(self) -> float:
        return float(self.manifest["calibration_plan"]["tolerance_bps"])


def installed_ezkl_version() -> str:
    return str(ezkl.__version__)


def check_ezkl_version(recorded: str, what: str) -> None:
    """Keys and proofs are not portable across ezkl versions: refuse artifacts of another one."""
    installed = installed_ezkl_version()
    if recorded != installed:
        raise EzklVersionError(f"{what} was built with ezkl {recorded}, this process runs ezkl {installed}; "
                               "artifacts never cross versions (rebuild them with this ezkl into its own cache)")


def felt_from_hex(value: str) -> int:
    """EZKL writes field elements as little-endian hex."""
    return int.from_bytes(bytes.fromhex(value.removeprefix("0x")), "little")


def decode_outputs(felts: list[str], k: int, output_scale: int, layout: Layout) -> np.ndarray:
    """Witness output felts (little-endian hex) → [K, outputs + state] floats."""
    values = [signed_felt(felt_from_hex(f)) / 2**output_scale for f in felts]
    return np.asarray(values, dtype=np.float64).reshape(k, layout.width)


def input_data(vectors: np.ndarray, state: np.ndarray | None) -> dict[str, Any]:
    """EZKL's input file for one proof: one flat list per graph input (each window, then the state)."""
    data = [row.tolist() for row in np.atleast_2d(vectors)]
    if state is not None:
        data.append(np.asarray(state, dtype=np.float64).reshape(-1).tolist())
    return {"input_data": data}


def graph_columns(layout: Layout) -> tuple[str, ...]:
    """Names of the graph's output columns: the layout's outputs, then the passed-through state."""
    return layout.names + tuple(f"state.{name}" for name in layout.state)


def _smallest_logrows(settings: dict[str, Any]) -> int:
    table = max([hi - lo + 1 for lo, hi in settings["required_range_checks"]] or [1])
    return max(math.ceil(math.log2(settings["num_rows"] + _RESERVED_ROWS)),
               math.ceil(math.log2(table + _RESERVED_ROWS)))


def _gen_settings(paths: CircuitPaths, run_args: ezkl.PyRunArgs) -> dict[str, Any]:
    if not ezkl.gen_settings(str(paths.onnx), str(paths.settings), py_run_args=run_args):
        raise ProverError(f"ezkl gen_settings failed for {paths.onnx}")
    return read_json(paths.settings)


def _explicit_settings(paths: CircuitPaths, plan: CalibrationPlan) -> None:
    """Run args as planned; decomposition and inner columns (when not fixed) and logrows from rows.

    Each inner column adds advice columns, so commitments in the proof and gas on chain; each
    logrows step doubles proving work and key size. A small decomposition base keeps the
    range-check table small (K=1 fits 2^13 rows), a large one needs fewer rows per checked value
    (K=16 fits 2^15 rows with two columns instead of 2^16). Take the fewest columns whose logrows
    is at most `logrows_slack` above the smallest any candidate reaches within `max_logrows`, then
    the fewest rows.
    """
    columns = [plan.num_inner_cols] if plan.num_inner_cols else list(range(1, 5))
    decompositions = [(plan.decomp_base, plan.decomp_legs)] if plan.decomp_base else list(DECOMPOSITIONS)
    sized = []
    for (base, legs), cols in itertools.product(decompositions, columns):
        candidate = replace(plan, decomp_base=base, decomp_legs=legs, num_inner_cols=cols)
        settings = _gen_settings(paths, candidate.run_args())
        if settings["required_lookups"]:
            raise ProverError(f"{paths.onnx} needs lookup tables {settings['required_lookups']}: an explicit plan "
                              "cannot size them, use a calibrated plan (target='resources' or 'accuracy')")
        sized.append((_smallest_logrows(settings), cols, int(settings["num_rows"]), candidate))
    fitting = [entry for entry in sized if not plan.max_logrows or entry[0] <= plan.max_logrows]
    if not fitting:
        raise ProverError(f"K={paths.k} needs logrows {min(e[0] for e in sized)} > max_logrows {plan.max_logrows}")
    smallest = min(entry[0] for entry in fitting)
    logrows, _, _, chosen = min((e for e in fitting if e[0] <= smallest + plan.logrows_slack),
                                key=lambda e: (e[1], e[0], e[2]))
    _gen_settings(paths, chosen.run_args(logrows))


def _write_settings(version: ModelVersion, paths: CircuitPaths, plan: CalibrationPlan) -> None:
    vectors = calibration_vectors(version, plan.calibration_samples_per_market)
    # EZKL wants one flat list per input tensor; sample i of input j is row j*n + i of the batch.
    per_input = [vectors[i::paths.k] for i in range(paths.k)]
    n = min(len(v) for v in per_input)
    data = [v[:n].reshape(-1).tolist() for v in per_input]
    # the state tensor is [K, S] per sample: sample i holds the states of inputs 0..K-1's rows i
    batches = np.stack([v[:n] for v in per_input], axis=1)  # [n, K, F]
    states = calibration_states(version, batches.reshape(n * paths.k, -1))
    if states is not None:
        data.append(states.reshape(-1).tolist())
    write_json(paths.calibration, {"input_data": data})
    if plan.target is None:
        _explicit_settings(paths, plan)
        return
    _gen_settings(paths, plan.run_args())
    kwargs: dict[str, Any] = {"lookup_safety_margin": plan.lookup_safety_margin}
    if plan.input_scale is not None:
        kwargs["scales"] = [plan.input_scale]
    if plan.max_logrows:
        kwargs["max_logrows"] = plan.max_logrows
    if not ezkl.calibrate_settings(str(paths.calibration), str(paths.onnx), str(paths.settings),
                                   plan.target, **kwargs):
        raise ProverError(f"ezkl calibrate_settings failed for {paths.onnx}")


def _measure_fidelity(version: ModelVersion, paths: CircuitPaths, settings: dict[str, Any],
                      plan: CalibrationPlan) -> dict[str, Any]:
    """Float model vs circuit over a sample of real windows: the error the manifest states."""
    vectors = calibration_vectors(version, plan.fidelity_samples // len(MARKETS) + 1, seed=1)
    usable = len(vectors) - len(vectors) % paths.k
    states = calibration_states(version, vectors[:usable], seed=1)
    columns = graph_columns(version.layout)
    errors = np.zeros(len(columns))
    with tempfile.TemporaryDirectory() as tmp:
        data, witness = Path(tmp) / "input.json", Path(tmp) / "witness.json"
        for start in range(0, usable, paths.k):
            batch = vectors[start:start + paths.k]
            state = None if states is None else states[start:start + paths.k]
            write_json(data, input_data(batch, state))
            try:
                produced = ezkl.gen_witness(str(data), str(paths.compiled), str(witness))
            except RuntimeError as error:
                raise WitnessError(f"calibration window rejected by the circuit {paths.compiled}: {error}") from error
            decoded = decode_outputs(produced["outputs"][0], paths.k, int(settings["model_output_scales"][0]),
                                     version.layout)
            errors = np.maximum(errors, np.abs(decoded - version.predict(batch, state)).max(axis=0) * BPS)
    return {"samples": usable, "max_abs_error_bps": {n: round(float(e), 4) for n, e in zip(columns, errors)}}


def _export_if_changed(version: ModelVersion, paths: CircuitPaths) -> bool:
    """Export the ONNX; True when it differs from the committed one (or none existed)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = export_onnx(version, paths.k, Path(tmp) / "model.onnx")
        if paths.onnx.exists() and sha256_file(paths.onnx) == sha256_file(fresh):
            return False
        paths.source.mkdir(parents=True, exist_ok=True)
        paths.onnx.write_bytes(fresh.read_bytes())
        return True


def _compile(paths: CircuitPaths) -> None:
    paths.cache.mkdir(parents=True, exist_ok=True)
    if not ezkl.compile_circuit(str(paths.onnx), str(paths.compiled), str(paths.settings)):
        raise ProverError(f"ezkl compile_circuit failed for {paths.onnx}")


def circuits_root(version: ModelVersion, k: int) -> Path:
    """The circuits folder to build `version` over K markets in: the repository's `circuits/` where it
    has this circuit (settings, calibration data and manifest committed), else a generated one in the
    ignored cache, so a benchmark or report over other batch sizes leaves the working tree clean."""
    committed = CircuitPaths.for_version(version.model_id, version.version, k, CIRCUITS_DIR).manifest.exists()
    return CIRCUITS_DIR if committed else cache_root() / "circuits"


def build_circuit(version: ModelVersion, k: int = 1, plan: CalibrationPlan = PRODUCTION_PLAN,
                  circuits_dir: Path = CIRCUITS_DIR, progress: Progress = lambda _: None,
                  srs: SRS | None = None, cache_dir: Path | None = None) -> Circuit:
    """The circuit of `version` over K markets: reused when its inputs are unchanged, else rebuilt.

    `srs` defaults to this machine's development SRS; pass `prover.srs.ceremony_srs(...)` to publish
    (the manifest then pins the SRS and the vk). `cache_dir` keeps keys of a non-production build
    (e.g. the benchmark's EZKL-defaults baseline) apart from the production cache.
    """
    paths = CircuitPaths.for_version(version.model_id, version.version, k, circuits_dir, cache_dir)
    manifest = read_json(paths.manifest) if paths.manifest.exists() else None
    if manifest is not None:
        check_ezkl_version(manifest["ezkl_version"], f"circuit manifest {paths.manifest}")
    onnx_changed = _export_if_changed(version, paths)
    resettle = (onnx_changed or manifest is None or not paths.settings.exists() or not paths.calibration.exists()
                or manifest.get("calibration_plan") != plan.describe())
    if resettle:
        progress(f"choosing circuit settings for K={k} ({plan.target or 'explicit run args'})")
        _write_settings(version, paths, plan)
    settings_changed = manifest is not None and manifest["files"]["settings"] != sha256_file(paths.settings)
    # The cache can lag the committed files: a pull that updates settings and manifest together leaves a
    # compiled circuit (and keys) made from the old settings, and keys regenerated from that file would
    # not match the new circuit. The keys lock says which settings the cache was built from.
    cache_lags = not paths.keys_lock.exists() \
        or read_json(paths.keys_lock).get("settings") != sha256_file(paths.settings)
    recompile = resettle or settings_changed or cache_lags or not paths.compiled.exists()
    if recompile:
        progress("compiling circuit")
        _compile(paths)
    settings = read_json(paths.settings)
    srs = srs or dev_srs(int(settings["run_args"]["logrows"]))
    if manifest is None or resettle or settings_changed or _srs_changed(manifest, srs):
        progress("measuring float-vs-circuit error")
        manifest = _new_manifest(version, paths, settings, plan, srs)
        write_json(paths.manifest, manifest)
    for name, key in _MANIFEST_FILES:
        check_pinned(name, getattr(paths, key), manifest["files"][key])
    _ensure_keys(paths, srs, manifest, recompile, progress)
    return Circuit(version, paths, settings, manifest, srs)


def _srs_changed(manifest: dict[str, Any], srs: SRS) -> bool:
    """A manifest pinning a ceremony SRS accepts only that file; a dev manifest moves to a ceremony."""
    pinned = manifest["srs"].get("sha256")
    if pinned is not None and pinned != srs.sha256:
        raise ManifestMismatchError("SRS", pinned, srs.sha256, str(srs.path))
    return manifest["srs"]["provenance"] != srs.provenance


def _new_manifest(version: ModelVersion, paths: CircuitPaths, settings: dict[str, Any], plan: CalibrationPlan,
                  srs: SRS) -> dict[str, Any]:
    run_args = settings["run_args"]
    ceremony = not srs.provenance.startswith("local-dev")
    return {
        "model_id": version.model_id, "version": version.version, "k": paths.k,
        "ezkl_version": installed_ezkl_version(), "logrows": int(run_args["logrows"]),
        "input_scale": int(settings["model_input_scales"][0]), "param_scale": int(run_args["param_scale"]),
        "output_scale": int(settings["model_output_scales"][0]),
        "visibility": {"input": "hashed/public", "param": "fixed", "output": "public"},
        "calibration_plan": plan.describe(),
        "files": {key: sha256_file(getattr(paths, key)) for _, key in _MANIFEST_FILES},
        "compiled_circuit": "not pinned: ezkl compile_circuit output is not byte-deterministic; "
                            "the local keys lock pins the compiled file the keys were made from",
        "fidelity": _measure_fidelity(version, paths, settings, plan),
        "srs": {"provenance": srs.provenance, "logrows": srs.logrows, "sha256": srs.sha256 if ceremony else None},
        # Filled in by the first key generation on a ceremony SRS; a dev SRS is random per machine.
        "vk_sha256": None,
    }


def _ensure_keys(paths: CircuitPaths, srs: SRS, manifest: dict[str, Any], recompiled: bool,
                 progress: Progress) -> None:
    """Reuse the keys the lock pins, or make them; a replaced compiled file or key is an error."""
    lock = read_json(paths.keys_lock) if paths.keys_lock.exists() else None
    if lock is not None:
        # a lock without the field predates version recording: treat it as another version
        check_ezkl_version(lock.get("ezkl_version", "unrecorded"), f"keys lock {paths.keys_lock}")
    same_inputs = lock is not None and lock["settings"] == manifest["files"]["settings"] \
        and lock["srs_sha256"] == srs.sha256
    # A deleted key is regenerated (keys are deterministic, so it must match the lock); a changed
    # one is refused below.
    if same_inputs and not recompiled and paths.pk.exists() and paths.vk.exists():
        check_pinned("compiled circuit", paths.compiled, lock["compiled_circuit"])
        check_pinned("verification key", paths.vk, lock["vk_sha256"])
        check_pinned("proving key", paths.pk, lock["pk_sha256"])
    else:
        _generate_keys(paths, srs, manifest, lock["vk_sha256"] if same_inputs else None, progress)
    vk_hash = sha256_file(paths.vk)
    if manifest.get("vk_sha256") and manifest["vk_sha256"] != vk_hash:
        raise ManifestMismatchError("verification key", manifest["vk_sha256"], vk_hash, str(paths.vk))
    if manifest["srs"]["sha256"] is not None and not manifest.get("vk_sha256"):
        # First keys on a pinned ceremony SRS: from now on the manifest publishes this vk.
        manifest["vk_sha256"] = vk_hash
        write_json(paths.manifest, manifest)


def _generate_keys(paths: CircuitPaths, srs: SRS, manifest: dict[str, Any], locked_vk: str | None,
                   progress: Progress) -> None:
    progress(f"generating keys (logrows {manifest['logrows']})")
    paths.vka.unlink(missing_ok=True)
    if not ezkl.setup(str(paths.compiled), str(paths.vk), str(paths.pk), str(srs.path)):
        raise ProverError(f"ezkl setup failed for {paths.compiled}")
    vk_hash = sha256_file(paths.vk)
    # Keys depend on the circuit, not on the compiled file's byte order: a recompile of the same
    # settings on the same SRS must give the vk the lock already pins.
    if locked_vk and locked_vk != vk_hash:
        raise ManifestMismatchError("verification key", locked_vk, vk_hash, str(paths.vk))
    write_json(paths.keys_lock, {"ezkl_version": installed_ezkl_version(), "settings": manifest["files"]["settings"],
                                 "compiled_circuit": sha256_file(paths.compiled), "srs_sha256": srs.sha256,
                                 "srs_provenance": srs.provenance, "vk_sha256": vk_hash,
                                 "pk_sha256": sha256_file(paths.pk)})
