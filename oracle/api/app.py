"""`create_app`: the FastAPI application (routers in `oracle.api.routers`, one per resource)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from oracle import worker
from oracle.api.routers import health, margin, markets, metrics, models, proofs, proposals, reports, updates
from oracle.auth import RateLimiter, ensure_key
from oracle.dashboard import router as dashboard
from oracle.db import migrate, session_scope
from oracle.errors import NotFoundError
from oracle.settings import Settings, get_settings


def create_app(settings: Settings | None = None, start_worker: bool | None = None) -> FastAPI:
    """The service. `settings` default to the environment; `start_worker` to `settings.embedded_worker`."""
    settings = settings or get_settings()
    run_worker = settings.embedded_worker if start_worker is None else start_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        migrate(settings.database_url)
        if settings.bootstrap_api_key is not None:
            with session_scope(settings.database_url) as session:
                ensure_key(session, "bootstrap", settings.bootstrap_api_key.get_secret_value())
        embedded = worker.EmbeddedWorker() if run_worker else None
        if embedded is not None:
            embedded.start()
        yield
        if embedded is not None:
            embedded.stop()

    app = FastAPI(title="zkrisk oracle", version="0.1.0", lifespan=lifespan,
                  description="Proved risk parameters: request updates, follow jobs, signed reports, download proof "
                              "bundles.")
    worker.activate(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    app.state.settings = settings
    app.state.write_limiter = RateLimiter(settings.write_rate_limit)
    for module in (markets, updates, proofs, reports, models, proposals, health, metrics, margin):
        app.include_router(module.router)
    app.include_router(dashboard.router)

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, error: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    return app
