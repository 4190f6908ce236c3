"""Service settings: environment variables prefixed `ZKRISK_` (or a `.env` file), one object.

The defaults are the embedded mode a laptop runs with `zkrisk serve`: SQLite, an in-process worker
on an in-memory broker, anvil on 8545 started if needed, bundled data replayed as the feed, both
production models (lending policy and options margin) proved, and the configured publishers signing
reports in-process, each from its own copy of the data.
Production sets `ZKRISK_DATABASE_URL=postgresql+psycopg://...`, `ZKRISK_BROKER_URL=redis://...`
and `ZKRISK_EMBEDDED_WORKER=false`, and runs `zkrisk worker` processes.

Secrets are `SecretStr`: their repr and every log line show `**********`.
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.drift import DriftRules
from models.spec import MARKETS
from models.versions import OPTIONS_PRODUCTION, PRODUCTION

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
    #: keys of the publishers run in-process (embedded default: anvil's development publishers)
    publisher_keys: list[SecretStr] = []
    #: `zkrisk publish` processes asked for signed reports (GET /reports); publishers may also POST them
    publisher_urls: list[str] = []

    # --- models and markets
    #: model version ("model_id@version") → batch sizes (markets per proof) it is proved at; each
    #: (version, size) is a circuit registered on chain. A batch is one proof of one model.
    models: dict[str, list[int]] = {f"{PRODUCTION[0]}@{PRODUCTION[1]}": [1, 2],
                                    f"{OPTIONS_PRODUCTION[0]}@{OPTIONS_PRODUCTION[1]}": [1]}
    markets: list[str] = list(MARKETS)

    # --- schedule (beat)
    heartbeat_seconds: float = 3600.0
    deviation_check_seconds: float = 300.0
    #: relative move of the latest close since the last proved window that triggers an update
    deviation_threshold: float = 0.05
    recovery_seconds: float = 60.0
    #: replay the bundled history from this UTC date as if it were live (`zkrisk serve --replay-from`)
    replay_from: date | None = None
    #: replayed seconds per real second (86400: a day a second)
    replay_speed: float = Field(86_400.0, gt=0)

    # --- drift monitoring (oracle/drift.py): the trailing window of scored updates and the rule thresholds
    drift_window: int = Field(250, ge=2)
    #: scored days below which no rule is judged
    drift_min_days: int = Field(60, ge=2)
    drift_kupiec_p_min: float = Field(0.01, ge=0, le=1)
    drift_christoffersen_p_min: float = Field(0.01, ge=0, le=1)
    #: model QLIKE over the best baseline's on the window: above it, the baselines forecast better
    drift_qlike_ratio_max: float = Field(1.0, gt=0)
    drift_psi_max: float = Field(0.25, gt=0)
    #: when a rule fires: retrain on the data known then and open a proved upgrade proposal
    #: (oracle/retrain.py); off, the rules are only reported
    retrain_on_drift: bool = True
    #: epochs after a proposed retrain's trigger in which no new one opens (its vote and timelock run)
    retrain_cooldown_epochs: int = Field(30, ge=0)
    #: a running retrain (training, circuits, proofs: minutes) is another worker's for this long
    retrain_lease_seconds: int = Field(3600, ge=60)
    #: where the retrain's upgrade proposals' bundles are written
    proposals_dir: Path = STATE_DIR / "proposals"

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

    @field_validator("models")
    @classmethod
    def _models(cls, models: dict[str, list[int]]) -> dict[str, list[int]]:
        if not models:
            raise ValueError("configure at least one model version")
        for key, sizes in models.items():
            if "@" not in key:
                raise ValueError(f"model {key!r}: write it as model_id@version")
            if 1 not in sizes:
                raise ValueError(f"model {key}: batch sizes must include 1 so that a lone market can always "
                                 "be proved")
        return {key: sorted(set(sizes)) for key, sizes in models.items()}

    def drift_rules(self) -> DriftRules:
        return DriftRules(window=self.drift_window, min_days=self.drift_min_days,
                          kupiec_p_min=self.drift_kupiec_p_min,
                          christoffersen_p_min=self.drift_christoffersen_p_min,
                          qlike_ratio_max=self.drift_qlike_ratio_max, psi_max=self.drift_psi_max)

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
            elif isinstance(value, dict):
                value = json.dumps(value)
            env[f"ZKRISK_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return env


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; FastAPI routes receive them through `Depends(get_settings)`."""
    return Settings()
