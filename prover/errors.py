"""Prover exceptions. One root, so callers catch `ProverError` and still see what went wrong.

    ProverError
    ├── ToolchainError          solc-js, node or anvil missing or failing
    ├── ArtifactError
    │   ├── MissingArtifactError    a circuit file or key is not there (build it)
    │   └── ManifestMismatchError   a file's hash differs from the manifest that pins it
    ├── SRSError                    SRS file missing, wrong size, or not the pinned ceremony file
    ├── WitnessError                inputs rejected by the circuit (e.g. outside the calibrated range)
    ├── ProofError                  proving failed, or a produced proof does not verify
    ├── VerifierGenerationError     EVM verifier / VKA generation failed
    └── BackendUnavailableError     the selected backend (e.g. GPU) is not supported by this ezkl
"""

from __future__ import annotations


class ProverError(Exception):
    """Root of every prover error."""


class ToolchainError(ProverError):
    pass


class ArtifactError(ProverError):
    pass


class MissingArtifactError(ArtifactError):
    pass


class ManifestMismatchError(ArtifactError):
    def __init__(self, artifact: str, expected: str, actual: str, path: str) -> None:
        super().__init__(
            f"{artifact} at {path} has sha256 {actual[:16]}…, the manifest pins {expected[:16]}…; "
            "refusing to use or silently rebuild a published artifact"
        )
        self.artifact, self.expected, self.actual, self.path = artifact, expected, actual, path


class SRSError(ProverError):
    pass


class WitnessError(ProverError):
    pass


class ProofError(ProverError):
    pass


class VerifierGenerationError(ProverError):
    pass


class BackendUnavailableError(ProverError):
    pass
