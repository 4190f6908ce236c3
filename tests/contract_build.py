"""A full contract recompile whenever any Solidity source or compiler input changed since the build.

Ape recompiles only the files whose own text changed: a contract importing a changed file keeps its
stale bytecode (RiskOracleHarness was not rebuilt when RiskOracle.sol changed). So the test session
hashes every input of the build (the contracts, OpenZeppelin's sources, the compiler version and
settings) and, when the digest differs from the one stored with the build, deletes Ape's build folder
before anything compiles: the session then compiles everything from the current sources.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Iterable

DIGEST_NAME = "zkrisk-sources.sha256"


def build_inputs(repo_root: Path) -> list[Path]:
    """Files whose change can change any compiled contract."""
    solidity = [*(repo_root / "contracts").rglob("*.sol"),
                *(repo_root / "node_modules" / "@openzeppelin").rglob("*.sol")]
    config = [repo_root / "ape-config.yaml", repo_root / "node_modules" / "solc" / "package.json",
              repo_root / "scripts" / "solc-shim.js"]
    return sorted(solidity) + [path for path in config if path.exists()]


def sources_digest(repo_root: Path, files: Iterable[Path]) -> str:
    """sha256 over each file's path (relative to the repository) and content: renames count as changes."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(repo_root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def ensure_fresh_build(repo_root: Path, build_dir: Path) -> bool:
    """Delete `build_dir` unless it was built from the current inputs; True when it was deleted.

    The new digest is stored at once: whatever Ape then writes into the emptied folder is compiled from
    exactly these sources (a compile interrupted half-way leaves files Ape itself sees as missing).
    """
    current = sources_digest(repo_root, build_inputs(repo_root))
    stored = build_dir / DIGEST_NAME
    if stored.exists() and stored.read_text().strip() == current:
        return False
    stale = build_dir.exists()
    shutil.rmtree(build_dir, ignore_errors=True)
    build_dir.mkdir(parents=True)
    stored.write_text(current + "\n")
    return stale
