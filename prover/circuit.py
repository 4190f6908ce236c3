"""Build (or reuse) the EZKL circuit of a model version for K markets.

Visibility: inputs hashed (one public Poseidon hash per market input tensor), parameters fixed,
outputs public. A build is reused when the exported ONNX and the settings are unchanged; a changed
ONNX re-runs settings, calibration and compilation, and rewrites the manifest. Keys are rebuilt only
when missing; a key that differs from its lock or from the manifest is an error, never rebuilt.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import ezkl

from models.export import calibration_vectors, export_onnx
from models.versions import CIRCUITS_DIR, ModelVersion
from prover.artifacts import CircuitPaths, check_pinned, read_json, sha256_file, write_json
from prover.errors import ManifestMismatchError, ProverError
from prover.srs import SRS, dev_srs

EZKL_VERSION = "23.0.5"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class CalibrationPlan:
    """How settings are chosen. `target` is EZKL's calibration target ("resources" or "accuracy")."""

    target: str = "resources"
    lookup_safety_margin: float = 2.0
    scales: tuple[int, ...] | None = None
    max_logrows: int | None = None
    calibration_samples_per_market: int = 256

    def describe(self) -> dict[str, Any]:
        return {"target": self.target, "lookup_safety_margin": self.lookup_safety_margin,
                "scales": list(self.scales) if self.scales else None, "max_logrows": self.max_logrows,
                "samples_per_market": self.calibration_samples_per_market}


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


def _run_args(logrows: int | None) -> ezkl.PyRunArgs:
    args = ezkl.PyRunArgs()
    args.input_visibility = "hashed/public"
    args.param_visibility = "fixed"
    args.output_visibility = "public"
    if logrows is not None:
        args.logrows = logrows
    return args


def _write_settings(version: ModelVersion, paths: CircuitPaths, plan: CalibrationPlan) -> None:
    vectors = calibration_vectors(version, plan.calibration_samples_per_market)
    # EZKL wants one flat list per input tensor; sample i of input j is row j*n + i of the batch.
    per_input = [vectors[i::paths.k] for i in range(paths.k)]
    n = min(len(v) for v in per_input)
    write_json(paths.calibration, {"input_data": [v[:n].reshape(-1).tolist() for v in per_input]})
    if not ezkl.gen_settings(str(paths.onnx), str(paths.settings), py_run_args=_run_args(None)):
        raise ProverError(f"ezkl gen_settings failed for {paths.onnx}")
    kwargs: dict[str, Any] = {"lookup_safety_margin": plan.lookup_safety_margin}
    if plan.scales:
        kwargs["scales"] = list(plan.scales)
    if plan.max_logrows:
        kwargs["max_logrows"] = plan.max_logrows
    if not ezkl.calibrate_settings(str(paths.calibration), str(paths.onnx), str(paths.settings),
                                   plan.target, **kwargs):
        raise ProverError(f"ezkl calibrate_settings failed for {paths.onnx}")


def _export_if_changed(version: ModelVersion, paths: CircuitPaths) -> bool:
    """Export the ONNX; True when it differs from the committed one (or none existed)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = export_onnx(version, paths.k, Path(tmp) / "model.onnx")
        if paths.onnx.exists() and sha256_file(paths.onnx) == sha256_file(fresh):
            return False
        paths.source.mkdir(parents=True, exist_ok=True)
        paths.onnx.write_bytes(fresh.read_bytes())
        return True


def build_circuit(version: ModelVersion, k: int = 1, plan: CalibrationPlan = CalibrationPlan(),
                  circuits_dir: Path = CIRCUITS_DIR, progress: Progress = lambda _: None) -> Circuit:
    paths = CircuitPaths.for_version(version.model_id, version.version, k, circuits_dir)
    changed = _export_if_changed(version, paths)
    manifest = json.loads(paths.manifest.read_text()) if paths.manifest.exists() else None
    stale = (changed or manifest is None or not paths.settings.exists()
             or manifest["files"]["settings"] != sha256_file(paths.settings)
             or manifest.get("calibration_plan") != plan.describe())
    if stale:
        progress(f"calibrating circuit settings for K={k} ({plan.target})")
        _write_settings(version, paths, plan)
    settings = read_json(paths.settings)
    logrows = int(settings["run_args"]["logrows"])
    paths.cache.mkdir(parents=True, exist_ok=True)
    if stale or not paths.compiled.exists():
        progress("compiling circuit")
        if not ezkl.compile_circuit(str(paths.onnx), str(paths.compiled), str(paths.settings)):
            raise ProverError(f"ezkl compile_circuit failed for {paths.onnx}")
    srs = dev_srs(logrows)
    if stale:
        manifest = {
            "model_id": version.model_id, "version": version.version, "k": k,
            "ezkl_version": EZKL_VERSION, "logrows": logrows,
            "input_scale": int(settings["model_input_scales"][0]),
            "output_scale": int(settings["model_output_scales"][0]),
            "visibility": {"input": "hashed/public", "param": "fixed", "output": "public"},
            "calibration_plan": plan.describe(),
            "files": {"onnx": sha256_file(paths.onnx), "settings": sha256_file(paths.settings),
                      "calibration": sha256_file(paths.calibration),
                      "compiled_circuit": sha256_file(paths.compiled)},
            "srs": {"provenance": srs.provenance, "sha256": None if srs.provenance.startswith("local-dev") else srs.sha256},
            "vk_sha256": None,
        }
        write_json(paths.manifest, manifest)
    assert manifest is not None
    for name, path in (("ONNX", paths.onnx), ("settings", paths.settings),
                       ("calibration data", paths.calibration), ("compiled circuit", paths.compiled)):
        check_pinned(name, path, manifest["files"][_MANIFEST_KEYS[name]])
    _ensure_keys(paths, srs, manifest, progress)
    return Circuit(version, paths, settings, manifest, srs)


_MANIFEST_KEYS = {"ONNX": "onnx", "settings": "settings", "calibration data": "calibration",
                  "compiled circuit": "compiled_circuit"}


def _ensure_keys(paths: CircuitPaths, srs: SRS, manifest: dict[str, Any], progress: Progress) -> None:
    if srs.sha256 and manifest["srs"].get("sha256") not in (None, srs.sha256):
        raise ManifestMismatchError("SRS", manifest["srs"]["sha256"], srs.sha256, str(srs.path))
    lock = json.loads(paths.keys_lock.read_text()) if paths.keys_lock.exists() else None
    if lock is not None and lock["compiled_circuit"] == manifest["files"]["compiled_circuit"] \
            and lock["srs_sha256"] == srs.sha256:
        check_pinned("verification key", paths.vk, lock["vk_sha256"])
        check_pinned("proving key", paths.pk, lock["pk_sha256"])
        if manifest.get("vk_sha256"):
            check_pinned("verification key", paths.vk, manifest["vk_sha256"])
        return
    progress(f"generating keys (logrows {manifest['logrows']})")
    if not ezkl.setup(str(paths.compiled), str(paths.vk), str(paths.pk), str(srs.path)):
        raise ProverError(f"ezkl setup failed for {paths.compiled}")
    vk_hash = sha256_file(paths.vk)
    if manifest.get("vk_sha256") and manifest["vk_sha256"] != vk_hash:
        raise ManifestMismatchError("verification key", manifest["vk_sha256"], vk_hash, str(paths.vk))
    write_json(paths.keys_lock, {"compiled_circuit": manifest["files"]["compiled_circuit"],
                                 "srs_sha256": srs.sha256, "srs_provenance": srs.provenance,
                                 "vk_sha256": vk_hash, "pk_sha256": sha256_file(paths.pk)})
