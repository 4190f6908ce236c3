"""zkrisk oracle service: the API, the Celery pipeline, persistence and the chain client.

    oracle.api        create_app(): FastAPI routers per resource
    oracle.pipeline   Pipeline: request → fetch → sign → prove → submit → confirm, leased and idempotent
    oracle.worker     Celery app, one task per stage, beat (heartbeat, deviation, recover), embedded worker
    oracle.db         SQLAlchemy tables and Alembic migrations (SQLite or PostgreSQL)
    oracle.chain      deployment (deploy.py) and the web3 gateway the service sends with (client.py)
    oracle.feed       market data feeds (bundled data replay by default)
    oracle.reports    EIP-712 publisher reports: data hash, signing, recovery
    oracle.bundle     proof bundle format zkrisk-bundle/2; oracle.audit re-checks one
    oracle.metrics    Prometheus metrics from the database
    oracle.errors     exception tree (transient vs permanent)
"""
