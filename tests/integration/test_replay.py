"""A stress window of the bundled history replayed through the real pipeline on anvil, with real
proofs: every daily update of BTC and ETH lands (none rejected by the guardrails, no day frozen at
stale values), each proof steps from the policy state the previous day stored, and the on-chain
history the dashboard draws has every day's max LTV / CR and LT.

November 2022 (the FTX collapse): BTC fell about 25% in a week with a -14% day; the lending policy
tightens max LTV at once and moves LT by bounded steps. One K=2 proof per day covers both markets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.spec import LENDING, WAD
import models.versions as versions
from models.versions import load_version
from oracle.bundle import Bundle
from oracle.chain.local import deploy_local, start_anvil
from oracle.dashboard.data import snapshot, updates
from oracle.db import Batch, DriftScore, Job, JobState, Retrain, migrate, session_scope
from oracle.drift import drift_status, score_confirmed
from oracle.governance import PROPOSAL_STATES, Governance
from oracle.replay import replay_epochs
from oracle.services import DEV_SIGNER, build_pipeline, dev_account, gateway, runtimes
from oracle.settings import Settings
from prover.evm import verifier_calldata
from prover.toolchain import free_port

pytestmark = [pytest.mark.slow, pytest.mark.chain, pytest.mark.timeout(3600)]

LENDING_KEY = "har-policy@2.0.0"
#: 2022-11-01 .. 2022-11-30 (UTC day numbers)
FIRST, DAYS = 19_297, 30
BOTH = ["BTC", "ETH"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory, circuit_k2):
    directory = tmp_path_factory.mktemp("replay")
    rpc = f"http://127.0.0.1:{free_port()}"
    anvil = start_anvil(rpc, directory / "anvil-state.json")
    settings = Settings(database_url=f"sqlite:///{directory / 'oracle.db'}", rpc_url=rpc, start_anvil=False,
                        embedded_worker=False, deployment_path=directory / "deployment.json",
                        models={LENDING_KEY: [1, 2]}, signer_key=dev_account(DEV_SIGNER).key.hex(),
                        publisher_keys=[dev_account(i).key.hex() for i in (1, 2)])
    try:
        deploy_local(rpc, runtimes(settings), settings.deployment_path)
        migrate(settings.database_url)
        yield settings
    finally:
        anvil.terminate()
        anvil.wait(10)


def test_a_stress_month_replays_with_no_rejected_update_and_no_frozen_day(settings):
    epochs = range(FIRST, FIRST + DAYS)
    outcomes = replay_epochs(build_pipeline(settings), BOTH, epochs, [LENDING_KEY])
    rejected = [(o.epoch, o.market, o.error) for o in outcomes if o.state is not JobState.CONFIRMED]
    assert rejected == [] and len(outcomes) == 2 * DAYS

    with session_scope(settings.database_url) as session:
        jobs = {(j.market, j.epoch): j for j in session.query(Job).all()}
        batches = {b.id: b for b in session.query(Batch).all()}
        for market in BOTH:
            for day in epochs[1:]:
                before, now = jobs[(market, day - 1)], jobs[(market, day)]
                batch = batches[now.batch_id]
                row = [j.market for j in sorted(batch.jobs, key=lambda j: j.market_id)].index(market)
                # the proof stepped from what the previous day stored on chain (its max LTV and LT)
                stored = [int(before.values_wad[n]) / WAD for n in LENDING.state]
                assert batch.state_before[row] == pytest.approx(stored, abs=2**-LENDING.scale)
                assert now.values["lt"] - now.values["max_ltv"] > 0

    # the chain holds every day: the history the dashboard draws, CR (= 1 / max LTV) and LT per epoch
    history, _ = updates(gateway(settings))
    for market in BOTH:
        points = history[market][LENDING.name]
        assert [p["epoch"] for p in points] == list(epochs), f"{market}: a day without an update (frozen)"
        assert all(p["cr"] * p["max_ltv"] == pytest.approx(1) and 0 < p["lt"] < 1 for p in points)
    lows = {m: min(p["max_ltv"] for p in history[m][LENDING.name]) for m in BOTH}
    highs = {m: max(p["max_ltv"] for p in history[m][LENDING.name]) for m in BOTH}
    assert all(lows[m] < highs[m] for m in BOTH), "the policy should react to the crash"


def test_the_replayed_month_is_scored_and_a_drift_rule_fires_in_the_crash(settings):
    """Runs after the replay above, on its database: every confirmed day but the last was scored by the
    confirm stage against the bars the next day's update committed, and rules set in Settings fire."""
    with session_scope(settings.database_url) as session:
        scores = {(s.market, s.epoch): s for s in session.query(DriftScore).all()}
        assert sorted(scores) == [(m, day) for m in BOTH for day in range(FIRST, FIRST + DAYS - 1)]
        jobs = {j.id: j for j in session.query(Job).all()}
        for score in scores.values():
            assert jobs[score.realised_job_id].epoch == score.epoch + 1 and score.rv > 0
            assert score.var_breach == (-score.ret / 100 > jobs[score.job_id].values["var99"])
        assert scores[("BTC", 19_305)].var_breach, "the FTX crash day (2022-11-09) breaches BTC's VaR99"
        monitored = settings.model_copy(update={"drift_min_days": 20, "drift_kupiec_p_min": 0.05})
        quiet = drift_status(session, LENDING_KEY, "BTC", settings.drift_rules())
        report = drift_status(session, LENDING_KEY, "BTC", monitored.drift_rules())
    assert not quiet.drifting and quiet.checks == ()  # the default 60-day minimum judges nothing yet
    assert report.days == DAYS - 1 and report.drifting
    assert any(c.name == "kupiec_p" and c.fired and c.threshold == monitored.drift_kupiec_p_min for c in report.checks)
    # scoring again finds nothing new
    assert score_confirmed(settings.database_url, build_pipeline(settings).feeds) == 0


def test_a_firing_rule_retrains_on_known_data_and_opens_a_verified_upgrade_proposal(settings, tmp_path, monkeypatch):
    """Runs after the two above, on their database and chain: with the rules of the test above, the
    confirmation of the next day (2022-12-01) fires them, and the pipeline runs the whole path itself:
    a retrain on the days before that epoch, its circuits, and one upgrade proposal per batch size whose
    proof verified on the deployed verifier before it was sent; the proposals stay open for the vote."""
    monitored = settings.model_copy(update={"drift_min_days": 20, "drift_kupiec_p_min": 0.05,
                                            "proposals_dir": tmp_path})
    monkeypatch.setattr(versions, "RETRAINED_DIR", tmp_path / "versions")  # trained here, not found from a past run
    epoch = FIRST + DAYS
    outcomes = replay_epochs(build_pipeline(monitored), BOTH, [epoch], [LENDING_KEY])
    assert [o.state for o in outcomes] == [JobState.CONFIRMED] * 2

    with session_scope(settings.database_url) as session:
        [retrain] = session.query(Retrain).all()
        assert (retrain.state, retrain.error, retrain.epoch) == ("proposed", None, epoch)
        assert retrain.new_version == f"{LENDING_KEY}-retrain-{epoch}"
        assert "BTC" in retrain.evidence and [p["k"] for p in retrain.proposals] == [1, 2]
        proposals = list(retrain.proposals)
    model_id, _, version = retrain.new_version.partition("@")
    card = load_version(model_id, version).card
    assert all(d["last"] == "2022-11-30" for d in card["data"].values())  # no day from the trigger epoch on
    assert card["walk_forward"]["BTC"]["test_end"] == "2022-11-30"

    governance = Governance.from_files(settings.rpc_url, settings.deployment_path, None)
    new_ids = [p["model_id"] for p in proposals]
    assert len(set(new_ids)) == 2 and not set(new_ids) & {m["model_id"] for m in governance.manifest["models"]}
    shown = {p["proposal_id"]: p for p in snapshot(monitored)["proposals"]}
    for entry in proposals:
        number = int(entry["proposal_id"])
        assert PROPOSAL_STATES[governance.governor.functions.state(number).call()] in ("Pending", "Active")
        bundle = Bundle.load(Path(entry["bundle"]))
        description = bundle.proposal.description
        assert f"model upgrade to {retrain.new_version} as model id {entry['model_id']}" in description
        assert "Drift: rules fired at epoch" in description and "- BTC: kupiec_p" in description
        assert "proof verified on" in description and "Walk-forward backtest (out of sample)" in description
        # the proof verifies on the deployed verifier under the new VKA, as it did at proposal time
        verifier = governance.manifest["contracts"]["verifier"]
        returned = governance.w3.eth.call({"to": verifier, "data": verifier_calldata(
            bundle.proof, bundle.instances, bundle.circuit.vka)})
        assert int.from_bytes(returned[:32], "big") == 1
        assert shown[entry["proposal_id"]]["state"] in ("Pending", "Active")  # voters see it on the dashboard
        assert shown[entry["proposal_id"]]["proof"].startswith("new circuit's proof verified")
