"""EVM side of a circuit: verifiers, per-circuit VKA words, calldata, code size and gas on anvil.

EZKL 23.x renders the Solidity verifier and then tries to download a solc build to produce the ABI;
offline that last step fails with an `svm error`. The .sol is complete by then, so exactly that
failure is accepted and the project's own solc (solc-js) compiles the file.

Two verifier shapes: the reusable verifier (one contract for every circuit; the circuit's VKA words
are registered once and passed with each call) and the plain verifier (the vk baked into the code;
no VKA in calldata, but it may exceed the 24,576-byte runtime limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Coroutine, Iterator, Sequence

import ezkl
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractLogicError

from prover.circuit import Circuit
from prover.errors import ProofError, ToolchainError, VerifierGenerationError
from prover.toolchain import MAX_RUNTIME_CODE_BYTES, REPO_ROOT, anvil_executable, compile_standard_json, free_port

REUSABLE_VERIFIER_SOL = REPO_ROOT / "contracts" / "verifiers" / "Halo2VerifierReusable.sol"
REUSABLE_VERIFIER_NAME = "Halo2VerifierReusable"
PLAIN_VERIFIER_NAME = "Halo2Verifier"
REUSABLE_VERIFY_SIGNATURE = "verifyProof(bytes,uint256[],bytes32[])"
PLAIN_VERIFY_SIGNATURE = "verifyProof(bytes,uint256[])"
_ABI_DOWNLOAD_FAILURE = "svm error"


def _run_ezkl(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run one of EZKL's async calls to completion. A thread whose event loop is already running
    (Playwright's sync API runs one) cannot `asyncio.run`: there the call gets a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def _render_verifier(circuit: Circuit, sol_path: Path, reusable: bool) -> Path:
    abi_path = sol_path.with_suffix(".abi.json")

    async def render() -> None:
        await ezkl.create_evm_verifier(str(circuit.paths.vk), str(circuit.paths.settings), str(sol_path),
                                       str(abi_path), str(circuit.srs.path), reusable)

    try:
        _run_ezkl(render())
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
            _run_ezkl(render())
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
        return int(compile_verifier(sol, PLAIN_VERIFIER_NAME)["runtime_size"])


def verifier_calldata(proof: bytes, instances: Sequence[int], vka: Sequence[bytes] | None = None) -> bytes:
    """ABI calldata of verifyProof: the reusable verifier's when `vka` is given, else the plain one's."""
    if vka is None:
        return function_signature_to_4byte_selector(PLAIN_VERIFY_SIGNATURE) + abi_encode(
            ["bytes", "uint256[]"], [proof, list(instances)])
    return function_signature_to_4byte_selector(REUSABLE_VERIFY_SIGNATURE) + abi_encode(
        ["bytes", "uint256[]", "bytes32[]"], [proof, list(instances), list(vka)])


@dataclass
class LocalChain:
    """A throwaway anvil from node_modules, with web3 on its first funded account."""

    web3: Web3
    process: subprocess.Popen[bytes]

    @property
    def account(self) -> str:
        return str(self.web3.eth.accounts[0])

    def deploy(self, abi: list[dict[str, Any]], bytecode: str) -> Any:
        tx = self.web3.eth.contract(abi=abi, bytecode=bytecode).constructor().transact({"from": self.account})
        receipt = self.web3.eth.wait_for_transaction_receipt(tx)
        if receipt.status != 1:
            raise ToolchainError(f"deployment reverted (gas used {receipt.gasUsed})")
        return self.web3.eth.contract(address=receipt.contractAddress, abi=abi)

    def send(self, to: str, data: bytes) -> tuple[bytes, int]:
        """Call `to` with `data` (to read its return value), then mine it; returns (return data, gas used)."""
        call = {"from": self.account, "to": to, "data": data}
        try:
            returned = bytes(self.web3.eth.call(call))
        except ContractLogicError as error:
            raise ProofError(f"call to {to} reverted: {error}") from error
        receipt = self.web3.eth.wait_for_transaction_receipt(self.web3.eth.send_transaction(call))
        if receipt.status != 1:
            raise ProofError(f"transaction to {to} reverted (gas used {receipt.gasUsed})")
        return returned, int(receipt.gasUsed)


@contextlib.contextmanager
def local_chain(code_size_limit: int = MAX_RUNTIME_CODE_BYTES) -> Iterator[LocalChain]:
    """Start anvil on a free port (mainnet code size limit enforced by default) and stop it after."""
    port = free_port()
    process = subprocess.Popen([str(anvil_executable()), "--port", str(port), "--silent",
                                "--code-size-limit", str(code_size_limit), "--gas-limit", "100000000"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        web3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 120}))
        deadline = time.monotonic() + 30
        while not web3.is_connected():
            if process.poll() is not None or time.monotonic() > deadline:
                raise ToolchainError(f"anvil did not start on port {port}: {process.stderr.read().decode() if process.stderr else ''}")
            time.sleep(0.1)
        yield LocalChain(web3, process)
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class DeployedVerifier:
    """A verifier on a local chain; `vka` is set for the reusable verifier (registered already)."""

    chain: LocalChain
    contract: Any
    runtime_size: int
    vka: list[bytes] | None = None

    def verify(self, proof: bytes, instances: Sequence[int]) -> tuple[bool, int]:
        """Submit verifyProof as a transaction; returns (accepted, gas used by the whole transaction)."""
        returned, gas = self.chain.send(self.contract.address, verifier_calldata(proof, instances, self.vka))
        return bool(int.from_bytes(returned[:32], "big")) if len(returned) >= 32 else False, gas


def deploy_reusable_verifier(chain: LocalChain, circuit: Circuit,
                             source: Path = REUSABLE_VERIFIER_SOL) -> DeployedVerifier:
    """Deploy the committed reusable verifier and register the circuit's VKA on it."""
    compiled = compile_verifier(source, REUSABLE_VERIFIER_NAME)
    contract = chain.deploy(compiled["abi"], compiled["bytecode"])
    vka = vka_words(circuit)
    receipt = chain.web3.eth.wait_for_transaction_receipt(
        contract.functions.registerVka(vka).transact({"from": chain.account}))
    if receipt.status != 1:
        raise VerifierGenerationError("registerVka reverted")
    return DeployedVerifier(chain, contract, int(compiled["runtime_size"]), vka)


def deploy_plain_verifier(chain: LocalChain, circuit: Circuit) -> DeployedVerifier:
    """Render, compile and deploy the circuit's plain verifier (refused by anvil above the size limit)."""
    with tempfile.TemporaryDirectory() as tmp:
        compiled = compile_verifier(render_plain_verifier(circuit, Path(tmp) / "Halo2Verifier.sol"),
                                    PLAIN_VERIFIER_NAME)
    if not compiled["fits_mainnet"]:
        raise VerifierGenerationError(f"the plain verifier of K={circuit.k} is {compiled['runtime_size']} bytes, "
                                      f"over the {MAX_RUNTIME_CODE_BYTES}-byte limit: use the reusable verifier")
    return DeployedVerifier(chain, chain.deploy(compiled["abi"], compiled["bytecode"]), int(compiled["runtime_size"]))
