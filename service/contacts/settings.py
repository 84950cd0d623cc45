"""Contact settings: the country that national phone numbers are read in."""

from __future__ import annotations

from pydantic import field_validator

from service.contacts.phones import check_region
from service.settings_base import SettingsGroup


class ContactSettings(SettingsGroup):
    """NURTURE_DEFAULT_REGION: a CLDR region code (US, GB, DE...), or unset for E.164 only."""

    default_region: str | None = None

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else check_region(value)
