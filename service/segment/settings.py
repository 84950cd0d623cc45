"""Settings of the Segment-compatible tracking API (POST /v1/*), all NURTURE_SEGMENT_*."""

from __future__ import annotations

from pydantic import Field, SecretStr

from service.settings_base import SettingsGroup


class SegmentSettings(SettingsGroup):
    """Write keys and how long anonymous visitors' events wait for an identify.

    The keys are a secret-typed text (`key` or `key=label`, comma-separated) so they never
    show in a settings dump; `service.segment.auth.parse_write_keys` reads them.
    """

    segment_write_keys: SecretStr | None = None
    segment_anonymous_days: int = Field(default=30, ge=1, le=400)
