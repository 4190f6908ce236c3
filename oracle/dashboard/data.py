"""The dashboard's snapshot: on-chain facts read from the chain itself, pipeline facts from the database.

Parameters, their history, the updates and the proposals come from the contracts (the oracle's
RiskParametersUpdated events, the governor's proposal events), so the page shows what integrators
read, not what the service believes it sent. Only the risk contributions come from the service's
database: they are published with the update, not stored on chain.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from web3.exceptions import Web3Exception

from models.spec import MARKETS, WAD
from oracle.audit.chain import ChainView, abi
from oracle.audit.errors import AuditError
from oracle.bundle import ChainRecord
from oracle.db import Job, JobState, session_scope
from oracle.governance import PROPOSAL_STATES
from oracle.settings import Settings

LATEST_UPDATES = 20


def _fractions(values: dict[str, int]) -> dict[str, float]:
    return {name: value / WAD for name, value in values.items()}


def _markets(view: ChainView, now: int) -> list[dict[str, Any]]:
    rows = []
    for symbol, market_id in MARKETS.items():
        p = view.oracle.functions.getRiskParameters(market_id).call()
        updated_at = int(p[5])
        rows.append({"symbol": symbol, "market_id": market_id, "cr": p[0] / WAD, "lt": p[1] / WAD,
                     "vol": p[2] / WAD, "var99": p[3] / WAD, "es99": p[4] / WAD, "updated_at": updated_at,
                     "age_seconds": now - updated_at if updated_at else None, "epoch": int(p[8]),
                     "model_id": int(p[6]),
                     "status": "no data" if updated_at == 0 else
                     "stale" if view.oracle.functions.isStale(market_id).call() else "fresh"})
    return rows


def _updates(view: ChainView) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    symbols = {market_id: symbol for symbol, market_id in MARKETS.items()}
    history: dict[str, list[dict[str, Any]]] = {symbol: [] for symbol in MARKETS}
    updates = []
    for event in view.history():
        symbol = symbols.get(event["market_id"], str(event["market_id"]))
        values = _fractions(event["values"])
        history.setdefault(symbol, []).append({"epoch": event["epoch"], "timestamp": event["timestamp"], **values})
        receipt = view.w3.eth.get_transaction_receipt(event["tx_hash"])
        updates.append({"symbol": symbol, "epoch": event["epoch"], "tx_hash": event["tx_hash"],
                        "block": event["block"], "timestamp": event["timestamp"], "gas_used": receipt.gasUsed,
                        "model_id": event["model_id"], "cr": values["cr"], "lt": values["lt"],
                        # the oracle stores nothing without a valid proof: the event is the verification record
                        "verification": "verified at proposal time, applied by governance" if event["override"]
                        else "verified on-chain in submitUpdate"})
    return history, updates[::-1][:LATEST_UPDATES]


def _proposals(view: ChainView, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    address = manifest["contracts"].get("RiskGovernor")
    if address is None:
        return []
    governor = view.w3.eth.contract(address=address, abi=abi("RiskGovernor"))
    proved = {e.args.proposalId: e for e in governor.events.ProvenProposalCreated.get_logs(from_block=0)}
    rows = []
    for event in governor.events.ProposalCreated.get_logs(from_block=0):
        proposal_id = event.args.proposalId
        against, in_favour, abstain = governor.functions.proposalVotes(proposal_id).call()
        title = event.args.description.strip().splitlines()[0].lstrip("# ") if event.args.description.strip() else ""
        rows.append({"proposal_id": str(proposal_id), "title": title,
                     "state": PROPOSAL_STATES[governor.functions.state(proposal_id).call()],
                     "proof": ("proof verified at proposal time" if proposal_id in proved
                               else "no proof: ordinary proposal"),
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
        return {"symbol": job.market, "epoch": job.epoch, **job.explanation}


def snapshot(settings: Settings) -> dict[str, Any]:
    """Everything the page shows; `error` names what is unreachable instead of failing the page."""
    data: dict[str, Any] = {"chain": None, "error": None, "markets": [], "history": {}, "updates": [],
                            "proposals": [], "contributions": _contributions(settings)}
    if not settings.deployment_path.exists():
        data["error"] = f"no deployment manifest at {settings.deployment_path}"
        return data
    manifest = json.loads(settings.deployment_path.read_text())
    try:
        # model id 0: the dashboard reads every model's updates, not one model's registration
        view = ChainView(settings.rpc_url, ChainRecord.from_manifest(manifest, model_id=0))
        head = view.w3.eth.get_block("latest")
        data["chain"] = {"chain_id": manifest["chain_id"], "block": head.number, "timestamp": head.timestamp,
                         "oracle": view.oracle.address, "paused": view.oracle.functions.paused().call()}
        data["markets"] = _markets(view, head.timestamp)
        data["history"], data["updates"] = _updates(view)
        data["proposals"] = _proposals(view, manifest)
    except (AuditError, Web3Exception, OSError) as error:
        data["error"] = f"chain unavailable at {settings.rpc_url}: {error}"
    return data
