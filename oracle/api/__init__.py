"""HTTP API: `create_app()` and its routers."""

from oracle.api.app import create_app

__all__ = ["create_app"]
