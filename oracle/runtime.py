"""The prover as the service uses it: per model version, its circuits per batch size, built once per
process (keys are cached on disk by `prover`; loading and hash-checking them is what is saved here).

Circuits a model version has committed under circuits/ are built there; the others (e.g. the options
model before its circuits are committed, or batch sizes the repository does not ship) are generated in
the ignored cache (`prover.circuit.circuits_root`), so the service never dirties the working tree.
"""

from __future__ import annotations

import json
import threading
from functools import cached_property
from typing import Any

import numpy as np

from models.errors import ModelVersionError
from models.explain import explain
from models.spec import Layout
from models.versions import ModelVersion, load_version
from oracle.errors import ConfigurationError, ProvingFailedError
from prover.circuit import Circuit, build_circuit, circuits_root
from prover.errors import ProverError
from prover.proving import ProofResult, input_commitment, prove


def split_key(key: str) -> tuple[str, str]:
    """("model_id", "version") of a "model_id@version" key."""
    model_id, _, version = key.partition("@")
    if not model_id or not version:
        raise ConfigurationError(f"model {key!r}: expected model_id@version")
    return model_id, version


class ProverRuntime:
    """One model version and its circuits (one per batch size)."""

    def __init__(self, key: str, batch_sizes: list[int] = [1]) -> None:
        self.model_key = key
        self.model_id, self.version_name = split_key(key)
        self.batch_sizes = sorted(batch_sizes)
        self._circuits: dict[int, Circuit] = {}
        self._lock = threading.Lock()

    @cached_property
    def version(self) -> ModelVersion:
        try:
            return load_version(self.model_id, self.version_name)
        except ModelVersionError as error:
            raise ConfigurationError(str(error)) from error

    @property
    def layout(self) -> Layout:
        return self.version.layout

    def circuit(self, k: int) -> Circuit:
        if k not in self.batch_sizes:
            raise ConfigurationError(f"{self.model_key}: no circuit configured for {k} markets per proof "
                                     f"(batch sizes: {self.batch_sizes})")
        with self._lock:
            if k not in self._circuits:
                version = self.version
                self._circuits[k] = build_circuit(version, k, circuits_dir=circuits_root(version, k))
            return self._circuits[k]

    def split(self, count: int) -> list[int]:
        """Batch sizes covering `count` markets, largest first (every size has its own circuit)."""
        sizes, left = [], count
        for size in reversed(self.batch_sizes):
            while left >= size:
                sizes.append(size)
                left -= size
        return sizes

    def input_scale(self, k: int) -> int:
        return self.circuit(k).input_scale

    def input_hash(self, vector: np.ndarray, input_scale: int) -> bytes:
        """The Poseidon hash publishers sign: the proof's instance for this vector, as 32 bytes."""
        return input_commitment(np.asarray(vector, dtype=np.float64), input_scale).to_bytes(32, "big")

    def prove(self, k: int, vectors: np.ndarray, state: np.ndarray | None) -> ProofResult:
        try:
            return prove(self.circuit(k), vectors, state)
        except ProverError as error:
            raise ProvingFailedError(f"{self.model_key} K={k}: {type(error).__name__}: {error}") from error

    def explanation(self, vector: np.ndarray, state: np.ndarray | None) -> dict[str, Any] | None:
        """The risk-contribution breakdown published with an update (`models.explain`, from the policy
        state it stepped from); None for a model version whose card has no explanation baseline."""
        try:
            return explain(self.version, np.asarray(vector, dtype=np.float64), state).to_dict()
        except ModelVersionError:
            return None

    def vk_sha256(self, k: int) -> str:
        return json.loads(self.circuit(k).paths.keys_lock.read_text())["vk_sha256"]


class Runtimes(dict[str, ProverRuntime]):
    """The configured model versions by key, in configuration order (the first is the lending model
    an operator reads first)."""

    @classmethod
    def from_config(cls, models: dict[str, list[int]]) -> "Runtimes":
        return cls({key: ProverRuntime(key, sizes) for key, sizes in models.items()})

    def get_runtime(self, key: str) -> ProverRuntime:
        try:
            return self[key]
        except KeyError:
            raise ConfigurationError(f"model {key!r} is not configured (configured: {', '.join(self)})") from None
