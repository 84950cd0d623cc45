"""A/B split experiments: contacts and conversions per branch, read from the history, and the
two-proportion z-test that names a winner only once the difference is significant."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, distinct, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from service.engine.model import Winner
from service.store.models import TransitionRecord

MIN_CONTACTS = 30  # per branch, before any winner is named
ALPHA = 0.05  # two-sided significance level


@dataclass(frozen=True)
class BranchResult:
    """One branch so far: contacts routed down it at random, and how many converted after."""

    branch: str
    contacts: int
    conversions: int

    @property
    def rate(self) -> float:
        """Conversions per contact."""
        return self.conversions / self.contacts if self.contacts else 0.0


@dataclass(frozen=True)
class Experiment:
    """A split stage's results across every version of its journey."""

    branches: dict[str, BranchResult]
    started_at: datetime | None  # the first random assignment


def experiment(session: Session, *, journey_id: str, stage: str) -> Experiment:
    """Per branch, the enrollments assigned at random (`split:<branch>`, not those the winner
    rule routed) and those with a goal recorded after the assignment."""
    split = aliased(TransitionRecord)
    goal = aliased(TransitionRecord)
    where = (
        split.journey_id == journey_id,
        split.from_stage == stage,
        col(split.trigger).like("split:%"),
    )
    assigned = (
        select(split.trigger, func.count(distinct(col(split.enrollment_id))), func.min(split.at))
        .where(*where)
        .group_by(split.trigger)
    )
    converted = (
        select(split.trigger, func.count(distinct(col(split.enrollment_id))))
        .join(
            goal,
            and_(
                col(goal.enrollment_id) == col(split.enrollment_id),
                col(goal.seq) > col(split.seq),
                col(goal.trigger).like("goal:%"),
            ),
        )
        .where(*where)
        .group_by(split.trigger)
    )
    wins = {trigger: n for trigger, n in session.exec(converted).all()}
    rows = session.exec(assigned).all()
    results = {
        trigger.removeprefix("split:"): BranchResult(
            branch=trigger.removeprefix("split:"), contacts=n, conversions=wins.get(trigger, 0)
        )
        for trigger, n, _ in rows
    }
    started = min((first for _, _, first in rows), default=None)
    return Experiment(branches=results, started_at=started)


def p_value(first: BranchResult, second: BranchResult) -> float:
    """Two-sided p-value of the two-proportion z-test (pooled standard error)."""
    contacts = first.contacts + second.contacts
    pooled = (first.conversions + second.conversions) / contacts
    spread = pooled * (1 - pooled) * (1 / first.contacts + 1 / second.contacts)
    if spread <= 0:  # nobody, or everybody, converted: no difference to test
        return 1.0
    z = (first.rate - second.rate) / math.sqrt(spread)
    return math.erfc(abs(z) / math.sqrt(2))


def winner_of(
    result: Experiment, *, branches: Sequence[str], rule: Winner, now: datetime
) -> str | None:
    """The branch converting best, once the experiment has run `rule.after`, every branch has
    MIN_CONTACTS and the best beats each other branch at p < ALPHA; otherwise None."""
    if result.started_at is None or now - result.started_at < rule.after:
        return None
    arms = [result.branches.get(name) for name in branches]
    if any(arm is None or arm.contacts < MIN_CONTACTS for arm in arms):
        return None
    known = [arm for arm in arms if arm is not None]
    best = max(known, key=lambda arm: arm.rate)
    for other in known:
        if other is not best and (other.rate >= best.rate or p_value(best, other) >= ALPHA):
            return None
    return best.branch
