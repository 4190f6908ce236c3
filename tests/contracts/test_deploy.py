"""deploy_system's defaults (hand-over to the timelock) and the manifest it writes."""

from __future__ import annotations

import json

import pytest
from eth_utils import keccak

from chain_helpers import BTC, ETH, PLACEHOLDER_VKA
from oracle.chain.deploy import ModelConfig, deploy_system, write_manifest

pytestmark = pytest.mark.chain


def test_deploy_system_hands_over_and_writes_manifest(owner, publishers, chain, tmp_path):
    model = ModelConfig(model_id=5, output_scale=20, markets=(BTC, ETH), vka_words=PLACEHOLDER_VKA, label="m@1 K=1")
    deployment = deploy_system(owner, publishers, model)
    manifest = json.loads(write_manifest(deployment, tmp_path / "deployment.json").read_text())
    assert manifest["chain_id"] == chain.chain_id and manifest["block"] == chain.blocks.head.number
    assert manifest["governance"] == deployment.timelock.address
    assert deployment.registry.quorum() == len(publishers)  # default quorum: every publisher
    [entry] = manifest["models"]
    assert entry["vka_digest"] == "0x" + keccak(b"".join(PLACEHOLDER_VKA)).hex()
    assert (entry["model_id"], entry["markets"], entry["vka_words"]) == (5, [BTC, ETH], len(PLACEHOLDER_VKA))
    for address in [*manifest["contracts"].values(), *(feed["address"] for feed in manifest["feeds"])]:
        assert len(chain.provider.get_code(address)) > 0
    assert {(f["market_id"], f["parameter"]) for f in manifest["feeds"]} == {(m, p) for m in (BTC, ETH)
                                                                              for p in ("lt", "cr")}


def test_deploy_system_without_verifier_or_vka_raises(owner, publishers):
    with pytest.raises(ValueError, match="VKA words"):
        deploy_system(owner, publishers, ModelConfig(model_id=5, output_scale=20, markets=(BTC,)))
