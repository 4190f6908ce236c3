"""deploy_system's defaults (hand-over to the timelock), the guards, models and feeds it wires, the
manifest it writes, and VKA registration on EZKL's reusable verifier."""

from __future__ import annotations

import json

import ape
import pytest
from eth_utils import keccak

from chain_helpers import BTC, ETH, LENDING_GUARDS, PLACEHOLDER_VKA, guards_by_layout
from models.spec import LAYOUTS, LENDING, OPTIONS
from oracle.chain.deploy import ModelConfig, Timing, deploy_system, register_model, sanity_guards, write_manifest

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
