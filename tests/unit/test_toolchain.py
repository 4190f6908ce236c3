"""The offline toolchain: solc-js behind the shim, and anvil from node_modules."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import solcx
from packaging.version import Version
from solcx.wrapper import get_solc_version

from prover.errors import ToolchainError
from prover.toolchain import (
    REPO_ROOT,
    SOLC_VERSION,
    anvil_executable,
    compile_standard_json,
    install_solc_shim,
    solcx_folder,
)


def test_install_solc_shim_is_found_by_py_solc_x() -> None:
    shim = install_solc_shim()
    assert shim == solcx_folder() / f"solc-v{SOLC_VERSION}"
    assert Version(SOLC_VERSION) in solcx.get_installed_solc_versions()
    assert str(get_solc_version(shim)) == SOLC_VERSION


def test_solcx_folder_is_an_ignored_folder_of_this_checkout() -> None:
    folder = solcx_folder()
    assert folder.is_relative_to(REPO_ROOT) and folder != REPO_ROOT
    ignored = subprocess.run(["git", "check-ignore", "-q", str(folder / f"solc-v{SOLC_VERSION}")], cwd=REPO_ROOT)
    assert ignored.returncode == 0, f"{folder} is not ignored by git"


def test_test_session_points_py_solc_x_at_this_checkout() -> None:
    # tests/conftest.py sets it at import, before ape's Solidity plugin compiles anything
    assert os.environ["SOLCX_BINARY_PATH"] == str(solcx_folder())
    assert solcx.install.get_solcx_install_folder() == solcx_folder()


def test_cli_import_points_py_solc_x_at_this_checkout_over_an_inherited_folder(tmp_path) -> None:
    """Another checkout's SOLCX_BINARY_PATH in the environment does not leak into this one's compiles."""
    probe = ("import sys, oracle.cli, solcx; assert 'ape' not in sys.modules, 'ape imported before the folder was set';"
             " print(solcx.install.get_solcx_install_folder())")
    env = {**os.environ, "SOLCX_BINARY_PATH": str(tmp_path / "other-checkout" / ".zkrisk" / "solcx"),
           "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(solcx_folder())


def test_compile_standard_json_resolves_openzeppelin_from_node_modules() -> None:
    source = (
        'pragma solidity 0.8.37;\nimport {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";\n'
        "contract Owned is Ownable { constructor() Ownable(msg.sender) {} }\n"
    )
    output = compile_standard_json({"Owned.sol": source})
    runtime = output["contracts"]["Owned.sol"]["Owned"]["evm"]["deployedBytecode"]["object"]
    assert len(runtime) > 0


def test_compile_standard_json_reports_solidity_errors() -> None:
    with pytest.raises(ToolchainError, match="DeclarationError|ParserError"):
        compile_standard_json({"Broken.sol": "pragma solidity 0.8.37; contract B { function f() { x = 1; } }"})


def test_shim_refuses_unsupported_arguments() -> None:
    shim = install_solc_shim()
    completed = subprocess.run([str(shim), "--bin", "x.sol"], capture_output=True, text=True)
    assert completed.returncode == 2
    assert "unsupported argument --bin" in completed.stderr


def test_anvil_is_the_pinned_version() -> None:
    out = subprocess.run([str(anvil_executable()), "--version"], capture_output=True, text=True, check=True)
    assert "anvil Version: 1.7.1" in out.stdout
