"""A deployed system with one real, published update and its proof bundle: what the auditor, governance
and dashboard tests start from. Plain functions (not fixtures) so each test module scopes its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.spec import MARKETS
from oracle.bundle import BUNDLED_SOURCE, Bundle, ChainRecord, build_bundle
from oracle.chain.deploy import (DEFAULT_GUARDRAILS, Deployment, GovernanceConfig, Guardrail, ModelConfig, deploy_system,
                                 publish_proved_update)

MODEL_ID = 1
#: Short governance periods so a whole vote fits in a test (blocks, and seconds for the timelock).
GOVERNANCE = GovernanceConfig(voting_delay=1, voting_period=5, timelock_delay=60)


@dataclass(frozen=True)
class Published:
    deployment: Deployment
    publishers: list[Any]
    keeper: Any
    receipt: Any
    bundle: Bundle
    bundle_path: Path


def deploy(accounts: Any, circuit: Any, vka: list[bytes],
           guardrails: dict[str, Guardrail] = DEFAULT_GUARDRAILS) -> tuple[Deployment, list[Any], Any]:
    """The whole system for the K=1 production circuit, 2-of-3 publishers, governed by the timelock."""
    deployer, *publishers, keeper = accounts[:5]
    model = ModelConfig(model_id=MODEL_ID, output_scale=circuit.output_scale, markets=tuple(MARKETS.values()),
                        vka_words=vka, label=f"{circuit.version.model_id}@{circuit.version.version} K=1")
    deployment = deploy_system(deployer, publishers, model, quorum=2, governance=GOVERNANCE, guardrails=guardrails)
    return deployment, publishers, keeper


def publish(accounts: Any, circuit: Any, proof: Any, vka: list[bytes], directory: Path) -> Published:
    """Deploy, commit (2 of 3 publishers), submit the proof, and write the update's bundle."""
    deployment, publishers, keeper = deploy(accounts, circuit, vka)
    receipt = publish_proved_update(deployment, publishers[:2], keeper, MODEL_ID, proof.proof, proof.instances,
                                    proof.vectors)
    chain = ChainRecord.from_manifest(deployment.to_manifest(), MODEL_ID, str(receipt.txn_hash),
                                      int(receipt.block_number), int(receipt.gas_used))
    frames = {s: circuit.version.market_frame(s) for s in MARKETS}
    bundle = build_bundle(circuit, proof, frames, {s: BUNDLED_SOURCE for s in MARKETS}, chain=chain)
    return Published(deployment, publishers, keeper, receipt, bundle, bundle.save(directory / "update.json"))
