"""Reloading journeys while the service runs: validate everything first, exactly as
`nurture validate` does, then publish the files as the current versions in one transaction,
or change nothing at all."""

from __future__ import annotations

import logging

from service.catalog.publish import publish
from service.catalog.schemas import ReloadReport
from service.engine.validate import validate
from service.errors import JourneyErrors
from service.runtime import Runtime

logger = logging.getLogger(__name__)


def reload_journeys(runtime: Runtime) -> ReloadReport:
    """Publish the journey files as they are now; raises JourneyErrors naming every problem
    (in journeys and templates) and then nothing changes."""
    settings = runtime.settings
    now = runtime.clock.now()
    result = validate([settings.journeys_dir], content_dir=settings.content_dir, today=now.date())
    if result.errors:
        raise JourneyErrors(result.errors)
    sources = {report.journey.id: report.source for report in result.reports}
    with runtime.db.write() as session:
        report = publish(session, sources=sources, now=now)
    runtime.journeys.refresh(force=True)
    if report.changed:
        logger.info(
            "journeys reloaded (generation %d): %d new version(s), %d removed",
            report.generation,
            len(report.new_versions),
            len(report.removed),
        )
    return report
