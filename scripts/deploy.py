"""Deploy zkrisk to the connected network and write the deployment manifest.

    ape run deploy --network ethereum:local:foundry [--k 1] [--model-id 1] [--quorum 2] [--out PATH]

Builds (or reuses) the production model's circuit for K markets per proof, deploys the system with its
VKA on EZKL's reusable verifier (oracle.chain.deploy.deploy_system), hands every admin role to the
timelock unless --keep-admin, and writes the manifest (addresses, model ids, VKA digest, chain id,
block) to --out, by default .zkrisk/deployments/<chain id>.json. Accounts are Ape aliases, or TEST::<i>
for the local test accounts (the defaults: deployer TEST::0, publishers TEST::1..3).
"""

from __future__ import annotations

from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand

from oracle.chain.deploy import deploy_system, model_config_for_circuit, write_manifest
from prover.toolchain import REPO_ROOT


def load_account(alias: str):
    from ape import accounts

    if alias.startswith("TEST::"):
        return accounts.test_accounts[int(alias.removeprefix("TEST::"))]
    return accounts.load(alias)


@click.command(cls=ConnectedProviderCommand)
@click.option("--k", "markets_per_proof", default=1, show_default=True, help="markets per proof (circuit K)")
@click.option("--model-id", default=1, show_default=True, help="on-chain model id")
@click.option("--deployer", default="TEST::0", show_default=True, help="deployer account alias")
@click.option("--publisher", "publishers", multiple=True, default=("TEST::1", "TEST::2", "TEST::3"),
              show_default=True, help="publisher account alias (repeat)")
@click.option("--quorum", type=int, default=None, help="publishers needed for finality (default: all)")
@click.option("--guardian", default=None, help="guardian account alias (default: the deployer)")
@click.option("--keep-admin", is_flag=True, help="do not hand admin roles to the timelock (development only)")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="manifest path")
def cli(markets_per_proof, model_id, deployer, publishers, quorum, guardian, keep_admin, out):
    from ape import chain

    from models.versions import load_version
    from prover.circuit import build_circuit

    circuit = build_circuit(load_version(), markets_per_proof, progress=lambda message: click.echo(message))
    model = model_config_for_circuit(circuit, model_id)
    owner = load_account(deployer)
    deployment = deploy_system(owner, [load_account(a) for a in publishers], model, quorum=quorum,
                               guardian=load_account(guardian) if guardian else owner, hand_over=not keep_admin)
    path = write_manifest(deployment, out or REPO_ROOT / ".zkrisk" / "deployments" / f"{chain.chain_id}.json")
    click.echo(f"RiskOracle {deployment.oracle.address}, model {model_id} ({model.label}); manifest: {path}")
