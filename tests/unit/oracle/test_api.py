"""The HTTP API without a chain: auth, validation, not-found paths, idempotent requests, metrics."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from models.data import load_daily
from models.features import epoch_of
from oracle.api import create_app
from oracle.auth import create_key
from oracle.db import session_scope


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def key(client, settings) -> str:
    with session_scope(settings.database_url) as session:
        return create_key(session, "operator")


@pytest.fixture
def epoch() -> int:
    return epoch_of(load_daily("ETH").index[-3])


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
    job = client.get(f"/updates/{first.json()['jobs'][0]['id']}").json()
    assert job["state"] == "accepted" and job["progress"] == 0.0 and job["events"][0]["state"] == "accepted"
    assert len(client.get("/updates", params={"market": "BTC"}).json()) == 1
    assert client.get(f"/updates/{job['id']}/bundle").status_code == 409


@pytest.mark.parametrize("body, field", [
    ({"markets": []}, "markets"),
    ({"markets": "BTC"}, "markets"),
    ({"markets": ["BTC"], "epoch": -1}, "epoch"),
    ({"markets": ["BTC"], "epoch": "soon"}, "epoch"),
    ({"markets": ["BTC"], "surprise": 1}, "surprise"),
    ({}, "markets"),
])
def test_malformed_bodies_are_422_with_the_field(client, key, body, field):
    reply = client.post("/updates", json=body, headers={"X-API-Key": key})
    assert reply.status_code == 422
    assert any(field in error["loc"] for error in reply.json()["detail"])


def test_unknown_things_are_404(client, key):
    assert client.post("/updates", json={"markets": ["DOGE"]}, headers={"X-API-Key": key}).status_code == 404
    for path in ("/markets/DOGE", "/markets/DOGE/history", "/updates/nope", "/updates/nope/bundle", "/proofs/nope",
                 "/commitments/DOGE/20000"):
        assert client.get(path).status_code == 404, path


def test_writes_are_rate_limited_per_key(client, key, epoch):
    codes = [client.post("/updates", json={"markets": ["BTC"], "epoch": epoch}, headers={"X-API-Key": key}).status_code
             for _ in range(7)]
    assert codes[:5] == [202, 200, 200, 200, 200] and codes[5:] == [429, 429]


def test_reads_work_without_a_chain(client):
    markets = client.get("/markets").json()
    assert [m["symbol"] for m in markets] == ["BTC", "ETH"]
    assert markets[0]["latest_epoch"] == epoch_of(load_daily("BTC").index[-1]) and markets[0]["on_chain"] is None
    health = client.get("/health").json()
    assert health["database"] == "ok" and health["chain"]["status"] == "unavailable"
    assert client.get("/models").json()[0]["batch_sizes"] == [1, 2]
    assert client.get("/proposals").json() == []


def test_metrics_expose_jobs_prove_time_gas_queue_and_age(client, key, epoch):
    client.post("/updates", json={"markets": ["BTC"], "epoch": epoch}, headers={"X-API-Key": key})
    text = client.get("/metrics").text
    assert 'zkrisk_jobs{state="accepted"} 1.0' in text
    assert 'zkrisk_queue_depth{stage="fetch"} 1.0' in text
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
