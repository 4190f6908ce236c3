from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from oracle.api.deps import SettingsDep
from oracle.api.schemas import ModelOut
from oracle.api.services import PipelineDep
from oracle.errors import ConfigurationError
from oracle.services import load_manifest

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=list[ModelOut])
def list_models(pipeline: PipelineDep, settings: SettingsDep) -> list[ModelOut]:
    """The model versions this service proves with, their declared layouts and their on-chain
    registrations (one per batch size)."""
    try:
        registered = load_manifest(settings)["models"]
    except ConfigurationError:
        registered = None
    out = []
    for key, runtime in pipeline.runtimes.items():
        version, layout = runtime.version, runtime.layout
        on_chain = None if registered is None else [m for m in registered if m.get("model_key") == key]
        out.append(ModelOut(model_id=version.model_id, version=version.version, layout=layout.name,
                            outputs=[{**asdict(o), "kind": o.kind.value, "guard": o.guard.value}
                                     for o in layout.outputs],
                            batch_sizes=runtime.batch_sizes, card=version.card, on_chain=on_chain))
    return out
