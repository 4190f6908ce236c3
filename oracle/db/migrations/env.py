"""Alembic environment: online migrations against the URL `oracle.db.migrate` configures."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from oracle.db.models import Base

config = context.config
with engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                        poolclass=pool.NullPool).connect() as connection:
    # batch mode lets later migrations alter tables on SQLite, which has no ALTER COLUMN
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
