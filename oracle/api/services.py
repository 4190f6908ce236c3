"""Access to the process's pipeline and (optional) chain from request handlers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from oracle import worker
from oracle.chain.client import ChainGateway
from oracle.errors import ConfigurationError, RpcUnavailableError
from oracle.pipeline import Pipeline


def get_pipeline() -> Pipeline:
    return worker.pipeline()


PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]


def chain_or_none(pipeline: Pipeline) -> ChainGateway | None:
    """The chain gateway when a deployment is configured and its node answers; reads degrade to None."""
    try:
        gateway = pipeline.chain
        gateway.block_number()
        return gateway
    except (ConfigurationError, RpcUnavailableError):
        return None
