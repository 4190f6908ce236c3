"""deploy_system's defaults (hand-over to the timelock), the guards, models and feeds it wires, the
manifest it writes, VKA registration on EZKL's reusable verifier, and `ape run deploy`
(scripts/deploy.py): its options reach the chain and the contracts' refusals name the option."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import fields
from pathlib import Path

import ape
import click
import pytest
from click.testing import CliRunner
from eth_utils import keccak

from chain_helpers import BTC, ETH, LENDING_GUARDS, PLACEHOLDER_VKA, guards_by_layout
from models.spec import LAYOUTS, LENDING, OPTIONS, WAD
from oracle.chain.deploy import (GovernanceConfig, ModelConfig, Timing, deploy_system, register_model, sanity_guards,
                                 write_manifest)

pytestmark = pytest.mark.chain

MODEL = ModelConfig(model_id=5, layout=LENDING, input_scale=13, markets=(BTC, ETH), vka_words=PLACEHOLDER_VKA,
                    label="m@1 K=1")
FEEDS = [(BTC, "lt"), (BTC, "max_ltv"), (ETH, "lt")]


@pytest.fixture(scope="module")
def deployment(owner, publishers, guardian, system):
    return deploy_system(owner, publishers, [MODEL], quorum=2, guardian=guardian, guards=guards_by_layout(),
                         feeds=FEEDS)


def test_deploy_system_hands_over_and_writes_manifest(deployment, publishers, guardian, chain, tmp_path):
    manifest = json.loads(write_manifest(deployment, tmp_path / "deployment.json").read_text())
    assert manifest["chain_id"] == chain.chain_id and manifest["block"] == deployment.block
    assert manifest["governance"] == deployment.timelock.address and manifest["guardian"] == guardian.address
    assert (manifest["publishers"], manifest["quorum"]) == ([p.address for p in publishers], 2)
    assert manifest["layouts"] == {layout.name: layout.layout_id for layout in LAYOUTS.values()}
    [entry] = manifest["models"]
    assert entry == {"model_id": 5, "label": "m@1 K=1", "layout": LENDING.name, "input_scale": 13,
                     "markets_per_proof": 1, "markets": [BTC, ETH], "verifier": deployment.verifier,
                     "vka_digest": "0x" + keccak(b"".join(PLACEHOLDER_VKA)).hex(), "vka_words": len(PLACEHOLDER_VKA)}
    for address in [*manifest["contracts"].values(), *(feed["address"] for feed in manifest["feeds"])]:
        assert len(chain.provider.get_code(address)) > 0
    assert {(f["market_id"], f["parameter"]) for f in manifest["feeds"]} == set(FEEDS)
    oracle = deployment.oracle
    assert oracle.hasRole(oracle.GOVERNANCE_ROLE(), deployment.timelock.address)
    assert not oracle.hasRole(oracle.GOVERNANCE_ROLE(), deployment.deployer.address)
    assert tuple(oracle.timing()) == Timing().as_tuple()


def test_deploy_system_sets_card_guards_for_lending_and_bounds_only_for_options(deployment):
    oracle = deployment.oracle
    for market in (BTC, ETH):
        assert [tuple(g) for g in oracle.getGuards(market, LENDING.layout_id)] == list(LENDING_GUARDS[market])
        assert [tuple(g) for g in oracle.getGuards(market, OPTIONS.layout_id)] == sanity_guards(OPTIONS)


def test_deploy_system_stores_vka_as_code_registered_on_the_reusable_verifier(deployment, chain):
    model = deployment.oracle.getModel(MODEL.model_id)
    assert model.verifier == deployment.verifier and model.vkaWords == len(PLACEHOLDER_VKA)
    assert bytes(model.vkaDigest) == keccak(b"".join(PLACEHOLDER_VKA))
    assert bytes(chain.provider.get_code(model.vkaPointer)) == b"\x00" + b"".join(PLACEHOLDER_VKA)


def test_deploy_system_feed_reads_its_parameter(deployment):
    feed = deployment.feeds[(BTC, "max_ltv")]
    assert (feed.MARKET_ID(), feed.PARAMETER_ID()) == (BTC, LENDING.output("max_ltv").parameter_id)


def test_deploy_system_without_verifier_or_vka_raises(owner, publishers):
    with pytest.raises(ValueError, match="VKA words"):
        deploy_system(owner, publishers, [ModelConfig(model_id=5, layout=LENDING, input_scale=13, markets=(BTC,))],
                      quorum=2)


def test_registerModel_vka_over_code_size_reverts_VkaTooLarge(system, deployment, owner):
    too_large = ModelConfig(model_id=6, layout=LENDING, input_scale=13, markets=(BTC,),
                            vka_words=[PLACEHOLDER_VKA[0]] * 768)
    with ape.reverts(system.oracle.VkaTooLarge, words=768):
        register_model(system.oracle, too_large, deployment.verifier, owner)


def _deploy_script():
    path = Path(__file__).resolve().parents[2] / "scripts" / "deploy.py"
    spec = importlib.util.spec_from_file_location("deploy_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEPLOY = _deploy_script().cli


def run_deploy(chain, *args: str):
    """`ape run deploy ARGS` in this process, on the session's anvil (the command connects to the provider
    it is handed and leaves it connected)."""
    return CliRunner().invoke(DEPLOY, list(args), obj={"provider": chain.provider})


def test_deploy_script_has_an_option_for_every_setting():
    names = {param.name for param in DEPLOY.params}
    assert {f.name for f in (*fields(GovernanceConfig), *fields(Timing))} <= names


def test_deploy_script_options_table_in_docs_shows_the_command_defaults():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "contracts.md").read_text()
    rows = dict(re.findall(r"^\| `(--[a-z-]+)[^|]*\| ([^|]+) \|", docs, flags=re.MULTILINE))
    # Ape's command adds its connection options when it first parses arguments.
    options = [p for p in DEPLOY.params
               if isinstance(p, click.Option) and p.name not in ("network", "provider_settings")]
    assert {p.opts[0] for p in options} == set(rows)
    for param in options:
        if isinstance(param.default, (int, str)) and not param.is_flag:
            assert rows[param.opts[0]] == f"`{param.default}`", param.opts[0]


@pytest.mark.slow
def test_deploy_script_options_reach_the_chain_and_the_manifest(chain, project, accounts, tmp_path):
    guardian, holder, out = accounts[6], accounts[7], tmp_path / "deployment.json"
    result = run_deploy(chain, "--model-id", "4", "--publisher", "TEST::1", "--publisher", "TEST::2", "--quorum", "1",
                        "--guardian", "TEST::6", "--voting-delay", "3", "--voting-period", "25",
                        "--proposal-threshold", "2.5", "--quorum-percent", "7", "--timelock-delay", "120",
                        "--token-name", "Test Votes", "--token-symbol", "TV", "--token-supply", "1000",
                        "--holder", f"{holder.address}=250", "--max-report-age", "3600",
                        "--max-governance-report-age", "7200", "--staleness-period", "5400", "--out", str(out))
    assert result.exit_code == 0, result.output
    manifest = json.loads(out.read_text())
    oracle, token, timelock, governor = (getattr(project, name).at(manifest["contracts"][name]) for name in
                                         ("RiskOracle", "RiskVotesToken", "RiskTimelock", "RiskGovernor"))
    assert (governor.votingDelay(), governor.votingPeriod(), governor.proposalThreshold(),
            governor.quorumNumerator()) == (3, 25, 25 * WAD // 10, 7)
    assert timelock.getMinDelay() == 120 and timelock.hasRole(timelock.CANCELLER_ROLE(), guardian.address)
    assert (token.name(), token.symbol(), token.totalSupply(), token.balanceOf(holder.address)) == \
        ("Test Votes", "TV", 1000 * WAD, 250 * WAD)
    assert oracle.quorum() == 1 and tuple(oracle.timing()) == (3600, 7200, 5400)
    assert oracle.hasRole(oracle.GUARDIAN_ROLE(), guardian.address)
    assert oracle.hasRole(oracle.GOVERNANCE_ROLE(), timelock.address) and manifest["governance"] == timelock.address
    assert (manifest["guardian"], manifest["quorum"]) == (guardian.address, 1)
    assert manifest["publishers"] == [accounts[1].address, accounts[2].address]
    assert [m["model_id"] for m in manifest["models"]] == [4]


@pytest.mark.slow
@pytest.mark.parametrize("args, refusal", [
    (["--quorum", "4"], "Invalid value for '--quorum': refused by the contracts: "
                        "InvalidQuorum(quorum=4, publishers=3)"),
    (["--voting-period", "0"], "'--voting-period': refused by the contracts: "
                               "GovernorInvalidVotingPeriod(votingPeriod=0)"),
    (["--quorum-percent", "101"], "'--quorum-percent': refused by the contracts: "
                                  "GovernorInvalidQuorumFraction(quorumNumerator=101, quorumDenominator=100)"),
    (["--staleness-period", "60"], "'--staleness-period': refused by the contracts: InvalidTiming()"),
    (["--token-supply", "10", "--holder", "TEST::7=11"], "'--token-supply': refused by the contracts: "
                                                         "ERC20InsufficientBalance("),
])
def test_deploy_script_refused_setting_names_its_option(chain, tmp_path, args, refusal):
    out = tmp_path / "deployment.json"
    result = run_deploy(chain, *args, "--out", str(out))
    assert result.exit_code == 2 and refusal in result.output, result.output
    assert not out.exists()


@pytest.mark.parametrize("args, refusal", [
    (["--proposal-threshold", "0.0000000000000000001"], "'0.0000000000000000001' is not a token amount"),
    (["--holder", "TEST::7"], "'TEST::7' is not ACCOUNT=TOKENS"),
    (["--holder", "TEST::7=1", "--holder", "TEST::7=2"], "TEST::7 is given twice"),
])
def test_deploy_script_malformed_option_is_refused_before_building(chain, args, refusal):
    result = run_deploy(chain, *args)
    assert result.exit_code == 2 and refusal in result.output, result.output
