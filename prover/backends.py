"""Proving backends: CPU (the default) and GPU (an ezkl build with ICICLE), selected by config.

The PyPI `ezkl` wheels are CPU builds; GPU proving needs an ezkl compiled with the `icicle` feature
(on PyPI only as `ezkl-gpu` up to 16.1.0). Detection is from the installed build itself, not from
hopes: its CycloneDX SBOM (shipped in the wheel's dist-info) lists every crate compiled in, and an
ICICLE build contains `icicle-*` crates; without an SBOM the extension binary is searched for the
ICICLE symbols. Such a build switches to the GPU only when ENABLE_ICICLE_GPU is set, and only a
visible CUDA device makes that useful, so both are checked before GPU proving is allowed.

Keys and proofs are not portable across ezkl versions: a backend only proves with artifacts whose
manifest records its own ezkl version (see `prover.circuit`), so a mixed GPU/CPU pool cannot mix.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import ezkl

from prover.errors import BackendUnavailableError

BACKEND_ENV = "ZKRISK_PROVER_BACKEND"
ICICLE_ENV = "ENABLE_ICICLE_GPU"
BACKENDS = ("cpu", "gpu")
_EZKL_DISTRIBUTIONS = ("ezkl", "ezkl-gpu")


@dataclass(frozen=True)
class EzklBuild:
    """What the installed ezkl is: its version, distribution and whether ICICLE was compiled in."""

    version: str
    distribution: str
    icicle: bool
    evidence: str


def _distribution() -> importlib.metadata.Distribution:
    for name in _EZKL_DISTRIBUTIONS:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.distribution(name)
    raise BackendUnavailableError("no ezkl distribution is installed")


@lru_cache(maxsize=1)
def ezkl_build() -> EzklBuild:
    distribution = _distribution()
    name = distribution.metadata["Name"]
    sboms = [f for f in distribution.files or [] if str(f).endswith(".cyclonedx.json")]
    if sboms:
        text = Path(distribution.locate_file(sboms[0])).read_text()
        crates = {c.get("name", "") for c in json.loads(text).get("components", [])}
        icicle = sorted(c for c in crates if c.startswith("icicle"))
        evidence = (f"SBOM lists {', '.join(icicle)}" if icicle
                    else f"SBOM of {len(crates)} crates has no icicle crate")
        return EzklBuild(ezkl.__version__, name, bool(icicle), evidence)
    extension = Path(ezkl.__file__).parent
    binaries = list(extension.glob("ezkl*.so")) + list(extension.glob("ezkl*.pyd"))
    found = any(b"icicle" in path.read_bytes() for path in binaries)
    return EzklBuild(ezkl.__version__, name, found,
                     f"no SBOM; icicle symbols {'found' if found else 'absent'} in {[p.name for p in binaries]}")


def cuda_device_visible() -> bool:
    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None


@dataclass(frozen=True)
class Backend:
    name: str
    build: EzklBuild

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Environment for one ezkl call: an ICICLE build reads ENABLE_ICICLE_GPU when it proves."""
        if self.name != "gpu":
            yield
            return
        previous = os.environ.get(ICICLE_ENV)
        os.environ[ICICLE_ENV] = "true"
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(ICICLE_ENV, None)
            else:
                os.environ[ICICLE_ENV] = previous


def select_backend(name: str | None = None) -> Backend:
    """The backend named (default: $ZKRISK_PROVER_BACKEND, else cpu); refuses a GPU it cannot use."""
    name = (name or os.environ.get(BACKEND_ENV) or "cpu").lower()
    if name not in BACKENDS:
        raise BackendUnavailableError(f"unknown prover backend {name!r}; choose one of {', '.join(BACKENDS)}")
    build = ezkl_build()
    if name == "gpu":
        if not build.icicle:
            raise BackendUnavailableError(
                f"GPU backend requested but the installed {build.distribution} {build.version} is a CPU build "
                f"({build.evidence}); install an ezkl built with the icicle feature, at the same version as "
                f"the circuit artifacts, or set {BACKEND_ENV}=cpu")
        if not cuda_device_visible():
            raise BackendUnavailableError(
                f"GPU backend requested and {build.distribution} {build.version} has ICICLE, "
                "but no CUDA device is visible (/dev/nvidia0, nvidia-smi)")
    return Backend(name, build)
