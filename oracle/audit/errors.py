"""Audit exceptions: the audit could not run at all (as opposed to a check that ran and failed).
Part of the service's tree: `OracleError` → `AuditError`."""

from __future__ import annotations

from oracle.errors import OracleError


class AuditError(OracleError):
    """The audit cannot proceed: unreachable RPC, wrong chain, no SRS to verify with."""

    kind = "audit"
