"""How processes follow the journey catalog: reloads, experiments and file watching."""

from __future__ import annotations

from pydantic import Field

from service.settings_base import SettingsGroup


class CatalogSettings(SettingsGroup):
    """How often each process looks for a reload and re-judges split experiments."""

    catalog_check_seconds: float = Field(default=1.0, ge=0, le=3600)
    experiment_check_seconds: float = Field(default=60.0, ge=0, le=86_400)
    watch_journeys: bool = False  # reload when files in journeys/ or content/ change
