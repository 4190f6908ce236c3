"""`zkrisk demo`: one proved lending update and one proved options update, from bundled market data to
parameters read back on chain.

Steps: load the production lending version (the proved policy: max LTV and LT) and the options-margin
version → build (or reuse) their K=1 circuits and keys → connect to anvil at `rpc` (ape-foundry
starts one there if none is listening, and stops only what it started) → deploy the system with both
models → for each model: two of three publishers each recompute the market's latest window from their
own copy of the data and sign its report (off chain, no transaction) → prove from the policy state
stored on chain → one `submitUpdate` carries the signatures and the proof → read the stored values
back and check they equal the proved outputs.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from rich.console import Console
from rich.table import Table

from models.spec import LENDING, OPTIONS, Layout, market_id
from models.versions import OPTIONS_PRODUCTION, PRODUCTION, load_version
from prover.toolchain import ensure_node_tools_on_path, install_solc_shim

#: on-chain model ids of the demo's circuits (lending, options), both K=1
DEMO_MODEL_IDS = {LENDING.layout_id: 1, OPTIONS.layout_id: 11}
PUBLISHER_QUORUM = 2
DAY = 86_400


class DemoError(RuntimeError):
    """The demo's on-chain read-back disagrees with the proof, or a publisher disagrees with the data."""


@dataclass(frozen=True)
class PublishedUpdate:
    model: str
    layout: Layout
    epoch: int
    observed_at: int
    parameters: dict[str, int]
    state_before: dict[str, float] | None
    prove_seconds: float
    submit_gas: int
    tx_hash: str
    max_abs_error_bps: float


@dataclass(frozen=True)
class DemoResult:
    market: str
    updates: list[PublishedUpdate]
    setup_seconds: float
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
    from oracle.feed import ReplayFeed
    from oracle.publisher import LocalPublisher, ReportRequest
    from prover.circuit import build_circuit, circuits_root
    from prover.proving import prove

    console = console or Console()
    ensure_node_tools_on_path()
    install_solc_shim()
    mid = market_id(market)
    versions = [load_version(*PRODUCTION), load_version(*OPTIONS_PRODUCTION)]
    console.print(f"[bold]zkrisk demo[/] — market {market}, models "
                  + ", ".join(f"{v.model_id}@{v.version} ({v.layout.name})" for v in versions))
    with console.status("building circuits and keys (first run: a few minutes)") as status:
        started = time.perf_counter()
        circuits = [build_circuit(v, 1, circuits_dir=circuits_root(v, 1), progress=status.update) for v in versions]
        setup_seconds = time.perf_counter() - started

    with local_chain(rpc) as started_anvil, console.status("deploying") as status:
        from ape import accounts, chain
        from eth_account import Account

        from oracle.chain.deploy import (LOCAL_GOVERNANCE, card_guards, deploy_system, model_config_for_circuit,
                                         stored_state, submit_update)
        from oracle.reports import Domain

        deployer, *publisher_accounts, keeper = accounts.test_accounts[:5]
        configs = [model_config_for_circuit(c, DEMO_MODEL_IDS[c.version.layout.layout_id]) for c in circuits]
        deployment = deploy_system(deployer, publisher_accounts, configs, quorum=PUBLISHER_QUORUM,
                                   guards={v.layout.layout_id: card_guards(v.card) for v in versions},
                                   governance=LOCAL_GOVERNANCE)
        oracle = deployment.oracle
        domain = Domain(chain.chain_id, oracle.address)
        updates = []
        for version, circuit, config in zip(versions, circuits, configs):
            key, layout = f"{version.model_id}@{version.version}", version.layout
            epoch = ReplayFeed(version).latest_epoch(market)
            status.update(f"{key}: {PUBLISHER_QUORUM} publishers sign the {market} report of epoch {epoch}")
            request = ReportRequest(key, circuit.input_scale, ((market.upper(), epoch),))
            # each publisher recomputes the report from its own copy of the data
            signed = [LocalPublisher(Account.from_key(a.private_key), {key: ReplayFeed(version)}).sign(domain, request)
                      for a in publisher_accounts[:PUBLISHER_QUORUM]]
            if len({s.reports for s in signed}) != 1:
                raise DemoError(f"{key}: the publishers computed different reports for {market} epoch {epoch}")
            reports = list(signed[0].reports)
            # replayed history: the dev chain's clock goes to the day the data was observed
            chain.provider.make_request("anvil_setTime", [reports[0].observed_at + 3_600])
            chain.mine()
            state = stored_state(oracle, layout, [mid])
            status.update(f"{key}: proving {market} epoch {epoch}")
            vector = ReplayFeed(version).observe(market.upper(), epoch).vector
            proof = prove(circuit, vector[None, :], state)
            if proof.input_hashes[0].to_bytes(32, "big") != reports[0].input_hash:
                raise DemoError(f"{key}: the proof's input hash is not the one the publishers signed")
            status.update(f"{key}: submitting the proof and {PUBLISHER_QUORUM} signatures")
            receipt = submit_update(oracle, keeper, config.model_id, reports, [s.signature for s in signed],
                                    proof.proof, proof.instances)
            values, observed_at, stored_epoch, _ = oracle.getParameters(mid, layout.layout_id)
            parameters = dict(zip(layout.names, (int(v) for v in values)))
            if parameters != proof.markets[0].wad or int(stored_epoch) != epoch:
                raise DemoError(f"{key}: on-chain {parameters} (epoch {stored_epoch}) differ from the proved "
                                f"{proof.markets[0].wad} (epoch {epoch})")
            updates.append(PublishedUpdate(
                key, layout, epoch, int(observed_at), parameters,
                None if state is None else dict(zip(layout.state, (float(x) for x in state[0]))),
                proof.prove_seconds, int(receipt.gas_used), str(receipt.txn_hash), proof.max_abs_error_bps))
    result = DemoResult(market.upper(), updates, setup_seconds, started_anvil)
    _print_summary(console, result)
    return result


def _print_summary(console: Console, result: DemoResult) -> None:
    for update in result.updates:
        table = Table(title=f"{result.market} {update.layout.name} parameters ({update.model}), epoch {update.epoch}")
        table.add_column("parameter")
        table.add_column("kind")
        table.add_column("on chain", justify="right")
        for output in update.layout.outputs:
            table.add_row(output.name, output.kind.value, f"{update.parameters[output.name] / 1e18:.4%}")
        if update.layout is LENDING:
            max_ltv = update.parameters["max_ltv"] / 1e18
            table.add_row("collateral ratio (1 / max_ltv)", "policy", f"{1 / max_ltv:.4%}")
        console.print(table)
        if update.state_before is not None:
            console.print("stepped from the stored policy state "
                          + ", ".join(f"{k} {v:.4f}" for k, v in update.state_before.items()))
        console.print(f"prove {update.prove_seconds:.1f} s, max |circuit − float| {update.max_abs_error_bps:.2f} bp, "
                      f"submitUpdate gas (2 signatures + proof + checks + storage) {update.submit_gas:,}, "
                      f"tx {update.tx_hash}")
    console.print(f"setup/build seconds: {result.setup_seconds:.1f}")
    console.print(f"anvil: {'started by the demo and stopped' if result.started_anvil else 'already running, reused'}")
    console.print("[bold green]verified on-chain[/]: "
                  + "; ".join(f"{u.model} epoch {u.epoch}" for u in result.updates))
