"""The `log` provider: every channel appends to the outbox file, so trying needs no account."""

from __future__ import annotations

from pathlib import Path

from service.delivery.channels import LogChannel
from service.delivery.providers.registry import Provider, ProviderContext
from service.settings_base import SettingsGroup


class LogSettings(SettingsGroup):
    """NURTURE_OUTBOX_PATH: the file the log provider appends to."""

    outbox_path: Path = Path("outbox.jsonl")


def build(settings: LogSettings, context: ProviderContext) -> LogChannel:
    """One file for every channel that chose the log."""
    return LogChannel(settings.outbox_path)


PROVIDER = Provider(name="log", channels=("email", "sms", "webhook"), build=build)
