"""Typed, frozen settings read from `SPECGOODS_*` environment variables; the defaults give the embedded mode."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import NonNegativeInt, PositiveFloat, PositiveInt, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflow.domain.errors import InvalidInput

DEVELOPMENT_SECRET = "development-only-not-secret"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Everything a process needs to know about its deployment; built once per process by `load_settings`."""

    model_config = SettingsConfigDict(env_prefix="SPECGOODS_", frozen=True, extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    secret_key: str = ""
    instance_path: Path = Path("instance")
    database_url: str = ""
    redis_url: str = ""
    district: str = "xiamen"
    policies_dir: Path | None = None
    districts_file: Path | None = None
    calendar_file: Path | None = None
    smtp_url: str = ""
    mail_from: str = "specgoods@localhost"
    # Each worker writes its heartbeat row this often; /readyz counts a worker gone when its row is this stale.
    worker_heartbeat_seconds: PositiveFloat = 10.0
    worker_stale_seconds: PositiveFloat = 30.0
    # A worker's own Prometheus exporter (0: none); the web serves /metrics itself (docs/monitoring.md).
    worker_metrics_port: NonNegativeInt = 0
    worker_metrics_host: str = "127.0.0.1"
    # When set, /metrics asks for `Authorization: Bearer <token>`; unset, it answers loopback clients only.
    metrics_token: str = ""
    outbox_relay_seconds: float = 5.0
    # An outbox row sent this long ago whose task has not completed is sent again (the wait doubles each time):
    # longer than a task's own retries usually take, short enough that a lost message costs minutes, not hours.
    outbox_redeliver_seconds: PositiveFloat = 300.0
    # How often beat signs each district's audit-chain head: the longest stretch a database writer could rewrite.
    audit_checkpoint_seconds: PositiveFloat = 3600.0
    # How often beat runs the audit sequencer: the longest an event stays unsealed when no commit sealed it sooner.
    audit_seal_seconds: PositiveFloat = 1.0
    # Redis re-delivers a message unacknowledged for this long: above the longest task, never an ETA's home.
    broker_visibility_timeout: PositiveInt = 300
    log_level: str = "INFO"
    # "json" (one object per line, for a log shipper) or "text" (for a person); empty: JSON in production only.
    log_format: Literal["json", "text", ""] = ""
    # Reverse proxies in front of the web that append the client to X-Forwarded-For (0: clients connect directly).
    trusted_proxies: NonNegativeInt = 0

    @model_validator(mode="after")
    def _require_secret_in_production(self) -> Self:
        if self.env is Environment.PRODUCTION and not self.secret_key:
            raise ValueError("SPECGOODS_SECRET_KEY must be set when SPECGOODS_ENV=production")
        return self

    @property
    def is_embedded(self) -> bool:
        """Embedded mode: no Redis URL, so Celery runs on the in-memory transport inside the serve process."""
        return not self.redis_url

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.instance_path / 'specgoods.sqlite3').resolve()}"

    @property
    def broker_url(self) -> str:
        return self.redis_url or "memory://localhost/"  # a host named: kombu warns on every start without one

    @property
    def effective_secret_key(self) -> str:
        return self.secret_key or DEVELOPMENT_SECRET

    @property
    def mail_dir(self) -> Path:
        """Where the embedded default writes outgoing mail instead of sending it over SMTP."""
        return self.instance_path / "mail"

    @property
    def simulation_report_dir(self) -> Path:
        """Where `specgoods simulate` leaves its latest report, the one the auditor's page shows."""
        return self.instance_path / "simulations" / "latest"


def load_settings(**overrides: object) -> Settings:
    """Read the environment (plus overrides); a bad value becomes one clear `InvalidInput` naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "SPECGOODS_" + ".".join(str(part) for part in first["loc"]).upper() if first["loc"] else "settings"
        raise InvalidInput(f"{name}: {first['msg']}", field=name) from exc
