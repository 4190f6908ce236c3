"""The prover as the service uses it: one model version, its circuits per batch size, built once per
process (keys are cached on disk by `prover`; loading and hash-checking them is what is saved here).
"""

from __future__ import annotations

import json
import threading
from functools import cached_property
from typing import Any

import numpy as np

from models.errors import ModelVersionError
from models.explain import explain
from models.versions import ModelVersion, load_version
from prover.circuit import Circuit, build_circuit
from prover.errors import ProverError, WitnessError
from prover.proving import ProofResult, input_commitment, prove
from oracle.errors import ConfigurationError, ProvingFailedError


class ProverRuntime:
    def __init__(self, model_id: str | None = None, version: str | None = None,
                 batch_sizes: list[int] = [1]) -> None:
        self.model_id, self.version_name, self.batch_sizes = model_id, version, sorted(batch_sizes)
        self._circuits: dict[int, Circuit] = {}
        self._lock = threading.Lock()

    @cached_property
    def version(self) -> ModelVersion:
        return load_version(self.model_id, self.version_name)

    @property
    def model_key(self) -> str:
        return f"{self.version.model_id}@{self.version.version}"

    def circuit(self, k: int) -> Circuit:
        if k not in self.batch_sizes:
            raise ConfigurationError(f"no circuit configured for {k} markets per proof "
                                     f"(batch sizes: {self.batch_sizes})")
        with self._lock:
            if k not in self._circuits:
                self._circuits[k] = build_circuit(self.version, k)
            return self._circuits[k]

    def split(self, count: int) -> list[int]:
        """Batch sizes covering `count` markets, largest first (every size has its own circuit)."""
        sizes, left = [], count
        for size in reversed(self.batch_sizes):
            while left >= size:
                sizes.append(size)
                left -= size
        return sizes

    def commitment(self, k: int, vector: np.ndarray) -> str:
        """The Poseidon hash publishers post: the proof's instance for this vector, as bytes32 hex."""
        return f"0x{input_commitment(vector, self.circuit(k).input_scale):064x}"

    def prove(self, k: int, vectors: np.ndarray) -> ProofResult:
        try:
            return prove(self.circuit(k), vectors)
        except WitnessError as error:
            raise ProvingFailedError(str(error)) from error
        except ProverError as error:
            raise ProvingFailedError(f"{type(error).__name__}: {error}") from error

    def explanation(self, vector: np.ndarray) -> dict[str, Any] | None:
        """The risk-contribution breakdown published with an update (`models.explain`); None for a model
        version whose card has no explanation baseline."""
        try:
            return explain(self.version, np.asarray(vector, dtype=np.float64)).to_dict()
        except ModelVersionError:
            return None

    def vk_sha256(self, k: int) -> str:
        return json.loads(self.circuit(k).paths.keys_lock.read_text())["vk_sha256"]
