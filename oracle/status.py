"""What `zkrisk status` prints: per-market last update and in-flight jobs, and the latest jobs."""

from __future__ import annotations

from sqlalchemy import func, select

from models.spec import WAD
from oracle.db import Job, JobState, migrate, session_scope, utcnow
from oracle.pipeline import aware
from oracle.settings import Settings


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def market_rows(settings: Settings) -> list[tuple[str, ...]]:
    """Per model and market: last confirmed epoch, its policy values (max LTV, LT) or headline forecast,
    age and jobs in flight."""
    migrate(settings.database_url)
    rows = []
    with session_scope(settings.database_url) as session:
        for model in settings.models:
            for market in settings.markets:
                last = session.scalars(select(Job).where(Job.model_version == model, Job.market == market,
                                                         Job.state == JobState.CONFIRMED)
                                       .order_by(Job.epoch.desc()).limit(1)).first()
                flying = session.scalar(select(func.count()).where(
                    Job.model_version == model, Job.market == market,
                    Job.state.not_in([JobState.CONFIRMED, JobState.FAILED])))
                if last is None:
                    rows.append((model, market, "-", "-", "-", str(flying)))
                    continue
                values = ", ".join(f"{name} {int(v) / WAD:.4f}" for name, v in last.values_wad.items())
                rows.append((model, market, str(last.epoch), values,
                             _age((utcnow() - aware(last.finished_at)).total_seconds()), str(flying)))
    return rows


def recent_jobs(settings: Settings, limit: int) -> list[tuple[str, ...]]:
    with session_scope(settings.database_url) as session:
        jobs = session.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit)).all()
        return [(j.id[:8], j.model_version, j.market, str(j.epoch), j.state.value, f"{j.progress:.0%}",
                 (f"{j.error_kind}: {j.error_rule or ''} {j.error_message or ''}"[:60] if j.state is JobState.FAILED
                  else (j.batch.tx_hash or "")[:18] if j.batch else "")) for j in jobs]
