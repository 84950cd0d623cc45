"""All settings in one place, read from NURTURE_* environment variables (and .env)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.engine.timing import is_valid_zone


class Settings(BaseSettings):
    """Service settings; an invalid value stops start-up with one clear line."""

    model_config = SettingsConfigDict(env_prefix="NURTURE_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///nurture.db"
    journeys_dir: Path = Path("journeys")
    content_dir: Path = Path("content")
    api_keys: str = ""
    scheduler_interval: float = Field(default=1.0, gt=0, le=3600)
    scheduler_batch: int = Field(default=100, ge=1, le=10_000)
    default_timezone: str = "UTC"
    outbox_path: Path = Path("outbox.jsonl")
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    public_base_url: str = "http://127.0.0.1:8000"
    run_scheduler: bool = True
    claim_lease_seconds: float = Field(default=60.0, gt=0, le=86_400)
    max_send_attempts: int = Field(default=5, ge=1, le=100)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not is_valid_zone(value):
            raise ValueError(f"unknown IANA timezone {value!r}")
        return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
