"""The service end to end on anvil with real proofs: the API, the embedded worker, Celery workers on
Redis with PostgreSQL, the publishers (in-process, over HTTP, posted), and the faults the service must
survive: a rogue, revoked or lying publisher, a dead node mid-submit, a worker killed mid-prove, a
replayed epoch.

One anvil and one deployment for the module, both production models registered (lending K=1 and
K=2, options K=1). Epochs only increase per market and model on chain, so each test that publishes
proves its own epoch from `epochs`, in file order (the proved policy steps from the stored state, so
consecutive days always pass the guardrails).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace

import httpx
import pytest
import redis
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from web3 import Web3

from models.options import Position, ScenarioGrid, market_margin
from models.spec import LENDING, MARKETS, OPTIONS
from oracle.api import create_app
from oracle.auth import create_key
from oracle.chain.local import deploy_local, start_anvil
from oracle.db import Batch, Job, JobEvent, JobState, migrate, session_scope
from oracle.errors import TransientError
from oracle.feed import ReplayFeed
from oracle.pipeline import Pipeline
from oracle.publisher import LocalPublisher, RemotePublisher, ReportRequest, SignedBatch, publisher_app
from oracle.reports import sign_reports
from oracle.services import (DEV_DEPLOYER, DEV_PUBLISHERS, DEV_QUORUM, DEV_SIGNER, dev_account, feeds, gateway,
                             runtimes)
from oracle.settings import Settings
from oracle.worker import spawn
from prover.toolchain import free_port

pytestmark = [pytest.mark.slow, pytest.mark.chain, pytest.mark.timeout(900)]

REDIS_SERVER = "redis://127.0.0.1:6379"
#: Redis databases a test leases one of (scripts/bench_service.py uses 8): two checkouts' suites on one
#: machine must never consume each other's Celery tasks or flush each other's queues
REDIS_TEST_DBS = range(10, 16)
REDIS_LEASE_KEY = "zkrisk:test-lease"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LENDING_KEY, OPTIONS_KEY = "har-policy@2.0.0", "har-margin@1.0.0"
BOTH = ["BTC", "ETH"]
#: a key anvil funds but the oracle never registered
ROGUE = dev_account(7)
#: the registered publisher the module revokes at its end
REVOKED = dev_account(DEV_PUBLISHERS[2])


@pytest.fixture(scope="module")
def epochs(production_version) -> list[int]:
    """Increasing epochs both markets have data for (index = the test's turn)."""
    last = ReplayFeed(production_version).latest_epoch("ETH")
    return list(range(last - 8, last))


@pytest.fixture(scope="module")
def chain(tmp_path_factory, circuit_k1, circuit_k2):
    """anvil (state persisted, so it can be restarted) with the system deployed for both models."""
    directory = tmp_path_factory.mktemp("chain")
    rpc = f"http://127.0.0.1:{free_port()}"
    state = directory / "anvil-state.json"
    anvil = {"process": start_anvil(rpc, state)}
    base = Settings(rpc_url=rpc, deployment_path=directory / "deployment.json", start_anvil=False)
    manifest = deploy_local(rpc, runtimes(base), base.deployment_path)
    anvil.update(rpc=rpc, state=state, manifest=manifest, deployment_path=base.deployment_path)
    yield anvil
    anvil["process"].terminate()
    anvil["process"].wait(10)


def service_settings(chain, database_url: str, **overrides) -> Settings:
    return Settings(database_url=database_url, rpc_url=chain["rpc"], deployment_path=chain["deployment_path"],
                    start_anvil=False, heartbeat_seconds=10**7, deviation_check_seconds=10**7, **overrides)


def wait_for(predicate, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def job_states(database_url: str, ids: list[str]) -> list[JobState]:
    with session_scope(database_url) as session:
        return [session.get(Job, i).state for i in ids]


def assert_on_chain_equals_proved(client: TestClient, job: dict) -> None:
    layout = LENDING if job["model_version"] == LENDING_KEY else OPTIONS
    stored = client.get(f"/markets/{job['market']}").json()["on_chain"][layout.name]
    assert stored["epoch"] == job["epoch"] and stored["observed_at"] == job["observed_at"]
    assert stored["values"] == job["values_wad"] and list(stored["values"]) == list(layout.names)


@pytest.fixture
def embedded(chain, tmp_path):
    """The API with its in-process worker (memory broker), on SQLite: `zkrisk serve` minus uvicorn."""
    settings = service_settings(chain, f"sqlite:///{tmp_path / 'oracle.db'}", broker_url="memory://",
                                embedded_worker=True, write_rate_limit=100)
    with TestClient(create_app(settings)) as client:
        with session_scope(settings.database_url) as session:
            client.headers["X-API-Key"] = create_key(session, "test")
        yield client, settings


@pytest.fixture(scope="module")
def published(chain, epochs, tmp_path_factory):
    """Both models' first update of BTC and ETH, requested through the API of the embedded service and
    run to the end; yields the settings (its SQLite database stays) and the job ids."""
    directory = tmp_path_factory.mktemp("published")
    settings = service_settings(chain, f"sqlite:///{directory / 'oracle.db'}", broker_url="memory://",
                                embedded_worker=True, write_rate_limit=100)
    with TestClient(create_app(settings)) as client:
        with session_scope(settings.database_url) as session:
            client.headers["X-API-Key"] = create_key(session, "test")
        accepted = client.post("/updates", json={"markets": BOTH, "epoch": epochs[0]})
        assert accepted.status_code == 202
        ids = [j["id"] for j in accepted.json()["jobs"]]
        wait_for(lambda: all(s.terminal for s in job_states(settings.database_url, ids)), 600, "the jobs to finish")
    return settings, ids


@pytest.fixture
def reader(published):
    """A client of the published service's database, without a worker."""
    settings, ids = published
    with TestClient(create_app(settings, start_worker=False)) as client:
        with session_scope(settings.database_url) as session:
            client.headers["X-API-Key"] = create_key(session, f"reader-{time.time_ns()}")
        yield client, ids


def test_request_to_confirmed_update_of_both_models_through_the_api(reader, chain, epochs):
    client, ids = reader
    epoch = epochs[0]
    assert len(ids) == 4  # lending and options, BTC and ETH
    jobs = [client.get(f"/updates/{i}").json() for i in ids]
    assert [j["state"] for j in jobs] == ["confirmed"] * 4, [j["error_message"] for j in jobs]
    lending = [j for j in jobs if j["model_version"] == LENDING_KEY]
    options = [j for j in jobs if j["model_version"] == OPTIONS_KEY]
    assert lending[0]["batch_id"] == lending[1]["batch_id"], "a model's markets requested together share a proof"
    assert options[0]["batch_id"] != options[1]["batch_id"], "the options model is proved one market per proof"
    assert [e["state"] for e in jobs[0]["events"]] == ["accepted", "fetched", "signed", "proved", "submitted",
                                                      "confirmed"]
    for job in jobs:
        assert_on_chain_equals_proved(client, job)
        assert job["gas_used"] > 0 and job["tx_hash"].startswith("0x")
        assert job["observed_at"] == epoch * 86_400 and job["report"]["data_hash"] == job["data_hash"]
    # the policy parameters protocols act on are published, by name
    assert set(lending[0]["values"]) == set(LENDING.names)
    assert 0 < lending[0]["values"]["max_ltv"] < lending[0]["values"]["lt"] < 1
    assert set(options[0]["values"]) == set(OPTIONS.names)

    proof = client.get(f"/proofs/{lending[0]['batch_id']}").json()
    assert (proof["k"], proof["layout_id"], proof["model_version"]) == (2, LENDING.layout_id, LENDING_KEY)
    assert len(proof["instances"]) == LENDING.instance_count(2)
    assert proof["state_before"] == [list(LENDING.initial_state)] * 2  # the first update steps from it
    signers = {s["signer"] for s in proof["signatures"]}
    assert signers == {dev_account(i).address for i in DEV_PUBLISHERS[:DEV_QUORUM]}
    assert proof["domain"] == {"chain_id": chain["manifest"]["chain_id"],
                               "oracle": chain["manifest"]["contracts"]["RiskOracle"]}
    reports = client.get(f"/reports/BTC/{epoch}").json()["reports"]
    assert {r["model_version"] for r in reports} == {LENDING_KEY, OPTIONS_KEY}

    liquidation = client.get("/markets/BTC/liquidation-probability", params={"health_factor": 1.1, "horizon": 24})
    assert liquidation.status_code == 200 and liquidation.json()["source"] == "on-chain"
    assert 0 < liquidation.json()["probability"] < 1 and liquidation.json()["epoch"] == epoch

    metrics = client.get("/metrics").text
    assert 'zkrisk_jobs{state="confirmed"} 4.0' in metrics and "zkrisk_prove_seconds_count 3.0" in metrics
    assert f'zkrisk_last_update_age_seconds{{market="BTC",model="{OPTIONS_KEY}"}}' in metrics
    assert f'zkrisk_signatures_total{{model="{LENDING_KEY}"}} 2.0' in metrics
    again = client.post("/updates", json={"markets": ["ETH", "BTC"], "epoch": epoch})
    assert again.status_code == 200 and {j["id"] for j in again.json()["jobs"]} == set(ids)


#: The quote's spot comes through an 8-decimal feed and its shocks as WAD reads: a margin moves by at most
#: about this fraction of gross notional against the reference on the unrounded close and proved values.
MARGIN_TOLERANCE = 1e-9


def test_margin_quote_reads_the_proved_shocks_and_the_proved_close(reader, chain, epochs, production_version):
    """After the options update, `POST /margin` quotes from the deployed engine: its proved grid (not the
    static one) at the close the update was proved on, and IM/MM equal models.options on those."""
    client, ids = reader
    manifest, w3 = chain["manifest"], Web3(Web3.HTTPProvider(chain["rpc"]))
    engine = w3.eth.contract(address=manifest["contracts"]["OptionsMarginEngine"],
                             abi=manifest["abis"]["OptionsMarginEngine"])
    assert engine.functions.SOURCE().call() == manifest["contracts"]["RiskOracle"]
    now = w3.eth.get_block("latest")["timestamp"]
    legs = [{"market": "BTC", "type": "call", "strike": 1.0, "expiry": now + 7 * 86_400, "size": 1.0, "side": "short"},
            {"market": "BTC", "type": "put", "strike": 1.0, "expiry": now + 7 * 86_400, "size": 1.0, "side": "short"},
            {"market": "ETH", "type": "put", "strike": 1.0, "expiry": now + 30 * 86_400, "size": 2.0, "side": "long"}]
    closes = {m: ReplayFeed(production_version).close_before(m, epochs[0]) for m in BOTH}
    for leg in legs:  # at the money (calls) and 10% out of it (puts)
        leg["strike"] = closes[leg["market"]] * (1.0 if leg["type"] == "call" else 0.9)
    reply = client.post("/margin", json={"legs": legs})
    assert reply.status_code == 200, reply.text
    quote = reply.json()
    proved = {j["market"]: j["values"] for j in (client.get(f"/updates/{i}").json() for i in ids)
              if j["model_version"] == OPTIONS_KEY}
    assert quote["static_grid"] is False and quote["at"] >= now
    for market in quote["markets"]:
        symbol = market["market"]
        positions = [Position(MARKETS[symbol], leg["strike"], leg["expiry"], leg["type"] == "call",
                              leg["size"] if leg["side"] == "long" else -leg["size"])
                     for leg in legs if leg["market"] == symbol]
        reference = market_margin(positions, closes[symbol], ScenarioGrid.from_shocks(proved[symbol]), quote["at"])
        tolerance = MARGIN_TOLERANCE * sum(abs(p.size) for p in positions) * closes[symbol]
        assert market["spot"] == pytest.approx(closes[symbol], rel=1e-12)
        assert market["shocks"] == pytest.approx(proved[symbol], abs=1e-12)
        assert market["initial_margin"] == pytest.approx(reference.initial, abs=tolerance)
        assert market["maintenance_margin"] == pytest.approx(reference.maintenance, abs=tolerance)
        assert market["mark_value"] == pytest.approx(reference.mark_value, abs=tolerance)
        assert 0 < market["maintenance_margin"] <= market["initial_margin"]


def test_the_bundle_of_a_confirmed_update_is_built_by_oracle_bundle(reader):
    from oracle.bundle import Bundle

    client, ids = reader
    job = client.get(f"/updates/{ids[0]}").json()
    reply = client.get(f"/updates/{ids[0]}/bundle")
    assert reply.status_code == 200, reply.text
    bundle = Bundle.from_dict(reply.json())
    assert bundle.chain.tx_hash == job["tx_hash"] and [m.symbol for m in bundle.markets] == BOTH
    assert ["0x" + m.data_hash.hex() for m in bundle.markets][0] == job["data_hash"]


def test_the_same_request_twice_concurrently_gives_one_update(embedded, epochs):
    client, settings = embedded
    body, replies = {"markets": BOTH, "epoch": epochs[1], "models": [LENDING_KEY]}, []
    barrier = threading.Barrier(2)

    def send() -> None:
        barrier.wait()
        replies.append(client.post("/updates", json=body))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in replies) == [200, 202]
    (ids,) = {tuple(j["id"] for j in r.json()["jobs"]) for r in replies}
    wait_for(lambda: all(s.terminal for s in job_states(settings.database_url, list(ids))), 300, "the jobs to finish")
    assert job_states(settings.database_url, list(ids)) == [JobState.CONFIRMED] * 2
    with session_scope(settings.database_url) as session:
        (batch,) = session.scalars(select(Batch)).all()
        assert batch.tx_hash is not None and batch.state_before != [list(LENDING.initial_state)] * 2


def test_anvil_stopped_mid_job_is_retried_to_confirmation(embedded, chain, epochs):
    """The node dies once the reports are signed: proving (which reads the stored policy state) or
    submitting meets a dead RPC and retries with backoff; after the node is back the same job confirms."""
    client, settings = embedded
    body = {"markets": BOTH, "epoch": epochs[2], "models": [LENDING_KEY]}
    ids = [j["id"] for j in client.post("/updates", json=body).json()["jobs"]]
    wait_for(lambda: job_states(settings.database_url, ids)[0] is JobState.SIGNED, 120, "signatures", 0.05)
    chain["process"].send_signal(signal.SIGTERM)  # anvil writes its state on the way out
    chain["process"].wait(10)
    try:
        time.sleep(5)  # at least one attempt fails against the dead node
        # proving may have read the state just before the node died; either way the job waits, not fails
        states = job_states(settings.database_url, ids)
        assert set(states) <= {JobState.SIGNED, JobState.PROVED} and len(set(states)) == 1, states
    finally:
        chain["process"] = start_anvil(chain["rpc"], chain["state"])
    wait_for(lambda: all(s.terminal for s in job_states(settings.database_url, ids)), 300, "the jobs to finish")
    for job_id in ids:
        job = client.get(f"/updates/{job_id}").json()
        assert job["state"] == "confirmed", job["error_message"]
        assert_on_chain_equals_proved(client, job)


@pytest.fixture
def postgres_url():
    try:
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        admin.connect().close()
    except Exception:  # noqa: BLE001 - any failure means the service is not here
        pytest.skip("needs PostgreSQL and Redis on localhost (make services)")
    name = f"zkrisk_it_{os.getpid()}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    from oracle.db import engine_for

    engine_for.cache_clear()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_url():
    """An empty Redis database leased to this test (the lease expires should the test die)."""
    token = f"{os.getpid()}:{time.time_ns()}"
    try:
        for db in REDIS_TEST_DBS:
            client = redis.Redis.from_url(f"{REDIS_SERVER}/{db}")
            if client.set(REDIS_LEASE_KEY, token, nx=True, ex=3600):
                break
        else:
            pytest.fail(f"every test database of Redis ({list(REDIS_TEST_DBS)}) is leased")
    except redis.ConnectionError:
        pytest.skip("needs PostgreSQL and Redis on localhost (make services)")
    # whatever a dead session left queued there goes, atomically with keeping the lease
    client.pipeline(transaction=True).flushdb().set(REDIS_LEASE_KEY, token, ex=3600).execute()
    yield f"{REDIS_SERVER}/{db}"
    client.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
                1, REDIS_LEASE_KEY, token)


def test_a_worker_killed_mid_prove_is_taken_over_by_another(chain, postgres_url, redis_url, tmp_path, epochs):
    """Production mode: Celery on Redis, state in PostgreSQL, `zkrisk worker` processes."""
    keys = {"signer_key": dev_account(DEV_SIGNER).key.hex(),
            "publisher_keys": [dev_account(i).key.hex() for i in DEV_PUBLISHERS[:DEV_QUORUM]]}
    settings = service_settings(chain, postgres_url, broker_url=redis_url, embedded_worker=False,
                                visibility_timeout=20, stage_lease_seconds=20, recovery_seconds=5, **keys)
    migrate(postgres_url)
    first = spawn(settings, tmp_path / "worker-1.log")
    second = None
    try:
        with TestClient(create_app(settings)) as client:
            with session_scope(postgres_url) as session:
                client.headers["X-API-Key"] = create_key(session, "test")
            body = {"markets": BOTH, "epoch": epochs[3], "models": [LENDING_KEY]}
            ids = [j["id"] for j in client.post("/updates", json=body).json()["jobs"]]

            def proving() -> bool:
                with session_scope(postgres_url) as session:
                    batch = session.get(Batch, session.get(Job, ids[0]).batch_id)
                    return batch.state is JobState.SIGNED and batch.lease_owner is not None

            wait_for(proving, 180, "the prove stage to start", every=0.05)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
            assert job_states(postgres_url, ids) == [JobState.SIGNED] * 2
            second = spawn(settings, tmp_path / "worker-2.log", beat=True)
            wait_for(lambda: all(s.terminal for s in job_states(postgres_url, ids)), 300, "the jobs to finish")
            for job_id in ids:
                job = client.get(f"/updates/{job_id}").json()
                assert job["state"] == "confirmed", (job["error_message"], (tmp_path / "worker-2.log").read_text()[-3000:])
                assert_on_chain_equals_proved(client, job)
            with session_scope(postgres_url) as session:
                (batch,) = session.scalars(select(Batch)).all()
                assert batch.attempts >= 6  # fetch, sign, prove (killed), prove again, submit, confirm
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(20)


def test_a_replayed_epoch_fails_with_the_decoded_revert(embedded, chain, epochs):
    """Permanent: an epoch older than the market's current one reverts EpochNotIncreasing, never retried."""
    client, settings = embedded
    body = {"markets": ["BTC"], "epoch": epochs[0] - 1, "models": [LENDING_KEY]}
    job_id = client.post("/updates", json=body).json()["jobs"][0]["id"]
    wait_for(lambda: job_states(settings.database_url, [job_id])[0].terminal, 300, "the job to finish")
    job = client.get(f"/updates/{job_id}").json()
    assert (job["state"], job["error_kind"], job["error_rule"]) == ("failed", "contract-revert", "EpochNotIncreasing")
    assert str(MARKETS["BTC"]) in job["error_message"]


# ---------------------------------------------------------------------- publishers (the sign stage)

def sign_pipeline(chain, tmp_path, publishers, name: str = "sign") -> Pipeline:
    """A pipeline over the module's chain (its own database) whose sign stage asks exactly these publishers."""
    settings = service_settings(chain, f"sqlite:///{tmp_path / name}.db", embedded_worker=False,
                                signer_key=dev_account(DEV_SIGNER).key.hex())
    migrate(settings.database_url)
    provers = runtimes(settings)
    return Pipeline(settings.database_url, provers, feeds(provers, None), lambda: publishers,
                    lambda: gateway(settings))


def honest(index: int) -> LocalPublisher:
    """The index-th registered development publisher, over its own copy of the bundled data."""
    from models.versions import load_version

    return LocalPublisher(dev_account(DEV_PUBLISHERS[index]), {LENDING_KEY: ReplayFeed(load_version())})


def fetched(pipeline: Pipeline, epoch: int) -> str:
    """A lending batch of BTC at `epoch`, fetched: what the sign stage takes."""
    (batch_id,) = pipeline.request(["BTC"], epoch, models=[LENDING_KEY]).batch_ids
    assert pipeline.run("fetch", batch_id) == [("sign", batch_id)]
    return batch_id


def failure(pipeline: Pipeline, batch_id: str) -> Job:
    with session_scope(pipeline.database_url) as session:
        job = session.get(Batch, batch_id).jobs[0]
        session.expunge(job)
        return job


class Lying:
    """A publisher that signs one batch and reports another, or claims another's address."""

    def __init__(self, inner: LocalPublisher, tamper) -> None:
        self.inner, self.tamper, self.name = inner, tamper, f"lying {inner.name}"

    def sign(self, domain, request):
        return self.tamper(self.inner.sign(domain, request), domain)


def test_a_rogue_publisher_is_rejected_by_name_and_blocks_nothing(chain, tmp_path, epochs):
    rogue = LocalPublisher(ROGUE, {LENDING_KEY: honest(0).feeds[LENDING_KEY]})
    blocked = sign_pipeline(chain, tmp_path, [honest(0), rogue])
    batch_id = fetched(blocked, epochs[4])
    assert blocked.run("sign", batch_id) == []
    job = failure(blocked, batch_id)
    assert (job.state, job.error_kind) == (JobState.FAILED, "report-rejected"), job.error_message
    assert f"{ROGUE.address} is not an active publisher" in job.error_message and "needs 2" in job.error_message

    # with k honest publishers beside it, the rogue one delays nothing: it is recorded and skipped
    signed = sign_pipeline(chain, tmp_path, [honest(0), rogue, honest(1)], "quorum")
    batch_id = fetched(signed, epochs[4])
    assert signed.run("sign", batch_id) == [("prove", batch_id)]
    with session_scope(signed.database_url) as session:
        batch = session.get(Batch, batch_id)
        assert {s["signer"] for s in batch.signatures} == {honest(0).address, honest(1).address}
        note = session.scalars(select(JobEvent.message).where(JobEvent.state == JobState.SIGNED)).one()
        assert ROGUE.address in note


def test_a_signature_over_a_different_batch_or_by_another_key_is_rejected(chain, tmp_path, epochs,
                                                                          production_version):
    def other_data(symbol):
        data = production_version.market_data(symbol)
        hourly = data.hourly.copy()
        hourly["volume"] *= 1.01  # the features ignore volume, the data hash does not
        return replace(data, hourly=hourly)

    different = LocalPublisher(dev_account(DEV_PUBLISHERS[1]),
                               {LENDING_KEY: ReplayFeed(production_version, other_data)})

    def impersonate(answer: SignedBatch, domain) -> SignedBatch:
        forged = sign_reports(ROGUE.key, domain, answer.reports)
        return SignedBatch(answer.reports, replace(forged, signer=dev_account(DEV_PUBLISHERS[1]).address))

    for liar, reason in ((different, "signed a different batch: market 1 data_hash"),
                         (Lying(honest(1), impersonate), "does not recover to its claimed signer")):
        pipeline = sign_pipeline(chain, tmp_path, [honest(0), liar], reason.split()[0])
        batch_id = fetched(pipeline, epochs[4])
        pipeline.run("sign", batch_id)
        job = failure(pipeline, batch_id)
        assert job.error_kind == "report-rejected" and reason in job.error_message, job.error_message


def test_signatures_from_zkrisk_publish_over_http_and_posted_ones_count(chain, tmp_path, epochs, production_version):
    """One publisher is asked over HTTP (`zkrisk publish`'s app), another posted its signature to the
    service; with the quorum of two they sign the batch. A dead publisher URL is transient."""
    from oracle.services import gateway as make_gateway

    settings = service_settings(chain, f"sqlite:///{tmp_path / 'posted'}.db", embedded_worker=False,
                                signer_key=dev_account(DEV_SIGNER).key.hex())
    domain = make_gateway(settings).domain
    app = publisher_app(honest(1), domain, {LENDING_KEY: production_version})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 60, "the publisher to start", 0.1)
    try:
        remote = RemotePublisher(f"http://127.0.0.1:{server.config.port}")
        pipeline = sign_pipeline(chain, tmp_path, [remote], "posted")
        batch_id = fetched(pipeline, epochs[5])
        with session_scope(pipeline.database_url) as session:
            job = session.get(Batch, batch_id).jobs[0]
            request = ReportRequest(LENDING_KEY, pipeline.runtimes[LENDING_KEY].input_scale(1), (("BTC", job.epoch),))
        # publisher 0 posts its signature through the service's API
        posted = honest(0).sign(domain, request)
        with TestClient(create_app(settings, start_worker=False)) as client:
            with session_scope(settings.database_url) as session:
                key = create_key(session, "publisher-0")
            reply = client.post("/reports", json=posted.to_dict(), headers={"X-API-Key": key})
            assert reply.status_code == 201 and reply.json()["signer"] == honest(0).address
            assert client.post("/reports", json=posted.to_dict(), headers={"X-API-Key": key}).status_code == 200
            forged = SignedBatch(posted.reports, replace(posted.signature, signer=ROGUE.address))
            assert client.post("/reports", json=forged.to_dict(), headers={"X-API-Key": key}).status_code == 422
        assert pipeline.run("sign", batch_id) == [("prove", batch_id)], failure(pipeline, batch_id).error_message
        with session_scope(pipeline.database_url) as session:
            assert {s["signer"] for s in session.get(Batch, batch_id).signatures} == {honest(0).address,
                                                                                     honest(1).address}
        bad = httpx.get(f"http://127.0.0.1:{server.config.port}/reports", params={**request.to_params(),
                                                                                "markets": "ETH,BTC"})
        assert bad.status_code == 422
    finally:
        server.should_exit = True
        thread.join(10)

    dead = sign_pipeline(chain, tmp_path, [honest(0), RemotePublisher(f"http://127.0.0.1:{free_port()}")], "dead")
    batch_id = fetched(dead, epochs[5])
    with pytest.raises(TransientError, match="unreachable"):
        dead.run("sign", batch_id)
    assert failure(dead, batch_id).state is JobState.FETCHED  # kept for the retry, not failed


def revoke_publisher(chain, address: str) -> None:
    """Governance removes a publisher: propose, vote, queue and execute through RiskGovernor on the
    development chain (the deployer holds the votes; periods are the local ones)."""
    from oracle.chain.deploy import LOCAL_GOVERNANCE

    w3 = Web3(Web3.HTTPProvider(chain["rpc"]))
    manifest = chain["manifest"]
    deployer = dev_account(DEV_DEPLOYER)
    oracle = w3.eth.contract(address=manifest["contracts"]["RiskOracle"], abi=manifest["abis"]["RiskOracle"])
    governor = w3.eth.contract(address=manifest["contracts"]["RiskGovernor"], abi=manifest["abis"]["RiskGovernor"])
    calldata = oracle.encode_abi("setPublisher", [address, False])
    description = f"remove publisher {address}"
    args = ([oracle.address], [0], [calldata])

    def send(function) -> None:
        tx = function.build_transaction({"from": deployer.address,
                                         "nonce": w3.eth.get_transaction_count(deployer.address)})
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(deployer.sign_transaction(tx).raw_transaction))
        assert receipt.status == 1

    def mine(blocks: int) -> None:
        for _ in range(blocks):
            w3.provider.make_request("evm_mine", [])

    send(governor.functions.propose(*args, description))
    proposal = governor.functions.hashProposal(*args, Web3.keccak(text=description)).call()
    mine(LOCAL_GOVERNANCE.voting_delay + 1)
    send(governor.functions.castVote(proposal, 1))
    mine(LOCAL_GOVERNANCE.voting_period + 1)
    send(governor.functions.queue(*args, Web3.keccak(text=description)))
    w3.provider.make_request("evm_increaseTime", [LOCAL_GOVERNANCE.timelock_delay + 1])
    mine(1)
    send(governor.functions.execute(*args, Web3.keccak(text=description)))
    assert not oracle.functions.isPublisher(address).call()


def test_a_revoked_publisher_no_longer_counts(chain, tmp_path, epochs):
    revoked = LocalPublisher(REVOKED, {LENDING_KEY: honest(0).feeds[LENDING_KEY]})
    revoke_publisher(chain, REVOKED.address)
    pipeline = sign_pipeline(chain, tmp_path, [honest(0), revoked])
    batch_id = fetched(pipeline, epochs[6])
    pipeline.run("sign", batch_id)
    job = failure(pipeline, batch_id)
    assert job.error_kind == "report-rejected"
    assert f"{REVOKED.address} is not an active publisher" in job.error_message


def test_a_record_changed_on_chain_between_submit_and_confirm_fails_the_batch(chain, tmp_path, epochs):
    """The receipt alone does not confirm a batch: another service instance (its own database, so its
    sequencing does not see this one) lands the next epoch of the market after this batch's transaction
    mined and before its confirm stage. The chain then stores other values than the proved ones, and
    the batch fails with the difference instead of reporting values nobody reads as confirmed."""
    ours = sign_pipeline(chain, tmp_path, [honest(0), honest(1)], "ours")
    batch_id = fetched(ours, epochs[6])
    for stage, following in (("sign", "prove"), ("prove", "submit"), ("submit", "confirm")):
        assert ours.run(stage, batch_id) == [(following, batch_id)], failure(ours, batch_id).error_message

    theirs = sign_pipeline(chain, tmp_path, [honest(0), honest(1)], "theirs")
    (later,) = theirs.request(["BTC"], epochs[7], models=[LENDING_KEY]).batch_ids
    theirs.run_to_end([later])
    landed = failure(theirs, later)
    assert landed.state is JobState.CONFIRMED, landed.error_message

    assert ours.run("confirm", batch_id) == []
    job = failure(ours, batch_id)
    assert (job.state, job.error_kind) == (JobState.FAILED, "permanent")
    assert job.values_wad != landed.values_wad  # the stored record really differs from our proof
    assert f"market {MARKETS['BTC']}: on-chain {LENDING.name} parameters" in job.error_message
    assert f"differ from the proved epoch {epochs[6]}" in job.error_message
    with session_scope(ours.database_url) as session:
        assert session.get(Batch, batch_id).state is JobState.FAILED
