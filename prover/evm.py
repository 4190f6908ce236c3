"""EVM side of a circuit: the reusable Halo2 verifier, per-circuit VKA words, code-size checks.

EZKL 23.x renders the Solidity verifier and then tries to download a solc build to produce the ABI;
offline that last step fails with an `svm error`. The .sol is complete by then, so exactly that
failure is accepted and the project's own solc (solc-js) compiles the file.
"""

from __future__ import annotations

import asyncio
import struct
import tempfile
from pathlib import Path

import ezkl

from prover.circuit import Circuit
from prover.errors import VerifierGenerationError
from prover.toolchain import MAX_RUNTIME_CODE_BYTES, REPO_ROOT, compile_standard_json

REUSABLE_VERIFIER_SOL = REPO_ROOT / "contracts" / "verifiers" / "Halo2VerifierReusable.sol"
REUSABLE_VERIFIER_NAME = "Halo2VerifierReusable"
_ABI_DOWNLOAD_FAILURE = "svm error"


def _render_verifier(circuit: Circuit, sol_path: Path, reusable: bool) -> Path:
    abi_path = sol_path.with_suffix(".abi.json")

    async def render() -> None:
        await ezkl.create_evm_verifier(str(circuit.paths.vk), str(circuit.paths.settings), str(sol_path),
                                       str(abi_path), str(circuit.srs.path), reusable)

    try:
        asyncio.run(render())
    except RuntimeError as error:
        if _ABI_DOWNLOAD_FAILURE not in str(error) or not sol_path.exists() or sol_path.stat().st_size == 0:
            raise VerifierGenerationError(f"ezkl could not render the verifier: {error}") from error
    return sol_path


def render_reusable_verifier(circuit: Circuit, destination: Path = REUSABLE_VERIFIER_SOL) -> Path:
    """(Re)generate the circuit-independent reusable verifier source."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    return _render_verifier(circuit, destination, reusable=True)


def render_plain_verifier(circuit: Circuit, destination: Path) -> Path:
    """A verifier with this circuit's vk baked in (no VKA); may exceed the code size limit."""
    return _render_verifier(circuit, destination, reusable=False)


def vka_words(circuit: Circuit) -> list[bytes]:
    """The circuit's verifying-key artifact as bytes32 words for the reusable verifier."""
    if not circuit.paths.vka.exists():
        async def render() -> None:
            await ezkl.create_evm_vka(str(circuit.paths.vk), str(circuit.paths.settings),
                                      str(circuit.paths.vka), str(circuit.srs.path))
        try:
            asyncio.run(render())
        except RuntimeError as error:
            raise VerifierGenerationError(f"ezkl could not create the VKA: {error}") from error
    raw = circuit.paths.vka.read_bytes()
    # bincode Vec<[u8; 32]>: u64 little-endian length, then the words
    (count,) = struct.unpack_from("<Q", raw)
    if len(raw) != 8 + 32 * count:
        raise VerifierGenerationError(f"unexpected VKA layout in {circuit.paths.vka}: {len(raw)} bytes, {count} words")
    return [raw[8 + 32 * i: 8 + 32 * (i + 1)] for i in range(count)]


def compile_verifier(sol_path: Path, contract: str) -> dict[str, object]:
    """Compile a generated verifier with the project's solc; returns abi, bytecode and runtime size."""
    output = compile_standard_json({sol_path.name: sol_path.read_text()})
    compiled = output["contracts"][sol_path.name][contract]
    runtime = bytes.fromhex(compiled["evm"]["deployedBytecode"]["object"])
    return {"abi": compiled["abi"], "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "runtime": runtime, "runtime_size": len(runtime),
            "fits_mainnet": len(runtime) <= MAX_RUNTIME_CODE_BYTES}


def plain_verifier_size(circuit: Circuit) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        sol = render_plain_verifier(circuit, Path(tmp) / "Halo2Verifier.sol")
        return int(compile_verifier(sol, "Halo2Verifier")["runtime_size"])
