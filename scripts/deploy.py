"""Deploy zkrisk to the connected network and write the deployment manifest.

    ape run deploy --network ethereum:local:foundry [OPTIONS]      (`ape run deploy --help` lists them)

Builds (or reuses) the production model's circuit for K markets per proof, deploys the system with its
VKA on EZKL's reusable verifier (oracle.chain.deploy.deploy_system), hands every admin role to the
timelock unless --keep-admin, and writes the manifest (addresses, model ids, VKA digest, chain id,
block) to --out, by default .zkrisk/deployments/<chain id>.json. Accounts are Ape aliases, or TEST::<i>
for the local test accounts (the defaults: deployer TEST::0, publishers TEST::1..3).

Every setting of `GovernanceConfig` and `Timing` is an option whose default is the dataclass's. The
contracts check the settings (quorum, timing, voting period, quorum fraction, the token split) in
their constructors, which `deploy_system` runs before any other transaction; a refusal is reported
as an error of the option it concerns.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand

from models.spec import WAD
from oracle.chain.deploy import (GovernanceConfig, Timing, contract_error, deploy_system, model_config_for_circuit,
                                 write_manifest)
from prover.toolchain import REPO_ROOT

GOVERNANCE = GovernanceConfig()
TIMING = Timing()

#: The contracts' custom errors that refuse a deployment setting, and the options behind each.
REFUSING_OPTIONS = {
    "InvalidQuorum": ["--quorum"],
    "InvalidTiming": ["--max-report-age", "--max-governance-report-age", "--staleness-period"],
    "GovernorInvalidVotingPeriod": ["--voting-period"],
    "GovernorInvalidQuorumFraction": ["--quorum-percent"],
    "ERC20InsufficientBalance": ["--holder", "--token-supply"],
}


def load_account(alias: str):
    from ape import accounts

    if alias.startswith("TEST::"):
        return accounts.test_accounts[int(alias.removeprefix("TEST::"))]
    return accounts.load(alias)


def address_of(account: str) -> str:
    return account if account.startswith("0x") else load_account(account).address


class Tokens(click.ParamType):
    """Whole tokens (decimals allowed) as the token's base units (18 decimals, like WAD)."""

    name = "tokens"

    def convert(self, value, param, ctx):
        try:
            units = Decimal(value) * WAD
        except InvalidOperation:
            units = None
        if units is None or units < 0 or units != units.to_integral_value():
            self.fail(f"{value!r} is not a token amount (non-negative, at most 18 decimals)", param, ctx)
        return int(units)


class Holder(click.ParamType):
    """ACCOUNT=TOKENS: an address or account alias and the tokens it receives."""

    name = "account=tokens"

    def convert(self, value, param, ctx):
        account, sep, amount = value.partition("=")
        if not (sep and account):
            self.fail(f"{value!r} is not ACCOUNT=TOKENS", param, ctx)
        return account, Tokens().convert(amount, param, ctx)


def as_tokens(units: int) -> str:
    return format(Decimal(units).scaleb(-18).normalize(), "f")


def setting(config, name: str, help: str, type=click.IntRange(min=0)):
    """An option for one field of `config`, defaulting to the dataclass's value."""
    default = getattr(config, name)
    return click.option("--" + name.replace("_", "-"), name, type=type, show_default=True, help=help,
                        default=as_tokens(default) if isinstance(type, Tokens) else default)


@click.command(cls=ConnectedProviderCommand)
@click.option("--k", "markets_per_proof", default=1, show_default=True, help="markets per proof (circuit K)")
@click.option("--model-id", default=1, show_default=True, help="on-chain model id")
@click.option("--deployer", default="TEST::0", show_default=True, help="deployer account alias")
@click.option("--publisher", "publishers", multiple=True, default=("TEST::1", "TEST::2", "TEST::3"),
              show_default=True, help="publisher account alias (repeat)")
@click.option("--quorum", type=click.IntRange(min=0), default=None,
              help="publishers needed for finality  [default: all]")
@click.option("--guardian", default=None, help="guardian account alias: pause, cancel queued proposals  "
              "[default: the deployer]")
@setting(TIMING, "max_report_age", "seconds: oldest report a keeper may submit (from its observation)")
@setting(TIMING, "max_governance_report_age", "seconds: oldest report an executed vote may apply")
@setting(TIMING, "staleness_period", "seconds after observation at which reads count as stale")
@setting(GOVERNANCE, "voting_delay", "blocks from proposal to the vote's start")
@setting(GOVERNANCE, "voting_period", "blocks the vote lasts")
@setting(GOVERNANCE, "proposal_threshold", "votes (tokens) needed to propose", Tokens())
@setting(GOVERNANCE, "quorum_percent", "percent of the supply that must vote (for or abstain) for a proposal to pass")
@setting(GOVERNANCE, "timelock_delay", "seconds between queueing and executing a passed proposal")
@setting(GOVERNANCE, "token_name", "votes token name", str)
@setting(GOVERNANCE, "token_symbol", "votes token symbol", str)
@setting(GOVERNANCE, "token_supply", "votes token supply (tokens), minted to the deployer", Tokens())
@click.option("--holder", "holders", type=Holder(), multiple=True,
              help="ACCOUNT=TOKENS: move TOKENS of the deployer's supply to ACCOUNT (address or alias; repeat); "
                   "a holder votes once it delegates")
@click.option("--keep-admin", is_flag=True, help="do not hand admin roles to the timelock (development only)")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="manifest path")
def cli(markets_per_proof, model_id, deployer, publishers, quorum, guardian, max_report_age,
        max_governance_report_age, staleness_period, holders, keep_admin, out, **governance):
    # `governance`: the GovernanceConfig settings but `holders` (the `setting` options above)
    from ape import chain
    from ape.exceptions import ContractLogicError

    from models.versions import load_version
    from prover.circuit import build_circuit

    split = {}
    for account, amount in holders:
        address = address_of(account)
        if address in split:
            raise click.BadParameter(f"{account} is given twice", param_hint="--holder")
        split[address] = amount
    owner = load_account(deployer)
    publisher_accounts = [load_account(a) for a in publishers]
    circuit = build_circuit(load_version(), markets_per_proof, progress=lambda message: click.echo(message))
    model = model_config_for_circuit(circuit, model_id)
    try:
        deployment = deploy_system(
            owner, publisher_accounts, [model], quorum=len(publishers) if quorum is None else quorum,
            guardian=load_account(guardian) if guardian else owner,
            timing=Timing(max_report_age, max_governance_report_age, staleness_period),
            governance=GovernanceConfig(**governance, holders=split), hand_over=not keep_admin)
    except ContractLogicError as error:
        refusal = contract_error(error)
        if refusal is None or refusal[0] not in REFUSING_OPTIONS:
            raise
        name, inputs = refusal
        arguments = ", ".join(f"{key}={value}" for key, value in inputs.items())
        raise click.BadParameter(f"refused by the contracts: {name}({arguments})",
                                 param_hint=REFUSING_OPTIONS[name]) from error
    path = write_manifest(deployment, out or REPO_ROOT / ".zkrisk" / "deployments" / f"{chain.chain_id}.json")
    click.echo(f"RiskOracle {deployment.oracle.address}, model {model_id} ({model.label}); manifest: {path}")
