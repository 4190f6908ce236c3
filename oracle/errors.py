"""Service exceptions. Tasks retry `TransientError` with backoff and record every other error as the
job's permanent failure; the API maps `NotFoundError` to 404.

    OracleError
    ├── NotFoundError                unknown market, job, proof or model
    ├── AuthError                    missing, unknown or revoked API key
    ├── TransientError               worth retrying: the same call may succeed later
    │   ├── RpcUnavailableError      the node does not answer (connection refused, timeout, 5xx)
    │   ├── NonceError               nonce too low / replacement underpriced: resync and resend
    │   ├── ConfirmationTimeout      sent, not yet mined or not yet deep enough
    │   └── StageBusyError           another worker holds this stage's lease
    └── PermanentError               retrying cannot help; the job fails with this recorded
        ├── DataRejectedError        market data failed a validation rule (names market, time, rule)
        ├── ContractRevertError      a call reverted; carries the decoded custom error and its args
        ├── ReportRejectedError      too few valid publisher signatures (names each rejected publisher)
        ├── ProvingFailedError       witness or proof generation rejected the inputs
        └── ConfigurationError       no deployment, no circuit for a batch size, no signer key
"""

from __future__ import annotations

from typing import Any


class OracleError(Exception):
    """Root of every service error."""

    #: short machine-readable kind recorded on failed jobs and used as a metrics label
    kind = "error"


class NotFoundError(OracleError):
    kind = "not-found"


class AuthError(OracleError):
    kind = "auth"


class TransientError(OracleError):
    kind = "transient"


class RpcUnavailableError(TransientError):
    kind = "rpc-unavailable"


class NonceError(TransientError):
    kind = "nonce"


class ConfirmationTimeout(TransientError):
    kind = "confirmation-timeout"


class StageBusyError(TransientError):
    kind = "stage-busy"

    def __init__(self, message: str, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class PermanentError(OracleError):
    kind = "permanent"


class DataRejectedError(PermanentError):
    kind = "data-rejected"

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class ContractRevertError(PermanentError):
    kind = "contract-revert"

    def __init__(self, name: str, args: dict[str, Any], message: str | None = None) -> None:
        rendered = ", ".join(f"{k}={v}" for k, v in args.items())
        super().__init__(message or f"reverted with {name}({rendered})")
        self.name, self.args_by_name = name, args

    @property
    def rule(self) -> str:
        return self.name


class ReportRejectedError(PermanentError):
    kind = "report-rejected"


class ProvingFailedError(PermanentError):
    kind = "proving-failed"


class ConfigurationError(PermanentError):
    kind = "configuration"
