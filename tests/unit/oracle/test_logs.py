"""Library logs of the interactive commands: INFO to the file, warnings (or with -v everything) on the console.

Each case runs in a fresh interpreter: routing replaces the root logger's handlers, pytest's among them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
EMIT = """
import logging, sys
from oracle.logs import route_library_logs
path = route_library_logs("probe", verbose={verbose}, log_dir=__import__("pathlib").Path(sys.argv[1]))
import ape.logging  # imported again: Ape's console handler must stay removed
logging.getLogger("uvicorn.error").info("uvicorn-info")
ape.logging.logger.info("ape-info")
logging.getLogger("celery.worker").warning("celery-warning")
print(path)
"""


def run(tmp_path: Path, verbose: bool) -> tuple[str, str]:
    completed = subprocess.run([sys.executable, "-c", EMIT.format(verbose=verbose), str(tmp_path)], cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert Path(completed.stdout.strip()) == tmp_path / "probe.log"
    return completed.stdout + completed.stderr, (tmp_path / "probe.log").read_text()


def test_route_library_logs_keeps_library_info_off_the_console_and_in_the_file(tmp_path) -> None:
    console, logged = run(tmp_path, verbose=False)
    assert "uvicorn-info" not in console and "ape-info" not in console
    assert "WARNING celery.worker: celery-warning" in console
    for line in ("INFO uvicorn.error: uvicorn-info", "INFO ape: ape-info", "WARNING celery.worker: celery-warning"):
        assert line in logged


@pytest.mark.parametrize("line", ["INFO uvicorn.error: uvicorn-info", "INFO ape: ape-info"])
def test_route_library_logs_verbose_shows_library_info_on_the_console_too(tmp_path, line) -> None:
    console, logged = run(tmp_path, verbose=True)
    assert line in console and line in logged
