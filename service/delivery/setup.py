"""The channels settings choose, built once per process around one shared HTTP client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from service.delivery.channels import Channel
from service.delivery.providers import PROVIDERS, ProviderContext
from service.delivery.settings import DeliverySettings


def build_channels(
    settings: DeliverySettings, *, client: httpx.AsyncClient, now: Callable[[], datetime]
) -> dict[str, Channel]:
    """The registered providers' channels that settings choose, sharing one HTTP client."""
    context = ProviderContext(client=client, now=now)
    return PROVIDERS.build_channels(settings, settings.provider_names(), context)
