"""A deployed system with one real, published update and its proof bundle: what the audit, governance
and service-audit tests start from. Plain functions (not fixtures) so each test module scopes its own.

The deployment is the real one (`deploy_system`): the production circuit's VKA on EZKL's reusable
verifier, the model card's guards, four publishers and k = 2. Before the update the fourth publisher
is revoked (its later signatures must not count); after it, the third is, which must not change the
audit of the update (the audit reads the publisher set at the update's block).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from models.features import DAY, epoch_start
from models.spec import MARKETS
from models.versions import MarketData, ModelVersion
from oracle.bundle import BUNDLED_SOURCE, Bundle, ChainRecord, RawData, ReportBatch
from oracle.chain.deploy import (Deployment, GovernanceConfig, card_guards, deploy_system, model_config_for_circuit,
                                 submit_update)
from oracle.reports import Domain, Report, Signature, data_hash, sign_reports

MODEL_ID = 1
QUORUM = 2
DAY_SECONDS = int(DAY.total_seconds())
#: Short governance periods so a whole vote fits in a test (blocks, and seconds for the timelock).
GOVERNANCE = GovernanceConfig(voting_delay=1, voting_period=5, proposal_threshold=0, timelock_delay=60)


@dataclass(frozen=True)
class Published:
    deployment: Deployment
    publishers: list[Any]
    #: a publisher revoked before the update, and one revoked after it
    revoked_before: Any
    revoked_after: Any
    keeper: Any
    receipt: Any
    bundle: Bundle
    bundle_path: Path


def set_time(chain: Any, timestamp: int) -> None:
    """Move the chain clock (anvil allows going back: reports carry the bundled data's real days)."""
    chain.provider.make_request("anvil_setTime", [int(timestamp)])
    chain.mine()


def deploy(accounts: Any, circuit: Any, *, hand_over: bool = True, publishers: int = 3,
           governance: GovernanceConfig = GOVERNANCE,
           guards: dict[int, dict[int, list[tuple[int, int, int, int]]]] | None = None
           ) -> tuple[Deployment, list[Any], Any]:
    """The whole system for one production circuit, `publishers` publishers and k = 2, with the model
    card's guards unless `guards` (layout id → market id → guard tuples) are given."""
    deployer, keeper = accounts[0], accounts[8]
    signers = list(accounts[1:1 + publishers])
    model = model_config_for_circuit(circuit, MODEL_ID)
    guards = guards or {circuit.version.layout.layout_id: card_guards(circuit.version.card)}
    deployment = deploy_system(deployer, signers, [model], quorum=QUORUM, guards=guards, governance=governance,
                               hand_over=hand_over)
    return deployment, signers, keeper


def reports_for(version: ModelVersion, proof: Any, symbols: Sequence[str]) -> tuple[list[Report], list[MarketData]]:
    """Each market's report of a proof over the bundled bars, observed when its last bar closed."""
    reports, windows = [], []
    for i, symbol in enumerate(symbols):
        vector = proof.vectors[i]
        epoch = int(vector[1])
        data = version.window_data(symbol, end=epoch_start(epoch) - DAY)  # the window ends the day before
        reports.append(Report(int(vector[0]), epoch, proof.input_hashes[i].to_bytes(32, "big"), data_hash(data),
                              epoch * DAY_SECONDS))
        windows.append(data)
    return reports, windows


def sign(deployment: Deployment, signers: Sequence[Any], reports: Sequence[Report]) -> list[Signature]:
    domain = Domain(deployment.chain_id, deployment.oracle.address)
    return [sign_reports(s.private_key, domain, reports) for s in signers]


def publish(accounts: Any, chain: Any, circuit: Any, proof: Any, directory: Path) -> Published:
    """Deploy (deployer still governing), revoke one publisher, submit the proof signed by two, revoke
    another, and write the update's bundle."""
    deployment, publishers, keeper = deploy(accounts, circuit, hand_over=False, publishers=4)
    version = circuit.version
    symbols = [s for s, mid in MARKETS.items() if mid in {int(v[0]) for v in proof.vectors}]
    reports, windows = reports_for(version, proof, symbols)
    owner = {"sender": deployment.deployer}
    deployment.oracle.setPublisher(publishers[3].address, False, **owner)
    set_time(chain, reports[0].observed_at + 3_600)
    signatures = sign(deployment, publishers[:QUORUM], reports)
    receipt = submit_update(deployment.oracle, keeper, MODEL_ID, reports, signatures, proof.proof, proof.instances)
    deployment.oracle.setPublisher(publishers[2].address, False, **owner)
    record = ChainRecord.from_manifest(deployment.to_manifest(), MODEL_ID, str(receipt.txn_hash),
                                      int(receipt.block_number), int(receipt.status), int(receipt.gas_used))
    batch = ReportBatch(Domain(deployment.chain_id, deployment.oracle.address), reports, signatures)
    bundle = Bundle.for_update(circuit, proof, [RawData(dict(BUNDLED_SOURCE), w) for w in windows], batch, record)
    return Published(deployment, publishers, publishers[3], publishers[2], keeper, receipt, bundle,
                     bundle.save(directory / "update.json"))
