"""Persistence: SQLAlchemy 2 tables, sessions for SQLite or PostgreSQL, and Alembic migrations."""

from oracle.db.models import (PROGRESS, ApiKey, Base, Batch, DriftScore, Job, JobEvent, JobState, PostedReport, Retrain,
                              utcnow)
from oracle.db.session import alembic_config, engine_for, migrate, session_factory, session_scope

__all__ = ["PROGRESS", "ApiKey", "Base", "Batch", "DriftScore", "Job", "JobEvent", "JobState", "PostedReport", "Retrain", "alembic_config", "engine_for",
           "migrate", "session_factory", "session_scope", "utcnow"]
