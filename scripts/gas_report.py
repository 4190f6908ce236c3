"""Gas of the zkrisk protocol on anvil with real proofs; writes a markdown table.

    python scripts/gas_report.py [--ks 1,4,16] [--out docs/gas.md]

For each K: builds (or reuses) the production circuit over K markets, proves one update, deploys the
system (oracle.chain.deploy), has 2 of 3 publishers commit each market's input hash and submits the
proof. A batch needs K distinct markets and only BTC and ETH have bundled data, so the K input vectors
are the latest BTC and ETH windows cycled under fresh market ids (the market id is hashed with the window,
so each market's commitment differs; gas does not depend on which window it is). Also measured: reads
(eth_estimateGas, which includes the 21,000 intrinsic gas) and a proved governance proposal's steps.
Circuits other than the production K=1/K=2 ones are built under the key cache, not under circuits/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from models.spec import MARKETS, OUTPUTS  # noqa: E402
from models.versions import CIRCUITS_DIR, load_version  # noqa: E402
from prover.artifacts import cache_root  # noqa: E402
from prover.toolchain import ensure_node_tools_on_path, install_solc_shim  # noqa: E402

GOVERNANCE_MARKET = 1_000  # a market the governance proposal updates, apart from the measured batches


def batch_vectors(version, k: int, first_market: int = 1) -> np.ndarray:
    latest = [version.input_vector(symbol) for symbol in MARKETS]
    vectors = np.stack([latest[i % len(latest)] for i in range(k)])
    vectors[:, 0] = np.arange(first_market, first_market + k)
    return vectors


def build(version, k: int):
    from prover.circuit import build_circuit

    production = (CIRCUITS_DIR / version.model_id / version.version / f"k{k}" / "manifest.json").exists()
    circuits_dir = CIRCUITS_DIR if production else cache_root() / "gas-report-circuits"
    return build_circuit(version, k, circuits_dir=circuits_dir, progress=lambda message: print(f"  K={k}: {message}"))


def measure(ks: list[int], version) -> list[tuple[str, int, str]]:
    from ape import accounts, chain, networks

    from oracle.chain.deploy import (GovernanceConfig, ModelConfig, deploy_system, model_config_for_circuit,
                                     post_commitment, register_model, submit_update, update_arguments)
    from prover.proving import prove

    circuits = {k: build(version, k) for k in sorted({1, *ks})}
    # Each batch updates its own markets: a market updated twice would hit the min delay.
    first_markets = np.cumsum([1, *ks[:-1]])
    proofs = {k: prove(circuits[k], batch_vectors(version, k, int(first))) for k, first in zip(ks, first_markets)}
    governance_proof = prove(circuits[1], batch_vectors(version, 1, GOVERNANCE_MARKET))
    served = tuple(range(1, sum(ks) + 1)) + (GOVERNANCE_MARKET,)
    rows: list[tuple[str, int, str]] = []

    with networks.parse_network_choice("ethereum:local:foundry"):
        deployer, *publishers, keeper = accounts.test_accounts[:5]
        governance = GovernanceConfig(voting_delay=1, voting_period=5, timelock_delay=60)
        first = model_config_for_circuit(circuits[1], model_id=1, markets=served)
        system = deploy_system(deployer, publishers, first, quorum=2, governance=governance, hand_over=False)
        for k in ks:
            if k != 1:
                config = model_config_for_circuit(circuits[k], model_id=k, markets=served)
                receipt = register_model(system.oracle, config, system.verifier, deployer)
                rows.append((f"registerModel, K={k} (VKA {len(config.vka_words)} words stored as code)",
                             receipt.gas_used, "governance, once per circuit"))
        for k in ks:
            proof = proofs[k]
            markets, epochs = update_arguments(proof.vectors)
            commit_gas = []
            for i, (market, epoch) in enumerate(zip(markets, epochs)):
                commit_gas.append([r.gas_used for r in post_commitment(system.registry, publishers[:2], market, epoch,
                                                                       proof.input_hashes[i])])
            if k == ks[0]:
                rows.append(("commit, first publisher (opens the commitment)", commit_gas[0][0], "per market, epoch"))
                rows.append(("commit, quorum-reaching publisher (finalizes)", commit_gas[0][1], "per market, epoch"))
            receipt = submit_update(system.oracle, keeper, k, proof.proof, proof.instances, proof.vectors)
            rows.append((f"submitUpdate, K={k}", receipt.gas_used,
                         f"{receipt.gas_used // k:,} per market; proof verification, commitments, guardrails, storage"))

        oracle, feed = system.oracle, system.feeds[(1, "lt")]
        rows.append(("getRiskParameters", oracle.getRiskParameters.estimate_gas_cost(1), "eth_estimateGas"))
        rows.append(("getFreshRiskParameters", oracle.getFreshRiskParameters.estimate_gas_cost(1), "eth_estimateGas"))
        rows.append(("AggregatorV3 latestRoundData (LT feed)", feed.latestRoundData.estimate_gas_cost(),
                     "eth_estimateGas"))

        system.hand_over_to_timelock()
        (market,), (epoch,) = update_arguments(governance_proof.vectors)
        post_commitment(system.registry, publishers[:2], market, epoch, governance_proof.input_hashes[0])
        proposed = [(market, epoch, governance_proof.input_hashes[0].to_bytes(32, "big"),
                     [governance_proof.markets[0].wad[name] for name in OUTPUTS])]
        description = "gas report: proved parameter change"
        governor = system.governor
        proposal = governor.proposeRiskUpdate((1, [market], [epoch], governance_proof.proof,
                                               governance_proof.instances), proposed, description, sender=deployer)
        rows.append(("RiskGovernor.proposeRiskUpdate (verifies the proof)", proposal.gas_used, "K=1 proof"))
        targets, values, calldatas = governor.riskUpdateActions(1, proposed)
        from eth_utils import keccak

        digest = keccak(text=description)
        proposal_id = governor.hashProposal(targets, values, calldatas, digest)
        chain.mine(governance.voting_delay + 1)
        rows.append(("castVote", governor.castVote(proposal_id, 1, sender=deployer).gas_used, ""))
        chain.mine(governance.voting_period + 1)
        rows.append(("queue (timelock schedule)",
                     governor.queue(targets, values, calldatas, digest, sender=deployer).gas_used, ""))
        chain.mine(timestamp=chain.blocks.head.timestamp + governance.timelock_delay + 1)
        rows.append(("execute (applyGovernanceUpdate through the timelock)",
                     governor.execute(targets, values, calldatas, digest, sender=deployer).gas_used, ""))
    return rows


def markdown(rows: list[tuple[str, int, str]], label: str) -> str:
    lines = ["# Gas (anvil, solc 0.8.37 optimizer 200 runs, cancun)", "",
             f"Measured by `python scripts/gas_report.py` with real proofs of {label} on EZKL's",
             "reusable verifier (VKA read back from code). Transactions: gas used by the receipt; reads:",
             "eth_estimateGas including the 21,000 intrinsic gas.", "",
             "| operation | gas | notes |", "| --- | ---: | --- |"]
    lines += [f"| {name} | {gas:,} | {note} |" for name, gas, note in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default="1,4,16", help="markets per proof to measure")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "gas.md")
    args = parser.parse_args()
    ensure_node_tools_on_path()
    install_solc_shim()
    version = load_version()
    table = markdown(measure([int(k) for k in args.ks.split(",")], version), f"{version.model_id}@{version.version}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
