"""Circuit artifacts: what is committed (pinned by manifest.json) and what is rebuilt into the cache.

circuits/<model>/<version>/k<K>/          committed, small
    model.onnx, settings.json, calibration.json, manifest.json
<cache>/<model>/<version>/k<K>/           ignored, rebuilt on demand ($ZKRISK_CACHE, default .zkrisk/cache)
    model.compiled, pk.key, vk.key, vka.bin, keys.json (hash lock of the keys built here)
<cache>/srs/                               SRS files (development SRS or a pinned ceremony file)

The manifest pins the circuit (ONNX, settings, calibration data, compiled circuit) and the SRS
provenance. A development SRS is random per machine, so keys built on it are pinned by the local
keys.json lock; with a ceremony SRS pinned by hash, the manifest also pins the vk.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.errors import ManifestMismatchError, MissingArtifactError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_SRS_PROVENANCE = "local-dev, insecure"


def cache_root() -> Path:
    return Path(os.environ.get("ZKRISK_CACHE", REPO_ROOT / ".zkrisk" / "cache"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise MissingArtifactError(f"{path} is missing")
    return json.loads(path.read_text())


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def check_pinned(name: str, path: Path, expected: str | None) -> str:
    """Hash `path` and compare with the pinned hash (if any); return the actual hash."""
    if not path.exists():
        raise MissingArtifactError(f"{name} is missing: {path}")
    actual = sha256_file(path)
    if expected is not None and actual != expected:
        raise ManifestMismatchError(name, expected, actual, str(path))
    return actual


@dataclass(frozen=True)
class CircuitPaths:
    model_id: str
    version: str
    k: int
    source: Path
    cache: Path

    @classmethod
    def for_version(cls, model_id: str, version: str, k: int, circuits_dir: Path,
                    cache_dir: Path | None = None) -> "CircuitPaths":
        return cls(model_id, version, k, circuits_dir / model_id / version / f"k{k}",
                   (cache_dir or cache_root()) / model_id / version / f"k{k}")

    onnx = property(lambda self: self.source / "model.onnx")
    settings = property(lambda self: self.source / "settings.json")
    calibration = property(lambda self: self.source / "calibration.json")
    manifest = property(lambda self: self.source / "manifest.json")
    compiled = property(lambda self: self.cache / "model.compiled")
    pk = property(lambda self: self.cache / "pk.key")
    vk = property(lambda self: self.cache / "vk.key")
    vka = property(lambda self: self.cache / "vka.bin")
    keys_lock = property(lambda self: self.cache / "keys.json")
