"""What the journeys list and one journey's page show, gathered from the figures and the
journey registry so the routes only pick the template."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlmodel import Session

from service.analytics import journey as analytics
from service.analytics import report
from service.analytics.figures import StageRow, Summary
from service.analytics.lift import lift
from service.analytics.sql import EXIT, GOAL, Scope
from service.catalog import repository as catalog_repo
from service.catalog.views import stuck_contacts
from service.engine.core import CompiledJourney
from service.runtime import Runtime
from service.store.db import Database
from service.ui import svg, words
from service.ui.cache import FiguresCache
from service.ui.pages import Range, range_days

STUCK_SHOWN = 100
# The range start-up reads every page's figures over: long past, so nothing is in it.
_WARM_RANGE = Range(since=datetime(2000, 1, 1, tzinfo=UTC), until=datetime(2000, 1, 2, tzinfo=UTC))
# Figure reads wait on the database, not on Python: side by side, a page waits for its
# slowest figure instead of the sum of them.
_READERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="figures")


@dataclass(frozen=True)
class ListRow:
    """One journey in the list."""

    id: str
    persona: str | None
    version: str
    summary: Summary


def _read_side_by_side(
    db: Database, reads: dict[str, Callable[[Session], object]]
) -> dict[str, Any]:
    """Each figure read in a session of its own, at the same time."""

    def read_in_session(read: Callable[[Session], object]) -> object:
        with db.session() as session:
            return read(session)

    running = {name: _READERS.submit(read_in_session, read) for name, read in reads.items()}
    return {name: future.result() for name, future in running.items()}


def _scope(runtime: Runtime, journey_id: str, version: str | None, window: Range) -> Scope:
    scope, _ = report.scope_of(
        runtime.journeys, journey_id, version=version, since=window.since, until=window.until
    )
    return scope


def journeys_list(
    runtime: Runtime, figures: FiguresCache, *, window: Range
) -> tuple[datetime, list[ListRow]]:
    """Every loaded journey with its figures over the range, across its versions, and when
    they were computed."""

    def compute() -> list[ListRow]:
        current = sorted(runtime.journeys.current.items())
        summaries = _read_side_by_side(
            runtime.db,
            {
                journey_id: partial(
                    analytics.summary, scope=_scope(runtime, journey_id, None, window)
                )
                for journey_id, _compiled in current
            },
        )
        return [
            ListRow(
                id=journey_id,
                persona=compiled.journey.persona,
                version=compiled.version,
                summary=summaries[journey_id],
            )
            for journey_id, compiled in current
        ]

    key = ("list", tuple(sorted(runtime.journeys.current)), window)
    return figures.get(key, now=runtime.clock.now(), compute=compute)


def _funnel_bars(
    compiled: CompiledJourney, summary: Summary, stages: dict[str, StageRow]
) -> list[svg.Bar]:
    bars = [svg.Bar("entered", summary.entered, words.number(summary.entered), "(entered)")]
    for stage in svg.stage_order(compiled.journey):
        visits = stages[stage].entered if stage in stages else 0
        bars.append(svg.Bar(stage, visits, words.number(visits), stage))
    if compiled.journey.goal is not None:
        converted = summary.converted
        bars.append(svg.Bar("goal", converted, words.number(converted), "(goal)"))
    return bars


def _message_bars(rows: list[dict[str, Any]]) -> list[svg.Bar]:
    bars: list[svg.Bar] = []
    for row in rows:
        if row["channel"] != "email":
            continue
        for what in ("opened", "clicked"):
            rate = row["open_rate" if what == "opened" else "click_rate"]
            label, key = f"{row['stage']} {what}", f"{row['stage']}:{what}"
            bars.append(svg.Bar(label, rate or 0.0, words.percent(rate), key))
    return bars


def _stage_rows(compiled: CompiledJourney, stages: dict[str, StageRow]) -> list[dict[str, Any]]:
    rows = []
    for name in svg.stage_order(compiled.journey):
        stage = compiled.journey.stages[name]
        row = stages.get(name, StageRow(name))
        targets = [*dict.fromkeys(t.to for t in stage.on), GOAL, EXIT]
        ways = [(to, row.moved_to[to], row.share(to)) for to in targets if row.moved_to.get(to)]
        rows.append(
            {
                "name": name,
                "send": f"{stage.send.channel}: {stage.send.template}" if stage.send else None,
                "final": stage.final,
                "active": row.still_here,
                "visits": row.entered,
                "ways": ways,
                "time": row,
            }
        )
    return rows


def journey_page(
    session: Session,
    runtime: Runtime,
    journey_id: str,
    figures: FiguresCache,
    *,
    version: str | None,
    window: Range,
    idle_days: int,
) -> dict[str, Any]:
    """Everything one journey's page shows for a version (the current one by default)."""
    current = runtime.journeys.current_of(journey_id)
    compiled = runtime.journeys.get(journey_id, version) if version else current
    chosen = compiled.version
    scope = _scope(runtime, journey_id, chosen, window)

    def compute() -> dict[str, Any]:
        names = list(compiled.journey.stages)
        found = _read_side_by_side(
            runtime.db,
            {
                "summary": partial(analytics.summary, scope=scope),
                "stages": partial(analytics.stages, scope=scope, names=names),
                "messages": partial(report.message_rows, scope=scope),
                "lift": partial(lift, scope=scope),
                "paths": partial(analytics.paths, scope=scope),
            },
        )
        return {**found, "stages": {row.stage: row for row in found["stages"]}}

    as_of, kept = figures.get(
        ("journey", journey_id, chosen, window), now=runtime.clock.now(), compute=compute
    )
    summary, stages, messages = kept["summary"], kept["stages"], kept["messages"]
    found = kept["lift"]
    stuck = stuck_contacts(
        session, runtime.journeys, journey_id, now=runtime.clock.now(), idle_days=idle_days
    )
    start, end = range_days(window)
    return {
        "journey": compiled,
        "current": current.version,
        "versions": [
            v.version for v in catalog_repo.journey_versions(session, journey_id=journey_id)
        ],
        "start": start,
        "end": end,
        "idle_days": idle_days,
        "summary": summary,
        "map": svg.journey_map(
            compiled.journey, stages, title=f"Map of {journey_id}, version {chosen}"
        ),
        "funnel_chart": svg.bar_chart(
            _funnel_bars(compiled, summary, stages), title="Funnel: contacts entering each stage"
        ),
        "stages": _stage_rows(compiled, stages),
        "messages": messages,
        "message_chart": svg.bar_chart(
            _message_bars(messages), title="Open and click rate per email", scale=1.0
        ),
        "paths": kept["paths"],
        "as_of": as_of,
        "lift": found,
        "lift_sentence": words.lift_sentence(found),
        "stuck": stuck[:STUCK_SHOWN],
        "stuck_total": len(stuck),
    }


def warm_figures(runtime: Runtime) -> None:
    """Read the list's and every journey page's figures once, over a range with nothing in
    it, so their SQL is built at start-up and not on the first visit (70 ms a page)."""
    figures = FiguresCache()
    journeys_list(runtime, figures, window=_WARM_RANGE)
    with runtime.db.session() as session:
        for journey_id in runtime.journeys.current:
            journey_page(
                session,
                runtime,
                journey_id,
                figures,
                version=None,
                window=_WARM_RANGE,
                idle_days=30,
            )
