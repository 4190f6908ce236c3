"""Retraining when drift rules fire: a new version trained on what was known then, its circuit, and a
proved upgrade proposal through the governor.

The confirm stage (oracle/pipeline.py) scores the updates its confirmation closes, then asks
`open_retrain` whether the rules in Settings fire for that model version in any of the batch's
markets. A rule that fires opens one `Retrain` row (per version and epoch; none while another retrain
of the version is pending or running, nor within `retrain_cooldown_epochs` of one proposed), which the
`retrain` task runs (`run_retrain`; `run_to_end` runs it inline):

1. the drifting version's training config and policy, walk-forward scored and refitted on the bundled
   days before the trigger epoch only (`models.train.train(until=...)`: the day the epoch starts and
   everything after it is never read), stored as `<version>-retrain-<epoch>` in
   `models.versions.RETRAINED_DIR` (ignored by git) with its card and backtest;
2. for each batch size the service proves the drifting version at, the new version's circuit (in the
   ignored cache) and an upgrade proposal (`Governance.propose_model`): a proof on the trigger epoch's
   windows that must verify on the deployed reusable verifier under the new VKA before anything is sent, and a
   description holding the drift evidence and the walk-forward backtest for voters (the dashboard
   lists the governor's proposals).

A worker claims a retrain (pending → running) before it works on it; a crash leaves it running until
`retrain_lease_seconds` lapse, after which the redelivered task claims it again, reuses the stored
version and the circuit cache, and opens only the proposals not yet recorded.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Collection

from requests import RequestException
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from models.drift import DriftReport, DriftRules
from models.errors import ModelError
from models.features import DAY, epoch_start
from models.train import ForecasterConfig, train
import models.versions as versions
from models.versions import ModelVersion, load_version, version_dir
from oracle.db import Retrain, session_scope, utcnow
from oracle.drift import drift_status
from oracle.errors import OracleError, TransientError
from oracle.governance import Governance
from oracle.pipeline import aware
from oracle.runtime import split_key
from oracle.settings import Settings
from prover.errors import ProverError

log = logging.getLogger(__name__)

PENDING, RUNNING, PROPOSED, FAILED = "pending", "running", "proposed", "failed"


def retrained_version(version: str, epoch: int) -> str:
    return f"{version}-retrain-{epoch}"


def evidence_lines(evidence: dict[str, dict], epoch: int) -> list[str]:
    """The drift evidence as description lines: per market, the rules that fired and their window."""
    lines = [f"Drift: rules fired at epoch {epoch} ({epoch_start(epoch).date()}); the retrain read no day "
             f"from {epoch_start(epoch).date()} on."]
    for market, report in sorted(evidence.items()):
        lines.append(f"- {market}: {'; '.join(report['fired'])} over {report['days']} scored days ({report['first']} to "
                     f"{report['last']}), {report['var_hits']} VaR99 breaches.")
    return lines


def open_retrain(database_url: str, model_version: str, epoch: int, markets: Collection[str],
                 rules: DriftRules, cooldown_epochs: int) -> str | None:
    """A new pending retrain of `model_version` when its rules fire in any of `markets` after the
    confirmation of `epoch`; None when none fires, a retrain of the version is pending or running, or
    one was proposed less than `cooldown_epochs` before (its vote is still under way)."""
    try:
        with session_scope(database_url) as session:
            blocking = or_(Retrain.state.in_([PENDING, RUNNING]),
                           (Retrain.state == PROPOSED) & (Retrain.epoch > epoch - cooldown_epochs))
            if session.scalars(select(Retrain.id).where(Retrain.model_version == model_version, blocking)).first():
                return None
            reports: dict[str, DriftReport] = {m: drift_status(session, model_version, m, rules) for m in markets}
            evidence = {m: r.to_dict() for m, r in reports.items() if r.drifting}
            if not evidence:
                return None
            retrain = Retrain(id=uuid.uuid4().hex, model_version=model_version, epoch=epoch, evidence=evidence,
                              state=PENDING, proposals=[])
            session.add(retrain)
    except IntegrityError:  # another worker confirming this epoch's other batch opened it first
        return None
    log.warning("drift rules fired: retrain opened", extra={"retrain_id": retrain.id,
                                                            "model_version": model_version, "epoch": epoch})
    return retrain.id


def _version_for(drifting: ModelVersion, epoch: int) -> ModelVersion:
    """The retrained version: stored already (a rerun after a crash), else trained now."""
    name = retrained_version(drifting.version, epoch)
    if (version_dir(drifting.model_id, name) / "model_card.json").exists():
        return load_version(drifting.model_id, name)
    config = ForecasterConfig.from_dict(drifting.card["train_config"])
    stored, _ = train(config, drifting.policy, drifting.model_id, name, until=epoch_start(epoch) - DAY,
                      root=versions.RETRAINED_DIR)
    return stored


def run_retrain(settings: Settings, retrain_id: str) -> str:
    """Run a pending retrain to its proposals (bundles in `settings.proposals_dir`); the retrain's state
    after. Transient errors (the chain unreachable) propagate for the task to retry; any other failure
    is recorded on the row."""
    with session_scope(settings.database_url) as session:
        retrain = session.get(Retrain, retrain_id)
        if retrain is None:
            raise OracleError(f"no retrain {retrain_id}")
        # a running retrain is another worker's until its lease lapses (that worker died)
        lapsed = aware(retrain.updated_at) < utcnow() - timedelta(seconds=settings.retrain_lease_seconds)
        if not (retrain.state == PENDING or (retrain.state == RUNNING and lapsed)):
            return retrain.state
        claimed = session.execute(update(Retrain).where(Retrain.id == retrain_id, Retrain.state == retrain.state,
                                                        Retrain.updated_at == retrain.updated_at)
                                  .values(state=RUNNING, updated_at=utcnow())).rowcount
        if not claimed:  # another worker claimed it between the read and the update
            return RUNNING
        model_version, epoch, evidence = retrain.model_version, retrain.epoch, dict(retrain.evidence)
        done = {p["k"] for p in retrain.proposals}
        taken = [p["model_id"] for p in retrain.proposals]
    try:
        model_id, version = split_key(model_version)
        governance = _governance(settings)  # before minutes of training: a missing deployment fails fast
        new = _version_for(load_version(model_id, version), epoch)
        sizes = [k for k in settings.models[model_version] if k not in done]
        for k, new_id in zip(sizes, governance.free_model_ids(len(sizes), taken)):
            out = Path(settings.proposals_dir) / f"{new.model_id}@{new.version}-k{k}.json"
            proposal = governance.propose_model(f"{new.model_id}@{new.version}", out,
                                                k, new_id, backtest=new.card["walk_forward"],
                                                evidence=evidence_lines(evidence, epoch),
                                                end=str((epoch_start(epoch) - DAY).date()))
            with session_scope(settings.database_url) as session:
                row = session.get(Retrain, retrain_id)
                row.new_version = f"{new.model_id}@{new.version}"
                row.proposals = [*row.proposals, {"k": k, "model_id": new_id,
                                                  "proposal_id": str(proposal.proposal_id),
                                                  "tx_hash": proposal.tx_hash, "bundle": str(proposal.bundle_path)}]
    except TransientError:
        finish(settings, retrain_id, PENDING, None)  # for the retry to claim
        raise
    except RequestException as error:  # the chain unreachable: retried
        finish(settings, retrain_id, PENDING, None)
        raise TransientError(f"retrain {retrain_id}: {error}") from error
    except (OracleError, ModelError, ProverError, OSError) as error:
        log.exception("retrain failed", extra={"retrain_id": retrain_id})
        return finish(settings, retrain_id, FAILED, f"{type(error).__name__}: {error}")
    return finish(settings, retrain_id, PROPOSED, None)


def _governance(settings: Settings) -> Governance:
    from oracle.services import publisher_accounts, signer

    return Governance.from_files(settings.rpc_url, settings.deployment_path, signer(settings).key.hex(),
                                 [a.key.hex() for a in publisher_accounts(settings)])


def finish(settings: Settings, retrain_id: str, state: str, error: str | None) -> str:
    """Record a retrain's end state (and the error of a failed one), so that a later rule may open another."""
    with session_scope(settings.database_url) as session:
        row = session.get(Retrain, retrain_id)
        row.state, row.error = state, error
    return state
