"""Contact settings: the country that national phone numbers are read in."""

from __future__ import annotations

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.contacts.phones import check_region


class ContactSettings(BaseSettings):
    """NURTURE_DEFAULT_REGION: a CLDR region code (US, GB, DE...), or unset for E.164 only."""

    model_config = SettingsConfigDict(
        env_prefix="NURTURE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    default_region: str | None = None

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else check_region(value)
