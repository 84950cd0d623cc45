"""Making a set of journey files the current versions: the one writer of which version new
entries use, shared by start-up and reload, so every process sees the same catalog."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session

from service.catalog import repository as catalog_repo
from service.catalog.schemas import NewVersion, ReloadReport, RemovedJourney, VersionRef
from service.engine.loader import JourneySource
from service.errors import JourneyErrors


def publish(
    session: Session, *, sources: Mapping[str, JourneySource], now: datetime
) -> ReloadReport:
    """Store each file's version and make the set current; raises JourneyErrors (nothing
    changed) when an explicit version's text differs from what was stored under it."""
    catalog = catalog_repo.lock_catalog(session, now=now)
    errors = []
    for journey_id, source in sources.items():
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
            message = (
                f"journey '{journey_id}' version {source.version} differs from the stored source"
                " of that version; raise the version (or remove the version line to derive it"
                " from the content)"
            )
            errors.append(source.error(message, "version"))
    if errors:
        raise JourneyErrors(errors)
    current = {row.journey_id: row.version for row in catalog_repo.current_versions(session)}
    report = ReloadReport(
        generation=catalog.generation, changed=False, new_versions=[], unchanged=[], removed=[]
    )
    for journey_id, source in sorted(sources.items()):
        if current.get(journey_id) == source.version:
            report.unchanged.append(VersionRef(journey=journey_id, version=source.version))
            continue
        catalog_repo.set_current(session, journey_id=journey_id, version=source.version)
        report.new_versions.append(
            NewVersion(
                journey=journey_id,
                version=source.version,
                previous=current.get(journey_id),
                path=source.path,
            )
        )
    for journey_id in sorted(set(current) - set(sources)):
        catalog_repo.set_current(session, journey_id=journey_id, version=None)
        active = catalog_repo.active_counts(session, journey_id=journey_id)
        report.removed.append(
            RemovedJourney(
                journey=journey_id, version=current[journey_id], active=sum(active.values())
            )
        )
    if report.new_versions or report.removed:
        catalog.generation += 1
        catalog.updated_at = now
        session.add(catalog)
        report.changed = True
        report.generation = catalog.generation
    return report
