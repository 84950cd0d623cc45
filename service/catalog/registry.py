"""Journey versions: the current set, which every process reads from the catalog in the
database (so a reload anywhere reaches all of them), and every stored version enrollments
still use, each compiled once per process."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import NotRequired, TypedDict, Unpack

from service.catalog import experiments
from service.catalog import repository as catalog_repo
from service.catalog.publish import publish
from service.catalog.schemas import ReloadReport
from service.engine.core import CompiledJourney
from service.engine.loader import Catalog, compile_text, load_catalog
from service.engine.model import Winner
from service.errors import ConfigError, JourneyErrors, NotFound
from service.store.db import Database

logger = logging.getLogger(__name__)


class RegistryOptions(TypedDict):
    """How a registry reads stored versions and follows the catalog (see `JourneyRegistry`)."""

    db: Database
    default_tz: str
    clock: NotRequired[Callable[[], datetime] | None]
    check_seconds: NotRequired[float]
    experiment_seconds: NotRequired[float]


class JourneyRegistry:
    """Compiled journeys by (id, version); older versions are recompiled from stored source."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        db: Database,
        default_tz: str,
        clock: Callable[[], datetime] | None = None,
        check_seconds: float = 1.0,
        experiment_seconds: float = 60.0,
    ) -> None:
        self.catalog = catalog
        self.db = db
        self.default_tz = default_tz
        self.clock = clock
        self.check_seconds = check_seconds
        self.experiment_seconds = experiment_seconds
        self.generation: int | None = None
        self._compiled: dict[tuple[str, str], CompiledJourney] = {
            (journey.id, journey.version): journey for journey in catalog.journeys.values()
        }
        self._current: dict[str, CompiledJourney] = dict(catalog.journeys)
        self._winners: dict[str, dict[str, str]] = {}  # journey id -> split stage -> branch
        self._checked = -math.inf
        self._judged = -math.inf
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        journeys_dir: Path,
        *,
        now: datetime,
        publish: bool = True,
        **options: Unpack[RegistryOptions],
    ) -> JourneyRegistry:
        """Load the journey files and publish them as the current versions (refusing a
        rewritten version), or (`publish` off) follow the versions already published."""
        if not journeys_dir.is_dir():
            raise ConfigError(f"journeys folder not found: {journeys_dir}")
        registry = cls(load_catalog([journeys_dir], default_tz=options["default_tz"]), **options)
        if publish:
            registry.register(now=now)
        else:
            registry.refresh(force=True)
        return registry

    def register(self, *, now: datetime) -> ReloadReport:
        """Publish the files loaded at start-up (a restart picks up edited files, as a reload
        does); an explicit version must keep its source."""
        try:
            with self.db.write() as session:
                report = publish(session, sources=self.catalog.sources, now=now)
        except JourneyErrors as exc:
            raise ConfigError(exc.errors[0].message) from None
        self.refresh(force=True)
        return report

    # ----- following the catalog --------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Pick up a reload made by any process: one read of the catalog generation at most
        every `check_seconds`, and the current versions only when it changed. Called where
        work starts (a request, an event, a timer), never inside a transaction."""
        moment = time.monotonic()
        if force or moment - self._checked >= self.check_seconds:
            self._checked = moment
            self._follow_catalog()
        if self.clock is not None and moment - self._judged >= self.experiment_seconds:
            self._judged = moment
            self.refresh_winners(self.clock())

    def _follow_catalog(self) -> None:
        with self.db.session() as session:
            generation = catalog_repo.catalog_generation(session)
            if generation == self.generation:
                return
            rows = [
                (row.journey_id, row.version, row.source, row.path)
                for row in catalog_repo.current_versions(session)
            ]
        current: dict[str, CompiledJourney] = {}
        for journey_id, version, source, path in rows:
            try:
                current[journey_id] = self._compile(journey_id, version, source, path)
            except JourneyErrors as exc:  # published by an older release with other rules
                logger.error("journey %s version %s: %s", journey_id, version, exc.message)
        with self._lock:
            self._current = current
            self.generation = generation

    def _compile(self, journey_id: str, version: str, source: str, path: str) -> CompiledJourney:
        """One version, compiled once per process, with the winners named for its journey."""
        with self._lock:
            compiled = self._compiled.get((journey_id, version))
        if compiled is not None:
            return compiled
        compiled = compile_text(source, path=path, default_tz=self.default_tz, stored=True)
        with self._lock:
            compiled = self._compiled.setdefault((journey_id, version), compiled)
            compiled.winners = dict(self._winners.get(journey_id, {}))
        return compiled

    def refresh_winners(self, now: datetime) -> None:
        """Name the winning branch of each split whose experiment is decided, for every
        version of its journey compiled in this process."""
        with self._lock:
            journeys = [*self._current.values(), *self._compiled.values()]
        rules: dict[tuple[str, str], tuple[Winner, list[str]]] = {}
        for journey in journeys:  # the current version's branches count first
            for name, stage in journey.journey.stages.items():
                if stage.winner is not None and stage.split:
                    rules.setdefault((journey.id, name), (stage.winner, list(stage.split)))
        if not rules:
            return
        winners: dict[str, dict[str, str]] = {}
        with self.db.session() as session:
            for (journey_id, stage_name), (rule, branches) in rules.items():
                result = experiments.experiment(session, journey_id=journey_id, stage=stage_name)
                branch = experiments.winner_of(result, branches=branches, rule=rule, now=now)
                if branch is not None:
                    winners.setdefault(journey_id, {})[stage_name] = branch
        with self._lock:
            self._winners = winners
            for journey in journeys:
                journey.winners = dict(winners.get(journey.id, {}))

    # ----- reads ------------------------------------------------------------------------

    @property
    def current(self) -> dict[str, CompiledJourney]:
        """The current version of each journey, by id; new enrollments use these."""
        return self._current

    @property
    def date_attributes(self) -> frozenset[str]:
        """Contact attributes any current journey times messages by, so they must be dates."""
        return frozenset().union(*(j.date_attributes for j in self.current.values()))

    def get(self, journey_id: str, version: str) -> CompiledJourney:
        """One version, compiled once per process from its stored source."""
        with self._lock:
            compiled = self._compiled.get((journey_id, version))
        if compiled is not None:
            return compiled
        with self.db.session() as session:
            stored = catalog_repo.get_journey_version(
                session, journey_id=journey_id, version=version
            )
        if stored is None:
            raise NotFound(f"journey '{journey_id}' version {version} is not stored")
        return self._compile(journey_id, version, stored.source, stored.path)

    def current_of(self, journey_id: str) -> CompiledJourney:
        """The current version of a journey, or NotFound (also once its file is removed)."""
        compiled = self.current.get(journey_id)
        if compiled is None:
            raise NotFound(f"unknown journey '{journey_id}'")
        return compiled
