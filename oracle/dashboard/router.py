"""Routes of the dashboard: the page, its two static assets, and the snapshot it polls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from fastapi.concurrency import run_in_threadpool

from oracle.dashboard.data import snapshot
from oracle.settings import Settings, get_settings

STATIC = Path(__file__).resolve().parent / "static"
router = APIRouter(prefix="/dashboard", tags=["dashboard"])


@router.get("", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/dashboard.js", include_in_schema=False)
def script() -> FileResponse:
    return FileResponse(STATIC / "dashboard.js", media_type="text/javascript")


@router.get("/dashboard.css", include_in_schema=False)
def style() -> FileResponse:
    return FileResponse(STATIC / "dashboard.css", media_type="text/css")


@router.get("/data")
async def data(settings: Settings = Depends(get_settings)) -> dict[str, Any]:
    """Markets, parameter history, latest updates, risk contributions and proposals, read from the chain."""
    # web3 calls block: keep them off the event loop
    return await run_in_threadpool(snapshot, settings)
