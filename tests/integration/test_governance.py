"""The governance CLI end to end on anvil: a proved update beyond the guardrails is proposed, voted,
queued and executed by the timelock; the oracle then serves exactly the proved values, and the
proposal's bundle passes every audit check."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from models.spec import OUTPUTS, WAD
from oracle.audit import audit_bundle
from oracle.bundle import Bundle
from oracle.chain.deploy import DEFAULT_GUARDRAILS, Guardrail, post_commitment, publish_proved_update
from oracle.cli import app
from prover.proving import input_commitment, prove
from published import GOVERNANCE, MODEL_ID, deploy

pytestmark = [pytest.mark.slow, pytest.mark.chain]

#: A CR step limit of 0.1 percentage point: the month between the two windows moves CR further.
TIGHT = {**DEFAULT_GUARDRAILS, "cr": Guardrail(min=WAD, max=4 * WAD, max_change=WAD // 1000, relative=False)}


def test_proposal_vote_queue_execute_applies_proved_parameters(accounts, chain, circuit_k1, vka_k1,
                                                               production_version, tmp_path):
    deployment, publishers, keeper = deploy(accounts, circuit_k1, vka_k1, guardrails=TIGHT)
    # a month-old window published the ordinary way, so the latest one is a step beyond the guardrail
    earlier = production_version.input_vector("BTC", frame=production_version.market_frame("BTC").iloc[:-30])
    first = prove(circuit_k1, earlier[None, :])
    publish_proved_update(deployment, publishers[:2], keeper, MODEL_ID, first.proof, first.instances, first.vectors)
    chain.mine(timestamp=chain.blocks.head.timestamp + 3_601)  # past the min delay: only the step limit binds
    latest = production_version.input_vector("BTC")
    post_commitment(deployment.registry, publishers[:2], 1, int(latest[1]), input_commitment(latest, circuit_k1.input_scale))

    manifest = tmp_path / "deployment.json"
    manifest.write_text(json.dumps(deployment.to_manifest()))
    common = ["--rpc", chain.provider.http_uri, "--deployment", str(manifest)]
    env = {"ZKRISK_SIGNER_KEY": accounts[0].private_key}  # the deployer holds the votes
    runner = CliRunner()

    def zkrisk(*args: str) -> str:
        result = runner.invoke(app, [*args, *common], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    out = zkrisk("propose", "--market", "BTC", "--out", str(tmp_path / "proposal.json"))
    proposal_id = re.search(r"proposal id: (\d+)", out).group(1)
    assert "beyond the guardrails: submitUpdate reverts with ParameterChangeTooLarge" in out
    bundle = Bundle.load(tmp_path / "proposal.json")
    description = bundle.proposal.description
    assert bundle.content_sha256 in description and "Backtest:" in description

    early = runner.invoke(app, ["vote", proposal_id, *common], env=env)
    assert early.exit_code == 1 and "is Pending" in early.output
    chain.mine(GOVERNANCE.voting_delay + 1)
    zkrisk("vote", proposal_id, "--support", "for", "--reason", "proof audited")
    chain.mine(GOVERNANCE.voting_period + 1)
    zkrisk("queue", proposal_id)
    too_soon = runner.invoke(app, ["execute", proposal_id, *common], env=env)
    assert too_soon.exit_code == 1 and "in the timelock" in too_soon.output
    chain.mine(timestamp=chain.blocks.head.timestamp + GOVERNANCE.timelock_delay + 1)
    zkrisk("execute", proposal_id)

    stored = deployment.oracle.getRiskParameters(1)
    proved = bundle.markets[0].wad
    assert int(stored.epoch) == int(latest[1])
    assert [int(stored.volatility), int(stored.valueAtRisk), int(stored.expectedShortfall),
            int(stored.liquidationThreshold), int(stored.collateralRatio)] == [proved[n] for n in OUTPUTS]
    report = audit_bundle(bundle, rpc=chain.provider.http_uri)
    assert report.passed, [(c.number, c.details) for c in report.checks if not c.passed]
