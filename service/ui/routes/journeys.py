"""The journeys list and one journey's page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.ui.deps import FiguresDep, ReaderDep, RuntimeDep, SessionDep
from service.ui.journey_page import journey_page, journeys_list
from service.ui.pages import date_range, range_days, render

router = APIRouter()
Day = Annotated[str | None, Query(max_length=40)]


@router.get("/journeys")
def journeys(request: Request, runtime: RuntimeDep, figures: FiguresDep, _: ReaderDep) -> Response:
    """Every journey with its last 30 days."""
    window = date_range(runtime.clock.now())
    start, end = range_days(window)
    as_of, rows = journeys_list(runtime, figures, window=window)
    return render(request, "journeys.html", rows=rows, start=start, end=end, as_of=as_of)


@router.get("/journeys/{journey_id}")
def journey(
    request: Request,
    journey_id: str,
    runtime: RuntimeDep,
    session: SessionDep,
    figures: FiguresDep,
    _: ReaderDep,
    version: Annotated[str | None, Query(max_length=100)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    idle_days: Annotated[int, Query(ge=1, le=3650)] = 30,
) -> Response:
    """The map, funnel, messages, paths, lift and stuck contacts of one journey version."""
    window = date_range(runtime.clock.now(), start, end)
    page = journey_page(
        session,
        runtime,
        journey_id,
        figures,
        version=version or None,
        window=window,
        idle_days=idle_days,
    )
    return render(request, "journey.html", **page)
