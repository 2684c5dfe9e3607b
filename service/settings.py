"""All settings of newsdrop in one pydantic-settings object (env prefix `NEWSDROP_`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("config/newsdrop.env")
_URL_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")


class Settings(BaseSettings):
    """Every knob of the service; each field documents itself in the README settings table."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSDROP_",
        env_file=(".env",),
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
    )

    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://...). Unset: embedded server under the data dir.",
    )
    data_dir: Path = Field(
        default=Path("newsdrop-data"),
        description="Holds inbox/, processing/, processed/, quarantine/ and the embedded database.",
    )
    inbox_dir: Path | None = Field(default=None, description="Override for <data_dir>/inbox.")
    processing_dir: Path | None = Field(
        default=None, description="Override for <data_dir>/processing."
    )
    processed_dir: Path | None = Field(
        default=None, description="Override for <data_dir>/processed."
    )
    quarantine_dir: Path | None = Field(
        default=None, description="Override for <data_dir>/quarantine."
    )
    embedded_dir: Path | None = Field(
        default=None, description="Override for <data_dir>/pgdata (embedded PostgreSQL data)."
    )
    http_host: str = Field(default="127.0.0.1", description="Address of the HTTP endpoints.")
    http_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        default=8080, description="Port of the HTTP endpoints (0 picks a free port)."
    )
    http_enabled: bool = Field(default=True, description="Serve /healthz, /readyz, /metrics.")
    settle_seconds: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=2.0,
        description="A file not renamed into the inbox is taken once its size and mtime "
        "stayed unchanged this long (monotonic clock).",
    )
    reconcile_seconds: Annotated[float, Field(gt=0, le=86400)] = Field(
        default=30.0, description="Interval of the full inbox scan that catches missed events."
    )
    max_file_bytes: Annotated[int, Field(gt=0)] = Field(
        default=16 * 1024 * 1024, description="Larger bundles are quarantined as too_large."
    )
    batch_size: Annotated[int, Field(ge=1, le=5000)] = Field(
        default=200, description="Bundles per database transaction at most."
    )
    workers: Annotated[int, Field(ge=0, le=64)] = Field(
        default=0,
        description="Parser processes; 0 means one per CPU core (parsing in-process on 1 core).",
    )
    watch_mode: Literal["auto", "inotify", "polling"] = Field(
        default="auto", description="auto: inotify, falling back to polling when it fails."
    )
    poll_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=1.0, description="Interval of the polling watcher."
    )
    retry_max_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30.0, description="Cap of the exponential backoff after transient failures."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console on a terminal, JSON lines otherwise."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest level logged."
    )
    failpoint: str | None = Field(
        default=None,
        description="Test only: exit the process at a named step "
        "(mid_claim, before_commit, after_commit, after_move).",
    )

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(_URL_SCHEMES):
            raise ValueError("must start with postgresql:// (the value is not shown: it is secret)")
        return value

    def folder(self, name: Literal["inbox", "processing", "processed", "quarantine"]) -> Path:
        """The absolute path of one lifecycle folder."""
        override: Path | None = getattr(self, f"{name}_dir")
        return (override or self.data_dir / name).absolute()

    @property
    def embedded_data(self) -> Path:
        """Where the embedded PostgreSQL keeps its data."""
        return (self.embedded_dir or self.data_dir / "pgdata").absolute()


def load_settings(config_file: Path | None = None) -> Settings:
    """Read settings from the environment, `.env` and a config file, or raise ConfigError."""
    env_files: list[Path] = [Path(".env")]
    chosen = config_file or Path(os.environ.get("NEWSDROP_CONFIG", DEFAULT_CONFIG_FILE))
    if config_file is not None and not chosen.is_file():
        raise ConfigError(f"config file {chosen} does not exist")
    if chosen.is_file():
        env_files.insert(0, chosen)
    secrets_dir = Path(os.environ.get("NEWSDROP_SECRETS_DIR", "/run/secrets"))
    try:
        return Settings(
            _env_file=tuple(env_files),  # type: ignore[call-arg]  # pydantic-settings init kwarg, not a field
            _secrets_dir=secrets_dir if secrets_dir.is_dir() else None,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"NEWSDROP_{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
