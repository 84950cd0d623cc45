"""Everything a request or a scheduler run needs, built once per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from service.catalog.registry import JourneyRegistry
from service.clock import Clock, SystemClock
from service.config import Settings
from service.engine.render import ContentLibrary
from service.errors import NurtureError
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


def run_command(settings: Settings, work: Callable[[Runtime], int], *, err: TextIO) -> int:
    """A CLI command's body on a runtime of its own (the versions the service runs): a refusal
    prints one line and exits 2, and the runtime is closed however the body ends."""
    try:
        runtime = build_runtime(settings, SystemClock(), publish=False)
    except NurtureError as exc:
        print(f"nurture: {exc.message}", file=err)
        return 2
    try:
        return work(runtime)
    except NurtureError as exc:
        print(f"nurture: {exc.message}", file=err)
        return 2
    finally:
        runtime.close()
