"""Service benchmark: request → confirmed latency (p50/p95) and updates per minute, 1 and 2 workers.

    python scripts/bench_service.py --json bench-results/service.json [--updates-per-market 3]

Production shape: `zkrisk worker` processes on Redis, state in PostgreSQL (SQLite when PostgreSQL is
not running), anvil with the system deployed for K=1 and K=2, the API in this process. Load is closed
loop, one client per market (BTC, ETH): request the next epoch, wait until it is confirmed, repeat.
On chain an epoch only increases per market, so one update per market is in flight at a time; two
markets in flight give a second worker something to do. Prints a markdown table; --json writes it all.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import redis  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402

from models.versions import load_version  # noqa: E402
from oracle.api import create_app  # noqa: E402
from oracle.auth import create_key  # noqa: E402
from oracle.chain.local import deploy_local, start_anvil  # noqa: E402
from oracle.db import Batch, Job, JobState, engine_for, migrate, session_scope  # noqa: E402
from oracle.feed import ReplayFeed  # noqa: E402
from oracle.services import DEV_PUBLISHERS, DEV_QUORUM, DEV_SIGNER, dev_account, runtimes  # noqa: E402
from oracle.settings import Settings  # noqa: E402
from oracle.worker import spawn  # noqa: E402
from prover.toolchain import ensure_node_tools_on_path, free_port  # noqa: E402

LENDING_KEY = "har-policy@2.0.0"

REDIS_URL = "redis://127.0.0.1:6379/8"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MARKETS = ("BTC", "ETH")


def fresh_database(directory: Path, label: str) -> str:
    try:
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"zkrisk_bench_{label}_{uuid.uuid4().hex[:6]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    except Exception:  # noqa: BLE001 - no PostgreSQL here: SQLite in WAL mode
        return f"sqlite:///{directory / f'{label}.db'}"


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        engine_for(url).dispose()
        with create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT").connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low, high = int(rank), min(int(rank) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def run(workers: int, epochs: dict[str, list[int]], base: Settings, directory: Path) -> dict:
    database = fresh_database(directory, f"w{workers}")
    migrate(database)
    redis.Redis.from_url(REDIS_URL).flushdb()
    settings = base.model_copy(update={"database_url": database})
    processes = [spawn(settings, directory / f"w{workers}-{i}.log") for i in range(workers)]
    latencies: list[float] = []
    failures: list[str] = []
    try:
        with TestClient(create_app(settings)) as client:
            with session_scope(database) as session:
                client.headers["X-API-Key"] = create_key(session, "bench")

            def client_loop(market: str) -> None:
                for epoch in epochs[market]:
                    started = time.perf_counter()
                    job_id = client.post("/updates", json={"markets": [market], "epoch": epoch,
                                                                "models": [LENDING_KEY]}).json()["jobs"][0]["id"]
                    while True:
                        job = client.get(f"/updates/{job_id}").json()
                        if job["state"] in ("confirmed", "failed"):
                            break
                        time.sleep(0.2)
                    if job["state"] == "failed":
                        failures.append(f"{market}@{epoch}: {job['error_message']}")
                    else:
                        latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            threads = [threading.Thread(target=client_loop, args=(m,)) for m in MARKETS]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
        with session_scope(database) as session:
            batches = session.scalars(select(Batch).where(Batch.state == JobState.CONFIRMED)).all()
            prove = [b.prove_seconds for b in batches]
            gas = [b.gas_used for b in batches]
            confirmed = session.scalars(select(Job).where(Job.state == JobState.CONFIRMED)).all()
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)
        drop_database(database)
    return {"workers": workers, "updates": len(confirmed), "failed": failures, "wall_seconds": wall,
            "latency_p50_s": percentile(latencies, 0.5), "latency_p95_s": percentile(latencies, 0.95),
            "updates_per_minute": 60 * len(confirmed) / wall, "prove_seconds_mean": statistics.mean(prove),
            "gas_mean": statistics.mean(gas), "database": database.split(":")[0]}


def table(runs: list[dict]) -> str:
    lines = ["| workers | updates | p50 request→confirmed (s) | p95 (s) | updates/min | mean prove (s) | mean gas |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['workers']} | {r['updates']} | {r['latency_p50_s']:.1f} | {r['latency_p95_s']:.1f} | "
              f"{r['updates_per_minute']:.2f} | {r['prove_seconds_mean']:.1f} | {r['gas_mean']:,.0f} |" for r in runs]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--updates-per-market", type=int, default=3)
    args = parser.parse_args()
    ensure_node_tools_on_path()
    directory = Path(tempfile.mkdtemp(prefix="zkrisk-bench-"))
    rpc = f"http://127.0.0.1:{free_port()}"
    anvil = start_anvil(rpc, directory / "anvil-state.json")
    try:
        base = Settings(rpc_url=rpc, deployment_path=directory / "deployment.json", start_anvil=False,
                        broker_url=REDIS_URL, embedded_worker=False, heartbeat_seconds=10**7,
                        deviation_check_seconds=10**7, write_rate_limit=10_000,
                        signer_key=dev_account(DEV_SIGNER).key.hex(), models={LENDING_KEY: [1]},
                        publisher_keys=[dev_account(i).key.hex() for i in DEV_PUBLISHERS[:DEV_QUORUM]])
        deploy_local(rpc, runtimes(base), base.deployment_path)
        # ETH's bundled data ends first: epochs both markets have, increasing across both runs
        # the proved policy steps from the stored state, so consecutive days always land
        last, per = ReplayFeed(load_version()).latest_epoch("ETH"), args.updates_per_market
        plan = {m: list(range(last - 2 * per, last)) for m in MARKETS}
        runs = [run(workers, {m: e[i * per:(i + 1) * per] for m, e in plan.items()}, base, directory)
                for i, workers in enumerate((1, 2))]
    finally:
        anvil.terminate()
    result = {"benchmark": "service", "markets": list(MARKETS), "updates_per_market": per, "runs": runs,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
              "note": "closed loop, one client per market; 1 proof per update (K=1); workers share this machine's cores"}
    print(table(runs))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**result, "table": table(runs)}, indent=2))


if __name__ == "__main__":
    main()
