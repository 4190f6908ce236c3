"""zkrisk oracle service: the API, the Celery pipeline, persistence and the chain client.

    oracle.api        create_app(): FastAPI routers per resource
    oracle.pipeline   Pipeline: request → fetch → commit → prove → submit → confirm, leased and idempotent
    oracle.worker     Celery app, one task per stage, beat (heartbeat, deviation, recover), embedded worker
    oracle.db         SQLAlchemy tables and Alembic migrations (SQLite or PostgreSQL)
    oracle.chain      deployment (deploy.py) and the web3 gateway the service sends with (client.py)
    oracle.feed       market data feeds (bundled data replay by default)
    oracle.bundle     proof bundle format, version 1
    oracle.metrics    Prometheus metrics from the database
    oracle.errors     exception tree (transient vs permanent)
"""
