"""Journey versions: the files loaded now, plus every stored version enrollments still use."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from service.catalog import repository as catalog_repo
from service.engine.core import CompiledJourney
from service.engine.loader import Catalog, compile_text, load_catalog
from service.errors import ConfigError, NotFound
from service.store.db import Database


class JourneyRegistry:
    """Compiled journeys by (id, version); older versions are recompiled from stored source."""

    def __init__(self, catalog: Catalog, *, db: Database, default_tz: str) -> None:
        self.catalog = catalog
        self.db = db
        self.default_tz = default_tz
        self._compiled: dict[tuple[str, str], CompiledJourney] = {
            (journey.id, journey.version): journey for journey in catalog.journeys.values()
        }
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, journeys_dir: Path, *, db: Database, default_tz: str, now: datetime
    ) -> JourneyRegistry:
        """Load the journey files and register their versions; refuses a rewritten version."""
        if not journeys_dir.is_dir():
            raise ConfigError(f"journeys folder not found: {journeys_dir}")
        registry = cls(
            load_catalog([journeys_dir], default_tz=default_tz), db=db, default_tz=default_tz
        )
        registry.register(now=now)
        return registry

    def register(self, *, now: datetime) -> None:
        """Store each loaded file's version; an explicit version must keep its source."""
        with self.db.write() as session:
            for journey_id, source in self.catalog.sources.items():
                stored = catalog_repo.get_journey_version(
                    session, journey_id=journey_id, version=source.version
                )
                if stored is None:
                    catalog_repo.add_journey_version(
                        session,
                        journey_id=journey_id,
                        version=source.version,
                        source=source.text,
                        path=source.path,
                        now=now,
                    )
                elif stored.source != source.text:
                    raise ConfigError(
                        f"{source.path}: journey '{journey_id}' version {source.version} differs "
                        "from the stored source of that version; raise the version (or remove "
                        "the version line to derive it from the content)"
                    )

    @property
    def current(self) -> dict[str, CompiledJourney]:
        """The journeys the files define now, by id; new enrollments use these."""
        return self.catalog.journeys

    @property
    def date_attributes(self) -> frozenset[str]:
        """Contact attributes any current journey times messages by, so they must be dates."""
        return frozenset().union(*(j.date_attributes for j in self.current.values()))

    def get(self, journey_id: str, version: str) -> CompiledJourney:
        """One version, compiled once per process."""
        key = (journey_id, version)
        with self._lock:
            compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled
        with self.db.session() as session:
            stored = catalog_repo.get_journey_version(
                session, journey_id=journey_id, version=version
            )
        if stored is None:
            raise NotFound(f"journey '{journey_id}' version {version} is not stored")
        compiled = compile_text(
            stored.source, path=stored.path, default_tz=self.default_tz, stored=True
        )
        with self._lock:
            self._compiled[key] = compiled
        return compiled

    def current_of(self, journey_id: str) -> CompiledJourney:
        """The loaded version of a journey, or NotFound."""
        compiled = self.current.get(journey_id)
        if compiled is None:
            raise NotFound(f"unknown journey '{journey_id}'")
        return compiled
