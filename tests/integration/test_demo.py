"""End to end: `zkrisk demo` proves a real BTC update and reads it back from a fresh anvil, printing its
own progress and summary while the libraries' INFO logs go to .zkrisk/logs/demo.log."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from oracle.logs import LOG_DIR
from prover.toolchain import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_LOG = REPO_ROOT / LOG_DIR / "demo.log"


@pytest.mark.slow
@pytest.mark.chain
def test_demo_publishes_a_verified_update_and_stops_its_anvil() -> None:
    port = free_port()
    log_offset = DEMO_LOG.stat().st_size if DEMO_LOG.exists() else 0
    completed = subprocess.run(
        [sys.executable, "-m", "oracle.cli", "demo", "--rpc", f"http://127.0.0.1:{port}"],
        cwd=REPO_ROOT, env={**os.environ, "COLUMNS": "160"}, capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "verified on-chain" in completed.stdout
    assert "started by the demo and stopped" in completed.stdout
    with socket.socket() as sock:  # the anvil the demo started is gone
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    # quiet by default: no Ape INFO/SUCCESS lines around the summary; they are in the log file
    console = (completed.stdout + completed.stderr).splitlines()
    assert [line for line in console if line.startswith(("INFO", "SUCCESS"))] == []
    with open(DEMO_LOG) as log:
        log.seek(log_offset)
        logged = log.read()
    assert "SUCCESS ape: Contract 'RiskOracle' deployed to:" in logged
