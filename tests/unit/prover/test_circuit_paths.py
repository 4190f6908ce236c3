"""Where circuits are built: committed batch sizes in circuits/, any other one in the ignored cache."""

from __future__ import annotations

import subprocess

from models.versions import CIRCUITS_DIR
from prover.artifacts import CircuitPaths, cache_root
from prover.circuit import circuits_root
from prover.toolchain import REPO_ROOT


def test_circuits_root_is_the_repository_for_committed_batch_sizes(production_version) -> None:
    for k in (1, 2):
        assert circuits_root(production_version, k) == CIRCUITS_DIR


def test_circuits_root_is_the_cache_for_batch_sizes_the_repository_has_not(production_version) -> None:
    """`make bench` builds K=4 and K=16: their settings and manifests must not land in circuits/."""
    for k in (4, 16):
        root = circuits_root(production_version, k)
        assert root.is_relative_to(cache_root()) and not root.is_relative_to(CIRCUITS_DIR)
        source = CircuitPaths.for_version(production_version.model_id, production_version.version, k, root).source
        if source.is_relative_to(REPO_ROOT):  # the default cache lives in the checkout: git must ignore it
            ignored = subprocess.run(["git", "check-ignore", "-q", str(source / "settings.json")], cwd=REPO_ROOT)
            assert ignored.returncode == 0, f"{source} is not ignored by git"
