"""The service end to end on anvil with real proofs: the API, the embedded worker, Celery workers on
Redis with PostgreSQL, and the faults the service must survive.

One anvil and one deployment for the module. Epochs only increase per market on chain, so each test
proves BTC and ETH together at its own epoch from `epochs`, in file order (each also runs alone: a fresh chain accepts any
epoch, except the revert test, which needs an earlier update). They are chosen so that each update stays inside the default guardrails relative to the
previous one (the forecasts move more than a step allows between some days).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from models.data import load_daily
from models.features import epoch_of
from models.spec import MARKETS, OUTPUTS
from oracle.api import create_app
from oracle.auth import create_key
from oracle.bundle import Bundle
from oracle.chain.local import deploy_local, guardrail_compatible_epochs, start_anvil
from oracle.db import Batch, Job, JobState, migrate, session_scope
from oracle.services import DEV_PUBLISHERS, DEV_QUORUM, DEV_SIGNER, dev_account, runtime
from oracle.settings import Settings
from oracle.worker import spawn
from prover.toolchain import free_port

pytestmark = [pytest.mark.slow, pytest.mark.chain, pytest.mark.timeout(600)]

REDIS_SERVER = "redis://127.0.0.1:6379"
#: Redis databases a test leases one of (scripts/bench_service.py uses 8): two checkouts' suites on one
#: machine must never consume each other's Celery tasks or flush each other's queues
REDIS_TEST_DBS = range(10, 16)
REDIS_LEASE_KEY = "zkrisk:test-lease"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
#: ETH's bundled data ends first; every test proves an epoch both markets have
LAST_COMMON = epoch_of(load_daily("ETH").index[-1])


BOTH = ["BTC", "ETH"]


@pytest.fixture(scope="module")
def epochs(production_version) -> list[int]:
    """Increasing epochs the oracle accepts in this order for both markets (index = the test's turn)."""
    return guardrail_compatible_epochs(production_version, BOTH, 4, LAST_COMMON - 60, LAST_COMMON)


@pytest.fixture(scope="module")
def chain(tmp_path_factory, circuit_k1, circuit_k2):
    """anvil (state persisted, so it can be restarted) with the system deployed for K=1 and K=2."""
    directory = tmp_path_factory.mktemp("chain")
    rpc = f"http://127.0.0.1:{free_port()}"
    state = directory / "anvil-state.json"
    anvil = {"process": start_anvil(rpc, state)}
    base = Settings(rpc_url=rpc, deployment_path=directory / "deployment.json", start_anvil=False)
    manifest = deploy_local(rpc, runtime(base), base.deployment_path)
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
    market = client.get(f"/markets/{job['market']}").json()
    assert market["on_chain"]["epoch"] == job["epoch"]
    assert {n: str(market["on_chain"]["values"][n]) for n in OUTPUTS} == job["values_wad"]
    assert market["on_chain"]["input_hash"] == job["input_hash"]


@pytest.fixture
def embedded(chain, tmp_path):
    """The API with its in-process worker (memory broker), on SQLite: `zkrisk serve` minus uvicorn."""
    settings = service_settings(chain, f"sqlite:///{tmp_path / 'oracle.db'}", broker_url="memory://",
                                embedded_worker=True, write_rate_limit=100)
    with TestClient(create_app(settings)) as client:
        with session_scope(settings.database_url) as session:
            client.headers["X-API-Key"] = create_key(session, "test")
        yield client, settings


def test_request_to_confirmed_update_through_the_api(embedded, chain, epochs):
    client, settings = embedded
    epoch = epochs[0]
    accepted = client.post("/updates", json={"markets": BOTH, "epoch": epoch})
    assert accepted.status_code == 202
    ids = [j["id"] for j in accepted.json()["jobs"]]
    wait_for(lambda: set(job_states(settings.database_url, ids)) <= {JobState.CONFIRMED, JobState.FAILED},
             300, "both jobs to finish")
    jobs = [client.get(f"/updates/{i}").json() for i in ids]
    assert [j["state"] for j in jobs] == ["confirmed", "confirmed"], [j["error_message"] for j in jobs]
    assert jobs[0]["batch_id"] == jobs[1]["batch_id"], "markets requested together are proved together"
    assert [e["state"] for e in jobs[0]["events"]] == ["accepted", "fetched", "committed", "proved", "submitted",
                                                      "confirmed"]
    for job in jobs:
        assert_on_chain_equals_proved(client, job)
        assert job["gas_used"] > 0 and job["tx_hash"].startswith("0x")
    proof = client.get(f"/proofs/{jobs[0]['batch_id']}").json()
    assert proof["k"] == 2 and proof["chain_model_id"] == 2 and len(proof["instances"]) == 2 + 2 * len(OUTPUTS)

    bundle = Bundle.from_dict(client.get(f"/updates/{ids[0]}/bundle").json())
    assert [m.symbol for m in bundle.markets] == ["BTC", "ETH"]
    assert bundle.chain.tx_hash == jobs[0]["tx_hash"] and bundle.chain.model_id == 2
    assert [f"0x{m.commitment:064x}" for m in bundle.markets] == [j["input_hash"] for j in jobs]

    metrics = client.get("/metrics").text
    assert 'zkrisk_jobs{state="confirmed"} 2.0' in metrics and "zkrisk_prove_seconds_count 1.0" in metrics
    assert 'zkrisk_last_update_age_seconds{market="BTC"}' in metrics
    again = client.post("/updates", json={"markets": ["ETH", "BTC"], "epoch": epoch})
    assert again.status_code == 200 and {j["id"] for j in again.json()["jobs"]} == set(ids)


def test_the_same_request_twice_concurrently_gives_one_update(embedded, epochs):
    client, settings = embedded
    body, replies = {"markets": BOTH, "epoch": epochs[1]}, []
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
        assert batch.tx_hash is not None


def test_anvil_restarted_mid_submit_is_retried_to_confirmation(embedded, chain, epochs):
    client, settings = embedded
    ids = [j["id"] for j in client.post("/updates", json={"markets": BOTH, "epoch": epochs[2]}).json()["jobs"]]
    # stop the node while the proof is being made: the submit stage then meets a dead RPC
    wait_for(lambda: job_states(settings.database_url, ids)[0] is JobState.COMMITTED, 120, "commitment", 0.05)
    chain["process"].send_signal(signal.SIGTERM)  # anvil writes its state on the way out
    chain["process"].wait(10)
    wait_for(lambda: job_states(settings.database_url, ids)[0] is JobState.PROVED, 300, "the proof")
    time.sleep(3)  # at least one submit attempt fails against the dead node
    assert job_states(settings.database_url, ids) == [JobState.PROVED] * 2
    chain["process"] = start_anvil(chain["rpc"], chain["state"])
    wait_for(lambda: all(s.terminal for s in job_states(settings.database_url, ids)), 180, "the jobs to finish")
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
            ids = [j["id"] for j in client.post("/updates", json={"markets": BOTH, "epoch": epochs[3]}).json()["jobs"]]

            def proving() -> bool:
                with session_scope(postgres_url) as session:
                    batch = session.get(Batch, session.get(Job, ids[0]).batch_id)
                    return batch.state is JobState.COMMITTED and batch.lease_owner is not None

            wait_for(proving, 180, "the prove stage to start", every=0.05)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
            assert job_states(postgres_url, ids) == [JobState.COMMITTED] * 2
            second = spawn(settings, tmp_path / "worker-2.log", beat=True)
            wait_for(lambda: all(s.terminal for s in job_states(postgres_url, ids)), 300, "the jobs to finish")
            for job_id in ids:
                job = client.get(f"/updates/{job_id}").json()
                assert job["state"] == "confirmed", (job["error_message"], (tmp_path / "worker-2.log").read_text()[-3000:])
                assert_on_chain_equals_proved(client, job)
            with session_scope(postgres_url) as session:
                (batch,) = session.scalars(select(Batch)).all()
                assert batch.attempts >= 6  # fetch, commit, prove (killed), prove again, submit, confirm
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(20)


def test_a_reverted_submission_fails_with_the_decoded_error(embedded, chain, epochs):
    """Permanent: an epoch older than the market's current one reverts EpochNotIncreasing, never retried."""
    client, settings = embedded
    job_id = client.post("/updates", json={"markets": ["BTC"], "epoch": epochs[0] - 1}).json()["jobs"][0]["id"]
    wait_for(lambda: job_states(settings.database_url, [job_id])[0].terminal, 300, "the job to finish")
    job = client.get(f"/updates/{job_id}").json()
    assert (job["state"], job["error_kind"], job["error_rule"]) == ("failed", "contract-revert", "EpochNotIncreasing")
    assert str(MARKETS["BTC"]) in job["error_message"]


def test_commitments_match_the_circuit_where_f64_and_f32_quantise_differently(production_version, circuit_k1):
    """BTC epoch 20104 has a return whose x * 2**14 is 34720.4993 in f64 but 34720.5 in EZKL's f32."""
    from models.features import DAY, epoch_start
    from prover.proving import prove

    vector = production_version.input_vector("BTC", epoch_start(20104) - DAY)
    assert runtime(Settings(batch_sizes=[1])).commitment(1, vector) == f"0x{prove(circuit_k1, vector[None, :]).input_hashes[0]:064x}"
