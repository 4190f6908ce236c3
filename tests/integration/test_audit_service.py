"""The service's proof bundle of a confirmed update, as `GET /updates/{job}/bundle` serves it, passes every
audit check: the operator's pipeline and the auditor's tool agree on the format and the facts. The same
bundle downloaded 20 times is the same every time and its data check passes every time (issue 13: a
float comparison made 3 of 8 downloads fail)."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from oracle.api import create_app
from oracle.audit import TITLES, audit_bundle
from oracle.auth import create_key
from oracle.bundle import Bundle
from oracle.chain.local import deploy_local, start_anvil
from oracle.db import session_scope
from oracle.services import runtimes
from oracle.settings import Settings
from prover.toolchain import free_port

pytestmark = [pytest.mark.slow, pytest.mark.chain, pytest.mark.timeout(900)]

LENDING_KEY = "har-policy@2.0.0"
DOWNLOADS = 20


@pytest.fixture(scope="module")
def service(tmp_path_factory, circuit_k1):
    """anvil with the system deployed for the production lending model at K=1, and the embedded
    service's settings (SQLite, in-process worker, development publishers)."""
    directory = tmp_path_factory.mktemp("service")
    rpc = f"http://127.0.0.1:{free_port()}"
    anvil = start_anvil(rpc, directory / "anvil-state.json")
    try:
        settings = Settings(database_url=f"sqlite:///{directory / 'oracle.db'}", rpc_url=rpc,
                            deployment_path=directory / "deployment.json", start_anvil=False, broker_url="memory://",
                            embedded_worker=True, models={LENDING_KEY: [1]}, markets=["BTC"],
                            heartbeat_seconds=10**7, deviation_check_seconds=10**7, write_rate_limit=1_000)
        deploy_local(rpc, runtimes(settings), settings.deployment_path)
        yield settings
    finally:
        anvil.terminate()
        anvil.wait(10)


def confirmed(client: TestClient, job_id: str, within: float = 600) -> dict:
    """The job once it reached a terminal state (a bound on waiting, not a timing assertion)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        job = client.get(f"/updates/{job_id}").json()
        if job["state"] in ("confirmed", "failed"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish within {within:.0f}s")


def test_service_bundle_of_a_confirmed_update_passes_every_check_twenty_times(service):
    with TestClient(create_app(service)) as client:
        with session_scope(service.database_url) as session:
            client.headers["X-API-Key"] = create_key(session, "audit")
        accepted = client.post("/updates", json={"markets": ["BTC"]})
        assert accepted.status_code == 202, accepted.text
        job = confirmed(client, accepted.json()["jobs"][0]["id"])
        assert job["state"] == "confirmed", job["error_message"]
        downloads = [client.get(f"/updates/{job['id']}/bundle") for _ in range(DOWNLOADS)]

    assert [d.status_code for d in downloads] == [200] * DOWNLOADS, [d.text for d in downloads if d.status_code != 200]
    bundles = [Bundle.from_dict(json.loads(d.content)) for d in downloads]
    assert len({b.content_sha256 for b in bundles}) == 1
    assert bundles[0].chain.tx_hash == job["tx_hash"] and bundles[0].chain.gas_used == job["gas_used"]
    result = audit_bundle(bundles[0], rpc=service.rpc_url)
    assert result.passed, [(c.number, c.details) for c in result.checks if not c.passed]
    assert [c.number for c in result.checks] == list(TITLES)
    for bundle in bundles[1:]:
        assert audit_bundle(bundle, only=(1, 7)).failed() == []
