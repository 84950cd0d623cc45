"""The settings of signed links and of website tracking."""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr

from service.settings_base import CommaList, SettingsGroup


class LinkSettings(SettingsGroup):
    """Signed unsubscribe, click and open links, and the address they point at."""

    secret_key: SecretStr | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    open_tracking: bool = False


class TrackingSettings(SettingsGroup):
    """Website tracking (POST /track): off while no publishable key is set."""

    track_publishable_keys: CommaList = ()
    track_allowed_origins: CommaList = ()  # exact origins, e.g. https://shop.example


class SiteSettings(Protocol):
    """What links to the shop's own pages need: the signing key and the shop's origins."""

    secret_key: SecretStr | None
    track_allowed_origins: tuple[str, ...]
