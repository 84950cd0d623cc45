"""Each analytics answer as rows: the one shape JSON, CSV and `nurture report` share, built
from the figures for a journey chosen by id, version and range."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session

from service.analytics import journey as journey_figures
from service.analytics import messages as message_figures
from service.analytics.figures import Group, Interval, Lift, MessageMetrics
from service.analytics.lift import lift
from service.analytics.sql import Scope
from service.catalog.registry import JourneyRegistry
from service.delivery.status import REACHED

INSUFFICIENT = "insufficient_data"
Row = dict[str, Any]
Answer = Row | list[Row]
Figure = Literal["analytics", "stages", "messages", "channels", "paths", "lift"]


def scope_of(
    journeys: JourneyRegistry,
    journey_id: str,
    *,
    version: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[Scope, list[str]]:
    """The scope of a journey's figures and its stages; NotFound for a journey
    or version that does not exist. The attribution window is the chosen version's (the
    current one's across versions); stages in the order the file declares them."""
    current = journeys.current_of(journey_id)
    compiled = journeys.get(journey_id, version) if version else current
    scope = Scope(journey_id, version, since, until, compiled.journey.attribution.window)
    return scope, list(compiled.journey.stages)


def summary_row(session: Session, scope: Scope) -> Row:
    """GET /journeys/{id}/analytics."""
    s = journey_figures.summary(session, scope)
    return {
        "entered": s.entered,
        "active": s.active,
        "completed": s.completed,
        "converted": s.converted,
        "exited": {
            "total": s.exited.total,
            "exit_rule": s.exited.exit_rule,
            "operator": s.exited.operator,
            "restart": s.exited.restart,
            "erasure": s.exited.erasure,
        },
        "conversion_rate": s.conversion_rate,
        "median_seconds_to_goal": s.median_seconds_to_goal,
        "revenue": s.revenue,
        "revenue_per_contact": s.revenue_per_contact,
        "messages_sent": s.messages_sent,
        "revenue_per_message": s.revenue_per_message,
        "holdout_entered": s.holdout_entered,
    }


def stage_rows(session: Session, scope: Scope, names: list[str]) -> list[Row]:
    """GET /journeys/{id}/analytics/stages."""
    return [
        {
            "stage": r.stage,
            "entered": r.entered,
            "moved_to": r.moved_to,
            "still_here": r.still_here,
            "exits_here": r.exits_here,
            "median_seconds": r.median_seconds,
            "p90_seconds": r.p90_seconds,
        }
        for r in journey_figures.stages(session, scope, names=names)
    ]


def _metrics(m: MessageMetrics) -> Row:
    return {
        "queued": m.queued,
        "sent": m.sent,
        "held": m.held,
        **{status: m.count(status) for status in REACHED},
        "open_rate": m.rate("opened"),
        "click_rate": m.rate("clicked"),
        "conversions": m.conversions,
        "revenue": m.revenue,
        "revenue_per_message": m.revenue_per_message,
    }


def message_rows(session: Session, scope: Scope) -> list[Row]:
    """GET /journeys/{id}/analytics/messages."""
    return [
        {"stage": r.stage, "template": r.template, "channel": r.channel, **_metrics(r.metrics)}
        for r in message_figures.messages(session, scope)
    ]


def channel_rows(session: Session, scope: Scope) -> list[Row]:
    """GET /journeys/{id}/analytics/channels."""
    return [
        {
            "channel": r.channel,
            **_metrics(r.metrics),
            "contacts_converted": r.contacts_converted,
        }
        for r in message_figures.channels(session, scope)
    ]


def path_rows(
    session: Session, scope: Scope, *, limit: int = 10, sort: journey_figures.PathSort = "contacts"
) -> list[Row]:
    """GET /journeys/{id}/analytics/paths."""
    return [
        {
            "path": list(r.stages),
            "contacts": r.contacts,
            "converted": r.converted,
            "conversion_rate": r.conversion_rate,
            "median_seconds_to_goal": r.median_seconds_to_goal,
            "revenue": r.revenue,
        }
        for r in journey_figures.paths(session, scope, limit=limit, sort=sort)
    ]


def _group(g: Group) -> Row:
    return {
        "contacts": g.contacts,
        "conversions": g.conversions,
        "conversion_rate": g.conversion_rate,
        "revenue": g.revenue,
        "revenue_per_contact": g.revenue_per_contact,
    }


def _interval(i: Interval | None) -> Row | str:
    if i is None:
        return INSUFFICIENT
    return {"difference": i.estimate, "low": i.low, "high": i.high, "p_value": i.p_value}


def lift_row(session: Session, scope: Scope) -> Row:
    """GET /journeys/{id}/analytics/lift."""
    found: Lift = lift(session, scope)
    conversion: Row | str = _interval(found.conversion_difference)
    if isinstance(conversion, dict):
        conversion |= {
            "relative": found.relative_lift,
            "relative_low": found.relative_low,
            "relative_high": found.relative_high,
        }
    return {
        "treatment": _group(found.treatment),
        "holdout": _group(found.holdout),
        "insufficient_data": found.insufficient_data,
        "conversion_rate_lift": conversion,
        "revenue_per_contact_lift": _interval(found.revenue_difference),
    }


def answer(
    session: Session,
    figure: Figure,
    scope: Scope,
    names: list[str],
    *,
    limit: int = 10,
    sort: journey_figures.PathSort = "contacts",
) -> Answer:
    """One endpoint's rows."""
    build: dict[str, Callable[[], Answer]] = {
        "analytics": lambda: summary_row(session, scope),
        "stages": lambda: stage_rows(session, scope, names),
        "messages": lambda: message_rows(session, scope),
        "channels": lambda: channel_rows(session, scope),
        "paths": lambda: path_rows(session, scope, limit=limit, sort=sort),
        "lift": lambda: lift_row(session, scope),
    }
    return build[figure]()


def flatten(row: Row, prefix: str = "") -> dict[str, Any]:
    """A nested row as one level of dotted names; a path list joined as it reads."""
    flat: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{name}.")
        elif isinstance(value, list):
            flat[f"{prefix}{name}"] = " > ".join(map(str, value))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def cell(value: Any) -> str:
    """One CSV cell: empty for none, JSON spelling for numbers and booleans."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def to_csv(found: Answer) -> str:
    """The same rows as the JSON, one line each (an object is one row)."""
    rows = [flatten(r) for r in (found if isinstance(found, list) else [found])]
    names = list(dict.fromkeys(name for r in rows for name in r))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for r in rows:
        writer.writerow([cell(r.get(name)) for name in names])
    return out.getvalue()
