"""Everything a request or a scheduler run needs, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from service.catalog.registry import JourneyRegistry
from service.clock import Clock
from service.config import Settings
from service.engine.render import ContentLibrary
from service.store.db import Database, is_sqlite
from service.store.migrate import upgrade


@dataclass
class Runtime:
    """Settings, clock, database, journeys and content of one process."""

    settings: Settings
    clock: Clock
    db: Database
    journeys: JourneyRegistry
    content: ContentLibrary

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()


def build_runtime(settings: Settings, clock: Clock, *, publish: bool = True) -> Runtime:
    """Open the database (migrating an embedded SQLite file) and load the journeys; a process
    that serves (`publish`) makes its files the current versions, a tool (an import) uses
    the versions the service runs."""
    if is_sqlite(settings.database_url):
        upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        journeys = JourneyRegistry.load(
            settings.journeys_dir,
            db=db,
            default_tz=settings.default_timezone,
            now=clock.now(),
            clock=clock.now,
            check_seconds=settings.catalog_check_seconds,
            experiment_seconds=settings.experiment_check_seconds,
            publish=publish,
        )
    except Exception:
        db.dispose()
        raise
    return Runtime(
        settings=settings,
        clock=clock,
        db=db,
        journeys=journeys,
        content=ContentLibrary(settings.content_dir, limits=settings.template_limits()),
    )
