"""Service settings: environment variables prefixed `ZKRISK_` (or a `.env` file), one object.

The defaults are the embedded mode a laptop runs with `zkrisk serve`: SQLite, an in-process worker
on an in-memory broker, anvil on 8545 started if needed, bundled data replayed as the feed.
Production sets `ZKRISK_DATABASE_URL=postgresql+psycopg://...`, `ZKRISK_BROKER_URL=redis://...`
and `ZKRISK_EMBEDDED_WORKER=false`, and runs `zkrisk worker` processes.

Secrets are `SecretStr`: their repr and every log line show `**********`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.spec import MARKETS

STATE_DIR = Path(".zkrisk")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZKRISK_", env_file=".env", extra="ignore")

    # --- state and queues
    database_url: str = f"sqlite:///{STATE_DIR / 'oracle.db'}"
    #: the embedded worker's in-process broker; with a host, kombu does not warn that it assumed one
    broker_url: str = "memory://localhost/"
    embedded_worker: bool = True
    #: seconds an unacknowledged task stays invisible before Redis hands it to another worker;
    #: longer than the slowest stage, or a slow prove would run twice (the lease stops the second).
    visibility_timeout: int = 900
    #: how long a worker owns a job's stage; a crashed worker's stage is taken over after this.
    stage_lease_seconds: int = 300
    max_transient_retries: int = 8

    # --- chain
    rpc_url: str = "http://127.0.0.1:8545"
    start_anvil: bool = True
    deployment_path: Path = STATE_DIR / "deployment.json"
    confirmations: int = Field(1, ge=1)
    confirmation_timeout: float = 120.0
    #: the key that sends updates; alternatively `keystore_path` + `keystore_password`
    signer_key: SecretStr | None = None
    keystore_path: Path | None = None
    keystore_password: SecretStr | None = None
    #: the publisher keys this service posts commitments with (k of the registry's n)
    publisher_keys: list[SecretStr] = []

    # --- model and markets
    model_id: str | None = None
    model_version: str | None = None
    markets: list[str] = list(MARKETS)
    #: proofs cover this many markets at most; each size needs a circuit registered on chain
    batch_sizes: list[int] = [1, 2]

    # --- schedule (beat)
    heartbeat_seconds: float = 3600.0
    deviation_check_seconds: float = 300.0
    #: relative move of the latest close since the last proved window that triggers an update
    deviation_threshold: float = 0.05
    recovery_seconds: float = 60.0

    # --- API
    #: writes per minute per API key
    write_rate_limit: int = Field(30, ge=1)
    #: an API key created at startup if absent (hashed before storing); for bootstrapping only
    bootstrap_api_key: SecretStr | None = None

    @field_validator("markets")
    @classmethod
    def _known_markets(cls, markets: list[str]) -> list[str]:
        unknown = [m for m in markets if m.upper() not in MARKETS]
        if unknown:
            raise ValueError(f"unknown markets {unknown}; known: {list(MARKETS)}")
        return [m.upper() for m in markets]

    @field_validator("batch_sizes")
    @classmethod
    def _batch_sizes(cls, sizes: list[int]) -> list[int]:
        if 1 not in sizes:
            raise ValueError("batch_sizes must include 1 so that a lone market can always be proved")
        return sorted(set(sizes))

    def to_env(self) -> dict[str, str]:
        """These settings as `ZKRISK_*` variables, for the worker processes a parent starts."""
        env = {}
        for name, value in self:
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, list):
                value = json.dumps([v.get_secret_value() if isinstance(v, SecretStr) else v for v in value])
            env[f"ZKRISK_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return env


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; FastAPI routes receive them through `Depends(get_settings)`."""
    return Settings()
