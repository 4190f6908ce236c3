"""A stress window of the bundled history replayed through the real pipeline on anvil, with real
proofs: every daily update of BTC and ETH lands (none rejected by the guardrails, no day frozen at
stale values), each proof steps from the policy state the previous day stored, and the on-chain
history the dashboard draws has every day's max LTV / CR and LT.

November 2022 (the FTX collapse): BTC fell about 25% in a week with a -14% day; the lending policy
tightens max LTV at once and moves LT by bounded steps. One K=2 proof per day covers both markets.
"""

from __future__ import annotations

import pytest

from models.spec import LENDING, WAD
from oracle.chain.local import deploy_local, start_anvil
from oracle.dashboard.data import updates
from oracle.db import Batch, DriftScore, Job, JobState, migrate, session_scope
from oracle.drift import drift_status, score_confirmed
from oracle.replay import replay_epochs
from oracle.services import DEV_SIGNER, build_pipeline, dev_account, gateway, runtimes
from oracle.settings import Settings
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
