from __future__ import annotations

from fastapi import APIRouter

from oracle.api.schemas import ModelOut
from oracle.api.services import PipelineDep
from oracle.errors import ConfigurationError
from oracle.services import load_manifest
from oracle.api.deps import SettingsDep

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=list[ModelOut])
def list_models(pipeline: PipelineDep, settings: SettingsDep) -> list[ModelOut]:
    """The model version this service proves with, and its on-chain registrations (one per batch size)."""
    version = pipeline.runtime.version
    try:
        on_chain = load_manifest(settings)["models"]
    except ConfigurationError:
        on_chain = None
    return [ModelOut(model_id=version.model_id, version=version.version, batch_sizes=pipeline.runtime.batch_sizes,
                     card=version.card, on_chain=on_chain)]
