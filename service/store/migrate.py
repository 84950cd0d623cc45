"""Apply the schema migrations programmatically (`nurture db upgrade`, and SQLite on start)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
logger = logging.getLogger(__name__)


def alembic_config(url: str) -> Config:
    """Alembic settings pointing at the migrations shipped in this package."""
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str | None = None) -> int:
    """Bring the database at `url` (default: settings) to the newest schema; exit code."""
    if url is None:
        from service.config import get_settings

        url = get_settings().database_url
    command.upgrade(alembic_config(url), "head")
    logger.info("database schema is up to date")
    return 0
