"""What the journeys list and one journey's page show, gathered from the figures and the
journey registry so the routes only pick the template."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from service.catalog import repository as catalog_repo
from service.catalog.views import stuck_contacts
from service.engine.core import CompiledJourney
from service.runtime import Runtime
from service.ui import figures, svg, words
from service.ui.figures import Range
from service.ui.pages import range_days

STUCK_SHOWN = 100


@dataclass(frozen=True)
class ListRow:
    """One journey in the list."""

    id: str
    persona: str | None
    version: str
    summary: figures.JourneySummary


def journeys_list(session: Session, runtime: Runtime, *, window: Range) -> list[ListRow]:
    """Every loaded journey with its figures over the range, across its versions."""
    journey_ids = sorted(runtime.journeys.current)
    summaries = figures.journey_summaries(session, journey_ids=journey_ids, window=window)
    return [
        ListRow(
            id=journey_id,
            persona=compiled.journey.persona,
            version=compiled.version,
            summary=summaries[journey_id],
        )
        for journey_id, compiled in sorted(runtime.journeys.current.items())
    ]


def _funnel_bars(compiled: CompiledJourney, funnel: figures.Funnel) -> list[svg.Bar]:
    bars = [svg.Bar("entered", funnel.entered, words.number(funnel.entered), "(entered)")]
    for stage in svg.stage_order(compiled.journey):
        visits = funnel.visits.get(stage, 0)
        bars.append(svg.Bar(stage, visits, words.number(visits), stage))
    if compiled.journey.goal is not None:
        bars.append(svg.Bar("goal", funnel.converted, words.number(funnel.converted), "(goal)"))
    return bars


def _message_bars(rows: list[figures.MessageRow]) -> list[svg.Bar]:
    bars: list[svg.Bar] = []
    for row in rows:
        if row.channel != "email":
            continue
        for what, rate in (("opened", row.open_rate), ("clicked", row.click_rate)):
            label, key = f"{row.stage} {what}", f"{row.stage}:{what}"
            bars.append(svg.Bar(label, rate or 0.0, words.percent(rate), key))
    return bars


def _stage_rows(
    compiled: CompiledJourney, funnel: figures.Funnel, times: dict[str, figures.StageTime]
) -> list[dict[str, Any]]:
    rows = []
    for name in svg.stage_order(compiled.journey):
        stage = compiled.journey.stages[name]
        targets = [*dict.fromkeys(t.to for t in stage.on), figures.GOAL, figures.EXIT]
        ways = [
            (to, funnel.moves[(name, to)], funnel.share(name, to))
            for to in targets
            if funnel.moves.get((name, to))
        ]
        rows.append(
            {
                "name": name,
                "send": f"{stage.send.channel}: {stage.send.template}" if stage.send else None,
                "final": stage.final,
                "active": funnel.active.get(name, 0),
                "visits": funnel.visits.get(name, 0),
                "ways": ways,
                "time": times.get(name),
            }
        )
    return rows


def journey_page(
    session: Session,
    runtime: Runtime,
    journey_id: str,
    *,
    version: str | None,
    window: Range,
    idle_days: int,
) -> dict[str, Any]:
    """Everything one journey's page shows for a version (the current one by default)."""
    current = runtime.journeys.current_of(journey_id)
    compiled = runtime.journeys.get(journey_id, version) if version else current
    chosen = compiled.version
    scope: dict[str, Any] = {"journey_id": journey_id, "version": chosen, "window": window}
    summary = figures.journey_summary(session, **scope)
    funnel = figures.stage_funnel(session, **scope)
    messages = figures.message_table(session, **scope)
    times = figures.time_in_stage(session, **scope)
    lift = figures.lift(session, **scope)
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
        "funnel": funnel,
        "map": svg.journey_map(
            compiled.journey, funnel, title=f"Map of {journey_id}, version {chosen}"
        ),
        "funnel_chart": svg.bar_chart(
            _funnel_bars(compiled, funnel), title="Funnel: contacts entering each stage"
        ),
        "stages": _stage_rows(compiled, funnel, times),
        "messages": messages,
        "message_chart": svg.bar_chart(
            _message_bars(messages), title="Open and click rate per email", scale=1.0
        ),
        "paths": figures.top_paths(session, **scope),
        "lift": lift,
        "lift_sentence": words.lift_sentence(lift),
        "stuck": stuck[:STUCK_SHOWN],
        "stuck_total": len(stuck),
    }
