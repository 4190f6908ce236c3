"""The governance CLI end to end on anvil with the real deployment: a proved update beyond the guardrails
is proposed, voted, queued and executed by the timelock, the oracle then serves exactly the proved
values and the proposal's bundle passes every audit check; the guardian cancels a queued proposal; a
model upgrade registers a new circuit, whose proof then lands as an ordinary update."""

from __future__ import annotations

import json
import re

import ape
import numpy as np
import pytest
from typer.testing import CliRunner

from models.features import DAY, epoch_start
from models.spec import LENDING
from oracle.audit import TITLES, audit_bundle
from oracle.bundle import Bundle, vka_digest
from oracle.chain.deploy import card_guards, stored_state, submit_update
from oracle.cli import app
from oracle.governance import PROPOSAL_STATES
from prover.proving import prove
from published import GOVERNANCE, MODEL_ID, deploy, reports_for, set_time, sign

pytestmark = [pytest.mark.slow, pytest.mark.chain]

#: one basis point per update in both directions: a month between two windows moves every output further
ONE_BP = 1


def tight_guards(version) -> dict[int, dict[int, list[tuple[int, int, int, int]]]]:
    guards = card_guards(version.card)
    return {LENDING.layout_id: {m: [(lo, hi, ONE_BP, ONE_BP) for lo, hi, _, _ in g] for m, g in guards.items()}}


@pytest.fixture
def cli(accounts, chain, tmp_path):
    """Runs `zkrisk` against a deployment: cli(deployment, key) -> run(*args, ok=True) -> output."""
    runner = CliRunner()

    def bind(deployment, key=None):
        manifest = tmp_path / "deployment.json"
        manifest.write_text(json.dumps(deployment.to_manifest()))
        common = ["--rpc", chain.provider.http_uri, "--deployment", str(manifest)]
        # the deployer holds the votes; publishers 1 and 2 sign the reports
        env = {"ZKRISK_SIGNER_KEY": key or accounts[0].private_key,
               "ZKRISK_PUBLISHER_KEYS": ",".join(a.private_key for a in accounts[1:3])}

        def run(*args: str, ok: bool = True) -> str:
            result = runner.invoke(app, [*args, *common], env=env)
            assert (result.exit_code == 0) == ok, result.output
            return result.output
        return run
    return bind


def proposal_id(output: str) -> str:
    return re.search(r"proposal id: (\d+)", output).group(1)


def vote_and_queue(zkrisk, chain, number: str) -> None:
    """The voting steps up to the timelock, with the refusals a voter meets on the way."""
    assert "GovernorNonexistentProposal" in zkrisk("vote", "12345", ok=False)
    assert "is Pending" in zkrisk("vote", number, ok=False)
    chain.mine(GOVERNANCE.voting_delay + 1)
    zkrisk("vote", number, "--support", "for", "--reason", "proof audited")
    chain.mine(GOVERNANCE.voting_period + 1)
    zkrisk("queue", number)
    assert "in the timelock" in zkrisk("execute", number, ok=False)


def execute(zkrisk, chain, number: str) -> None:
    chain.mine(timestamp=chain.blocks.head.timestamp + GOVERNANCE.timelock_delay + 1)
    zkrisk("execute", number)


def deploy_stepped(accounts, chain, circuit_k1, production_version, hand_over: bool = True):
    """A deployment with one-basis-point guards whose BTC market was updated a month before the latest
    window, the clock at the latest window's observation: the latest proof is beyond the guardrails."""
    deployment, publishers, keeper = deploy(accounts, circuit_k1, guards=tight_guards(production_version),
                                            hand_over=hand_over)
    latest = int(production_version.input_vector("BTC")[1])
    earlier = production_version.window_data("BTC", end=epoch_start(latest) - 31 * DAY)
    vector = production_version.input_vector("BTC", data=earlier)
    first = prove(circuit_k1, vector[None, :], np.array([LENDING.initial_state]))
    reports, _ = reports_for(production_version, first, ["BTC"])
    set_time(chain, reports[0].observed_at + 3_600)
    submit_update(deployment.oracle, keeper, MODEL_ID, reports, sign(deployment, publishers[:2], reports),
                  first.proof, first.instances)
    set_time(chain, latest * int(DAY.total_seconds()) + 3_600)
    return deployment


@pytest.fixture
def stepped(accounts, chain, circuit_k1, production_version):
    """`deploy_stepped`, governed by the timelock (the deployer handed over)."""
    return deploy_stepped(accounts, chain, circuit_k1, production_version)


def test_proved_proposal_vote_queue_execute_applies_the_proved_parameters(stepped, chain, cli, tmp_path):
    zkrisk = cli(stepped)
    out = zkrisk("propose", "--market", "BTC", "--out", str(tmp_path / "proposal.json"))
    assert "beyond the guardrails: submitUpdate reverts with ParameterStepTooLarge" in out
    bundle = Bundle.load(tmp_path / "proposal.json")
    description = bundle.proposal.description
    assert bundle.content_sha256 in description
    assert description.endswith(f"#proposer={stepped.deployer.address.lower()}")
    # voters audit the proof, data and outputs before voting
    before = audit_bundle(bundle, only=(1, 3, 4, 5, 7))
    assert before.failed() == [], [(c.number, c.details) for c in before.checks]
    number = proposal_id(out)
    vote_and_queue(zkrisk, chain, number)
    execute(zkrisk, chain, number)

    values, _, epoch, model_id = stepped.oracle.getParameters(1, LENDING.layout_id)
    assert (list(values), epoch, model_id) == ([bundle.markets[0].wad[n] for n in LENDING.names],
                                               bundle.markets[0].epoch, MODEL_ID)
    report = audit_bundle(bundle, rpc=chain.provider.http_uri)
    assert report.passed, [(c.number, c.details) for c in report.checks if not c.passed]
    assert [c.number for c in report.checks] == list(TITLES)


def test_guardian_cancels_a_queued_proposal(stepped, accounts, chain, cli, tmp_path):
    zkrisk = cli(stepped)
    number = proposal_id(zkrisk("propose", "--market", "BTC", "--out", str(tmp_path / "proposal.json")))
    assert "only a Succeeded proposal can be queued" in zkrisk("queue", number, ok=False)
    vote_and_queue(zkrisk, chain, number)
    # a key without the timelock's CANCELLER_ROLE cannot cancel it
    assert "lacks the timelock's CANCELLER_ROLE" in cli(stepped, key=accounts[9].private_key)("cancel", number,
                                                                                              ok=False)
    assert stepped.guardian.address == stepped.deployer.address  # deploy() keeps the default guardian
    zkrisk("cancel", number)
    assert "is Canceled" in zkrisk("execute", number, ok=False)
    proposed = Bundle.load(tmp_path / "proposal.json").markets[0].epoch
    assert stepped.oracle.getParameters(1, LENDING.layout_id)[2] < proposed  # nothing applied


def test_model_upgrade_registers_the_new_circuit_then_serves_its_proof(accounts, chain, cli, circuit_k1,
                                                                       production_version, tmp_path):
    """The upgrade registers the batched (K=2) circuit of the production model as a new model id; the
    proof in its bundle, signed by the publishers, is then an ordinary update of both markets."""
    deployment, _, keeper = deploy(accounts, circuit_k1)
    set_time(chain, int(production_version.input_vector("BTC")[1]) * int(DAY.total_seconds()) + 3_600)
    zkrisk = cli(deployment)
    out = zkrisk("propose", "--upgrade-to", "har-policy@2.0.0", "--k", "2", "--out", str(tmp_path / "upgrade.json"))
    bundle = Bundle.load(tmp_path / "upgrade.json")
    description = bundle.proposal.description
    assert bundle.content_sha256 in description and vka_digest(bundle.circuit.vka) in description
    assert "Retires model ids: none" in description  # no K=2 model to replace
    number = proposal_id(out)
    vote_and_queue(zkrisk, chain, number)
    execute(zkrisk, chain, number)

    new = deployment.oracle.getModel(2)
    assert new.active and new.marketsPerProof == 2 and new.layoutId == LENDING.layout_id
    assert "0x" + bytes(new.vkaDigest).hex() == vka_digest(bundle.circuit.vka)
    assert deployment.oracle.getModel(MODEL_ID).active
    batch = bundle.batch
    submit_update(deployment.oracle, keeper, 2, batch.reports, batch.signatures, bundle.proof, bundle.instances)
    for market in bundle.markets:
        values, _, epoch, model_id = deployment.oracle.getParameters(market.market_id, LENDING.layout_id)
        assert (list(values), epoch, model_id) == ([market.wad[n] for n in LENDING.names], market.epoch, 2)
    assert stored_state(deployment.oracle, LENDING, [1, 2]).tolist() == \
        [[market.outputs[n].value for n in LENDING.state] for market in bundle.markets]


def test_propose_without_publisher_keys_is_refused(stepped, chain, tmp_path):
    manifest = tmp_path / "deployment.json"
    manifest.write_text(json.dumps(stepped.to_manifest()))
    result = CliRunner().invoke(app, ["propose", "--market", "BTC", "--rpc", chain.provider.http_uri,
                                      "--deployment", str(manifest)],
                                env={"ZKRISK_SIGNER_KEY": stepped.deployer.private_key, "ZKRISK_PUBLISHER_KEYS": ""})
    assert result.exit_code == 1 and "no publisher signatures" in result.output


def test_unproven_apply_governance_update_is_refused_by_the_governor(stepped):
    oracle = stepped.oracle
    calldata = oracle.applyGovernanceUpdate.encode_input(MODEL_ID, [], [])
    with ape.reverts(stepped.governor.UnprovenParameterChange):
        stepped.governor.propose([oracle.address], [0], [calldata], "unproven", sender=stepped.deployer)


def test_execution_rechecks_pause_and_report_age(stepped, chain, cli, tmp_path):
    """A vote that passed is not applied while the oracle is paused, nor once its report is older than
    maxGovernanceReportAge: applyGovernanceUpdate re-checks at execution, not only at proposal time."""
    zkrisk = cli(stepped)
    number = proposal_id(zkrisk("propose", "--market", "BTC", "--out", str(tmp_path / "proposal.json")))
    vote_and_queue(zkrisk, chain, number)
    chain.mine(timestamp=chain.blocks.head.timestamp + GOVERNANCE.timelock_delay + 1)
    stepped.oracle.pause(sender=stepped.guardian)
    assert "EnforcedPause" in zkrisk("execute", number, ok=False)
    stepped.oracle.unpause(sender=stepped.guardian)
    max_age = stepped.oracle.timing().maxGovernanceReportAge
    chain.mine(timestamp=chain.blocks.head.timestamp + max_age)
    assert "ReportTooOld" in zkrisk("execute", number, ok=False)
    assert PROPOSAL_STATES[stepped.governor.state(int(number))] == "Queued"  # nothing applied
    proposed = Bundle.load(tmp_path / "proposal.json").markets[0].epoch
    assert stepped.oracle.getParameters(1, LENDING.layout_id)[2] < proposed


def test_execution_counts_only_publishers_current_at_execution(accounts, chain, circuit_k1, production_version, cli,
                                                               tmp_path):
    """A publisher revoked while the vote waits in the timelock no longer counts: the 2-of-3 signatures
    of the proposal fall to one and the execution reverts. (The deployer keeps the oracle's governance
    role beside the timelock here, so it can revoke without a second vote.)"""
    deployment = deploy_stepped(accounts, chain, circuit_k1, production_version, hand_over=False)
    oracle, owner = deployment.oracle, {"sender": deployment.deployer}
    oracle.grantRole(oracle.GOVERNANCE_ROLE(), deployment.timelock.address, **owner)
    zkrisk = cli(deployment)
    number = proposal_id(zkrisk("propose", "--market", "BTC", "--out", str(tmp_path / "proposal.json")))
    vote_and_queue(zkrisk, chain, number)
    oracle.setPublisher(accounts[2].address, False, **owner)  # the second signer of the proposal's reports
    chain.mine(timestamp=chain.blocks.head.timestamp + GOVERNANCE.timelock_delay + 1)
    assert "InsufficientSignatures" in zkrisk("execute", number, ok=False)
    oracle.setPublisher(accounts[2].address, True, **owner)
    zkrisk("execute", number)
    assert oracle.getParameters(1, LENDING.layout_id)[2] == Bundle.load(tmp_path / "proposal.json").markets[0].epoch
