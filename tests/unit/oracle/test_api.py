"""The HTTP API without a chain: auth, validation, not-found paths, idempotent requests, metrics."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from models.versions import load_version
from oracle.api import create_app
from oracle.auth import create_key
from oracle.db import session_scope
from oracle.feed import ReplayFeed

LENDING_KEY, OPTIONS_KEY = "har-policy@2.0.0", "har-margin@1.0.0"


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def key(client, settings) -> str:
    with session_scope(settings.database_url) as session:
        return create_key(session, "operator")


@pytest.fixture
def epoch(production_version) -> int:
    return ReplayFeed(production_version).latest_epoch("ETH") - 2


def test_writes_need_a_valid_key(client, key, epoch):
    body = {"markets": ["BTC"], "epoch": epoch}
    assert client.post("/updates", json=body).status_code == 401
    assert client.post("/updates", json=body, headers={"X-API-Key": key + "x"}).status_code == 401
    assert client.post("/updates", json=body, headers={"X-API-Key": key}).status_code == 202


def test_repeated_requests_return_the_same_jobs(client, key, epoch):
    headers = {"X-API-Key": key}
    first = client.post("/updates", json={"markets": ["BTC", "ETH"], "epoch": epoch}, headers=headers)
    again = client.post("/updates", json={"markets": ["ETH", "BTC"], "epoch": epoch}, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["created"] and not again.json()["created"]
    assert {j["id"] for j in first.json()["jobs"]} == {j["id"] for j in again.json()["jobs"]}
    # one job per model version and market: both models are updated by default
    assert [(j["model_version"], j["market"]) for j in first.json()["jobs"]] == [
        (LENDING_KEY, "BTC"), (LENDING_KEY, "ETH"), (OPTIONS_KEY, "BTC"), (OPTIONS_KEY, "ETH")]
    job = client.get(f"/updates/{first.json()['jobs'][0]['id']}").json()
    assert job["state"] == "accepted" and job["progress"] == 0.0 and job["events"][0]["state"] == "accepted"
    assert job["report"] is None and job["data_hash"] is None
    assert len(client.get("/updates", params={"market": "BTC"}).json()) == 2
    assert len(client.get("/updates", params={"market": "BTC", "model": OPTIONS_KEY}).json()) == 1
    assert client.get(f"/updates/{job['id']}/bundle").status_code == 409
    lending_only = client.post("/updates", json={"markets": ["BTC"], "epoch": epoch + 1, "models": [LENDING_KEY]},
                               headers=headers)
    assert [j["model_version"] for j in lending_only.json()["jobs"]] == [LENDING_KEY]


@pytest.mark.parametrize("body, field", [
    ({"markets": []}, "markets"),
    ({"markets": "BTC"}, "markets"),
    ({"markets": ["BTC"], "epoch": -1}, "epoch"),
    ({"markets": ["BTC"], "epoch": "soon"}, "epoch"),
    ({"markets": ["BTC"], "surprise": 1}, "surprise"),
    ({"markets": ["BTC"], "models": []}, "models"),
    ({}, "markets"),
])
def test_malformed_bodies_are_422_with_the_field(client, key, body, field):
    reply = client.post("/updates", json=body, headers={"X-API-Key": key})
    assert reply.status_code == 422
    assert any(field in error["loc"] for error in reply.json()["detail"])


def test_unknown_things_are_404(client, key):
    assert client.post("/updates", json={"markets": ["DOGE"]}, headers={"X-API-Key": key}).status_code == 404
    unknown_model = client.post("/updates", json={"markets": ["BTC"], "models": ["har-mlp@9.9.9"]},
                                headers={"X-API-Key": key})
    assert unknown_model.status_code == 404 and "har-mlp@9.9.9" in unknown_model.text
    for path in ("/markets/DOGE", "/markets/DOGE/history", "/markets/DOGE/liquidation-probability?health_factor=1.2",
                 "/updates/nope", "/updates/nope/bundle", "/proofs/nope", "/reports/DOGE/20000"):
        assert client.get(path).status_code == 404, path
    assert client.get("/commitments/BTC/20000").status_code == 404  # the on-chain commitments are gone


def test_posting_reports_needs_a_key_and_a_chain(client, key):
    body = {"reports": [{"market_id": 1, "epoch": 20000, "input_hash": "0x" + "11" * 32, "data_hash": "0x" + "22" * 32,
                         "observed_at": 20000 * 86400}],
            "signature": {"signer": "0x" + "33" * 20, "r": "0x" + "44" * 32, "vs": "0x" + "55" * 32}}
    assert client.post("/reports", json=body).status_code == 401
    reply = client.post("/reports", json=body, headers={"X-API-Key": key})
    assert reply.status_code == 503 and "chain" in reply.json()["detail"]
    malformed = client.post("/reports", json={**body, "signature": {"signer": "nope"}}, headers={"X-API-Key": key})
    assert malformed.status_code == 422


def test_writes_are_rate_limited_per_key(client, key, epoch):
    codes = [client.post("/updates", json={"markets": ["BTC"], "epoch": epoch}, headers={"X-API-Key": key}).status_code
             for _ in range(7)]
    assert codes[:5] == [202, 200, 200, 200, 200] and codes[5:] == [429, 429]


def test_reads_work_without_a_chain(client):
    markets = client.get("/markets").json()
    assert [m["symbol"] for m in markets] == ["BTC", "ETH"]
    version = load_version()
    assert markets[0]["latest_epoch"] == ReplayFeed(version).latest_epoch("BTC") and markets[0]["on_chain"] is None
    assert markets[0]["last_updates"] == {}
    health = client.get("/health").json()
    assert health["database"] == "ok" and health["chain"]["status"] == "unavailable"
    models = client.get("/models").json()
    assert [(m["model_id"], m["layout"], m["batch_sizes"]) for m in models] == [
        ("har-policy", "lending", [1, 2]), ("har-margin", "options-margin", [1])]
    assert [o["name"] for o in models[0]["outputs"]] == ["vol", "var99", "es99", "max_ltv", "lt"]
    assert models[0]["outputs"][3]["kind"] == "policy" and models[1]["outputs"][0]["kind"] == "forecast"
    assert client.get("/proposals").json() == []
    # no lending update yet: no forecast to compute a liquidation probability from
    assert client.get("/markets/BTC/liquidation-probability", params={"health_factor": 1.2}).status_code == 409
    assert client.get("/reports/BTC/20000").json() == {"market": "BTC", "epoch": 20000, "reports": []}


def test_metrics_expose_jobs_prove_time_gas_queue_and_age(client, key, epoch):
    client.post("/updates", json={"markets": ["BTC"], "epoch": epoch}, headers={"X-API-Key": key})
    text = client.get("/metrics").text
    assert 'zkrisk_jobs{state="accepted"} 2.0' in text  # the lending and the options job
    assert 'zkrisk_queue_depth{stage="fetch"} 2.0' in text and 'zkrisk_queue_depth{stage="sign"} 0.0' in text
    for name in ("zkrisk_prove_seconds_bucket", "zkrisk_update_gas_used_count", "zkrisk_gas_used_total"):
        assert name in text


def test_api_keys_are_stored_hashed(settings, key):
    from sqlalchemy import select

    from oracle.db import ApiKey

    with session_scope(settings.database_url) as session:
        stored = session.scalars(select(ApiKey)).one()
        assert key not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64


def test_requests_succeed_with_info_logging(client, key, epoch, caplog):
    """Log records at INFO carry the pipeline's extras; none may collide with LogRecord's own fields."""
    with caplog.at_level(logging.INFO, logger="zkrisk"):
        reply = client.post("/updates", json={"markets": ["BTC"], "epoch": epoch}, headers={"X-API-Key": key})
    assert reply.status_code == 202
    assert any(record.getMessage() == "update requested" for record in caplog.records)
