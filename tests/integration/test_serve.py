"""`zkrisk serve` as an operator runs it: a subprocess on free ports, stopped with SIGTERM or failing
during start-up; either way nothing it started may outlive it. Its console shows its own lines, the
libraries' INFO logs go to .zkrisk/logs/serve.log.

Processes are read from /proc (Linux): a process tree is recorded while the service runs, as pid and
start time, so a pid reused after the process ended is not mistaken for it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from oracle.lifecycle import SIGTERM_EXIT
from oracle.logs import LOG_DIR
from prover.toolchain import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE_LOG = REPO_ROOT / LOG_DIR / "serve.log"
#: how the libraries' console handlers started their INFO lines (uvicorn "INFO:     ...", Ape "INFO: ...")
LIBRARY_INFO_PREFIXES = ("INFO", "SUCCESS")


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on; the command name before it may contain spaces."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2:].split()


def process_tree(root: int) -> dict[int, str]:
    """pid → start time of `root` and every descendant running now."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            started[int(entry.name)] = fields[19]
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in started:
            tree[pid] = started[pid]
            todo.extend(children.get(pid, []))
    return tree


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def still_running(tree: dict[int, str]) -> list[str]:
    """The processes of `tree` that still exist (zombies count as gone), with their command lines."""
    alive = []
    for pid, start in tree.items():
        fields = _stat_fields(pid)
        if fields is not None and fields[19] == start and fields[0] != "Z":
            alive.append(f"{pid}: {command_line(pid)}")
    return alive


def processes_mentioning(text: str) -> list[str]:
    """Command lines of all processes containing `text` (e.g. a port only this test uses)."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [f"{pid}: {line}" for pid in pids if pid != os.getpid() and text in (line := command_line(pid))]


def refuses_connections(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def serve_env(tmp_path: Path, anvil_port: int, manifest: Path) -> dict[str, str]:
    """Embedded mode on private ports and files, one circuit (K=1) per model, no scheduled updates."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "160",
            "ZKRISK_RPC_URL": f"http://127.0.0.1:{anvil_port}", "ZKRISK_DEPLOYMENT_PATH": str(manifest),
            "ZKRISK_DATABASE_URL": f"sqlite:///{tmp_path / 'oracle.db'}", "ZKRISK_MODELS": '{"har-policy@2.0.0": [1], "har-margin@1.0.0": [1]}',
            "ZKRISK_HEARTBEAT_SECONDS": "10000000", "ZKRISK_DEVIATION_CHECK_SECONDS": "10000000"}


def start_serve(env: dict[str, str], api_port: int, console: Path) -> subprocess.Popen:
    with open(console, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "oracle.cli", "serve", "--port", str(api_port)], cwd=REPO_ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_healthy(process: subprocess.Popen, api_port: int, console: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{console.read_text()[-4000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    process.kill()
    raise AssertionError(f"serve did not become healthy in {timeout:.0f}s:\n{console.read_text()[-4000:]}")


def log_size() -> int:
    return SERVE_LOG.stat().st_size if SERVE_LOG.exists() else 0


@pytest.mark.slow
@pytest.mark.chain
@pytest.mark.timeout(1200)
def test_serve_stops_everything_it_started_on_sigterm(tmp_path, circuit_k1) -> None:
    """First start deploys; the restart finds the deployment on anvil's saved state. Both times SIGTERM
    stops the service, its worker and its anvil, and frees both ports."""
    anvil_port = free_port()
    env = serve_env(tmp_path, anvil_port, tmp_path / "deployment.json")
    for start in ("first", "restart"):
        api_port, console, log_offset = free_port(), tmp_path / f"serve-{start}.out", log_size()
        process = start_serve(env, api_port, console)
        try:
            wait_healthy(process, api_port, console)
            tree = process_tree(process.pid)
            assert any("anvil" in line for line in still_running(tree)), "serve did not start its anvil"
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == SIGTERM_EXIT, console.read_text()[-4000:]
        finally:
            if process.poll() is None:
                process.kill()
        assert still_running(tree) == [], f"{start} start: left running after SIGTERM"
        assert refuses_connections(anvil_port) and refuses_connections(api_port)

        output = console.read_text()
        assert f"serving http://127.0.0.1:{api_port}" in output
        assert [line for line in output.splitlines() if line.startswith(LIBRARY_INFO_PREFIXES)] == []
        with open(SERVE_LOG) as log:
            log.seek(log_offset)
            logged = log.read()
        assert "INFO uvicorn.error: Uvicorn running on" in logged
        if start == "first":  # Ape deployed the contracts: its INFO lines are in the file, not on the console
            assert " ape: " in logged


@pytest.mark.chain
def test_serve_stops_its_anvil_when_start_up_fails_after_starting_it(tmp_path) -> None:
    """A deployment manifest that cannot be read fails the start after anvil is up: anvil goes too."""
    anvil_port, api_port = free_port(), free_port()
    manifest = tmp_path / "deployment.json"
    manifest.write_text("{truncated")
    console = tmp_path / "serve.out"
    process = start_serve(serve_env(tmp_path, anvil_port, manifest), api_port, console)
    try:
        returncode = process.wait(120)
    finally:
        if process.poll() is None:
            process.kill()
    assert returncode not in (0, SIGTERM_EXIT) and "JSONDecodeError" in console.read_text(), console.read_text()
    assert processes_mentioning(f"--port {anvil_port} ") == []
    assert refuses_connections(anvil_port)
