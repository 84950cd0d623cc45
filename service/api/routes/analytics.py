"""Journey analytics: headline figures, stages, messages, channels, paths and lift, as JSON
or `?format=csv` with the same rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime

from service.analytics import report
from service.analytics.journey import PathSort
from service.api.deps import ReadScope, RuntimeDep, SessionDep
from service.api.errors import error_responses
from service.api.params import JourneyId
from service.errors import InvalidInput

router = APIRouter(prefix="/journeys", tags=["analytics"])
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/csv": {}}},
    **error_responses(401, 403, 404, 422, 503),
}
Since = Annotated[AwareDatetime | None, Query(description="From this time (RFC 3339), inclusive")]
Until = Annotated[AwareDatetime | None, Query(description="Before this time (RFC 3339)")]
Version = Annotated[str | None, Query(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]


@dataclass(frozen=True)
class Filters:
    """The range, version and format every analytics endpoint takes."""

    since: AwareDatetime | None
    until: AwareDatetime | None
    version: str | None
    format: str


def _filters(
    since: Since = None, until: Until = None, version: Version = None, format: Format = "json"
) -> Filters:
    if since is not None and until is not None and since >= until:
        raise InvalidInput("'since' must be before 'until'", field="since")
    return Filters(since, until, version, format)


FiltersDep = Annotated[Filters, Depends(_filters)]


def _answer(
    runtime: RuntimeDep,
    session: SessionDep,
    journey_id: str,
    figure: report.Figure,
    filters: Filters,
    **options: Any,
) -> Response:
    scope, names = report.scope_of(
        runtime.journeys,
        journey_id,
        version=filters.version,
        since=filters.since,
        until=filters.until,
    )
    found = report.answer(session, figure, scope, names, **options)
    if filters.format == "csv":
        return Response(report.to_csv(found), media_type="text/csv; charset=utf-8")
    return JSONResponse(found)


# The figures that take nothing but the shared filters: (figure, path, name, description).
_PLAIN_FIGURES: list[tuple[report.Figure, str, str, str]] = [
    (
        "analytics",
        "",
        "journey_analytics",
        "Entered, active, completed, converted, exited by why, conversion rate, median time to\n"
        "the goal, attributed revenue and messages sent.",
    ),
    (
        "stages",
        "/stages",
        "stage_analytics",
        "Per stage: visits, where they went next, who is still there, drop-off, time in it.",
    ),
    (
        "messages",
        "/messages",
        "message_analytics",
        "Per template and stage: delivery statuses reached, rates, conversions and revenue.",
    ),
    (
        "channels",
        "/channels",
        "channel_analytics",
        "The message figures per channel, and conversions of contacts each channel reached.",
    ),
    (
        "lift",
        "/lift",
        "lift_analytics",
        "Treatment against holdout: conversion-rate and revenue-per-contact lift with 95%\n"
        "intervals and p-values, or insufficient_data below 30 contacts in a group.",
    ),
]


def _add_plain_figure(figure: report.Figure, path: str, name: str, description: str) -> None:
    """Serve one figure that takes only the shared filters."""

    def endpoint(
        journey_id: JourneyId, runtime: RuntimeDep, session: SessionDep, filters: FiltersDep
    ) -> Response:
        return _answer(runtime, session, journey_id, figure, filters)

    router.add_api_route(
        f"/{{journey_id}}/analytics{path}",
        endpoint,
        methods=["GET"],
        name=name,
        description=description,
        dependencies=[ReadScope],
        responses=_RESPONSES,
    )


for _figure in _PLAIN_FIGURES:
    _add_plain_figure(*_figure)


@router.get("/{journey_id}/analytics/paths", dependencies=[ReadScope], responses=_RESPONSES)
def path_analytics(
    journey_id: JourneyId,
    runtime: RuntimeDep,
    session: SessionDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    sort: Annotated[PathSort, Query(description="contacts, revenue or speed")] = "contacts",
) -> Response:
    """The commonest stage sequences of ended enrollments; sort=revenue for the most
    profitable, sort=speed for the shortest to the goal."""
    return _answer(runtime, session, journey_id, "paths", filters, limit=limit, sort=sort)
