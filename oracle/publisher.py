"""Publishers: independent parties that sign what an update's inputs are (oracle/reports.py).

A publisher holds its own key and its own copy of the market data. Asked for the reports of a batch
(a model version, the circuit's input scale, and the (market, epoch) pairs of one proof), it fetches
and validates the bars itself, recomputes the input vector, its Poseidon hash and the raw data's
hash, and signs the EIP-712 `ReportBatch` for the oracle it was configured for. Publishing costs no
transaction: the signatures travel in the update's one `submitUpdate`.

Three ways a signature reaches the pipeline's `sign` stage:
- in-process (`LocalPublisher`): the embedded default runs the configured publisher keys, each over
  its own feed;
- pulled (`RemotePublisher`): `zkrisk publish` serves `GET /reports?model=&input_scale=&markets=&epoch=`
  (`publisher_app`) and the service asks each configured URL;
- posted: a publisher `POST`s a signed batch to the service (`/reports`, authenticated), which stores
  it until a batch with exactly those reports is signed.
The pipeline trusts none of them: each signature is recovered and checked against the batch it
computed itself and against the oracle's current publisher set.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import httpx
from eth_account.signers.local import LocalAccount

from models.spec import market_id
from models.versions import ModelVersion
from oracle.errors import DataRejectedError, PermanentError, RpcUnavailableError
from oracle.feed import MarketFeed
from oracle.reports import Domain, Report, Signature, data_hash, sign_reports
from prover.proving import input_commitment


@dataclass(frozen=True)
class ReportRequest:
    """What to sign: one proof's markets (in proof order, market ids increasing) for one model."""

    model: str
    input_scale: int
    markets: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        ids = [market_id(m) for m, _ in self.markets]
        if not ids or ids != sorted(set(ids)):
            raise ValueError(f"markets {self.markets}: one or more, in strictly increasing market id order")

    def to_params(self) -> dict[str, str]:
        epochs = {e for _, e in self.markets}
        params = {"model": self.model, "input_scale": str(self.input_scale),
                  "markets": ",".join(m for m, _ in self.markets)}
        if len(epochs) == 1:
            params["epoch"] = str(epochs.pop())
        else:
            params["epochs"] = ",".join(str(e) for _, e in self.markets)
        return params

    @classmethod
    def from_params(cls, model: str, input_scale: int, markets: str, epoch: int | None = None,
                    epochs: str | None = None) -> "ReportRequest":
        symbols = [m.strip().upper() for m in markets.split(",") if m.strip()]
        if (epoch is None) == (epochs is None):
            raise ValueError("give either epoch (every market) or epochs (one per market)")
        numbers = [epoch] * len(symbols) if epoch is not None else [int(e) for e in epochs.split(",")]
        if len(numbers) != len(symbols):
            raise ValueError(f"{len(symbols)} markets but {len(numbers)} epochs")
        return cls(model, input_scale, tuple(zip(symbols, numbers)))


@dataclass(frozen=True)
class SignedBatch:
    """A publisher's answer: the reports it computed and its signature over them."""

    reports: tuple[Report, ...]
    signature: Signature

    def to_dict(self) -> dict[str, Any]:
        return {"reports": [r.to_dict() for r in self.reports], "signature": self.signature.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SignedBatch":
        try:
            return cls(tuple(Report.from_dict(r) for r in data["reports"]), Signature.from_dict(data["signature"]))
        except (KeyError, TypeError, ValueError) as error:
            raise PermanentError(f"malformed signed report batch: {error}") from error


def batch_key(domain: Domain, reports: Sequence[Report]) -> str:
    """sha256 of what a signature is over (domain and reports): how a posted batch is found again."""
    body = json.dumps([domain.to_dict(), [r.to_dict() for r in reports]], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def compute_reports(feeds: dict[str, MarketFeed], request: ReportRequest) -> tuple[Report, ...]:
    """The reports of a request from these feeds: fetch, validate, recompute vector and hashes."""
    feed = feeds.get(request.model)
    if feed is None:
        raise PermanentError(f"this publisher has no data for model {request.model}")
    reports = []
    for symbol, epoch in request.markets:
        seen = feed.observe(symbol, epoch)
        reports.append(Report(market_id(symbol), epoch, input_commitment(seen.vector, request.input_scale)
                              .to_bytes(32, "big"), data_hash(seen.data), seen.observed_at))
    return tuple(reports)


class PublisherSource(Protocol):
    """Where the pipeline gets one publisher's signature for a request."""

    name: str

    def sign(self, domain: Domain, request: ReportRequest) -> SignedBatch: ...


class LocalPublisher:
    """A publisher run in this process, over its own feeds (one per model version)."""

    def __init__(self, account: LocalAccount, feeds: dict[str, MarketFeed]) -> None:
        self.account, self.feeds = account, feeds
        self.name = f"publisher {account.address}"

    @property
    def address(self) -> str:
        return self.account.address

    def sign(self, domain: Domain, request: ReportRequest) -> SignedBatch:
        reports = compute_reports(self.feeds, request)
        return SignedBatch(reports, sign_reports(self.account.key, domain, reports))


class RemotePublisher:
    """A `zkrisk publish` process asked over HTTP."""

    def __init__(self, url: str, timeout: float = 60.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url, self.timeout, self.transport = url.rstrip("/"), timeout, transport
        self.name = f"publisher at {self.url}"

    def sign(self, domain: Domain, request: ReportRequest) -> SignedBatch:
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                reply = client.get(f"{self.url}/reports", params=request.to_params())
        except httpx.HTTPError as error:
            raise RpcUnavailableError(f"{self.name} unreachable: {error}") from error
        if reply.status_code >= 500:
            raise RpcUnavailableError(f"{self.name} answered {reply.status_code}: {reply.text[:200]}")
        if reply.status_code != 200:
            raise PermanentError(f"{self.name} refused to sign: {reply.status_code} {reply.text[:300]}")
        return SignedBatch.from_dict(reply.json())


def publisher_app(publisher: LocalPublisher, domain: Domain, versions: dict[str, ModelVersion]) -> Any:
    """The HTTP face of `zkrisk publish`: signs on request, for the one oracle it is configured for."""
    from fastapi import FastAPI, HTTPException, Query

    app = FastAPI(title="zkrisk publisher", version="0.1.0",
                  description="Signed EIP-712 reports of market data, recomputed from this publisher's copy.")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "publisher": publisher.address, "chain_id": domain.chain_id,
                "oracle": domain.oracle, "models": sorted(versions)}

    @app.get("/reports")
    def reports(model: str = Query(description="model_id@version"),
                input_scale: int = Query(ge=0, le=30, description="the circuit's input scale (on chain: the "
                                                                 "registered model's inputScale)"),
                markets: str = Query(min_length=1, max_length=200, description="comma-separated symbols, in "
                                                                               "market id order"),
                epoch: int | None = Query(None, ge=1, le=10**6), epochs: str | None = Query(None, max_length=200)
                ) -> dict[str, Any]:
        try:
            request = ReportRequest.from_params(model, input_scale, markets, epoch, epochs)
        except (KeyError, ValueError) as error:
            raise HTTPException(422, str(error)) from None
        if request.model not in versions:
            raise HTTPException(404, f"no data for model {request.model}; published: {sorted(versions)}")
        try:
            return publisher.sign(domain, request).to_dict()
        except DataRejectedError as error:
            raise HTTPException(409, f"data rejected ({error.rule}): {error}") from None

    return app


def local_publishers(accounts: Sequence[LocalAccount], feed_factory: Callable[[], dict[str, MarketFeed]]
                     ) -> list[LocalPublisher]:
    """In-process publishers, each over its own feeds (its own copy of the data)."""
    return [LocalPublisher(account, feed_factory()) for account in accounts]
