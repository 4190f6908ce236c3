"""Structured reference strings: a local development SRS, or a ceremony file pinned by hash.

A development SRS comes from `ezkl.gen_srs`: its toxic waste is known to this machine, so proofs
over it prove nothing to anyone else. Everything built on it is recorded as "local-dev, insecure".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ezkl

from prover.artifacts import DEV_SRS_PROVENANCE, cache_root, sha256_file
from prover.errors import SRSError


@dataclass(frozen=True)
class SRS:
    path: Path
    logrows: int
    provenance: str
    sha256: str

    def describe(self) -> dict[str, object]:
        return {"provenance": self.provenance, "sha256": self.sha256, "logrows": self.logrows}


def dev_srs(logrows: int) -> SRS:
    """The machine's development SRS for `logrows`, generated once and reused."""
    path = cache_root() / "srs" / f"dev-k{logrows}.srs"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        ezkl.gen_srs(str(partial), logrows)
        partial.replace(path)
    return SRS(path, logrows, DEV_SRS_PROVENANCE, sha256_file(path))


def ceremony_srs(path: Path, logrows: int, name: str, sha256: str) -> SRS:
    """A ceremony SRS supplied by path, accepted only with the pinned hash."""
    path = Path(path)
    if not path.exists():
        raise SRSError(f"ceremony SRS {name!r} not found at {path}")
    actual = sha256_file(path)
    if actual != sha256:
        raise SRSError(f"ceremony SRS {name!r} at {path} has sha256 {actual}, pinned {sha256}")
    return SRS(path, logrows, f"ceremony: {name}", actual)
