"""What settings groups are built from, apart so packages' settings need not import config."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.errors import ConfigError


def split_commas(value: Any) -> Any:
    """The one parser of comma-separated settings: 'a, b,,c' -> ('a', 'b', 'c')."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


# A list written as one comma-separated environment variable.
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_commas)]


def secret_text(value: SecretStr | str | None) -> str | None:
    """The plain text of a secret setting, or None when it is unset or empty."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return text or None


def required(value: SecretStr | str | None, *, setting: str, needed_by: str) -> str:
    """A setting that `needed_by` cannot work without, or one ConfigError naming it."""
    text = secret_text(value)
    if text is None:
        raise ConfigError(f"{setting} is required by {needed_by}")
    return text


class SettingsGroup(BaseSettings):
    """What every settings group shares: the NURTURE_ prefix, .env, names or aliases."""

    model_config = SettingsConfigDict(
        env_prefix="NURTURE_", env_file=".env", extra="ignore", populate_by_name=True
    )
