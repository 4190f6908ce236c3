"""Service fixtures: databases (SQLite file, and a throwaway PostgreSQL database) and an app."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from oracle.db import migrate
from oracle.settings import Settings

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _postgres_available() -> bool:
    try:
        with create_engine(POSTGRES_ADMIN).connect():
            return True
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False


@pytest.fixture(scope="session")
def postgres_url():
    if not _postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 (make services)")
    name = f"zkrisk_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    from oracle.db import engine_for

    engine_for.cache_clear()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'oracle.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        from sqlalchemy import MetaData

        from oracle.db import engine_for

        engine = engine_for(url)
        with engine.begin() as connection:
            meta = MetaData()
            meta.reflect(connection)
            meta.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    migrate(url)
    return url


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Embedded-mode settings on a fresh SQLite file, no chain deployed, no worker thread."""
    return Settings(database_url=f"sqlite:///{tmp_path / 'oracle.db'}", broker_url="memory://",
                    embedded_worker=False, start_anvil=False, rpc_url="http://127.0.0.1:9",
                    deployment_path=tmp_path / "deployment.json", write_rate_limit=5)
