"""Prover exceptions. One root, so callers catch `ProverError` and still see what went wrong.

    ProverError
    ├── ToolchainError          solc-js, node or anvil missing or failing
    ├── ArtifactError
    │   ├── MissingArtifactError    a circuit file or key is not there (build it)
    │   ├── ManifestMismatchError   a file's hash differs from the manifest that pins it
    │   └── EzklVersionError        artifacts built by another ezkl version (keys are not portable)
    ├── SRSError                    SRS file missing, wrong size, or not the pinned ceremony file
    ├── WitnessError                inputs rejected by the circuit (e.g. outside the calibrated range)
    │   └── FidelityError           the circuit's outputs differ from the float model beyond tolerance
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


class EzklVersionError(ArtifactError):
    pass


class SRSError(ProverError):
    pass


class WitnessError(ProverError):
    pass


class FidelityError(WitnessError):
    def __init__(self, market: int, output: str, error_bps: float, tolerance_bps: float) -> None:
        super().__init__(
            f"market #{market} output {output}: circuit differs from the float model by {error_bps:.3f} bp "
            f"(tolerance {tolerance_bps} bp); the input is outside the range the circuit represents faithfully"
        )
        self.market, self.output, self.error_bps, self.tolerance_bps = market, output, error_bps, tolerance_bps


class ProofError(ProverError):
    pass


class VerifierGenerationError(ProverError):
    pass


class BackendUnavailableError(ProverError):
    pass
