"""Audit exceptions: the audit could not run at all (as opposed to a check that ran and failed)."""

from __future__ import annotations


class AuditError(RuntimeError):
    """The audit cannot proceed: unreachable RPC, wrong chain, no SRS to verify with."""
