"""Offline toolchain: the project's own solc (solc-js behind a CLI shim) and anvil from node_modules.

Nothing here downloads. The npm packages pinned in package.json provide the compiler and the chain;
`install_solc_shim` makes py-solc-x (and so `ape compile`) find the compiler where it looks.

The compiler folder belongs to the checkout (`.zkrisk/solcx/`, ignored by git) rather than the user's
`~/.solcx`: a shared folder holds one launcher, pointing at whichever checkout wrote it last, so one
checkout's tests would repoint another's compiler and deleting a checkout would break the others.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

from prover.errors import ToolchainError

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"
SOLC_SHIM_SCRIPT = REPO_ROOT / "scripts" / "solc-shim.js"
SOLCX_FOLDER = REPO_ROOT / ".zkrisk" / "solcx"
SOLC_VERSION = "0.8.37"
EVM_VERSION = "cancun"
MAX_RUNTIME_CODE_BYTES = 24_576  # EIP-170


def solcx_folder() -> Path:
    """This checkout's compiler folder, where py-solc-x is told to look (see `use_project_solcx`)."""
    return SOLCX_FOLDER


def use_project_solcx() -> None:
    """Point py-solc-x (read by ape-solidity at compile time) at this checkout's compiler folder.

    Overrides an inherited $SOLCX_BINARY_PATH: a value from another checkout's environment is exactly
    the cross-checkout dependence the folder exists to avoid. Cheap and side-effect free otherwise, so
    entry points call it on import, before anything compiles.
    """
    os.environ["SOLCX_BINARY_PATH"] = str(SOLCX_FOLDER)


def install_solc_shim() -> Path:
    """Write the `solc-v<version>` launcher py-solc-x expects into this checkout's compiler folder and
    point py-solc-x there; idempotent."""
    use_project_solcx()
    if not (REPO_ROOT / "node_modules" / "solc").is_dir():
        raise ToolchainError("npm package solc is missing: run `npm ci` (or `make setup`) in the repository root")
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node is not on PATH: it runs the solc-js compiler")
    target = solcx_folder() / f"solc-v{SOLC_VERSION}"
    target.parent.mkdir(parents=True, exist_ok=True)
    launcher = f'#!/bin/sh\nexec "{node}" "{SOLC_SHIM_SCRIPT}" "$@"\n'
    if not target.exists() or target.read_text() != launcher:
        target.write_text(launcher)
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target


def ensure_node_tools_on_path() -> None:
    """Put node_modules/.bin first on PATH so ape-foundry finds the pinned anvil."""
    entries = os.environ.get("PATH", "").split(os.pathsep)
    if str(NODE_BIN) not in entries:
        os.environ["PATH"] = os.pathsep.join([str(NODE_BIN), *entries])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a private anvil or test server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rpc_alive(rpc_url: str) -> bool:
    """True when a JSON-RPC node answers `eth_chainId` at `rpc_url` (a private anvil has come up)."""
    import requests

    try:
        reply = requests.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                              timeout=2)
        return reply.ok
    except requests.RequestException:
        return False


def anvil_executable() -> Path:
    anvil = NODE_BIN / "anvil"
    if not anvil.exists():
        raise ToolchainError("anvil is missing from node_modules: run `npm ci` (or `make setup`)")
    return anvil


def compile_standard_json(sources: dict[str, str], *, optimizer_runs: int = 200,
                          base_path: Path | None = None) -> dict[str, Any]:
    """Compile Solidity sources (unit name → source text) with the project's solc; returns solc's output.

    Used for generated verifiers, whose bytecode auditors must be able to reproduce byte for byte.
    """
    request = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": optimizer_runs},
            "evmVersion": EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    args = ["node", str(SOLC_SHIM_SCRIPT), "--standard-json", "--base-path", str(base_path or REPO_ROOT)]
    completed = subprocess.run(args, input=json.dumps(request), capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise ToolchainError(f"solc-js failed (exit {completed.returncode}): {completed.stderr.strip()}")
    output = json.loads(completed.stdout)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ToolchainError("solc reported errors:\n" + "\n".join(e["formattedMessage"] for e in errors))
    return output
