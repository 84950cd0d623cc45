"""Every number the dashboard shows, computed here and nowhere else, so the pages can be
pointed at the analytics package's functions by changing this one module.

Ranges are half-open [since, until) on the time of the move, message or enrollment end.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlmodel import Session, col, select

from service.catalog import repository as catalog_repo
from service.store.models import Enrollment, Message, MessageStatus, TransitionRecord

GOAL = "(goal)"
EXIT = "(exit)"
MIN_GROUP = 30  # fewer contacts in a group than this and a lift is noise, not a figure
SAMPLE = 1000  # enrollments read for time in stage and paths: pages cost the same at any size
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


def journey_summaries(
    session: Session, *, journey_ids: list[str], window: Range
) -> dict[str, JourneySummary]:
    """Headline numbers of each journey across its versions (the journeys list)."""
    return {
        journey_id: journey_summary(session, journey_id=journey_id, version=None, window=window)
        for journey_id in journey_ids
    }


def journey_summary(
    session: Session, *, journey_id: str, version: str | None, window: Range
) -> JourneySummary:
    """Entered, converted, exited and completed in the range, and active now; across all
    versions when none is given, each version read from its own index range."""
    if version is None:
        versions = [
            v.version for v in catalog_repo.journey_versions(session, journey_id=journey_id)
        ]
        parts = [
            journey_summary(session, journey_id=journey_id, version=v, window=window)
            for v in versions
        ]
        return JourneySummary(*(sum(getattr(p, f) for p in parts) for f in _SUMMED))
    journey = _journey(Enrollment, journey_id, version)
    entered, held = session.exec(
        select(func.count(), _count_if(col(Enrollment.holdout).is_(True))).where(
            journey, _in(col(Enrollment.started_at), window)
        )
    ).one()
    ended = dict(
        session.exec(
            select(Enrollment.status, func.count())
            .where(journey, _in(col(Enrollment.ended_at), window))
            .group_by(col(Enrollment.status))
        ).all()
    )
    active = session.exec(
        select(func.count()).where(journey, col(Enrollment.status) == "active")
    ).one()
    return JourneySummary(
        entered=int(entered),
        converted=int(ended.get("converted", 0)),
        exited=int(ended.get("exited", 0)) + int(ended.get("restarted", 0)),
        completed=int(ended.get("completed", 0)),
        active=int(active),
        holdout_entered=int(held),
    )


_SUMMED = ("entered", "converted", "exited", "completed", "active", "holdout_entered")


def stage_funnel(
    session: Session, *, journey_id: str, version: str | None, window: Range
) -> Funnel:
    """Visits per stage, active per stage now, and moves per way out, from the history."""
    moves = (
        select(
            TransitionRecord.from_stage,
            TransitionRecord.to_stage,
            TransitionRecord.trigger,
            func.count(),
        )
        .where(
            _journey(TransitionRecord, journey_id, version), _in(col(TransitionRecord.at), window)
        )
        .group_by(
            col(TransitionRecord.from_stage),
            col(TransitionRecord.to_stage),
            col(TransitionRecord.trigger),
        )
    )
    visits: dict[str, int] = defaultdict(int)
    edges: dict[tuple[str, str], int] = {}
    entered = converted = 0
    for source, stage, trigger, count in session.exec(moves).all():
        to = GOAL if trigger.startswith("goal:") else EXIT if trigger.startswith("exit:") else stage
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


def _histories(session: Session, enrollment_ids: list[str]) -> dict[str, list[Any]]:
    """The moves of some enrollments, each in order."""
    if not enrollment_ids:
        return {}
    columns = [
        col(TransitionRecord.enrollment_id),
        col(TransitionRecord.at),
        col(TransitionRecord.from_stage),
        col(TransitionRecord.to_stage),
        col(TransitionRecord.trigger),
    ]
    statement = (
        select(*columns)
        .where(col(TransitionRecord.enrollment_id).in_(enrollment_ids))
        .order_by(col(TransitionRecord.enrollment_id), col(TransitionRecord.seq))
    )
    moves: dict[str, list[Any]] = defaultdict(list)
    for row in session.exec(statement).all():
        moves[str(row[0])].append(tuple(row))  # type: ignore[index, arg-type]
    return moves


def _ends(trigger: str) -> bool:
    return trigger.startswith(("goal:", "exit:"))


def time_in_stage(
    session: Session, *, journey_id: str, version: str | None, window: Range
) -> dict[str, StageTime]:
    """Median length of stage visits that ended in the range, over the enrollments that most
    recently left a stage in it (at most SAMPLE, so a page costs the same at any size)."""
    recent = (
        select(TransitionRecord.enrollment_id)
        .where(
            _journey(TransitionRecord, journey_id, version),
            _in(col(TransitionRecord.at), window),
            col(TransitionRecord.from_stage).is_not(None),
        )
        .order_by(col(TransitionRecord.at).desc())
        .limit(SAMPLE)
    )
    ids = list(dict.fromkeys(session.exec(recent).all()))
    lengths: dict[str, list[float]] = defaultdict(list)
    for moves in _histories(session, ids).values():
        for (_, entered, _, stage, trigger), (_, left, *_) in pairwise(moves):
            if not _ends(trigger) and window.since <= left < window.until:
                lengths[stage].append((left - entered).total_seconds())
    return {
        stage: StageTime(len(values), statistics.median(values))
        for stage, values in lengths.items()
    }


def top_paths(
    session: Session, *, journey_id: str, version: str | None, window: Range, limit: int = 10
) -> list[PathRow]:
    """The commonest stage sequences (stays in a stage collapsed) of the enrollments that
    ended in the range (the latest SAMPLE of them), with how they ended."""
    ended = (
        select(Enrollment.id, Enrollment.status)
        .where(_journey(Enrollment, journey_id, version), _in(col(Enrollment.ended_at), window))
        .order_by(col(Enrollment.ended_at).desc())
        .limit(SAMPLE)
    )
    outcomes = dict(session.exec(ended).all())
    counted: dict[tuple[tuple[str, ...], str], int] = defaultdict(int)
    for enrollment_id, moves in _histories(session, list(outcomes)).items():
        stages = tuple(
            to for _, _, source, to, trigger in moves if source != to and not _ends(trigger)
        )
        counted[(stages, outcomes[enrollment_id])] += 1
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
