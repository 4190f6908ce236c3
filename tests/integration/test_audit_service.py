"""The service's proof bundle of a confirmed update, as `GET /updates/{job}/bundle` serves it, passes
every audit check: the operator's pipeline and the auditor's tool agree on the format and the facts."""

from __future__ import annotations

import pytest

from oracle.audit import TITLES, audit_bundle
from oracle.audit.chain import abi
from oracle.chain.client import ChainGateway
from oracle.db import Batch, Job, JobState, migrate, session_scope
from oracle.feed import ReplayFeed
from oracle.pipeline import Pipeline
from oracle.runtime import ProverRuntime
from oracle.services import dev_account
from published import deploy

pytestmark = [pytest.mark.slow, pytest.mark.chain]


def test_service_bundle_of_a_confirmed_update_passes_every_check(accounts, chain, circuit_k1, vka_k1,
                                                                 production_version, tmp_path):
    deployment, publishers, keeper = deploy(accounts, circuit_k1, vka_k1)
    # the service's manifest: the deployment's, plus the ABIs its gateway reads
    manifest = {**deployment.to_manifest(),
                "abis": {name: abi(name) for name in ("RiskOracle", "DataCommitmentRegistry", "RiskGovernor")}}
    rpc = chain.provider.http_uri
    # anvil's development accounts are Ape's test accounts: the same publishers and keeper
    assert [dev_account(i).address for i in (1, 2, 4)] == [publishers[0].address, publishers[1].address,
                                                           keeper.address]
    gateway = ChainGateway(rpc, manifest, dev_account(4), [dev_account(1), dev_account(2)])
    runtime = ProverRuntime(batch_sizes=[1])
    database = f"sqlite:///{tmp_path / 'oracle.db'}"
    migrate(database)
    pipeline = Pipeline(database, ReplayFeed(production_version, production_version.market_frame), runtime,
                        lambda: gateway)

    accepted = pipeline.request(["BTC"])
    queue = [("fetch", accepted.batch_id)]
    while queue:  # the stages the Celery tasks would run, in order, in this process
        queue += pipeline.run(*queue.pop(0))
    with session_scope(database) as session:
        job = session.get(Job, accepted.jobs[0].id)
        assert job.state is JobState.CONFIRMED, (job.error_kind, job.error_message)
        bundle = pipeline.bundle(session.get(Batch, accepted.batch_id), manifest)

    result = audit_bundle(bundle, rpc=rpc)
    assert result.passed, [(c.number, c.details) for c in result.checks if not c.passed]
    assert [c.number for c in result.checks] == list(TITLES)
