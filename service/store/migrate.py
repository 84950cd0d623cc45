"""Apply the schema migrations programmatically (`nurture db upgrade`, and SQLite on start).

Migrations hold a lock while they run, so processes started together on a new database
(`nurture serve` and `nurture worker`) take turns: the first migrates, the others wait and
find the schema up to date. SQLite uses a file lock next to the database file; PostgreSQL
an advisory lock for the schema being migrated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

try:
    import fcntl
except ImportError:  # not POSIX: run unlocked, as before
    fcntl = None  # type: ignore[assignment]

MIGRATIONS = Path(__file__).parent / "migrations"
# First key of nurture's PostgreSQL advisory locks; the second is the schema's hash.
ADVISORY_LOCK_SPACE = 0x6E757274
logger = logging.getLogger(__name__)


def alembic_config(url: str) -> Config:
    """Alembic settings pointing at the migrations shipped in this package."""
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def lock_path(url: str) -> Path | None:
    """The lock file beside a SQLite database file; None for in-memory databases."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return path.with_name(f"{path.name}.migrate-lock")


@contextmanager
def _sqlite_lock(url: str) -> Iterator[None]:
    path = lock_path(url)
    if path is None or fcntl is None:
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # waits while another process migrates
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _postgresql_lock(url: str) -> Iterator[None]:
    """A session advisory lock on its own connection, held while alembic migrates."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            key = {"space": ADVISORY_LOCK_SPACE}
            lock = "SELECT pg_advisory_lock(:space, hashtext(current_schema()))"
            unlock = "SELECT pg_advisory_unlock(:space, hashtext(current_schema()))"
            connection.execute(text(lock), key)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text(unlock), key)
                connection.commit()
    finally:
        engine.dispose()


def upgrade(url: str | None = None) -> int:
    """Bring the database at `url` (default: settings) to the newest schema; exit code."""
    if url is None:
        from service.config import get_settings

        url = get_settings().database_url
    backend = make_url(url).get_backend_name()
    lock = _sqlite_lock if backend == "sqlite" else _postgresql_lock
    with lock(url):
        command.upgrade(alembic_config(url), "head")
    logger.info("database schema is up to date")
    return 0
