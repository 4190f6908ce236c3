"""The governance CLI end to end on anvil: a proved update beyond the guardrails, and a model upgrade,
are proposed, voted, queued and executed by the timelock; the oracle then serves exactly the proved
values (or the new model), and the proposals' bundles pass the audit checks that apply."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from models.spec import OUTPUTS, WAD
from oracle.audit import audit_bundle
from oracle.bundle import Bundle, vka_digest
from oracle.chain.deploy import DEFAULT_GUARDRAILS, Guardrail, post_commitment, publish_proved_update
from oracle.cli import app
from prover.proving import input_commitment, prove
from published import GOVERNANCE, MODEL_ID, deploy

pytestmark = [pytest.mark.slow, pytest.mark.chain]

#: A CR step limit of 0.1 percentage point: the month between the two windows moves CR further.
TIGHT = {**DEFAULT_GUARDRAILS, "cr": Guardrail(min=WAD, max=4 * WAD, max_change=WAD // 1000, relative=False)}


@pytest.fixture
def cli(accounts, chain, tmp_path):
    """Runs `zkrisk` against a deployment: cli(deployment) -> run(*args, ok=True) -> output."""
    runner = CliRunner()
    env = {"ZKRISK_SIGNER_KEY": accounts[0].private_key}  # the deployer holds the votes

    def bind(deployment):
        manifest = tmp_path / "deployment.json"
        manifest.write_text(json.dumps(deployment.to_manifest()))
        common = ["--rpc", chain.provider.http_uri, "--deployment", str(manifest)]

        def run(*args: str, ok: bool = True) -> str:
            result = runner.invoke(app, [*args, *common], env=env)
            assert (result.exit_code == 0) == ok, result.output
            return result.output
        return run
    return bind


def vote_queue_execute(zkrisk, chain, proposal_id: str) -> None:
    """The voting steps after a proposal, with the refusals a voter meets on the way."""
    assert "GovernorNonexistentProposal" in zkrisk("vote", "12345", ok=False)
    assert "is Pending" in zkrisk("vote", proposal_id, ok=False)
    chain.mine(GOVERNANCE.voting_delay + 1)
    zkrisk("vote", proposal_id, "--support", "for", "--reason", "proof audited")
    chain.mine(GOVERNANCE.voting_period + 1)
    zkrisk("queue", proposal_id)
    assert "in the timelock" in zkrisk("execute", proposal_id, ok=False)
    chain.mine(timestamp=chain.blocks.head.timestamp + GOVERNANCE.timelock_delay + 1)
    zkrisk("execute", proposal_id)


def test_proposal_vote_queue_execute_applies_proved_parameters(accounts, chain, cli, circuit_k1, vka_k1,
                                                               production_version, tmp_path):
    deployment, publishers, keeper = deploy(accounts, circuit_k1, vka_k1, guardrails=TIGHT)
    # a month-old window published the ordinary way, so the latest one is a step beyond the guardrail
    earlier = production_version.input_vector("BTC", frame=production_version.market_frame("BTC").iloc[:-30])
    first = prove(circuit_k1, earlier[None, :])
    publish_proved_update(deployment, publishers[:2], keeper, MODEL_ID, first.proof, first.instances, first.vectors)
    chain.mine(timestamp=chain.blocks.head.timestamp + 3_601)  # past the min delay: only the step limit binds
    latest = production_version.input_vector("BTC")
    post_commitment(deployment.registry, publishers[:2], 1, int(latest[1]), input_commitment(latest, circuit_k1.input_scale))
    zkrisk = cli(deployment)

    out = zkrisk("propose", "--market", "BTC", "--out", str(tmp_path / "proposal.json"))
    assert "beyond the guardrails: submitUpdate reverts with ParameterChangeTooLarge" in out
    bundle = Bundle.load(tmp_path / "proposal.json")
    assert bundle.content_sha256 in bundle.proposal.description
    vote_queue_execute(zkrisk, chain, re.search(r"proposal id: (\d+)", out).group(1))

    stored = deployment.oracle.getRiskParameters(1)
    proved = bundle.markets[0].wad
    assert int(stored.epoch) == int(latest[1])
    assert [int(stored.volatility), int(stored.valueAtRisk), int(stored.expectedShortfall),
            int(stored.liquidationThreshold), int(stored.collateralRatio)] == [proved[n] for n in OUTPUTS]
    report = audit_bundle(bundle, rpc=chain.provider.http_uri)
    assert report.passed, [(c.number, c.details) for c in report.checks if not c.passed]


def test_model_upgrade_registers_the_new_vka(accounts, chain, cli, circuit_k1, vka_k1, circuit_k2, tmp_path):
    """The upgrade registers the batched (K=2) circuit of the production model as a new model id."""
    deployment, _, _ = deploy(accounts, circuit_k1, vka_k1)
    zkrisk = cli(deployment)
    out = zkrisk("propose", "--upgrade-to", "window-mlp@0.1.0", "--k", "2", "--out", str(tmp_path / "upgrade.json"))
    bundle = Bundle.load(tmp_path / "upgrade.json")
    description = bundle.proposal.description
    assert bundle.content_sha256 in description and vka_digest(bundle.circuit.vka) in description
    assert "Backtest: none published for this model version" in description
    assert "Retires model ids: none" in description  # no K=2 model to replace
    # before the vote, voters audit the new circuit's proof and float model off-chain
    assert all(check.passed for check in audit_bundle(bundle, only=(2, 5)).checks)
    vote_queue_execute(zkrisk, chain, re.search(r"proposal id: (\d+)", out).group(1))

    new = deployment.oracle.getModel(2)
    assert new.active and new.marketsPerProof == 2
    assert "0x" + bytes(new.vkaDigest).hex() == vka_digest(bundle.circuit.vka)
    assert deployment.oracle.getModel(MODEL_ID).active
    # after execution the deployed verifier and the registered VKA reproduce from the bundle's vk
    assert audit_bundle(bundle, rpc=chain.provider.http_uri, only=(3,)).checks[0].passed
