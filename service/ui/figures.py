"""Every number the dashboard shows, computed here and nowhere else, so the pages can be
pointed at the analytics package's functions by changing this one module.

Ranges are half-open [since, until) on the time of the move, message or enrollment end.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, text
from sqlmodel import Session, col, select

from service.store.models import Enrollment, Message, MessageStatus, TransitionRecord

GOAL = "(goal)"
EXIT = "(exit)"
MIN_GROUP = 30  # fewer contacts in a group than this and a lift is noise, not a figure
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Range:
    """The date range a page shows."""

    since: datetime
    until: datetime


@dataclass(frozen=True)
class JourneySummary:
    """Headline numbers of one journey (or one of its versions) over a range."""

    entered: int = 0
    converted: int = 0
    exited: int = 0
    completed: int = 0
    active: int = 0
    holdout_entered: int = 0

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per entry in the range; None before anyone entered."""
        return self.converted / self.entered if self.entered else None

    @property
    def holdout_share(self) -> float | None:
        """The share of entries held out of messages."""
        return self.holdout_entered / self.entered if self.entered else None


@dataclass(frozen=True)
class Funnel:
    """Stage visits, contacts there now and each way out taken, over a range."""

    entered: int
    converted: int
    visits: dict[str, int]
    active: dict[str, int]
    moves: dict[tuple[str, str], int]  # (from, to); to is a stage, GOAL or EXIT

    def ways_out(self, stage: str) -> int:
        """Every move that left `stage` (to another stage, the goal or an exit)."""
        return sum(n for (f, _), n in self.moves.items() if f == stage)

    def share(self, stage: str, to: str) -> float | None:
        """The share of the ways out of `stage` that went to `to`."""
        total = self.ways_out(stage)
        return self.moves.get((stage, to), 0) / total if total else None


@dataclass(frozen=True)
class MessageRow:
    """How one stage's message did over a range."""

    stage: str
    template: str
    channel: str
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    failed: int = 0
    suppressed: int = 0
    revenue: float | None = None  # attributed revenue arrives with the analytics package

    @property
    def open_rate(self) -> float | None:
        """Opened per sent; None for channels that report no opens."""
        return self.opened / self.sent if self.sent and self.channel == "email" else None

    @property
    def click_rate(self) -> float | None:
        """Clicked per sent; None for channels that report no clicks."""
        return self.clicked / self.sent if self.sent and self.channel == "email" else None

    @property
    def revenue_per_message(self) -> float | None:
        """Attributed revenue per sent message, once revenue is attributed."""
        return self.revenue / self.sent if self.revenue is not None and self.sent else None


@dataclass(frozen=True)
class StageTime:
    """How long visits of one stage lasted."""

    visits: int
    median_seconds: float


@dataclass(frozen=True)
class PathRow:
    """One stage sequence taken by ended enrollments, and how it ended."""

    stages: tuple[str, ...]
    outcome: str
    contacts: int


@dataclass(frozen=True)
class Lift:
    """Treatment against holdout: conversions and the difference with its 95% interval."""

    treatment: int = 0
    treatment_converted: int = 0
    holdout: int = 0
    holdout_converted: int = 0
    difference: float | None = None  # treatment rate minus holdout rate
    low: float | None = None
    high: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def configured(self) -> bool:
        """Whether anyone was held out at all."""
        return self.holdout > 0

    @property
    def enough(self) -> bool:
        """Whether both groups are big enough for the difference to mean something."""
        return self.difference is not None


def _journey(model: Any, journey_id: str, version: str | None) -> ColumnElement[bool]:
    condition = model.journey_id == journey_id
    if version is not None:
        condition = and_(condition, model.version == version)
    return condition


def _in(column: Any, window: Range) -> ColumnElement[bool]:
    return and_(column >= window.since, column < window.until)


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _summary_columns(window: Range) -> list[Any]:
    ended = col(Enrollment.ended_at)
    return [
        _count_if(_in(col(Enrollment.started_at), window)),
        _count_if(and_(col(Enrollment.status) == "converted", _in(ended, window))),
        _count_if(and_(col(Enrollment.status).in_(["exited", "restarted"]), _in(ended, window))),
        _count_if(and_(col(Enrollment.status) == "completed", _in(ended, window))),
        _count_if(col(Enrollment.status) == "active"),
        _count_if(and_(col(Enrollment.holdout), _in(col(Enrollment.started_at), window))),
    ]


def journey_summaries(session: Session, *, window: Range) -> dict[str, JourneySummary]:
    """Headline numbers of every journey with enrollments, in one pass (the journeys list)."""
    statement = select(Enrollment.journey_id, *_summary_columns(window)).group_by(
        col(Enrollment.journey_id)
    )
    return {row[0]: JourneySummary(*map(int, row[1:])) for row in session.exec(statement).all()}


def journey_summary(
    session: Session, *, journey_id: str, version: str | None, window: Range
) -> JourneySummary:
    """Entered, converted, exited and completed in the range, and active now."""
    statement = select(*_summary_columns(window)).where(_journey(Enrollment, journey_id, version))
    row = session.exec(statement).one()
    return JourneySummary(*map(int, row))


def stage_funnel(
    session: Session, *, journey_id: str, version: str | None, window: Range
) -> Funnel:
    """Visits per stage, active per stage now, and moves per way out, from the history."""
    trigger = col(TransitionRecord.trigger)
    destination = case(
        (trigger.startswith("goal:"), GOAL),
        (trigger.startswith("exit:"), EXIT),
        else_=col(TransitionRecord.to_stage),
    ).label("destination")
    moves = (
        select(TransitionRecord.from_stage, destination, func.count())
        .where(
            _journey(TransitionRecord, journey_id, version), _in(col(TransitionRecord.at), window)
        )
        .group_by(col(TransitionRecord.from_stage), destination)
    )
    visits: dict[str, int] = defaultdict(int)
    edges: dict[tuple[str, str], int] = {}
    entered = converted = 0
    for source, to, count in session.exec(moves).all():
        if source is None:
            entered += count
        else:
            edges[(source, to)] = edges.get((source, to), 0) + count
            converted += count if to == GOAL else 0
        if to not in (GOAL, EXIT):
            visits[to] += count
    active = select(Enrollment.stage, func.count()).where(
        _journey(Enrollment, journey_id, version), Enrollment.status == "active"
    )
    counts = {s: int(n) for s, n in session.exec(active.group_by(col(Enrollment.stage))).all()}
    return Funnel(
        entered=entered, converted=converted, visits=dict(visits), active=counts, moves=edges
    )


def message_table(
    session: Session, *, journey_id: str, version: str | None, window: Range
) -> list[MessageRow]:
    """Per stage message: queued in the range, and what became of those sent."""
    status, delivery = col(Message.status), col(Message.delivery_status)
    sent = status == MessageStatus.SENT
    columns = [
        col(Message.stage),
        col(Message.template),
        col(Message.channel),
        func.count(),
        _count_if(sent),
        _count_if(and_(sent, delivery.in_(["delivered", "opened", "clicked", "read"]))),
        _count_if(and_(sent, delivery.in_(["opened", "clicked"]))),
        _count_if(and_(sent, delivery == "clicked")),
        _count_if(and_(sent, delivery == "bounced")),
        _count_if(or_(status == MessageStatus.FAILED, delivery.in_(["failed", "undelivered"]))),
        _count_if(status == MessageStatus.SUPPRESSED),
    ]
    statement = (
        select(*columns)
        .where(_journey(Message, journey_id, version), _in(col(Message.created_at), window))
        .group_by(col(Message.stage), col(Message.template), col(Message.channel))
    )
    rows = [
        MessageRow(stage, template, channel, *map(int, counts))
        for stage, template, channel, *counts in session.exec(statement).all()
    ]
    return sorted(rows, key=lambda r: (r.stage, r.template))


def _seconds_between(session: Session, start: str, end: str) -> str:
    if session.get_bind().dialect.name == "sqlite":
        return f"(julianday({end}) - julianday({start})) * 86400.0"
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


def time_in_stage(
    session: Session, *, journey_id: str, version: str | None, window: Range
) -> dict[str, StageTime]:
    """Median length of the stage visits that began and ended in the range."""
    seconds = _seconds_between(session, "at", "left_at")
    version_clause = "AND version = :version" if version is not None else ""
    statement = text(
        f"""
        WITH moves AS (
            SELECT to_stage AS stage, at, trigger,
                   LEAD(at) OVER (PARTITION BY enrollment_id ORDER BY seq) AS left_at
            FROM transitions
            WHERE journey_id = :journey AND at >= :since AND at < :until {version_clause}
        ), visits AS (
            SELECT stage, {seconds} AS seconds FROM moves
            WHERE left_at IS NOT NULL AND trigger NOT LIKE 'goal:%' AND trigger NOT LIKE 'exit:%'
        ), ranked AS (
            SELECT stage, seconds,
                   ROW_NUMBER() OVER (PARTITION BY stage ORDER BY seconds) AS n,
                   COUNT(*) OVER (PARTITION BY stage) AS total
            FROM visits
        )
        SELECT stage, MAX(total), AVG(seconds) FROM ranked
        WHERE n IN ((total + 1) / 2, (total + 2) / 2)
        GROUP BY stage
        """
    )
    params: dict[str, Any] = {"journey": journey_id, "since": window.since, "until": window.until}
    if version is not None:
        params["version"] = version
    rows = session.connection().execute(statement, _bound(session, params)).all()
    return {stage: StageTime(int(total), float(median)) for stage, total, median in rows}


def _bound(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as the UTC column type stores them, for textual SQL."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    return {
        key: value.replace(tzinfo=None) if sqlite and isinstance(value, datetime) else value
        for key, value in params.items()
    }


def top_paths(
    session: Session, *, journey_id: str, version: str | None, window: Range, limit: int = 10
) -> list[PathRow]:
    """The commonest stage sequences (stays in a stage collapsed) of enrollments that ended
    in the range, with how they ended."""
    enrollments = (
        select(Enrollment.id, Enrollment.status)
        .where(
            _journey(Enrollment, journey_id, version),
            Enrollment.status != "active",
            _in(col(Enrollment.ended_at), window),
        )
        .subquery()
    )
    statement = (
        select(enrollments.c.id, enrollments.c.status, TransitionRecord.to_stage)
        .join(enrollments, enrollments.c.id == TransitionRecord.enrollment_id)
        .where(
            or_(
                col(TransitionRecord.from_stage).is_(None),
                col(TransitionRecord.from_stage) != col(TransitionRecord.to_stage),
            )
        )
        .order_by(enrollments.c.id, col(TransitionRecord.seq))
    )
    paths: dict[str, list[str]] = defaultdict(list)
    outcomes: dict[str, str] = {}
    for enrollment_id, status, stage in session.exec(statement).all():
        paths[enrollment_id].append(stage)
        outcomes[enrollment_id] = status
    counted: dict[tuple[tuple[str, ...], str], int] = defaultdict(int)
    for enrollment_id, stages in paths.items():
        counted[(tuple(stages), outcomes[enrollment_id])] += 1
    ranked = sorted(counted.items(), key=lambda item: (-item[1], item[0]))
    return [PathRow(stages, outcome, n) for (stages, outcome), n in ranked[:limit]]


def _wilson(successes: int, total: int) -> tuple[float, float]:
    """The Wilson score interval of one proportion."""
    p = successes / total
    z2 = _Z95 * _Z95
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = _Z95 * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    return centre - half, centre + half


def lift(session: Session, *, journey_id: str, version: str | None, window: Range) -> Lift:
    """Conversion of treatment against holdout entries in the range, with Newcombe's
    hybrid score interval for the difference of the two proportions."""
    converted = col(Enrollment.status) == "converted"
    statement = (
        select(Enrollment.holdout, func.count(), _count_if(converted))
        .where(_journey(Enrollment, journey_id, version), _in(col(Enrollment.started_at), window))
        .group_by(col(Enrollment.holdout))
    )
    groups = {bool(h): (int(n), int(c)) for h, n, c in session.exec(statement).all()}
    t_n, t_c = groups.get(False, (0, 0))
    h_n, h_c = groups.get(True, (0, 0))
    if h_n == 0 or min(t_n, h_n) < MIN_GROUP:
        return Lift(t_n, t_c, h_n, h_c)
    p1, p2 = t_c / t_n, h_c / h_n
    l1, u1 = _wilson(t_c, t_n)
    l2, u2 = _wilson(h_c, h_n)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Lift(t_n, t_c, h_n, h_c, difference, low, high)
