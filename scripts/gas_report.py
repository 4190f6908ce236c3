"""Gas of a zkrisk update on anvil with real proofs, per batch size K; writes JSON and a markdown table.

    python scripts/gas_report.py [--ks 1,2,16] [--json bench-results/gas.json] [--out docs/gas.md]

For each K: builds (or reuses) the production lending circuit over K markets, registers it on EZKL's
reusable verifier (VKA stored as code) and, where the circuit's plain verifier fits EIP-170, on its
plain verifier too; then proves and submits two consecutive epochs of the same K markets, each one
transaction carrying the reports, two publishers' signatures and the proof. The second submission is
the steady state (every stored slot already written): `per_market_epoch_total_gas` is its gas
divided by K, everything on chain one market's update at one epoch needs. `verify_gas` is a
verifyProof transaction on the verifier alone. A batch needs K distinct markets and only BTC and ETH
have bundled data, so K > 2 uses the latest BTC and ETH windows under synthetic market ids (the id
is hashed with the window; gas does not depend on the data). Circuits other than the committed K=1
and K=2 are built under the key cache, not under circuits/.
Sections of docs/gas.md that other benchmarks write (scripts/gas_sections.py) are kept.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from models.spec import LENDING, MARKETS  # noqa: E402
from models.versions import load_version  # noqa: E402
from prover.toolchain import ensure_node_tools_on_path, install_solc_shim  # noqa: E402

from gas_sections import kept_sections  # noqa: E402  (scripts/, the script's own folder)

DAY = 86_400
VERIFIERS = ("reusable", "plain")


def batch_markets(k: int, ks: list[int], verifier: str) -> list[int]:
    """The markets one batch updates: BTC (and ETH) for the reusable verifier's first K if it is at most
    2, otherwise synthetic ids after the real ones, a separate range per (verifier, K) so no batch
    replays another's epochs (ids stay small: see models.spec.MAX_MARKET_ID)."""
    if verifier == "reusable" and k == ks[0] and k <= len(MARKETS):
        return list(MARKETS.values())[:k]
    base = max(MARKETS.values()) + 1
    for v in VERIFIERS:
        for size in ks:
            if (v, size) == (verifier, k):
                return [base + i for i in range(k)]
            base += size
    raise ValueError(f"K={k} is not among {ks}")


def batch_vectors(version, markets: list[int], end) -> np.ndarray:
    """Input vectors of `markets` for the window ending on `end`: BTC's and ETH's windows cycled, each
    under its market's id."""
    latest = [version.input_vector(symbol, end=end) for symbol in MARKETS]
    vectors = np.stack([latest[i % len(latest)] for i in range(len(markets))])
    vectors[:, 0] = markets
    return vectors


def fmt(values: dict[str, int], k: str) -> str:
    return f"{values[k]:,}" if k in values else "—"


def measure(ks: list[int], version, max_logrows: int | None = None) -> dict[str, Any]:
    import pandas as pd
    from ape import accounts, chain, networks

    from oracle.chain.deploy import (LOCAL_GOVERNANCE, ModelConfig, Timing, card_guards, deploy_system,
                                     deploy_verifier, model_config_for_circuit, register_model, stored_state,
                                     submit_update)
    from oracle.reports import Domain, Report, data_hash, sign_reports
    from prover.circuit import PRODUCTION_PLAN, build_circuit, circuits_root
    from prover.evm import (PLAIN_VERIFIER_NAME, compile_verifier, local_chain, deploy_plain_verifier,
                            deploy_reusable_verifier, render_plain_verifier)
    from prover.proving import prove

    # the production plan caps logrows at 15 (K=16); larger batches are measured with a higher cap
    plan = PRODUCTION_PLAN if max_logrows is None else replace(PRODUCTION_PLAN, max_logrows=max_logrows)
    circuits = {k: build_circuit(version, k, plan, circuits_dir=circuits_root(version, k),
                                 progress=lambda message, k=k: print(f"  K={k}: {message}", flush=True))
                for k in ks}
    last = version.market_data("BTC").hourly.index[-1].normalize()
    ends = (last - pd.Timedelta("2D"), last - pd.Timedelta("1D"))
    result: dict[str, Any] = {"submit_update_gas": {}, "first_submit_gas": {},
                              "verify_gas": {}, "plain_verify_gas": {}, "plain_submit_update_gas": {},
                              "plain_per_market_epoch_total_gas": {}, "plain_verifier_bytes": {}, "prove_seconds": {},
                              "instances": {}, "logrows": {}, "rows": []}
    plain_sources = Path(tempfile.mkdtemp(prefix="zkrisk-gas-"))
    # verification alone, on a private anvil (the verifier contracts by themselves)
    with local_chain() as private:
        for k, circuit in circuits.items():
            vectors = batch_vectors(version, batch_markets(k, ks, "reusable"), ends[0])
            proof = prove(circuit, vectors, np.array([LENDING.initial_state] * k))
            result["prove_seconds"][str(k)] = round(proof.prove_seconds, 2)
            result["instances"][str(k)] = len(proof.instances)
            result["logrows"][str(k)] = circuit.logrows
            accepted, gas = deploy_reusable_verifier(private, circuit).verify(proof.proof, proof.instances)
            assert accepted, f"K={k}: the reusable verifier rejected a valid proof"
            result["verify_gas"][str(k)] = gas
            with_key = plain_sources / f"k{k}.sol"
            size = int(compile_verifier(render_plain_verifier(circuit, with_key), PLAIN_VERIFIER_NAME)["runtime_size"])
            result["plain_verifier_bytes"][str(k)] = size
            if size <= 24_576:
                accepted, gas = deploy_plain_verifier(private, circuit).verify(proof.proof, proof.instances)
                result["plain_verify_gas"][str(k)] = gas

    with networks.parse_network_choice("ethereum:local:foundry"):
        deployer, *publishers, keeper = accounts.test_accounts[:5]
        signers = publishers[:2]
        served = sorted({m for k in ks for verifier in VERIFIERS for m in batch_markets(k, ks, verifier)})
        # BTC and ETH get the card's guards; synthetic markets bounds only (their policy constants are 0)
        guards = {LENDING.layout_id: card_guards(version.card)}
        first = model_config_for_circuit(circuits[ks[0]], model_id=ks[0], markets=served)
        chain.provider.make_request("anvil_setTime", [int((ends[0] + pd.Timedelta("1D")).timestamp()) + 3_600])
        chain.mine()
        system = deploy_system(deployer, publishers[:3], [first], quorum=2, governance=LOCAL_GOVERNANCE,
                               timing=Timing(), guards=guards, hand_over=False,
                               feeds=[(MARKETS["BTC"], "lt")])
        oracle = system.oracle
        plain_ids = {}
        for k in ks:
            if k != ks[0]:
                config = model_config_for_circuit(circuits[k], model_id=k, markets=served)
                receipt = register_model(oracle, config, system.verifier, deployer)
                result["rows"].append((f"registerModel K={k} (VKA {len(config.vka_words)} words as code)",
                                       receipt.gas_used, "governance, once per circuit"))
            if str(k) in result["plain_verify_gas"]:
                from ape.contracts import ContractContainer
                from ethpm_types import ContractType

                compiled = compile_verifier(plain_sources / f"k{k}.sol", PLAIN_VERIFIER_NAME)
                plain = deployer.deploy(ContractContainer(ContractType.model_validate({
                    "contractName": PLAIN_VERIFIER_NAME, "abi": compiled["abi"],
                    "deploymentBytecode": {"bytecode": compiled["bytecode"]}})))
                plain_ids[k] = 1_000 + k
                register_model(oracle, ModelConfig(plain_ids[k], LENDING, circuits[k].input_scale, tuple(served), k,
                                                   verifier=plain.address), plain.address, deployer)
        domain = Domain(chain.chain_id, oracle.address)
        for label, ids in (("reusable", {k: k for k in ks}), ("plain", plain_ids)):
            for k, model_id in ids.items():
                markets = batch_markets(k, ks, label)
                for step, end in enumerate(ends):
                    epoch = int(end.normalize().value // (DAY * 10**9)) + 1
                    if chain.blocks.head.timestamp < epoch * DAY:
                        chain.provider.make_request("anvil_setTime", [epoch * DAY + 3_600])
                        chain.mine()
                    vectors = batch_vectors(version, markets, end)
                    state = stored_state(oracle, LENDING, markets)
                    proof = prove(circuits[k], vectors, state)
                    windows = [version.window_data(symbol, end) for symbol in MARKETS]
                    reports = [Report(m, epoch, proof.input_hashes[i].to_bytes(32, "big"),
                                      data_hash(windows[i % len(windows)]), epoch * DAY)
                               for i, m in enumerate(markets)]
                    signatures = [sign_reports(p.private_key, domain, reports) for p in signers]
                    receipt = submit_update(oracle, keeper, model_id, reports, signatures, proof.proof, proof.instances)
                    if label == "reusable":
                        key = "first_submit_gas" if step == 0 else "submit_update_gas"
                    else:
                        key = "plain_submit_update_gas" if step == 1 else None
                    if key:
                        result[key][str(k)] = receipt.gas_used
                    print(f"  {label} K={k} epoch {epoch}: {receipt.gas_used:,} gas", flush=True)
            if label == "reusable":
                result["reusable_per_market_epoch_total_gas"] = {k: v // int(k)
                                                                 for k, v in result["submit_update_gas"].items()}
        result["plain_per_market_epoch_total_gas"] = {k: v // int(k) for k, v in result["plain_submit_update_gas"].items()}
        shutil.rmtree(plain_sources, ignore_errors=True)
        if MARKETS["BTC"] in batch_markets(ks[0], ks, "reusable"):  # reads need BTC's values on chain
            result["rows"] += [
                ("getRiskParameters", oracle.getRiskParameters.estimate_gas_cost(MARKETS["BTC"]), "eth_estimateGas"),
                ("getParameters (lending layout)", oracle.getParameters.estimate_gas_cost(MARKETS["BTC"], LENDING.layout_id),
                 "eth_estimateGas"),
                ("AggregatorV3 latestRoundData (LT feed)", system.feeds[(MARKETS["BTC"], "lt")].latestRoundData.estimate_gas_cost(),
                 "eth_estimateGas")]
    return with_best(result)


def with_best(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's keys (`per_market_epoch_total_gas`, `submit_update_gas`, `verify_gas`) for what a
    deployment uses at each K: the plain verifier where it fits EIP-170 and costs less, else the
    reusable one (whose figures stay under `reusable_*`; the plain ones under `plain_*`)."""
    if "reusable_submit_update_gas" not in result:
        for key in ("submit_update_gas", "verify_gas"):
            result[f"reusable_{key}"] = dict(result[key])
    best_submit, best_verify, verifier = {}, {}, {}
    for k, reusable in result["reusable_submit_update_gas"].items():
        plain = result["plain_submit_update_gas"].get(k)
        use_plain = plain is not None and plain < reusable
        verifier[k] = "plain" if use_plain else "reusable"
        best_submit[k] = plain if use_plain else reusable
        best_verify[k] = result["plain_verify_gas"][k] if use_plain else result["reusable_verify_gas"][k]
    result.update(submit_update_gas=best_submit, verify_gas=best_verify, verifier=verifier,
                  per_market_epoch_total_gas={k: v // int(k) for k, v in best_submit.items()})
    return result


def markdown(result: dict[str, Any], label: str) -> str:
    lines = ["# Gas (anvil; contracts via solc 0.8.37 IR, verifiers 200 runs, cancun)", "",
             f"Measured by `python scripts/gas_report.py` with real proofs of {label}. One transaction per update:",
             "reports, two publisher signatures and the proof. Steady state: the second epoch of the same markets.", "",
             "| K | logrows | instances | prove s | verify (reusable) | submitUpdate first | submitUpdate steady | "
             "per market-epoch | plain verifier bytes | verify (plain) | per market-epoch (plain) | "
             "**per market-epoch, deployed verifier** |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k in result["submit_update_gas"]:
        lines.append(f"| {k} | {result['logrows'][k]} | {result['instances'][k]} | {result['prove_seconds'][k]} | "
                     f"{fmt(result['reusable_verify_gas'], k)} | {fmt(result['first_submit_gas'], k)} | "
                     f"{fmt(result['reusable_submit_update_gas'], k)} | "
                     f"{fmt(result['reusable_per_market_epoch_total_gas'], k)} | "
                     f"{fmt(result['plain_verifier_bytes'], k)} | {fmt(result['plain_verify_gas'], k)} | "
                     f"{fmt(result['plain_per_market_epoch_total_gas'], k)} | "
                     f"**{fmt(result['per_market_epoch_total_gas'], k)}** ({result['verifier'][k]}) |")
    lines += ["", "| operation | gas | notes |", "| --- | ---: | --- |"]
    lines += [f"| {name} | {gas:,} | {note} |" for name, gas, note in result["rows"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default="1,2,16", help="markets per proof to measure")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench-results" / "gas.json")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "gas.md")
    parser.add_argument("--max-logrows", type=int, default=None, help="raise the production plan's logrows cap for batches built in the key cache "
                                                                        "(K=32 needs 16, K=64 17)")
    args = parser.parse_args()
    ensure_node_tools_on_path()
    install_solc_shim()
    version = load_version()
    started = time.time()
    result = measure([int(k) for k in args.ks.split(",")], version, args.max_logrows)
    result["seconds"] = round(time.time() - started)
    table = markdown(result, f"{version.model_id}@{version.version}")
    for path, text in ((args.json, json.dumps(result, indent=1) + "\n"), (args.out, table + kept_sections(args.out))):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(table)


if __name__ == "__main__":
    main()
