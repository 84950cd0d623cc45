"""Send providers by channel and name, so adding one is a module plus its registration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import httpx

from service.delivery.channels import Channel

# The settings a provider's build reads: its own group, or any class that includes it.
S = TypeVar("S", contravariant=True)


@dataclass(frozen=True)
class ProviderContext:
    """What a provider's channel may use besides settings: the shared client and the clock."""

    client: httpx.AsyncClient
    now: Callable[[], datetime]


@dataclass(frozen=True)
class Provider(Generic[S]):
    """One way to send: its settings name, its channels, and a build that checks credentials."""

    name: str
    channels: tuple[str, ...]
    build: Callable[[S, ProviderContext], Channel]


class ProviderRegistry(Generic[S]):
    """Providers by (channel, name); a name taken twice for one channel is a programming error."""

    def __init__(self) -> None:
        self._providers: dict[tuple[str, str], Provider[S]] = {}

    def register(self, provider: Provider[S]) -> Provider[S]:
        """Make a provider selectable for each of its channels."""
        for channel in provider.channels:
            known = self._providers.get((channel, provider.name))
            if known is not None and known != provider:
                raise ValueError(f"{channel} provider {provider.name!r} is registered already")
        for channel in provider.channels:
            self._providers[(channel, provider.name)] = provider
        return provider

    def names(self, channel: str) -> tuple[str, ...]:
        """The provider names a channel's setting accepts, in registration order."""
        return tuple(name for (served, name) in self._providers if served == channel)

    def build_channels(
        self, settings: S, chosen: Mapping[str, str], context: ProviderContext
    ) -> dict[str, Channel]:
        """The chosen channel per message type, one instance per provider (the log is shared)."""
        built: dict[Provider[S], Channel] = {}
        channels: dict[str, Channel] = {}
        for channel, name in chosen.items():
            provider = self._providers[(channel, name)]
            if provider not in built:
                built[provider] = provider.build(settings, context)
            channels[channel] = built[provider]
        return channels
