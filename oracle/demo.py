"""`zkrisk demo`: one proved risk update, from bundled market data to parameters read back on chain.

Steps: load the production model version → build (or reuse) its K=1 circuit and keys → connect to
anvil at `rpc` (ape-foundry starts one there if none is listening, and stops only what it started) →
deploy the system → prove the market's latest window → two of three publishers commit the input
hash → submit the proof → read the stored parameters and check they equal the proved outputs.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from rich.console import Console
from rich.table import Table

from models.spec import OUTPUTS, market_id
from models.versions import load_version
from prover.circuit import build_circuit
from prover.proving import prove
from prover.toolchain import ensure_node_tools_on_path, install_solc_shim

DEMO_MODEL_ID = 1
PUBLISHER_QUORUM = 2


class DemoError(RuntimeError):
    """The demo's on-chain read-back disagrees with the proof."""


@dataclass(frozen=True)
class DemoResult:
    market: str
    epoch: int
    parameters: dict[str, int]
    proved: dict[str, int]
    prove_seconds: float
    setup_seconds: float
    submit_gas: int
    tx_hash: str
    max_abs_error_bps: float
    started_anvil: bool


@contextmanager
def local_chain(rpc: str) -> Iterator[bool]:
    """Connect Ape to anvil at `rpc`; yields whether this process started it."""
    import httpx
    from ape import networks

    try:
        httpx.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1.0)
        running = True
    except httpx.HTTPError:
        running = False
    with networks.ethereum.local.use_provider("foundry", provider_settings={"host": rpc}):
        yield not running


def run_demo(market: str = "BTC", rpc: str = "http://127.0.0.1:8545", console: Console | None = None) -> DemoResult:
    console = console or Console()
    ensure_node_tools_on_path()
    install_solc_shim()
    mid = market_id(market)
    version = load_version()
    console.print(f"[bold]zkrisk demo[/] — model {version.model_id}@{version.version}, market {market}")

    with console.status("building circuit and keys (first run: about a minute)") as status:
        started = time.perf_counter()
        circuit = build_circuit(version, 1, progress=lambda message: status.update(message))
        setup_seconds = time.perf_counter() - started
        vector = version.input_vector(market)
        status.update(f"proving {market} epoch {int(vector[1])}")
        proof = prove(circuit, vector[None, :])
    console.print(f"proved in {proof.prove_seconds:.1f} s (circuit logrows {circuit.logrows}, "
                  f"max |circuit − float| {proof.max_abs_error_bps:.2f} bp)")

    with local_chain(rpc) as started_anvil, console.status("deploying and publishing") as status:
        from ape import accounts

        from oracle.chain.deploy import deploy_system, model_config_for_circuit, publish_proved_update

        deployer, *publishers, keeper = accounts.test_accounts[:5]
        deployment = deploy_system(deployer, publishers, model_config_for_circuit(circuit, DEMO_MODEL_ID),
                                   quorum=PUBLISHER_QUORUM)
        status.update("publishing commitment (2 of 3 publishers) and submitting the proof")
        receipt = publish_proved_update(deployment, publishers[:PUBLISHER_QUORUM], keeper, DEMO_MODEL_ID,
                                        proof.proof, proof.instances, proof.vectors)
        stored = deployment.oracle.getRiskParameters(mid)
        parameters = _as_dict(stored)
        proved = proof.markets[0].wad
        if any(parameters[name] != proved[name] for name in OUTPUTS):
            raise DemoError(f"on-chain parameters {parameters} differ from the proved outputs {proved}")
        result = DemoResult(market, int(stored.epoch), parameters, proved, proof.prove_seconds, setup_seconds,
                            int(receipt.gas_used), str(receipt.txn_hash), proof.max_abs_error_bps, started_anvil)

    _print_summary(console, result)
    return result


def _as_dict(stored: Any) -> dict[str, int]:
    return {"vol": int(stored.volatility), "var99": int(stored.valueAtRisk), "es99": int(stored.expectedShortfall),
            "lt": int(stored.liquidationThreshold), "cr": int(stored.collateralRatio)}


def _print_summary(console: Console, result: DemoResult) -> None:
    table = Table(title=f"{result.market} risk parameters, epoch {result.epoch}", show_header=True)
    table.add_column("parameter")
    table.add_column("on chain", justify="right")
    labels = {"cr": "collateral ratio (CR)", "lt": "liquidation threshold (LT)", "vol": "forecast vol (1d)",
              "var99": "VaR 99% (1d)", "es99": "ES 99% (1d)"}
    for name in ("cr", "lt", "vol", "var99", "es99"):
        table.add_row(labels[name], f"{result.parameters[name] / 1e18:.4%}")
    console.print(table)
    console.print(f"prove seconds: {result.prove_seconds:.2f}   setup/build seconds: {result.setup_seconds:.1f}")
    console.print(f"submitUpdate gas (commitment check + proof verification + storage): {result.submit_gas:,}")
    console.print(f"tx hash: {result.tx_hash}")
    console.print(f"anvil: {'started by the demo and stopped' if result.started_anvil else 'already running, reused'}")
    console.print("[bold green]verified on-chain[/]")
