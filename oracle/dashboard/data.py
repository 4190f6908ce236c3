"""The dashboard's snapshot: on-chain facts read from the chain itself, pipeline facts from the database.

Parameters, their history, the updates and the proposals come from the contracts (the oracle's
RiskParametersUpdated events, the governor's proposal events), so the page shows what integrators
read, not what the service believes it sent: per market the lending policy (max LTV, the collateral
ratio 1 / max LTV, LT) with its forecasts, the options model's proved shocks, and the scenario grid an
options margin engine builds from them (models.options, for a reference book at a 30-day expiry). Only
the risk contributions come from the service's database: they are published with the update, not
stored on chain.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from web3.exceptions import Web3Exception

from models.margin_backtest import PORTFOLIOS
from models.options import ScenarioGrid, scenario_table
from models.spec import LAYOUTS, LENDING, MARKETS, OPTIONS, WAD
from oracle.chain.client import ChainGateway
from oracle.db import DriftScore, Job, JobState, session_scope
from oracle.drift import drift_status
from oracle.errors import OracleError
from oracle.settings import Settings

LATEST_UPDATES = 20
#: The book the scenario grid is drawn for: short-gamma and short-vega, so every axis of the grid matters,
#: and the margin backtest's headline portfolio. At spot 1 its losses and margins are fractions of spot.
REFERENCE_BOOK = {spec.name: spec for spec in PORTFOLIOS}["short-straddle-30d"]


def _fractions(values: dict[str, int]) -> dict[str, float]:
    return {name: value / WAD for name, value in values.items()}


def _lending_view(values: dict[str, float]) -> dict[str, float]:
    """The lending values with the collateral ratio integrators read (1 / max LTV)."""
    return {**values, "cr": 1 / values["max_ltv"] if values["max_ltv"] else 0.0}


def _scenario_grid(market_id: int, options: dict[str, Any], paused: bool, now: int) -> dict[str, Any]:
    """The grid an options margin engine reading this oracle uses now: the proved one while the market's
    shocks are fresh, not paused and sane, else the static grid (`ScenarioGrid.select`)."""
    stored = None if options["status"] == "no data" else options["values"]
    grid = ScenarioGrid.select(stored, live=options["status"] == "fresh" and not paused)
    book = REFERENCE_BOOK.open(1.0, grid.ref_iv, now)
    return {"portfolio": REFERENCE_BOOK.name, "description": REFERENCE_BOOK.description,
            **scenario_table(book.positions(market_id), 1.0, grid, now).to_dict()}


def _markets(chain: ChainGateway, now: int, paused: bool) -> list[dict[str, Any]]:
    rows = []
    for symbol, market_id in MARKETS.items():
        row: dict[str, Any] = {"symbol": symbol, "market_id": market_id}
        for layout in LAYOUTS.values():
            stored = chain.parameters(market_id, layout)
            values = _fractions(stored.values)
            row[layout.name] = {
                "values": _lending_view(values) if layout is LENDING else values, "epoch": stored.epoch,
                "observed_at": stored.observed_at, "model_id": stored.model_id,
                "age_seconds": now - stored.observed_at if stored.observed_at else None,
                "status": "no data" if stored.observed_at == 0 else
                "stale" if chain.is_stale(market_id, layout) else "fresh"}
        row["scenario_grid"] = _scenario_grid(market_id, row[OPTIONS.name], paused, now)
        rows.append(row)
    return rows


def updates(chain: ChainGateway) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], list[dict[str, Any]]]:
    """History per market and layout (a point per on-chain update), and the latest updates."""
    symbols = {market_id: symbol for symbol, market_id in MARKETS.items()}
    history: dict[str, dict[str, list[dict[str, Any]]]] = {
        symbol: {layout.name: [] for layout in LAYOUTS.values()} for symbol in MARKETS}
    updates = []
    for event in chain.updates():
        symbol = symbols.get(event["market_id"], str(event["market_id"]))
        values = _fractions(event["values"])
        if event["layout"] == LENDING.name:
            values = _lending_view(values)
        history.setdefault(symbol, {}).setdefault(event["layout"], []).append(
            {"epoch": event["epoch"], "timestamp": event["timestamp"], **values})
        updates.append({"symbol": symbol, "layout": event["layout"], "epoch": event["epoch"],
                        "tx_hash": event["tx_hash"], "block": event["block"], "timestamp": event["timestamp"],
                        "gas_used": event["gas_used"], "model_id": event["model_id"], "values": values,
                        # the oracle stores nothing without a valid proof: the event is the verification record
                        "verification": "verified at proposal time, applied by governance" if event["override"]
                        else "verified on-chain in submitUpdate"})
    return history, updates[::-1][:LATEST_UPDATES]


def _proposals(chain: ChainGateway) -> list[dict[str, Any]]:
    from oracle.governance import PROPOSAL_STATES, upgrade_verification

    address, abi = chain.manifest["contracts"].get("RiskGovernor"), chain.manifest["abis"].get("RiskGovernor")
    if address is None or abi is None:
        return []
    governor = chain.w3.eth.contract(address=address, abi=abi)
    start = chain.manifest.get("block", 0)
    proved = {e.args.proposalId for e in governor.events.ProvenProposalCreated.get_logs(from_block=start)}
    rows = []
    for event in governor.events.ProposalCreated.get_logs(from_block=start):
        proposal_id = event.args.proposalId
        against, in_favour, abstain = governor.functions.proposalVotes(proposal_id).call()
        title = event.args.description.strip().splitlines()[0].lstrip("# ") if event.args.description.strip() else ""
        upgrade = upgrade_verification(event.args.description)
        rows.append({"proposal_id": str(proposal_id), "title": title,
                     "state": PROPOSAL_STATES[governor.functions.state(proposal_id).call()],
                     "proof": "proof verified at proposal time" if proposal_id in proved
                     else f"new circuit's proof verified at block {upgrade[1]} (eth_call)" if upgrade
                     else "no proof: ordinary proposal",
                     "votes": {"for": in_favour / WAD, "against": against / WAD, "abstain": abstain / WAD},
                     "vote_end_block": int(event.args.voteEnd)})
    return rows[::-1]


def _contributions(settings: Settings) -> dict[str, Any] | None:
    """The explanation of the newest confirmed update that published one."""
    with session_scope(settings.database_url) as session:
        job = session.scalars(select(Job).where(Job.state == JobState.CONFIRMED, Job.explanation.is_not(None))
                              .order_by(Job.finished_at.desc()).limit(1)).first()
        if job is None:
            return None
        return {"symbol": job.market, "epoch": job.epoch, "model_version": job.model_version, **job.explanation}


def _drift(settings: Settings) -> list[dict[str, Any]]:
    """The trailing drift statistics and rules of every scored model's market."""
    rules = settings.drift_rules()
    with session_scope(settings.database_url) as session:
        scored = session.execute(select(DriftScore.model_version, DriftScore.market).distinct()).all()
        return [{"model_version": model, **drift_status(session, model, market, rules).to_dict()}
                for model, market in sorted(scored) if market in settings.markets]


def snapshot(settings: Settings) -> dict[str, Any]:
    """Everything the page shows; `error` names what is unreachable instead of failing the page."""
    data: dict[str, Any] = {"chain": None, "error": None, "markets": [], "history": {}, "updates": [],
                            "proposals": [], "contributions": _contributions(settings),
                            "drift": _drift(settings),
                            "layouts": {layout.name: list(layout.names) for layout in LAYOUTS.values()},
                            "shocks": list(OPTIONS.names)}
    if not settings.deployment_path.exists():
        data["error"] = f"no deployment manifest at {settings.deployment_path}"
        return data
    manifest = json.loads(settings.deployment_path.read_text())
    try:
        chain = ChainGateway(settings.rpc_url, manifest, None, request_timeout=10)
        head = chain.w3.eth.get_block("latest")
        paused = chain.paused()
        data["chain"] = {"chain_id": manifest["chain_id"], "block": head.number, "timestamp": head.timestamp,
                         "oracle": chain.oracle.address, "paused": paused}
        data["markets"] = _markets(chain, head.timestamp, paused)
        data["history"], data["updates"] = updates(chain)
        data["proposals"] = _proposals(chain)
    except (OracleError, Web3Exception, OSError, KeyError) as error:
        data["error"] = f"chain unavailable at {settings.rpc_url}: {error}"
    return data
