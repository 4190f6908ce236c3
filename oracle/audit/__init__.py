"""`zkrisk audit`: re-derive a published update from its proof bundle and the chain, check by check.

The checks are in `oracle.audit.checks` (their list is its docstring), the chain reads in
`oracle.audit.chain` (plain JSON-RPC), the HTML report in `oracle.audit.report`. `audit_bundle` is
what the CLI, the API and the tests call.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console

from oracle.audit.checks import TITLES, AuditReport, Auditor, CheckResult
from oracle.audit.errors import AuditError
from oracle.bundle import Bundle

__all__ = ["TITLES", "AuditError", "AuditReport", "CheckResult", "audit_bundle", "print_report"]


def audit_bundle(bundle: Bundle, rpc: str | None = None, srs: Path | None = None, report: Path | None = None,
                 only: tuple[int, ...] = tuple(TITLES)) -> AuditReport:
    """Run the checks (all by default) of `bundle`; with `rpc`, against the chain its record names."""
    from oracle.audit.chain import ChainView

    chain, reasons = None, {}
    if rpc is not None and bundle.chain is not None:
        try:
            chain = ChainView(rpc, bundle.chain)
        except AuditError as error:  # wrong chain, unreachable RPC: the chain checks fail with the reason
            reasons["no_chain_reason"] = str(error)
    # the regenerated circuit, keys and verifier are scratch files of this audit only
    with tempfile.TemporaryDirectory(prefix="zkrisk-audit-") as workdir:
        result = Auditor(bundle, chain, Path(workdir), srs, **reasons).run(only)
    if report is not None:
        from oracle.audit.report import write_html

        write_html(result, bundle, chain, report)
    return result


def print_report(result: AuditReport, console: Console) -> None:
    for check in result.checks:
        mark = "[green]PASS[/]" if check.passed else "[red]FAIL[/]"
        console.print(f"{mark} {check.number}. {check.title}")
        for line in check.details:
            console.print(f"       {line}", highlight=False, markup=False)
    console.print("[bold green]all checks pass[/]" if result.passed else "[bold red]audit failed[/]")
