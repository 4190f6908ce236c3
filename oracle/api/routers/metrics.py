from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from oracle.api.deps import SettingsDep
from oracle.metrics import render

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus exposition"}})
def metrics(settings: SettingsDep) -> Response:
    """Prometheus metrics (see `oracle.metrics`)."""
    return Response(render(settings.database_url, settings.markets, settings.drift_rules()), media_type=CONTENT_TYPE_LATEST)
